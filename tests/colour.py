"""Ink models for the CMYK profiles tests make (idc.fuzzcases.cmyk_profile): no CMYK profile ships with Pillow or
the system, and tests must not download one."""

from __future__ import annotations

import numpy as np

from idc.fuzzcases import cmyk_profile

__all__ = ["cmyk_profile", "swapped_inks", "swapped_separation"]


def swapped_inks(cmyk: np.ndarray) -> np.ndarray:
    """Inks unlike any real ones, so a plain conversion cannot pass for the profile's: cyan ink takes away green and
    magenta ink red (the other way round in real printing), multiplied by what black leaves."""
    c, m, y, k = cmyk.T
    return np.stack([1 - m, 1 - c, 1 - y], -1) * (1 - k)[:, None]


def swapped_separation(rgb: np.ndarray) -> np.ndarray:
    """The inks that print ``rgb`` (N, 3) under :func:`swapped_inks`: as much black as the lightest channel allows,
    then magenta for red, cyan for green and yellow for blue."""
    k = 1 - rgb.max(axis=-1)
    paper = np.maximum(1 - k, 1e-6)[:, None]
    r, g, b = (1 - rgb / paper).T
    return np.stack([g, r, b, k], -1) * (k < 1)[:, None] + np.array([0, 0, 0, 1]) * (k >= 1)[:, None]
