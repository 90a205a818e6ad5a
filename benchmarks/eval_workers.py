"""What `idc eval --workers N` saves: scoring pairs in N processes while the network deblurs the next pair.

Scoring one 1280x720 pair (PSNR and both SSIMs, of the blurred input and of the output) takes over a second of one
CPU core, far longer than a GPU takes to deblur it, so without workers a GPU evaluation mostly waits for scoring. On
a machine without a GPU this measures the overlap with a fast stand-in for the GPU's network (the `tiny` preset,
random weights: its outputs differ from IDC's, the scoring work does not) on gopro-dev's pairs, repeated --repeats
times, and checks that every worker count gives the same scores. With --weights (and --device cuda) it measures the
real network.

Prints wall time per worker count and writes JSON.

Usage: python benchmarks/eval_workers.py [--workers 1 2] [--repeats 4] [--weights DIR] [--device cpu] [--json OUT]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from pathlib import Path

import torch

from idc.bench import cpu_model
from idc.data.benchmark_sets import BENCHMARK_SETS
from idc.evaluate import evaluate
from idc.infer import resolve_device
from idc.models import IDC, get_preset
from idc.weights import load_model


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", type=Path, default=Path("../shared/data"))
    p.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    p.add_argument("--repeats", type=int, default=4, help="gopro-dev's 5 pairs this many times (default: 4)")
    p.add_argument("--weights", default=None, help="weights to run (default: the tiny stand-in)")
    p.add_argument("--device", default="cpu")
    p.add_argument("--json", type=Path, default=None)
    args = p.parse_args(argv)
    if not (args.data / "gopro").is_dir():
        print(f"no benchmark data at {args.data} (needs ../shared/data)", file=sys.stderr)
        return 2
    device = resolve_device(args.device)
    if args.weights is None:
        torch.manual_seed(0)
        model = IDC(get_preset("tiny")).to(device).eval()
    else:
        model = load_model(args.weights, device=device)
    pairs = list(BENCHMARK_SETS["gopro-dev"](args.data)) * args.repeats
    pairs = [(f"{i:03d}-{name}", blurred, sharp) for i, (name, blurred, sharp) in enumerate(pairs)]
    runs, scores = [], []
    for workers in args.workers:
        start = time.perf_counter()
        report = evaluate(model, pairs, progress=False, workers=workers)
        wall = time.perf_counter() - start
        network = sum(r.seconds for r in report.rows)
        runs.append({"workers": workers, "wall_s": round(wall, 2), "network_s": round(network, 2)})
        scores.append([{k: v for k, v in dataclasses.asdict(r).items() if k != "seconds"} for r in report.rows])
        print(f"workers {workers}: {wall:.1f} s for {len(pairs)} pairs ({network:.1f} s of it in the network)")
    same = all(s == scores[0] for s in scores)
    print("scores identical for every worker count" if same else "SCORES DIFFER between worker counts")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        record = {
            "machine": cpu_model(),
            "device": str(device),
            "network": args.weights or "tiny preset, random weights (a fast stand-in)",
            "pairs": len(pairs),
            "torch_threads": torch.get_num_threads(),
            "runs": runs,
            "scores_identical": same,
        }
        args.json.write_text(json.dumps(record, indent=2) + "\n")
    return 0 if same else 1


if __name__ == "__main__":
    raise SystemExit(main())
