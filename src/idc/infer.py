"""Whole-image inference: device choice, precision, and deblurring one image tensor."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from typing import TYPE_CHECKING

import torch

from idc.models import IDC, IDCConfig

if TYPE_CHECKING:
    from idc.export import OnnxDeblurrer


def resolve_device(name: str = "auto") -> torch.device:
    """``auto`` picks CUDA when available, else CPU; ``cuda`` without a GPU is an error."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise ValueError("--device cuda was asked for, but no CUDA GPU is available (use --device cpu or auto)")
    if name not in {"cpu"} and not name.startswith("cuda"):
        raise ValueError(f"unknown device {name!r}: use auto, cpu or cuda")
    return torch.device(name)


def model_device(model: object) -> torch.device:
    """The device a model runs on: its parameters' device, an ONNX runner's ``device``, else the CPU."""
    if isinstance(model, torch.nn.Module):
        return next(model.parameters()).device
    device = getattr(model, "device", None)
    return device if isinstance(device, torch.device) else torch.device("cpu")


PRECISIONS = {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}


def autocast_context(device: torch.device, precision: str, cache: bool = True) -> AbstractContextManager[object]:
    """Autocast for ``bf16``/``fp16`` (fp16 needs CUDA); nothing for ``fp32``. ``cache=False`` turns off autocast's
    cache of cast weights (required while a CUDA graph is captured)."""
    if precision not in PRECISIONS:
        raise ValueError(f"unknown precision {precision!r}; use fp32, bf16 or fp16")
    dtype = PRECISIONS[precision]
    if dtype is None:
        return nullcontext()
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
) -> torch.Tensor:
    """Deblurs one (3, H, W) image whole or in tiles, with a torch IDC or an :class:`idc.export.OnnxDeblurrer`.

    Args:
        tile: ``"auto"`` (whole when it fits min(half the free memory, 4 GiB), else the largest tile that fits),
            ``0`` (always whole), or a tile side in pixels. An ONNX model is sized by the config in its metadata
            (the paper's network when it has none).
        overlap: pixels shared by neighbouring tiles.
        precision: ``fp32``, ``bf16`` or ``fp16`` (autocast; fp16 on CUDA only) for a torch model; an ONNX model
            runs as it was exported.
    """
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
