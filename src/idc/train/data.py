"""Training data: the source mixture, a resumable batch order, and degradations finished on the training device."""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch.utils.data import Dataset, Sampler

from idc.configs import from_dict
from idc.data.camera_path import CameraPathConfig
from idc.data.datasets import (
    CameraPathDataset,
    FrameAveragingDataset,
    InputNoise,
    MixtureDataset,
    PairedImageDataset,
    Sample,
    SyntheticBlurDataset,
    find_pairs,
    image_files,
)
from idc.data.degrade import DegradationConfig, apply_predrawn, degrade_batch, pad_kernels
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
        elif src.kind == "camera_path":
            images = [f for path in paths for f in image_files(path)]
            camera = from_dict(CameraPathConfig, src.camera_path, f"{where}.camera_path: ")
            viewed = CameraPathDataset(
                images, src.frame_counts, camera, src.response, src.gamma, config.crop, seed=source_seed
            )
            ds = InputNoise(viewed, noise, source_seed)
        else:
            frames = FrameAveragingDataset(
                paths,
                src.frame_counts,
                src.response,
                src.gamma,
                config.crop,
                seed=source_seed,
                cache_mib=src.cache_mib,
                frame_strides=src.frame_strides,
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


STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


def ignore_stop_signals(_worker_id: int) -> None:
    """DataLoader ``worker_init_fn``: workers ignore SIGINT/SIGTERM and leave stopping to the training process.

    Ctrl-C and ``timeout`` signal the whole process group; a worker that died of it would break the batch the
    trainer is waiting for before the trainer could save its checkpoint. Workers still end with the loader.
    Workers start with those signals held (:func:`stop_signals_held`); one that arrived meanwhile is dropped here.
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    if hasattr(signal, "pthread_sigmask"):
        signal.pthread_sigmask(signal.SIG_UNBLOCK, STOP_SIGNALS)


@contextmanager
def stop_signals_held() -> Iterator[None]:
    """Holds SIGINT/SIGTERM back from the calling (main) thread for the block; processes forked in it start so.

    Wrap the creation of a loader's iterator, which forks its workers. Before a worker reaches its
    ``worker_init_fn`` (:func:`ignore_stop_signals`), PyTorch's worker loop installs a SIGTERM handler that ends the
    worker, so a group signal in that window killed it, and the trainer's SIGCHLD handler then raised "DataLoader
    worker is killed by signal" in the middle of starting the next epoch's loader, with no checkpoint, and hung at
    exit on the other worker. Held, the signal waits in the worker until it ignores it. A forked worker has one
    thread, so the hold is certain there; the trainer may have other threads (a mask is per thread), and a signal sent
    to the process can be taken by one of them, after which Python runs the handler in the main thread at once rather
    than when the block ends. The trainer's handler only records the stop, so either is safe. A no-op off the main
    thread and where the platform cannot hold signals.
    """
    if not hasattr(signal, "pthread_sigmask") or threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)


def _deferred_group(samples: list[Sample], index: list[int]) -> dict[str, Any]:
    """One source's deferred samples, stacked: positions in the batch, windows, and what the workers drew ahead."""
    chosen = [samples[i] for i in index]
    group: dict[str, Any] = {
        "index": torch.tensor(index, dtype=torch.int64),
        "window": torch.stack([s["window"] for s in chosen]),
        "seed": torch.tensor([int(s.get("seed", 0)) for s in chosen], dtype=torch.int64),
    }
    if all("kernel" in s and "noise" in s for s in chosen):
        group["kernels"] = pad_kernels([s["kernel"][0] for s in chosen])
        group["noise"] = torch.stack([s["noise"] for s in chosen])
    elif all("kernel" in s for s in chosen):
        group["kernel_list"] = [s["kernel"] for s in chosen]
        group["rng"] = [s["rng"] for s in chosen]
    return group


def collate(samples: list[Sample]) -> dict[str, Any]:
    """Stacks samples; deferred ones (a ``window`` and no ``blurred``) get placeholders filled on the device.

    Deferred samples are also gathered per source under ``groups`` (source -> positions, windows and the kernels
    and noise drawn in the worker), so :func:`finish_batch` degrades each source in one batched call.
    """
    ready = next((s for s in samples if "blurred" in s), None)
    window = next((s["window"] for s in samples if "window" in s), None)
    out: dict[str, Any] = {
        "source": torch.tensor([int(s.get("source", 0)) for s in samples]),
        "deferred": torch.tensor([("window" in s) for s in samples]),
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
    by_source: dict[int, list[int]] = {}
    for i, s in enumerate(samples):
        if "window" in s:
            by_source.setdefault(int(s.get("source", 0)), []).append(i)
    if by_source:
        out["groups"] = {source: _deferred_group(samples, index) for source, index in by_source.items()}
    return out


def finish_batch(
    batch: dict[str, Any], deferred: dict[int, tuple[DegradationConfig, int]], crop: int, device: torch.device
) -> tuple[torch.Tensor, torch.Tensor]:
    """Moves a batch to ``device`` and degrades its deferred samples there; returns (blurred, sharp).

    When the workers drew the kernels and the noise (Gaussian noise), nothing here waits for the device: the copies
    are asynchronous from the loader's pinned memory and the samples are placed with ``index_copy_``. Otherwise the
    draws are made here, from each sample's generator, as :func:`idc.data.degrade.degrade_batch` does.
    """
    blurred = batch["blurred"].to(device, non_blocking=True)
    sharp = batch["sharp"].to(device, non_blocking=True)
    groups: dict[int, dict[str, Any]] = batch.get("groups") or {}
    if not groups:
        return blurred, sharp
    if blurred.shape[-1] != crop:
        # Every sample of this batch was deferred: the placeholders had the window's size.
        blurred = torch.zeros(*blurred.shape[:2], crop, crop, device=device)
        sharp = torch.zeros_like(blurred)
    for source, group in groups.items():
        config, margin = deferred[source]
        w = group["window"].to(device, non_blocking=True)
        if "noise" in group:
            out = apply_predrawn(w, group["kernels"], group["noise"], config.clip)
        elif "kernel_list" in group:
            gens = [torch.Generator() for _ in group["rng"]]
            for g, state in zip(gens, group["rng"], strict=True):
                g.set_state(state)
            out, _ = degrade_batch(w, config, gens, group["kernel_list"])
        else:
            out, _ = degrade_batch(w, config, [torch.Generator().manual_seed(int(s)) for s in group["seed"]])
        index = group["index"].to(device, non_blocking=True)
        m = margin
        blurred.index_copy_(0, index, out[..., m : m + crop, m : m + crop].to(blurred.dtype))
        sharp.index_copy_(0, index, w[..., m : m + crop, m : m + crop].to(sharp.dtype))
    return blurred, sharp
