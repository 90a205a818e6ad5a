"""Make a weights folder the bundled default: fp16 safetensors + config.json with its training record and metrics.

Usage:
  python scripts/bundle_default.py --weights runs/cpu-default/weights [--quality benchmarks/results/X.json]
      [--out src/idc/pretrained/idc-default] [--description TEXT] [--trained-on TEXT] [--started-from DIR]
      [--training KEY=VALUE ...]

--quality takes the JSON of `python benchmarks/quality.py --json`; its per-set means (blurred and restored PSNR,
SSIM, MATLAB-style SSIM) are recorded under "metrics" in config.json. Without it the metrics are left out, so run
quality.py on the bundled folder and then this script again with --quality (the weights do not change).

Training records: `idc train` writes each run's record (steps, batch, recipe, hardware) into config.json, and a run
started from other weights (init_weights) lists their records under training.previous with the accumulated
total_steps and total_crops. --started-from adds that lineage to a record written without it (runs begun before
idc train recorded it); --training adds or replaces fields of the record (values parsed as YAML).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch
import yaml

from idc.weights import load_model, read_weights_config, save_weights, training_lineage, with_lineage

RESERVED = {"architecture", "format_version", "model_config", "dtype"}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--weights", type=Path, required=True)
    p.add_argument("--quality", type=Path, default=None)
    p.add_argument("--out", type=Path, default=Path("src/idc/pretrained/idc-default"))
    p.add_argument("--description", default=None)
    p.add_argument("--trained-on", default=None, help="what the weights were trained on (default: as recorded)")
    p.add_argument("--command", default=None, help="record this as the training command")
    p.add_argument("--started-from", type=Path, default=None, help="weights the run started from (adds its lineage)")
    p.add_argument("--training", nargs="+", default=[], metavar="KEY=VALUE", help="fields for the training record")
    args = p.parse_args(argv)
    model = load_model(args.weights)
    meta = {k: v for k, v in read_weights_config(args.weights).items() if k not in RESERVED}
    if args.description:
        meta["description"] = args.description
    if args.trained_on:
        meta["trained_on"] = args.trained_on
    if "trained_on" not in meta:
        p.error(f"{args.weights}: its config.json does not say what it was trained on; give --trained-on")
    training = meta.get("training", {})
    if args.command:
        training["command"] = args.command
    for item in args.training:
        key, sep, value = item.partition("=")
        if not sep:
            p.error(f"--training {item!r}: expected KEY=VALUE")
        training[key] = yaml.safe_load(value)
    if args.started_from and "previous" not in training:
        training = with_lineage({**training, "init": str(args.started_from)}, training_lineage(args.started_from))
    meta["training"] = training
    if args.quality:
        q = json.loads(args.quality.read_text())
        meta["metrics"] = {
            "conventions": q["conventions"],
            "measured_on": f"{q['device']} ({q['machine']}), torch {q['torch']}",
            "sets": {
                name: {"images": s["images"], **{k: round(v, 4) for k, v in s["mean"].items() if k != "seconds"}}
                for name, s in q["sets"].items()
            },
        }
    save_weights(model, args.out, metadata=meta, dtype=torch.float16)
    print(f"wrote {args.out} (float16) with {'metrics' if args.quality else 'no metrics'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
