"""int8 inference with ONNX Runtime static quantisation: speed and quality against fp32 ONNX Runtime.

Exports the weights to ONNX (fp32), quantises them statically (QDQ format, int8 weights per output channel, uint8
activations, ranges calibrated on blurred crops of the kodak24-motion set), then, on this machine's CPU:
  - times both models at --size (median of --runs after one warm-up run, batch 1);
  - scores both on the benchmark sets (--sets, whole images) with the project's conventions (PSNR on uint8-rounded
    RGB, skimage-style SSIM), and reports the PSNR change int8 - fp32.
The issue's rule: keep int8 only if it is faster and loses at most 0.1 dB.

Usage:
  python benchmarks/int8.py [--weights DIR] [--size 1280x720] [--runs 3] [--calib 8] [--sets gopro-dev]
      [--data ../shared/data] [--limit N] [--json OUT]
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from itertools import islice
from pathlib import Path
from typing import Any

import numpy as np
import torch

from idc.bench import device_name
from idc.data.benchmark_sets import BENCHMARK_SETS
from idc.export import OnnxDeblurrer, export_onnx, quantize_int8
from idc.metrics import PSNR_CONVENTION, SSIM_CONVENTION, psnr, ssim
from idc.weights import load_model


def median_seconds(run: OnnxDeblurrer, x: torch.Tensor, runs: int) -> float:
    run(x)  # warm-up: session arena and kernel choice
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        run(x)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--weights", default=None, help="weights folder (default: the bundled default)")
    p.add_argument("--size", default="1280x720", help="WxH for timing")
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--calib", type=int, default=8, help="blurred 256x256 crops used to calibrate activation ranges")
    p.add_argument("--sets", nargs="+", default=["gopro-dev"], choices=list(BENCHMARK_SETS))
    p.add_argument("--data", type=Path, default=Path("../shared/data"))
    p.add_argument("--limit", type=int, default=None)
    p.add_argument("--json", type=Path, default=None)
    args = p.parse_args(argv)
    w, h = (int(v) for v in args.size.lower().split("x"))
    calibration = []
    for _, blurred, _ in islice(BENCHMARK_SETS["kodak24-motion"](args.data), args.calib):
        top, left = (blurred.shape[1] - 256) // 2, (blurred.shape[2] - 256) // 2
        calibration.append(blurred[None, :, top : top + 256, left : left + 256].numpy().astype(np.float32))
    with tempfile.TemporaryDirectory() as tmp:
        fp32_path, int8_path = Path(tmp) / "fp32.onnx", Path(tmp) / "int8.onnx"
        export_onnx(load_model(args.weights), fp32_path)
        quantize_int8(fp32_path, int8_path, calibration)
        runners = {"fp32": OnnxDeblurrer(fp32_path), "int8": OnnxDeblurrer(int8_path)}
        x = torch.rand(1, 3, h, w, generator=torch.Generator().manual_seed(0))
        rows: dict[str, Any] = {}
        for name, run in runners.items():
            rows[name] = {"seconds": median_seconds(run, x, args.runs), "sets": {}}
        diff = float((runners["int8"](x) - runners["fp32"](x)).abs().max())
        for set_name in args.sets:
            scores: dict[str, list[float]] = {f"{k}_{m}": [] for k in runners for m in ("psnr", "ssim")}
            blurred_psnr = []
            for _, blurred, sharp in islice(BENCHMARK_SETS[set_name](args.data), args.limit):
                blurred_psnr.append(psnr(blurred, sharp))
                for name, run in runners.items():
                    out = run(blurred)
                    scores[f"{name}_psnr"].append(psnr(out, sharp))
                    scores[f"{name}_ssim"].append(ssim(out, sharp))
            means = {k: float(np.mean(v)) for k, v in scores.items()}
            for name in runners:
                rows[name]["sets"][set_name] = {"psnr": means[f"{name}_psnr"], "ssim": means[f"{name}_ssim"]}
            rows["blurred_" + set_name] = float(np.mean(blurred_psnr))
    machine = device_name(torch.device("cpu"))
    print(f"ONNX Runtime fp32 vs static int8 (QDQ, per-channel int8 weights, uint8 activations), {machine}")
    print(
        f"time at {w}x{h}, batch 1, median of {args.runs}: fp32 {rows['fp32']['seconds']:.2f} s, "
        f"int8 {rows['int8']['seconds']:.2f} s ({rows['fp32']['seconds'] / rows['int8']['seconds']:.2f}x); "
        f"max abs diff {diff:.3g}"
    )
    for set_name in args.sets:
        f, q = rows["fp32"]["sets"][set_name], rows["int8"]["sets"][set_name]
        print(
            f"{set_name}: blurred {rows['blurred_' + set_name]:.2f} dB, fp32 {f['psnr']:.2f} dB / {f['ssim']:.4f}, "
            f"int8 {q['psnr']:.2f} dB / {q['ssim']:.4f}, change {q['psnr'] - f['psnr']:+.3f} dB"
        )
    print(f"{PSNR_CONVENTION}; SSIM = {SSIM_CONVENTION}")
    if args.json:
        record = {
            "machine": machine,
            "size": [w, h],
            "runs": args.runs,
            "calibration_crops": args.calib,
            "weights": args.weights or "bundled default",
            "max_abs_diff": diff,
            "rows": rows,
        }
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(record, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
