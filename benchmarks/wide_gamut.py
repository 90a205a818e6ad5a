"""Does it matter that `idc deblur` runs the network on a wide-gamut photo's coded values?

The network was trained on sRGB photos. A photo in another RGB colour space (Display P3 from phones, Adobe RGB from
cameras, ProPhoto RGB from raw developers' 16-bit exports) is deblurred in its own coded values, and its profile
carried to the output. Those values mean other colours and another tone curve than the sRGB the network learnt on.
This measures what that costs: kodak24-motion (sRGB blur of sRGB photos, ../shared/data) encoded into each space at
16 bits, as an export would hold it, deblurred in its coded values, decoded back to sRGB and scored against the
sharp photo; beside it, the same photos deblurred in sRGB (what converting to sRGB for the network, and back after,
would give: every Kodak colour lies inside each of these gamuts).

Metrics as `idc eval` computes them: PSNR on uint8-rounded sRGB; skimage-style SSIM. Whole images, fp32.

Usage: python benchmarks/wide_gamut.py [--weights DIR] [--limit N] [--json OUT]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from itertools import islice
from pathlib import Path

import numpy as np
import torch

from idc.data.benchmark_sets import BENCHMARK_SETS
from idc.data.frames import from_linear, to_linear
from idc.icc import SRGB_CHROMATICITY, rgb_to_xyz_d50
from idc.infer import deblur_image, resolve_device
from idc.metrics import PSNR_CONVENTION, SSIM_CONVENTION, psnr, ssim
from idc.weights import load_model


def srgb_decode(v: np.ndarray) -> np.ndarray:
    return to_linear(torch.from_numpy(v), "srgb").numpy()


def srgb_encode(v: np.ndarray) -> np.ndarray:
    return from_linear(torch.from_numpy(v), "srgb").numpy()  # clamped to [0, 1] first


def romm_decode(v: np.ndarray) -> np.ndarray:  # ProPhoto RGB: gamma 1.8 with a linear toe (ROMM RGB)
    return np.where(v < 16 / 512, v / 16, v**1.8)


def romm_encode(v: np.ndarray) -> np.ndarray:
    v = np.clip(v, 0.0, 1.0)
    return np.where(v < 1 / 512, v * 16, v ** (1 / 1.8))


ADOBE_GAMMA = 563 / 256
# name: (white, red, green, blue chromaticities; decode; encode)
SPACES = {
    "Display P3": ((0.3127, 0.3290, 0.680, 0.320, 0.265, 0.690, 0.150, 0.060), srgb_decode, srgb_encode),
    "Adobe RGB (1998)": (
        (0.3127, 0.3290, 0.64, 0.33, 0.21, 0.71, 0.15, 0.06),
        lambda v: v**ADOBE_GAMMA,
        lambda v: np.clip(v, 0.0, 1.0) ** (1 / ADOBE_GAMMA),
    ),
    "ProPhoto RGB": ((0.3457, 0.3585, 0.7347, 0.2653, 0.1596, 0.8404, 0.0366, 0.0001), romm_decode, romm_encode),
}


def converters(name: str) -> tuple:
    """(sRGB to the space's 16-bit coded values, the space's coded values to sRGB), on (3, H, W) arrays."""
    chromaticity, decode, encode = SPACES[name]
    to_space = np.linalg.inv(rgb_to_xyz_d50(chromaticity)) @ rgb_to_xyz_d50(SRGB_CHROMATICITY)
    to_srgb = np.linalg.inv(to_space)

    def into(rgb: np.ndarray) -> np.ndarray:
        coded = encode(np.einsum("ij,jhw->ihw", to_space, srgb_decode(rgb)))
        return np.round(coded * 65535) / 65535

    def back(coded: np.ndarray) -> np.ndarray:
        return srgb_encode(np.einsum("ij,jhw->ihw", to_srgb, decode(np.clip(coded, 0.0, 1.0))))

    return into, back


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--weights", default=None, help="weights folder (default: the bundled default)")
    p.add_argument("--data", type=Path, default=Path("../shared/data"))
    p.add_argument("--limit", type=int, default=None, help="only the first N photos")
    p.add_argument("--json", type=Path, default=None)
    args = p.parse_args(argv)
    if not (args.data / "kodak24").is_dir():
        print(f"no benchmark data at {args.data} (needs ../shared/data)", file=sys.stderr)
        return 2
    device = resolve_device("cpu")
    model = load_model(args.weights, device=device)
    pairs = list(islice(BENCHMARK_SETS["kodak24-motion"](args.data), args.limit))
    rows: dict[str, dict[str, list[float]]] = {}
    start = time.perf_counter()

    def score(key: str, restored: np.ndarray, sharp: torch.Tensor) -> None:
        out = torch.from_numpy(np.ascontiguousarray(restored, dtype=np.float32))
        row = rows.setdefault(key, {"psnr": [], "ssim": []})
        row["psnr"].append(float(psnr(out, sharp)))
        row["ssim"].append(float(ssim(out, sharp)))

    for _, blurred, sharp in pairs:
        blurred = blurred.float()
        score("blurred", blurred.numpy(), sharp)
        score("sRGB (deblurred in sRGB)", deblur_image(model, blurred).numpy(), sharp)
        for name in SPACES:
            into, back = converters(name)
            coded = torch.from_numpy(into(blurred.numpy().astype(np.float64)).astype(np.float32))
            score(f"{name}, coded values", back(deblur_image(model, coded).numpy().astype(np.float64)), sharp)
            score(f"{name}, coded values, not deblurred", back(coded.numpy().astype(np.float64)), sharp)
    means = {key: {m: float(np.mean(v)) for m, v in row.items()} for key, row in rows.items()}
    print(f"kodak24-motion, {len(pairs)} photos; {PSNR_CONVENTION} (after decoding to sRGB); SSIM = {SSIM_CONVENTION}")
    print(f"{'input to the network':<48}{'PSNR':>8}{'SSIM':>8}")
    for key, m in means.items():
        print(f"{key:<48}{m['psnr']:>8.2f}{m['ssim']:>8.4f}")
    print(f"{time.perf_counter() - start:.0f} s")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        record = {"set": "kodak24-motion", "photos": len(pairs), "weights": args.weights or "bundled default"}
        args.json.write_text(json.dumps({**record, "means": means, "per_photo": rows}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
