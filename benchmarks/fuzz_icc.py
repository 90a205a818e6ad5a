"""Fuzzes the CMYK colour profiles `idc deblur` converts through (LittleCMS, by Pillow's ImageCms).

Each case is a CMYK JPEG or TIFF whose embedded profile is a copy of one given, with 1 to 20 random bytes changed
(half of them in the 400-byte header and tag table) and, one case in five, cut short. Each is read (idc.io.read_image)
and written back as JPEG and TIFF (idc.io.write_like), as `idc deblur --format same` does around the network. A
profile is only ever the file's description of its inks: an unusable one may cost a warning and the plain formula,
never the image, so any exception, and any output that is not CMYK or reads back otherwise, is a failure; a crash of
LittleCMS ends the run.

Usage: python benchmarks/fuzz_icc.py PROFILE.icc [...] [--cases 3000] [--seed 0] [--json OUT]
(benchmarks/cmyk_profiles.py says where to get real CMYK profiles.)
"""

from __future__ import annotations

import argparse
import json
import logging
import random
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

from idc.io import icc_colour_space, read_image, write_like


def corrupted(profile: bytes, rng: random.Random) -> bytes:
    data = bytearray(profile)
    for _ in range(rng.randint(1, 20)):
        where = rng.randrange(len(data)) if rng.random() < 0.5 else rng.randrange(min(len(data), 400))
        data[where] = rng.randrange(256)
    if rng.random() < 0.2:
        data = data[: rng.randrange(len(data))]
    return bytes(data)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("profiles", nargs="+", type=Path, help="CMYK ICC profiles to corrupt copies of")
    p.add_argument("--cases", type=int, default=3000)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", type=Path, default=None)
    args = p.parse_args(argv)
    profiles = [path.read_bytes() for path in args.profiles]
    for path, data in zip(args.profiles, profiles, strict=True):
        if icc_colour_space(data) != b"CMYK":
            p.error(f"{path}: not a CMYK profile")
    logging.getLogger("idc.io").setLevel(logging.ERROR)  # the warnings for unusable profiles are the expected path
    counts = {"cases": 0, "through_profile": 0, "plain": 0}
    failures: list[dict[str, str]] = []
    start = time.perf_counter()
    inks = Image.fromarray(np.random.default_rng(args.seed).integers(0, 256, (16, 24, 4), dtype=np.uint8), "CMYK")
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(args.cases):
            rng = random.Random(args.seed * 1_000_003 + i)
            ext = rng.choice(["jpg", "tif"])
            profile = corrupted(rng.choice(profiles), rng)
            source = Path(tmp) / f"case{i}.{ext}"
            inks.save(source, icc_profile=profile, quality=95)
            counts["cases"] += 1
            try:
                loaded = read_image(source)
                counts["through_profile" if loaded.icc else "plain"] += 1
                for out in ("jpg", "tif"):
                    target = Path(tmp) / f"out.{out}"
                    write_like(target, loaded.rgb, loaded)
                    back = read_image(target)
                    if not back.cmyk or back.rgb.shape != loaded.rgb.shape:
                        failures.append({"case": str(i), "error": f"{out}: not written back as CMYK of its size"})
            except Exception as e:
                failures.append({"case": str(i), "error": f"{type(e).__name__}: {e}"})
            source.unlink()
    seconds = time.perf_counter() - start
    print(
        f"{counts['cases']} cases in {seconds:.0f} s: {counts['through_profile']} read through their (corrupted) "
        f"profile, {counts['plain']} by the plain formula; {len(failures)} failures"
    )
    for failure in failures[:10]:
        print(f"  case {failure['case']}: {failure['error']}")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        record = {"profiles": [path.name for path in args.profiles], "seed": args.seed, **counts, "seconds": seconds}
        args.json.write_text(json.dumps({**record, "failures": failures}, indent=2) + "\n")
    return 1 if failures else 0


if __name__ == "__main__":
    raise SystemExit(main())
