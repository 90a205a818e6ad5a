"""Learning-rate probe: how fast IDC learns from a fresh start at each of several peak learning rates.

Each learning rate starts from the same initialisation (``--seed``) and sees the same crops, built from a training
config's data sources (default: configs/idc_synthetic.yaml on ../shared/data), with the config's loss, Adam betas and
gradient clipping. Two modes:

- ``overfit``: one fixed batch, trained on again and again. Measures optimisation alone: a rate at which the network
  cannot even fit one batch is too high (or the network collapses onto the identity, docs/paper-notes.md section 10).
- ``heldout``: a fresh batch every step, scored on a separate fixed batch the training never sees (drawn with another
  seed). Measures learning that generalises, at a budget too small to say anything about converged quality.

The score is the PSNR of the fine-scale estimate (clamped to [0, 1], float, not rounded) against the sharp crops,
beside the blurred crops' PSNR. Prints a table (rows: steps, columns: learning rates) and writes JSON.

Usage:
  python benchmarks/lr_probe.py [--config configs/idc_synthetic.yaml] [--lrs 5e-5 1e-4 2e-4 4e-4 1e-3]
      [--steps 100] [--every 10] [--batch 8] [--crop 64] [--warmup 0] [--mode overfit|heldout]
      [--precision bf16|fp32] [--seed 0] [--json OUT] [--set key=value ...]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

import torch
from torch.utils.data import Dataset

from idc.bench import device_name
from idc.configs import from_dict
from idc.data.datasets import Sample
from idc.losses import LossConfig, MixedLoss
from idc.models import IDC
from idc.train.config import TrainConfig, load_train_config
from idc.train.data import build_dataset
from idc.train.loop import model_config


def crops(dataset: Dataset[Sample], start: int, count: int) -> tuple[torch.Tensor, torch.Tensor]:
    """``count`` (blurred, sharp) crops: samples ``start`` onwards of ``dataset``, wrapping around."""
    samples = [dataset[i % len(dataset)] for i in range(start, start + count)]  # type: ignore[arg-type]
    return torch.stack([s["blurred"] for s in samples]), torch.stack([s["sharp"] for s in samples])


def psnr(estimate: torch.Tensor, sharp: torch.Tensor) -> float:
    mse = (estimate.float().clamp(0, 1) - sharp).pow(2).mean()
    return float(-10 * torch.log10(mse))


def probe(
    config: TrainConfig,
    lr: float,
    steps: int,
    every: int,
    warmup: int,
    mode: str,
    precision: str,
    seed: int,
    held: tuple[torch.Tensor, torch.Tensor],
    dataset: Dataset[Sample],
) -> list[float]:
    """Trains a fresh model at peak rate ``lr`` (linear warm-up, then constant); returns the PSNR every ``every``
    steps, step 0 included, on the fixed batch ``held`` (the training batch itself in ``overfit`` mode)."""
    torch.manual_seed(seed)
    model = IDC(model_config(config))
    loss_fn = MixedLoss(from_dict(LossConfig, config.loss, "loss: "))
    opt = torch.optim.Adam(model.parameters(), lr=lr, betas=tuple(config.optim.betas))  # type: ignore[arg-type]
    autocast = torch.autocast("cpu", dtype=torch.bfloat16, enabled=precision == "bf16")
    scores = []
    for step in range(steps + 1):
        if step % every == 0:
            with torch.no_grad(), autocast:
                scores.append(psnr(model(held[0])[-1], held[1]))
        if step == steps:
            break
        blurred, sharp = held if mode == "overfit" else crops(dataset, step * len(held[0]), len(held[0]))
        for group in opt.param_groups:
            group["lr"] = lr * min(1.0, (step + 1) / warmup) if warmup else lr
        with autocast:
            estimates = model(blurred)
        loss, _ = loss_fn(estimates, sharp)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        if config.optim.clip:
            torch.nn.utils.clip_grad_norm_(model.parameters(), config.optim.clip)
        opt.step()
    return scores


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--config", type=Path, default=Path("configs/idc_synthetic.yaml"))
    p.add_argument("--lrs", type=float, nargs="+", default=[5e-5, 1e-4, 2e-4, 4e-4, 1e-3])
    p.add_argument("--steps", type=int, default=100)
    p.add_argument("--every", type=int, default=10, help="score every N steps")
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--crop", type=int, default=64)
    p.add_argument("--warmup", type=int, default=0, help="linear warm-up steps (0: the peak rate from step 1)")
    p.add_argument("--mode", choices=("overfit", "heldout"), default="overfit")
    p.add_argument("--precision", choices=("bf16", "fp32"), default="bf16", help="CPU autocast")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", type=Path, default=None)
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    args = p.parse_args(argv)
    if args.steps < 1 or args.every < 1 or args.batch < 1:
        p.error("--steps, --every and --batch must be positive")
    config = load_train_config(args.config, [*args.overrides, f"data.crop={args.crop}"])
    # The held-out batch comes from a differently seeded mixture: other photos' crops, other kernels and noise.
    dataset = build_dataset(config.data, args.seed).dataset
    held = crops(
        dataset if args.mode == "overfit" else build_dataset(config.data, args.seed + 7919).dataset, 0, args.batch
    )
    record: dict[str, Any] = {
        "mode": args.mode,
        "config": str(args.config),
        "overrides": args.overrides,
        "batch": args.batch,
        "crop": args.crop,
        "warmup": args.warmup,
        "precision": args.precision,
        "seed": args.seed,
        "device": device_name(torch.device("cpu")),
        "torch": torch.__version__,
        "psnr_blurred": psnr(held[0], held[1]),
        "steps": list(range(0, args.steps + 1, args.every)),
        "psnr": {},
        "seconds": {},
    }
    for lr in args.lrs:
        start = time.perf_counter()
        record["psnr"][str(lr)] = probe(
            config, lr, args.steps, args.every, args.warmup, args.mode, args.precision, args.seed, held, dataset
        )
        record["seconds"][str(lr)] = time.perf_counter() - start
        print(f"lr {lr:g}: {record['psnr'][str(lr)][-1]:.2f} dB after {args.steps} steps", flush=True)
        if args.json:
            args.json.parent.mkdir(parents=True, exist_ok=True)
            args.json.write_text(json.dumps(record, indent=2) + "\n")
    scored = "the training batch itself" if args.mode == "overfit" else "a held-out batch"
    print(
        f"\nPSNR (dB, fine scale, float, clamped) on {scored} of {args.batch} crops of {args.crop}x{args.crop};"
        f" blurred input {record['psnr_blurred']:.2f} dB; {record['device']}"
    )
    print(f"{'step':>6}" + "".join(f"{'lr ' + format(lr, 'g'):>12}" for lr in args.lrs))
    for i, step in enumerate(record["steps"]):
        print(f"{step:>6}" + "".join(f"{record['psnr'][str(lr)][i]:>12.2f}" for lr in args.lrs))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
