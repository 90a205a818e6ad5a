"""Blur kernels: random camera shake, linear motion, Gaussian, defocus disk, and measured kernels from files.

Every kernel is non-negative, sums to 1 and has its centroid on the centre pixel, so blurring does not shift the
image against its sharp counterpart, except camera-shake kernels asked for ``centre="middle"``: those put the camera's
position halfway through the exposure on the centre pixel, as GOPRO's pairs put their middle frame (the sharp image
then sits where the camera was at mid-exposure, not at the centroid of the blur). Random kernels take an explicit
``torch.Generator``.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

KERNEL_FILE_TYPES = (".png", ".npy", ".mat")


def _uniform(generator: torch.Generator, low: float, high: float) -> float:
    return low + (high - low) * float(torch.rand((), generator=generator))


def _check_size(size: int) -> None:
    if size < 3 or size % 2 == 0:
        raise ValueError(f"kernel size must be odd and >= 3, got {size}")


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
    speed0 = _uniform(generator, 0.5, 1.0)
    centripetal = 0.7 * _uniform(generator, 0.0, 1.0)
    gaussian = 10.0 * _uniform(generator, 0.0, 1.0)
    noise = torch.randn(steps, 2, generator=generator).tolist()
    impulses = (torch.rand(steps, generator=generator) < impulse_prob).tolist()
    impulse_dirs = torch.randn(steps, 2, generator=generator).tolist()
    # Plain floats: 256 steps of 2-vector arithmetic as tensor ops cost about 12 ms per kernel in a loader worker.
    vx, vy = math.cos(angle) * speed0, math.sin(angle) * speed0
    px = py = 0.0
    points = []
    for t in range(steps):
        kick = 2.0 * math.hypot(vx, vy) if impulses[t] else 0.0
        vx += anxiety * (gaussian * noise[t][0] - centripetal * px) + kick * impulse_dirs[t][0]
        vy += anxiety * (gaussian * noise[t][1] - centripetal * py) + kick * impulse_dirs[t][1]
        norm = max(math.hypot(vx, vy), 1e-8)
        vx, vy = vx / norm, vy / norm  # constant speed: exposure spread evenly
        px, py = px + vx / steps, py + vy / steps
        points.append((px, py))
    return torch.tensor(points, dtype=torch.float32)


def rasterize_trajectory(points: torch.Tensor, size: int, anchor: torch.Tensor | None = None) -> torch.Tensor:
    """Splats trajectory points into a ``size`` x ``size`` kernel, summing to 1, with ``anchor`` (an (x, y) point;
    default the points' mean) on the centre pixel.

    Bilinear splatting keeps the centroid of the points as the kernel's centroid, so with the default anchor the
    kernel is centred exactly: blurring then does not shift the image. Another anchor shifts the blurred image by
    the anchor's offset from the mean, so the anchor's position is where the sharp image sits. Points that fall
    outside the kernel are clamped to its border.

    Shape:
        (T, 2) -> (size, size)
    """
    centre = (size - 1) / 2
    p = points - (points.mean(dim=0) if anchor is None else anchor) + centre
    x0, y0 = p[:, 0].floor(), p[:, 1].floor()
    fx, fy = p[:, 0] - x0, p[:, 1] - y0
    kernel = torch.zeros(size * size)
    for dx, dy, w in ((0, 0, (1 - fx) * (1 - fy)), (1, 0, fx * (1 - fy)), (0, 1, (1 - fx) * fy), (1, 1, fx * fy)):
        xi, yi = (x0 + dx).long().clamp(0, size - 1), (y0 + dy).long().clamp(0, size - 1)
        kernel.index_add_(0, yi * size + xi, w)
    kernel = kernel.view(size, size)
    return kernel / kernel.sum()


SHAKE_CENTRES = ("centroid", "middle")


def camera_shake_kernel(
    generator: torch.Generator, size: int = 31, extent: tuple[float, float] = (0.3, 0.9), centre: str = "centroid"
) -> torch.Tensor:
    """A random camera-shake blur kernel (normalised).

    Args:
        generator: source of every random draw.
        size: kernel side in pixels (odd).
        extent: range of the trajectory's largest excursion from its centre, as a fraction of the half-size.
        centre: what lies on the centre pixel. ``centroid``: the blur's centroid, so the sharp image is where the
            blur is centred (no shift; the Kodak benchmark's kernels). ``middle``: the camera's position halfway
            through the exposure, as GOPRO pairs a blurred average with its middle frame: the sharp image is then
            offset from the blur's centroid, by 1.2 pixels on average (90th percentile 2.9) for 31x31 kernels of
            extent (0.15, 1.0) (docs/data.md, "Where the sharp image sits"). The same generator state draws the
            same trajectory and extent either way.

    Shape:
        returns (size, size), sums to 1.
    """
    _check_size(size)
    if centre not in SHAKE_CENTRES:
        raise ValueError(f"centre must be one of {', '.join(SHAKE_CENTRES)}, got {centre!r}")
    points = shake_trajectory(generator)
    half = len(points) // 2
    anchor = points.mean(dim=0) if centre == "centroid" else (points[half - 1] + points[half]) / 2
    points = points - anchor
    radius = points.norm(dim=1).max().clamp_min(1e-8)
    target = _uniform(generator, *extent) * (size // 2 - 1)
    points = points * (target / radius)
    return rasterize_trajectory(points, size, None if centre == "centroid" else torch.zeros(2))


def linear_motion_kernel(length: float, angle_deg: float, size: int | None = None) -> torch.Tensor:
    """Uniform straight-line motion of ``length`` pixels at ``angle_deg`` (counter-clockwise from +x), centred.

    Shape:
        returns (size, size); ``size`` defaults to the smallest odd size that holds the line.
    """
    if length < 0:
        raise ValueError(f"motion length must be >= 0, got {length}")
    size = size or max(3, 2 * math.ceil(length / 2) + 3)
    _check_size(size)
    n = max(2, math.ceil(length * 4) + 1)
    t = torch.linspace(-0.5, 0.5, n) * length
    a = math.radians(angle_deg)
    points = torch.stack([t * math.cos(a), -t * math.sin(a)], dim=1)  # image rows grow downwards
    return rasterize_trajectory(points, size)


def gaussian_kernel(sigma: float, size: int | None = None) -> torch.Tensor:
    """Isotropic Gaussian blur of standard deviation ``sigma`` pixels.

    Shape:
        returns (size, size); ``size`` defaults to 2 * ceil(3 sigma) + 1.
    """
    if sigma <= 0:
        raise ValueError(f"sigma must be > 0, got {sigma}")
    size = size or max(3, 2 * math.ceil(3 * sigma) + 1)
    _check_size(size)
    x = torch.arange(size, dtype=torch.float64) - (size - 1) / 2
    g = torch.exp(-(x**2) / (2 * sigma**2))
    k = torch.outer(g, g)
    return (k / k.sum()).float()


def disk_kernel(radius: float, size: int | None = None, supersample: int = 8) -> torch.Tensor:
    """Defocus blur: a uniform disk of ``radius`` pixels, anti-aliased by supersampling its edge.

    Shape:
        returns (size, size); ``size`` defaults to 2 * ceil(radius) + 1.
    """
    if radius <= 0:
        raise ValueError(f"radius must be > 0, got {radius}")
    size = size or max(3, 2 * math.ceil(radius) + 1)
    _check_size(size)
    fine = (torch.arange(size * supersample, dtype=torch.float64) + 0.5) / supersample - size / 2
    yy, xx = torch.meshgrid(fine, fine, indexing="ij")
    inside = (xx**2 + yy**2 <= radius**2).double()
    k = F.avg_pool2d(inside[None, None], supersample)[0, 0]
    return (k / k.sum()).float()


def centroid(kernel: torch.Tensor) -> tuple[float, float]:
    """(row, column) centroid of a 2-D kernel."""
    k = kernel.double()
    rows = torch.arange(k.shape[0], dtype=torch.float64)
    cols = torch.arange(k.shape[1], dtype=torch.float64)
    total = k.sum()
    return float((k.sum(1) * rows).sum() / total), float((k.sum(0) * cols).sum() / total)


def normalize_kernel(kernel: torch.Tensor | np.ndarray) -> torch.Tensor:
    """Makes any 2-D non-negative array a valid kernel: odd square size, sums to 1, centroid on the centre pixel.

    The kernel is padded to an odd square with room for the shift, moved by whole pixels, then by the remaining
    sub-pixel offset with a two-tap linear filter (which moves the centroid by exactly that offset and keeps the sum).

    Raises:
        ValueError: not 2-D, negative values, or zero sum.
    """
    k = torch.as_tensor(np.asarray(kernel, dtype=np.float64)).clone()
    if k.ndim != 2:
        raise ValueError(f"a kernel must be 2-D, got shape {tuple(k.shape)}")
    if not torch.isfinite(k).all():
        raise ValueError("kernel contains NaN or infinite values")
    if (k < 0).any():
        if k.min() < -1e-6 * k.abs().max():
            raise ValueError("kernel has negative values")
        k = k.clamp_min(0)
    if k.sum() <= 0:
        raise ValueError("kernel sums to zero")
    k = k / k.sum()
    cy, cx = centroid(k)
    h, w = k.shape
    # Room on every side for the shift that brings the centroid to the centre.
    half = math.ceil(max(cy, h - 1 - cy, cx, w - 1 - cx)) + 1
    size = 2 * half + 1
    out = torch.zeros(size, size, dtype=torch.float64)
    dy, dx = half - cy, half - cx
    iy, ix = math.floor(dy), math.floor(dx)
    fy, fx = dy - iy, dx - ix
    out[iy : iy + h, ix : ix + w] = k
    # Sub-pixel shift by (fy, fx): value moves a fraction f to the next pixel.
    out = (1 - fy) * out + fy * torch.roll(out, 1, 0)
    out = (1 - fx) * out + fx * torch.roll(out, 1, 1)
    nz = torch.nonzero(out > 1e-12)
    # Crop symmetric margins of zeros so the kernel is no larger than needed.
    margin = int(min(nz.min(), size - 1 - nz.max()))
    if margin > 0:
        out = out[margin:-margin, margin:-margin]
    return (out / out.sum()).float()


def load_kernel(path: str | Path, variable: str | None = None) -> torch.Tensor:
    """Reads a measured blur kernel from PNG (grayscale or RGB, averaged), NPY, or MATLAB .mat (v5 or v7.3/HDF5).

    For .mat files ``variable`` names the array; by default the only 2-D numeric array in the file is used.
    The result is normalised and centred by :func:`normalize_kernel`.

    Raises:
        ValueError: naming the file, when it is not a readable 2-D non-negative kernel.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    try:
        if suffix == ".png":
            from PIL import Image

            with Image.open(path) as img:
                a = np.asarray(img.convert("F") if img.mode not in {"I;16", "I"} else img, dtype=np.float64)
        elif suffix == ".npy":
            a = np.load(path, allow_pickle=False)
        elif suffix == ".mat":
            a = _load_mat(path, variable)
        else:
            raise ValueError(f"unsupported kernel file type {suffix!r}; use one of {', '.join(KERNEL_FILE_TYPES)}")
        a = np.squeeze(np.asarray(a, dtype=np.float64))
        return normalize_kernel(a)
    except FileNotFoundError:
        raise ValueError(f"{path}: no such kernel file") from None
    except (ValueError, OSError, KeyError, TypeError) as e:
        raise ValueError(f"{path}: not a usable blur kernel ({e})") from None


def _load_mat(path: Path, variable: str | None) -> np.ndarray:
    with open(path, "rb") as f:
        header = f.read(128)
    # v7.3 files are HDF5 behind a 512-byte MATLAB text header; v5 files start with "MATLAB 5.0".
    if b"MATLAB 7.3" in header or header.startswith(b"\x89HDF"):
        import h5py

        with h5py.File(path, "r") as h5:
            names = [k for k in h5 if isinstance(h5[k], h5py.Dataset) and h5[k].ndim == 2 and not k.startswith("#")]
            name = _pick_variable(names, variable)
            # MATLAB v7.3 stores arrays column-major: transpose back to rows x columns.
            return np.asarray(h5[name][()], dtype=np.float64).T
    from scipy.io import loadmat

    data = loadmat(path)
    names = [k for k, v in data.items() if not k.startswith("__") and isinstance(v, np.ndarray) and v.ndim == 2]
    return np.asarray(data[_pick_variable(names, variable)], dtype=np.float64)


def _pick_variable(names: list[str], variable: str | None) -> str:
    if variable is not None:
        if variable not in names:
            raise KeyError(f"no 2-D variable {variable!r} (found: {', '.join(names) or 'none'})")
        return variable
    if len(names) != 1:
        raise KeyError(f"expected one 2-D variable, found {len(names)} ({', '.join(names)}); name one")
    return names[0]
