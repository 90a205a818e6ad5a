"""Health checks: of trained weights (is the network still able to learn, or has it collapsed onto the identity?) and
of the machine (what idc finds here and picks by default)."""

from __future__ import annotations

import contextlib

import torch

from idc.models import IDC
from idc.models.idc import Fusion


@torch.inference_mode()
def fusion_activity(model: IDC, image: torch.Tensor | None = None) -> float:
    """Fraction of the Fusion ReLU's units that are active (> 0) on ``image`` (default: a fixed smooth random image).

    Near 0 means the network has collapsed: the output is the blurred input plus a constant and no gradient can
    reach anything before that ReLU (docs/paper-notes.md section 10). A healthy network reads about 0.1 to 0.6.

    Shape:
        image: (3, H, W) or (N, 3, H, W) in [0, 1]
    """
    if image is None:
        g = torch.Generator().manual_seed(0)
        image = torch.nn.functional.interpolate(torch.rand(1, 3, 16, 16, generator=g), size=96, mode="bicubic")
    x = (image if image.ndim == 4 else image[None]).clamp(0, 1)
    device = next(model.parameters()).device
    counts = [0.0, 0.0]

    def hook(_m: torch.nn.Module, _i: object, out: torch.Tensor) -> None:
        counts[0] += float((out > 0).sum())
        counts[1] += out.numel()

    handles = [m.act.register_forward_hook(hook) for m in model.modules() if isinstance(m, Fusion)]
    try:
        model(x.to(device, torch.float32))
    finally:
        for h in handles:
            h.remove()
    return counts[0] / max(counts[1], 1.0)


def system_report() -> list[tuple[str, str]]:
    """What this machine offers idc and what ``idc deblur`` picks on it by default, as (label, value) lines: for
    ``idc info --system`` and bug reports. Reads only; never exports or loads a network."""
    import platform
    from importlib.metadata import PackageNotFoundError, version

    from idc import __version__
    from idc.bench import cpu_model
    from idc.export import cache_dir, cached_onnx_path, onnx_chosen_by_auto, onnx_missing
    from idc.infer import fast_precision, mps_available, resolve_device
    from idc.io import DEEP_INSTALL, imagecodecs_decodes, littlecms_version, missing_support
    from idc.models import IDCConfig
    from idc.raw import libraw_version, rawpy_problem
    from idc.tiling import auto_tile, memory_budget, system_memory_available

    gib = 2**30
    lines = [
        ("idc-deblur", __version__),
        ("python", f"{platform.python_version()} on {platform.platform()}"),
        ("torch", f"{torch.__version__}" + (f" (CUDA {torch.version.cuda})" if torch.version.cuda else " (no CUDA)")),
        ("CPU", f"{cpu_model()}, {torch.get_num_threads()} threads"),
        ("CPU native bf16", "yes" if fast_precision(torch.device("cpu")) == "bf16" else "no (bf16 would be emulated)"),
        ("memory available", f"{system_memory_available() / gib:.1f} GiB"),
    ]
    if torch.cuda.is_available():
        for i in range(torch.cuda.device_count()):
            p = torch.cuda.get_device_properties(i)
            lines.append((f"GPU cuda:{i}", f"{p.name}, {p.total_memory / gib:.1f} GiB"))
    else:
        lines.append(("CUDA GPU", "none"))
    apple = "available: --device mps (fp32; not tested by idc-deblur)" if mps_available() else "none"
    lines.append(("Apple GPU (mps)", apple))
    device = resolve_device("auto")
    precision = fast_precision(device)
    lines.append(("idc deblur device", f"{device.type} (--device auto)"))
    lines.append(("idc deblur precision", f"{precision} (--precision auto)"))
    if missing := onnx_missing():
        backend = f"torch ({missing})"
    elif not onnx_chosen_by_auto(device.type, precision):
        backend = f"torch (onnxruntime is chosen only on a CPU in fp32; here {device.type}, {precision})"
    else:
        cached = cached_onnx_path(None).is_file()
        backend = (
            "onnxruntime (export of the bundled weights cached)"
            if cached
            else ("torch for small jobs; onnxruntime once an export of the weights is cached or a job is large enough")
        )
        with contextlib.suppress(PackageNotFoundError):
            backend += f"; onnxruntime {version('onnxruntime')}"
    lines.append(("idc deblur backend", backend))
    budget = memory_budget(device)
    for w, h in ((1280, 720), (4000, 3000)):
        tile = auto_tile(IDCConfig(), h, w, device)
        lines.append((f"tiles at {w}x{h}", "whole image" if tile is None else f"{tile}x{tile} tiles"))
    lines.append(("memory budget", f"{budget / gib:.2f} GiB per inference (min(half the free memory, 4 GiB))"))
    lines.append(("cache", str(cache_dir())))
    avif, heif = missing_support("AVIF"), missing_support("HEIF")
    if avif is None:
        deep = "at full depth" if imagecodecs_decodes("AVIF") else f"at 8 bits ({DEEP_INSTALL} for full depth)"
        avif = f"read (10 and 12 bits {deep}) and written at 8 bits"
    else:
        avif = f"no: {avif}"
    lines.append(("AVIF images", avif))
    lines.append(("HEIC images", "read and written (pillow-heif)" if heif is None else f"no: {heif}"))
    lines.append(("JPEG XL images", jpeg_xl_support()))
    cms = littlecms_version()
    cmyk = f"through their profiles (LittleCMS {cms})" if cms else "by a plain formula (no LittleCMS in this Pillow)"
    lines.append(("CMYK images", f"{cmyk}, written back as CMYK"))
    raw = rawpy_problem()
    lines.append(("camera raw files", f"developed ({libraw_version()})" if raw is None else f"no: {raw}"))
    lines.append(("image libraries", image_libraries()))
    return lines


def jpeg_xl_support() -> str:
    """How this installation reads and writes JPEG XL (the optional plugin, and imagecodecs for deep colour)."""
    from idc import jxl
    from idc.io import DEEP_INSTALL, imagecodecs_decodes

    if problem := jxl.decoder_problem():
        return f"no: {problem}"
    deep = "at full depth" if imagecodecs_decodes("JPEGXL") else f"at 8 bits ({DEEP_INSTALL} for full depth)"
    return f"read (colour deeper than 8 bits {deep}) and written at 8 bits in sRGB (pillow-jxl-plugin)"


def image_libraries() -> str:
    """The versions of the libraries that decode and encode image files (what a report of a misread file needs:
    OpenCV 5.0, for one, misreads some 16-bit TIFFs, docs/paper-notes.md)."""
    from importlib.metadata import PackageNotFoundError, version

    found: list[str] = []
    for name, package in (
        ("Pillow", "pillow"),
        ("OpenCV", "opencv-python-headless"),
        ("OpenCV", "opencv-python"),
        ("tifffile", "tifffile"),
        ("pillow-heif", "pillow-heif"),
        ("pillow-jxl-plugin", "pillow-jxl-plugin"),
        ("imagecodecs", "imagecodecs"),
        ("rawpy", "rawpy"),
    ):
        with contextlib.suppress(PackageNotFoundError):
            entry = f"{name} {version(package)}"
            if not any(f.startswith(f"{name} ") for f in found):
                found.append(entry)
    return ", ".join(found) or "none found"
