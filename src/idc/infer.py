"""Whole-image inference: device choice, precision, and deblurring one image tensor."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path
from typing import TYPE_CHECKING, Any, overload

import torch

from idc.models import IDC, IDCConfig

if TYPE_CHECKING:
    import numpy as np
    from PIL import Image

    from idc.export import OnnxDeblurrer


def resolve_device(name: str = "auto") -> torch.device:
    """``auto`` picks CUDA when available, else the CPU; ``cuda`` (or ``cuda:N``) without a GPU is an error, and so
    is ``mps`` (an Apple GPU, only when asked for: docs/performance.md, "Apple GPUs") without one."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise ValueError(f"--device {name} was asked for, but no CUDA GPU is available (use --device cpu or auto)")
    if name.startswith("cuda:") and name[5:].isdigit() and int(name[5:]) >= torch.cuda.device_count():
        count = torch.cuda.device_count()
        raise ValueError(f"--device {name} was asked for, but this machine has {count} CUDA GPU(s), from cuda:0")
    if name == "mps" and not mps_available():
        raise ValueError(
            "--device mps was asked for, but no Apple GPU is available to PyTorch (it needs macOS 12.3+ on Apple "
            "silicon or an AMD GPU, and a torch build with MPS); use --device cpu or auto"
        )
    if name not in {"cpu", "mps"} and not name.startswith("cuda"):
        raise ValueError(f"unknown device {name!r}: use auto, cpu, cuda or mps")
    return torch.device(name)


def mps_available() -> bool:
    """Whether PyTorch can use an Apple GPU (Metal Performance Shaders) here."""
    backend = getattr(torch.backends, "mps", None)
    return bool(backend is not None and backend.is_available())


def synchronize(device: torch.device) -> None:
    """Waits until ``device`` has finished its queued work (GPUs run asynchronously; the CPU needs nothing), so
    that a wall-clock time covers the work."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    elif device.type == "mps":
        torch.mps.synchronize()


def model_device(model: object) -> torch.device:
    """The device a model runs on: its parameters' device, an ONNX runner's ``device``, else the CPU."""
    if isinstance(model, torch.nn.Module):
        return next(model.parameters()).device
    device = getattr(model, "device", None)
    return device if isinstance(device, torch.device) else torch.device("cpu")


PRECISIONS = {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}


def fast_precision(device: torch.device) -> str:
    """The precision ``auto`` means on ``device``: the fastest measured without a visible cost (docs/performance.md).

    CUDA GPUs with tensor cores (compute capability 7.0 and up): ``fp16`` autocast. CPUs with native bf16
    (AVX-512 BF16 or AMX): ``bf16`` autocast, 2.2x faster than fp32 on the development machine. Elsewhere ``fp32``
    (bf16 emulated in software is slower than fp32; on an Apple GPU, lower precisions were never measured).
    """
    if device.type == "cuda":
        return "fp16" if torch.cuda.get_device_capability(device)[0] >= 7 else "fp32"
    if device.type != "cpu":  # an Apple GPU: lower precisions never measured here
        return "fp32"
    probes = ("_is_avx512_bf16_supported", "_is_amx_tile_supported")  # private torch API: absent means no
    try:
        native = any(getattr(torch.cpu, name, lambda: False)() for name in probes)
    except RuntimeError:
        native = False
    return "bf16" if native else "fp32"


def resolve_precision(precision: str, device: torch.device) -> str:
    """``auto`` becomes :func:`fast_precision` of ``device``; anything else is returned as it is."""
    return fast_precision(device) if precision == "auto" else precision


def cast_for_speed(model: IDC, precision: str) -> IDC:
    """``fp16`` on CUDA: ``model`` converted to fp16 in place and returned, so that autocast has no weights to cast
    at each call (21.0 against 25.0 ms per 1280x720 frame on an H100, docs/performance.md); anything else: ``model``
    as it is (a bf16-cast network is no faster than bf16 autocast on the CPU measured). Only for a model the caller
    owns: the weights are changed.
    """
    if precision == "fp16" and model_device(model).type == "cuda":
        return model.half()
    return model


def autocast_context(device: torch.device, precision: str, cache: bool = True) -> AbstractContextManager[object]:
    """Autocast for ``bf16``/``fp16`` (fp16 needs CUDA); nothing for ``fp32``. ``cache=False`` turns off autocast's
    cache of cast weights (required while a CUDA graph is captured)."""
    if precision not in PRECISIONS:
        raise ValueError(f"unknown precision {precision!r}; use fp32, bf16 or fp16")
    dtype = PRECISIONS[precision]
    if dtype is None:
        return nullcontext()
    if device.type == "mps":
        raise ValueError(f"{precision} on an Apple GPU (mps) is not supported here (never tested); use fp32")
    if dtype == torch.float16 and device.type != "cuda":
        raise ValueError("fp16 inference needs a CUDA GPU; on a CPU use bf16 or fp32")
    return torch.autocast(device.type, dtype=dtype, cache_enabled=cache)


@torch.inference_mode()
def deblur_tensor(model: IDC, blurred: torch.Tensor, precision: str = "fp32") -> torch.Tensor:
    """Deblurs one image or a batch with ``model`` (on the model's device); returns the finest estimate in [0, 1].

    ``precision`` ``bf16``/``fp16`` runs the network under autocast (weights stay fp32).

    Shape:
        (3, H, W) or (N, 3, H, W) in [0, 1] -> same shape, on the input's device.
    """
    param = next(model.parameters())
    batched = blurred.ndim == 4
    x = (blurred if batched else blurred.unsqueeze(0)).to(param.device, param.dtype)
    with autocast_context(param.device, precision):
        estimate = model(x)[-1]
    out = estimate.float().clamp(0, 1).to(blurred.device, blurred.dtype)
    return out if batched else out[0]


def deblur_image(
    model: IDC | OnnxDeblurrer,
    image: torch.Tensor,
    tile: int | str = "auto",
    overlap: int = 128,
    progress: bool = False,
    precision: str = "fp32",
    ensemble: int = 1,
    strength: float = 1.0,
) -> torch.Tensor:
    """Deblurs one (3, H, W) image whole or in tiles, with a torch IDC or an :class:`idc.export.OnnxDeblurrer`.

    Args:
        tile: ``"auto"`` (whole when it fits min(half the free memory, 4 GiB), else the largest tile that fits),
            ``0`` (always whole), or a tile side in pixels. An ONNX model is sized by the config in its metadata
            (the paper's network when it has none).
        overlap: pixels shared by neighbouring tiles.
        precision: ``fp32``, ``bf16`` or ``fp16`` (autocast; fp16 on CUDA only) for a torch model; an ONNX model
            runs as it was exported.
        ensemble: 1 (one run), or 2, 4 or 8: the outputs for that many flipped/transposed copies of the image,
            averaged (:mod:`idc.ensemble`; that many times the time).
        strength: how much of the network's change to keep (:func:`apply_strength`): 1, the network's output (the
            paper's); 0, the input; between, a blend; up to 2, the change enlarged.
    """
    from idc.ensemble import ensemble_mean

    check_strength(strength)
    if ensemble != 1:  # a bad size fails in ensemble_mean before any run
        out = ensemble_mean(lambda view: _deblur_once(model, view, tile, overlap, progress, precision), image, ensemble)
    else:
        out = _deblur_once(model, image, tile, overlap, progress, precision)
    return apply_strength(image, out, strength)


STRENGTH_RANGE = (0.0, 2.0)


def check_strength(strength: float) -> None:
    """Raises ValueError for a strength outside :data:`STRENGTH_RANGE` (or not a number)."""
    low, high = STRENGTH_RANGE
    if not low <= strength <= high:  # NaN fails too
        raise ValueError(f"strength must be between {low:g} and {high:g}, got {strength!r}")


def apply_strength(blurred: torch.Tensor, restored: torch.Tensor, strength: float) -> torch.Tensor:
    """``blurred`` plus ``strength`` times the network's change to it, clipped to [0, 1]: the output itself at 1, the
    input at 0, a blend between (less sharpening, fewer of its artefacts), the change enlarged above 1.

    Shape:
        blurred, restored: (3, H, W), or any shape the two share.
    """
    if strength == 1.0:
        return restored
    if strength == 0.0:
        return blurred.clone()
    return (blurred + strength * (restored - blurred)).clamp(0, 1)


def _deblur_once(
    model: IDC | OnnxDeblurrer, image: torch.Tensor, tile: int | str, overlap: int, progress: bool, precision: str
) -> torch.Tensor:
    """:func:`deblur_image` of one view, whole or in tiles."""
    from idc.tiling import auto_tile, deblur_tiled

    _, h, w = image.shape
    side: int | None
    if tile == "auto":
        side = auto_tile(model.config or IDCConfig(), h, w, model_device(model))
    elif isinstance(tile, int) and tile >= 0:
        side = tile or None
    else:
        raise ValueError(f"tile must be 'auto', 0 or a positive size, got {tile!r}")
    run: Callable[[torch.Tensor], torch.Tensor]
    if isinstance(model, IDC):
        net = model
        run = lambda t: deblur_tensor(net, t, precision)  # noqa: E731
    else:
        run = model
    if side is None or (side >= h and side >= w):
        return run(image)
    return deblur_tiled(None, image, side, overlap, progress=progress, run=run)


_default_models: dict[str, IDC] = {}


def _model_for(
    model: IDC | OnnxDeblurrer | str | Path | None, device: str | torch.device | None, precision: str
) -> tuple[IDC | OnnxDeblurrer, str]:
    """A ready model and its resolved precision: the model given, one loaded from a weights folder or ``.onnx``
    file, or the bundled default (loaded once per device and precision, and kept). Models loaded here are cast for
    speed (:func:`cast_for_speed`); a model passed in is not cast (only moved to ``device`` when one is given)."""
    if isinstance(model, IDC):
        net = model.to(device) if device is not None else model
        return net, resolve_precision(precision, model_device(net))
    if model is not None and not isinstance(model, (str, Path)):
        return model, resolve_precision(precision, model_device(model))  # an OnnxDeblurrer
    target = resolve_device(str(device) if device is not None else "auto")
    precision = resolve_precision(precision, target)
    from idc.export import OnnxDeblurrer, is_onnx_file

    if model is not None and is_onnx_file(model):
        return OnnxDeblurrer(model, target.type), precision
    from idc.weights import load_model

    if model is not None:
        return cast_for_speed(load_model(model, device=target), precision), precision
    key = f"{target}/{precision}" if precision == "fp16" and target.type == "cuda" else str(target)
    if key not in _default_models:
        _default_models[key] = cast_for_speed(load_model(None, device=target), precision)
    return _default_models[key], precision


@overload
def deblur(
    image: torch.Tensor,
    model: IDC | OnnxDeblurrer | str | Path | None = ...,
    *,
    device: str | torch.device | None = ...,
    precision: str = ...,
    tile: int | str = ...,
    overlap: int = ...,
    ensemble: int = ...,
    strength: float = ...,
) -> torch.Tensor: ...
@overload
def deblur(
    image: np.ndarray,
    model: IDC | OnnxDeblurrer | str | Path | None = ...,
    *,
    device: str | torch.device | None = ...,
    precision: str = ...,
    tile: int | str = ...,
    overlap: int = ...,
    ensemble: int = ...,
    strength: float = ...,
) -> np.ndarray: ...
@overload
def deblur(
    image: Image.Image,
    model: IDC | OnnxDeblurrer | str | Path | None = ...,
    *,
    device: str | torch.device | None = ...,
    precision: str = ...,
    tile: int | str = ...,
    overlap: int = ...,
    ensemble: int = ...,
    strength: float = ...,
) -> Image.Image: ...
def deblur(
    image: Any,
    model: IDC | OnnxDeblurrer | str | Path | None = None,
    *,
    device: str | torch.device | None = None,
    precision: str = "auto",
    tile: int | str = "auto",
    overlap: int = 128,
    ensemble: int = 1,
    strength: float = 1.0,
) -> Any:
    """Deblurs one image and returns it in the type, shape and value range it came in: the one-call Python API.

    Args:
        image: a PIL image (RGB, RGBA, P, returned as RGB or RGBA; CMYK, deblurred in sRGB, converted through its
            printing profile as :func:`idc.io.cmyk_to_srgb` does, and returned as CMYK separated through it again,
            :func:`idc.io.srgb_to_cmyk`; LAB, deblurred in sRGB and returned as LAB; or gray: L, LA, 1 and I;16,
            returned as L, LA, L and I;16), a NumPy array (H, W, 3) or (H, W, 4), or (H, W) gray, of uint8, uint16
            or floats in [0, 1], or a torch tensor
            (3, H, W) or (N, 3, H, W) in [0, 1]. Alpha is passed through untouched. Gray is deblurred as three equal
            channels and returned as their mean (the network's three outputs differ by a few levels: colour noise
            in a gray photo). A PIL image is deblurred as it is displayed, as ``idc deblur`` reads files: its EXIF
            orientation is applied, so a phone photo stored sideways comes back upright; its EXIF and XMP
            (orientation reset) and ICC profile (an Adobe RGB one for a camera JPEG whose EXIF alone says Adobe RGB)
            are in the result's ``info`` (pass them to ``save`` as ``exif=``, ``xmp=`` and ``icc_profile=`` to keep
            them; Pillow does not by itself).
        model: a loaded IDC or :class:`idc.export.OnnxDeblurrer`, a weights folder, a ``.safetensors`` or ``.onnx``
            file, or ``None`` for the bundled default weights (loaded on first use and kept).
        device: ``cpu``, ``cuda`` or ``None`` (a given model's own device; otherwise CUDA when available).
        precision: ``auto`` (:func:`fast_precision`: fp16 on tensor-core GPUs, bf16 on CPUs with native bf16, else
            fp32), ``fp32``, ``bf16`` or ``fp16`` (CUDA) autocast for a torch model; ONNX models run as exported.
        tile, overlap: as in :func:`deblur_image`; large images are tiled to fit memory.
        ensemble: 1, or 2, 4 or 8 flipped/transposed copies whose outputs are averaged (that many times the time;
            :func:`deblur_image`).
        strength: how much of the network's change to keep, 0 to 2 (default 1, the network's output;
            :func:`apply_strength`).

    Raises:
        ValueError: the image's type, shape or dtype is not one of the above, or a PIL image is what Pillow opens
            of a camera raw file (its small preview, or sensor data), not a photo.
    """
    import numpy as np
    from PIL import Image

    check_strength(strength)  # before a model is loaded
    net, precision = _model_for(model, device, precision)

    def restore(rgb: torch.Tensor) -> torch.Tensor:
        return deblur_image(net, rgb, tile, overlap, precision=precision, ensemble=ensemble, strength=strength)

    if isinstance(image, torch.Tensor):
        if image.ndim not in (3, 4) or image.shape[-3] != 3 or not image.is_floating_point():
            raise ValueError(
                f"image tensor must be floating point (3, H, W) or (N, 3, H, W) in [0, 1], got {image.dtype} "
                f"{tuple(image.shape)}"
            )
        rgb = image.detach().float()
        out = torch.stack([restore(x) for x in rgb]) if image.ndim == 4 else restore(rgb)
        return out.to(image.device, image.dtype)
    if isinstance(image, Image.Image):
        from PIL import ImageOps

        from idc.io import EXPORT_ADVICE, CameraRawError, refuse_camera_raw_image

        # Opened from a camera raw file, a TIFF is its small preview or sensor data: the file is to be developed.
        try:
            refuse_camera_raw_image(image, Path(getattr(image, "filename", "") or "image"))
        except CameraRawError as e:
            advice = (
                f"develop the file with idc.io.read_image(path) (needs rawpy) and deblur its .rgb, or {EXPORT_ADVICE}"
            )
            raise CameraRawError(e.path, e.what, advice) from None
        image = ImageOps.exif_transpose(image)  # a copy, upright, its EXIF orientation removed
        carried = {k: image.info[k] for k in ("exif", "xmp", "icc_profile") if image.info.get(k)}
        mode = image.mode
        if "icc_profile" not in carried and mode in {"RGB", "RGBA"}:
            from idc.icc import adobe_rgb_profile
            from idc.io import exif_says_adobe_rgb

            if exif_says_adobe_rgb(image.getexif()):  # a camera's Adobe RGB JPEG, as idc deblur reads it
                carried["icc_profile"] = adobe_rgb_profile()
        if mode == "P":
            image = image.convert("RGBA" if "transparency" in image.info else "RGB")
        elif mode == "1":
            image = image.convert("L")
        elif mode == "CMYK":
            from idc.io import cmyk_to_srgb_with_profile

            # Through its printing profile (None: the plain formula), and separated back through the same below.
            image, through = cmyk_to_srgb_with_profile(image, "image")
        elif mode == "LAB":
            image = image.convert("RGB")  # as idc deblur reads a CIELab TIFF, and back to Lab below
        if image.mode in {"L", "LA", "I;16"}:
            samples = np.asarray(image if image.mode == "I;16" else image.getchannel(0))
            gray = deblur(
                samples, net, precision=precision, tile=tile, overlap=overlap, ensemble=ensemble, strength=strength
            )
            sharp = Image.fromarray(gray)  # L from uint8, I;16 from uint16
            if image.mode == "LA":
                sharp = Image.merge("LA", (sharp, image.getchannel("A")))
        elif image.mode in {"RGB", "RGBA"}:
            result = deblur(
                np.asarray(image),
                net,
                precision=precision,
                tile=tile,
                overlap=overlap,
                ensemble=ensemble,
                strength=strength,
            )
            sharp = Image.fromarray(result, image.mode)
        else:
            raise ValueError(f"PIL image mode {mode!r} is not supported; use RGB, RGBA, P, CMYK, LAB, L, LA, 1 or I;16")
        if mode == "CMYK":
            from idc.io import srgb_to_cmyk

            sharp = srgb_to_cmyk(sharp, through)[0]  # separated into inks again, as it was read
        elif mode == "LAB":
            sharp = sharp.convert("LAB")
        sharp.info.update(carried)
        return sharp
    if isinstance(image, np.ndarray):
        if image.ndim != 2 and (image.ndim != 3 or image.shape[2] not in (3, 4)):
            raise ValueError(f"image array must be (H, W, 3), (H, W, 4) or (H, W), got {image.shape}")
        if image.dtype == np.uint8 or image.dtype == np.uint16:
            peak = float(np.iinfo(image.dtype).max)
        elif np.issubdtype(image.dtype, np.floating):
            peak = 1.0
        else:
            raise ValueError(f"image array dtype must be uint8, uint16 or float, got {image.dtype}")
        if image.ndim == 2:  # gray: three equal channels in, their mean out
            rgb = torch.from_numpy(np.ascontiguousarray(image, dtype=np.float32) / peak)[None].repeat(3, 1, 1)
            restored = restore(rgb).mean(0).numpy()
            return (np.round(restored * peak) if peak > 1 else restored).astype(image.dtype)
        rgb = torch.from_numpy(np.ascontiguousarray(image[..., :3], dtype=np.float32) / peak).permute(2, 0, 1)
        restored = restore(rgb.contiguous()).permute(1, 2, 0).numpy()
        restored = (np.round(restored * peak) if peak > 1 else restored).astype(image.dtype)
        return np.concatenate([restored, image[..., 3:]], axis=2) if image.shape[2] == 4 else restored
    if isinstance(image, str | Path):
        raise ValueError(
            f"cannot deblur the path {str(image)!r}: pass the image, e.g. idc.deblur(PIL.Image.open(path)), or use "
            "idc.batch.deblur_files for files (what the idc deblur command runs)"
        )
    raise ValueError(f"cannot deblur a {type(image).__name__}: pass a PIL image, a NumPy array or a torch tensor")
