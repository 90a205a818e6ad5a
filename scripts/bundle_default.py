"""Make a weights folder the bundled default: fp16 safetensors + config.json with its training record and metrics.

Usage:
  python scripts/bundle_default.py --weights runs/cpu-default/weights [--quality benchmarks/results/X.json]
      [--out src/idc/pretrained/idc-default] [--description TEXT]

--quality takes the JSON of `python benchmarks/quality.py --json`; its per-set means (blurred and restored PSNR,
SSIM, MATLAB-style SSIM) are recorded under "metrics" in config.json. Without it the metrics are left out, so run
quality.py on the bundled folder and then this script again with --quality (the weights do not change).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch

from idc.weights import load_model, read_weights_config, save_weights

RESERVED = {"architecture", "format_version", "model_config", "dtype"}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--weights", type=Path, required=True)
    p.add_argument("--quality", type=Path, default=None)
    p.add_argument("--out", type=Path, default=Path("src/idc/pretrained/idc-default"))
    p.add_argument("--description", default=None)
    p.add_argument("--command", default=None, help="record this as the training command")
    args = p.parse_args(argv)
    model = load_model(args.weights)
    meta = {k: v for k, v in read_weights_config(args.weights).items() if k not in RESERVED}
    if args.description:
        meta["description"] = args.description
    if args.command:
        meta.setdefault("training", {})["command"] = args.command
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
