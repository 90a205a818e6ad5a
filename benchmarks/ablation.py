"""Ablation harness: IDC, IDC single-scale and IDC without Sub-Texture under one equal training budget.

The paper's Figures 6-7 claim that a single-scale input and removing Sub-Texture both make IDC worse. This trains
each variant with the same config (default: configs/idc_synthetic.yaml), the same seed, data order, steps, batch and
crop, then scores each on the benchmark sets (idc.data.benchmark_sets) beside the blurred input. Prints a table that
states the budget and the hardware, and writes JSON (after every variant, so an interrupted run keeps what it did).

Training and scoring can run apart: `--train-only` on a GPU machine (no benchmark data needed there), then
`--score-only` where the benchmark data is, reading the JSON the first phase wrote and the weights it names
(looked up under --out/<variant> when the recorded path does not exist here).

Usage:
  python benchmarks/ablation.py [--config configs/idc_synthetic.yaml] [--steps 200] [--batch 4] [--crop 128]
      [--variants idc idc-single-scale idc-no-texture] [--workers 0] [--eval-crop 256] [--limit N]
      [--out runs/ablation] [--json OUT] [--train-only | --score-only] [--set key=value ...]
"""

from __future__ import annotations

import argparse
import json
import time
from itertools import islice
from pathlib import Path
from typing import Any

import torch

from idc import bench
from idc.data.benchmark_sets import BENCHMARK_SETS
from idc.evaluate import evaluate
from idc.metrics import PSNR_CONVENTION, SSIM_CONVENTION
from idc.models import IDC
from idc.train.config import load_train_config
from idc.train.loop import train
from idc.weights import load_model

VARIANTS = ("idc", "idc-single-scale", "idc-no-texture")


def device_name() -> str:
    return bench.device_name(torch.device("cuda" if torch.cuda.is_available() else "cpu"))


def find_weights(recorded: str, out: Path, variant: str) -> Path:
    """The recorded weights folder, or the newest complete checkpoint under out/variant when it moved."""
    if Path(recorded).is_dir():
        return Path(recorded)
    local = out / variant
    for folder in (local, local / "weights"):  # scripts/gpu_session.sh packs them as <variant>/weights
        if (folder / "model.safetensors").is_file():
            return folder
    latest = local / "checkpoints" / "LATEST"
    if latest.is_file():
        return local / "checkpoints" / latest.read_text().strip()
    raise FileNotFoundError(f"{variant}: weights not found at {recorded} nor under {local}")


def score(model: IDC, data: Path, eval_crop: int, limit: int | None) -> dict[str, Any]:
    scores: dict[str, Any] = {}
    for name, pairs in BENCHMARK_SETS.items():
        report = evaluate(model, islice(pairs(data), limit), crop=eval_crop or None, progress=False)
        # Per-image PSNR too, so variants can be compared image by image (paired_difference).
        per_image = [r.psnr_restored for r in report.rows]
        scores[name] = {"images": len(report.rows), **report.mean(), "psnr_restored_per_image": per_image}
    return scores


def paired_difference(a: list[float], b: list[float]) -> tuple[float, float, int]:
    """Mean of ``a - b`` image by image, its standard error over images, and how many images ``a`` wins."""
    diffs = [x - y for x, y in zip(a, b, strict=True)]
    n = len(diffs)
    mean = sum(diffs) / n
    se = (sum((d - mean) ** 2 for d in diffs) / (n - 1) / n) ** 0.5 if n > 1 else float("nan")
    return mean, se, sum(d > 0 for d in diffs)


def print_table(record: dict[str, Any]) -> None:
    budget, results = record["budget"], record["results"]
    overrides = " ".join(f"--set {o}" for o in record.get("overrides", []))
    print(f"\nAblation (paper Figs. 6-7), config {record['config']} {overrides}".rstrip())
    print(f"trained on {record['device']}")
    print(
        f"equal budget: {budget['steps']} steps x {budget['batch']} crops of {budget['crop']}x{budget['crop']}"
        f" = {budget['crops']} crops per variant"
    )
    scored = [r for r in results if r.get("scores")]
    if not scored:
        print("not scored yet: " + ", ".join(f"{r['variant']} {r['minutes']:.1f} min" for r in results))
        return
    print(f"scored on {record['eval']} ({record['scored_on']}); {PSNR_CONVENTION}")
    print(f"SSIM = {SSIM_CONVENTION}")
    sets = list(scored[0]["scores"])
    print(f"{'variant':<18}{'params':>11}{'minutes':>9}" + "".join(f"{s + ' PSNR':>22}{'SSIM':>8}" for s in sets))

    def cells(scores: dict[str, Any], which: str) -> str:
        return "".join(f"{scores[s]['psnr_' + which]:>22.2f}{scores[s]['ssim_' + which]:>8.4f}" for s in sets)

    print(f"{'blurred input':<18}{'':>11}{'':>9}{cells(scored[0]['scores'], 'blurred')}")
    for r in scored:
        print(f"{r['variant']:<18}{r['parameters']:>11,}{r['minutes']:>9.1f}{cells(r['scores'], 'restored')}")
    base = scored[0]
    others = [r for r in scored[1:] if all("psnr_restored_per_image" in r["scores"][s] for s in sets)]
    if others and all("psnr_restored_per_image" in base["scores"][s] for s in sets):
        print(
            f"\nPSNR of each variant minus {base['variant']}'s, image by image: mean +- standard error over images"
            " (training noise not included), and images where the variant is better"
        )
        for r in others:
            parts = []
            for s in sets:
                mean, se, wins = paired_difference(
                    r["scores"][s]["psnr_restored_per_image"], base["scores"][s]["psnr_restored_per_image"]
                )
                parts.append(f"{s} {mean:+.3f} +- {se:.3f} dB ({wins}/{r['scores'][s]['images']} better)")
            print(f"  {r['variant']:<18}" + "; ".join(parts))


def variant_overrides(variant: str, overrides: list[str], steps: int, batch: int, crop: int, workers: int) -> list[str]:
    """The config overrides that train ``variant``: its preset first, so that ``model.*`` overrides change every
    variant alike; the budget last, so that it stays equal whatever the overrides say."""
    budget = [f"steps={steps}", f"batch={batch}", f"data.crop={crop}", "val.every=0", f"data.workers={workers}"]
    return [f"model={{preset: {variant}}}", *overrides, *budget]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--config", type=Path, default=Path("configs/idc_synthetic.yaml"))
    p.add_argument("--steps", type=int, default=200)
    p.add_argument("--batch", type=int, default=4)
    p.add_argument("--crop", type=int, default=128)
    p.add_argument("--variants", nargs="+", default=list(VARIANTS))
    p.add_argument("--workers", type=int, default=0, help="data-loader processes (0: load in the training process)")
    p.add_argument("--data", type=Path, default=Path("../shared/data"), help="benchmark data root")
    p.add_argument("--eval-crop", type=int, default=256, help="score centre crops of this size (0: full images)")
    p.add_argument("--limit", type=int, default=None, help="first N images of each benchmark set")
    p.add_argument("--out", type=Path, default=Path("runs/ablation"))
    p.add_argument("--json", type=Path, default=None)
    phase = p.add_mutually_exclusive_group()
    phase.add_argument("--train-only", action="store_true", help="train and record; score later with --score-only")
    phase.add_argument("--score-only", action="store_true", help="score the variants recorded in --json")
    p.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="config override for every variant: model.* keys apply on top of each variant's preset (e.g. "
        "model.d3=deconv); --steps, --batch, --crop and --workers win over steps, batch, data.crop and data.workers",
    )
    args = p.parse_args(argv)
    for o in args.overrides:
        key = o.split("=", 1)[0].strip()
        if key in ("model", "model.preset"):
            p.error(f"--set {o}: each variant sets the model preset; change the variants with --variants")
    if args.score_only and (args.json is None or not args.json.is_file()):
        p.error("--score-only needs --json naming the record a --train-only run wrote")
    device = "cuda" if torch.cuda.is_available() else "cpu"
    evaluated = f"centre {args.eval_crop}x{args.eval_crop} crops" if args.eval_crop else "full images"

    if args.score_only:
        record = json.loads(args.json.read_text())
    else:
        crops = args.steps * args.batch
        record = {
            "budget": {"steps": args.steps, "batch": args.batch, "crop": args.crop, "crops": crops},
            "config": str(args.config),
            "overrides": args.overrides,
            "device": device_name(),
            "torch": torch.__version__,
            "results": [],
        }

    def save() -> None:
        if args.json:
            args.json.parent.mkdir(parents=True, exist_ok=True)
            args.json.write_text(json.dumps(record, indent=2) + "\n")

    if not args.train_only:
        record["eval"] = evaluated
        record["scored_on"] = device_name()
    if args.score_only:
        for r in record["results"]:
            model = load_model(find_weights(r["weights"], args.out, r["variant"]), device=device)
            r["scores"] = score(model, args.data, args.eval_crop, args.limit)
            save()
            summary = "; ".join(f"{k} {v['psnr_restored']:.2f} dB" for k, v in r["scores"].items())
            print(f"{r['variant']}: {summary}", flush=True)
    else:
        for variant in args.variants:
            overrides = variant_overrides(variant, args.overrides, args.steps, args.batch, args.crop, args.workers)
            config = load_train_config(args.config, overrides)
            start = time.perf_counter()
            last = train(config, args.out / variant, resume=False, progress=False)
            minutes = (time.perf_counter() - start) / 60
            model = load_model(last, device=device)
            result: dict[str, Any] = {
                "variant": variant,
                "minutes": minutes,
                "parameters": sum(p.numel() for p in model.parameters()),
                "weights": str(last),
            }
            if not args.train_only:
                result["scores"] = score(model, args.data, args.eval_crop, args.limit)
            record["results"].append(result)
            save()
            print(f"{variant}: trained {args.steps} steps in {minutes:.1f} min", flush=True)
    print_table(record)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
