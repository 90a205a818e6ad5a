"""Learning-rate schedules as plain functions of the step."""

from __future__ import annotations

import math

from idc.train.config import OptimConfig


def get_lr(step: int, total: int, optim: OptimConfig) -> float:
    """Learning rate for optimiser step ``step`` (0-based) of ``total``.

    Linear warm-up over ``optim.warmup`` steps, then ``poly``: ``min + (lr - min) (1 - t)^power``; ``cosine``:
    ``min + (lr - min) (1 + cos(pi t)) / 2``; ``constant``: ``lr``. ``t`` runs from 0 to 1 after warm-up.
    """
    if optim.warmup > 0 and step < optim.warmup:
        return optim.lr * (step + 1) / optim.warmup
    if optim.schedule == "constant":
        return optim.lr
    t = min(1.0, (step - optim.warmup) / max(1, total - optim.warmup))
    if optim.schedule == "poly":
        return optim.min_lr + (optim.lr - optim.min_lr) * (1 - t) ** optim.power
    return optim.min_lr + 0.5 * (optim.lr - optim.min_lr) * (1 + math.cos(math.pi * t))
