"""Training data: the source mixture, a resumable batch order, and degradations finished on the training device."""

from __future__ import annotations

import signal
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch.utils.data import Dataset, Sampler

from idc.configs import from_dict
from idc.data.datasets import (
    FrameAveragingDataset,
    InputNoise,
    MixtureDataset,
    PairedImageDataset,
    Sample,
    SyntheticBlurDataset,
    find_pairs,
    image_files,
)
from idc.data.degrade import DegradationConfig, degrade_batch
from idc.train.config import DataConfig


@dataclass
class BuiltData:
    """The training mixture and, per source index, the degradation config of deferred sources."""

    dataset: MixtureDataset
    deferred: dict[int, tuple[DegradationConfig, int]]  # source -> (config, margin)


def build_dataset(config: DataConfig, seed: int, defer_degradation: bool = False) -> BuiltData:
    """Turns the data config into a :class:`MixtureDataset` of its sources.

    Args:
        defer_degradation: ``sharp`` sources hand their windows to the trainer, which degrades them on its device.
    """
    datasets: list[Dataset[Sample]] = []
    deferred: dict[int, tuple[DegradationConfig, int]] = {}
    noise = (float(config.input_noise[0]), float(config.input_noise[1]))
    root = Path(config.root)
    for i, src in enumerate(config.sources):
        where = f"data.sources[{i}]"
        source_seed = seed * 1000 + i
        paths = [root / p for p in src.paths]  # absolute paths stay as they are
        ds: Dataset[Sample]
        if src.kind == "paired":
            pairs = [p for path in paths for p in find_pairs(path, src.layout, src.split, src.blur_folder)]
            ds = InputNoise(PairedImageDataset(pairs, config.crop, seed=source_seed), noise, source_seed)
        elif src.kind == "sharp":
            images = [f for path in paths for f in image_files(path)]
            degradation = from_dict(DegradationConfig, src.degradation, f"{where}.degradation: ")
            synthetic = SyntheticBlurDataset(
                images, degradation, config.crop, seed=source_seed, defer=defer_degradation
            )
            if defer_degradation:
                deferred[i] = (degradation, synthetic.margin)
            ds = synthetic
        else:
            frames = FrameAveragingDataset(
                paths, src.frame_counts, src.response, src.gamma, config.crop, seed=source_seed, cache_mib=src.cache_mib
            )
            ds = InputNoise(frames, noise, source_seed)
        datasets.append(ds)
    weights = [s.weight for s in config.sources]
    return BuiltData(MixtureDataset(datasets, weights, config.samples_per_epoch, seed), deferred)


class EpochBatchSampler(Sampler[list[int]]):
    """Yields this rank's share of each global batch of a seeded per-epoch permutation, from a given offset.

    The global order depends only on (seed, epoch), so training resumes at the exact next batch, and under DDP rank
    ``r`` of ``w`` takes slice ``r`` of each global batch. The last incomplete batch of an epoch is dropped.
    """

    def __init__(
        self, size: int, batch: int, seed: int, epoch: int, offset: int = 0, rank: int = 0, world: int = 1
    ) -> None:
        if batch % world:
            raise ValueError(f"batch {batch} does not divide among {world} processes")
        if size < batch:
            raise ValueError(f"an epoch of {size} samples is smaller than one batch of {batch}")
        self.size, self.batch, self.seed, self.epoch, self.offset = size, batch, seed, epoch, offset
        self.rank, self.world = rank, world

    def order(self) -> list[int]:
        g = torch.Generator().manual_seed(self.seed * 1_000_003 + self.epoch)
        return torch.randperm(self.size, generator=g).tolist()

    def __iter__(self) -> Iterator[list[int]]:
        order = self.order()
        per_rank = self.batch // self.world
        for start in range(self.offset, self.size - self.batch + 1, self.batch):
            chunk = order[start : start + self.batch]
            yield chunk[self.rank * per_rank : (self.rank + 1) * per_rank]

    def __len__(self) -> int:
        return max(0, (self.size - self.offset) // self.batch)


def ignore_stop_signals(_worker_id: int) -> None:
    """DataLoader ``worker_init_fn``: workers ignore SIGINT/SIGTERM and leave stopping to the training process.

    Ctrl-C and ``timeout`` signal the whole process group; a worker that died of it would break the batch the
    trainer is waiting for before the trainer could save its checkpoint. Workers still end with the loader.
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)


def collate(samples: list[Sample]) -> dict[str, Any]:
    """Stacks samples; deferred ones (a ``window`` and no ``blurred``) get placeholders filled on the device."""
    deferred = [("window" in s) for s in samples]
    ready = next((s for s in samples if "blurred" in s), None)
    window = next((s["window"] for s in samples if "window" in s), None)
    out: dict[str, Any] = {
        "source": torch.tensor([int(s.get("source", 0)) for s in samples]),
        "deferred": torch.tensor(deferred),
        "seed": torch.tensor([int(s.get("seed", 0)) for s in samples], dtype=torch.int64),
    }
    if ready is not None:
        shape = ready["sharp"].shape
    else:
        assert window is not None
        shape = window.shape
    zeros = torch.zeros(shape)
    out["blurred"] = torch.stack([s.get("blurred", zeros) for s in samples])
    out["sharp"] = torch.stack([s.get("sharp", zeros) for s in samples])
    if window is not None:
        wz = torch.zeros(window.shape)
        out["window"] = torch.stack([s.get("window", wz) for s in samples])
    if any("kernel" in s for s in samples):
        # Kernels drawn in the workers (sizes may differ): lists, None where a sample has none.
        out["kernel"] = [s.get("kernel") for s in samples]
        out["rng"] = [s.get("rng") for s in samples]
    return out


def finish_batch(
    batch: dict[str, Any], deferred: dict[int, tuple[DegradationConfig, int]], crop: int, device: torch.device
) -> tuple[torch.Tensor, torch.Tensor]:
    """Moves a batch to ``device`` and degrades its deferred samples there; returns (blurred, sharp)."""
    blurred = batch["blurred"].to(device, non_blocking=True)
    sharp = batch["sharp"].to(device, non_blocking=True)
    if "window" not in batch or not bool(batch["deferred"].any()):
        return blurred, sharp
    if blurred.shape[-1] != crop:
        # Every sample of this batch was deferred: the placeholders had the window's size.
        blurred = torch.zeros(*blurred.shape[:2], crop, crop, device=device)
        sharp = torch.zeros_like(blurred)
    windows = batch["window"].to(device, non_blocking=True)
    for source, (config, margin) in deferred.items():
        idx = torch.nonzero(batch["deferred"] & (batch["source"] == source)).flatten()
        if len(idx) == 0:
            continue
        w = windows[idx.to(device)]
        kernels = batch.get("kernel")
        if kernels is not None and all(kernels[i] is not None for i in idx):
            gens = [torch.Generator() for _ in idx]
            for g, i in zip(gens, idx, strict=True):
                g.set_state(batch["rng"][i])
            out, _ = degrade_batch(w, config, gens, [kernels[i] for i in idx])
        else:
            gens = [torch.Generator().manual_seed(int(batch["seed"][i])) for i in idx]
            out, _ = degrade_batch(w, config, gens)
        m = margin
        blurred[idx.to(device)] = out[..., m : m + crop, m : m + crop]
        sharp[idx.to(device)] = w[..., m : m + crop, m : m + crop]
    return blurred, sharp
