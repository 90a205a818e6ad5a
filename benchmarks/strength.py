"""What `idc deblur --strength` does to quality: PSNR on the benchmark sets for several strengths, from one network
run per image (the output at strength S is the input plus S times the network's change, idc.infer.apply_strength).

Strength 1 is the network's output (the paper's); 0 is the blurred input itself. PSNR on uint8-rounded RGB, whole
images, as `idc eval` computes it; the network runs once per image at --precision.

Usage:
  python benchmarks/strength.py [--weights DIR] [--sets gopro-dev kodak24-motion] [--strengths 0 0.5 1 1.5]
      [--precision bf16] [--limit N] [--json OUT]
"""

from __future__ import annotations

import argparse
import json
import sys
from itertools import islice
from pathlib import Path

import torch

from idc.data.benchmark_sets import BENCHMARK_SETS, DIAGNOSTIC_SETS
from idc.evaluate import measurement_record
from idc.infer import apply_strength, check_strength, deblur_image, resolve_device
from idc.metrics import PSNR_CONVENTION, psnr
from idc.weights import load_model

DEFAULT_STRENGTHS = [0.0, 0.25, 0.5, 0.75, 1.0, 1.25, 1.5]


def strength_table(
    model: torch.nn.Module, pairs: list[tuple[str, torch.Tensor, torch.Tensor]], strengths: list[float], precision: str
) -> dict[str, object]:
    """Per image and on average, the PSNR of the output at each strength, and which strength each image likes best."""
    per_image = []
    for name, blurred, sharp in pairs:
        with torch.no_grad():
            restored = deblur_image(model, blurred, tile=0, precision=precision)
        scores = [psnr(apply_strength(blurred, restored, s), sharp) for s in strengths]
        per_image.append({"name": name, "psnr": dict(zip(map(str, strengths), scores, strict=True))})
    mean = {str(s): sum(r["psnr"][str(s)] for r in per_image) / len(per_image) for s in strengths}
    best = [max(strengths, key=lambda s, r=r: r["psnr"][str(s)]) for r in per_image]
    return {
        "images": len(per_image),
        "mean_psnr": mean,
        "best_strength_count": {str(s): best.count(s) for s in strengths},
        "per_image": per_image,
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--weights", default=None, help="weights folder (default: the bundled default)")
    p.add_argument("--data", type=Path, default=Path("../shared/data"))
    p.add_argument("--sets", nargs="+", default=list(BENCHMARK_SETS), choices=[*BENCHMARK_SETS, *DIAGNOSTIC_SETS])
    p.add_argument("--strengths", type=float, nargs="+", default=DEFAULT_STRENGTHS)
    p.add_argument("--limit", type=int, default=None, help="only the first N images of each set")
    p.add_argument("--device", default="auto")
    p.add_argument("--precision", default="fp32", choices=["fp32", "bf16", "fp16"])
    p.add_argument("--json", type=Path, default=None)
    args = p.parse_args(argv)
    for s in args.strengths:
        check_strength(s)
    if not (args.data / "gopro").is_dir():
        print(f"no benchmark data at {args.data} (needs ../shared/data)", file=sys.stderr)
        return 2
    device = resolve_device(args.device)
    model = load_model(args.weights, device=device).eval()
    results: dict[str, object] = {**measurement_record(args.weights, device, args.precision), "sets": {}}
    sets = {}
    for name in args.sets:
        pairs = list(islice((BENCHMARK_SETS | DIAGNOSTIC_SETS)[name](args.data), args.limit))
        sets[name] = strength_table(model, pairs, args.strengths, args.precision)
    results["sets"] = sets
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(results, indent=2) + "\n")
    print(f"weights: {results['weights']}; device: {device}, {results['machine']}, {args.precision}")
    print(f"{PSNR_CONVENTION}; mean over each set's images (how many images score best at that strength)")
    print(f"| set | {' | '.join(f'strength {s:g}' for s in args.strengths)} |")
    print(f"|---|{'---|' * len(args.strengths)}")
    for name, table in sets.items():
        cells = [f"{table['mean_psnr'][str(s)]:.2f} ({table['best_strength_count'][str(s)]})" for s in args.strengths]
        print(f"| {name} ({table['images']}) | {' | '.join(cells)} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
