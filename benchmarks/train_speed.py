"""Training speed: optimiser steps per second and crops per second of IDC, and data-loader throughput.

Model steps use random tensors on the device (forward, mixed loss over all scales, backward, Adam step), timed
after warm-up with CUDA synchronisation. On CUDA each row also counts the host synchronisations of one step (0 is
right, as in the training loop). `--loss kornia` times the loss as it was until
2026-11-27 (kornia's SSIM and gradients, which copy a small tensor from the host on each call; needs kornia).
The data loader is timed separately on a training config's sources, so you can see whether data keeps up with the
GPU. `--adam foreach` times Adam as the loop ran it until 2026-11-27 (one kernel per operation over all tensors);
the loop now uses the fused Adam (default here too). Prints a table and writes JSON.

Usage:
  python benchmarks/train_speed.py [--preset idc] [--batch 16] [--crop 256] [--steps 10]
      [--precision fp32 bf16] [--channels-last both] [--compile] [--loss own kornia]
      [--adam fused foreach]
      [--data-config configs/idc_synthetic.yaml] [--json OUT]
"""

from __future__ import annotations

import argparse
import itertools
import json
import time
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from pathlib import Path
from typing import Any

import torch

import idc.losses
from idc.bench import device_name
from idc.losses import MixedLoss
from idc.models import IDC, get_preset
from idc.train.loop import host_syncs

LOSSES = ("own", "kornia")
ADAMS = ("fused", "foreach")


@contextmanager
def loss_terms(kind: str) -> Iterator[None]:
    """With ``kornia``: the mixed loss computes SSIM and the gradients with kornia, as it did until 2026-11-27."""
    if kind == "own":
        yield
        return
    import kornia

    saved = idc.losses.ssim_map, idc.losses.image_gradients
    idc.losses.ssim_map = (
        lambda x, y, window_size=11: kornia.metrics.ssim(  # type: ignore[assignment]
            x.float(), y.float(), window_size=min(window_size, 2 * min(x.shape[-2:]) - 1), max_val=1.0
        )
    )
    idc.losses.image_gradients = lambda x: kornia.filters.spatial_gradient(x.float(), mode="diff", order=1)
    try:
        yield
    finally:
        idc.losses.ssim_map, idc.losses.image_gradients = saved


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def time_steps(
    preset: str,
    batch: int,
    crop: int,
    steps: int,
    warmup: int,
    precision: str,
    channels_last: bool,
    compile: bool,
    device: torch.device,
    adam: str = "fused",
) -> dict[str, Any]:
    torch.manual_seed(0)
    model = IDC(get_preset(preset)).to(device)
    fmt = torch.channels_last if channels_last else torch.contiguous_format
    model = model.to(memory_format=fmt)  # type: ignore[call-overload]
    net = torch.compile(model) if compile else model
    opt = torch.optim.Adam(model.parameters(), lr=1e-4, fused=adam == "fused", foreach=adam == "foreach")
    loss_fn = MixedLoss()
    x = torch.rand(batch, 3, crop, crop, device=device).contiguous(memory_format=fmt)
    y = torch.rand(batch, 3, crop, crop, device=device)
    dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(precision)

    def step() -> None:
        ctx = torch.autocast(device.type, dtype=dtype) if dtype else nullcontext()
        with ctx:
            out = net(x)
        loss, _ = loss_fn([o.float() for o in out], y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    for _ in range(warmup):
        step()
    _sync(device)
    syncs = None
    if device.type == "cuda":
        with host_syncs() as counted:
            step()
        syncs = counted()
        _sync(device)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    start = time.perf_counter()
    for _ in range(steps):
        step()
    _sync(device)
    seconds = (time.perf_counter() - start) / steps
    peak = torch.cuda.max_memory_allocated(device) / 2**30 if device.type == "cuda" else None
    return {
        "precision": precision,
        "channels_last": channels_last,
        "compile": compile,
        "adam": adam,
        "it_per_s": 1 / seconds,
        "crops_per_s": batch / seconds,
        "ms_per_step": 1000 * seconds,
        "peak_gib": peak,
        "host_syncs_per_step": syncs,
    }


def time_loader(config_path: Path, batches: int, batch: int, workers: int) -> dict[str, Any]:
    from torch.utils.data import DataLoader

    from idc.train.config import load_train_config
    from idc.train.data import EpochBatchSampler, build_dataset, collate

    config = load_train_config(config_path)
    built = build_dataset(config.data, 0, defer_degradation=False)
    sampler = EpochBatchSampler(len(built.dataset), batch, 0, 0)
    loader = DataLoader(built.dataset, batch_sampler=sampler, num_workers=workers, collate_fn=collate)
    it = iter(loader)
    next(it)  # worker start-up excluded
    start = time.perf_counter()
    n = 0
    for _ in range(batches):
        try:
            next(it)
        except StopIteration:
            break
        n += 1
    seconds = time.perf_counter() - start
    return {"config": str(config_path), "workers": workers, "batches": n, "crops_per_s": n * batch / seconds}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--preset", default="idc")
    p.add_argument("--batch", type=int, default=16)
    p.add_argument("--crop", type=int, default=256)
    p.add_argument("--steps", type=int, default=10)
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--precision", nargs="+", default=["fp32", "bf16"], choices=["fp32", "bf16", "fp16"])
    p.add_argument("--channels-last", default="both", choices=["on", "off", "both"])
    p.add_argument("--compile", action="store_true", help="also time torch.compile")
    p.add_argument("--loss", nargs="+", default=["own"], choices=LOSSES, help="own (default) and/or kornia (the old)")
    p.add_argument("--adam", nargs="+", default=["fused"], choices=ADAMS, help="fused (the loop's) and/or foreach")
    p.add_argument("--device", default="auto")
    p.add_argument("--data-config", type=Path, default=None, help="also time the data loader of this config")
    p.add_argument("--data-workers", type=int, default=4)
    p.add_argument("--data-batches", type=int, default=10)
    p.add_argument("--json", type=Path, default=None)
    args = p.parse_args(argv)
    device = torch.device(
        "cuda" if args.device == "auto" and torch.cuda.is_available() else args.device.replace("auto", "cpu")
    )
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True
    layouts = {"on": [True], "off": [False], "both": [False, True]}[args.channels_last]
    rows = []
    for loss, adam, precision, cl, comp in itertools.product(
        args.loss, args.adam, args.precision, layouts, [False, True] if args.compile else [False]
    ):
        with loss_terms(loss):
            row = time_steps(
                args.preset, args.batch, args.crop, args.steps, args.warmup, precision, cl, comp, device, adam
            )
        rows.append(row | {"loss": loss})
    name = device_name(device)
    print(f"IDC preset {args.preset}, batch {args.batch} x {args.crop}x{args.crop}; {name}; torch {torch.__version__}")
    print(f"{args.steps} timed steps after {args.warmup} warm-up (forward, loss over all scales, backward, Adam)")
    print(
        f"{'loss':<8}{'adam':<9}{'precision':<10}{'channels_last':>14}{'compile':>9}{'it/s':>9}{'crops/s':>10}{'ms/step':>10}"
        f"{'peak GiB':>10}{'syncs':>7}"
    )
    for r in rows:
        peak = f"{r['peak_gib']:.2f}" if r["peak_gib"] is not None else "-"
        syncs = "-" if r["host_syncs_per_step"] is None else str(r["host_syncs_per_step"])
        print(
            f"{r['loss']:<8}{r['adam']:<9}{r['precision']:<10}{r['channels_last']!s:>14}{r['compile']!s:>9}{r['it_per_s']:>9.3f}"
            f"{r['crops_per_s']:>10.2f}{r['ms_per_step']:>10.1f}{peak:>10}{syncs:>7}"
        )
    result: dict[str, Any] = {
        "device": name,
        "torch": torch.__version__,
        "preset": args.preset,
        "batch": args.batch,
        "crop": args.crop,
        "rows": rows,
    }
    if args.data_config:
        loader = time_loader(args.data_config, args.data_batches, args.batch, args.data_workers)
        rate = loader["crops_per_s"]
        print(f"data loader ({args.data_config}, {args.data_workers} workers, CPU degradations): {rate:.1f} crops/s")
        result["loader"] = loader
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
