"""Colour profiles made for tests: no CMYK profile ships with Pillow or the system, and tests must not download one."""

from __future__ import annotations

import struct
from collections.abc import Callable

import numpy as np
from PIL import Image, ImageCms

_D50 = (0.9642, 1.0, 0.8249)


def _s15(value: float) -> bytes:
    return struct.pack(">i", round(value * 65536))


def _text_description(text: str) -> bytes:
    ascii_text = text.encode() + b"\0"
    # ASCII count and text, then empty Unicode (language, count) and ScriptCode (code, count, 67 bytes) parts.
    return b"desc" + bytes(4) + struct.pack(">I", len(ascii_text)) + ascii_text + bytes(8) + bytes(3) + bytes(67)


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
    identity = b"".join(_s15(1.0 if i % 4 == 0 else 0.0) for i in range(9))
    lut = b"mft2" + bytes(4) + bytes([4, 3, grid, 0]) + identity + struct.pack(">HH", 2, 2) + ramp * 4
    lut += np.clip(np.round(lab16), 0, 65535).astype(">u2").tobytes() + ramp * 3
    tags = [
        (b"desc", _text_description(description)),
        (b"cprt", b"text" + bytes(4) + b"No copyright, made for tests\0"),
        (b"wtpt", b"XYZ " + bytes(4) + b"".join(_s15(v) for v in _D50)),
        (b"A2B0", lut),
    ]
    table, data = b"", b""
    first = 128 + 4 + 12 * len(tags)
    for signature, body in tags:
        body += bytes(-len(body) % 4)
        table += signature + struct.pack(">II", first + len(data), len(body))
        data += body
    header = bytearray(128)
    header[8:12] = bytes([2, 0x10, 0, 0])  # version 2.1
    header[12:24] = b"prtrCMYKLab "  # a printer profile from CMYK to Lab
    header[24:36] = struct.pack(">6H", 2026, 1, 1, 0, 0, 0)
    header[36:40] = b"acsp"
    header[68:80] = b"".join(_s15(v) for v in _D50)
    profile = bytes(header) + struct.pack(">I", len(tags)) + table + data
    return struct.pack(">I", len(profile)) + profile[4:]


def swapped_inks(cmyk: np.ndarray) -> np.ndarray:
    """Inks unlike any real ones, so a plain conversion cannot pass for the profile's: cyan ink takes away green and
    magenta ink red (the other way round in real printing), multiplied by what black leaves."""
    c, m, y, k = cmyk.T
    return np.stack([1 - m, 1 - c, 1 - y], -1) * (1 - k)[:, None]
