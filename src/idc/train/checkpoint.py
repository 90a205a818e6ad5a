"""Crash-safe training checkpoints.

A checkpoint is a folder ``checkpoints/step-<N>/`` with ``model.safetensors`` + ``config.json`` (loadable by
``idc.load_model``), with a run that averages its weights (``ema``) their average as another such folder ``ema/``,
``train_state.pt`` (optimiser, step, data position, RNG states) and a ``COMPLETE`` marker
written last. ``checkpoints/LATEST`` names the newest complete folder and is replaced atomically, so a crash at any
moment leaves the previous checkpoint intact. Train state is read with ``torch.load(weights_only=True)``: tensors and
plain Python values only, never code.
"""

from __future__ import annotations

import logging
import os
import shutil
import time
from pathlib import Path
from typing import Any

import torch

from idc.models import IDC
from idc.weights import save_weights

logger = logging.getLogger(__name__)

STATE_FILE = "train_state.pt"
EMA_FOLDER = "ema"
COMPLETE = "COMPLETE"
LATEST = "LATEST"


def _atomic_torch_save(obj: Any, path: Path) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "wb") as f:
        torch.save(obj, f)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def save_checkpoint(
    directory: str | Path,
    model: IDC,
    state: dict[str, Any],
    metadata: dict[str, Any] | None = None,
    keep: int = 2,
    keep_every: int = 0,
    ema: IDC | None = None,
    ema_metadata: dict[str, Any] | None = None,
) -> Path:
    """Writes ``<directory>/step-<state['step']>/`` completely, then points ``LATEST`` at it.

    ``ema`` (with its own ``ema_metadata``), the run's average of the weights, goes into the checkpoint's ``ema/``.

    Keeps the ``keep`` newest complete checkpoints (all of them when ``keep`` is 0) and, besides those, every one
    whose step is a multiple of ``keep_every`` (when it is above 0): snapshots along the run, to score later.
    """
    directory = Path(directory)
    step = int(state["step"])
    target = directory / f"step-{step:08d}"
    if target.exists():
        shutil.rmtree(target)
    target.mkdir(parents=True)
    save_weights(model, target, metadata=metadata)
    if ema is not None:
        save_weights(ema, target / EMA_FOLDER, metadata=ema_metadata)
    _atomic_torch_save(state, target / STATE_FILE)
    pause = float(os.environ.get("IDC_CHECKPOINT_PAUSE", "0"))
    if pause > 0:  # fault injection for tests: widens the window in which a crash leaves a partial checkpoint
        time.sleep(pause)
    (target / COMPLETE).write_text(f"{step}\n")
    _fsync_dir(target)
    pointer = directory / LATEST
    tmp = directory / f".{LATEST}.tmp"
    tmp.write_text(target.name + "\n")
    os.replace(tmp, pointer)
    _fsync_dir(directory)
    for old in complete_checkpoints(directory)[:-keep] if keep > 0 else []:
        if keep_every > 0 and checkpoint_step(old) % keep_every == 0:
            continue
        shutil.rmtree(old, ignore_errors=True)
    for partial in directory.glob("step-*"):
        # Folders a crash left half-written; never the one just completed.
        if partial != target and not (partial / COMPLETE).is_file():
            shutil.rmtree(partial, ignore_errors=True)
    return target


def checkpoint_step(checkpoint: str | Path) -> int:
    """The step a checkpoint folder's name (``step-<N>``) says."""
    return int(Path(checkpoint).name.removeprefix("step-"))


def complete_checkpoints(directory: str | Path) -> list[Path]:
    """Complete checkpoint folders, oldest first."""
    directory = Path(directory)
    if not directory.is_dir():
        return []
    return sorted(p for p in directory.glob("step-*") if (p / COMPLETE).is_file() and (p / STATE_FILE).is_file())


def latest_checkpoint(directory: str | Path) -> Path | None:
    """The folder ``LATEST`` names, or the newest complete one when the pointer is missing or stale."""
    directory = Path(directory)
    pointer = directory / LATEST
    if pointer.is_file():
        named = directory / pointer.read_text().strip()
        if (named / COMPLETE).is_file():
            return named
        logger.warning("%s names %s, which is not complete; using the newest complete checkpoint", pointer, named)
    found = complete_checkpoints(directory)
    return found[-1] if found else None


def load_train_state(checkpoint: str | Path) -> dict[str, Any]:
    """Reads ``train_state.pt`` without unpickling code (``weights_only=True``).

    Raises:
        ValueError: naming the file, when it is unreadable or holds anything but tensors and plain values.
    """
    path = Path(checkpoint) / STATE_FILE
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise ValueError(f"{path}: no train state in this checkpoint") from None
    except Exception as e:  # the unpickler raises many types; all mean "refused or corrupt"
        raise ValueError(f"{path}: refused or unreadable train state ({type(e).__name__}: {e})") from None
    if not isinstance(state, dict) or "step" not in state:
        raise ValueError(f"{path}: not an idc train state")
    return state
