"""Degradation model y = k * x + w: blurring (uniform or spatially varying), noise, JPEG re-compression.

Every random draw takes an explicit ``torch.Generator`` (or a seed), so any sample can be reproduced: the record
returned with each degraded image lists what was drawn, and the same seed draws it again.
"""

from __future__ import annotations

import io
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from idc.data.kernels import (
    SHAKE_CENTRES,
    camera_shake_kernel,
    disk_kernel,
    gaussian_kernel,
    linear_motion_kernel,
    load_kernel,
)

KERNEL_TYPES = ("camera_shake", "linear", "gaussian", "disk", "file", "none")


def blur(image: torch.Tensor, kernel: torch.Tensor) -> torch.Tensor:
    """Convolves each image with its kernel (true convolution, replicate borders: no dark edges).

    Shape:
        image: (N, C, H, W); kernel: (k, k) shared or (N, k, k) one per image -> (N, C, H, W)
    """
    n, c, h, w = image.shape
    if kernel.ndim == 2:
        kernel = kernel.expand(n, *kernel.shape)
    k = kernel.shape[-1]
    pad = k // 2
    x = F.pad(image.reshape(1, n * c, h, w), (pad, pad, pad, pad), mode="replicate")
    # conv2d is a correlation: flip the kernel for a true convolution.
    weight = kernel.flip(-1, -2).to(image).repeat_interleave(c, dim=0).unsqueeze(1)
    return F.conv2d(x, weight, groups=n * c).view(n, c, h, w)


def pad_kernels(kernels: list[torch.Tensor]) -> torch.Tensor:
    """Zero-pads centred kernels of different odd sizes to the largest, stacked as (K, k, k)."""
    size = max(k.shape[-1] for k in kernels)
    out = []
    for k in kernels:
        p = (size - k.shape[-1]) // 2
        out.append(F.pad(k, (p, p, p, p)))
    return torch.stack(out)


def smooth_weight_maps(count: int, height: int, width: int, generator: torch.Generator, cells: int = 3) -> torch.Tensor:
    """``count`` smooth, positive maps that sum to 1 at every pixel (a soft partition of the image).

    Random values on a coarse ``cells`` x ``cells`` grid are upsampled bicubically and passed through a softmax.

    Shape:
        returns (count, height, width)
    """
    coarse = torch.randn(1, count, cells, cells, generator=generator) * 3.0
    fine = F.interpolate(coarse, size=(height, width), mode="bicubic", align_corners=True)
    return torch.softmax(fine[0], dim=0)


def spatially_varying_blur(image: torch.Tensor, kernels: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """Blends K uniform blurs of one image with per-pixel weights: sum_i w_i * (k_i conv x).

    Shape:
        image: (1, C, H, W); kernels: (K, k, k); weights: (K, H, W), summing to 1 over K -> (1, C, H, W)
    """
    blurred = blur(image.expand(kernels.shape[0], *image.shape[1:]), kernels)
    return (blurred * weights.to(image).unsqueeze(1)).sum(0, keepdim=True)


def add_gaussian_noise(image: torch.Tensor, sigma: float, generator: torch.Generator) -> torch.Tensor:
    """Adds white Gaussian noise of standard deviation ``sigma`` (image scale [0, 1]); does not clip.

    The noise is drawn on the generator's device, then moved to the image's.

    Shape:
        (N, C, H, W) -> (N, C, H, W)
    """
    noise = torch.randn(image.shape, generator=generator, dtype=image.dtype, device=generator.device)
    return image + sigma * noise.to(image.device)


def add_poisson_gaussian_noise(
    image: torch.Tensor, peak: float, sigma: float, generator: torch.Generator
) -> torch.Tensor:
    """Shot noise (Poisson, ``peak`` photons at white) plus read noise (Gaussian ``sigma``); does not clip.

    Shape:
        (N, C, H, W) -> (N, C, H, W)
    """
    rate = (image.clamp(0, 1) * peak).to(generator.device, torch.float32)
    shot = torch.poisson(rate, generator=generator) / peak
    return add_gaussian_noise(shot.to(image.device, image.dtype), sigma, generator)


def jpeg_roundtrip(image: torch.Tensor, quality: int) -> torch.Tensor:
    """Encodes each image as JPEG at ``quality`` (4:2:0, as cameras do) and decodes it back.

    Shape:
        (N, 3, H, W) in [0, 1] -> (N, 3, H, W), values on the uint8 grid
    """
    from PIL import Image

    out = []
    for img in image:
        a = (img.detach().float().clamp(0, 1) * 255).round().to(torch.uint8).permute(1, 2, 0).cpu().numpy()
        buf = io.BytesIO()
        Image.fromarray(a).save(buf, format="JPEG", quality=int(quality))
        back = np.asarray(Image.open(io.BytesIO(buf.getvalue())).convert("RGB"), dtype=np.float32) / 255.0
        out.append(torch.from_numpy(back).permute(2, 0, 1))
    return torch.stack(out).to(image)


@dataclass(frozen=True)
class DegradationConfig:
    """What :func:`degrade_image` draws for each image.

    Attributes:
        kernel_types: relative weights of the kernel types drawn (``camera_shake``, ``linear``, ``gaussian``,
            ``disk``, ``file``, ``none``). ``none`` leaves the image unblurred (noise and JPEG still apply): a
            network that never sees an unblurred input can learn to take fine detail for noise and smooth real
            texture away in images with little blur (docs/data.md, "Sharp inputs").
        kernel_size: side of generated camera-shake kernels (odd); also the largest linear-motion length.
        shake_extent: camera-shake excursion range, as a fraction of the kernel half-size.
        shake_centre: where a camera-shake pair's sharp image sits: ``centroid`` of the blur (no shift, as the
            Kodak benchmark is made) or the camera's position at mid-exposure (``middle``, as GOPRO pairs a blurred
            average with its middle frame); see :func:`idc.data.kernels.camera_shake_kernel`.
        linear_length: range of linear-motion lengths in pixels (capped at ``kernel_size - 2``).
        gaussian_sigma: range of Gaussian blur sigmas in pixels.
        disk_radius: range of defocus radii in pixels.
        kernel_files: measured kernels (PNG, NPY, MAT) drawn uniformly when ``file`` is chosen.
        noise_sigma: range of Gaussian noise sigma (image scale [0, 1]); the paper uses about 2/255.
        poisson_peak: photons at white for shot noise, drawn from this range; ``None`` disables shot noise.
        jpeg_quality: JPEG quality range for re-compression; ``None`` disables it.
        jpeg_prob: probability of JPEG re-compression when enabled.
        spatially_varying_prob: probability that an image gets 2-4 kernels blended over it instead of one.
        clip: clip the result to [0, 1].
    """

    kernel_types: dict[str, float] = field(default_factory=lambda: {"camera_shake": 1.0})
    kernel_size: int = 31
    shake_extent: tuple[float, float] = (0.15, 1.0)
    shake_centre: str = "centroid"
    linear_length: tuple[float, float] = (3.0, 25.0)
    gaussian_sigma: tuple[float, float] = (0.5, 3.0)
    disk_radius: tuple[float, float] = (1.0, 6.0)
    kernel_files: tuple[str, ...] = ()
    noise_sigma: tuple[float, float] = (1 / 255, 3 / 255)
    poisson_peak: tuple[float, float] | None = None
    jpeg_quality: tuple[int, int] | None = None
    jpeg_prob: float = 0.5
    spatially_varying_prob: float = 0.0
    clip: bool = True

    def __post_init__(self) -> None:
        unknown = set(self.kernel_types) - set(KERNEL_TYPES)
        if unknown:
            raise ValueError(f"unknown kernel types {sorted(unknown)}; known: {', '.join(KERNEL_TYPES)}")
        if not self.kernel_types or min(self.kernel_types.values()) < 0 or sum(self.kernel_types.values()) <= 0:
            raise ValueError("kernel_types needs at least one positive weight")
        if self.kernel_types.get("file", 0) > 0 and not self.kernel_files:
            raise ValueError("kernel type 'file' needs kernel_files")
        if self.kernel_size < 3 or self.kernel_size % 2 == 0:
            raise ValueError(f"kernel_size must be odd and >= 3, got {self.kernel_size}")
        if self.shake_centre not in SHAKE_CENTRES:
            raise ValueError(f"shake_centre must be one of {', '.join(SHAKE_CENTRES)}, got {self.shake_centre!r}")
        for name in ("shake_extent", "linear_length", "gaussian_sigma", "disk_radius", "noise_sigma"):
            lo, hi = getattr(self, name)
            if lo > hi or lo < 0:
                raise ValueError(f"{name} must be a (low, high) range with 0 <= low <= high, got {(lo, hi)}")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _draw(generator: torch.Generator, low: float, high: float) -> float:
    return low + (high - low) * float(torch.rand((), generator=generator))


def draw_kernel(config: DegradationConfig, generator: torch.Generator) -> tuple[torch.Tensor, dict[str, Any]]:
    """Draws one kernel as ``config`` says; returns it with a record of its type and parameters."""
    types = list(config.kernel_types)
    weights = torch.tensor([config.kernel_types[t] for t in types], dtype=torch.float64)
    kind = types[int(torch.multinomial(weights, 1, generator=generator))]
    if kind == "camera_shake":
        kernel = camera_shake_kernel(generator, config.kernel_size, config.shake_extent, config.shake_centre)
        return kernel, {"type": kind} | ({"centre": "middle"} if config.shake_centre == "middle" else {})
    if kind == "linear":
        length = min(_draw(generator, *config.linear_length), config.kernel_size - 2)
        angle = _draw(generator, 0.0, 180.0)
        return linear_motion_kernel(length, angle), {"type": kind, "length": length, "angle": angle}
    if kind == "gaussian":
        sigma = _draw(generator, *config.gaussian_sigma)
        return gaussian_kernel(sigma), {"type": kind, "sigma": sigma}
    if kind == "disk":
        radius = _draw(generator, *config.disk_radius)
        return disk_kernel(radius), {"type": kind, "radius": radius}
    if kind == "none":
        return torch.ones(1, 1), {"type": kind}
    path = config.kernel_files[int(torch.randint(len(config.kernel_files), (), generator=generator))]
    return load_kernel(path), {"type": kind, "file": str(path)}


def degrade_image(
    sharp: torch.Tensor, config: DegradationConfig, generator: torch.Generator
) -> tuple[torch.Tensor, dict[str, Any]]:
    """Blurs one image, adds noise, optionally re-compresses it; every draw comes from ``generator``.

    Shape:
        sharp: (C, H, W) in [0, 1] on any device -> (C, H, W) on the same device

    Returns:
        (blurred, record): the record lists the kernel(s), noise and JPEG settings drawn.
    """
    x = sharp.unsqueeze(0)
    record: dict[str, Any] = {}
    if float(torch.rand((), generator=generator)) < config.spatially_varying_prob:
        count = int(torch.randint(2, 5, (), generator=generator))
        drawn = [draw_kernel(config, generator) for _ in range(count)]
        weights = smooth_weight_maps(count, x.shape[-2], x.shape[-1], generator)
        y = spatially_varying_blur(x, pad_kernels([k for k, _ in drawn]).to(x.device), weights)
        record["kernels"] = [r for _, r in drawn]
    else:
        kernel, info = draw_kernel(config, generator)
        y = blur(x, kernel.to(x.device))
        record["kernels"] = [info]
    sigma = _draw(generator, *config.noise_sigma)
    if config.poisson_peak is not None:
        peak = _draw(generator, *config.poisson_peak)
        y = add_poisson_gaussian_noise(y, peak, sigma, generator)
        record["poisson_peak"] = peak
    else:
        y = add_gaussian_noise(y, sigma, generator)
    record["noise_sigma"] = sigma
    if config.clip:
        y = y.clamp(0, 1)
    if config.jpeg_quality is not None and float(torch.rand((), generator=generator)) < config.jpeg_prob:
        quality = int(torch.randint(config.jpeg_quality[0], config.jpeg_quality[1] + 1, (), generator=generator))
        y = jpeg_roundtrip(y, quality)
        record["jpeg_quality"] = quality
    return y[0], record


def batches(config: DegradationConfig) -> bool:
    """Whether :func:`degrade_batch` degrades the whole batch at once (no spatially varying blur, no JPEG)."""
    return config.spatially_varying_prob <= 0 and config.jpeg_quality is None


def predraw_kernel(config: DegradationConfig, generator: torch.Generator) -> tuple[torch.Tensor, dict[str, Any]]:
    """The kernel :func:`degrade_batch` would draw first from ``generator``, drawn ahead (in a data-loader worker,
    say); pass it and the generator, in the state this leaves it, to ``degrade_batch(..., kernels=...)``.
    Camera-shake trajectories cost about 10 ms each on a CPU core: too slow for the training process of a GPU."""
    if not batches(config):
        raise ValueError("kernels can be drawn ahead only for configs that degrade_batch batches")
    torch.rand((), generator=generator)  # the spatially-varying coin, as degrade_image draws it
    return draw_kernel(config, generator)


def predraw_noise(
    config: DegradationConfig, generator: torch.Generator, shape: tuple[int, ...]
) -> tuple[float, torch.Tensor] | None:
    """The Gaussian noise :func:`degrade_batch` would draw for an image of ``shape`` after its kernel, drawn ahead:
    ``(sigma, sigma * noise)``, float32 on the generator's device. Call it right after :func:`predraw_kernel` with
    the same generator; :func:`apply_predrawn` then degrades a batch with no further draws, so a data-loader worker
    can draw everything random and leave the trainer's device only the convolution and the addition.

    Returns ``None`` when the config adds shot noise, which depends on the blurred image and so cannot be drawn first.
    """
    if config.poisson_peak is not None:
        return None
    sigma = _draw(generator, *config.noise_sigma)
    return sigma, sigma * torch.randn(shape, generator=generator, device=generator.device)


def apply_predrawn(sharp: torch.Tensor, kernels: torch.Tensor, noise: torch.Tensor, clip: bool = True) -> torch.Tensor:
    """Blurs each image with its kernel and adds its noise, both drawn ahead (:func:`predraw_kernel`,
    :func:`predraw_noise`): the same result as :func:`degrade_batch` up to floating-point rounding, with no random
    draws and no host synchronisation on a GPU.

    Shape:
        sharp: (N, C, H, W); kernels: (N, k, k); noise: (N, C, H, W) -> (N, C, H, W)
    """
    y = blur(sharp, kernels.to(sharp.device, non_blocking=True)) + noise.to(sharp.device, non_blocking=True)
    return y.clamp(0, 1) if clip else y


def degrade_batch(
    sharp: torch.Tensor,
    config: DegradationConfig,
    generators: list[torch.Generator],
    kernels: list[tuple[torch.Tensor, dict[str, Any]]] | None = None,
) -> tuple[torch.Tensor, list[dict[str, Any]]]:
    """Degrades a batch on its own device, image ``i`` drawing everything from ``generators[i]``.

    Uniform blurs of the whole batch run as one grouped convolution (kernels zero-padded to a common size), so a GPU
    does the work in one call. Each image gets exactly what :func:`degrade_image` would give it with the same
    generator state, up to floating-point rounding. ``kernels``: what :func:`predraw_kernel` drew for each image,
    whose generator is then in the state that left it.

    Shape:
        sharp: (N, C, H, W) -> (N, C, H, W)
    """
    if len(generators) != sharp.shape[0]:
        raise ValueError(f"need one generator per image: {len(generators)} for a batch of {sharp.shape[0]}")
    if not batches(config):
        if kernels is not None:
            raise ValueError("kernels can be drawn ahead only for configs that degrade_batch batches")
        # Per-image paths: blends and JPEG do not batch.
        pairs = [degrade_image(img, config, g) for img, g in zip(sharp, generators, strict=True)]
        return torch.stack([p[0] for p in pairs]), [p[1] for p in pairs]
    drawn = kernels if kernels is not None else [predraw_kernel(config, g) for g in generators]
    if len(drawn) != len(generators):
        raise ValueError(f"need one kernel per image: {len(drawn)} for a batch of {len(generators)}")
    records: list[dict[str, Any]] = [{"kernels": [info]} for _, info in drawn]
    y = blur(sharp, pad_kernels([k for k, _ in drawn]).to(sharp.device))
    out = []
    for i, g in enumerate(generators):
        sigma = _draw(g, *config.noise_sigma)
        yi = y[i : i + 1]
        if config.poisson_peak is not None:
            peak = _draw(g, *config.poisson_peak)
            yi = add_poisson_gaussian_noise(yi, peak, sigma, g)
            records[i]["poisson_peak"] = peak
        else:
            yi = add_gaussian_noise(yi, sigma, g)
        records[i]["noise_sigma"] = sigma
        out.append(yi.clamp(0, 1) if config.clip else yi)
    return torch.cat(out), records


def kernel_margin(config: DegradationConfig) -> int:
    """Pixels a crop must extend on each side so that blurring it has no border effects inside."""
    sizes = [config.kernel_size]
    if config.kernel_types.get("gaussian", 0) > 0:
        sizes.append(2 * math.ceil(3 * config.gaussian_sigma[1]) + 1)
    if config.kernel_types.get("disk", 0) > 0:
        sizes.append(2 * math.ceil(config.disk_radius[1]) + 1)
    if config.kernel_types.get("file", 0) > 0:
        sizes.extend(load_kernel(Path(p)).shape[-1] for p in config.kernel_files)
    return max(sizes) // 2
