"""Camera-path averaging: GOPRO-style blur made from one sharp photo.

GOPRO_Large's blur is an average of consecutive frames in linear light while the camera moves. A photo can stand in
for those frames: view it along a smooth camera path (translation, a bend, in-plane rotation and zoom), one view per
"frame", and average the views in linear light; the path's middle view is the photo itself, the ground truth. Unlike
a blur kernel, rotation and zoom make the blur vary across the image (longer towards the edges), as real camera
motion does, and few views of fast motion leave the ghosting of frame averaging. What it cannot make: objects moving
on their own, and parallax. It gives every photo the kind of blur that ``../shared/data`` has from one scene only.

The path of a sample with n views (n odd) at s = (k - n//2) / (n//2), k = 0..n-1, so s runs from -1 to 1:
translation ``a s + b s^2`` (a up to ``max_shift`` pixels per axis, b up to ``curvature * max_shift``), rotation
``r s`` (r up to ``max_rotation`` degrees), scale ``1 + z s`` (z up to ``max_zoom``), all about the crop's centre and
drawn uniformly. At s = 0 every term is 0: the middle view is the sharp crop (to the float32 rounding of the sampling
grid, about 1e-5 of a pixel).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from idc.data.frames import from_linear, to_linear


@dataclass(frozen=True)
class CameraPathConfig:
    """How far a sample's camera path may go from its middle view (see the module docstring)."""

    max_shift: float = 12.0
    curvature: float = 0.5
    max_rotation: float = 1.5
    max_zoom: float = 0.02

    def __post_init__(self) -> None:
        for name in ("max_shift", "curvature", "max_rotation", "max_zoom"):
            value = getattr(self, name)
            if not math.isfinite(value) or value < 0:
                raise ValueError(f"camera path {name} must be a finite number >= 0, got {value}")
        if self.max_zoom >= 1:
            raise ValueError(f"camera path max_zoom must be below 1, got {self.max_zoom}")


def draw_path(n: int, config: CameraPathConfig, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """The n views of one random path: (n, 2, 2) linear maps and (n, 2) shifts in pixels, as (x, y).

    A view maps an output pixel at offset ``d`` from the crop's centre to the source position
    ``centre + M d + t``. The middle view is exactly the identity.
    """
    if n < 1 or n % 2 == 0:
        raise ValueError(f"need an odd number of views (one middle view), got {n}")

    def uniform(*shape: int) -> torch.Tensor:
        return torch.rand(shape, generator=generator, dtype=torch.float64) * 2 - 1

    a = uniform(2) * config.max_shift
    b = uniform(2) * config.max_shift * config.curvature
    r = float(uniform(1)) * math.radians(config.max_rotation)
    z = float(uniform(1)) * config.max_zoom
    half = n // 2
    s = (torch.arange(n, dtype=torch.float64) - half) / max(half, 1)
    shifts = a * s[:, None] + b * (s * s)[:, None]
    angle, scale = r * s, 1 + z * s
    cos, sin = torch.cos(angle) * scale, torch.sin(angle) * scale
    maps = torch.stack([torch.stack([cos, -sin], -1), torch.stack([sin, cos], -1)], -2)
    return maps.float(), shifts.float()


def path_average(
    image: torch.Tensor,
    top: int,
    left: int,
    height: int,
    width: int,
    n: int,
    config: CameraPathConfig,
    generator: torch.Generator,
    response: str = "gamma",
    gamma: float = 2.2,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Averages n views of the ``height`` x ``width`` region at (top, left) along a random camera path.

    Views are sampled from the whole image (bilinear; reflected beyond its borders), so content moving into the
    region comes from outside it where the photo has it.

    Shape:
        image (C, H, W) in [0, 1] -> (blurred (C, height, width), sharp (C, height, width)), float32
    """
    image = image.float()
    img_h, img_w = image.shape[-2:]
    if top < 0 or left < 0 or top + height > img_h or left + width > img_w:
        raise ValueError(f"region {height}x{width} at ({top}, {left}) is outside the {img_h}x{img_w} image")
    sharp = image[:, top : top + height, left : left + width]
    maps, shifts = draw_path(n, config, generator)
    centre = torch.tensor([left + (width - 1) / 2, top + (height - 1) / 2])
    ys = torch.arange(height, dtype=torch.float32) + top - centre[1]
    xs = torch.arange(width, dtype=torch.float32) + left - centre[0]
    offsets = torch.stack(torch.meshgrid(xs, ys, indexing="xy"), -1)  # (height, width, 2) as (x, y)
    source = centre + torch.einsum("nij,hwj->nhwi", maps, offsets) + shifts[:, None, None, :]
    # align_corners=True: -1 and 1 are the centres of the first and last pixels, so whole-pixel positions sample
    # the pixels themselves (the middle view returns the crop, to the grid's float32 rounding).
    scale = torch.tensor([2 / max(img_w - 1, 1), 2 / max(img_h - 1, 1)])
    grid = source * scale - 1
    linear = to_linear(image, response, gamma)[None].expand(n, -1, -1, -1)
    views = F.grid_sample(linear, grid, mode="bilinear", padding_mode="reflection", align_corners=True)
    blurred = from_linear(views.mean(0).clamp(0, 1), response, gamma)
    return blurred, sharp
