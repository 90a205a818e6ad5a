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
    list_images,
    missing_support,
    output_format,
    read_image,
    write_like,
)
from idc.models import IDC

logger = logging.getLogger(__name__)

OUTPUT_FORMATS = ("png", "same", "jpg", "tif", "webp", "avif", "heic")


class PlanError(ValueError):
    """The inputs or output location cannot be used; nothing was written."""


@dataclass
class Job:
    """One image to deblur: where it comes from and where its result goes."""

    source: Path
    target: Path


@dataclass
class Report:
    """What a run did: written files with their seconds, skipped and failed ones with the reason."""

    done: list[tuple[Job, float]] = field(default_factory=list)
    failed: list[tuple[Path, str]] = field(default_factory=list)

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
) -> Report:
    """Deblurs every job's source into its target, going on past files that fail.

    Each output is written atomically (temporary file, then rename). Time per image covers reading, the network
    and writing, and is measured after CUDA synchronisation. ``model`` is a torch IDC or an :class:`OnnxDeblurrer`;
    ``tile``, ``overlap``, ``precision`` and ``ensemble`` are as in :func:`idc.infer.deblur_image`. ``metadata``:
    carry each input's colour space (RGB ICC profile, or H.273 code points), EXIF and XMP (orientation reset) over to
    its output. ``quality``: of JPEG, WebP, AVIF and HEIC outputs (:func:`idc.io.write_like`).
    """
    report = Report()
    device = model_device(model)
    bar = tqdm(jobs, desc="deblurring", unit="img", disable=not progress or len(jobs) < 2)
    for job in bar:
        start = time.perf_counter()
        try:
            image = read_image(job.source)
            restored = deblur_image(
                model, image.rgb, tile, overlap, progress=progress, precision=precision, ensemble=ensemble
            )
            synchronize(device)
            job.target.parent.mkdir(parents=True, exist_ok=True)
            if not metadata:
                image = dataclasses.replace(image, icc=None, exif=None, cicp=None, xmp=None)
            write_like(job.target, restored, image, quality)
        except ImageReadError as e:
            report.failed.append((job.source, str(e)))
            continue
        except OSError as e:
            report.failed.append((job.source, f"{job.target}: could not write ({e.strerror or e})"))
            continue
        except RuntimeError as e:  # torch.OutOfMemoryError (CUDA) is one; an Apple GPU or the CPU raise it plain
            if not is_out_of_memory(e):
                raise
            report.failed.append((job.source, f"{job.source}: out of memory for this image size"))
            continue
        seconds = time.perf_counter() - start
        report.done.append((job, seconds))
        if on_done is not None:
            on_done(job, seconds)
    return report
