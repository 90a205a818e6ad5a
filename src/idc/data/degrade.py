"""Degradation model y = k * x + w: seeded camera-shake kernels, blurring, additive noise.

Every random draw takes an explicit ``torch.Generator`` so any sample can be reproduced from its seed.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F


def _uniform(generator: torch.Generator, low: float, high: float) -> float:
    return low + (high - low) * float(torch.rand((), generator=generator))


def shake_trajectory(
    generator: torch.Generator, steps: int = 256, anxiety: float = 0.005, impulse_prob: float = 0.01
) -> torch.Tensor:
    """A random 2-D camera trajectory in the style of Boracchi and Foi (2012), as used by DeblurGAN.

    The camera moves with inertia: its velocity gets small Gaussian perturbations, a pull back towards the start
    (centripetal term) and, rarely, an impulsive shake. The trajectory is returned unscaled.

    Returns:
        (steps, 2) tensor of (x, y) positions.
    """
    angle = _uniform(generator, 0.0, 2 * math.pi)
    velocity = torch.tensor([math.cos(angle), math.sin(angle)]) * _uniform(generator, 0.5, 1.0)
    centripetal = 0.7 * _uniform(generator, 0.0, 1.0)
    gaussian = 10.0 * _uniform(generator, 0.0, 1.0)
    noise = torch.randn(steps, 2, generator=generator)
    impulses = (torch.rand(steps, generator=generator) < impulse_prob).float()
    impulse_dirs = torch.randn(steps, 2, generator=generator)
    position = torch.zeros(2)
    points = []
    for t in range(steps):
        shake = impulses[t] * 2.0 * impulse_dirs[t] * velocity.norm()
        velocity = velocity + anxiety * (gaussian * noise[t] - centripetal * position) + shake
        velocity = velocity / velocity.norm().clamp_min(1e-8)  # constant speed: exposure spread evenly
        position = position + velocity / steps
        points.append(position.clone())
    return torch.stack(points)


def rasterize_trajectory(points: torch.Tensor, size: int) -> torch.Tensor:
    """Splats trajectory points into a ``size`` x ``size`` kernel, centred on its centroid, summing to 1.

    Bilinear splatting keeps the centroid of the points as the kernel's centroid, so subtracting the points' mean
    centres the kernel exactly: blurring then does not shift the image.

    Shape:
        (T, 2) -> (size, size)
    """
    centre = (size - 1) / 2
    p = points - points.mean(dim=0) + centre
    x0, y0 = p[:, 0].floor(), p[:, 1].floor()
    fx, fy = p[:, 0] - x0, p[:, 1] - y0
    kernel = torch.zeros(size * size)
    for dx, dy, w in ((0, 0, (1 - fx) * (1 - fy)), (1, 0, fx * (1 - fy)), (0, 1, (1 - fx) * fy), (1, 1, fx * fy)):
        xi, yi = (x0 + dx).long().clamp(0, size - 1), (y0 + dy).long().clamp(0, size - 1)
        kernel.index_add_(0, yi * size + xi, w)
    kernel = kernel.view(size, size)
    return kernel / kernel.sum()


def camera_shake_kernel(
    generator: torch.Generator, size: int = 31, extent: tuple[float, float] = (0.3, 0.9)
) -> torch.Tensor:
    """A random camera-shake blur kernel (normalised, centred).

    Args:
        generator: source of every random draw.
        size: kernel side in pixels (odd).
        extent: range of the trajectory's largest excursion from the centroid, as a fraction of the half-size.

    Shape:
        returns (size, size), sums to 1.
    """
    if size < 3 or size % 2 == 0:
        raise ValueError(f"kernel size must be odd and >= 3, got {size}")
    points = shake_trajectory(generator)
    points = points - points.mean(dim=0)
    radius = points.norm(dim=1).max().clamp_min(1e-8)
    target = _uniform(generator, *extent) * (size // 2 - 1)
    return rasterize_trajectory(points * (target / radius), size)


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


def add_gaussian_noise(image: torch.Tensor, sigma: float, generator: torch.Generator) -> torch.Tensor:
    """Adds white Gaussian noise of standard deviation ``sigma`` (image scale [0, 1]); does not clip.

    Shape:
        (N, C, H, W) -> (N, C, H, W)
    """
    noise = torch.randn(image.shape, generator=generator, dtype=image.dtype, device=generator.device)
    return image + sigma * noise.to(image.device)
