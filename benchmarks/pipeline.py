"""A folder of photos through `idc deblur`'s library call, one image at a time against the pipeline that overlaps
reading, the network and writing (idc.batch.deblur_files).

Makes --count photos of --size (skimage's astronaut tiled, JPEG quality 95) and deblurs them into --format with the
bundled weights or a randomly initialised preset (--preset tiny stands in for a network as fast as the paper's on a
GPU, where reading and writing a photo take longer than the network). Also times reading and writing alone, once per
image. Prints a table and writes JSON.

Usage: python benchmarks/pipeline.py [--count 8] [--size 4000x3000] [--format png] [--preset tiny | --weights DIR]
                                     [--device cpu] [--precision fp32] [--json OUT]
"""

from __future__ import annotations

import argparse
import json
import platform
import tempfile
import time
from pathlib import Path

import numpy as np
import skimage.data
import torch
from PIL import Image

from idc.batch import Job, deblur_files
from idc.bench import cpu_model
from idc.infer import resolve_device
from idc.io import read_image, write_like
from idc.models import IDC, get_preset
from idc.weights import load_model


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--count", type=int, default=8)
    p.add_argument("--size", default="4000x3000", help="WIDTHxHEIGHT of each photo")
    p.add_argument("--format", default="png", choices=["png", "jpg", "tif"])
    p.add_argument("--preset", default=None, help="a randomly initialised preset (e.g. tiny) instead of weights")
    p.add_argument("--weights", default=None, help="weights folder (default: bundled)")
    p.add_argument("--device", default="cpu")
    p.add_argument("--precision", default="fp32")
    p.add_argument("--json", type=Path, default=None)
    args = p.parse_args(argv)
    w, h = (int(v) for v in args.size.lower().split("x"))
    device = resolve_device(args.device)
    torch.manual_seed(0)
    model = IDC(get_preset(args.preset)).to(device).eval() if args.preset else load_model(args.weights, device=device)
    network = f"random {args.preset}" if args.preset else (args.weights or "bundled weights")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        photo = np.tile(skimage.data.astronaut(), (h // 512 + 1, w // 512 + 1, 1))[:h, :w]
        sources = []
        for i in range(args.count):
            sources.append(folder / "in" / f"photo{i:02d}.jpg")
            sources[-1].parent.mkdir(exist_ok=True)
            Image.fromarray(np.roll(photo, 37 * i, axis=1)).save(sources[-1], quality=95)
        read_s, write_s = [], []
        for source in sources:  # reading and writing alone, as idc deblur does them
            start = time.perf_counter()
            image = read_image(source)
            read_s.append(time.perf_counter() - start)
            start = time.perf_counter()
            write_like(folder / f"alone.{args.format}", image.rgb, image)
            write_s.append(time.perf_counter() - start)
        deblur_files(model, [Job(sources[0], folder / f"warm.{args.format}")], progress=False, precision=args.precision)
        for pipeline in (False, True):
            out = folder / ("pipelined" if pipeline else "sequential")
            jobs = [Job(s, out / f"{s.stem}.{args.format}") for s in sources]
            report = deblur_files(model, jobs, progress=False, precision=args.precision, pipeline=pipeline)
            assert report.ok, report.failed
            rows.append(
                {
                    "mode": "pipelined" if pipeline else "one at a time",
                    "wall_s": report.seconds,
                    "wall_s_per_image": report.seconds / args.count,
                    "work_s_per_image": sum(s for _, s in report.done) / args.count,
                }
            )
        one, overlapped = sorted((folder / "sequential").iterdir()), sorted((folder / "pipelined").iterdir())
        for a, b in zip(one, overlapped, strict=True):
            assert a.read_bytes() == b.read_bytes(), f"{a.name}: the pipeline wrote other bytes"
    io_s = (sum(read_s) + sum(write_s)) / args.count
    print(
        f"{args.count} photos of {w}x{h} (JPEG) -> {args.format.upper()}, {network}, {device.type} {args.precision}; "
        f"reading {sum(read_s) / args.count:.2f} s + writing {sum(write_s) / args.count:.2f} s per image alone"
    )
    print("| mode | wall time | per image | reading + network + writing per image | speed-up |")
    print("|---|---|---|---|---|")
    for row in rows:
        speed = rows[0]["wall_s"] / row["wall_s"]
        print(
            f"| {row['mode']} | {row['wall_s']:.1f} s | {row['wall_s_per_image']:.2f} s | "
            f"{row['work_s_per_image']:.2f} s | {speed:.2f}x |"
        )
    print("outputs: the same bytes either way")
    if args.json:
        record = {
            "count": args.count,
            "size": [w, h],
            "format": args.format,
            "network": network,
            "device": device.type,
            "precision": args.precision,
            "machine": cpu_model() or platform.processor(),
            "torch": torch.__version__,
            "threads": torch.get_num_threads(),
            "read_s_per_image": sum(read_s) / args.count,
            "write_s_per_image": sum(write_s) / args.count,
            "io_s_per_image": io_s,
            "rows": rows,
        }
        args.json.write_text(json.dumps(record, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
