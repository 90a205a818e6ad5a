"""Score what a device call of scripts/gpu_session.sh brought back, on this machine's CPU, and say whether it may
become the default.

DEST is the folder the results were unpacked into (`cat results.tar.* | tar -x -C DEST`). The script
1. prints the run's facts: steps, step rate and data_wait from train/metrics.csv, the host-synchronisation count
   from train/train.log, the Fusion ReLU's active share from train/health.txt;
2. scores with benchmarks/quality.py (fp32, whole images) the last weights (train/weights), their average along the
   run when it was kept (train/ema/weights, training config `ema`), each snapshot
   (train/snapshots/step-N/weights) and, for each --alphas value, the interpolation (1 - alpha) x START + alpha x
   last (START: the weights the run started from, by default the bundled default), written to runs/NAME-soup-ALPHA;
   each result goes to OUT/NAME-LABEL-quality.json, and a JSON already there is read instead of scored again, so an
   interrupted scoring continues;
3. prints one row per candidate: mean PSNR on each set, its gain over the blurred input, its mean change against the
   baseline (the current default's JSON) image by image, on the images both scored, and whether it beats the
   baseline on every set. It writes the table to OUT/NAME-summary.json.

Snapshots are taken before the learning rate has annealed, and alpha chosen on these sets is tuned on the data it is
scored on: say so wherever such numbers appear (docs/model-card.md does). Each candidate takes about 6 minutes on
2 CPU cores with the full benchmark sets.

Usage:
  python scripts/score_device_run.py DEST --name gpu-run-7 [--alphas 0.5 0.75] [--no-snapshots]
      [--start src/idc/pretrained/idc-default] [--baseline benchmarks/results/default-quality.json]
      [--out benchmarks/results] [--sets ...] [--limit N] [--data ../shared/data]
"""

from __future__ import annotations

import argparse
import csv
import json
import statistics
import subprocess
import sys
from pathlib import Path
from typing import Any

from idc.metrics import PSNR_CONVENTION, paired_change_uncertainty
from idc.weights import save_interpolated_weights

REPO = Path(__file__).resolve().parents[1]


def run_facts(dest: Path) -> list[str]:
    """What the run's logs say: steps, speed, data wait, loss, host synchronisations, Fusion health."""
    lines = []
    metrics = dest / "train" / "metrics.csv"
    if metrics.is_file():
        with open(metrics, newline="") as f:
            rows = [r for r in csv.DictReader(f) if r.get("loss")]
        if rows:
            steady = rows[2:] or rows  # the first rows hold start-up and cuDNN autotuning
            rate = statistics.median(float(r["it_per_s"]) for r in steady)
            wait = statistics.median(float(r["data_wait"]) for r in steady if r.get("data_wait"))
            lines.append(
                f"steps {rows[-1]['step']}; median {rate:.2f} it/s, data_wait {wait:.2f} (rows after the first two); "
                f"loss {float(rows[0]['loss']):.4f} at step {rows[0]['step']}, {float(rows[-1]['loss']):.4f} at the end"
            )
    else:
        lines.append(f"{metrics}: missing")
    log = dest / "train" / "train.log"
    if log.is_file():
        lines += [line.strip() for line in log.read_text(errors="replace").splitlines() if "synchronis" in line]
    health = dest / "train" / "health.txt"
    if health.is_file():
        lines.append(health.read_text().strip())
    return lines


def score(weights: Path, out: Path, extra: list[str]) -> dict[str, Any]:
    """benchmarks/quality.py's JSON for ``weights``, from ``out`` when it is already there."""
    if out.is_file():
        print(f"  {out}: scored before, read")
        return json.loads(out.read_text())
    cmd = [sys.executable, str(REPO / "benchmarks" / "quality.py"), "--weights", str(weights), "--no-warmup"]
    subprocess.run([*cmd, "--json", str(out), *extra], check=True)
    return json.loads(out.read_text())


def per_image(result: dict[str, Any]) -> dict[str, dict[str, tuple[float, float]]]:
    """Per set, per image name: (blurred PSNR, restored PSNR)."""
    return {
        k: {r["name"]: (r["psnr_blurred"], r["psnr_restored"]) for r in v["per_image"]}
        for k, v in result["sets"].items()
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("dest", type=Path, help="the unpacked results of gpu_session.sh")
    p.add_argument("--name", required=True, help="prefix of the JSON files, e.g. gpu-run-7")
    p.add_argument("--alphas", type=float, nargs="*", default=[], help="interpolations with START to score")
    p.add_argument("--no-snapshots", action="store_true", help="score the last weights and interpolations only")
    p.add_argument("--start", type=Path, default=REPO / "src" / "idc" / "pretrained" / "idc-default")
    p.add_argument("--baseline", type=Path, default=REPO / "benchmarks" / "results" / "default-quality.json")
    p.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results")
    p.add_argument("--runs", type=Path, default=REPO / "runs", help="where interpolated weights are written")
    p.add_argument("--sets", nargs="+", default=None)
    p.add_argument("--limit", type=int, default=None)
    p.add_argument("--data", type=Path, default=None)
    args = p.parse_args(argv)

    last = args.dest / "train" / "weights"
    if not (last / "model.safetensors").is_file():
        p.error(f"{last}: no model.safetensors (unpack the results into DEST first)")
    if not args.baseline.is_file():
        p.error(f"{args.baseline}: no baseline JSON")
    if any(not 0 <= a <= 1 for a in args.alphas):
        p.error(f"--alphas must lie in [0, 1], got {args.alphas}")
    extra = [*(["--sets", *args.sets] if args.sets else []), *(["--limit", str(args.limit)] if args.limit else [])]
    extra += ["--data", str(args.data)] if args.data else []

    facts = run_facts(args.dest)
    print(f"{args.dest}:")
    for line in facts:
        print(f"  {line}")

    candidates: list[tuple[str, Path]] = [("last", last)]
    if (args.dest / "train" / "ema" / "weights" / "model.safetensors").is_file():
        candidates.append(("ema", args.dest / "train" / "ema" / "weights"))
    if not args.no_snapshots:
        snaps = sorted((args.dest / "train" / "snapshots").glob("step-*/weights"), key=lambda w: w.parent.name)
        candidates += [(w.parent.name, w) for w in snaps]
    for alpha in args.alphas:
        folder = args.runs / f"{args.name}-soup-{alpha:g}"
        if not (folder / "model.safetensors").is_file():
            save_interpolated_weights(args.start, last, alpha, folder)
        candidates.append((f"soup-{alpha:g}", folder))

    baseline = per_image(json.loads(args.baseline.read_text()))
    rows = []
    for label, weights in candidates:
        print(f"{label}: {weights}")
        result = per_image(score(weights, args.out / f"{args.name}-{label}-quality.json", extra))
        row: dict[str, Any] = {"label": label, "weights": str(weights), "sets": {}}
        for name, images in result.items():
            # Against the baseline image by image, on the images both scored (all of them without --limit).
            base = baseline.get(name, {})
            shared = [n for n in images if n in base]
            deltas = [images[n][1] - base[n][1] for n in shared]
            sure = paired_change_uncertainty(deltas) if deltas else None
            row["sets"][name] = {
                "images": len(images),
                "psnr_blurred": statistics.fmean(b for b, _ in images.values()),
                "psnr": statistics.fmean(r for _, r in images.values()),
                "gain": statistics.fmean(r - b for b, r in images.values()),
                "vs_baseline": statistics.fmean(deltas) if deltas else None,
                "images_vs_baseline": len(shared),
                # how sure the change is over these images (not over training seeds): idc.metrics
                "vs_baseline_interval": None if sure is None else [sure[0], sure[1]],
                "vs_baseline_p": None if sure is None else sure[2],
            }
        changes = [s["vs_baseline"] for s in row["sets"].values()]
        row["beats_baseline"] = bool(changes) and all(c is not None and c > 0 for c in changes)
        rows.append(row)

    set_names = list(rows[0]["sets"])
    print(
        f"\n{PSNR_CONVENTION}, mean (gain over the blurred input; change against {args.baseline.name}, and its "
        "sign-flip p over the images: idc.metrics.paired_change_uncertainty):"
    )
    print(f"{'weights':<16}" + "".join(f"{n:>38}" for n in set_names) + "   beats it on every set")
    for row in rows:
        cells = []
        for n in set_names:
            s = row["sets"][n]
            vs = "n/a" if s["vs_baseline"] is None else f"{s['vs_baseline']:+.2f}, p {s['vs_baseline_p']:.2g}"
            cells.append(f"{s['psnr']:.2f} ({s['gain']:+.2f}; {vs})")
        verdict = "yes" if row["beats_baseline"] else "no"
        print(f"{row['label']:<16}" + "".join(f"{c:>38}" for c in cells) + f"   {verdict}")
    summary = {"dest": str(args.dest), "baseline": str(args.baseline), "facts": facts, "rows": rows}
    (args.out / f"{args.name}-summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
