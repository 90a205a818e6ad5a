"""The pack stage of scripts/gpu_session.sh: the weights a device call brings back, as float16 safetensors.

Packs into STAGE, in this order: the training run's last weights (WORK/train), each ablation variant's (named by
STAGE/ablation/ablation-train.json), the training run's average of the weights (as train/ema/weights, when its config
set ``ema``), then the training run's snapshots (every SNAP-th step's checkpoint, oldest first,
not the last) while STAGE stays under --limit-mib (default 56: the device returns 64 MiB in all, and logs and CSVs
share it). A snapshot that would pass the limit is removed again and said so; the last weights, the average and the
ablation's are always packed.

Usage: python scripts/pack_session.py WORK STAGE SNAP [--limit-mib 56]
"""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path

import torch

from idc.train.checkpoint import EMA_FOLDER, checkpoint_step, complete_checkpoints, latest_checkpoint
from idc.weights import load_model, read_weights_config, save_weights

# Fields that save_weights writes itself; the rest of the source's config.json travels as metadata.
OWN_FIELDS = {"architecture", "format_version", "model_config", "dtype"}


def _bytes(folder: Path) -> int:
    return sum(f.stat().st_size for f in folder.rglob("*") if f.is_file())


def pack(work: Path, stage: Path, snap: int, limit_mib: float = 56.0) -> dict[str, str]:
    """Packs what WORK holds into STAGE; returns ``{name: "packed" | "too big" | "no weights"}``."""
    found = {"train": work / "train"}
    record = stage / "ablation" / "ablation-train.json"
    if record.is_file():
        for r in json.loads(record.read_text())["results"]:
            found["ablation/" + r["variant"]] = Path(r["weights"])
    checkpoints = work / "train" / "run" / "checkpoints"
    last = latest_checkpoint(checkpoints)
    # gpu_train.sh copies the last checkpoint's average out beside its weights; a run stopped before that has it there.
    for ema in (work / "train" / EMA_FOLDER, last / EMA_FOLDER if last else None):
        if ema is not None and (ema / "model.safetensors").is_file():
            found["train/" + EMA_FOLDER] = ema
            break
    for c in complete_checkpoints(checkpoints):
        if snap > 0 and checkpoint_step(c) % snap == 0 and c != last:
            found[f"train/snapshots/{c.name}"] = c
    outcome = {}
    for name, src in found.items():
        latest = src / "run" / "checkpoints" / "LATEST"  # a run stopped before gpu_train.sh copied its weights out
        if not (src / "model.safetensors").is_file() and latest.is_file():
            src = latest.parent / latest.read_text().strip()
        if not (src / "model.safetensors").is_file():
            print(f"{name}: no weights at {src}")
            outcome[name] = "no weights"
            continue
        meta = {k: v for k, v in read_weights_config(src).items() if k not in OWN_FIELDS}
        save_weights(load_model(src), stage / name / "weights", metadata=meta, dtype=torch.float16)
        if name.startswith("train/snapshots/") and _bytes(stage) > limit_mib * 2**20:
            shutil.rmtree(stage / name)
            print(f"{name}: not packed, the pack would pass {limit_mib:g} MiB")
            outcome[name] = "too big"
            continue
        print(f"{name}: packed {src} as float16")
        outcome[name] = "packed"
    return outcome


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("work", type=Path)
    p.add_argument("stage", type=Path)
    p.add_argument("snap", type=int)
    p.add_argument("--limit-mib", type=float, default=56.0)
    args = p.parse_args(argv)
    pack(args.work, args.stage, args.snap, args.limit_mib)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
