"""Self-ensemble on the benchmark sets: quality and time of weights averaged over 1, 2, 4 and 8 copies.

Each image is deblurred once per flipped/transposed copy (idc.ensemble: identity, left-right, top-bottom, both, then
the four transposed), and the running mean is scored after 1, 2, 4 and 8 copies: one pass of 8 network runs gives
every size, each exactly what `idc eval --ensemble N` and `idc deblur --ensemble N` compute. Metrics and sets as in
benchmarks/quality.py (PSNR on uint8-rounded RGB; skimage-style and MATLAB-style SSIM; whole images). Seconds per
image are the network runs only, summed over the copies of that size (CUDA synchronised), after one untimed run.

--json-prefix P writes P-x1.json, P-x2.json, ... in quality.py's format (each with "ensemble": N), so that
  python benchmarks/quality.py --compare P-x1.json P-x8.json
gives the change image by image with its bootstrap interval and sign-flip p.

Usage:
  python benchmarks/ensemble.py [--weights DIR] [--sets gopro-dev kodak24-motion] [--sizes 1 2 4 8] [--limit N]
      [--precision fp32] [--json-prefix benchmarks/results/ensemble]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Iterable
from dataclasses import asdict
from itertools import islice
from pathlib import Path
from typing import Any

import torch

from idc.data.benchmark_sets import BENCHMARK_SETS, DIAGNOSTIC_SETS, BenchmarkPair
from idc.ensemble import ENSEMBLE_SIZES, ensemble_means
from idc.evaluate import EvalReport, measurement_record, score_pair
from idc.infer import deblur_tensor, resolve_device
from idc.metrics import PSNR_CONVENTION, SSIM_CONVENTION, paired_change_uncertainty
from idc.models import IDC
from idc.weights import load_model


def score_sizes(
    model: IDC,
    pairs: Iterable[BenchmarkPair],
    sizes: Iterable[int],
    precision: str = "fp32",
    warmup: bool = True,
    progress: bool = False,
) -> dict[int, EvalReport]:
    """One report per ensemble size, from one pass of max(sizes) runs per image (see the module's docstring);
    ``progress``: a line per image on stderr."""
    sizes = sorted(set(sizes))
    device = next(model.parameters()).device
    rows: dict[int, list[Any]] = {n: [] for n in sizes}
    times: list[float] = []

    def run(x: torch.Tensor) -> torch.Tensor:
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        start = time.perf_counter()
        out = deblur_tensor(model, x, precision)
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        times.append(time.perf_counter() - start)
        return out

    for i, (name, blurred, sharp) in enumerate(pairs):
        x = blurred.to(device)
        if i == 0 and warmup:
            deblur_tensor(model, x, precision)
        times.clear()
        for n, mean in ensemble_means(run, x, sizes):
            rows[n].append(score_pair(name, blurred, sharp, mean.cpu(), sum(times)))
        if progress:
            scores = " ".join(f"x{n} {r[-1].psnr_restored:.2f}" for n, r in rows.items())
            print(f"  {name}: blurred {rows[sizes[0]][-1].psnr_blurred:.2f}, {scores} dB", file=sys.stderr, flush=True)
    return {n: EvalReport(rows=r, device=str(device), crop=None, ensemble=n) for n, r in rows.items()}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--weights", default=None, help="weights folder (default: the bundled default)")
    p.add_argument("--data", type=Path, default=Path("../shared/data"))
    p.add_argument("--sets", nargs="+", default=list(BENCHMARK_SETS), choices=[*BENCHMARK_SETS, *DIAGNOSTIC_SETS])
    p.add_argument(
        "--sizes", type=int, nargs="+", default=list(ENSEMBLE_SIZES), choices=ENSEMBLE_SIZES, help="1 is always scored"
    )
    p.add_argument("--limit", type=int, default=None, help="only the first N images of each set")
    p.add_argument("--device", default="auto")
    p.add_argument("--precision", default="fp32", choices=["fp32", "bf16", "fp16"])
    p.add_argument("--json-prefix", default=None, help="write PREFIX-x<N>.json per size (quality.py's format)")
    args = p.parse_args(argv)
    args.sizes = sorted(set(args.sizes) | {1})  # one run is the first copy of every ensemble: free, and the baseline
    if not (args.data / "gopro").is_dir():
        print(f"no benchmark data at {args.data} (needs ../shared/data)", file=sys.stderr)
        return 2
    device = resolve_device(args.device)
    model = load_model(args.weights, device=device)
    meta = {**measurement_record(args.weights, device, args.precision), "input": "blurred"}
    results: dict[int, dict[str, Any]] = {n: {**meta, "ensemble": n, "sets": {}} for n in args.sizes}
    for name in args.sets:
        pairs = islice((BENCHMARK_SETS | DIAGNOSTIC_SETS)[name](args.data), args.limit)
        print(f"{name}:", file=sys.stderr, flush=True)
        for n, report in score_sizes(model, pairs, args.sizes, args.precision, progress=True).items():
            rows = [asdict(r) for r in report.rows]
            results[n]["sets"][name] = {"images": len(rows), "mean": report.mean(), "per_image": rows}
    if args.json_prefix:
        for n, result in results.items():
            path = Path(f"{args.json_prefix}-x{n}.json")
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(result, indent=2) + "\n")
    print(f"weights: {meta['weights']}  ({meta['weights_description']})")
    print(f"device: {device}, {meta['machine']}, {meta['torch_threads']} threads, {args.precision}")
    print(f"{PSNR_CONVENTION}; SSIM = {SSIM_CONVENTION}")
    print("gain: over the blurred input; vs x1: the mean change against one run, its 95 % interval and sign-flip p")
    head = [("copies", 7), ("PSNR", 8), ("gain", 8), ("SSIM", 8), ("vs x1", 9), ("95 % interval", 18), ("p", 8)]
    print(f"{'set':<16}" + "".join(f"{h:>{w}}" for h, w in head) + f"{'s/img':>8}")
    for name in args.sets:
        first = results[1]["sets"][name]["per_image"]
        for n in args.sizes:
            s = results[n]["sets"][name]
            m = s["mean"]
            deltas = [b["psnr_restored"] - a["psnr_restored"] for a, b in zip(first, s["per_image"], strict=True)]
            change = sum(deltas) / len(deltas)
            if n > 1:
                low, high, pval = paired_change_uncertainty(deltas)
                cells = f"{change:>+9.3f}{f'{low:+.3f} .. {high:+.3f}':>18}{pval:>8.3g}"
            else:
                cells = f"{'':>9}{'':>18}{'':>8}"
            print(
                f"{name:<16}{n:>7}{m['psnr_restored']:>8.2f}{m['psnr_restored'] - m['psnr_blurred']:>+8.2f}"
                f"{m['ssim_restored']:>8.4f}{cells}{m['seconds']:>8.2f}"
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
