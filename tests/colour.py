"""Colour profiles made for tests: no CMYK profile ships with Pillow or the system, and tests must not download one."""

from __future__ import annotations

import struct
from collections.abc import Callable

import numpy as np
from PIL import Image, ImageCms

from idc.icc import D50_XYZ, assemble, s15_fixed16, text_description_tag, text_tag, xyz_tag


def _lut16(inputs: int, outputs: int, grid: int, table: np.ndarray) -> bytes:
    """An ICC v2 ``mft2`` lookup table: identity curves around a CLUT of ``grid`` points per input (first input
    slowest), ``table`` (grid**inputs, outputs) in 0..65535."""
    ramp = np.array([0, 65535], ">u2").tobytes()  # identity input and output curves of 2 entries
    identity = s15_fixed16([1, 0, 0, 0, 1, 0, 0, 0, 1])
    lut = b"mft2" + bytes(4) + bytes([inputs, outputs, grid, 0]) + identity + struct.pack(">HH", 2, 2) + ramp * inputs
    return lut + np.clip(np.round(table), 0, 65535).astype(">u2").tobytes() + ramp * outputs


def cmyk_profile(
    inks: Callable[[np.ndarray], np.ndarray],
    grid: int = 3,
    description: str = "test CMYK",
    separate: Callable[[np.ndarray], np.ndarray] | None = None,
) -> bytes:
    """An ICC v2 CMYK printer profile whose inks print as ``inks`` says.

    Args:
        inks: maps (N, 4) CMYK amounts in [0, 1] to the (N, 3) sRGB colours in [0, 1] they print as.
        grid: points per ink of the profile's lookup table (lut16 A2B0, to Lab; LittleCMS finds the Lab colours).
        description: the profile's name.
        separate: maps (N, 3) sRGB colours in [0, 1] to the (N, 4) CMYK amounts that print them (the inverse of
            ``inks``), for a B2A0 table (17 points per Lab axis) through which colours can be separated into inks;
            without it the profile only tells how inks look, as an input-only profile.
    """
    axis = np.linspace(0.0, 1.0, grid)
    cmyk = np.stack(np.meshgrid(axis, axis, axis, axis, indexing="ij"), -1).reshape(-1, 4)  # first ink slowest
    rgb = np.round(np.clip(inks(cmyk), 0, 1) * 255).astype(np.uint8)
    srgb, lab = ImageCms.createProfile("sRGB"), ImageCms.createProfile("LAB", 5000)
    lab8 = np.asarray(ImageCms.buildTransform(srgb, lab, "RGB", "LAB").apply(Image.fromarray(rgb[None])))[0]
    # ICC v2 16-bit Lab: L 0..100 as 0..0xFF00; a and b -128..127.996 as 0..0xFFFF, 0 at 0x8000. Pillow's 8-bit Lab:
    # L in 0..255; a and b as signed bytes.
    lab16 = np.concatenate(
        [lab8[:, :1] / 255 * 0xFF00, (lab8[:, 1:].view(np.int8).astype(np.float64) + 128) * 256], axis=-1
    )
    tags = [
        (b"desc", text_description_tag(description)),
        (b"cprt", text_tag("No copyright, made for tests")),
        (b"wtpt", xyz_tag(D50_XYZ)),
        (b"A2B0", _lut16(4, 3, grid, lab16)),
    ]
    if separate is not None:
        points = 17
        encoded = np.stack(np.meshgrid(*[np.linspace(0, 65535, points)] * 3, indexing="ij"), -1).reshape(-1, 3)
        lab_points = np.concatenate(
            [np.clip(encoded[:, :1] / 0xFF00 * 255, 0, 255), np.clip(encoded[:, 1:] / 256 - 128, -128, 127) % 256],
            axis=-1,
        )
        lab_image = Image.frombytes("LAB", (len(lab_points), 1), np.round(lab_points).astype(np.uint8).tobytes())
        colours = np.asarray(ImageCms.buildTransform(lab, srgb, "LAB", "RGB").apply(lab_image))[0] / 255.0
        tags.append((b"B2A0", _lut16(3, 4, points, np.clip(separate(colours), 0, 1) * 65535)))
    return assemble(b"prtr", b"CMYK", b"Lab ", tags)


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
