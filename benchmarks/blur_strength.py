"""How strong is the training blur next to the benchmark blur? PSNR of the blurred image against its sharp image
(uint8-rounded RGB, whole images), for samples of each source of a training config and for the benchmark sets.

A network learns the blur it is shown: if the training pairs are all milder than the test pairs, it is asked at
test time for something it never practised. Samples of a ``frames`` source are split into windows of GOPRO's 7 to 13
frames or fewer and longer ones (and by stride, where it is not 1).

Usage:
  python benchmarks/blur_strength.py [--config configs/idc_synthetic.yaml] [--set key=value ...] [--samples 60]
      [--data ../shared/data] [--json OUT]
"""

from __future__ import annotations

import argparse
import json
import statistics
from collections import defaultdict
from pathlib import Path
from typing import Any

import torch

from idc.data.benchmark_sets import BENCHMARK_SETS
from idc.metrics import psnr
from idc.train.config import load_train_config
from idc.train.data import build_dataset


def _stats(values: list[float]) -> dict[str, float]:
    return {"n": len(values), "mean": statistics.mean(values), "min": min(values), "max": max(values)}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--config", type=Path, default=Path("configs/idc_synthetic.yaml"))
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="config override (repeatable)")
    p.add_argument("--samples", type=int, default=60, help="samples drawn per source")
    p.add_argument("--data", type=Path, default=Path("../shared/data"), help="where the benchmark sets come from")
    p.add_argument("--json", type=Path, default=None)
    args = p.parse_args(argv)
    config = load_train_config(args.config, args.set)
    config.data.crop = None  # type: ignore[assignment]  # whole images, as the benchmark sets are scored
    built = build_dataset(config.data, 0)
    groups: dict[str, list[float]] = defaultdict(list)
    for i, (source, dataset) in enumerate(zip(config.data.sources, built.dataset.datasets, strict=True)):
        size = len(dataset)  # type: ignore[arg-type]
        for k in range(args.samples):
            index = (k * 7919) % size
            sample = dataset[index]
            label = f"source {i}: {source.kind} ({', '.join(source.paths)})"
            inner = getattr(dataset, "dataset", dataset)  # frames sources are wrapped in their input noise
            if hasattr(inner, "window"):
                _, _, count, stride = inner.window(index)
                label += ", up to 13 frames" if count <= 13 else ", over 13 frames"  # GOPRO counts, and longer
                label += f", stride {stride}" if stride > 1 else ""
            groups[label].append(psnr(sample["blurred"], sample["sharp"]))
    for name, make in BENCHMARK_SETS.items():
        try:
            groups[f"benchmark {name}"] = [psnr(b, s) for _, b, s in make(args.data)]
        except (OSError, ValueError) as e:
            print(f"benchmark {name}: not measured ({e})")
    rows: dict[str, Any] = {label: _stats(v) for label, v in sorted(groups.items()) if v}
    print(f"PSNR blurred vs sharp, dB (uint8-rounded RGB, whole images); {args.config} {' '.join(args.set)}")
    print(f"{'pairs':<70}{'n':>5}{'mean':>8}{'min':>8}{'max':>8}")
    for label, r in rows.items():
        print(f"{label:<70}{r['n']:>5}{r['mean']:>8.2f}{r['min']:>8.2f}{r['max']:>8.2f}")
    if args.json:
        out = {
            "config": str(args.config),
            "overrides": args.set,
            "samples": args.samples,
            "rows": rows,
        }
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(out, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    torch.set_num_threads(2)
    raise SystemExit(main())
