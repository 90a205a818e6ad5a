"""Writing paired datasets to disk in GOPRO layout: the library behind ``idc synth``.

``<out>/<split>/<sequence>/{blur,sharp}/<name>.png`` plus ``<out>/manifest.json``, which records for every pair its
source, its seed and what was drawn, so :func:`regenerate_pair` rebuilds any pair exactly.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from tqdm import tqdm

from idc.data.datasets import sample_generator
from idc.data.degrade import DegradationConfig, degrade_image
from idc.data.frames import average_window, check_windows, list_frames
from idc.io import ImageReadError, read_image, write_image

logger = logging.getLogger(__name__)

MANIFEST = "manifest.json"
MANIFEST_FORMAT = "idc-synth"
MANIFEST_VERSION = 1


def _pair_seed(seed: int, index: int, copy: int) -> int:
    return int(sample_generator(seed, copy, index).initial_seed())


def _prepare(out: Path, overwrite: bool) -> None:
    if (out / MANIFEST).exists() and not overwrite:
        raise FileExistsError(f"{out / MANIFEST}: a dataset is already there (use --overwrite to replace it)")
    out.mkdir(parents=True, exist_ok=True)


def _write_manifest(out: Path, manifest: dict[str, Any]) -> Path:
    path = out / MANIFEST
    tmp = path.with_name(f".{MANIFEST}.tmp")
    tmp.write_text(json.dumps(manifest, indent=1) + "\n")
    os.replace(tmp, path)
    return path


def synth_from_sharp(
    root: str | Path,
    out: str | Path,
    config: DegradationConfig | None = None,
    seed: int = 0,
    split: str = "train",
    sequence: str | None = None,
    copies: int = 1,
    overwrite: bool = False,
    progress: bool = True,
) -> Path:
    """Degrades every image under ``root`` (``copies`` times, each with its own seed) into a GOPRO-layout dataset.

    Whole images are blurred (replicate borders). Sharp images are written as PNG beside their blurred versions.

    Returns:
        The manifest path.
    """
    from idc.data.datasets import image_files

    root, out = Path(root), Path(out)
    config = config or DegradationConfig()
    images = image_files(root)
    _prepare(out, overwrite)
    seq = sequence or root.name
    entries, failed = [], []
    for i, path in enumerate(tqdm(images, desc="synth", unit="img", disable=not progress)):
        try:
            image = read_image(path)
        except ImageReadError as e:  # a folder run goes on past bad files; the manifest lists them
            failed.append(str(e))
            continue
        stem = "__".join(path.relative_to(root).with_suffix("").parts)
        for c in range(copies):
            pair_seed = _pair_seed(seed, i, c)
            blurred, record = degrade_image(image.rgb, config, torch.Generator().manual_seed(pair_seed))
            name = f"{stem}.png" if copies == 1 else f"{stem}_{c}.png"
            rel_b = Path(split) / seq / "blur" / name
            rel_s = Path(split) / seq / "sharp" / name
            for rel, img in ((rel_b, blurred), (rel_s, image.rgb)):
                (out / rel).parent.mkdir(parents=True, exist_ok=True)
                write_image(out / rel, img, image.bit_depth)
            entries.append(
                {"blur": str(rel_b), "sharp": str(rel_s), "source": str(path), "seed": pair_seed, "degradation": record}
            )
    return _write_manifest(
        out,
        {
            "format": MANIFEST_FORMAT,
            "version": MANIFEST_VERSION,
            "kind": "sharp",
            "seed": seed,
            "degradation_config": config.to_dict(),
            "pairs": entries,
            "failed": failed,
        },
    )


def synth_from_frames(
    folders: Sequence[str | Path],
    out: str | Path,
    frame_counts: Sequence[int] = (7, 9, 11, 13),
    response: str = "gamma",
    gamma: float = 2.2,
    seed: int = 0,
    split: str = "train",
    overwrite: bool = False,
    progress: bool = True,
    frame_strides: Sequence[int] = (1,),
) -> Path:
    """Averages non-overlapping windows of frames GOPRO-style into a GOPRO-layout dataset.

    Each window's length is drawn (seeded) from ``frame_counts`` and, when there are several, its stride from
    ``frame_strides`` (every k-th frame: blur of motion k times as fast, see :func:`idc.data.frames.average_window`);
    the pair is named after its centre frame.

    Returns:
        The manifest path.
    """
    check_windows(frame_counts, frame_strides)
    out = Path(out)
    _prepare(out, overwrite)
    g = torch.Generator().manual_seed(seed)
    windows = []
    for folder in map(Path, folders):
        paths = list_frames(folder)
        start = 0
        while True:
            n = list(frame_counts)[int(torch.randint(len(frame_counts), (), generator=g))]
            # Drawn only when there is a choice, so datasets made without strides come out as before.
            k = int(torch.randint(len(frame_strides), (), generator=g)) if len(frame_strides) > 1 else 0
            stride = list(frame_strides)[k]
            span = (n - 1) * stride + 1
            if start + span > len(paths):
                break
            windows.append((folder, paths, start, n, stride))
            start += span
    entries, failed = [], []
    for folder, paths, start, n, stride in tqdm(windows, desc="synth", unit="pair", disable=not progress):
        try:
            blurred, sharp = average_window(paths, start, n, response, gamma, stride=stride)
        except (ImageReadError, ValueError) as e:  # an unreadable or odd-sized frame spoils only its window
            failed.append(str(e))
            continue
        centre = paths[start + (n // 2) * stride]
        rel_b = Path(split) / folder.name / "blur" / f"{centre.stem}.png"
        rel_s = Path(split) / folder.name / "sharp" / f"{centre.stem}.png"
        for rel, img in ((rel_b, blurred), (rel_s, sharp)):
            (out / rel).parent.mkdir(parents=True, exist_ok=True)
            write_image(out / rel, img)
        chosen = paths[start : start + (n - 1) * stride + 1 : stride]
        entries.append({"blur": str(rel_b), "sharp": str(rel_s), "frames": [str(p) for p in chosen]})
    return _write_manifest(
        out,
        {
            "format": MANIFEST_FORMAT,
            "version": MANIFEST_VERSION,
            "kind": "frames",
            "seed": seed,
            "response": response,
            "gamma": gamma,
            "frame_counts": list(frame_counts),
            "frame_strides": list(frame_strides),
            "pairs": entries,
            "failed": failed,
        },
    )


def read_manifest(path: str | Path) -> dict[str, Any]:
    """Reads and checks a manifest written by ``idc synth`` (a folder holding one, or the file itself)."""
    path = Path(path)
    if path.is_dir():
        path = path / MANIFEST
    try:
        manifest = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as e:
        raise ValueError(f"{path}: not a readable manifest ({e})") from None
    if manifest.get("format") != MANIFEST_FORMAT or manifest.get("version") != MANIFEST_VERSION:
        raise ValueError(f"{path}: not an idc-synth manifest of version {MANIFEST_VERSION}")
    return manifest


def regenerate_pair(manifest_path: str | Path, index: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Rebuilds pair ``index`` of a synthesised dataset from its source and seed: (blurred, sharp), float in [0, 1]."""
    manifest = read_manifest(manifest_path)
    entry = manifest["pairs"][index]
    if manifest["kind"] == "frames":
        frames = [Path(p) for p in entry["frames"]]
        return average_window(frames, 0, len(frames), manifest["response"], manifest["gamma"])
    from idc.configs import from_dict

    config = from_dict(DegradationConfig, manifest["degradation_config"])
    sharp = read_image(entry["source"]).rgb
    blurred, _ = degrade_image(sharp, config, torch.Generator().manual_seed(entry["seed"]))
    return blurred, sharp
