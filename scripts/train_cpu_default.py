"""Train the first bundled default IDC checkpoint on a CPU (a small budget; GPU-trained weights replace it later).

Data, all from ../shared/data (never the benchmark sets kodak24 and gopro/dev):
  * BSDS500 train+test photos, blurred on the fly with a seeded camera-shake kernel (31x31);
  * GOPR0477_11_00 frames averaged GOPRO-style: N in {7, 9, 11, 13} consecutive frames averaged in linear light
    (gamma 2.2), the centre frame as ground truth.
Each source gives half the crops; Gaussian noise sigma = 2/255 is added to every blurred crop (the paper's setting).
Model: the full paper network (preset "idc"), Xavier init, the paper's mixed loss over 3 scales, Adam,
linear warm-up then cosine decay to 1e-6, bf16 autocast on CPU with channels_last.

Usage:
  python scripts/train_cpu_default.py --out runs/cpu-default [--steps 1400] [--max-minutes 62]
"""

from __future__ import annotations

import argparse
import csv
import json
import logging
import math
import platform
import random
import sys
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from idc.data.degrade import add_gaussian_noise, blur
from idc.data.kernels import camera_shake_kernel
from idc.losses import MixedLoss
from idc.models import IDC, get_preset
from idc.weights import save_weights

logger = logging.getLogger("train_cpu_default")


def load_images(paths: list[Path]) -> list[torch.Tensor]:
    return [torch.from_numpy(np.array(Image.open(p).convert("RGB"))).permute(2, 0, 1).contiguous() for p in paths]


def random_geometry(x: torch.Tensor, g: torch.Generator) -> torch.Tensor:
    """Random flip and 90-degree rotation, applied identically to a stacked pair."""
    if torch.rand((), generator=g) < 0.5:
        x = x.flip(-1)
    return torch.rot90(x, int(torch.randint(4, (), generator=g)), dims=(-2, -1))


def bsds_pair(images: list[torch.Tensor], crop: int, g: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    img = images[int(torch.randint(len(images), (), generator=g))]
    k = 31
    big = crop + k - 1  # blur a larger window, keep its valid centre: no border effects in the crop
    _, h, w = img.shape
    y0 = int(torch.randint(h - big + 1, (), generator=g))
    x0 = int(torch.randint(w - big + 1, (), generator=g))
    sharp_big = img[:, y0 : y0 + big, x0 : x0 + big].float().div(255).unsqueeze(0)
    kernel = camera_shake_kernel(g, size=k, extent=(0.15, 1.0))
    blurred = blur(sharp_big, kernel)[0, :, k // 2 : k // 2 + crop, k // 2 : k // 2 + crop]
    sharp = sharp_big[0, :, k // 2 : k // 2 + crop, k // 2 : k // 2 + crop]
    return blurred, sharp


def gopro_pair(
    frames: torch.Tensor, crop: int, g: torch.Generator, gamma: float = 2.2
) -> tuple[torch.Tensor, torch.Tensor]:
    n = int(torch.tensor([7, 9, 11, 13])[torch.randint(4, (), generator=g)])
    start = int(torch.randint(frames.shape[0] - n + 1, (), generator=g))
    _, _, h, w = frames.shape
    y0 = int(torch.randint(h - crop + 1, (), generator=g))
    x0 = int(torch.randint(w - crop + 1, (), generator=g))
    window = frames[start : start + n, :, y0 : y0 + crop, x0 : x0 + crop].float().div(255)
    blurred = window.pow(gamma).mean(0).pow(1 / gamma)
    return blurred, window[n // 2]


def lr_at(step: int, total: int, peak: float, floor: float, warmup: int) -> float:
    if step < warmup:
        return peak * (step + 1) / warmup
    t = (step - warmup) / max(1, total - warmup)
    return floor + 0.5 * (peak - floor) * (1 + math.cos(math.pi * min(t, 1.0)))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", type=Path, default=Path("../shared/data"))
    p.add_argument("--out", type=Path, default=Path("runs/cpu-default"))
    p.add_argument("--preset", default="idc")
    p.add_argument("--steps", type=int, default=1400)
    p.add_argument("--batch", type=int, default=4)
    p.add_argument("--crop", type=int, default=128)
    p.add_argument("--lr", type=float, default=2e-4)
    p.add_argument("--min-lr", type=float, default=1e-6)
    p.add_argument("--warmup", type=int, default=50)
    p.add_argument("--clip", type=float, default=1.0, help="gradient-norm clipping (0: off)")
    p.add_argument("--noise", type=float, default=2 / 255)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--max-minutes", type=float, default=62.0, help="stop early (and save) after this wall time")
    p.add_argument("--gopro-frames", type=int, default=299, help="how many GOPR0477 frames to load")
    p.add_argument("--no-bf16", action="store_true")
    p.add_argument("--log-every", type=int, default=25)
    p.add_argument("--save-every", type=int, default=200)
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")

    torch.manual_seed(args.seed)
    random.seed(args.seed)
    g = torch.Generator().manual_seed(args.seed)
    bsds = load_images(sorted((args.data / "bsds500").glob("*/*.jpg")))
    frame_paths = sorted((args.data / "gopro/frames/GOPR0477_11_00").glob("*"))[: args.gopro_frames]
    frames = torch.stack(load_images(frame_paths))
    logger.info("loaded %d BSDS500 photos and %d GOPR0477 frames", len(bsds), len(frames))

    model = IDC(get_preset(args.preset)).to(memory_format=torch.channels_last).train()
    loss_fn = MixedLoss()
    opt = torch.optim.Adam(model.parameters(), lr=args.lr)
    args.out.mkdir(parents=True, exist_ok=True)
    log_file = open(args.out / "train_log.csv", "w", newline="")  # noqa: SIM115
    writer = csv.writer(log_file)
    writer.writerow(["step", "loss", "l2", "ssim", "grad", "lr", "sec_per_step", "elapsed_min"])
    start = time.time()
    sums = {"loss": 0.0, "l2": 0.0, "ssim": 0.0, "grad": 0.0}
    count, last = 0, time.time()
    step = 0
    for step in range(args.steps):
        pairs = [
            bsds_pair(bsds, args.crop, g) if i % 2 == 0 else gopro_pair(frames, args.crop, g) for i in range(args.batch)
        ]
        pairs = [random_geometry(torch.stack(pr), g) for pr in pairs]
        blurred = torch.stack([pr[0] for pr in pairs])
        sharp = torch.stack([pr[1] for pr in pairs])
        blurred = add_gaussian_noise(blurred, args.noise, g).contiguous(memory_format=torch.channels_last)
        lr = lr_at(step, args.steps, args.lr, args.min_lr, args.warmup)
        for group in opt.param_groups:
            group["lr"] = lr
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=not args.no_bf16):
            estimates = model(blurred)
        loss, terms = loss_fn([e.float() for e in estimates], sharp)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        if args.clip > 0:
            torch.nn.utils.clip_grad_norm_(model.parameters(), args.clip)
        opt.step()
        sums["loss"] += float(loss.detach())
        for k in ("l2", "ssim", "grad"):
            sums[k] += float(terms[k])
        count += 1
        if (step + 1) % args.log_every == 0:
            now = time.time()
            row = [step + 1] + [sums[k] / count for k in ("loss", "l2", "ssim", "grad")]
            writer.writerow([*row, lr, (now - last) / count, (now - start) / 60])
            log_file.flush()
            logger.info(
                "step %d loss %.4f l2 %.5f lr %.2e %.2fs/step", step + 1, row[1], row[2], lr, (now - last) / count
            )
            sums = dict.fromkeys(sums, 0.0)
            count, last = 0, now
        done = (time.time() - start) / 60 > args.max_minutes
        if (step + 1) % args.save_every == 0 or done or step + 1 == args.steps:
            meta = {
                "description": "IDC trained briefly on a 2-core CPU (first default; see docs/model-card.md)",
                "trained_on": (
                    "BSDS500 (400 photos) with camera-shake blur + GOPR0477_11_00 frame averaging, sigma 2/255"
                ),
                "training": {
                    "steps": step + 1,
                    "batch": args.batch,
                    "crop": args.crop,
                    "crops_seen": (step + 1) * args.batch,
                    "lr": args.lr,
                    "schedule": f"linear warm-up {args.warmup} steps, cosine to {args.min_lr}",
                    "precision": "bf16 autocast" if not args.no_bf16 else "fp32",
                    "wall_minutes": round((time.time() - start) / 60, 1),
                    "hardware": f"{platform.machine()} CPU, {torch.get_num_threads()} threads",
                    "command": " ".join(
                        ["python scripts/train_cpu_default.py", *(sys.argv[1:] if argv is None else argv)]
                    ),
                    "seed": args.seed,
                },
            }
            save_weights(model, args.out / "weights", metadata=meta)
            (args.out / "args.json").write_text(json.dumps({k: str(v) for k, v in vars(args).items()}, indent=2))
        if done:
            logger.info("stopping at step %d: wall-time limit of %.0f min reached", step + 1, args.max_minutes)
            break
    log_file.close()
    logger.info("done: %d steps in %.1f min", step + 1, (time.time() - start) / 60)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
