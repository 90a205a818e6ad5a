"""How `idc deblur` reads CMYK: the pure inks, black and a mid gray, each as a CMYK JPEG and TIFF with the given
printing profile embedded, read by idc.io.read_image, beside the plain formula used for CMYK without a profile.

No CMYK profile ships with this project (printing profiles are licensed) or with Pillow; Debian's libgs-common has
Ghostscript's, among them a SWOP one (`default_cmyk.icc`), whose inks Adobe's programs show as the process colours
#00AEEF, #EC008C, #FFF200 and black #231F20. To fetch it without installing it:
    apt-get download libgs-common && dpkg -x libgs-common_*.deb gs
    python benchmarks/cmyk_profiles.py gs/usr/share/color/icc/ghostscript/default_cmyk.icc

Prints a table (sRGB as 8-bit hex per patch) and writes JSON.

Usage: python benchmarks/cmyk_profiles.py PROFILE.icc [...] [--json OUT]
"""

from __future__ import annotations

import argparse
import json
import logging
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image, ImageCms

from idc.io import icc_colour_space, read_image

PATCHES = {
    "cyan": (255, 0, 0, 0),
    "magenta": (0, 255, 0, 0),
    "yellow": (0, 0, 255, 0),
    "black": (0, 0, 0, 255),
    "C50 M50 Y50": (128, 128, 128, 0),
    "paper": (0, 0, 0, 0),
}


def _hex(rgb: np.ndarray) -> str:
    return "#" + "".join(f"{int(v):02X}" for v in rgb)


def read_patches(profile: bytes | None, folder: Path) -> dict[str, dict[str, str]]:
    """Each patch's sRGB as ``read_image`` gives it from a CMYK JPEG and TIFF (``profile`` embedded, or none)."""
    cmyk = np.array([list(PATCHES.values())], np.uint8)
    image = Image.fromarray(cmyk, "CMYK")
    rows: dict[str, dict[str, str]] = {name: {} for name in PATCHES}
    for ext in ("jpg", "tif"):
        path = folder / f"patches.{ext}"
        image.save(path, quality=100, **({"icc_profile": profile} if profile else {}))
        rgb = np.round(read_image(path).rgb[:, 0].T.numpy() * 255)
        for name, value in zip(PATCHES, rgb, strict=True):
            rows[name][ext] = _hex(value)
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("profiles", nargs="+", type=Path, help="CMYK ICC profiles (.icc/.icm)")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args(argv)

    results = []
    with tempfile.TemporaryDirectory() as tmp:
        io_log = logging.getLogger("idc.io")
        level = io_log.level
        io_log.setLevel(logging.ERROR)  # its warning for CMYK without a profile: the table's column says so
        try:
            plain = read_patches(None, Path(tmp))
        finally:
            io_log.setLevel(level)
        for path in args.profiles:
            data = path.read_bytes()
            if (space := icc_colour_space(data)) != b"CMYK":
                parser.error(f"{path}: not a CMYK profile (its colour space is {space!r})")
            name = ImageCms.getProfileDescription(ImageCms.ImageCmsProfile(str(path))).strip()
            results.append({"profile": path.name, "description": name, "patches": read_patches(data, Path(tmp))})

    print("sRGB of each CMYK patch as idc deblur reads it (JPEG and TIFF agree unless shown twice)")
    header = ["patch", "no profile (plain formula)", *(r["description"] for r in results)]
    print("| " + " | ".join(header) + " |\n|" + "---|" * len(header))
    for patch in PATCHES:
        cells = [" / ".join(dict.fromkeys(row[patch].values())) for row in (plain, *(r["patches"] for r in results))]
        print(f"| {patch} | " + " | ".join(cells) + " |")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"plain": plain, "profiles": results}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
