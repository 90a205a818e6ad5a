"""Camera raw files made by the tests: DNGs of a known scene, which LibRaw develops like a camera's.

No raw file ships with the project or its dependencies, so :func:`write_dng` makes one: the scene's linear RGB
sampled through an RGGB colour filter array at 12 bits, with the tags a DNG reader needs. The camera's colour space
is linear sRGB itself (its colour matrix is the XYZ to linear sRGB matrix, its neutral 1, 1, 1), so a development
into sRGB with the camera's white balance and the exposure as shot must give the scene's sRGB values back, up to
demosaicing at edges.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import tifffile

WHITE = 4095  # 12-bit sensor: its white level
# XYZ (D65) to linear sRGB: what a DNG's ColorMatrix1 holds for a camera whose raw colours are linear sRGB.
XYZ_TO_SRGB = ((3.2406, -1.5372, -0.4986), (-0.9689, 1.8758, 0.0415), (0.0557, -0.2040, 1.0570))


def srgb_encode(linear: np.ndarray) -> np.ndarray:
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


def write_dng(
    path: Path,
    scene: np.ndarray,
    orientation: int = 1,
    make: str = "IDC",
    model: str = "Test Camera",
    xmp: bytes | None = None,
) -> None:
    """Writes ``scene`` ((H, W, 3) linear RGB in [0, 1], H and W even) as a 12-bit RGGB DNG with camera ``make``
    and ``model``, an EXIF ``orientation`` (1 to 8) and an optional XMP packet, in its first IFD as cameras write."""
    mosaic = np.empty(scene.shape[:2])
    for dy, dx, channel in ((0, 0, 0), (0, 1, 1), (1, 0, 1), (1, 1, 2)):  # R G / G B
        mosaic[dy::2, dx::2] = scene[dy::2, dx::2, channel]
    data = np.round(np.clip(mosaic, 0, 1) * WHITE).astype(np.uint16)
    matrix = [v for row in XYZ_TO_SRGB for x in row for v in (round(x * 10000), 10000)]
    tags = [
        (33421, "H", 2, (2, 2), True),  # CFARepeatPatternDim
        (33422, "B", 4, (0, 1, 1, 2), True),  # CFAPattern: R G G B
        (50706, "B", 4, (1, 4, 0, 0), True),  # DNGVersion
        (50707, "B", 4, (1, 1, 0, 0), True),  # DNGBackwardVersion
        (50708, "s", 0, f"{make} {model}", True),  # UniqueCameraModel
        (50717, "I", 1, WHITE, True),  # WhiteLevel
        (50721, "2i", 9, tuple(matrix), True),  # ColorMatrix1
        (50778, "H", 1, 21, True),  # CalibrationIlluminant1: D65
        (50728, "2I", 3, (1, 1, 1, 1, 1, 1), True),  # AsShotNeutral
        (271, "s", 0, make, True),
        (272, "s", 0, model, True),
        (274, "H", 1, orientation, True),
        (306, "s", 0, "2026:11:28 12:00:00", True),
    ]
    if xmp is not None:
        tags.append((700, "B", len(xmp), xmp, True))
    path.parent.mkdir(parents=True, exist_ok=True)
    tifffile.imwrite(path, data, photometric=32803, extratags=tags, subfiletype=0, metadata=None, software=False)
