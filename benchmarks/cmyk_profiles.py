"""How `idc deblur` reads and writes CMYK.

Reading: the pure inks, black and a mid gray, each as a CMYK JPEG and TIFF with the given printing profile embedded,
read by idc.io.read_image, beside the plain formula used for CMYK without a profile.

Writing back (what `idc deblur --format same` does around the network, which sees sRGB): CMYK TIFFs read into sRGB
and written as CMYK again through the same profile (idc.io.write_like), with nothing deblurred, so that only the
conversions are measured. The inputs: skimage's photos separated into inks through the profile (as a print workflow
separates its photos), and every mix of the four inks at 16 levels each (65,536 patches, most of them beyond any
press's ink limit and many outside sRGB, which the network's colour space cannot hold). The change is reported as the
printed colour moves (CIEDE2000 between the two sets of inks, each through the profile's table to Lab, by LittleCMS
at 8 bits: Pillow's Lab, whose steps alone can make up to about 0.5) and as ink levels, beside what a round trip
through the profile alone (CMYK to Lab and back, no sRGB between) moves the printed colour.

No CMYK profile ships with this project (printing profiles are licensed) or with Pillow; Debian's libgs-common has
Ghostscript's, among them a SWOP one (`default_cmyk.icc`), whose inks Adobe's programs show as the process colours
#00AEEF, #EC008C, #FFF200 and black #231F20. To fetch it without installing it:
    apt-get download libgs-common && dpkg -x libgs-common_*.deb gs
    python benchmarks/cmyk_profiles.py gs/usr/share/color/icc/ghostscript/default_cmyk.icc

Prints two tables (sRGB as 8-bit hex per patch; the round trip's changes) and writes JSON.

Usage: python benchmarks/cmyk_profiles.py PROFILE.icc [...] [--json OUT]
"""

from __future__ import annotations

import argparse
import json
import logging
import tempfile
from io import BytesIO
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


PHOTOS = ("astronaut", "chelsea", "coffee")


def _lab(inks: Image.Image, profile: bytes | None) -> np.ndarray:
    """CIELab (D50) of CMYK inks as printed by ``profile`` (relative colorimetric), or by the plain formula's sRGB."""
    lab = ImageCms.createProfile("LAB", 5000)
    if profile is None:
        from idc.io import _plain_cmyk_to_rgb

        to_lab = ImageCms.buildTransform(ImageCms.createProfile("sRGB"), lab, "RGB", "LAB")
        encoded = np.asarray(to_lab.apply(_plain_cmyk_to_rgb(inks)))
    else:
        source = ImageCms.ImageCmsProfile(BytesIO(profile))
        encoded = np.asarray(ImageCms.buildTransform(source, lab, "CMYK", "LAB").apply(inks))
    # Pillow's 8-bit Lab: L in 0..255, a and b as signed bytes.
    return np.stack([encoded[..., 0] / 2.55, encoded[..., 1].view(np.int8), encoded[..., 2].view(np.int8)], -1)


def round_trip(profile: bytes | None, folder: Path) -> dict[str, dict[str, float]]:
    """Each input's CMYK TIFF read and written back as `idc deblur --format same` does, with nothing deblurred:
    CIEDE2000 of the printed colours (mean, 99th percentile, max) and the ink levels' change (mean, max); with a
    profile, also the mean CIEDE2000 of a round trip through the profile alone (to Lab and back, no sRGB between),
    which a table that does not invert the other costs any colour-managed program."""
    from skimage import data
    from skimage.color import deltaE_ciede2000

    from idc.io import srgb_to_cmyk, write_like

    inputs = {name: srgb_to_cmyk(Image.fromarray(getattr(data, name)()[..., :3]), profile)[0] for name in PHOTOS}
    levels = np.round(np.linspace(0, 255, 16)).astype(np.uint8)
    mixes = np.stack(np.meshgrid(levels, levels, levels, levels, indexing="ij"), -1).reshape(256, 256, 4)
    inputs["every ink mix"] = Image.fromarray(mixes, "CMYK")
    to_lab = from_lab = None
    if profile is not None:  # the same inks to Lab and back through the profile alone: what its tables cost
        from idc.io import _apply

        lab, cmyk = ImageCms.createProfile("LAB", 5000), ImageCms.ImageCmsProfile(BytesIO(profile))
        options = {
            "renderingIntent": ImageCms.Intent.RELATIVE_COLORIMETRIC,
            "flags": ImageCms.Flags.BLACKPOINTCOMPENSATION,
        }
        to_lab = ImageCms.buildTransform(cmyk, lab, "CMYK", "LAB", **options)
        from_lab = ImageCms.buildTransform(lab, cmyk, "LAB", "CMYK", **options)
    rows = {}
    for name, inks in inputs.items():
        source, target = folder / "in.tif", folder / "out.tif"
        inks.save(source, **({"icc_profile": profile} if profile else {}))
        loaded = read_image(source)
        write_like(target, loaded.rgb, loaded)
        with Image.open(target) as written:
            written.load()
        change = deltaE_ciede2000(_lab(inks, profile), _lab(written, profile))
        ink = np.abs(np.asarray(written, np.int16) - np.asarray(inks, np.int16))
        rows[name] = {
            "dE00_mean": round(float(change.mean()), 2),
            "dE00_p99": round(float(np.percentile(change, 99)), 2),
            "dE00_max": round(float(change.max()), 2),
            "ink_mean": round(float(ink.mean()), 2),
            "ink_max": int(ink.max()),
        }
        if to_lab is not None:
            alone = deltaE_ciede2000(_lab(inks, profile), _lab(_apply(from_lab, _apply(to_lab, inks)), profile))
            rows[name]["profile_alone_dE00_mean"] = round(float(alone.mean()), 2)
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
            plain_trip = round_trip(None, Path(tmp))
        finally:
            io_log.setLevel(level)
        for path in args.profiles:
            data = path.read_bytes()
            if (space := icc_colour_space(data)) != b"CMYK":
                parser.error(f"{path}: not a CMYK profile (its colour space is {space!r})")
            name = ImageCms.getProfileDescription(ImageCms.ImageCmsProfile(str(path))).strip()
            results.append(
                {
                    "profile": path.name,
                    "description": name,
                    "patches": read_patches(data, Path(tmp)),
                    "round_trip": round_trip(data, Path(tmp)),
                }
            )

    print("sRGB of each CMYK patch as idc deblur reads it (JPEG and TIFF agree unless shown twice)")
    header = ["patch", "no profile (plain formula)", *(r["description"] for r in results)]
    print("| " + " | ".join(header) + " |\n|" + "---|" * len(header))
    for patch in PATCHES:
        cells = [" / ".join(dict.fromkeys(row[patch].values())) for row in (plain, *(r["patches"] for r in results))]
        print(f"| {patch} | " + " | ".join(cells) + " |")
    print(
        "\nCMYK TIFF read and written back as CMYK (idc deblur --format same, nothing deblurred): the printed colour's "
        "change (CIEDE2000 through the profile, mean / 99th percentile / max) and the inks' (levels, mean / max)"
    )
    print(
        "| profile | input | dE00 mean | dE00 p99 | dE00 max | ink mean | ink max | dE00 mean, profile alone |\n"
        "|---|---|---|---|---|---|---|---|"
    )
    for description, trip in [
        ("no profile (plain formula)", plain_trip),
        *((r["description"], r["round_trip"]) for r in results),
    ]:
        for name, row in trip.items():
            cells = " | ".join(str(value) for value in row.values()) + (" | -" if len(row) == 5 else "")
            print(f"| {description} | {name} | {cells} |")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        document = {"plain": plain, "plain_round_trip": plain_trip, "profiles": results}
        args.json.write_text(json.dumps(document, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
