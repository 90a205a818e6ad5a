"""Quality of IDC weights on every benchmark set, with the blurred input as baseline beside every number.

Sets (from ../shared/data; never trained on; defined in idc.data.benchmark_sets):
  gopro-dev       the 5 real GOPRO pairs in gopro/dev (frame averaging, 1280x720), full images.
  kodak24-motion  the 24 Kodak photos (768x512) with a fixed seeded camera-shake blur and noise sigma 0.01.
Diagnostic, only when named in --sets (its frames are training data: it shows fit, never quality):
  gopro0477-seen  6 frame-averaged windows of GOPR0477_11_00, the real-blur frames the synthetic recipe trains on.

Metrics as `idc eval` computes them (idc.evaluate): PSNR on uint8-rounded RGB; skimage-style SSIM (Gaussian
sigma 1.5, per channel); MATLAB-style SSIM (3-D Gaussian over H x W x 3). Whole images, fp32 unless --precision.

Usage:
  python benchmarks/quality.py [--weights DIR] [--sets gopro-dev kodak24-motion] [--limit N] [--precision bf16]
      [--no-warmup] [--workers N] [--json OUT]
  python benchmarks/quality.py --compare OLD.json NEW.json [--worst 3]
  python benchmarks/quality.py --by-blur RESULT.json [...] [--parts 3]
  python benchmarks/quality.py --sharp-in [--weights DIR] [--sets ...] [--json OUT]

--compare reads two JSONs this script wrote, or two of `idc eval --json` (its set is called "idc eval"; with
`idc eval --restored` any method's outputs are scored so), and compares them image by image (restored PSNR, matched
by name): per set the mean change, how many images got better and worse, how sure the mean is (a 95 % bootstrap
interval over the images and the sign-flip p-value of "no change"; with 5 images p cannot go below 0.0625), and the
images that lost most, with their blurred PSNR.
A new default must win on the means; this shows where it loses (run 4 lost only on the least blurred frames).
--sharp-in feeds each set's sharp images instead of the blurred ones and scores the output against them: a network
that deblurs well leaves an image without blur almost unchanged, and one that has learnt to treat fine detail as
noise or blur does not (docs/data.md, "Sharp inputs").
--by-blur sorts each set's images by their blurred PSNR, cuts them into --parts groups and gives each group's mean
gain over the blurred input: whether weights help least where the blur is heaviest.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict
from itertools import islice
from pathlib import Path
from typing import Any

import torch

from idc.data.benchmark_sets import BENCHMARK_SETS, DIAGNOSTIC_SETS
from idc.evaluate import evaluate, measurement_record
from idc.infer import resolve_device
from idc.metrics import PSNR_CONVENTION, SSIM_CONVENTION, SSIM_MATLAB_CONVENTION, paired_change_uncertainty
from idc.weights import load_model


def as_sets(result: dict[str, Any]) -> dict[str, Any]:
    """A result in this script's form: an ``idc eval --json`` result (one dataset) becomes the set "idc eval"."""
    return result if "sets" in result else {"sets": {"idc eval": result}}


def compare(old: dict[str, Any], new: dict[str, Any], worst: int = 3) -> list[str]:
    """Lines comparing two results image by image (restored PSNR, new minus old), per set they share; each result is
    this script's or ``idc eval``'s (:func:`as_sets`)."""
    old, new = as_sets(old), as_sets(new)
    lines = ["PSNR of the restored images, new minus old, image by image (same names in both):"]
    for name, new_set in new["sets"].items():
        if name not in old["sets"]:
            continue
        before = {r["name"]: r for r in old["sets"][name]["per_image"]}
        pairs = [(before[r["name"]], r) for r in new_set["per_image"] if r["name"] in before]
        if not pairs:
            continue
        deltas = sorted(((b["psnr_restored"] - a["psnr_restored"], a, b) for a, b in pairs), key=lambda t: t[0])
        mean = sum(d for d, _, _ in deltas) / len(deltas)
        better, worse = sum(d > 0 for d, _, _ in deltas), sum(d < 0 for d, _, _ in deltas)
        lines.append(f"{name}: {len(deltas)} images, mean {mean:+.3f} dB, {better} better, {worse} worse")
        low, high, p = paired_change_uncertainty([d for d, _, _ in deltas])
        lines.append(f"  mean's 95 % bootstrap interval {low:+.3f} .. {high:+.3f} dB; sign-flip p = {p:.3g}")
        for d, a, b in deltas[:worst]:
            if d < 0:
                lines.append(
                    f"  {b['name']}: blurred {b['psnr_blurred']:.2f}, old {a['psnr_restored']:.2f}, "
                    f"new {b['psnr_restored']:.2f} ({d:+.2f} dB)"
                )
    return lines


def by_blur(results: dict[str, Any], parts: int = 3) -> list[str]:
    """Lines giving, per set, the mean gain over the blurred input (PSNR) for the images sorted by how blurred they
    are (blurred PSNR) and cut into ``parts`` groups, heaviest blur first (sets smaller than ``parts``: each image)."""
    lines = ["PSNR gain over the blurred input by blur strength (heaviest first):"]
    for name, s in results["sets"].items():
        rows = sorted(s["per_image"], key=lambda r: r["psnr_blurred"])
        if not rows:
            continue
        k = min(parts, len(rows))
        cells = []
        for i in range(k):
            group = rows[i * len(rows) // k : (i + 1) * len(rows) // k]
            blurred = sum(r["psnr_blurred"] for r in group) / len(group)
            gain = sum(r["psnr_restored"] - r["psnr_blurred"] for r in group) / len(group)
            cells.append(f"{len(group)} at {blurred:.2f} dB: {gain:+.2f}")
        lines.append(f"{name}: " + "; ".join(cells))
    return lines


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--weights", default=None, help="weights folder (default: the bundled default)")
    p.add_argument("--data", type=Path, default=Path("../shared/data"))
    p.add_argument(
        "--sets",
        nargs="+",
        default=list(BENCHMARK_SETS),
        choices=[*BENCHMARK_SETS, *DIAGNOSTIC_SETS],
        help="default: the benchmark sets; gopro0477-seen (training frames, a diagnostic of fit) only when named",
    )
    p.add_argument("--limit", type=int, default=None, help="only the first N images of each set")
    p.add_argument("--device", default="auto")
    p.add_argument("--precision", default="fp32", choices=["fp32", "bf16", "fp16"])
    p.add_argument("--no-warmup", action="store_true", help="skip the untimed first run (faster; times less fair)")
    p.add_argument(
        "--workers",
        type=int,
        default=1,
        help="score in this many processes while the network runs (idc eval --workers; for a GPU machine)",
    )
    p.add_argument("--json", type=Path, default=None)
    p.add_argument("--compare", type=Path, nargs=2, metavar=("OLD", "NEW"), help="compare two JSONs of this script")
    p.add_argument("--worst", type=int, default=3, help="with --compare: how many of the largest losses to list")
    p.add_argument("--by-blur", type=Path, nargs="+", metavar="RESULT", help="gain by blur strength, per JSON given")
    p.add_argument("--parts", type=int, default=3, help="with --by-blur: groups per set (default: thirds)")
    p.add_argument(
        "--sharp-in",
        action="store_true",
        help="feed the sharp images instead of the blurred ones: how much the network damages an image without blur",
    )
    args = p.parse_args(argv)
    if args.by_blur:
        for path in args.by_blur:
            print(f"{path}:")
            print("\n".join("  " + line for line in by_blur(as_sets(json.loads(path.read_text())), args.parts)[1:]))
        return 0
    if args.compare:
        old, new = (json.loads(f.read_text()) for f in args.compare)
        print("\n".join(compare(old, new, args.worst)))
        return 0
    if not (args.data / "gopro").is_dir():
        print(f"no benchmark data at {args.data} (needs ../shared/data)", file=sys.stderr)
        return 2
    device = resolve_device(args.device)
    model = load_model(args.weights, device=device)
    results: dict[str, object] = {
        **measurement_record(args.weights, device, args.precision),
        "sets": {},
    }
    sets: dict[str, object] = {}
    for name in args.sets:
        pairs = islice((BENCHMARK_SETS | DIAGNOSTIC_SETS)[name](args.data), args.limit)
        if args.sharp_in:
            pairs = ((n, sharp, sharp) for n, _, sharp in pairs)
        report = evaluate(
            model, pairs, progress=False, precision=args.precision, warmup=not args.no_warmup, workers=args.workers
        )
        rows = [asdict(r) for r in report.rows]
        mean = report.mean()
        if args.sharp_in:  # the input is the reference: its scores are infinite and say nothing
            rows = [{k: v for k, v in r.items() if not k.endswith("_blurred")} for r in rows]
            mean = {k: v for k, v in mean.items() if not k.endswith("_blurred")}
        sets[name] = {"images": len(report.rows), "mean": mean, "per_image": rows}
    results["sets"] = sets
    results["input"] = "sharp" if args.sharp_in else "blurred"
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(results, indent=2) + "\n")
    print(f"weights: {results['weights']}  ({results['weights_description']})")
    print(f"device: {device}, {results['machine']}, {torch.get_num_threads()} threads, {args.precision}")
    print(f"{PSNR_CONVENTION}; SSIM = {SSIM_CONVENTION}; mSSIM = {SSIM_MATLAB_CONVENTION}")
    if args.sharp_in:
        print("input: the sharp images (an image without blur should come out unchanged: higher is less damage)")
        print(f"{'set':<16}{'n':>4}{'PSNR IDC':>14}{'SSIM IDC':>14}{'mSSIM IDC':>14}{'s/img':>14}")
        for name, s in sets.items():
            m = s["mean"]  # type: ignore[index]
            keys = ("psnr_restored", "ssim_restored", "ssim_matlab_restored", "seconds")
            print(f"{name:<16}{s['images']:>4}" + "".join(f"{m[k]:>14.4f}" for k in keys))  # type: ignore[index]
        return 0
    head = ["PSNR blurred", "PSNR IDC", "gain", "SSIM blurred", "SSIM IDC", "mSSIM blurred", "mSSIM IDC", "s/img"]
    print(f"{'set':<16}{'n':>4}" + "".join(f"{h:>14}" for h in head))
    for name, s in sets.items():
        m = s["mean"]  # type: ignore[index]
        values = [
            m["psnr_blurred"],
            m["psnr_restored"],
            m["psnr_restored"] - m["psnr_blurred"],
            m["ssim_blurred"],
            m["ssim_restored"],
            m["ssim_matlab_blurred"],
            m["ssim_matlab_restored"],
            m["seconds"],
        ]
        formats = [".2f", ".2f", "+.2f", ".4f", ".4f", ".4f", ".4f", ".2f"]
        print(
            f"{name:<16}{s['images']:>4}" + "".join(f"{format(v, f):>14}" for v, f in zip(values, formats, strict=True))
        )  # type: ignore[index]
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
