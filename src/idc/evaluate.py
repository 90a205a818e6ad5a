"""Evaluation the GOPRO way: per-image PSNR and two SSIMs on uint8-rounded RGB, blurred baseline beside each number.

Runtime per image covers the network only (reading and scoring excluded; every run of a self-ensemble included),
after a warm-up run that is not counted, with CUDA synchronisation before the clock is read.

Images restored elsewhere (another method's outputs, or IDC's saved earlier) are scored the same way with
:func:`match_restored` and :func:`score_restored`, so any two methods can be compared under one convention.
"""

from __future__ import annotations

import collections
import contextlib
import csv
import functools
import json
import math
import multiprocessing
import platform
import time
from collections.abc import Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch
from tqdm import tqdm

from idc.data.datasets import Pair
from idc.ensemble import ensemble_mean, ensemble_views
from idc.infer import apply_strength, check_strength, deblur_tensor, synchronize
from idc.io import ImageReadError, list_images, read_image, write_image
from idc.metrics import (
    PSNR_CONVENTION,
    REALBLUR_CONVENTION,
    SSIM_CONVENTION,
    SSIM_MATLAB_CONVENTION,
    psnr,
    realblur_scores,
    ssim,
    ssim_matlab,
)
from idc.models import IDC

NamedPair = tuple[str, torch.Tensor, torch.Tensor]  # (name, blurred, sharp)

# The paper's reported result on the GOPRO test set (Table 2 and its runtime).
PAPER_RESULT = {"method": "IDC (paper, GOPRO test set)", "psnr": 31.11, "ssim": 0.948, "runtime": "0.4 s, GTX 1080Ti"}
METRICS = ("psnr", "ssim", "ssim_matlab")
# How pairs are scored: the GOPRO way (whole images as they are) or RealBlur's (aligned first; idc.metrics).
PROTOCOLS = ("gopro", "realblur")
# Folders of blurred images in GOPRO layouts: a pair is named by the folder above them.
_BLUR_FOLDERS = {"blur", "blur_gamma"}


def _require_protocol(protocol: str) -> None:
    if protocol not in PROTOCOLS:
        raise ValueError(f"unknown protocol {protocol!r}; use one of {', '.join(PROTOCOLS)}")


@dataclass
class PairScore:
    """Scores of one image: each metric for the blurred input and for the restored output."""

    name: str
    psnr_blurred: float
    psnr_restored: float
    ssim_blurred: float
    ssim_restored: float
    ssim_matlab_blurred: float
    ssim_matlab_restored: float
    seconds: float  # NaN for images restored elsewhere (no network ran)


@dataclass
class EvalReport:
    """All scores of one evaluation, with how they were measured.

    ``restored``: the folder the restored images were read from, when no network ran here (``device`` is then "").
    """

    rows: list[PairScore]
    device: str
    crop: int | None
    ensemble: int = 1
    restored: str | None = None
    protocol: str = "gopro"
    strength: float = 1.0

    @property
    def conventions(self) -> dict[str, str]:
        if self.protocol == "realblur":
            return {"psnr": REALBLUR_CONVENTION, "ssim": REALBLUR_CONVENTION, "ssim_matlab": "not part of it"}
        return {"psnr": PSNR_CONVENTION, "ssim": SSIM_CONVENTION, "ssim_matlab": SSIM_MATLAB_CONVENTION}

    def mean(self) -> dict[str, float]:
        keys = [k for k in asdict(self.rows[0]) if k != "name"]
        return {k: sum(getattr(r, k) for r in self.rows) / len(self.rows) for k in keys}


def measurement_record(weights: str | Path | None, device: torch.device, precision: str) -> dict[str, Any]:
    """How a benchmark result was measured, for the head of its JSON: the weights (``None``: the bundled default)
    and their description, the device and machine, torch and its threads, the precision and the metric conventions."""
    from idc.bench import cpu_model
    from idc.weights import read_weights_config

    return {
        "weights": str(weights) if weights is not None else "bundled default",
        "weights_description": read_weights_config(weights).get("description", ""),
        "device": str(device),
        "machine": f"{platform.machine()} {cpu_model()}".strip(),
        "torch": torch.__version__,
        "torch_threads": torch.get_num_threads(),
        "precision": precision,
        "conventions": {"psnr": PSNR_CONVENTION, "ssim": SSIM_CONVENTION, "ssim_matlab": SSIM_MATLAB_CONVENTION},
    }


def read_pairs(pairs: list[Pair], failures: list[str] | None = None) -> Iterator[NamedPair]:
    """Reads (blurred, sharp) file pairs, naming each by its blurred file's last two path parts.

    With ``failures`` given, a pair that cannot be read (or whose sizes differ) is skipped and its one-line reason
    appended there; without it the error is raised.
    """
    for b, s in pairs:
        try:
            blurred, sharp = read_image(b).rgb, read_image(s).rgb
            if blurred.shape != sharp.shape:
                raise ImageReadError(f"pair {b} / {s}: sizes differ")
        except ImageReadError as e:
            if failures is None:
                raise
            failures.append(str(e))
            continue
        yield f"{b.parent.parent.name}/{b.name}" if b.parent.name in _BLUR_FOLDERS else b.name, blurred, sharp


def center_crop(x: torch.Tensor, size: int) -> torch.Tensor:
    """The central ``size`` x ``size`` region (or less, where the image is smaller)."""
    h, w = x.shape[-2:]
    top, left = max(0, (h - size) // 2), max(0, (w - size) // 2)
    return x[..., top : top + size, left : left + size]


def score_pair(
    name: str,
    blurred: torch.Tensor,
    sharp: torch.Tensor,
    restored: torch.Tensor,
    seconds: float,
    protocol: str = "gopro",
) -> PairScore:
    """Every metric of the blurred input and of the restored output against ``sharp`` (all (3, H, W) in [0, 1]).

    ``protocol``: ``gopro`` (PSNR and both SSIMs of the images as they are) or ``realblur`` (each image aligned to
    ``sharp`` first, :func:`idc.metrics.realblur_scores`; the MATLAB-style SSIM is not part of it and is NaN).
    """
    _require_protocol(protocol)
    if protocol == "realblur":
        (psnr_in, ssim_in), (psnr_out, ssim_out) = realblur_scores(blurred, sharp), realblur_scores(restored, sharp)
        matlab_in = matlab_out = math.nan
    else:
        psnr_in, ssim_in, matlab_in = psnr(blurred, sharp), ssim(blurred, sharp), ssim_matlab(blurred, sharp)
        psnr_out, ssim_out, matlab_out = psnr(restored, sharp), ssim(restored, sharp), ssim_matlab(restored, sharp)
    return PairScore(
        name=name,
        psnr_blurred=psnr_in,
        psnr_restored=psnr_out,
        ssim_blurred=ssim_in,
        ssim_restored=ssim_out,
        ssim_matlab_blurred=matlab_in,
        ssim_matlab_restored=matlab_out,
        seconds=seconds,
    )


def _run(
    model: IDC, blurred: torch.Tensor, device: torch.device, precision: str, ensemble: int = 1, strength: float = 1.0
) -> tuple[torch.Tensor, float]:
    x = blurred.to(device)
    synchronize(device)
    start = time.perf_counter()
    out = apply_strength(x, ensemble_mean(lambda t: deblur_tensor(model, t, precision), x, ensemble), strength)
    synchronize(device)
    return out.cpu(), time.perf_counter() - start


def evaluate(
    model: IDC,
    pairs: Iterable[NamedPair],
    crop: int | None = None,
    save_images: str | Path | None = None,
    warmup: bool = True,
    progress: bool = True,
    total: int | None = None,
    precision: str = "fp32",
    ensemble: int = 1,
    protocol: str = "gopro",
    workers: int = 1,
    strength: float = 1.0,
) -> EvalReport:
    """Deblurs every pair and scores blurred input and output against the sharp image.

    Args:
        model: the network, on the device to use.
        pairs: (name, blurred, sharp) triples, e.g. :func:`read_pairs` or a benchmark set.
        crop: score only the centre ``crop`` x ``crop`` region (quick runs); ``None`` scores full images.
        save_images: folder to write the restored images to (PNG, named after the pair).
        warmup: run the first image once untimed before timing (kernel selection, allocations).
        precision: ``fp32``, or ``bf16``/``fp16`` autocast (see :func:`idc.infer.deblur_tensor`).
        ensemble: outputs averaged over this many flipped/transposed copies of each input (1, 2, 4 or 8;
            :mod:`idc.ensemble`); the seconds cover every run.
        protocol: ``gopro`` or ``realblur`` (:func:`score_pair`).
        workers: above 1, pairs are scored in that many separate processes (spawned, one thread each) while the
            network runs on the next: on a GPU, where scoring a 1280x720 pair takes far longer than deblurring it,
            that is most of the time. The rows and their order are the same as with one. On a CPU the scoring
            processes take cores from the network, whose seconds per image then grow.
        strength: the share of the network's change kept (:func:`idc.infer.apply_strength`; 1, the output).
    """
    ensemble_views(ensemble)  # a bad size fails before any work
    check_strength(strength)
    _require_protocol(protocol)
    if workers < 1:
        raise ValueError(f"workers must be at least 1, got {workers}")
    device = next(model.parameters()).device
    rows: list[PairScore] = []
    with contextlib.ExitStack() as stack:
        pool = None
        if workers > 1:
            spawn = multiprocessing.get_context("spawn")  # not forked: see score_restored
            pool = stack.enter_context(ProcessPoolExecutor(workers, spawn, initializer=_one_thread_each))
        pending: collections.deque[Future[PairScore]] = collections.deque()
        bar = stack.enter_context(tqdm(desc="eval", unit="img", disable=not progress, total=total))
        for i, (name, blurred, sharp) in enumerate(pairs):
            if crop is not None:
                blurred, sharp = center_crop(blurred, crop), center_crop(sharp, crop)
            if i == 0 and warmup:
                _run(model, blurred, device, precision)
            restored, seconds = _run(model, blurred, device, precision, ensemble, strength)
            # Saved before the pair is handed to the scoring processes: the pool's feeder thread pickles its tensors
            # later, moving their storage into shared memory, and an image written meanwhile could be read mid-move.
            if save_images is not None:
                target = Path(save_images) / Path(name.replace("/", "__")).with_suffix(".png").name
                target.parent.mkdir(parents=True, exist_ok=True)
                write_image(target, restored)
            if pool is None:
                rows.append(score_pair(name, blurred, sharp, restored, seconds, protocol))
                bar.update()
            else:
                pending.append(pool.submit(score_pair, name, blurred, sharp, restored, seconds, protocol))
                while len(pending) > 2 * workers:  # a bounded queue: pairs in flight hold three images each
                    rows.append(pending.popleft().result())
                    bar.update()
        while pending:
            rows.append(pending.popleft().result())
            bar.update()
    if not rows:
        raise ValueError("no pairs to evaluate")
    return EvalReport(rows=rows, device=str(device), crop=crop, ensemble=ensemble, protocol=protocol, strength=strength)


def _name_parts(relative: Path) -> list[tuple[str, ...]]:
    """The keys a file may be known by: its path parts without extension and without a ``blur`` folder, and the
    same with a ``SEQ__name`` file name (``idc eval --save-images``) split at the ``__``."""
    parts = list(relative.with_suffix("").parts)
    if len(parts) >= 2 and parts[-2] in _BLUR_FOLDERS:
        del parts[-2]
    keys = [tuple(parts)]
    if "__" in parts[-1]:
        keys.append((*parts[:-1], *parts[-1].split("__")))
    return keys


def match_restored(pairs: list[Pair], folder: str | Path) -> list[tuple[Pair, Path | None]]:
    """Finds each pair's restored image in ``folder`` by name, whatever its image extension.

    A restored file matches the blurred file whose path ends with the restored file's path below ``folder`` (a
    ``blur``/``blur_gamma`` folder and the extension ignored); the longest such match wins. So a flat folder of
    ``<name>.png``, a mirror of the dataset (``<sequence>/[blur/]<name>.png``, as ``idc deblur`` writes one) and
    ``idc eval --save-images``' ``<sequence>__<name>.png`` all match. A pair with no match gets None.

    Raises:
        ValueError: ``folder`` holds no images, two of its files match one pair equally well (``x.png`` and
            ``x.jpg``), or one file would be scored against two pairs (``000047.png`` for two GOPRO sequences).
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise ValueError(f"{folder}: no such folder of restored images")
    files = list_images(folder, recursive=True)
    if not files:
        raise ValueError(f"{folder}: folder holds no images")
    known: dict[tuple[str, ...], list[Path]] = {}
    for f in files:
        for key in _name_parts(f.relative_to(folder)):
            known.setdefault(key, []).append(f)
    matched: list[tuple[Pair, Path | None]] = []
    used: dict[Path, Path] = {}
    for pair in pairs:
        wanted = _name_parts(Path(*pair[0].parts[-4:]))[0]
        found: Path | None = None
        for k in range(len(wanted), 0, -1):
            candidates = known.get(wanted[-k:], [])
            if len(candidates) > 1:
                names = ", ".join(str(c) for c in sorted(candidates))
                raise ValueError(f"{pair[0]}: several restored images match it ({names})")
            if candidates:
                found = candidates[0]
                break
        if found is not None:
            if found in used:
                raise ValueError(
                    f"{found}: matches both {used[found]} and {pair[0]}; name restored images by sequence too "
                    "(<sequence>/<name> or <sequence>__<name>)"
                )
            used[found] = pair[0]
        matched.append((pair, found))
    if not used:
        hint = f" (for {pairs[0][0]}: {pairs[0][0].stem}.png, or <sequence>/{pairs[0][0].stem}.png)" if pairs else ""
        raise ValueError(f"{folder}: no restored image is named after a blurred image of the dataset{hint}")
    return matched


def _score_file(
    item: tuple[Pair, Path | None], crop: int | None, restored: str, protocol: str
) -> PairScore | ImageReadError:
    """One pair of :func:`score_restored`: its scores, or the error that left it out (returned, to cross processes)."""
    (b, s), r = item
    try:
        if r is None:
            raise ImageReadError(f"{b}: no restored image for it in {restored or 'the folder'}")
        name, blurred, sharp = next(read_pairs([(b, s)]))
        out = read_image(r).rgb
        if out.shape != sharp.shape:
            h, w = sharp.shape[-2:]
            raise ImageReadError(f"{r}: {out.shape[-1]}x{out.shape[-2]}, but the sharp image {s} is {w}x{h}")
        if crop is not None:
            blurred, sharp, out = (center_crop(x, crop) for x in (blurred, sharp, out))
        return score_pair(name, blurred, sharp, out, math.nan, protocol)
    except ImageReadError as e:
        return e


def _one_thread_each() -> None:
    """Worker start: one thread per process for torch and OpenCV, so that N workers use N cores, not N squared."""
    import cv2

    torch.set_num_threads(1)
    cv2.setNumThreads(1)


def score_restored(
    matched: list[tuple[Pair, Path | None]],
    crop: int | None = None,
    failures: list[str] | None = None,
    progress: bool = True,
    restored: str = "",
    protocol: str = "gopro",
    workers: int = 1,
) -> EvalReport:
    """Scores restored images read from files (see :func:`match_restored`) against each pair's sharp image, beside
    the blurred input, exactly as :func:`evaluate` scores IDC's outputs; no network runs (seconds are NaN).

    With ``failures`` given, a pair without a restored image, or one that cannot be read or whose size differs from
    the sharp image, is left out and its one-line reason appended there; without it the error is raised. ``workers``
    above 1 scores that many pairs at once in separate processes (spawned, one thread each; each costs an interpreter
    start); the rows and their order are the same as with one.
    """
    _require_protocol(protocol)
    if workers < 1:
        raise ValueError(f"workers must be at least 1, got {workers}")
    score = functools.partial(_score_file, crop=crop, restored=restored, protocol=protocol)
    with contextlib.ExitStack() as stack:
        if workers == 1:
            results: Iterable[PairScore | ImageReadError] = map(score, matched)
        else:
            # Spawned, not forked: a fork of a process whose OpenMP or OpenCV threads have run can hang in the child.
            spawn = multiprocessing.get_context("spawn")
            pool = stack.enter_context(ProcessPoolExecutor(workers, spawn, initializer=_one_thread_each))
            results = pool.map(score, matched, chunksize=1)
        rows = []
        for result in tqdm(results, desc="score", unit="img", disable=not progress, total=len(matched)):
            if isinstance(result, ImageReadError):
                if failures is None:
                    raise result
                failures.append(str(result))
            else:
                rows.append(result)
    if not rows:
        raise ValueError("no pairs to score")
    return EvalReport(rows=rows, device="", crop=crop, restored=restored, protocol=protocol)


def format_report(report: EvalReport, per_image: bool = True) -> str:
    """Per-image and mean table, the conventions used, and the paper's result beside the measured one."""
    lines = []
    columns = [("PSNR in", 9), ("PSNR out", 10), ("SSIM in", 9), ("SSIM out", 10), ("mSSIM in", 10), ("mSSIM out", 11)]
    lines.append(f"{'image':<36}" + "".join(f"{c:>{w}}" for c, w in columns) + f"{'s':>8}")

    def cell(value: float, spec: str, width: int) -> str:
        return f"{'-' if math.isnan(value) else format(value, spec):>{width}}"  # NaN: not measured

    def row(name: str, v: dict[str, float]) -> str:
        return (
            f"{name[:35]:<36}{cell(v['psnr_blurred'], '.2f', 9)}{cell(v['psnr_restored'], '.2f', 10)}"
            f"{cell(v['ssim_blurred'], '.4f', 9)}{cell(v['ssim_restored'], '.4f', 10)}"
            f"{cell(v['ssim_matlab_blurred'], '.4f', 10)}{cell(v['ssim_matlab_restored'], '.4f', 11)}"
            f"{cell(v['seconds'], '.3f', 8)}"
        )

    if per_image:
        lines.extend(row(r.name, asdict(r)) for r in report.rows)
    mean = report.mean()
    lines.append(row(f"mean of {len(report.rows)}", mean))
    if report.restored is not None:
        out, timing = f"the images in {report.restored}", "no network ran here, so no time"
    else:
        out = "IDC output"
        timing = (
            f"s = network seconds per image on {report.device} "
            f"(warm-up excluded{', GPU synchronised' if report.device.startswith(('cuda', 'mps')) else ''})"
        )
    if report.protocol == "realblur":
        metrics = f"PSNR and SSIM by the {REALBLUR_CONVENTION}; mSSIM is not part of it"
    else:
        metrics = f"{PSNR_CONVENTION}; SSIM = {SSIM_CONVENTION}; mSSIM = {SSIM_MATLAB_CONVENTION}"
    lines.append(
        f"in = blurred input, out = {out}; {metrics}; {timing}"
        + (f"; centre {report.crop}x{report.crop} crops" if report.crop else "; full images")
        + (f"; self-ensemble of {report.ensemble} flipped/transposed copies" if report.ensemble > 1 else "")
        + (f"; strength {report.strength:g} of the network's change" if report.strength != 1 else "")
    )
    if report.restored is not None or report.protocol != "gopro" or report.strength != 1:
        # the paper's GOPRO number is of IDC's own output, on GOPRO's protocol
        return "\n".join(lines)
    lines.append("")
    lines.append("Paper's Table 2 result beside this measurement (different test data unless the data is GOPRO test):")
    lines.append(f"  {'method':<44}{'PSNR':>8}{'SSIM':>8}  runtime")
    p = PAPER_RESULT
    lines.append(f"  {p['method']:<44}{p['psnr']:>8.2f}{p['ssim']:>8.3f}  {p['runtime']}")
    lines.append(
        f"  {'IDC, measured here (SSIM: MATLAB-style)':<44}{mean['psnr_restored']:>8.2f}"
        f"{mean['ssim_matlab_restored']:>8.3f}  {mean['seconds']:.3f} s, {report.device}"
    )
    return "\n".join(lines)


def write_csv(report: EvalReport, path: str | Path) -> None:
    rows = [asdict(r) for r in report.rows]
    with open(path, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
        writer.writerow({"name": "mean", **report.mean()})


def _finite(values: dict[str, Any]) -> dict[str, Any]:
    """``values`` with NaN (no time measured) as None: JSON has no NaN."""
    return {k: None if isinstance(v, float) and math.isnan(v) else v for k, v in values.items()}


def write_json(report: EvalReport, path: str | Path, meta: dict[str, Any] | None = None) -> None:
    data = {
        **(meta or {}),
        "device": report.device,
        "crop": report.crop,
        "ensemble": report.ensemble,
        "strength": report.strength,
        "protocol": report.protocol,
        "conventions": report.conventions,
        "mean": _finite(report.mean()),
        "per_image": [_finite(asdict(r)) for r in report.rows],
    }
    if report.restored is not None:
        data["restored"] = report.restored
    else:
        data["paper"] = PAPER_RESULT
    Path(path).write_text(json.dumps(data, indent=2) + "\n")
