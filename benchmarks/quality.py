"""Quality of IDC weights on the benchmark sets, with the blurred input as baseline beside every number.

Sets (from ../shared/data; never trained on; defined in idc.data.benchmark_sets):
  gopro-dev       the 5 real GOPRO pairs in gopro/dev (frame averaging, 1280x720), full images.
  kodak24-motion  the 24 Kodak photos (768x512) with a fixed seeded camera-shake blur and noise sigma 0.01.

Metrics: PSNR on uint8-rounded RGB (peak 255); SSIM skimage-style (Gaussian sigma 1.5, per channel, uint8 RGB).
Inference in fp32 on the chosen device, whole images.

Usage:
  python benchmarks/quality.py [--weights DIR] [--sets gopro-dev kodak24-motion] [--limit N] [--json OUT]
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path

import torch

from idc.data.benchmark_sets import BENCHMARK_SETS
from idc.infer import deblur_tensor, resolve_device
from idc.metrics import PSNR_CONVENTION, SSIM_CONVENTION, psnr, ssim
from idc.weights import load_model, read_weights_config

SETS = tuple(BENCHMARK_SETS)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--weights", default=None, help="weights folder (default: the bundled default)")
    p.add_argument("--data", type=Path, default=Path("../shared/data"))
    p.add_argument("--sets", nargs="+", default=list(SETS), choices=SETS)
    p.add_argument("--limit", type=int, default=None, help="only the first N images of each set")
    p.add_argument("--device", default="auto")
    p.add_argument("--json", type=Path, default=None)
    args = p.parse_args(argv)
    if not (args.data / "gopro").is_dir():
        print(f"no benchmark data at {args.data} (needs ../shared/data)", file=sys.stderr)
        return 2
    device = resolve_device(args.device)
    model = load_model(args.weights, device=device)
    results: dict[str, object] = {
        "weights": args.weights or "bundled default",
        "weights_description": read_weights_config(args.weights).get("description", ""),
        "device": str(device),
        "machine": f"{platform.machine()} {platform.processor()}".strip(),
        "torch_threads": torch.get_num_threads(),
        "psnr": PSNR_CONVENTION,
        "ssim": SSIM_CONVENTION,
        "sets": {},
    }
    for name in args.sets:
        rows = []
        for i, (image, blurred, sharp) in enumerate(BENCHMARK_SETS[name](args.data)):
            if args.limit is not None and i >= args.limit:
                break
            start = time.perf_counter()
            restored = deblur_tensor(model, blurred.to(device)).cpu()
            seconds = time.perf_counter() - start
            rows.append(
                {
                    "image": image,
                    "psnr_blurred": psnr(blurred, sharp),
                    "psnr_restored": psnr(restored, sharp),
                    "ssim_blurred": ssim(blurred, sharp),
                    "ssim_restored": ssim(restored, sharp),
                    "seconds": seconds,
                }
            )
            r = rows[-1]
            print(
                f"  {name} {image}: {r['psnr_blurred']:.2f} -> {r['psnr_restored']:.2f} dB ({seconds:.1f} s)",
                flush=True,
            )
        mean = {k: sum(r[k] for r in rows) / len(rows) for k in rows[0] if k != "image"}
        results["sets"][name] = {"images": len(rows), "mean": mean, "per_image": rows}  # type: ignore[index]
    print(f"\nweights: {results['weights']}  ({results['weights_description']})")
    print(f"device: {device}, {results['machine']}; {PSNR_CONVENTION}; {SSIM_CONVENTION}")
    print(f"{'set':<16}{'n':>4}{'PSNR blurred':>14}{'PSNR IDC':>10}{'gain':>8}{'SSIM blurred':>14}{'SSIM IDC':>10}")
    for name, s in results["sets"].items():  # type: ignore[attr-defined]
        m = s["mean"]
        print(
            f"{name:<16}{s['images']:>4}{m['psnr_blurred']:>14.2f}{m['psnr_restored']:>10.2f}"
            f"{m['psnr_restored'] - m['psnr_blurred']:>+8.2f}{m['ssim_blurred']:>14.4f}{m['ssim_restored']:>10.4f}"
        )
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
