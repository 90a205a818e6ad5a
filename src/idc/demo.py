"""The demo: blur a photo shipped with scikit-image, deblur it, measure and show the result."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageDraw

from idc.data.degrade import add_gaussian_noise, blur
from idc.data.kernels import camera_shake_kernel
from idc.infer import deblur_image
from idc.io import write_image
from idc.metrics import psnr, ssim, to_uint8
from idc.models import IDC

DEMO_IMAGES = ("astronaut", "chelsea", "coffee", "rocket")


@dataclass
class DemoResult:
    """Scores of the blurred input and the restored output against the sharp photo, and where files went."""

    image: str
    psnr_blurred: float
    psnr_restored: float
    ssim_blurred: float
    ssim_restored: float
    seconds: float
    side_by_side: Path
    ensemble: int = 1

    @property
    def psnr_gain(self) -> float:
        return self.psnr_restored - self.psnr_blurred


def sample_photo(name: str = "astronaut") -> torch.Tensor:
    """A sharp RGB photo that ships with scikit-image, as (3, H, W) float32 in [0, 1]."""
    if name not in DEMO_IMAGES:
        raise ValueError(f"unknown demo image {name!r}; choose from {', '.join(DEMO_IMAGES)}")
    from skimage import data

    array = getattr(data, name)()
    return torch.from_numpy(np.ascontiguousarray(array[..., :3])).permute(2, 0, 1).float() / 255.0


def make_blurred(
    sharp: torch.Tensor, seed: int = 0, kernel_size: int = 31, noise: float = 0.01
) -> tuple[torch.Tensor, torch.Tensor]:
    """Blurs a (3, H, W) image with a seeded camera-shake kernel and adds Gaussian noise; returns (blurred, kernel)."""
    g = torch.Generator().manual_seed(seed)
    kernel = camera_shake_kernel(g, size=kernel_size, extent=(0.5, 0.9))
    blurred = add_gaussian_noise(blur(sharp[None], kernel), noise, g)[0].clamp(0, 1)
    return blurred, kernel


def side_by_side(panels: list[tuple[str, torch.Tensor]]) -> Image.Image:
    """Joins (label, image) panels left to right with a caption strip above each."""
    arrays = [to_uint8(img) for _, img in panels]
    h, w = arrays[0].shape[:2]
    gap, caption = 8, 22
    canvas = Image.new("RGB", (len(arrays) * w + (len(arrays) - 1) * gap, h + caption), "white")
    draw = ImageDraw.Draw(canvas)
    for i, ((label, _), a) in enumerate(zip(panels, arrays, strict=True)):
        x = i * (w + gap)
        canvas.paste(Image.fromarray(a), (x, caption))
        draw.text((x + 4, 4), label, fill="black")
    return canvas


def run_demo(
    model: IDC,
    out_dir: str | Path,
    image: str = "astronaut",
    seed: int = 0,
    noise: float = 0.01,
    ensemble: int = 1,
) -> DemoResult:
    """Blurs a bundled photo (seeded camera shake + noise), deblurs it, scores both and writes pictures.

    Writes ``blurred.png``, ``restored.png``, ``sharp.png`` and ``side_by_side.png`` (blurred | restored | sharp)
    into ``out_dir``. ``ensemble`` 2, 4 or 8 averages that many flipped/transposed runs (:mod:`idc.ensemble`).
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    sharp = sample_photo(image)
    blurred, _ = make_blurred(sharp, seed=seed, noise=noise)
    start = time.perf_counter()
    restored = deblur_image(model, blurred, tile=0, ensemble=ensemble)  # whole, fp32, as every demo ran
    seconds = time.perf_counter() - start
    result = DemoResult(
        image=image,
        psnr_blurred=psnr(blurred, sharp),
        psnr_restored=psnr(restored, sharp),
        ssim_blurred=ssim(blurred, sharp),
        ssim_restored=ssim(restored, sharp),
        seconds=seconds,
        side_by_side=out / "side_by_side.png",
        ensemble=ensemble,
    )
    for name, img in (("blurred", blurred), ("restored", restored), ("sharp", sharp)):
        write_image(out / f"{name}.png", img)
    panels = [
        (f"blurred  {result.psnr_blurred:.2f} dB / SSIM {result.ssim_blurred:.3f}", blurred),
        (
            f"IDC{f' x{ensemble}' if ensemble > 1 else ''} restored  {result.psnr_restored:.2f} dB / "
            f"SSIM {result.ssim_restored:.3f}",
            restored,
        ),
        ("sharp (ground truth)", sharp),
    ]
    canvas = side_by_side(panels)
    tmp = out / ".side_by_side.tmp.png"
    canvas.save(tmp)
    tmp.replace(result.side_by_side)
    return result
