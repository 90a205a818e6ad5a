"""Draw docs/images/kernels.png (sample blur kernels) and docs/images/pairs.png (sample degraded pairs); with
--compare, only docs/images/default-compare.jpg: the `idc demo` blur of three photos deblurred by each given weights.

Photos come from scikit-image's bundled data, so the figures contain no project data. Deterministic (fixed seeds).

Usage: python scripts/make_doc_figures.py [--out docs/images] [--compare LABEL=WEIGHTS ...]
  (WEIGHTS "default" is the bundled default)
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch
from PIL import Image, ImageDraw

from idc.data.degrade import (
    add_gaussian_noise,
    add_poisson_gaussian_noise,
    blur,
    jpeg_roundtrip,
    smooth_weight_maps,
    spatially_varying_blur,
)
from idc.data.kernels import camera_shake_kernel, disk_kernel, gaussian_kernel, linear_motion_kernel
from idc.demo import make_blurred, sample_photo
from idc.metrics import to_uint8


def _kernel_tile(k: torch.Tensor, size: int = 31, scale: int = 4) -> Image.Image:
    pad = (size - k.shape[-1]) // 2
    k = torch.nn.functional.pad(k, (pad, pad, pad, pad))
    a = (k / k.max() * 255).round().to(torch.uint8).numpy()
    return Image.fromarray(a, "L").resize((size * scale, size * scale), Image.NEAREST).convert("RGB")


def _grid(tiles: list[tuple[str, Image.Image]], columns: int) -> Image.Image:
    w, h = tiles[0][1].size
    cap, gap = 16, 6
    rows = (len(tiles) + columns - 1) // columns
    canvas = Image.new("RGB", (columns * (w + gap) - gap, rows * (h + cap + gap) - gap), "white")
    draw = ImageDraw.Draw(canvas)
    for i, (label, tile) in enumerate(tiles):
        x, y = (i % columns) * (w + gap), (i // columns) * (h + cap + gap)
        draw.text((x + 2, y + 2), label, fill="black")
        canvas.paste(tile, (x, y + cap))
    return canvas


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", type=Path, default=Path("docs/images"))
    p.add_argument("--compare", nargs="+", default=[], metavar="LABEL=WEIGHTS", help="draw default-compare.jpg")
    args = p.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    if args.compare:
        pairs = [item.partition("=")[::2] for item in args.compare]
        if any(not label or not path for label, path in pairs):
            p.error("--compare takes LABEL=WEIGHTS items")
        compare_figure([(label, None if path == "default" else Path(path)) for label, path in pairs], args.out)
        return 0

    kernels = [(f"camera shake, seed {s}", camera_shake_kernel(torch.Generator().manual_seed(s), 31)) for s in range(4)]
    kernels += [
        ("linear 20 px, 30 deg", linear_motion_kernel(20.0, 30.0)),
        ("Gaussian sigma 2.5", gaussian_kernel(2.5)),
        ("defocus disk r 6", disk_kernel(6.0)),
        ("linear 12 px, 100 deg", linear_motion_kernel(12.0, 100.0)),
    ]
    _grid([(label, _kernel_tile(k)) for label, k in kernels], columns=4).save(args.out / "kernels.png")

    sharp = sample_photo("chelsea")[:, 20:276, 100:356]
    x = sharp[None]
    g = torch.Generator().manual_seed(0)
    shake = camera_shake_kernel(torch.Generator().manual_seed(2), 31)
    pieces = [
        ("sharp", sharp),
        ("camera shake + noise 2/255", add_gaussian_noise(blur(x, shake), 2 / 255, g)[0]),
        ("linear 20 px + noise", add_gaussian_noise(blur(x, linear_motion_kernel(20.0, 30.0)), 2 / 255, g)[0]),
        ("defocus r 6 + noise", add_gaussian_noise(blur(x, disk_kernel(6.0)), 2 / 255, g)[0]),
        (
            "spatially varying (3 kernels)",
            spatially_varying_blur(
                x,
                torch.stack([shake, linear_motion_kernel(25.0, 100.0, 31), gaussian_kernel(1.0, 31)]),
                smooth_weight_maps(3, 256, 256, torch.Generator().manual_seed(1)),
            )[0],
        ),
        (
            "shake + Poisson (peak 60) + JPEG q 40",
            jpeg_roundtrip(add_poisson_gaussian_noise(blur(x, shake), 60.0, 0.0, g).clamp(0, 1), 40)[0],
        ),
    ]
    tiles = [(label, Image.fromarray(to_uint8(img.clamp(0, 1)))) for label, img in pieces]
    _grid(tiles, columns=3).save(args.out / "pairs.png")
    print(f"wrote {args.out / 'kernels.png'} and {args.out / 'pairs.png'}")
    return 0


def compare_figure(weights: list[tuple[str, Path | None]], out: Path, crop: int = 176) -> None:
    """One row per photo (astronaut, chelsea, coffee; the `idc demo` blur, seed 0, noise 0.01): blurred, each
    weights' output, sharp; whole-image PSNR (uint8-rounded RGB) in each label; a centre crop shown at 2x."""
    from idc.infer import deblur_tensor
    from idc.metrics import psnr
    from idc.weights import load_model

    models = [(label, load_model(path)) for label, path in weights]
    tiles = []
    for name in ("astronaut", "chelsea", "coffee"):
        sharp = sample_photo(name)
        blurred, _ = make_blurred(sharp, seed=0, noise=0.01)
        _, h, w = sharp.shape
        top, left = (h - crop) // 2, (w - crop) // 2

        shown = [(f"{name}: blurred", blurred), *((label, deblur_tensor(m, blurred)) for label, m in models)]
        for label, img in shown:
            piece = Image.fromarray(to_uint8(img[:, top : top + crop, left : left + crop].clamp(0, 1)))
            scored = f"{label} {psnr(img.clamp(0, 1), sharp):.2f} dB"
            tiles.append((scored, piece.resize((2 * crop, 2 * crop), Image.NEAREST)))
        piece = Image.fromarray(to_uint8(sharp[:, top : top + crop, left : left + crop]))
        tiles.append(("sharp", piece.resize((2 * crop, 2 * crop), Image.NEAREST)))
    _grid(tiles, columns=len(models) + 2).save(out / "default-compare.jpg", quality=90)
    print(f"wrote {out / 'default-compare.jpg'}")


if __name__ == "__main__":
    raise SystemExit(main())
