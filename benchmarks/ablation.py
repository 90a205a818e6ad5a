"""Ablation harness: IDC, IDC single-scale and IDC without Sub-Texture under one equal training budget.

The paper's Figures 6-7 claim that a single-scale input and removing Sub-Texture both make IDC worse. This trains
each variant with the same config (default: configs/idc_synthetic.yaml), the same seed, data order, steps, batch and
crop, then scores each on the benchmark sets (idc.data.benchmark_sets) beside the blurred input. Prints a table that
states the budget and the hardware, and writes JSON.

Usage:
  python benchmarks/ablation.py [--config configs/idc_synthetic.yaml] [--steps 200] [--batch 4] [--crop 128]
      [--variants idc idc-single-scale idc-no-texture] [--eval-crop 256] [--limit N] [--out runs/ablation]
      [--json OUT] [--set key=value ...]
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from itertools import islice
from pathlib import Path
from typing import Any

import torch

from idc.data.benchmark_sets import BENCHMARK_SETS
from idc.evaluate import evaluate
from idc.metrics import PSNR_CONVENTION, SSIM_CONVENTION
from idc.train.config import load_train_config
from idc.train.loop import train
from idc.weights import load_model

VARIANTS = ("idc", "idc-single-scale", "idc-no-texture")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--config", type=Path, default=Path("configs/idc_synthetic.yaml"))
    p.add_argument("--steps", type=int, default=200)
    p.add_argument("--batch", type=int, default=4)
    p.add_argument("--crop", type=int, default=128)
    p.add_argument("--variants", nargs="+", default=list(VARIANTS))
    p.add_argument("--data", type=Path, default=Path("../shared/data"), help="benchmark data root")
    p.add_argument("--eval-crop", type=int, default=256, help="score centre crops of this size (0: full images)")
    p.add_argument("--limit", type=int, default=None, help="first N images of each benchmark set")
    p.add_argument("--out", type=Path, default=Path("runs/ablation"))
    p.add_argument("--json", type=Path, default=None)
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    args = p.parse_args(argv)
    budget = [f"steps={args.steps}", f"batch={args.batch}", f"data.crop={args.crop}", "val.every=0"]
    device_name = (
        torch.cuda.get_device_name(0)
        if torch.cuda.is_available()
        else f"{platform.processor() or platform.machine()} CPU, {torch.get_num_threads()} threads"
    )
    results: list[dict[str, Any]] = []
    for variant in args.variants:
        variant_budget = [*args.overrides, *budget, f"model={{preset: {variant}}}", "data.workers=0"]
        config = load_train_config(args.config, variant_budget)
        start = time.perf_counter()
        last = train(config, args.out / variant, resume=False, progress=True)
        minutes = (time.perf_counter() - start) / 60
        model = load_model(last, device="cuda" if torch.cuda.is_available() else "cpu")
        scores: dict[str, Any] = {}
        for name, pairs in BENCHMARK_SETS.items():
            report = evaluate(model, islice(pairs(args.data), args.limit), crop=args.eval_crop or None, progress=False)
            scores[name] = {"images": len(report.rows), **report.mean()}
        parameters = sum(p.numel() for p in model.parameters())
        results.append(
            {"variant": variant, "minutes": minutes, "parameters": parameters, "scores": scores, "weights": str(last)}
        )
        summary = "; ".join(f"{k} {v['psnr_restored']:.2f} dB" for k, v in scores.items())
        print(f"{variant}: trained in {minutes:.1f} min; {summary}", flush=True)

    crops = args.steps * args.batch
    evaluated = f"centre {args.eval_crop}x{args.eval_crop} crops" if args.eval_crop else "full images"
    print(f"\nAblation (paper Figs. 6-7), config {args.config}, on {device_name}")
    print(
        f"equal budget: {args.steps} steps x {args.batch} crops of {args.crop}x{args.crop} = {crops} crops per variant"
    )
    print(f"scored on {evaluated}; {PSNR_CONVENTION}; SSIM = {SSIM_CONVENTION}")
    sets = list(BENCHMARK_SETS)
    print(f"{'variant':<18}{'params':>11}{'minutes':>9}" + "".join(f"{s + ' PSNR':>22}{'SSIM':>8}" for s in sets))

    def cells(scores: dict[str, Any], which: str) -> str:
        return "".join(f"{scores[s]['psnr_' + which]:>22.2f}{scores[s]['ssim_' + which]:>8.4f}" for s in sets)

    if results:
        print(f"{'blurred input':<18}{'':>11}{'':>9}{cells(results[0]['scores'], 'blurred')}")
    for r in results:
        print(f"{r['variant']:<18}{r['parameters']:>11,}{r['minutes']:>9.1f}{cells(r['scores'], 'restored')}")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        record = {
            "budget": {"steps": args.steps, "batch": args.batch, "crop": args.crop, "crops": crops},
            "config": str(args.config),
            "device": device_name,
            "eval": evaluated,
            "results": results,
        }
        args.json.write_text(json.dumps(record, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
