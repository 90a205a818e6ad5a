"""GOPRO-style blur from video: average consecutive sharp frames in linear light, keep the centre frame as truth.

Nah et al. (2017) made GOPRO_Large this way from 240 fps footage: undo the camera response (approximately gamma 2.2),
average 7 to 13 frames, re-apply the response.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from pathlib import Path

import torch

from idc.io import list_images, read_image

RESPONSES = ("gamma", "srgb")


def to_linear(x: torch.Tensor, response: str = "gamma", gamma: float = 2.2) -> torch.Tensor:
    """Inverse camera response: display values in [0, 1] to linear light."""
    x = x.clamp(0, 1)
    if response == "gamma":
        return x.pow(gamma)
    if response == "srgb":
        return torch.where(x <= 0.04045, x / 12.92, ((x + 0.055) / 1.055).pow(2.4))
    raise ValueError(f"unknown camera response {response!r}; use one of {RESPONSES}")


def from_linear(x: torch.Tensor, response: str = "gamma", gamma: float = 2.2) -> torch.Tensor:
    """Camera response: linear light in [0, 1] to display values."""
    x = x.clamp(0, 1)
    if response == "gamma":
        return x.pow(1 / gamma)
    if response == "srgb":
        return torch.where(x <= 0.0031308, 12.92 * x, 1.055 * x.pow(1 / 2.4) - 0.055)
    raise ValueError(f"unknown camera response {response!r}; use one of {RESPONSES}")


@functools.lru_cache(maxsize=8)
def _linear_table(bits: int, response: str, gamma: float) -> torch.Tensor:
    """:func:`to_linear` of every code value of ``bits``-bit images, as read_image scales them to [0, 1]."""
    return to_linear(torch.arange(2**bits, dtype=torch.float32) / (2**bits - 1), response, gamma)


def code_bits(frames: torch.Tensor) -> int:
    """8 for uint8 frames, 16 for integer frames of wider types (16-bit images held as int32)."""
    return 8 if frames.dtype == torch.uint8 else 16


def read_frame_codes(path: str | Path) -> torch.Tensor:
    """Reads a frame as its integer code values: uint8 for 8-bit images, int32 for 16-bit ones.

    A quarter of the memory of float frames, and :func:`average_frames` turns code values into linear light by table
    lookup; ``codes / 255`` (or ``/ 65535``) is exactly what :func:`idc.io.read_image` returns.

    Shape:
        returns (C, H, W)
    """
    image = read_image(path)
    peak = 255 if image.bit_depth == 8 else 65535
    return (image.rgb * peak).round().to(torch.uint8 if image.bit_depth == 8 else torch.int32)


def average_frames(
    frames: torch.Tensor, response: str = "gamma", gamma: float = 2.2
) -> tuple[torch.Tensor, torch.Tensor]:
    """Averages frames in linear light; returns (blurred, sharp centre frame), float32 in [0, 1].

    Frames are floats in [0, 1] or integer code values (:func:`read_frame_codes`), which are linearised through a
    lookup table: the same values as ``to_linear`` of the floats, several times faster.

    Shape:
        frames: (N, C, H, W), N odd -> ((C, H, W), (C, H, W))
    """
    n = frames.shape[0]
    if n < 1 or n % 2 == 0:
        raise ValueError(f"need an odd number of frames (one centre frame), got {n}")
    if frames.is_floating_point():
        linear, sharp = to_linear(frames, response, gamma), frames[n // 2]
    else:
        bits = code_bits(frames)
        linear = _linear_table(bits, response, gamma)[frames.long()]
        sharp = frames[n // 2].to(torch.float32) / (2**bits - 1)
    return from_linear(linear.mean(0), response, gamma), sharp


def check_windows(frame_counts: Sequence[int], frame_strides: Sequence[int] = (1,)) -> None:
    """Refuses frame counts that are not odd (no centre frame) and strides below 1.

    Raises:
        ValueError: saying which.
    """
    if any(n < 1 or n % 2 == 0 for n in frame_counts):
        raise ValueError(f"frame counts must be odd, got {list(frame_counts)}")
    if not frame_strides or min(frame_strides) < 1:
        raise ValueError(f"frame strides must be at least 1, got {list(frame_strides)}")


def list_frames(folder: str | Path) -> list[Path]:
    """The image files of a frame folder, in name order (frame numbers must sort as names do)."""
    folder = Path(folder)
    frames = list_images(folder)
    if not frames:
        raise ValueError(f"{folder}: no frames found")
    return frames


def average_window(
    paths: list[Path],
    start: int,
    count: int,
    response: str = "gamma",
    gamma: float = 2.2,
    region: Callable[[int, int], tuple[slice, slice] | None] | None = None,
    read: Callable[[Path], torch.Tensor] | None = None,
    stride: int = 1,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Reads ``count`` frames from ``start``, every ``stride``-th (1: consecutive), and averages them (see
    :func:`average_frames`). A stride of 2 or 3 stands for motion 2 or 3 times as fast: the same exposure covers
    that much more movement, so the blur is that much longer (with the small gaps of sampling 240 fps at 120 or 80).

    ``region(height, width)``, called once with the first frame's size, may return the (rows, cols) slices to keep:
    every frame is cut to them as it is read, before the per-pixel averaging, so the result equals cropping the
    full average while linearising and averaging a fraction of the pixels (training crops 256x256 out of 1280x720).
    ``read(path)`` replaces ``read_image(path).rgb`` (a caching reader, say; it may return integer code values, see
    :func:`read_frame_codes`).

    Raises:
        ValueError: the window does not fit, or frames differ in size (naming the file).
    """
    last = start + (count - 1) * stride
    if stride < 1:
        raise ValueError(f"stride must be at least 1, got {stride}")
    if start < 0 or last >= len(paths):
        raise ValueError(f"frames {start}..{last} are outside the {len(paths)} frames available")
    frames: list[torch.Tensor] = []
    first_shape: tuple[int, ...] = ()
    keep: tuple[slice, slice] | None = None
    for p in paths[start : last + 1 : stride]:
        img = read(p) if read is not None else read_image(p).rgb
        if not frames:
            first_shape = tuple(img.shape)
            keep = region(img.shape[1], img.shape[2]) if region is not None else None
        elif tuple(img.shape) != first_shape:
            raise ValueError(f"{p}: size {tuple(img.shape[1:])} differs from {paths[start]} {first_shape[1:]}")
        frames.append(img[:, keep[0], keep[1]] if keep is not None else img)
    return average_frames(torch.stack(frames), response, gamma)
