from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

pytest.importorskip("onnxruntime")
pytest.importorskip("onnxscript")

from idc import tiling
from idc.cli import main
from idc.export import CONFIG_KEY, OnnxDeblurrer, cached_int8_onnx, onnx_missing
from idc.infer import deblur_image, deblur_tensor
from idc.models import IDC
from idc.weights import load_model, save_weights
from tests.conftest import TinyExport, rand_image, random_idc


@pytest.fixture
def exported(tiny_export: TinyExport) -> tuple[IDC, Path]:
    return tiny_export.model, tiny_export.onnx


@pytest.mark.parametrize("hw", [(37, 45), (1, 1), (64, 48), (101, 203)])
def test_onnx_matches_eager_at_any_size(exported: tuple[IDC, Path], hw: tuple[int, int]) -> None:
    model, path = exported
    runner = OnnxDeblurrer(path)
    x = rand_image(2, 3, *hw)
    assert float((runner(x) - deblur_tensor(model, x)).abs().max()) <= 1e-4
    assert runner(x[0]).shape == (3, *hw)


def _rewrite_metadata(source: Path, target: Path, value: str | None) -> Path:
    """Copies an ONNX file with its IDC config metadata removed (``None``) or replaced by ``value``."""
    import onnx

    proto = onnx.load(str(source))
    kept = [p for p in proto.metadata_props if p.key != CONFIG_KEY]
    del proto.metadata_props[:]
    proto.metadata_props.extend(kept)
    if value is not None:
        proto.metadata_props.add(key=CONFIG_KEY, value=value)
    onnx.save(proto, str(target))
    return target


def test_onnx_file_carries_its_config_and_sizes_its_own_tiles(
    exported: tuple[IDC, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    model, path = exported
    runner = OnnxDeblurrer(path)
    assert runner.config == model.config and runner.device == torch.device("cpu")
    image = rand_image(3, 200, 260)
    # Little free memory: automatic tiles of 128 pixels, sized from the file's own metadata as from the torch model.
    per_pixel = tiling.bytes_per_pixel(model.config)
    monkeypatch.setattr(tiling, "available_memory", lambda device: int(2 * 1.5 * 128 * 128 * per_pixel))
    assert tiling.auto_tile(model.config, 200, 260, torch.device("cpu")) == 128
    onnx_tiled = deblur_image(runner, image)
    assert float((onnx_tiled - deblur_image(model, image)).abs().max()) <= 1e-4
    assert float((onnx_tiled - deblur_tensor(model, image)).abs().max()) > 1e-3  # tiled, not whole
    # Without the metadata (another exporter) it is sized as the paper's network, which needs more memory: smaller
    # tiles, still a full image.
    bare = OnnxDeblurrer(_rewrite_metadata(path, tmp_path / "bare.onnx", None))
    assert bare.config is None
    assert deblur_image(bare, image).shape == image.shape
    with pytest.raises(ValueError, match=r"broken\.onnx: metadata 'idc.model_config' is not a valid IDC config"):
        OnnxDeblurrer(_rewrite_metadata(path, tmp_path / "broken.onnx", '{"widths": 3}'))


def test_export_and_deblur_commands(
    exported: tuple[IDC, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    model, path = exported
    weights = save_weights(model, tmp_path / "w")
    target = tmp_path / "m.onnx"
    target.write_bytes(b"keep")
    assert main(["export", "--onnx", str(target), "--weights", str(weights)]) == 2
    assert "already exists" in capsys.readouterr().err and target.read_bytes() == b"keep"
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (33, 47, 3), dtype=np.uint8)).save(tmp_path / "a.png")
    out = tmp_path / "o.png"
    assert main(["deblur", str(tmp_path / "a.png"), "-o", str(out), "--backend", "onnx", "--weights", str(path)]) == 0
    torch_out = tmp_path / "t.png"
    args = ["deblur", str(tmp_path / "a.png"), "-o", str(torch_out), "--weights", str(weights), "--precision", "fp32"]
    assert main(args) == 0
    a, b = np.asarray(Image.open(out), np.int16), np.asarray(Image.open(torch_out), np.int16)
    assert np.abs(a - b).max() <= 1
    args = ["deblur", str(tmp_path / "a.png"), "-o", str(tmp_path / "x.png"), "--weights", str(path)]
    assert main([*args, "--backend", "torch"]) == 2
    assert "runs with --backend onnx or auto" in capsys.readouterr().err
    # An upper-case suffix is an ONNX model too, for the CLI and for idc.deblur.
    upper = tmp_path / "M.ONNX"
    upper.write_bytes(path.read_bytes())
    assert main(["deblur", str(tmp_path / "a.png"), "-o", str(tmp_path / "u.png"), "--weights", str(upper)]) == 0
    assert "backend: onnxruntime" in capsys.readouterr().out
    assert np.array_equal(np.asarray(Image.open(tmp_path / "u.png")), np.asarray(Image.open(out)))
    from idc import deblur

    pixels = np.asarray(Image.open(tmp_path / "a.png"))
    assert np.array_equal(deblur(pixels, upper, device="cpu"), np.asarray(Image.open(out)))


def _deblur(
    capsys: pytest.CaptureFixture[str], image: Path, target: Path, weights: Path, *extra: str
) -> tuple[np.ndarray, str]:
    """Runs `idc deblur` on one image; returns the output as int16 pixels and what it printed."""
    assert main(["deblur", str(image), "-o", str(target), "--weights", str(weights), *extra]) == 0
    return np.asarray(Image.open(target), np.int16), capsys.readouterr().out


@pytest.mark.slow
def test_cached_export_is_made_once_and_chosen_by_auto(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    if why := onnx_missing():  # this test makes its own export
        pytest.skip(why)
    import idc.cli
    import idc.infer
    from idc.export import cached_onnx_path

    monkeypatch.setenv("IDC_CACHE", str(tmp_path / "cache"))
    # A CPU without native bf16: --precision auto means fp32 there, where ONNX Runtime is the faster engine.
    monkeypatch.setattr(idc.infer, "fast_precision", lambda device: "fp32")
    weights = save_weights(random_idc(), tmp_path / "w")
    image = tmp_path / "a.png"
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (33, 47, 3), dtype=np.uint8)).save(image)

    # auto, a small job and nothing cached: exporting would cost more than it saves, so torch.
    torch_out, log = _deblur(capsys, image, tmp_path / "t.png", weights)
    assert "backend: torch" in log and not (tmp_path / "cache").exists()
    # auto, a job big enough to repay the export: exports once into the cache, then runs it.
    small_job = idc.cli.AUTO_EXPORT_PIXELS
    monkeypatch.setattr(idc.cli, "AUTO_EXPORT_PIXELS", 33 * 47)
    onnx_out, log = _deblur(capsys, image, tmp_path / "o.png", weights)
    cached = cached_onnx_path(weights)
    assert f"exported the network to ONNX once, cached as {cached}" in log and "backend: onnxruntime" in log
    assert cached.is_file() and np.abs(onnx_out - torch_out).max() <= 1
    # A small job again: auto now finds the export and uses it, without exporting again; so does --backend onnx.
    monkeypatch.setattr(idc.cli, "AUTO_EXPORT_PIXELS", small_job)
    for name, extra in (("a2.png", ()), ("o2.png", ("--backend", "onnx"))):
        out, log = _deblur(capsys, image, tmp_path / name, weights, *extra)
        assert "backend: onnxruntime" in log and "exported" not in log
        assert np.array_equal(out, onnx_out)
    # other weights, other cache entry: a small job with them stays on torch.
    other = save_weights(random_idc(), tmp_path / "w2")
    assert cached_onnx_path(other) != cached
    _, log = _deblur(capsys, image, tmp_path / "b.png", other)
    assert "backend: torch" in log and not cached_onnx_path(other).exists()
    # precision other than fp32 keeps auto on torch, also when auto precision is bf16 (a CPU with native bf16,
    # where bf16 PyTorch is twice as fast as fp32 and beats fp32 ONNX Runtime), even with an export cached
    _, log = _deblur(capsys, image, tmp_path / "c.png", weights, "--precision", "bf16")
    assert "backend: torch, bf16" in log
    monkeypatch.setattr(idc.infer, "fast_precision", lambda device: "bf16")
    _, log = _deblur(capsys, image, tmp_path / "d.png", weights)
    assert "backend: torch, bf16" in log


def test_a_torch_too_old_to_export_is_named_and_auto_stays_on_torch(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tiny_export: TinyExport
) -> None:
    # torch 2.5 to 2.9 export graphs that fail at other sizes than the example's: never made, never chosen.
    import idc.cli
    import idc.export

    monkeypatch.setenv("IDC_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(idc.export, "_torch_release", lambda: (2, 9))
    with pytest.raises(idc.export.MissingDependency, match=r"needs torch >= 2\.10, this is torch"):
        idc.export.export_onnx(random_idc(), tmp_path / "x.onnx")
    assert not (tmp_path / "x.onnx").exists()
    weights = save_weights(random_idc(), tmp_path / "w")
    image = tmp_path / "a.png"
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (33, 47, 3), dtype=np.uint8)).save(image)
    monkeypatch.setattr(idc.cli, "AUTO_EXPORT_PIXELS", 1)  # a job big enough to export for, were it possible
    _, log = _deblur(capsys, image, tmp_path / "t.png", weights, "--precision", "fp32")
    assert "backend: torch" in log and not (tmp_path / "cache").exists()
    for flags in (("--backend", "onnx"), ("--precision", "int8")):
        assert main(["deblur", str(image), "-o", str(tmp_path / "o.png"), "--weights", str(weights), *flags]) == 2
        assert "needs an ONNX export: exporting IDC to ONNX needs torch >= 2.10" in capsys.readouterr().err
    # An ONNX file made elsewhere needs no exporter: it runs.
    _, log = _deblur(capsys, image, tmp_path / "f.png", tiny_export.onnx)
    assert "backend: onnxruntime" in log


def test_an_export_is_checked_at_another_size_before_it_is_kept(tmp_path: Path, tiny_export: TinyExport) -> None:
    # What an exporter that specialises the graph to its example would make is refused with the torch named.
    from idc.export import FinestEstimate, _check_export

    _check_export(tiny_export.onnx, FinestEstimate(tiny_export.model).eval())  # the graph the model gives: passes
    other = random_idc()
    other.load_state_dict({k: v * 0.9 for k, v in tiny_export.model.state_dict().items()})  # other numbers
    with pytest.raises(RuntimeError, match=rf"torch {re.escape(torch.__version__)} exported is off by"):
        _check_export(tiny_export.onnx, FinestEstimate(other).eval())
    broken = tmp_path / "broken.onnx"
    broken.write_bytes(tiny_export.onnx.read_bytes()[:1000])
    with pytest.raises(RuntimeError, match="fails at other sizes than its example's"):
        _check_export(broken, FinestEstimate(tiny_export.model).eval())


def test_int8_precision_quantises_once_and_stays_close(
    tiny_export: TinyExport, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("IDC_CACHE", str(tmp_path / "cache"))
    weights = tiny_export.weights
    tiny_export.seed_cache()  # the fp32 export int8 starts from (made in its absence; tested above)
    image = tmp_path / "a.png"
    rng = np.random.default_rng(1)
    smooth = np.kron(rng.integers(0, 256, (6, 8, 3)), np.ones((8, 8, 1))).astype(np.uint8)  # 48x64 blocks
    Image.fromarray(smooth).save(image)

    fp32, _ = _deblur(capsys, image, tmp_path / "f.png", weights, "--backend", "torch", "--precision", "fp32")
    int8, log = _deblur(capsys, image, tmp_path / "q.png", weights, "--precision", "int8")
    assert "quantised the network to int8 once" in log and "-int8.onnx" in log
    assert np.abs(int8 - fp32).mean() <= 4  # quantisation error, in uint8 levels
    again, log = _deblur(capsys, image, tmp_path / "q2.png", weights, "--precision", "int8")
    assert "quantised" not in log and np.array_equal(again, int8)
    assert OnnxDeblurrer(cached_int8_onnx(weights)[0]).config == load_model(weights).config  # metadata kept
    args = ["deblur", str(image), "-o", str(tmp_path / "x.png"), "--weights", str(weights), "--precision", "int8"]
    assert main([*args, "--backend", "torch"]) == 2
    assert "runs on the CPU with onnxruntime" in capsys.readouterr().err
