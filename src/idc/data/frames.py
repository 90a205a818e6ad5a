"""GOPRO-style blur from video: average consecutive sharp frames in linear light, keep the centre frame as truth.

Nah et al. (2017) made GOPRO_Large this way from 240 fps footage: undo the camera response (approximately gamma 2.2),
average 7 to 13 frames, re-apply the response.
"""

from __future__ import annotations

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


def average_frames(
    frames: torch.Tensor, response: str = "gamma", gamma: float = 2.2
) -> tuple[torch.Tensor, torch.Tensor]:
    """Averages frames in linear light; returns (blurred, sharp centre frame).

    Shape:
        frames: (N, C, H, W) in [0, 1], N odd -> ((C, H, W), (C, H, W))
    """
    n = frames.shape[0]
    if n < 1 or n % 2 == 0:
        raise ValueError(f"need an odd number of frames (one centre frame), got {n}")
    blurred = from_linear(to_linear(frames, response, gamma).mean(0), response, gamma)
    return blurred, frames[n // 2]


def list_frames(folder: str | Path) -> list[Path]:
    """The image files of a frame folder, in name order (frame numbers must sort as names do)."""
    folder = Path(folder)
    frames = list_images(folder)
    if not frames:
        raise ValueError(f"{folder}: no frames found")
    return frames


def average_window(
    paths: list[Path], start: int, count: int, response: str = "gamma", gamma: float = 2.2
) -> tuple[torch.Tensor, torch.Tensor]:
    """Reads ``count`` consecutive frames from ``start`` and averages them (see :func:`average_frames`).

    Raises:
        ValueError: the window does not fit, or frames differ in size (naming the file).
    """
    if start < 0 or start + count > len(paths):
        raise ValueError(f"frames {start}..{start + count - 1} are outside the {len(paths)} frames available")
    frames: list[torch.Tensor] = []
    for p in paths[start : start + count]:
        img = read_image(p).rgb
        if frames and img.shape != frames[0].shape:
            size, first = tuple(img.shape[1:]), tuple(frames[0].shape[1:])
            raise ValueError(f"{p}: size {size} differs from {paths[start]} {first}")
        frames.append(img)
    return average_frames(torch.stack(frames), response, gamma)
