"""Deblurring files and folders in a batch: the library behind ``idc deblur`` (``idc.deblur`` is the one-image call)."""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import torch
from tqdm import tqdm

from idc.export import OnnxDeblurrer
from idc.infer import deblur_image, model_device, synchronize
from idc.io import (
    IMAGE_EXTENSIONS,
    RAW_EXTENSIONS,
    ImageReadError,
    LoadedImage,
    image_size,
    list_images,
    missing_support,
    output_format,
    read_image,
    write_like,
)
from idc.models import IDC

logger = logging.getLogger(__name__)

OUTPUT_FORMATS = ("png", "same", "jpg", "tif", "webp", "avif", "heic", "jxl")


class PlanError(ValueError):
    """The inputs or output location cannot be used; nothing was written."""


@dataclass
class Job:
    """One image to deblur: where it comes from and where its result goes."""

    source: Path
    target: Path


@dataclass
class Report:
    """What a run did: written files with their seconds (reading, network and writing of each), failed ones with
    the reason, and the run's wall time (less than the sum, as the three overlap)."""

    done: list[tuple[Job, float]] = field(default_factory=list)
    failed: list[tuple[Path, str]] = field(default_factory=list)
    seconds: float = 0.0  # wall time of the run

    @property
    def ok(self) -> bool:
        return not self.failed


def collect_inputs(paths: Iterable[str | Path]) -> list[tuple[Path, Path]]:
    """Expands files, folders (recursively) and wildcard patterns into (image file, path relative to its root) pairs.

    Files named explicitly are taken whatever their extension (a bad one fails later with a clear error);
    inside folders only image extensions are taken, hidden files and folders skipped, and camera raw files where
    rawpy is installed to develop them, but for those with an image of the same name beside them (a camera's
    RAW+JPEG pair gives its JPEG; a warning counts the raw files left out). A path that does not exist
    but holds ``*``, ``?`` or ``[`` is a pattern (``shots/*.jpg``, ``shots/**/*.heic``), expanded here as a Unix
    shell would have expanded it before the command saw it (Windows' shells pass patterns on unexpanded): each match
    is taken as if it had been named, so a command means the same on every system.

    Raises:
        PlanError: a path does not exist, a pattern matches nothing, or a folder holds no images.
    """
    import glob

    found: list[tuple[Path, Path]] = []
    for raw in paths:
        p = Path(raw)
        named = [p]
        if not p.exists() and any(c in str(raw) for c in "*?["):
            named = [Path(m) for m in sorted(glob.glob(str(raw), recursive=True))]
            if not named:
                raise PlanError(f"{raw}: no file or folder matches")
        for p in named:
            if p.is_dir():
                images = _folder_images(p)
                found.extend((f, f.relative_to(p)) for f in images)
            elif p.exists():
                found.append((p, Path(p.name)))
            else:
                raise PlanError(f"{p}: no such file or folder")
    return found


def _folder_images(folder: Path) -> list[Path]:
    """The images :func:`collect_inputs` takes from ``folder`` (recursively), camera raw files as it says.

    Raises:
        PlanError: the folder holds none (saying what it looked for, and what its raw files need).
    """
    from idc.raw import is_camera_raw_file, rawpy_problem

    images = list_images(folder, recursive=True)
    raws = list_images(folder, recursive=True, extensions=RAW_EXTENSIONS)
    # .raw is also what instruments and scanners call their plain sample dumps: taken only when it is a camera's.
    raws = [f for f in raws if f.suffix.lower() != ".raw" or is_camera_raw_file(f)]
    problem = rawpy_problem() if raws else None
    if raws and problem is None:
        developed = {(f.parent, f.stem.lower()): f for f in images}
        paired = [f for f in raws if (f.parent, f.stem.lower()) in developed]
        if paired:
            logger.warning(
                "%s: %s left out, each beside an image of the same name, which is taken instead (%s for %s); name "
                "the raw files to develop them",
                folder,
                _count(len(paired), "camera raw file"),
                developed[paired[0].parent, paired[0].stem.lower()].name,
                paired[0].name,
            )
        images = sorted(images + [f for f in raws if f not in paired])
    elif raws:
        if not images:
            raise PlanError(f"{folder}: folder holds {_count(len(raws), 'camera raw file')} only; {problem}")
        logger.warning("%s: %s left out; %s", folder, _count(len(raws), "camera raw file"), problem)
    if not images:
        raise PlanError(f"{folder}: folder holds no images ({', '.join(sorted(IMAGE_EXTENSIONS))}, camera raw)")
    return images


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'s' if n != 1 else ''}"


def output_suffix(source: Path, fmt: str) -> str:
    """The extension of ``source``'s output in ``fmt`` (``same``: the source's own; TIFF for a camera raw file, as
    raw converters export; PNG for an unknown one)."""
    if fmt == "same":
        ext = source.suffix.lower()
        return ext if ext in IMAGE_EXTENSIONS else ".tif" if ext in RAW_EXTENSIONS else ".png"
    return "." + fmt


def plan_jobs(
    inputs: list[tuple[Path, Path]],
    output: Path,
    fmt: str = "png",
    overwrite: bool = False,
    suffix: str = "",
    skip_existing: bool = False,
) -> list[Job]:
    """Decides every output path before anything runs.

    ``output`` is a file when there is exactly one input and ``output`` has an image extension; otherwise it is a
    folder (created if needed) that mirrors the inputs' relative paths, each name with ``suffix`` added before its
    extension (``_sharp``: ``a/photo.jpg`` -> ``OUTPUT/a/photo_sharp.png``). With ``skip_existing`` the jobs whose
    output exists are left out (outputs appear whole, by rename, so an existing one is finished: an interrupted run
    continues where it stopped).

    Raises:
        PlanError: two inputs would write the same file, an output would replace an input, an output exists
            and neither ``overwrite`` nor ``skip_existing`` is given, or an output's format cannot be written here
            (HEIC without pillow-heif).
    """
    if overwrite and skip_existing:
        raise PlanError("--overwrite and --skip-existing exclude each other")
    if fmt not in OUTPUT_FORMATS:
        raise PlanError(f"unknown output format {fmt!r}; choose from {', '.join(OUTPUT_FORMATS)}")
    if any(c in suffix for c in "/\\\0"):
        raise PlanError(f"--suffix {suffix!r}: must be part of a file name (no folder separators)")
    single_file = len(inputs) == 1 and output.suffix.lower() in IMAGE_EXTENSIONS and not output.is_dir()
    if single_file:
        jobs = [Job(inputs[0][0], output)]
    else:
        if output.exists() and not output.is_dir():
            raise PlanError(f"{output}: exists and is not a folder (several inputs need an output folder)")
        jobs = [Job(src, output / rel.with_name(rel.stem + suffix + output_suffix(src, fmt))) for src, rel in inputs]
    sources = {j.source.resolve() for j in jobs}
    seen: dict[Path, Path] = {}
    for job in jobs:
        t = job.target.resolve()
        if t in sources:
            raise PlanError(f"{job.target}: would overwrite an input image; choose another output location")
        if t in seen:
            raise PlanError(f"{job.target}: both {seen[t]} and {job.source} would be written there")
        seen[t] = job.source
        if job.target.exists() and not (overwrite or skip_existing):
            raise PlanError(
                f"{job.target}: already exists (--overwrite replaces it, --skip-existing keeps it and goes on)"
            )
        if problem := missing_support(output_format(job.target)):
            raise PlanError(f"{job.target}: {problem}")
    return [job for job in jobs if not (skip_existing and job.target.exists())]


def is_out_of_memory(error: BaseException) -> bool:
    """Whether ``error`` is an allocation failure of torch: CUDA's ``OutOfMemoryError``, the Apple GPU's "MPS
    backend out of memory", the CPU allocator's "can't allocate memory"."""
    text = str(error)
    return isinstance(error, torch.OutOfMemoryError) or "out of memory" in text or "can't allocate memory" in text


# Images up to this size are read while the network runs on the one before (larger ones when their turn comes, so
# that two such images are never held at once beside the network's own memory).
READ_AHEAD_MAX_PIXELS = 40_000_000


def deblur_files(
    model: IDC | OnnxDeblurrer,
    jobs: list[Job],
    progress: bool = True,
    on_done: Callable[[Job, float], None] | None = None,
    tile: int | str = "auto",
    overlap: int = 128,
    precision: str = "fp32",
    metadata: bool = True,
    ensemble: int = 1,
    quality: int = 95,
    pipeline: bool = True,
    strength: float = 1.0,
) -> Report:
    """Deblurs every job's source into its target, going on past files that fail.

    With ``pipeline`` (the default), reading, the network and writing overlap: while the network runs on one image,
    the next is read (when it has at most :data:`READ_AHEAD_MAX_PIXELS`) and the one before is written, each in a
    thread of its own; on a GPU, where decoding and encoding a photo take longer than the network, that is most of
    the time. Without, one image at a time (what ``benchmarks/pipeline.py`` compares). Results, failures
    and ``on_done`` calls come in the jobs' order. Each output is written atomically (temporary file, then rename).
    The seconds of an image are those of its reading, network (measured after CUDA synchronisation) and writing,
    which other images' overlap; ``Report.seconds`` is the wall time of the whole run. ``model`` is a torch IDC or
    an :class:`OnnxDeblurrer`; ``tile``, ``overlap``, ``precision``, ``ensemble`` and ``strength`` are as in
    :func:`idc.infer.deblur_image`. ``metadata``: carry each input's colour space (RGB ICC profile, or H.273 code
    points), EXIF and XMP (orientation reset) over to its output. ``quality``: of JPEG, WebP, AVIF and HEIC outputs
    (:func:`idc.io.write_like`).
    """
    from concurrent.futures import Future, ThreadPoolExecutor

    report = Report()
    device = model_device(model)
    run_start = time.perf_counter()
    bar = tqdm(total=len(jobs), desc="deblurring", unit="img", disable=not progress or len(jobs) < 2)

    def timed_read(source: Path) -> tuple[LoadedImage, float]:
        start = time.perf_counter()
        return read_image(source), time.perf_counter() - start

    def read_ahead(job: Job) -> bool:
        try:
            w, h = image_size(job.source)
        except Exception:  # unreadable: it fails when its turn comes, with its own message
            return True
        return w * h <= READ_AHEAD_MAX_PIXELS

    def timed_write(job: Job, restored: torch.Tensor, image: LoadedImage) -> float:
        start = time.perf_counter()
        job.target.parent.mkdir(parents=True, exist_ok=True)
        write_like(job.target, restored, image, quality)
        return time.perf_counter() - start

    def record(job: Job, seconds: float | None, failure: str | None) -> None:
        if failure is not None:
            report.failed.append((job.source, failure))
        else:
            assert seconds is not None
            report.done.append((job, seconds))
            if on_done is not None:
                on_done(job, seconds)
        bar.update()

    pending: tuple[Job, float, Future[float]] | None = None  # the write in flight: its job, seconds so far, future

    def finish_write() -> None:
        nonlocal pending
        if pending is None:
            return
        job, seconds, future = pending
        pending = None
        try:
            record(job, seconds + future.result(), None)
        except OSError as e:
            record(job, None, f"{job.target}: could not write ({e.strerror or e})")

    reader, writer = ThreadPoolExecutor(1, "idc-read"), ThreadPoolExecutor(1, "idc-write")
    try:
        ahead: Future[tuple[LoadedImage, float]] | None = None
        for i, job in enumerate(jobs):
            try:
                image, read_seconds = ahead.result() if ahead is not None else timed_read(job.source)
            except ImageReadError as e:
                image = None
                failure = str(e)
            ahead = None
            if pipeline and i + 1 < len(jobs) and read_ahead(jobs[i + 1]):
                ahead = reader.submit(timed_read, jobs[i + 1].source)
            if image is None:
                finish_write()
                record(job, None, failure)
                continue
            start = time.perf_counter()
            try:
                restored = deblur_image(
                    model,
                    image.rgb,
                    tile,
                    overlap,
                    progress=progress,
                    precision=precision,
                    ensemble=ensemble,
                    strength=strength,
                )
                synchronize(device)
                restored = restored.cpu()
            except RuntimeError as e:  # torch.OutOfMemoryError (CUDA) is one; an Apple GPU or the CPU raise it plain
                if not is_out_of_memory(e):
                    raise
                finish_write()
                record(job, None, f"{job.source}: out of memory for this image size")
                continue
            seconds = read_seconds + time.perf_counter() - start
            if not metadata:
                image = dataclasses.replace(image, icc=None, exif=None, cicp=None, xmp=None)
            finish_write()
            pending = (job, seconds, writer.submit(timed_write, job, restored, image))
            if not pipeline:
                finish_write()
        finish_write()
    finally:
        # Interrupted (Ctrl-C, an unexpected error): what is in flight finishes, as a whole file or none.
        reader.shutdown(wait=True, cancel_futures=True)
        writer.shutdown(wait=True, cancel_futures=True)
        bar.close()
    report.seconds = time.perf_counter() - run_start
    return report
