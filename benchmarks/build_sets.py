"""Write the benchmark sets (gopro-dev, kodak24-motion) to disk as flat blur/sharp folders of PNGs.

They are built deterministically from ../shared/data (see idc.data.benchmark_sets for the definitions) into
benchmarks/data/<set>/{blur,sharp}/ (git-ignored), where any tool, `idc eval` included, can read them.
Never train on them.

Usage: python benchmarks/build_sets.py [--data ../shared/data] [--out benchmarks/data] [--sets ...]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from idc.data.benchmark_sets import BENCHMARK_SETS, write_benchmark_set


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", type=Path, default=Path("../shared/data"))
    p.add_argument("--out", type=Path, default=Path("benchmarks/data"))
    p.add_argument("--sets", nargs="+", default=list(BENCHMARK_SETS), choices=list(BENCHMARK_SETS))
    args = p.parse_args(argv)
    if not (args.data / "kodak24").is_dir():
        print(f"no shared data at {args.data}", file=sys.stderr)
        return 2
    for name in args.sets:
        count = write_benchmark_set(name, args.data, args.out / name)
        print(f"{name}: {count} pairs in {args.out / name}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
