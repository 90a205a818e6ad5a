"""Write the weights (1 - alpha) * START + alpha * END as a weights folder (see idc.weights.interpolate_weights).

Usage:
  python scripts/interpolate_weights.py --start src/idc/pretrained/idc-default --end runs/x/weights --alpha 0.5 \
      --out runs/soup-0.5

Score the result with `python benchmarks/quality.py --weights OUT`; alpha chosen on the benchmark sets is chosen on
the data it is scored on, so say so wherever its numbers appear.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from idc.weights import save_interpolated_weights


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--start", type=Path, default=None, help="weights at alpha 0 (default: the bundled default)")
    p.add_argument("--end", type=Path, required=True, help="weights at alpha 1")
    p.add_argument("--alpha", type=float, required=True)
    p.add_argument("--out", type=Path, required=True)
    args = p.parse_args(argv)
    if args.out.exists():
        p.error(f"{args.out}: already exists; choose a new folder")
    save_interpolated_weights(args.start, args.end, args.alpha, args.out)
    print(f"{args.out}: (1 - {args.alpha}) x {args.start or 'bundled default'} + {args.alpha} x {args.end}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
