"""Tiled inference against whole-image inference, and peak memory of a large photo in tiles.

1. Parity: a 1280x720 GOPRO-style frame deblurred whole and in tiles (several tile sizes and overlaps); PSNR of the
   tiled output against the whole-image output (uint8-rounded). Measured for the given weights and for a randomly
   initialised network, whose output depends on far-away pixels much more than a trained one's (a worst case).
2. Memory (--big): a 4000x3000 image deblurred by `idc deblur` with automatic tiling in a child process; its peak
   RSS (ru_maxrss of the child) and wall time.

Usage: python benchmarks/tiling.py [--weights DIR] [--tiles 256 384 512] [--overlaps 64 128] [--big] [--json OUT]
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

from idc.demo import make_blurred, sample_photo
from idc.infer import deblur_tensor
from idc.metrics import psnr
from idc.models import IDC, IDCConfig
from idc.tiling import deblur_tiled
from idc.weights import load_model


def random_network(seed: int = 0) -> IDC:
    """The paper's network with Xavier initialisation on every layer, the last Fusion convolution included: a
    random map that depends on far-away pixels. (With the default ``zero_init_output`` it starts as the identity,
    which tiles perfectly and measures nothing; the runs of 2026-11-26 came before that default.)"""
    torch.manual_seed(seed)
    return IDC(IDCConfig(zero_init_output=False)).eval()


def test_frame(height: int = 720, width: int = 1280) -> torch.Tensor:
    """A blurred 1280x720 frame made from scikit-image's astronaut photo (tiled by reflection), seeded shake."""
    photo = sample_photo("astronaut")
    reps = (1, -(-height // photo.shape[1]) + 1, -(-width // photo.shape[2]) + 1)
    big = torch.cat([torch.cat([photo, photo.flip(-1)], -1)] * reps[1], -2)[:, :height]
    big = torch.cat([big, big.flip(-1)] * reps[2], -1)[:, :, :width]
    return make_blurred(big.contiguous(), seed=3)[0]


def parity(model: IDC, image: torch.Tensor, tiles: list[int], overlaps: list[int]) -> list[dict[str, Any]]:
    whole = deblur_tensor(model, image)
    rows = []
    for tile in tiles:
        for overlap in overlaps:
            start = time.perf_counter()
            tiled = deblur_tiled(model, image, tile, overlap)
            rows.append(
                {
                    "tile": tile,
                    "overlap": overlap,
                    "psnr_vs_whole": psnr(tiled, whole),
                    "seconds": time.perf_counter() - start,
                }
            )
            print(f"  tile {tile} overlap {overlap}: {rows[-1]['psnr_vs_whole']:.2f} dB vs whole", flush=True)
    return rows


def big_photo(weights: str | None) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        rng = np.random.default_rng(0)
        small = (sample_photo("coffee").permute(1, 2, 0).numpy() * 255).astype(np.uint8)
        img = Image.fromarray(small).resize((4000, 3000), Image.BICUBIC)
        noisy = np.clip(np.asarray(img, np.int16) + rng.integers(-3, 4, (3000, 4000, 3)), 0, 255).astype(np.uint8)
        Image.fromarray(noisy).save(f"{tmp}/big.png")
        cmd = [sys.executable, "-m", "idc", "deblur", f"{tmp}/big.png", "-o", f"{tmp}/out.png"]
        cmd += ["--weights", weights] if weights else []
        start = time.perf_counter()
        subprocess.run(cmd, check=True)
        seconds = time.perf_counter() - start
        peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 2**20  # KiB -> GiB
        return {"size": "4000x3000", "peak_rss_gib": peak, "seconds": seconds}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--weights", default=None)
    p.add_argument("--tiles", type=int, nargs="+", default=[256, 384, 512])
    p.add_argument("--overlaps", type=int, nargs="+", default=[64, 128])
    p.add_argument("--big", action="store_true", help="also deblur a 4000x3000 image and report peak RSS")
    p.add_argument("--json", type=Path, default=None)
    args = p.parse_args(argv)
    image = test_frame()
    result: dict[str, Any] = {
        "machine": f"{platform.machine()} CPU, {torch.get_num_threads()} threads",
        "image": "1280x720",
    }
    print(f"parity at 1280x720, weights {args.weights or 'bundled default'}:")
    result["trained"] = parity(load_model(args.weights), image, args.tiles, args.overlaps)
    print("parity at 1280x720, randomly initialised network (worst case):")
    result["random_init"] = parity(random_network(), image, args.tiles, args.overlaps)
    if args.big:
        result["big"] = big_photo(args.weights)
        big = result["big"]
        print(f"4000x3000 with automatic tiling: peak RSS {big['peak_rss_gib']:.2f} GiB, {big['seconds']:.0f} s")
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
