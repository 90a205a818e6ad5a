"""Training-data cost: what one loader worker spends per sample of each source, and what the training process spends
per batch finishing deferred degradations, in the setting of a GPU run (sharp sources deferred to the trainer).

A GPU step of 16 crops of 256x256 takes about 80 ms on an H100 (docs/training.md): the loader keeps up when
workers x 1000 / (ms per sample x batch) >= steps per second, and the training process must add as little as it can,
since each millisecond there is GPU time lost when it cannot run ahead. Single-threaded (as each worker is), on
this machine's CPU; the JSON records it.

Usage:
  python benchmarks/data_speed.py [--config configs/idc_synthetic.yaml] [--set data.root=carry/data]
      [--samples 60] [--batches 10] [--batch 16] [--device cpu] [--json OUT]
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path
from typing import Any

import torch

from idc.bench import device_name
from idc.train.config import load_train_config
from idc.train.data import build_dataset, collate, finish_batch


def _per_sample_ms(dataset: Any, indices: list[int]) -> float:
    start = time.perf_counter()
    for i in indices:
        dataset[i]
    return 1000 * (time.perf_counter() - start) / len(indices)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--config", type=Path, default=Path("configs/idc_synthetic.yaml"))
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="config override (repeatable)")
    p.add_argument("--samples", type=int, default=60, help="samples timed per source (each pass)")
    p.add_argument("--batches", type=int, default=10, help="batches timed through collate and finish_batch")
    p.add_argument("--batch", type=int, default=16)
    p.add_argument("--device", default="cpu", help="where finish_batch degrades deferred samples")
    p.add_argument("--json", type=Path, default=None)
    args = p.parse_args(argv)
    torch.set_num_threads(1)  # as in a loader worker
    device = torch.device(args.device)
    config = load_train_config(args.config, args.set)

    start = time.perf_counter()
    built = build_dataset(config.data, 0, defer_degradation=True)
    build_s = time.perf_counter() - start
    mixture = built.dataset
    rows = []
    for i, (source, dataset) in enumerate(zip(config.data.sources, mixture.datasets, strict=True)):
        size = len(dataset)  # type: ignore[arg-type]
        indices = [(k * 7919) % size for k in range(args.samples)]
        first = _per_sample_ms(dataset, indices)
        again = _per_sample_ms(dataset, indices)
        rows.append({"source": i, "kind": source.kind, "ms_first_pass": first, "ms_second_pass": again})
    samples = [[mixture[b * args.batch + k] for k in range(args.batch)] for b in range(args.batches)]
    start = time.perf_counter()
    batches = [collate(s) for s in samples]
    collate_ms = 1000 * (time.perf_counter() - start) / args.batches
    finish_batch(batches[0], built.deferred, config.data.crop, device)  # warm-up
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    start = time.perf_counter()
    for b in batches:
        finish_batch(b, built.deferred, config.data.crop, device)
    host_ms = 1000 * (time.perf_counter() - start) / args.batches
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    total_ms = 1000 * (time.perf_counter() - start) / args.batches

    cpu = device_name(torch.device("cpu"))
    print(f"{args.config} ({' '.join(args.set) or 'as written'}); one thread of {cpu}; torch {torch.__version__}")
    print(f"dataset built in {build_s:.1f} s (frames decoded up front when they fit in cache_mib)")
    print(f"{'source':<8}{'kind':<8}{'ms/sample 1st pass':>20}{'2nd pass':>10}")
    for r in rows:
        print(f"{r['source']:<8}{r['kind']:<8}{r['ms_first_pass']:>20.1f}{r['ms_second_pass']:>10.1f}")
    print(f"collate: {collate_ms:.1f} ms per batch of {args.batch} (in the worker)")
    print(
        f"finish_batch on {device_name(device)}: {host_ms:.1f} ms of the training process per batch"
        + (f", {total_ms:.1f} ms until the device is done" if device.type == "cuda" else "")
    )
    if args.json:
        result = {
            "config": str(args.config),
            "overrides": args.set,
            "cpu": cpu,
            "machine": platform.machine(),
            "torch": torch.__version__,
            "device": device_name(device),
            "batch": args.batch,
            "build_s": build_s,
            "sources": rows,
            "collate_ms": collate_ms,
            "finish_batch_host_ms": host_ms,
            "finish_batch_total_ms": total_ms,
        }
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
