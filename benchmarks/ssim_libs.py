"""Compare the training loss's differentiable SSIM (idc.losses.ssim_map) with libraries: pytorch-msssim and kornia
(kornia computed it until 2026-11-27), each where installed.

Measures agreement with skimage's reference SSIM (Gaussian sigma 1.5, per channel, data_range 1; the map's mean 5
pixels inside the borders, as skimage averages it) and the forward+backward time of each on a training-sized batch.
Prints a table and writes JSON.

Usage: python benchmarks/ssim_libs.py [--json OUT] [--batch 4] [--size 256]
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np
import torch
from skimage.metrics import structural_similarity

from idc.bench import cpu_model


def _time(fn, repeats: int) -> float:
    fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return float(np.median(times))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--json", default=None)
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args(argv)

    from idc.losses import ssim_map

    g = torch.Generator().manual_seed(0)
    x = torch.rand(args.batch, 3, args.size, args.size, generator=g)
    y = (x + 0.1 * torch.randn(x.shape, generator=g)).clamp(0, 1)

    ref = float(
        np.mean(
            [
                structural_similarity(
                    x[i].permute(1, 2, 0).numpy(),
                    y[i].permute(1, 2, 0).numpy(),
                    channel_axis=2,
                    data_range=1.0,
                    gaussian_weights=True,
                    sigma=1.5,
                    use_sample_covariance=False,
                )
                for i in range(args.batch)
            ]
        )
    )

    def own_val(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        return ssim_map(a, b)[..., 5:-5, 5:-5].mean()

    candidates = [("idc.losses", own_val)]
    try:
        import pytorch_msssim

        candidates.append(("pytorch-msssim", lambda a, b: pytorch_msssim.ssim(a, b, data_range=1.0, size_average=True)))
    except ImportError:
        print("pytorch-msssim not installed: skipped")
    try:
        import kornia

        candidates.append(
            ("kornia", lambda a, b: kornia.metrics.ssim(a, b, window_size=11, max_val=1.0)[..., 5:-5, 5:-5].mean())
        )
    except ImportError:
        print("kornia not installed: skipped")

    rows = []
    for name, fn in candidates:
        value = float(fn(x, y))

        def step(fn=fn) -> None:
            a = x.clone().requires_grad_(True)
            (1 - fn(a, y)).backward()

        rows.append(
            {
                "library": name,
                "ssim": value,
                "abs_diff_vs_skimage": abs(value - ref),
                "fwd_bwd_s": _time(step, args.repeats),
            }
        )

    print(f"SSIM (Gaussian 11x11, sigma 1.5) on {args.batch}x3x{args.size}x{args.size}, skimage reference = {ref:.5f}")
    print(f"{'library':<16}{'ssim':>10}{'|diff|':>10}{'fwd+bwd ms':>12}")
    for r in rows:
        print(f"{r['library']:<16}{r['ssim']:>10.5f}{r['abs_diff_vs_skimage']:>10.5f}{1000 * r['fwd_bwd_s']:>12.1f}")
    print(f"machine: {cpu_model()}, torch threads {torch.get_num_threads()}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"skimage": ref, "rows": rows, "batch": args.batch, "size": args.size}, f, indent=2)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
