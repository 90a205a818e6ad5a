"""Peak inference memory per input pixel, PyTorch eager against ONNX Runtime (fp32, whole images).

Automatic tiling (`idc deblur --tile auto`) sizes tiles with one estimate, `idc.tiling.BYTES_PER_PIXEL_FP32` scaled by
the network's widths, whichever engine runs. This measures what each engine really needs: every (engine, size) runs
in a fresh child process, which loads the network, notes its peak RSS (VmHWM of /proc/self/status: ru_maxrss would
start at the parent's peak, which Linux carries across exec), deblurs one random image of that size once, and reports
(peak after - peak before) / pixels. Linux only. The ONNX model is the cached export of the weights that
`idc deblur --backend onnx` uses (made once, in `~/.cache/idc-deblur` or `$IDC_CACHE`).

Usage: python benchmarks/memory.py [--weights DIR] [--sizes 512 768] [--json OUT]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import torch

from idc.bench import device_name
from idc.export import cached_onnx
from idc.tiling import BYTES_PER_PIXEL_FP32, bytes_per_pixel
from idc.weights import load_model

ENGINES = ("torch", "onnx")


def peak_rss() -> int:
    """This process's peak resident memory in bytes (VmHWM)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError("no VmHWM in /proc/self/status (this benchmark needs Linux)")


def child(engine: str, size: int, weights: str | None, onnx_path: str) -> dict[str, Any]:
    """Runs in the child process: one whole-image inference of a size x size image; its memory per pixel."""
    from idc.export import OnnxDeblurrer
    from idc.infer import deblur_image

    image = torch.rand(3, size, size, generator=torch.Generator().manual_seed(0))
    model = load_model(weights) if engine == "torch" else OnnxDeblurrer(onnx_path)
    before = peak_rss()
    deblur_image(model, image, tile=0)
    after = peak_rss()
    return {
        "engine": engine,
        "size": size,
        "loaded_mib": before / 2**20,
        "peak_mib": after / 2**20,
        "bytes_per_pixel": (after - before) / size**2,
    }


def measure(engines: list[str], sizes: list[int], weights: str | None, onnx_path: str) -> list[dict[str, Any]]:
    rows = []
    for engine in engines:
        for size in sizes:
            cmd = [sys.executable, __file__, "--child", engine, str(size), "--onnx-file", onnx_path]
            cmd += ["--weights", weights] if weights else []
            out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
            rows.append(json.loads(out.strip().splitlines()[-1]))
            r = rows[-1]
            print(f"  {engine:5s} {size}x{size}: {r['bytes_per_pixel']:,.0f} bytes per pixel", flush=True)
    return rows


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--weights", default=None, help="weights folder (default: the bundled weights)")
    p.add_argument("--sizes", type=int, nargs="+", default=[512, 768])
    p.add_argument("--engines", nargs="+", choices=ENGINES, default=list(ENGINES))
    p.add_argument("--json", type=Path, default=None)
    p.add_argument("--child", nargs=2, metavar=("ENGINE", "SIZE"), help=argparse.SUPPRESS)
    p.add_argument("--onnx-file", default="", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.child:
        print(json.dumps(child(args.child[0], int(args.child[1]), args.weights, args.onnx_file)))
        return 0
    model = load_model(args.weights)
    estimate = bytes_per_pixel(model.config)
    del model
    onnx_path = str(cached_onnx(args.weights)[0]) if "onnx" in args.engines else ""
    print(f"peak memory per pixel, fp32, whole images (tiling assumes {estimate:,.0f}):")
    rows = measure(args.engines, args.sizes, args.weights, onnx_path)
    result = {
        "machine": device_name(torch.device("cpu")),
        "torch": torch.__version__,
        "weights": args.weights or "bundled default",
        "tiling_estimate_bytes_per_pixel": estimate,
        "full_network_constant": BYTES_PER_PIXEL_FP32,
        "rows": rows,
    }
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
