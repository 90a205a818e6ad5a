"""Fill the git-ignored folder carry/ for a GPU training run on the lent machine (see scripts/gpu_train.sh).

carry/data/ mirrors ../shared/data's layout (so configs/idc_synthetic.yaml works with data.root=carry/data):
all BSDS500 photos, then as many consecutive GOPR0477_11_00 frames as fit the budget (the device's working tree,
repo included, must stay under 64 MiB). carry/wheels/ gets the wheels the device's Python lacks (kornia and
kornia_rs, for CPython 3.12 on x86-64 Linux).

Usage: python scripts/prepare_gpu_carry.py [--data ../shared/data] [--out carry] [--budget-mib 44] [--no-wheels]
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
from pathlib import Path

WHEELS = ["kornia==0.9.0", "kornia_rs==0.2.0"]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", type=Path, default=Path("../shared/data"))
    p.add_argument("--out", type=Path, default=Path("carry"))
    p.add_argument("--budget-mib", type=float, default=44.0, help="data budget (wheels and repo come on top)")
    p.add_argument("--no-wheels", action="store_true")
    args = p.parse_args(argv)
    budget = int(args.budget_mib * 2**20)
    data_out = args.out / "data"
    if data_out.exists():
        shutil.rmtree(data_out)
    used = 0
    photos = sorted((args.data / "bsds500").glob("*/*.jpg"))
    frames = sorted((args.data / "gopro/frames/GOPR0477_11_00").glob("*"))
    if not photos or not frames:
        print(f"{args.data}: BSDS500 photos or GOPR0477_11_00 frames not found", file=sys.stderr)
        return 2
    copied = {"photos": 0, "frames": 0}
    for kind, files in (("photos", photos), ("frames", frames)):
        for f in files:
            size = f.stat().st_size
            if used + size > budget:
                break
            target = data_out / f.relative_to(args.data)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(f, target)
            used += size
            copied[kind] += 1
    print(f"{data_out}: {copied['photos']} photos, {copied['frames']} consecutive frames, {used / 2**20:.1f} MiB")
    if not args.no_wheels:
        wheels = args.out / "wheels"
        wheels.mkdir(parents=True, exist_ok=True)
        cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", "--python-version", "3.12"]
        cmd += ["--implementation", "cp", "-d", str(wheels)]
        for tag in ("manylinux_2_28_x86_64", "manylinux_2_17_x86_64", "manylinux2014_x86_64"):
            cmd += ["--platform", tag]
        subprocess.run([*cmd, *WHEELS], check=True)
        print(f"{wheels}: {', '.join(sorted(w.name for w in wheels.glob('*.whl')))}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
