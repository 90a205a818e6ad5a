"""ICC profiles written from a few numbers: the colour space of a PNG that gives it by its gAMA and cHRM chunks, or
of a camera JPEG that names Adobe RGB in its EXIF, instead of an embedded profile, so that it can be carried into any
output format as a profile."""

from __future__ import annotations

import struct

import numpy as np

# The ICC profile connection space's white (D50) and the Bradford cone response, which adapts other whites to it.
D50_XYZ = (0.9642, 1.0, 0.8249)
_BRADFORD = np.array([[0.8951, 0.2664, -0.1614], [-0.7502, 1.7135, 0.0367], [0.0389, -0.0685, 1.0296]])
# sRGB's (BT.709's) chromaticities: white x, y, then red, green and blue, as PNG's cHRM orders them.
SRGB_CHROMATICITY = (0.3127, 0.3290, 0.64, 0.33, 0.30, 0.60, 0.15, 0.06)
# Adobe RGB (1998): its chromaticities and its one power curve, 2 + 51/256 (Adobe's specification, section 4.3).
ADOBE_RGB_CHROMATICITY = (0.3127, 0.3290, 0.64, 0.33, 0.21, 0.71, 0.15, 0.06)
ADOBE_RGB_GAMMA = 563 / 256


def s15_fixed16(values: tuple[float, ...] | list[float] | np.ndarray) -> bytes:
    """ICC's signed 15.16 fixed-point numbers."""
    return b"".join(struct.pack(">i", round(float(v) * 65536)) for v in values)


def xyz_tag(xyz: tuple[float, ...] | np.ndarray) -> bytes:
    return b"XYZ " + bytes(4) + s15_fixed16(xyz)


def text_description_tag(text: str) -> bytes:
    """An ICC v2 ``desc`` tag: the ASCII text, then empty Unicode and ScriptCode parts."""
    ascii_text = text.encode("ascii", "replace") + b"\0"
    return b"desc" + bytes(4) + struct.pack(">I", len(ascii_text)) + ascii_text + bytes(8) + bytes(3) + bytes(67)


def text_tag(text: str) -> bytes:
    return b"text" + bytes(4) + text.encode("ascii", "replace") + b"\0"


def gamma_curve_tag(gamma: float) -> bytes:
    """A ``curv`` tag of one exponent: value = encoded ** gamma (u8Fixed8)."""
    return b"curv" + bytes(4) + struct.pack(">IH", 1, round(gamma * 256))


def assemble(device_class: bytes, colour_space: bytes, pcs: bytes, tags: list[tuple[bytes, bytes]]) -> bytes:
    """An ICC v2.1 profile: the 128-byte header, the tag table and the tags (each 4-byte aligned).

    Args:
        device_class: ``b"mntr"`` (display), ``b"prtr"`` (printer), ``b"scnr"`` (input) ...
        colour_space: the data's colour space, ``b"RGB "``, ``b"GRAY"`` or ``b"CMYK"``.
        pcs: the profile connection space, ``b"XYZ "`` or ``b"Lab "``.
        tags: (signature, body) pairs.
    """
    table, data = b"", b""
    first = 128 + 4 + 12 * len(tags)
    for signature, body in tags:
        body += bytes(-len(body) % 4)
        table += signature + struct.pack(">II", first + len(data), len(body))
        data += body
    header = bytearray(128)
    header[8:12] = bytes([2, 0x10, 0, 0])
    header[12:24] = device_class + colour_space + pcs
    header[24:36] = struct.pack(">6H", 2026, 1, 1, 0, 0, 0)
    header[36:40] = b"acsp"
    header[68:80] = s15_fixed16(D50_XYZ)
    profile = bytes(header) + struct.pack(">I", len(tags)) + table + data
    return struct.pack(">I", len(profile)) + profile[4:]


def _xy_to_xyz(x: float, y: float) -> np.ndarray:
    return np.array([x / y, 1.0, (1.0 - x - y) / y])


def rgb_to_xyz_d50(chromaticity: tuple[float, ...]) -> np.ndarray:
    """The 3x3 matrix from linear RGB of these chromaticities (white, red, green, blue: x, y each) to XYZ, white
    mapped to Y = 1 and adapted to D50 by Bradford (as ICC matrix profiles hold it).

    Raises:
        ValueError: chromaticities that give no colour space (a y of 0, primaries on one line).
    """
    c = [float(v) for v in chromaticity]
    # x + y = 1 (z = 0) is allowed: the primaries of Display P3 and ProPhoto RGB (red) lie on that line.
    if len(c) != 8 or not all(0.0 < v < 1.0 for v in c) or any(c[i] + c[i + 1] > 1.0 + 1e-9 for i in range(0, 8, 2)):
        raise ValueError(f"chromaticities out of range: {chromaticity}")
    white = _xy_to_xyz(c[0], c[1])
    primaries = np.stack([_xy_to_xyz(c[i], c[i + 1]) for i in (2, 4, 6)], axis=1)
    if abs(np.linalg.det(primaries)) < 1e-6:
        raise ValueError(f"primaries on one line: {chromaticity}")
    matrix = primaries * np.linalg.solve(primaries, white)  # each primary scaled so that they add up to the white
    cone_gain = (_BRADFORD @ np.array(D50_XYZ)) / (_BRADFORD @ white)
    return np.linalg.inv(_BRADFORD) @ np.diag(cone_gain) @ _BRADFORD @ matrix


def png_profile(gamma: float | None, chromaticity: tuple[float, ...] | None, grayscale: bool) -> bytes | None:
    """The ICC profile that says what a PNG's gAMA and cHRM chunks say, or None where they say sRGB.

    Args:
        gamma: the gAMA chunk's value (the encoding exponent: 0.45455 for a display gamma of 2.2), or None.
        chromaticity: the cHRM chunk's white, red, green and blue x, y (8 numbers), or None (sRGB's).
        grayscale: a gray image (a gray profile: the curve only).

    A gamma near 1/2.2 with sRGB's chromaticities (or none) is sRGB as viewers show it: None. With no gAMA, the
    curve is 2.2 (the PNG specification's advice for a decoder). Chunks that describe no colour space (a gamma of
    0, chromaticities out of range) give None too: the image is then taken as sRGB, as most viewers take it.
    """
    if gamma is None and chromaticity is None:
        return None
    display_gamma = 2.2 if gamma is None else 1.0 / gamma if gamma > 0 else 0.0
    if not 0.2 <= display_gamma <= 8.0:
        return None
    near_srgb_gamma = abs(display_gamma - 2.2) < 0.05
    chromaticity = SRGB_CHROMATICITY if chromaticity is None or grayscale else tuple(chromaticity)
    near_srgb_colours = max(abs(a - b) for a, b in zip(chromaticity, SRGB_CHROMATICITY, strict=True)) < 0.005
    if near_srgb_gamma and near_srgb_colours:
        return None
    try:
        matrix = rgb_to_xyz_d50(chromaticity)
    except ValueError:
        return None
    name = f"PNG gAMA {1 / display_gamma:.5f}" + (
        "" if grayscale else " cHRM " + " ".join(f"{v:.4f}" for v in chromaticity)
    )
    if not grayscale:
        return matrix_profile(name, display_gamma, matrix)
    tags = [(b"desc", text_description_tag(name)), (b"cprt", text_tag("No copyright")), (b"wtpt", xyz_tag(D50_XYZ))]
    return assemble(b"mntr", b"GRAY", b"XYZ ", [*tags, (b"kTRC", gamma_curve_tag(display_gamma))])


def matrix_profile(description: str, gamma: float, matrix: np.ndarray) -> bytes:
    """An ICC v2 RGB display profile of one power curve (value = encoded ** gamma) and a matrix to XYZ (D50), as
    :func:`rgb_to_xyz_d50` gives it."""
    curve = gamma_curve_tag(gamma)
    tags = [
        (b"desc", text_description_tag(description)),
        (b"cprt", text_tag("No copyright")),
        (b"wtpt", xyz_tag(D50_XYZ)),
    ]
    columns = [(sig, xyz_tag(matrix[:, i])) for i, sig in enumerate((b"rXYZ", b"gXYZ", b"bXYZ"))]
    return assemble(b"mntr", b"RGB ", b"XYZ ", [*tags, *columns, (b"rTRC", curve), (b"gTRC", curve), (b"bTRC", curve)])


def adobe_rgb_profile() -> bytes:
    """Adobe RGB (1998) as an ICC profile: for a camera's JPEG that says it is Adobe RGB in its EXIF only (DCF's way),
    so that every output format carries it."""
    return matrix_profile("Adobe RGB (1998), as the EXIF says", ADOBE_RGB_GAMMA, rgb_to_xyz_d50(ADOBE_RGB_CHROMATICITY))
