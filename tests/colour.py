"""Colour profiles made for tests: no CMYK profile ships with Pillow or the system, and tests must not download one."""

from __future__ import annotations

import struct
from collections.abc import Callable

import numpy as np
from PIL import Image, ImageCms

from idc.icc import D50_XYZ, assemble, s15_fixed16, text_description_tag, text_tag, xyz_tag


def cmyk_profile(inks: Callable[[np.ndarray], np.ndarray], grid: int = 3, description: str = "test CMYK") -> bytes:
    """An ICC v2 CMYK printer profile whose inks print as ``inks`` says.

    Args:
        inks: maps (N, 4) CMYK amounts in [0, 1] to the (N, 3) sRGB colours in [0, 1] they print as.
        grid: points per ink of the profile's lookup table (lut16 A2B0, to Lab; LittleCMS finds the Lab colours).
        description: the profile's name.
    """
    axis = np.linspace(0.0, 1.0, grid)
    cmyk = np.stack(np.meshgrid(axis, axis, axis, axis, indexing="ij"), -1).reshape(-1, 4)  # first ink slowest
    rgb = np.round(np.clip(inks(cmyk), 0, 1) * 255).astype(np.uint8)
    to_lab = ImageCms.buildTransform(ImageCms.createProfile("sRGB"), ImageCms.createProfile("LAB", 5000), "RGB", "LAB")
    lab8 = np.asarray(to_lab.apply(Image.fromarray(rgb[None])))[0]  # L in 0..255; a and b as signed bytes
    # ICC v2 16-bit Lab: L 0..100 as 0..0xFF00; a and b -128..127.996 as 0..0xFFFF, 0 at 0x8000.
    lab16 = np.concatenate(
        [lab8[:, :1] / 255 * 0xFF00, (lab8[:, 1:].view(np.int8).astype(np.float64) + 128) * 256], axis=-1
    )
    ramp = np.array([0, 65535], ">u2").tobytes()  # identity input and output curves of 2 entries
    identity = s15_fixed16([1, 0, 0, 0, 1, 0, 0, 0, 1])
    lut = b"mft2" + bytes(4) + bytes([4, 3, grid, 0]) + identity + struct.pack(">HH", 2, 2) + ramp * 4
    lut += np.clip(np.round(lab16), 0, 65535).astype(">u2").tobytes() + ramp * 3
    tags = [
        (b"desc", text_description_tag(description)),
        (b"cprt", text_tag("No copyright, made for tests")),
        (b"wtpt", xyz_tag(D50_XYZ)),
        (b"A2B0", lut),
    ]
    return assemble(b"prtr", b"CMYK", b"Lab ", tags)


def swapped_inks(cmyk: np.ndarray) -> np.ndarray:
    """Inks unlike any real ones, so a plain conversion cannot pass for the profile's: cyan ink takes away green and
    magenta ink red (the other way round in real printing), multiplied by what black leaves."""
    c, m, y, k = cmyk.T
    return np.stack([1 - m, 1 - c, 1 - y], -1) * (1 - k)[:, None]
