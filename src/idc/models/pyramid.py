"""Image pyramids shared by the network (input scales) and the loss (ground-truth scales).

Both must downsample identically, so both call :func:`image_pyramid` semantics: replicate-pad the bottom and right
edges to an even size, average 2x2 blocks, and crop to ``ceil(size / 2)``. A 2x2 average is exactly what bilinear
resizing by 0.5 (half-pixel centres, as SRN-DeblurNet's ``tf.image.resize`` does) computes.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F


def pad_to_multiple(x: torch.Tensor, multiple: int) -> torch.Tensor:
    """Replicate-pads the bottom and right of ``x`` so both sides are multiples of ``multiple``.

    Replicate (not reflect) padding works for any size, 1 pixel included, and adds no dark border.

    Shape:
        (N, C, H, W) -> (N, C, ceil(H / m) * m, ceil(W / m) * m)
    """
    h, w = x.shape[-2:]
    # No early return for ph == pw == 0: a branch on the size would fix the size when exporting with dynamic shapes.
    # The padded side is written as ceil(side / m) * m rather than side + (-side) % m (the same number): traced with
    # symbolic sizes, every later layer's size is then a plain multiple, which halves the time of an ONNX export.
    ph = (h + multiple - 1) // multiple * multiple - h
    pw = (w + multiple - 1) // multiple * multiple - w
    return F.pad(x, (0, pw, 0, ph), mode="replicate")


def scale_size(height: int, width: int, level: int) -> tuple[int, int]:
    """Size of pyramid level ``level`` (0 = full size) of an image of ``height`` x ``width``."""
    f = 2**level
    return math.ceil(height / f), math.ceil(width / f)


def downsample2(x: torch.Tensor) -> torch.Tensor:
    """Halves the resolution by 2x2 averaging (odd sides are replicate-padded first).

    Shape:
        (N, C, H, W) -> (N, C, ceil(H / 2), ceil(W / 2))
    """
    return F.avg_pool2d(pad_to_multiple(x, 2), 2)


def upsample2(x: torch.Tensor) -> torch.Tensor:
    """Doubles the resolution by bilinear interpolation (half-pixel centres).

    Shape:
        (N, C, H, W) -> (N, C, 2H, 2W)
    """
    return F.interpolate(x, scale_factor=2.0, mode="bilinear", align_corners=False)


def image_pyramid(x: torch.Tensor, num_scales: int) -> list[torch.Tensor]:
    """Returns ``num_scales`` versions of ``x``, coarse to fine, the last being ``x`` itself.

    Shape:
        (N, C, H, W) -> [(N, C, ceil(H / 2^(n-1)), ...), ..., (N, C, H, W)]
    """
    levels = [x]
    for _ in range(num_scales - 1):
        levels.append(downsample2(levels[-1]))
    return levels[::-1]
