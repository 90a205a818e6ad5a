"""Whole-image inference: device choice, precision, and deblurring one image tensor."""

from __future__ import annotations

import torch

from idc.models import IDC


def resolve_device(name: str = "auto") -> torch.device:
    """``auto`` picks CUDA when available, else CPU; ``cuda`` without a GPU is an error."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise ValueError("--device cuda was asked for, but no CUDA GPU is available (use --device cpu or auto)")
    if name not in {"cpu"} and not name.startswith("cuda"):
        raise ValueError(f"unknown device {name!r}: use auto, cpu or cuda")
    return torch.device(name)


@torch.inference_mode()
def deblur_tensor(model: IDC, blurred: torch.Tensor) -> torch.Tensor:
    """Deblurs one image or a batch with ``model`` (on the model's device); returns the finest estimate in [0, 1].

    Shape:
        (3, H, W) or (N, 3, H, W) in [0, 1] -> same shape, on the input's device.
    """
    param = next(model.parameters())
    batched = blurred.ndim == 4
    x = (blurred if batched else blurred.unsqueeze(0)).to(param.device, param.dtype)
    out = model(x)[-1].clamp(0, 1).to(blurred.device, blurred.dtype)
    return out if batched else out[0]
