"""Other systems than this Linux machine: memory probes of macOS and Windows, no ``resource`` module, Apple GPUs,
allocation failures. Each is simulated here (the suite runs on Linux without an Apple GPU)."""

from __future__ import annotations

import ctypes
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from PIL import Image

import idc
import idc.batch
import idc.infer
import idc.io
from idc import tiling
from idc.cli import main
from idc.weights import save_weights
from tests.conftest import random_idc

REPO = Path(__file__).resolve().parents[1]

VM_STAT = """Mach Virtual Memory Statistics: (page size of 16384 bytes)
Pages free:                               31502.
Pages active:                            412345.
Pages inactive:                          398765.
Pages speculative:                         2100.
Pages throttled:                              0.
Pages wired down:                        160000.
Pages purgeable:                          12000.
"Translation faults":                 912345678.
Pages copy-on-write:                   12345678.
"""


def test_linux_probe_reads_memavailable(tmp_path: Path) -> None:
    meminfo = tmp_path / "meminfo"
    meminfo.write_text("MemTotal:       24000000 kB\nMemFree:  100 kB\nMemAvailable:   12345678 kB\n")
    assert tiling._linux_available(meminfo) == 12345678 * 1024
    meminfo.write_text("MemTotal:       24000000 kB\n")  # kernels before 3.14 lack the line
    assert tiling._linux_available(meminfo) is None
    assert tiling._linux_available(tmp_path / "absent") is None


def test_macos_probe_counts_free_and_inactive_pages() -> None:
    assert tiling._macos_available(lambda: VM_STAT) == (31502 + 398765) * 16384
    assert tiling._macos_available(lambda: "vm_stat: something else") is None
    assert tiling._macos_available(lambda: VM_STAT.replace("Pages inactive", "Pages idle")) is None
    if sys.platform != "darwin":
        assert tiling._macos_available() is None  # not asked on other systems


def test_windows_probe_fills_memorystatusex() -> None:
    class Kernel32:
        def GlobalMemoryStatusEx(self, ref: Any) -> int:  # the Windows API's name
            status = ref._obj
            assert status.dwLength == ctypes.sizeof(status) == 64  # the size Windows checks: the layout is right
            status.ullTotalPhys = 16 * 2**30
            status.ullAvailPhys = 5 * 2**30
            return 1

    class Failing:
        def GlobalMemoryStatusEx(self, ref: Any) -> int:
            return 0

    assert tiling._windows_available(Kernel32()) == 5 * 2**30
    assert tiling._windows_available(Failing()) is None
    if sys.platform != "win32":
        assert tiling._windows_available() is None


def _without(monkeypatch: pytest.MonkeyPatch, *names: str) -> None:
    """os.sysconf as on a system that lacks these names (macOS lacks SC_AVPHYS_PAGES)."""
    real = os.sysconf

    def sysconf(name: str | int) -> int:
        if name in names:
            raise ValueError("unrecognized configuration name")
        return real(name)

    monkeypatch.setattr(os, "sysconf", sysconf)


def test_system_memory_never_fails(monkeypatch: pytest.MonkeyPatch) -> None:
    real = tiling.system_memory_available()
    assert real > 0
    # macOS as it looked to the old code: no /proc/meminfo, no SC_AVPHYS_PAGES (it raised ValueError there).
    monkeypatch.setattr(tiling, "_linux_available", lambda: None)
    _without(monkeypatch, "SC_AVPHYS_PAGES")
    assert tiling.system_memory_available() == os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") // 2
    # Windows as it looks to POSIX code: no os.sysconf at all; a probe that raises is passed over.
    monkeypatch.delattr(os, "sysconf")
    monkeypatch.setattr(tiling, "_linux_available", lambda: 1 // 0)
    assert tiling.system_memory_available() == tiling.FALLBACK_AVAILABLE_BYTES
    assert tiling.available_memory(torch.device("cpu")) == tiling.FALLBACK_AVAILABLE_BYTES


def test_deblur_sizes_tiles_where_linux_memory_probes_fail(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # The old code raised ValueError here (macOS) or AttributeError (Windows) on every `idc deblur` with auto tiles.
    monkeypatch.setattr(tiling, "_linux_available", lambda: None)
    monkeypatch.delattr(os, "sysconf")
    weights = save_weights(random_idc(), tmp_path / "w")
    pixels = np.random.default_rng(0).integers(0, 256, (40, 52, 3), dtype=np.uint8)
    Image.fromarray(pixels).save(tmp_path / "a.png")
    args = ["deblur", str(tmp_path / "a.png"), "-o", str(tmp_path / "o.png"), "--weights", str(weights)]
    assert main([*args, "--backend", "torch", "--precision", "fp32"]) == 0
    assert np.asarray(Image.open(tmp_path / "o.png")).shape == pixels.shape


def test_modules_import_and_bench_without_the_resource_module() -> None:
    # Windows has no `resource`: importing idc (training and benchmarks included) must not need it.
    code = (
        "import sys; sys.modules['resource'] = None\n"
        "import math, torch, idc, idc.cli, idc.bench, idc.evaluate, idc.train.loop\n"
        "assert math.isnan(idc.bench._peak_mib(torch.device('cpu')))\n"
        "print('ok')\n"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0 and result.stdout.strip() == "ok", result.stderr


def test_apple_gpu_only_when_asked_and_present(monkeypatch: pytest.MonkeyPatch) -> None:
    if not idc.infer.mps_available():
        with pytest.raises(ValueError, match="--device mps was asked for, but no Apple GPU"):
            idc.infer.resolve_device("mps")
    monkeypatch.setattr(idc.infer, "mps_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    mps = idc.infer.resolve_device("mps")
    assert mps == torch.device("mps")
    assert idc.infer.resolve_device("auto") == torch.device("cpu")  # never chosen by itself (untested hardware)
    with pytest.raises(ValueError, match="unknown device 'metal'"):
        idc.infer.resolve_device("metal")
    # fp32 only: lower precisions were never measured on it.
    assert idc.infer.fast_precision(mps) == "fp32"
    for precision in ("bf16", "fp16"):
        with pytest.raises(ValueError, match=f"{precision} on an Apple GPU"):
            idc.infer.autocast_context(mps, precision)
    # Its memory: the recommended working set less what the driver holds; waiting for it: torch.mps.synchronize.
    monkeypatch.setattr(torch.mps, "recommended_max_memory", lambda: 12 * 2**30, raising=False)
    monkeypatch.setattr(torch.mps, "driver_allocated_memory", lambda: 2 * 2**30)
    assert tiling.available_memory(mps) == 10 * 2**30
    waits: list[int] = []
    monkeypatch.setattr(torch.mps, "synchronize", lambda: waits.append(1))
    idc.infer.synchronize(mps)
    idc.infer.synchronize(torch.device("cpu"))
    assert waits == [1]


def test_deblur_on_a_mac_points_to_its_gpu_without_using_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(idc.infer, "mps_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    weights = save_weights(random_idc(), tmp_path / "w")
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(tmp_path / "a.png")
    base = ["deblur", str(tmp_path / "a.png"), "--weights", str(weights), "--backend", "torch"]
    assert main([*base, "-o", str(tmp_path / "o.png")]) == 0
    out = capsys.readouterr().out
    assert "--device mps" in out and "deblurred 1 of 1 images on cpu" in out
    assert main([*base, "-o", str(tmp_path / "p.png"), "--device", "cpu"]) == 0  # asked for the CPU: no note
    assert "--device mps" not in capsys.readouterr().out


def test_deblur_device_mps_without_an_apple_gpu_is_a_usage_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    if idc.infer.mps_available():
        pytest.skip("this machine has an Apple GPU")
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(tmp_path / "a.png")
    assert main(["deblur", str(tmp_path / "a.png"), "-o", str(tmp_path / "o.png"), "--device", "mps"]) == 2
    assert "no Apple GPU" in capsys.readouterr().err and not (tmp_path / "o.png").exists()


@pytest.mark.parametrize(
    ("message", "oom"),
    [
        ("MPS backend out of memory (MPS allocated: 17.5 GB, other allocations: 1.2 GB)", True),
        ("[enforce fail at alloc_cpu.cpp:117] data. DefaultCPUAllocator: can't allocate memory: you tried", True),
        ("Given groups=1, weight of size [32, 3, 5, 5], expected input to have 3 channels", False),
    ],
)
def test_allocation_failures_are_recognised(message: str, oom: bool) -> None:
    assert idc.batch.is_out_of_memory(RuntimeError(message)) is oom
    assert idc.batch.is_out_of_memory(torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB"))


def test_an_image_too_large_for_memory_fails_alone(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    real = idc.batch.deblur_image

    def deblur_image(model: Any, image: torch.Tensor, *args: Any, **kwargs: Any) -> torch.Tensor:
        if image.shape[-1] > 40:  # the large one: as the CPU allocator fails
            raise RuntimeError("DefaultCPUAllocator: can't allocate memory: you tried to allocate 99999999999 bytes")
        return real(model, image, *args, **kwargs)

    monkeypatch.setattr(idc.batch, "deblur_image", deblur_image)
    weights = save_weights(random_idc(), tmp_path / "w")
    (tmp_path / "in").mkdir()
    for name, width in (("big.png", 48), ("small.png", 24)):
        Image.fromarray(np.zeros((16, width, 3), np.uint8)).save(tmp_path / "in" / name)
    out = tmp_path / "out"
    args = ["deblur", str(tmp_path / "in"), "-o", str(out), "--weights", str(weights), "--backend", "torch"]
    assert main(args) == 1
    err = capsys.readouterr().err
    assert "big.png: out of memory for this image size" in err
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["small.png"]
    # Any other failure of the network is a bug, not a bad input: it is raised, not reported per image.
    monkeypatch.setattr(idc.batch, "deblur_image", lambda *a, **k: (_ for _ in ()).throw(RuntimeError("a bug")))
    with pytest.raises(RuntimeError, match="a bug"):
        main([*args[:3], str(tmp_path / "out2"), *args[4:]])


def test_device_names_are_checked_before_any_work(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for bad in ("gpu", "cuda:", "cuda:x", "MPS"):
        with pytest.raises(SystemExit) as stop:
            main(["deblur", "x.png", "-o", "y.png", "--device", bad])
        assert stop.value.code == 2
        assert f"device must be auto, cpu, cuda, cuda:N (the N-th GPU) or mps, got '{bad}'" in capsys.readouterr().err
    # cuda:N: the N-th GPU, when there is one.
    with monkeypatch.context() as m:
        m.setattr(torch.cuda, "is_available", lambda: True)
        m.setattr(torch.cuda, "device_count", lambda: 2)
        assert idc.infer.resolve_device("cuda:1") == torch.device("cuda", 1)
        with pytest.raises(ValueError, match=r"--device cuda:2 was asked for, but this machine has 2 CUDA GPU\(s\)"):
            idc.infer.resolve_device("cuda:2")
    if not torch.cuda.is_available():
        Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(tmp_path / "a.png")
        assert main(["deblur", str(tmp_path / "a.png"), "-o", str(tmp_path / "o.png"), "--device", "cuda:1"]) == 2
        assert "--device cuda:1 was asked for, but no CUDA GPU is available" in capsys.readouterr().err


def test_info_system_says_what_deblur_picks_here(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import idc.export

    assert main(["info", "--system"]) == 0
    lines = dict(line.split(":", 1) for line in capsys.readouterr().out.splitlines())
    assert lines["torch"].strip().startswith(torch.__version__)
    expected_device = "cuda" if torch.cuda.is_available() else "cpu"
    assert lines["idc deblur device"].strip() == f"{expected_device} (--device auto)"
    from idc.raw import rawpy_available

    if rawpy_available():  # what a report of a misdeveloped raw file needs
        import rawpy

        assert lines["camera raw files"].strip().startswith(f"developed (rawpy {rawpy.__version__}, LibRaw 0.")
    from PIL import ImageCms

    cms = ImageCms.core.littlecms_version
    assert lines["CMYK images"].strip() == f"through their profiles (LittleCMS {cms}), written back as CMYK"
    # A Mac with 1 GiB free and a torch too old to export to ONNX: its GPU named but not chosen, tiles sized to half
    # of 1 GiB.
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(idc.infer, "mps_available", lambda: True)
    monkeypatch.setattr(tiling, "system_memory_available", lambda: 2**30)
    monkeypatch.setattr(idc.export, "_torch_release", lambda: (2, 5))  # too old a torch to export to ONNX
    monkeypatch.setattr(idc.io, "heif_available", lambda: False)
    monkeypatch.setitem(sys.modules, "rawpy", None)  # not installed
    import PIL

    monkeypatch.delattr(PIL, "ImageCms")  # a Pillow built without LittleCMS
    monkeypatch.setitem(sys.modules, "PIL.ImageCms", None)
    assert main(["info", "--system"]) == 0
    out = capsys.readouterr().out
    side = int((2**29 / tiling.bytes_per_pixel(idc.IDCConfig())) ** 0.5) // 64 * 64
    for line in (
        "Apple GPU (mps):       available: --device mps",
        "idc deblur device:     cpu (--device auto)",
        "memory available:      1.0 GiB",
        f"tiles at 1280x720:     {side}x{side} tiles",
        "idc deblur backend:    torch (exporting IDC to ONNX needs torch >= 2.10, this is torch",
        "HEIC images:           no: HEIC/HEIF needs the pillow-heif package: pip install pillow-heif (or the extra "
        "idc-deblur[heif])",
        "camera raw files:      no: idc develops camera raw files with rawpy, which is not installed: pip install "
        "rawpy",
        "CMYK images:           by a plain formula (no LittleCMS in this Pillow), written back as CMYK",
    ):
        assert line in out, out
    from importlib.metadata import version

    libraries = next(line for line in out.splitlines() if line.startswith("image libraries:"))
    assert f"Pillow {version('pillow')}" in libraries and f"tifffile {version('tifffile')}" in libraries
    assert "OpenCV " in libraries


def test_onnx_without_its_packages_is_one_line_naming_what_to_install(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A machine without the onnx extra (a user's plain install): exporting, or deblurring with an .onnx model, says
    which package to install instead of ending in a traceback, and writes nothing."""
    from idc.export import MissingDependency, OnnxDeblurrer, export_onnx

    for module in ("onnxruntime", "onnxscript"):
        monkeypatch.setitem(sys.modules, module, None)  # what `import` and find_spec see when it is not installed
    with pytest.raises(ImportError, match=r"exporting to ONNX needs onnxscript: pip install onnxscript \(or"):
        export_onnx(random_idc(), tmp_path / "m.onnx")
    model_file = tmp_path / "m.onnx"
    model_file.write_bytes(b"an ONNX model, as far as the missing onnxruntime could tell")
    with pytest.raises(MissingDependency, match=f"{model_file}: running an ONNX model needs onnxruntime: pip"):
        OnnxDeblurrer(model_file)
    with pytest.raises(ValueError, match="no such ONNX model"):  # a wrong path is reported before a missing package
        OnnxDeblurrer(tmp_path / "absent.onnx")
    Image.fromarray(np.zeros((20, 24, 3), np.uint8)).save(tmp_path / "a.png")
    commands = {
        "export": ["export", "--onnx", str(tmp_path / "e.onnx")],
        "an .onnx model": [
            "deblur",
            str(tmp_path / "a.png"),
            "-o",
            str(tmp_path / "o.png"),
            "--weights",
            str(model_file),
        ],
        "--backend onnx": ["deblur", str(tmp_path / "a.png"), "-o", str(tmp_path / "o.png"), "--backend", "onnx"],
        "--precision int8": ["deblur", str(tmp_path / "a.png"), "-o", str(tmp_path / "o.png"), "--precision", "int8"],
    }
    for what, argv in commands.items():
        assert main(argv) == 2, what
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and err.startswith("idc: error: ") and "pip install onnx" in err, (what, err)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.png", "m.onnx"]
