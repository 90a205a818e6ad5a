"""Long fuzz run of the image loader and the `idc deblur` command over broken and odd image files.

Each case is a seeded file (empty, random bytes, truncated or corrupted images; or valid images in odd modes, sizes,
formats and EXIF orientations). The loader must return a valid image or raise ImageReadError naming the file; a
valid image, written to every output format and read back, must keep its size, depth, alpha, grayness and CMYK inks
where the format holds them (every --round-trip-every such case); every --cli-every cases a folder of the last cases
goes through `idc deblur --dry-run` and `idc deblur`, which must exit 0 or 1 with one-line errors and no traceback.
Prints the count and every unexplained failure; writes JSON.

Usage: python benchmarks/fuzz.py [--cases 10000] [--seed 0] [--round-trip-every 1] [--cli-every 1000] [--json OUT]
                                [--formats png jpg tif webp avif heic jxl dng]
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import tempfile
import time
import traceback
from pathlib import Path

import torch

from idc.cli import main as idc_main
from idc.fuzzcases import case, readable, round_trip_problems
from idc.io import ImageReadError, read_image
from idc.models import IDC, get_preset
from idc.weights import save_weights


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--cases", type=int, default=10000)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--cli-every", type=int, default=1000)
    p.add_argument(
        "--round-trip-every",
        type=int,
        default=1,
        help="write every Nth case that is a valid image to every output format and read it back (0: never)",
    )
    p.add_argument("--json", type=Path, default=None)
    p.add_argument(
        "--formats",
        nargs="+",
        default=None,
        metavar="EXT",
        help="the kinds of file to make (default: all this installation reads: PNG, JPEG, TIFF, WebP; AVIF, HEIC "
        "and JPEG XL where available, DNG camera raw where rawpy is installed)",
    )
    args = p.parse_args(argv)
    if args.formats and (unknown := set(args.formats) - set(readable())):
        p.error(
            f"--formats: this installation makes no {', '.join(sorted(unknown))} (it makes {', '.join(readable())})"
        )
    counts = {"cases": 0, "loaded": 0, "clean_errors": 0, "round_trips": 0, "cli_runs": 0, "cli_files": 0}
    failures: list[dict[str, str]] = []
    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        weights = save_weights(IDC(get_preset("tiny")), root / "weights")
        batch = root / "batch"
        batch.mkdir()
        for i in range(args.cases):
            ext, data, expect_valid = case(args.seed, i, args.formats)
            path = batch / f"case{i}.{ext}"
            path.write_bytes(data)
            counts["cases"] += 1
            try:
                img = read_image(path)
                ok = img.rgb.ndim == 3 and img.rgb.shape[0] == 3 and bool(torch.isfinite(img.rgb).all())
                counts["loaded"] += 1
                if not ok:
                    failures.append({"case": str(i), "kind": ext, "error": "loaded an invalid tensor"})
                elif expect_valid and args.round_trip_every and i % args.round_trip_every == 0:
                    # A valid odd image, written to every output format and read back (tests/test_fuzz.py's property).
                    folder = root / "round-trip"
                    folder.mkdir(exist_ok=True)
                    counts["round_trips"] += 1
                    for problem in round_trip_problems(img, folder):
                        failures.append({"case": str(i), "kind": ext, "error": f"round trip: {problem}"})
            except ImageReadError as e:
                counts["clean_errors"] += 1
                if expect_valid or not str(e).startswith(str(path)) or "\n" in str(e):
                    failures.append({"case": str(i), "kind": ext, "error": f"ImageReadError: {e}"})
            except Exception as e:  # anything else is an unexplained failure
                failures.append({"case": str(i), "kind": ext, "error": f"{type(e).__name__}: {e}"})
            if (i + 1) % args.cli_every == 0 or i + 1 == args.cases:
                files = list(batch.iterdir())
                sample = files[-50:]
                for f in files:
                    if f not in sample:
                        f.unlink()
                # A dry run (headers only) first, then the run itself.
                for extra in (["--dry-run"], ["--weights", str(weights), "--no-progress"]):
                    err = io.StringIO()
                    try:
                        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
                            code = idc_main(["deblur", str(batch), "-o", str(root / f"out{i}"), *extra])
                    except BaseException:
                        code = -1
                        err.write(traceback.format_exc())
                    if code not in (0, 1) or "Traceback" in err.getvalue():
                        failures.append(
                            {"case": f"cli after {i}", "kind": " ".join(extra), "error": err.getvalue()[-500:]}
                        )
                counts["cli_runs"] += 1
                counts["cli_files"] += len(sample)
                for f in batch.iterdir():
                    f.unlink()
    seconds = time.perf_counter() - start
    print(
        f"{counts['cases']} cases in {seconds:.0f} s: {counts['loaded']} loaded, "
        f"{counts['clean_errors']} clean errors, {counts['round_trips']} round trips through every format; "
        f"{counts['cli_runs']} idc deblur runs over {counts['cli_files']} files; {len(failures)} unexplained failures"
    )
    for f in failures[:20]:
        print(f"  case {f['case']} ({f['kind']}): {f['error']}")
    if args.json:
        args.json.write_text(json.dumps({**counts, "seconds": seconds, "failures": failures}, indent=2) + "\n")
    return 1 if failures else 0


if __name__ == "__main__":
    raise SystemExit(main())
