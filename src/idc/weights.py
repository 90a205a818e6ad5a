"""Weights format: ``model.safetensors`` + ``config.json`` in one folder. Loading never unpickles anything."""

from __future__ import annotations

import json
import logging
import os
import tempfile
from importlib import resources
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from idc.io import publish
from idc.models import IDC, IDCConfig

logger = logging.getLogger(__name__)

ARCHITECTURE = "idc"
FORMAT_VERSION = 1
WEIGHTS_FILE = "model.safetensors"
CONFIG_FILE = "config.json"
DEFAULT_NAME = "idc-default"


class WeightsError(ValueError):
    """A weights folder or file that cannot be loaded; the message names the file and the problem."""


def default_weights_dir() -> Path:
    """Folder of the default weights bundled inside the installed package."""
    return Path(str(resources.files("idc"))) / "pretrained" / DEFAULT_NAME


def _atomic_write_bytes(path: Path, data: bytes) -> None:
    # Write beside the target, then rename: a crash never leaves a half-written file under the real name.
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        publish(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def save_weights(
    model: IDC, directory: str | Path, metadata: dict[str, Any] | None = None, dtype: torch.dtype | None = None
) -> Path:
    """Writes ``model.safetensors`` and ``config.json`` into ``directory`` (created if needed), each atomically.

    Args:
        model: the network to save.
        directory: destination folder.
        metadata: extra JSON-serialisable fields for config.json (``trained_on``, ``metrics``, ``training`` ...).
        dtype: store tensors in this dtype (e.g. ``torch.float16`` to halve the size); default: as they are.

    Returns:
        The folder written.
    """
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    tensors = {k: v.detach().to("cpu", dtype or v.dtype).contiguous() for k, v in model.state_dict().items()}
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=f".{WEIGHTS_FILE}.", suffix=".tmp")
    os.close(fd)
    try:
        save_file(tensors, tmp, metadata={"format": "pt", "architecture": ARCHITECTURE})
        publish(tmp, directory / WEIGHTS_FILE)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    config = {
        "architecture": ARCHITECTURE,
        "format_version": FORMAT_VERSION,
        "model_config": model.config.to_dict(),
        "dtype": str(dtype or next(iter(tensors.values())).dtype).removeprefix("torch."),
        **(metadata or {}),
    }
    _atomic_write_bytes(directory / CONFIG_FILE, (json.dumps(config, indent=2) + "\n").encode())
    return directory


def _resolve(path: str | Path | None) -> tuple[Path, Path]:
    """Returns (weights file, config file) for a folder, a .safetensors file or None (the bundled default)."""
    p = default_weights_dir() if path is None else Path(path)
    if path is None and not p.is_dir():
        raise WeightsError(f"{p}: the bundled default weights are missing from this install; pass --weights")
    if p.is_dir():
        return p / WEIGHTS_FILE, p / CONFIG_FILE
    if p.suffix == ".safetensors":
        return p, p.with_name(CONFIG_FILE)
    if p.suffix in {".pt", ".pth", ".ckpt", ".pkl", ".bin"}:
        raise WeightsError(f"{p}: pickle-based checkpoints are refused (they can run code); use safetensors weights")
    raise WeightsError(f"{p}: not a weights folder or a .safetensors file")


def read_weights_config(path: str | Path | None = None) -> dict[str, Any]:
    """Reads and validates the ``config.json`` of a weights folder (``None``: the bundled default)."""
    _, config_file = _resolve(path)
    if not config_file.is_file():
        hint = " (the bundled default weights are missing from this install)" if path is None else ""
        raise WeightsError(f"{config_file}: config.json not found{hint}")
    try:
        config = json.loads(config_file.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise WeightsError(f"{config_file}: not valid JSON ({e})") from None
    if not isinstance(config, dict):
        raise WeightsError(f"{config_file}: expected a JSON object")
    if config.get("architecture") != ARCHITECTURE:
        raise WeightsError(f"{config_file}: unknown architecture {config.get('architecture')!r}, expected 'idc'")
    if config.get("format_version") != FORMAT_VERSION:
        raise WeightsError(f"{config_file}: unsupported format_version {config.get('format_version')!r}")
    if not isinstance(config.get("model_config"), dict):
        raise WeightsError(f"{config_file}: missing 'model_config' object")
    return config


def training_lineage(path: str | Path | None) -> list[dict[str, Any]]:
    """The training records behind a weights folder, oldest first: its ``training.previous`` list, then its own
    ``training`` record (without ``previous``). Empty when the folder has no record. A run that starts from these
    weights appends its own record, so accumulated training stays traceable run by run."""
    record = read_weights_config(path).get("training")
    if not isinstance(record, dict):
        return []
    earlier = record.get("previous", [])
    return [*(r for r in earlier if isinstance(r, dict)), {k: v for k, v in record.items() if k != "previous"}]


def with_lineage(record: dict[str, Any], lineage: list[dict[str, Any]]) -> dict[str, Any]:
    """``record`` (one run's ``steps`` and ``crops_seen``) plus the training it continued: ``previous`` (the
    lineage, oldest first) and the accumulated ``total_steps`` and ``total_crops``."""
    return {
        **record,
        "total_steps": sum(int(r.get("steps", 0)) for r in [*lineage, record]),
        "total_crops": sum(int(r.get("crops_seen", 0)) for r in [*lineage, record]),
        "previous": lineage,
    }


def load_model(
    path: str | Path | None = None, device: str | torch.device = "cpu", dtype: torch.dtype = torch.float32
) -> IDC:
    """Loads an IDC network from a weights folder or ``.safetensors`` file; ``None`` loads the bundled default.

    Tensors are read with safetensors (no pickle, no code execution) and checked against the architecture of
    ``config.json``: missing, unexpected or wrongly shaped tensors are errors naming the file.

    Returns:
        The model in eval mode on ``device`` with parameters in ``dtype``.

    Raises:
        WeightsError: the folder, config or tensors are missing, malformed or do not match.
    """
    weights_file, config_file = _resolve(path)
    config = read_weights_config(path)
    try:
        model_config = IDCConfig.from_dict(config["model_config"])
    except (TypeError, ValueError) as e:
        raise WeightsError(f"{config_file}: bad model_config ({e})") from None
    if not weights_file.is_file():
        raise WeightsError(f"{weights_file}: weights file not found")
    try:
        tensors = load_file(str(weights_file))
    except (SafetensorError, OSError) as e:
        raise WeightsError(f"{weights_file}: not a readable safetensors file ({e})") from None
    model = IDC(model_config)
    expected = model.state_dict()
    missing = sorted(set(expected) - set(tensors))
    unexpected = sorted(set(tensors) - set(expected))
    wrong = sorted(k for k in set(expected) & set(tensors) if tensors[k].shape != expected[k].shape)
    if missing or unexpected or wrong:
        parts = []
        for label, names in (("missing tensors", missing), ("unexpected tensors", unexpected), ("wrong shapes", wrong)):
            if names:
                parts.append(f"{label}: {', '.join(names[:5])}{' ...' if len(names) > 5 else ''}")
        raise WeightsError(
            f"{weights_file}: does not match the architecture in {config_file.name} ({'; '.join(parts)})"
        )
    model.load_state_dict({k: v.to(expected[k].dtype) for k, v in tensors.items()})
    logger.debug("loaded %s (%s)", weights_file, config.get("description", ""))
    return model.to(device=device, dtype=dtype).eval()


def interpolate_weights(start: str | Path | None, end: str | Path, alpha: float) -> tuple[IDC, dict[str, Any]]:
    """The network with weights ``(1 - alpha) * start + alpha * end`` and the training record it is given.

    For a run (``end``) that continued other weights (``start``): interpolating a fine-tuned network back towards
    where it started is known to keep much of the fine-tuning's gain where training and test data agree while
    losing less where they differ (Wortsman et al., "Robust fine-tuning of zero-shot models", CVPR 2022). The
    record is ``end``'s (whose lineage already holds ``start``'s) with an ``interpolation`` entry saying so.

    Raises:
        WeightsError: either folder does not load, or the two are different architectures.
        ValueError: ``alpha`` is outside [0, 1].
    """
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"alpha must be in [0, 1], got {alpha}")
    a, b = load_model(start), load_model(end)
    if a.config != b.config:
        raise WeightsError(f"{start} and {end}: different architectures ({a.config} and {b.config})")
    sb = b.state_dict()
    a.load_state_dict(
        {k: torch.lerp(v, sb[k], alpha) if v.is_floating_point() else v for k, v in a.state_dict().items()}
    )
    record = dict(read_weights_config(end).get("training") or {})
    record["interpolation"] = {
        "alpha": alpha,
        "start": str(start) if start is not None else "the bundled default",
        "end": str(end),
        "weights": "(1 - alpha) * start + alpha * end",
    }
    return a, record


def save_interpolated_weights(start: str | Path | None, end: str | Path, alpha: float, out: str | Path) -> None:
    """Writes :func:`interpolate_weights` ``(start, end, alpha)`` as a weights folder ``out``, described as ``end``'s
    weights, interpolated, with the record that function gives.

    Raises:
        WeightsError, ValueError: as :func:`interpolate_weights`.
    """
    model, record = interpolate_weights(start, end, alpha)
    description = read_weights_config(end).get("description", "IDC weights")
    save_weights(model, out, metadata={"description": f"{description}, interpolated", "training": record})
