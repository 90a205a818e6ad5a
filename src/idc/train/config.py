"""The whole training run as one dataclass tree, loaded from YAML with unknown keys refused."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from idc.configs import apply_overrides, from_dict, load_yaml

SOURCE_KINDS = ("paired", "sharp", "frames", "camera_path")
SCHEDULES = ("poly", "cosine", "constant")
PRECISIONS = ("auto", "bf16", "fp16", "fp32")
DEVICES = ("auto", "cpu", "cuda")


@dataclass
class SourceConfig:
    """One data source of the training mixture.

    Attributes:
        kind: ``paired`` (blur/sharp pairs on disk), ``sharp`` (sharp photos degraded on the fly), ``frames``
            (video frame folders averaged on the fly) or ``camera_path`` (sharp photos viewed along a random camera
            path and averaged like frames, :mod:`idc.data.camera_path`).
        paths: dataset root (paired), photo folders (sharp, camera_path) or frame folders (frames).
        weight: relative share of the batch drawn from this source.
        layout, split, blur_folder: how paired data is laid out (see ``idc.data.datasets.find_pairs``).
        degradation: ``DegradationConfig`` fields for ``sharp`` sources.
        frame_counts, response, gamma: frame averaging settings for ``frames`` and ``camera_path`` sources.
        camera_path: ``CameraPathConfig`` fields for ``camera_path`` sources (how far the camera moves).
        frame_strides: ``frames`` sources take every k-th frame, k drawn from these (1: consecutive frames; 2 and 3
            make blur of motion two and three times as fast).
        cache_mib: memory for decoded frames of ``frames`` sources (0: none): when every frame fits (8-bit 1280x720
            frames take 2.6 MiB each), all are decoded once before training and shared by the loader workers;
            otherwise each worker keeps its least recently used frames up to this size.
    """

    kind: str = "paired"
    paths: list[str] = field(default_factory=list)
    weight: float = 1.0
    layout: str = "auto"
    split: str = "train"
    blur_folder: str = "blur"
    degradation: dict[str, Any] = field(default_factory=dict)
    frame_counts: list[int] = field(default_factory=lambda: [7, 9, 11, 13])
    frame_strides: list[int] = field(default_factory=lambda: [1])
    response: str = "gamma"
    gamma: float = 2.2
    cache_mib: float = 0
    camera_path: dict[str, Any] = field(default_factory=dict)


@dataclass
class DataConfig:
    """Training data: sources, crops, input noise and loading.

    Attributes:
        root: relative paths of the sources and of ``val.data`` are taken from this folder, so one config serves
            wherever the data lives (``--set data.root=...``).
        input_noise: range of Gaussian noise sigma added to blurred inputs of ``paired`` and ``frames`` sources (the
            paper adds about 2/255); ``sharp`` sources draw their own noise from their degradation config.
        samples_per_epoch: length of the mixture; epochs only reseed the crops.
        workers: DataLoader worker processes (0: load in the main process).
    """

    sources: list[SourceConfig] = field(default_factory=list)
    root: str = "."
    crop: int = 256
    input_noise: list[float] = field(default_factory=lambda: [2 / 255, 2 / 255])
    samples_per_epoch: int = 2000
    workers: int = 4


@dataclass
class ValConfig:
    """Validation on a fixed subset of a paired dataset every ``every`` steps (0: never)."""

    data: str | None = None
    layout: str = "auto"
    split: str = "test"
    blur_folder: str = "blur"
    count: int = 8
    crop: int | None = 256
    every: int = 1000


@dataclass
class OptimConfig:
    """Adam and the learning-rate schedule.

    Attributes:
        schedule: ``poly`` (lr decays as (1 - t)^power from ``lr`` to ``min_lr``, as SRN-DeblurNet trained),
            ``cosine``, or ``constant``; after ``warmup`` linear warm-up steps.
        clip: gradient-norm clipping (0: off).
    """

    lr: float = 1e-4
    min_lr: float = 1e-6
    schedule: str = "poly"
    power: float = 0.3
    warmup: int = 0
    betas: list[float] = field(default_factory=lambda: [0.9, 0.999])
    weight_decay: float = 0.0
    clip: float = 0.0


@dataclass
class TrainConfig:
    """A whole training run.

    Attributes:
        model: ``preset`` name plus any ``IDCConfig`` fields to override.
        loss: ``LossConfig`` fields.
        steps: optimiser steps in the whole schedule (resumed runs continue to this).
        batch: crops per step (across all processes under DDP).
        precision: ``auto`` (bf16 autocast on CUDA and on CPUs with bf16 support, else fp32), ``bf16``, ``fp16``,
            ``fp32``.
        keep_checkpoints: how many of the newest checkpoints to keep (0: all).
        keep_every: also keep every checkpoint whose step is a multiple of this (0: none), snapshots along the run
            that outlive ``keep_checkpoints``; only steps at which a checkpoint is written (``ckpt_every``) count.
        max_bad_steps: stop (after saving) when this many steps in a row have a NaN or infinite loss.
        init_weights: start from these weights (a weights folder) instead of Xavier initialisation.
        max_minutes: stop (after saving) after this wall time; resume continues the same schedule.
        anneal_by_time: with ``max_minutes``, the schedule also advances with the clock: its position is the larger
            of the steps taken and the share of ``max_minutes`` used (of what was left of the schedule when this
            invocation started), so the learning rate reaches ``optim.min_lr`` at the wall-time limit even when
            ``steps`` overestimates what fits in it.
        stop_at_step: stop (after saving) at this step although the schedule runs to ``steps`` (staged training;
            resume with ``--set stop_at_step=null`` or a later step).
        ema: decay of an exponential moving average of the weights, updated after every step and saved beside the
            weights of each checkpoint as ``ema/`` (0: none; 0.999 averages over about the last 1,000 steps). The
            average is bias-corrected, so it holds only weights this run trained (:mod:`idc.train.ema`).
    """

    name: str = "idc"
    model: dict[str, Any] = field(default_factory=lambda: {"preset": "idc"})
    loss: dict[str, Any] = field(default_factory=dict)
    data: DataConfig = field(default_factory=DataConfig)
    val: ValConfig = field(default_factory=ValConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    steps: int = 1000
    batch: int = 16
    seed: int = 0
    device: str = "auto"
    precision: str = "auto"
    channels_last: bool = True
    compile: bool = False
    log_every: int = 50
    ckpt_every: int = 500
    keep_checkpoints: int = 2
    keep_every: int = 0
    max_bad_steps: int = 10
    tensorboard: bool = True
    init_weights: str | None = None
    max_minutes: float | None = None
    anneal_by_time: bool = False
    stop_at_step: int | None = None
    ema: float = 0.0

    def validate(self) -> None:
        problems = []
        for s in self.data.sources:
            if s.kind not in SOURCE_KINDS:
                problems.append(f"data.sources kind {s.kind!r} is not one of {SOURCE_KINDS}")
            if not s.paths:
                problems.append(f"data.sources ({s.kind}) needs paths")
        if not self.data.sources:
            problems.append("data.sources is empty")
        if self.optim.schedule not in SCHEDULES:
            problems.append(f"optim.schedule must be one of {SCHEDULES}")
        if self.precision not in PRECISIONS:
            problems.append(f"precision must be one of {PRECISIONS}")
        if self.device not in DEVICES:
            problems.append(
                f"device must be one of {DEVICES} (training runs on CUDA GPUs and CPUs): got {self.device!r}"
            )
        if self.keep_every < 0 or self.keep_checkpoints < 0:
            problems.append("keep_every and keep_checkpoints must be >= 0")
        elif self.keep_every and self.ckpt_every > 0 and self.keep_every % self.ckpt_every:
            problems.append(f"keep_every ({self.keep_every}) must be a multiple of ckpt_every ({self.ckpt_every})")
        if self.steps < 1 or self.batch < 1 or self.data.crop < 1:
            problems.append("steps, batch and data.crop must be >= 1")
        if not 0 <= self.ema < 1:
            problems.append(f"ema must be 0 (none) or a decay in (0, 1), got {self.ema}")
        if self.anneal_by_time and not self.max_minutes:
            problems.append("anneal_by_time needs max_minutes")
        if problems:
            raise ValueError("invalid training config: " + "; ".join(problems))

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def _build(data: dict[str, Any], where: str) -> TrainConfig:
    sections = {"data": DataConfig, "val": ValConfig, "optim": OptimConfig}
    kwargs = dict(data)
    for key, cls in sections.items():
        if key in kwargs:
            section = dict(kwargs[key] or {})
            if key == "data" and "sources" in section:
                section["sources"] = [
                    from_dict(SourceConfig, s, f"{where}data.sources[{i}]: ") for i, s in enumerate(section["sources"])
                ]
            kwargs[key] = from_dict(cls, section, f"{where}{key}: ")
    config = from_dict(TrainConfig, kwargs, where)
    config.validate()
    return config


def load_train_config(path: str | Path | None, overrides: list[str] | None = None) -> TrainConfig:
    """Reads a training YAML (``None``: defaults), applies ``key=value`` overrides, and checks it."""
    raw = load_yaml(path) if path is not None else {}
    raw = apply_overrides(raw, overrides or [])
    return _build(raw, f"{path}: " if path else "")


def config_from_dict(data: dict[str, Any]) -> TrainConfig:
    return _build(data, "")


def dump_config(config: TrainConfig) -> str:
    return yaml.safe_dump(config.to_dict(), sort_keys=False)
