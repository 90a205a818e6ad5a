"""Fill the git-ignored folder carry/ for a GPU training run on the lent machine (see scripts/gpu_train.sh).

carry/data/ mirrors ../shared/data's layout (so configs/idc_synthetic.yaml works with data.root=carry/data):
all BSDS500 photos, then as many consecutive GOPR0477_11_00 frames as fit the budget. carry/wheels/ gets the wheels
the device's Python lacks (kornia and kornia_rs, for CPython 3.12 on x86-64 Linux), fetched first.

The device takes at most 64 MiB of working tree: the repository's files (tracked, and untracked ones git does not
ignore) plus everything carried. The default data budget is what is left of that after the repository, the wheels
and a 1 MiB margin, so it shrinks by itself as the repository grows.

More real blur in the same space: --photos N keeps N BSDS500 photos (evenly spread over the sorted list) and
--frame-quality Q re-encodes the frames as JPEG of quality Q without chroma subsampling (at 85, about 78 KiB a frame
instead of 160, so all 299 fit beside 200 photos).

Usage: python scripts/prepare_gpu_carry.py [--data ../shared/data] [--out carry] [--budget-mib auto|N] [--no-wheels]
           [--photos N] [--frame-quality Q]
"""

from __future__ import annotations

import argparse
import io
import shutil
import subprocess
import sys
from pathlib import Path

from PIL import Image

WHEELS = ["kornia==0.9.0", "kornia_rs==0.2.0"]
DEVICE_TREE_LIMIT = 64 * 2**20
MARGIN = 2**20


def repo_bytes(repo: Path) -> int:
    """Bytes of the files that travel with the working tree: tracked ones and untracked ones git does not ignore."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=repo,
        check=True,
        capture_output=True,
    ).stdout.split(b"\0")
    return sum((repo / name.decode()).stat().st_size for name in listed if name and (repo / name.decode()).is_file())


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", type=Path, default=Path("../shared/data"))
    p.add_argument("--out", type=Path, default=Path("carry"))
    p.add_argument("--budget-mib", default="auto", help="data budget in MiB (default auto: 64 MiB less the rest)")
    p.add_argument("--no-wheels", action="store_true")
    p.add_argument("--photos", type=int, default=None, help="BSDS500 photos to carry (default: all)")
    p.add_argument("--frame-quality", type=int, default=None, help="re-encode frames as JPEG of this quality")
    args = p.parse_args(argv)
    if args.photos is not None and args.photos < 1:
        p.error("--photos must be at least 1")
    if args.frame_quality is not None and not 1 <= args.frame_quality <= 100:
        p.error("--frame-quality must be between 1 and 100")
    wheels = args.out / "wheels"
    if not args.no_wheels:
        wheels.mkdir(parents=True, exist_ok=True)
        cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", "--python-version", "3.12"]
        cmd += ["--implementation", "cp", "-d", str(wheels)]
        for tag in ("manylinux_2_28_x86_64", "manylinux_2_17_x86_64", "manylinux2014_x86_64"):
            cmd += ["--platform", tag]
        subprocess.run([*cmd, *WHEELS], check=True)
        print(f"{wheels}: {', '.join(sorted(w.name for w in wheels.glob('*.whl')))}")
    wheel_bytes = sum(w.stat().st_size for w in wheels.glob("*.whl")) if wheels.is_dir() else 0
    if args.budget_mib == "auto":
        repo = repo_bytes(Path(__file__).resolve().parents[1])
        budget = DEVICE_TREE_LIMIT - repo - wheel_bytes - MARGIN
        print(
            f"budget: 64 MiB - repository {repo / 2**20:.1f} - wheels {wheel_bytes / 2**20:.1f} - margin 1"
            f" = {budget / 2**20:.1f} MiB of data"
        )
    else:
        budget = int(float(args.budget_mib) * 2**20)
    if budget <= 0:
        print("no room left for data under the device's 64 MiB limit", file=sys.stderr)
        return 2
    data_out = args.out / "data"
    if data_out.exists():
        shutil.rmtree(data_out)
    used = 0
    photos = sorted((args.data / "bsds500").glob("*/*.jpg"))
    frames = sorted((args.data / "gopro/frames/GOPR0477_11_00").glob("*"))
    if not photos or not frames:
        print(f"{args.data}: BSDS500 photos or GOPR0477_11_00 frames not found", file=sys.stderr)
        return 2
    if args.photos is not None and args.photos < len(photos):
        step = len(photos) / args.photos
        photos = [photos[int(i * step)] for i in range(args.photos)]
    copied = {"photos": 0, "frames": 0}
    for kind, files in (("photos", photos), ("frames", frames)):
        for f in files:
            target = data_out / f.relative_to(args.data)
            content = None
            if kind == "frames" and args.frame_quality is not None:
                buffer = io.BytesIO()
                Image.open(f).convert("RGB").save(buffer, "JPEG", quality=args.frame_quality, subsampling=0)
                content, target = buffer.getvalue(), target.with_suffix(".jpg")
            size = len(content) if content is not None else f.stat().st_size
            if used + size > budget:
                break
            target.parent.mkdir(parents=True, exist_ok=True)
            if content is not None:
                target.write_bytes(content)
            else:
                shutil.copy2(f, target)
            used += size
            copied[kind] += 1
    print(f"{data_out}: {copied['photos']} photos, {copied['frames']} consecutive frames, {used / 2**20:.1f} MiB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
