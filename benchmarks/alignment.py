"""How much of the error on a benchmark set is misplacement: each image's PSNR as it is and after the global
translation that best matches the sharp image, for the blurred input and for each set of weights.

A blurred average of video frames (gopro-dev) is paired with one of its frames, and that frame need not sit at the
centre of the blur: the camera may speed up or turn during the exposure, and an average of an even number of frames
has no middle frame at all (gopro-dev's are of 8 and 10). A network can only guess where the sharp frame was. Where
a network's output gains much from a shift, its edges are sharp but not where the sharp frame has them: it drew them
at the centre of the blur, and a blurrier answer could have scored higher. Kodak24-motion's kernels are centred on
their centroid, so a network's output there should need no shift. (The blurred input itself may gain from a shift
on either set: its best match is where most of the kernel's weight lies, which need not be the centroid.)

The scores are on the interior --margin pixels in from every border (the shift wraps round), so the unshifted
numbers differ a little from benchmarks/quality.py's whole-image ones. PSNR on uint8-rounded RGB; shifts on a grid of
--step pixels up to --max-shift each way, by a Fourier phase ramp (idc.metrics.best_shift_psnr).

Usage:
  python benchmarks/alignment.py [--weights NAME=DIR ...] [--sets gopro-dev] [--precision bf16] [--json OUT]
      (NAME=default: the bundled weights; no --weights: the blurred input alone)
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
from itertools import islice
from pathlib import Path

from idc.bench import cpu_model
from idc.data.benchmark_sets import BENCHMARK_SETS, DIAGNOSTIC_SETS
from idc.infer import deblur_tensor, resolve_device
from idc.metrics import PSNR_CONVENTION, best_shift_psnr
from idc.weights import load_model


def _named_weights(text: str) -> tuple[str, str | None]:
    name, sep, path = text.partition("=")
    if not sep or not name or not path:
        raise argparse.ArgumentTypeError(f"expected NAME=DIR (or NAME=default), got {text!r}")
    return name, None if path == "default" else path


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--weights", type=_named_weights, nargs="+", default=[], metavar="NAME=DIR")
    p.add_argument("--data", type=Path, default=Path("../shared/data"))
    p.add_argument("--sets", nargs="+", default=["gopro-dev"], choices=[*BENCHMARK_SETS, *DIAGNOSTIC_SETS])
    p.add_argument("--limit", type=int, default=None, help="only the first N images of each set")
    p.add_argument("--device", default="auto")
    p.add_argument("--precision", default="fp32", choices=["fp32", "bf16", "fp16"])
    p.add_argument("--max-shift", type=float, default=3.0, help="largest shift tried each way, pixels (default 3)")
    p.add_argument("--step", type=float, default=0.5, help="shift grid step, pixels (default 0.5)")
    p.add_argument("--margin", type=int, default=16, help="border left out of every score, pixels (default 16)")
    p.add_argument("--json", type=Path, default=None)
    args = p.parse_args(argv)
    names = [name for name, _ in args.weights]
    if "blurred" in names or len(set(names)) < len(names):
        p.error(f"--weights names must be unique and not 'blurred' (the input's column), got {names}")
    if args.margin < args.max_shift:
        p.error(f"--margin {args.margin} must be at least --max-shift {args.max_shift} (the shift wraps round)")
    if not (args.data / "gopro").is_dir():
        print(f"no benchmark data at {args.data} (needs ../shared/data)", file=sys.stderr)
        return 2
    device = resolve_device(args.device)
    models = {name: load_model(path, device=device) for name, path in args.weights}
    columns = ["blurred", *models]
    print(f"{PSNR_CONVENTION}, interior {args.margin} px in; best global shift (dy, dx) on a {args.step} px grid")
    print(f"device: {device}, {platform.machine()} {cpu_model()}, {args.precision}")
    results: dict[str, object] = {
        "weights": {name: path or "bundled default" for name, path in args.weights},
        "device": str(device),
        "machine": f"{platform.machine()} {cpu_model()}".strip(),
        "precision": args.precision,
        "convention": f"{PSNR_CONVENTION}, interior {args.margin} px in",
        "max_shift": args.max_shift,
        "step": args.step,
        "sets": {},
    }
    for set_name in args.sets:
        print(f"\n{set_name}")
        print(f"{'image':<34}" + "".join(f"{c + ': as is -> shifted (dy, dx)':>44}" for c in columns))
        rows = []
        for name, blurred, sharp in islice((BENCHMARK_SETS | DIAGNOSTIC_SETS)[set_name](args.data), args.limit):
            row: dict[str, object] = {"name": name}
            cells = []
            for column in columns:
                estimate = blurred if column == "blurred" else deblur_tensor(models[column], blurred, args.precision)
                base, best, dy, dx = best_shift_psnr(estimate, sharp, args.max_shift, args.step, args.margin)
                row[column] = {"psnr": base, "psnr_shifted": best, "dy": dy, "dx": dx}
                cells.append(f"{base:.2f} -> {best:.2f} ({dy:+.1f}, {dx:+.1f})")
            rows.append(row)
            print(f"{name:<34}" + "".join(f"{c:>44}" for c in cells), flush=True)
        means = {
            c: {k: sum(r[c][k] for r in rows) / len(rows) for k in ("psnr", "psnr_shifted")}  # type: ignore[index]
            for c in columns
        }
        summary = [f"{m['psnr']:.2f} -> {m['psnr_shifted']:.2f}" for m in means.values()]
        print(f"{'mean':<34}" + "".join(f"{c:>44}" for c in summary))
        results["sets"][set_name] = {"images": len(rows), "mean": means, "per_image": rows}  # type: ignore[index]
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
