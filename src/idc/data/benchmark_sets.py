"""The project's benchmark sets, built deterministically from ``../shared/data``. Never train on them.

gopro-dev       the 5 real GOPRO pairs of ``gopro/dev`` (8 or 10 frames averaged in linear light, 1280x720).
kodak24-motion  the 24 Kodak photos (768x512); photo i (sorted by name) blurred with ``camera_shake_kernel`` of
                seed 1000 + i (31x31) and Gaussian noise of sigma 0.01 from the same generator, clipped to [0, 1].

One diagnostic set, not a benchmark (its frames are training data; no quality claim may rest on it):

gopro0477-seen  6 windows of the GOPR0477_11_00 frames that ``configs/idc_synthetic.yaml`` trains on, 9 or 11 frames
                averaged in linear light (as gopro-dev's pairs were made) at starts 20, 70, ..., 270, no noise. A
                network that gains here but not on gopro-dev has learned that one scene, not real blur.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import torch

from idc.data.degrade import add_gaussian_noise, blur
from idc.data.frames import average_window, list_frames
from idc.data.kernels import camera_shake_kernel
from idc.io import list_images, read_image, write_image

BenchmarkPair = tuple[str, torch.Tensor, torch.Tensor]  # (name, blurred, sharp)

KODAK_SEED_BASE = 1000
KODAK_NOISE = 0.01
KODAK_KERNEL_SIZE = 31


def gopro_dev(data_root: str | Path) -> Iterator[BenchmarkPair]:
    """The real GOPRO pairs of ``<data_root>/gopro/dev``, named ``<sequence>/<file>``."""
    root = Path(data_root) / "gopro" / "dev"
    for seq in sorted(p for p in root.iterdir() if p.is_dir()):
        for b in list_images(seq / "blur"):
            yield f"{seq.name}/{b.name}", read_image(b).rgb, read_image(seq / "sharp" / b.name).rgb


def kodak24_motion_pair(sharp: torch.Tensor, index: int) -> torch.Tensor:
    """The blurred version of Kodak photo ``index`` (0-based, in name order)."""
    g = torch.Generator().manual_seed(KODAK_SEED_BASE + index)
    kernel = camera_shake_kernel(g, size=KODAK_KERNEL_SIZE)
    return add_gaussian_noise(blur(sharp[None], kernel), KODAK_NOISE, g)[0].clamp(0, 1)


def kodak24_motion(data_root: str | Path) -> Iterator[BenchmarkPair]:
    """Kodak photos with their fixed, seeded camera-shake blur and noise."""
    for i, path in enumerate(list_images(Path(data_root) / "kodak24")):
        sharp = read_image(path).rgb
        yield path.name, kodak24_motion_pair(sharp, i), sharp


SEEN_SEQUENCE = "GOPR0477_11_00"
SEEN_WINDOWS = ((20, 9), (70, 11), (120, 9), (170, 11), (220, 9), (270, 11))  # (first frame, frames averaged)


def gopro0477_seen(data_root: str | Path) -> Iterator[BenchmarkPair]:
    """Frame-averaged pairs from the training frames of GOPR0477_11_00, named ``<sequence>/f<first>_avg<n>``."""
    paths = list_frames(Path(data_root) / "gopro" / "frames" / SEEN_SEQUENCE)
    for start, count in SEEN_WINDOWS:
        blurred, sharp = average_window(paths, start, count)
        yield f"{SEEN_SEQUENCE}/f{start}_avg{count}", blurred, sharp


BENCHMARK_SETS: dict[str, Callable[[str | Path], Iterator[BenchmarkPair]]] = {
    "gopro-dev": gopro_dev,
    "kodak24-motion": kodak24_motion,
}
# Sets that diagnose a network, never benchmark it: scripts accept them by name, none runs them by default.
DIAGNOSTIC_SETS: dict[str, Callable[[str | Path], Iterator[BenchmarkPair]]] = {"gopro0477-seen": gopro0477_seen}


def write_benchmark_set(name: str, data_root: str | Path, out: str | Path) -> int:
    """Writes a benchmark set as a flat ``<out>/{blur,sharp}/`` folder of PNGs; returns the number of pairs.

    Sequence folders become a name prefix (``GOPR0374_11_00__f614_avg8.png``). PNG is lossless, so the files hold
    exactly the uint8-rounded images the evaluation convention scores.
    """
    if name not in BENCHMARK_SETS:
        raise ValueError(f"unknown benchmark set {name!r}; known: {', '.join(BENCHMARK_SETS)}")
    out = Path(out)
    count = 0
    for pair_name, blurred, sharp in BENCHMARK_SETS[name](data_root):
        file = Path(pair_name.replace("/", "__")).with_suffix(".png").name
        for sub, img in (("blur", blurred), ("sharp", sharp)):
            (out / sub).mkdir(parents=True, exist_ok=True)
            write_image(out / sub / file, img)
        count += 1
    return count
