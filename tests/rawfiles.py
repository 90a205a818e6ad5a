"""Camera raw files made by the tests: DNGs of a known scene, which LibRaw develops like a camera's.

No raw file ships with the project or its dependencies, so :func:`write_dng` makes one (:func:`idc.fuzzcases.dng_file`):
the scene's linear RGB sampled through an RGGB colour filter array at 12 bits, by a camera whose colour space is linear
sRGB itself, so a development into sRGB with the camera's white balance and the exposure as shot must give the scene's
sRGB values back, up to demosaicing at edges.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from idc.fuzzcases import dng_file


def srgb_encode(linear: np.ndarray | float) -> np.ndarray:
    """The sRGB tone curve (IEC 61966-2-1) of linear values in [0, 1]."""
    linear = np.asarray(linear, dtype=np.float64)
    return np.where(linear <= 0.0031308, 12.92 * linear, 1.055 * np.power(linear, 1 / 2.4) - 0.055)


def patches(height: int = 64, width: int = 96) -> np.ndarray:
    """A (H, W, 3) linear scene: red, gray (18 %), blue and white areas, and a sensor-white strip (value 1), so the
    white level is reached and LibRaw keeps it (it lowers the white level to the data's maximum otherwise)."""
    scene = np.full((height, width, 3), 0.18)
    scene[:, : width // 3] = (0.6, 0.1, 0.1)
    scene[:, 2 * width // 3 :] = (0.1, 0.1, 0.6)
    scene[: height // 2, width // 3 : 2 * width // 3] = 0.9
    scene[:2] = 1.0
    return scene


def write_dng(path: Path, scene: np.ndarray, **options: Any) -> None:
    """Writes :func:`idc.fuzzcases.dng_file` of ``scene`` (with its keyword ``options``: orientation, make, model,
    xmp, extra_tags) to ``path``, its folder made if needed."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(dng_file(scene, **options))
