"""Paired datasets for training and evaluation.

Layouts read from disk:
  * GOPRO_Large: ``<root>/<split>/<sequence>/{blur,blur_gamma,sharp}/<name>`` (:func:`gopro_pairs`);
  * flat folders: ``<root>/{blur,sharp}/<name>`` (:func:`flat_pairs`);
  * list files: RealBlur's ``*_list.txt`` (``sharp blurred`` per line) and HIDE-style name lists
    (:func:`list_file_pairs`).
Generated on the fly:
  * a folder of sharp photos, degraded by :func:`idc.data.degrade.degrade_image` (:class:`SyntheticBlurDataset`);
  * folders of video frames, averaged GOPRO-style (:class:`FrameAveragingDataset`);
  * a folder of sharp photos, viewed along a camera path and averaged GOPRO-style (:class:`CameraPathDataset`).
:class:`MixtureDataset` draws from several of these with weights.

Every sample is a dict with ``blurred`` and ``sharp`` tensors (3, H, W) in [0, 1] and the paths they came from.
Randomness (crops, flips, rotations, degradations) comes from a generator seeded by (seed, epoch, index), so a sample
is reproduced exactly by its index; call ``set_epoch`` to draw new crops each epoch.
"""

from __future__ import annotations

import bisect
import hashlib
import logging
import os
from collections import OrderedDict
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch.utils.data import Dataset

from idc.data.camera_path import CameraPathConfig, path_average
from idc.data.degrade import (
    DegradationConfig,
    batches,
    degrade_image,
    kernel_margin,
    predraw_kernel,
    predraw_noise,
)
from idc.data.frames import average_frames, average_window, check_windows, list_frames, read_frame_codes
from idc.io import ImageReadError, list_images, read_image

Sample = dict[str, Any]
Pair = tuple[Path, Path]  # (blurred, sharp)
LAYOUTS = ("auto", "gopro", "flat", "list")
logger = logging.getLogger(__name__)


class PairError(ValueError):
    """A broken pair: missing counterpart, different sizes or an unreadable file; names both files."""


def _match(blur_dir: Path, sharp_dir: Path) -> list[Pair]:
    pairs = []
    for b in list_images(blur_dir):
        s = sharp_dir / b.name
        if not s.is_file():
            raise PairError(f"{b} has no sharp counterpart {s}")
        pairs.append((b, s))
    return pairs


def gopro_pairs(root: str | Path, split: str = "train", blur_folder: str = "blur") -> list[Pair]:
    """Pairs of a GOPRO_Large split; ``blur_folder`` is ``blur`` or ``blur_gamma``.

    Raises:
        PairError: the split is missing or empty, or a blurred image has no sharp counterpart.
    """
    base = Path(root) / split
    if not base.is_dir():
        raise PairError(f"{base}: no such split folder (GOPRO layout is <root>/<split>/<sequence>/blur, sharp)")
    pairs = []
    for seq in sorted(p for p in base.iterdir() if p.is_dir()):
        if not (seq / blur_folder).is_dir() or not (seq / "sharp").is_dir():
            raise PairError(f"{seq}: expected {blur_folder}/ and sharp/ folders")
        pairs.extend(_match(seq / blur_folder, seq / "sharp"))
    if not pairs:
        raise PairError(f"{base}: no image pairs found")
    return pairs


def flat_pairs(root: str | Path, blur_folder: str = "blur", sharp_folder: str = "sharp") -> list[Pair]:
    """Pairs of ``<root>/blur/<name>`` and ``<root>/sharp/<name>``."""
    root = Path(root)
    if not (root / blur_folder).is_dir() or not (root / sharp_folder).is_dir():
        raise PairError(f"{root}: expected {blur_folder}/ and {sharp_folder}/ folders")
    pairs = _match(root / blur_folder, root / sharp_folder)
    if not pairs:
        raise PairError(f"{root}: no image pairs found")
    return pairs


def list_file_pairs(
    list_file: str | Path,
    root: str | Path | None = None,
    order: str = "sharp_blur",
    blur_dir: str = "blur",
    sharp_dir: str = "GT",
) -> list[Pair]:
    """Pairs named by a text file.

    Two paths per line (RealBlur's ``*_list.txt``: ``order="sharp_blur"``; or ``"blur_sharp"``), relative to
    ``root`` (default: the list file's folder). One name per line (HIDE's lists): the pair is
    ``root/blur_dir/name`` and ``root/sharp_dir/name``. Blank lines and ``#`` comments are skipped.

    Raises:
        PairError: a listed file is missing (naming the line), or the list is empty.
    """
    list_file = Path(list_file)
    base = Path(root) if root is not None else list_file.parent
    if order not in ("sharp_blur", "blur_sharp"):
        raise ValueError(f"order must be sharp_blur or blur_sharp, got {order!r}")
    pairs = []
    for number, line in enumerate(list_file.read_text().splitlines(), start=1):
        fields = line.split("#", 1)[0].split()
        if not fields:
            continue
        if len(fields) == 1:
            b, s = base / blur_dir / fields[0], base / sharp_dir / fields[0]
        elif len(fields) == 2:
            first, second = base / fields[0], base / fields[1]
            s, b = (first, second) if order == "sharp_blur" else (second, first)
        else:
            raise PairError(f"{list_file}:{number}: expected one name or two paths, got {len(fields)} fields")
        for p in (b, s):
            if not p.is_file():
                raise PairError(f"{list_file}:{number}: {p} does not exist (pair {b} / {s})")
        pairs.append((b, s))
    if not pairs:
        raise PairError(f"{list_file}: lists no pairs")
    return pairs


def find_pairs(root: str | Path, layout: str = "auto", split: str = "test", blur_folder: str = "blur") -> list[Pair]:
    """Pairs of a dataset on disk in any supported layout; ``auto`` recognises list files, flat and GOPRO folders."""
    root = Path(root)
    if layout not in LAYOUTS:
        raise ValueError(f"unknown layout {layout!r}; use one of {', '.join(LAYOUTS)}")
    if layout == "auto":
        if root.is_file():
            layout = "list"
        elif (root / blur_folder).is_dir() and (root / "sharp").is_dir():
            layout = "flat"
        elif (root / split).is_dir():
            layout = "gopro"
        else:
            raise PairError(f"{root}: not a list file, a flat blur/sharp folder, or a GOPRO folder with {split}/")
    if layout == "list":
        return list_file_pairs(root)
    if layout == "flat":
        return flat_pairs(root, blur_folder)
    return gopro_pairs(root, split, blur_folder)


def sample_generator(seed: int, epoch: int, index: int) -> torch.Generator:
    """A generator determined by (seed, epoch, index) alone: the same sample whatever the worker or order."""
    digest = hashlib.blake2b(f"{seed}/{epoch}/{index}".encode(), digest_size=8).digest()
    return torch.Generator().manual_seed(int.from_bytes(digest, "little") & (2**63 - 1))


def random_crop_box(height: int, width: int, crop: int, generator: torch.Generator) -> tuple[int, int]:
    """Top-left corner of a random ``crop`` x ``crop`` box inside an image (0 where the image is smaller)."""
    y = int(torch.randint(max(1, height - crop + 1), (), generator=generator))
    x = int(torch.randint(max(1, width - crop + 1), (), generator=generator))
    return y, x


def pad_to_size(x: torch.Tensor, size: int) -> torch.Tensor:
    """Replicate-pads (C, H, W) on the bottom/right up to ``size`` on each side (no-op when already large enough)."""
    ph, pw = max(0, size - x.shape[-2]), max(0, size - x.shape[-1])
    return F.pad(x[None], (0, pw, 0, ph), mode="replicate")[0] if ph or pw else x


def random_crop(tensors: Sequence[torch.Tensor], size: int | None, generator: torch.Generator) -> list[torch.Tensor]:
    """One random ``size`` x ``size`` crop applied to every (C, H, W) tensor alike (smaller ones replicate-padded).

    ``size=None`` returns the tensors unchanged. The box is drawn from the first tensor's size.
    """
    if size is None:
        return list(tensors)
    padded = [pad_to_size(t, size) for t in tensors]
    y, x = random_crop_box(padded[0].shape[-2], padded[0].shape[-1], size, generator)
    return [t[:, y : y + size, x : x + size] for t in padded]


def paired_augment(
    tensors: Sequence[torch.Tensor], generator: torch.Generator, flip: bool = True, rotate: bool = True
) -> list[torch.Tensor]:
    """Applies one random horizontal flip and one random multiple of 90-degree rotation to every tensor alike."""
    do_flip = flip and bool(torch.rand((), generator=generator) < 0.5)
    turns = int(torch.randint(4, (), generator=generator)) if rotate else 0
    out = []
    for t in tensors:
        if do_flip:
            t = t.flip(-1)
        out.append(torch.rot90(t, turns, dims=(-2, -1)) if turns else t)
    return out


class SeededDataset(Dataset[Sample]):
    """Base class: a per-sample generator from (seed, epoch, index)."""

    def __init__(self, seed: int = 0) -> None:
        self.seed = seed
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def generator(self, index: int) -> torch.Generator:
        return sample_generator(self.seed, self.epoch, index)


class PairedImageDataset(SeededDataset):
    """Blurred/sharp pairs from disk, with an identical random crop, flip and rotation applied to both.

    Args:
        pairs: (blurred path, sharp path) pairs, e.g. from :func:`find_pairs`.
        crop: crop side in pixels (images smaller than it are replicate-padded); ``None`` keeps whole images.
        flip, rotate: random horizontal flips and 90-degree rotations.
        seed: base of the per-sample generators.
    """

    def __init__(
        self, pairs: list[Pair], crop: int | None = 256, flip: bool = True, rotate: bool = True, seed: int = 0
    ) -> None:
        super().__init__(seed)
        if not pairs:
            raise PairError("no pairs given")
        self.pairs, self.crop, self.flip, self.rotate = pairs, crop, flip, rotate

    def __len__(self) -> int:
        return len(self.pairs)

    def load_pair(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Reads one whole pair, checking both files and their sizes."""
        b_path, s_path = self.pairs[index]
        try:
            blurred, sharp = read_image(b_path).rgb, read_image(s_path).rgb
        except ImageReadError as e:
            raise PairError(f"pair {b_path} / {s_path}: {e}") from None
        if blurred.shape != sharp.shape:
            raise PairError(
                f"pair {b_path} ({blurred.shape[2]}x{blurred.shape[1]}) / {s_path} "
                f"({sharp.shape[2]}x{sharp.shape[1]}): sizes differ"
            )
        return blurred, sharp

    def __getitem__(self, index: int) -> Sample:
        g = self.generator(index)
        blurred, sharp = random_crop(self.load_pair(index), self.crop, g)
        blurred, sharp = paired_augment([blurred, sharp], g, self.flip, self.rotate)
        b_path, s_path = self.pairs[index]
        return {"blurred": blurred, "sharp": sharp, "blurred_path": str(b_path), "sharp_path": str(s_path)}


DEGRADATION_STREAM = 2**41  # offsets the index so degradation draws are independent of crop/flip draws


class SyntheticBlurDataset(SeededDataset):
    """Sharp photos degraded on the fly (y = k * x + w) with a per-sample seed recorded in the sample.

    A crop larger by the kernel margin is blurred and its centre kept, so crops have no border effects. The
    degradation draws come from their own generator (seed in ``sample["seed"]``), so a trainer may instead run them
    on a GPU: with ``defer=True`` the sample carries the sharp ``window`` and ``seed`` and no ``blurred`` image, and
    :func:`idc.data.degrade.degrade_batch` with that seed gives the same pair. For configs that ``degrade_batch``
    batches, the sample also carries its ``kernel``, drawn here, and either its Gaussian ``noise`` (then
    :func:`idc.data.degrade.apply_predrawn` finishes it with no draws) or the generator state ``rng`` to continue from.

    Args:
        images: sharp image files (see :func:`image_files`).
        degradation: what to draw for each sample.
        crop: crop side (``None``: whole images, blurred with replicate borders).
        defer: leave the degradation to the caller (see above).
    """

    def __init__(
        self,
        images: list[Path],
        degradation: DegradationConfig | None = None,
        crop: int | None = 256,
        flip: bool = True,
        rotate: bool = True,
        seed: int = 0,
        defer: bool = False,
    ) -> None:
        super().__init__(seed)
        if not images:
            raise ValueError("no sharp images given")
        if defer and crop is None:
            raise ValueError("deferred degradation needs a crop size")
        self.images, self.crop, self.flip, self.rotate, self.defer = images, crop, flip, rotate, defer
        self.degradation = degradation or DegradationConfig()
        self.margin = kernel_margin(self.degradation)

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, index: int) -> Sample:
        g = self.generator(index)
        window = None if self.crop is None else self.crop + 2 * self.margin
        (sharp,) = random_crop([read_image(self.images[index]).rgb], window, g)
        (sharp,) = paired_augment([sharp], g, self.flip, self.rotate)
        path = str(self.images[index])
        seed = int(self.generator(index + DEGRADATION_STREAM).initial_seed())
        if self.defer:
            sample: Sample = {"window": sharp, "seed": seed, "blurred_path": path, "sharp_path": path}
            if batches(self.degradation):
                # Draw here, in the worker, what can be drawn ahead: the kernel (about 0.5 ms of trajectory) and
                # Gaussian noise. The trainer's device then only convolves and adds, with no random draws and no
                # host synchronisation (CPU noise copied to a GPU would wait for the GPU to finish its queue).
                # Shot noise depends on the blurred image: then the trainer continues from ``rng``.
                g = torch.Generator().manual_seed(seed)
                sample["kernel"] = predraw_kernel(self.degradation, g)
                noise = predraw_noise(self.degradation, g, tuple(sharp.shape))
                if noise is None:
                    sample["rng"] = g.get_state()
                else:
                    sample["noise"] = noise[1]
            return sample
        blurred, record = degrade_image(sharp, self.degradation, torch.Generator().manual_seed(seed))
        if self.crop is not None and self.margin:
            m = self.margin
            blurred, sharp = blurred[:, m:-m, m:-m], sharp[:, m:-m, m:-m]
        return {
            "blurred": blurred,
            "sharp": sharp,
            "blurred_path": path,
            "sharp_path": path,
            "seed": seed,
            "degradation": record,
        }


class InputNoise(SeededDataset):
    """Adds Gaussian noise with sigma drawn from ``sigma`` to the blurred image of another dataset's samples.

    The paper adds noise of sigma about 2/255 to blurred training inputs; this applies it to pairs that come without
    noise of their own (GOPRO pairs, averaged frames).
    """

    def __init__(self, dataset: Dataset[Sample], sigma: tuple[float, float], seed: int = 0) -> None:
        super().__init__(seed)
        self.dataset, self.sigma = dataset, sigma

    def __len__(self) -> int:
        return len(self.dataset)  # type: ignore[arg-type]

    def set_epoch(self, epoch: int) -> None:
        super().set_epoch(epoch)
        if isinstance(self.dataset, SeededDataset):
            self.dataset.set_epoch(epoch)

    def __getitem__(self, index: int) -> Sample:
        sample = self.dataset[index]
        g = self.generator(index + DEGRADATION_STREAM)
        lo, hi = self.sigma
        sigma = lo + (hi - lo) * float(torch.rand((), generator=g))
        if sigma > 0:
            noise = torch.randn(sample["blurred"].shape, generator=g)
            sample["blurred"] = (sample["blurred"] + sigma * noise).clamp(0, 1)
        return sample


class FrameAveragingDataset(SeededDataset):
    """GOPRO-style pairs averaged on the fly from folders of consecutive sharp frames.

    Sample ``i`` draws a sequence, an odd frame count from ``frame_counts``, a stride from ``frame_strides`` (only
    when there are several) and a start frame from its generator, averages the frames in linear light and keeps the
    centre frame as ground truth.

    Args:
        folders: frame folders (frames sorted by name).
        frame_counts: odd numbers of frames to average (default 7, 9, 11, 13 as in GOPRO).
        frame_strides: take every k-th frame, k drawn from these (default 1: consecutive frames). Strides 2 and 3
            make blur of motion two and three times as fast out of the same footage (see
            :func:`idc.data.frames.average_window`).
        response, gamma: the inverse camera response (see :mod:`idc.data.frames`).
        length: samples per epoch (default: the number of frames available).
        cache_mib: memory for decoded frames, held as code values (an 8-bit 1280x720 frame takes 2.6 MiB). Decoding
            7-13 JPEG frames is most of a sample's cost. When every frame fits, all are decoded here, once, on
            ``threads`` threads, and data-loader workers share them (forked workers inherit the memory); otherwise
            each process keeps its least recently used frames up to this size. 0: decode every frame every time.
        threads: threads decoding frames up front (default: up to 8, one per CPU).

    Raises:
        ValueError: no frames, too few frames for the longest window, or (decoding up front) an unreadable frame or
            one whose size differs from the rest of its sequence (the message names the file).
    """

    def __init__(
        self,
        folders: list[Path],
        frame_counts: Sequence[int] = (7, 9, 11, 13),
        response: str = "gamma",
        gamma: float = 2.2,
        crop: int | None = 256,
        flip: bool = True,
        rotate: bool = True,
        seed: int = 0,
        length: int | None = None,
        cache_mib: float = 0,
        threads: int | None = None,
        frame_strides: Sequence[int] = (1,),
    ) -> None:
        super().__init__(seed)
        self.cache_bytes = int(cache_mib * 2**20)
        self._cache: OrderedDict[Path, torch.Tensor] = OrderedDict()
        self._cached = 0
        check_windows(frame_counts, frame_strides)
        self.sequences = [list_frames(f) for f in folders]
        self.counts, self.strides = list(frame_counts), list(frame_strides)
        span = (max(self.counts) - 1) * max(self.strides) + 1  # frames the longest window covers
        too_short = [str(f) for f, s in zip(folders, self.sequences, strict=True) if len(s) < span]
        if too_short:
            raise ValueError(
                f"fewer than {span} frames ({max(self.counts)} at stride {max(self.strides)}) in: "
                + ", ".join(too_short)
            )
        self.response, self.gamma = response, gamma
        self.crop, self.flip, self.rotate = crop, flip, rotate
        self.length = length or sum(len(s) for s in self.sequences)
        # Every frame decoded up front, one (T, C, H, W) tensor of code values per sequence, when they all fit.
        self.decoded: list[torch.Tensor] | None = None
        if self.cache_bytes:
            # The first frame of each sequence gives the size of all of them (they must agree).
            firsts = [read_frame_codes(frames[0]) for frames in self.sequences]
            needed = sum(f.numel() * f.element_size() * len(s) for f, s in zip(firsts, self.sequences, strict=True))
            if needed <= self.cache_bytes:
                self.decoded = self._decode_all(firsts, threads or min(8, os.cpu_count() or 1))
                self._cached = needed

    def _decode_all(self, firsts: list[torch.Tensor], threads: int) -> list[torch.Tensor]:
        out = []
        with ThreadPoolExecutor(max_workers=threads) as pool:  # decoders release the GIL
            for frames, first in zip(self.sequences, firsts, strict=True):
                stack = torch.empty((len(frames), *first.shape), dtype=first.dtype)
                stack[0] = first
                decoded = pool.map(read_frame_codes, frames[1:])
                for i, (path, img) in enumerate(zip(frames[1:], decoded, strict=True), 1):
                    if img.shape != first.shape or img.dtype != first.dtype:
                        raise ValueError(
                            f"{path}: size {tuple(img.shape[1:])} ({img.dtype}) differs from {frames[0]} "
                            f"{tuple(first.shape[1:])} ({first.dtype})"
                        )
                    stack[i] = img
                out.append(stack)
        logger.info(
            "decoded %d frames into memory (%.0f MiB)",
            sum(len(t) for t in out),
            sum(t.numel() * t.element_size() for t in out) / 2**20,
        )
        return out

    def __len__(self) -> int:
        return self.length

    def read_frame(self, path: Path) -> torch.Tensor:
        """The frame's code values (:func:`idc.data.frames.read_frame_codes`), from the cache when it holds it."""
        if path in self._cache:
            self._cache.move_to_end(path)
            return self._cache[path]
        img = read_frame_codes(path)
        size = img.numel() * img.element_size()
        if size <= self.cache_bytes:
            while self._cached + size > self.cache_bytes:
                dropped = self._cache.popitem(last=False)[1]
                self._cached -= dropped.numel() * dropped.element_size()
            self._cache[path] = img
            self._cached += size
        return img

    def window(self, index: int) -> tuple[int, int, int, int]:
        """(sequence, start frame, frame count, stride) of sample ``index`` for the current epoch."""
        g = self.generator(index)
        seq = int(torch.randint(len(self.sequences), (), generator=g))
        n = self.counts[int(torch.randint(len(self.counts), (), generator=g))]
        # Drawn only when there is a choice, so configs without strides keep their samples.
        k = int(torch.randint(len(self.strides), (), generator=g)) if len(self.strides) > 1 else 0
        stride = self.strides[k]
        start = int(torch.randint(len(self.sequences[seq]) - (n - 1) * stride, (), generator=g))
        return seq, start, n, stride

    def __getitem__(self, index: int) -> Sample:
        seq, start, n, stride = self.window(index)
        last = start + (n - 1) * stride
        g = self.generator(index + 2**40)  # independent of the window draw
        paths = self.sequences[seq]
        crop = self.crop

        def region(height: int, width: int) -> tuple[slice, slice] | None:
            # The same draw random_crop would make on the full average: cropping first gives identical samples.
            if crop is None or height < crop or width < crop:
                return None
            y, x = random_crop_box(height, width, crop, g)
            return slice(y, y + crop), slice(x, x + crop)

        if self.decoded is not None:
            frames = self.decoded[seq][start : last + 1 : stride]
            keep = region(frames.shape[-2], frames.shape[-1])
            blurred, sharp = average_frames(
                frames[:, :, keep[0], keep[1]] if keep is not None else frames, self.response, self.gamma
            )
        else:
            blurred, sharp = average_window(paths, start, n, self.response, self.gamma, region, self.read_frame, stride)
        if crop is not None and (blurred.shape[-2] != crop or blurred.shape[-1] != crop):
            blurred, sharp = random_crop([blurred, sharp], crop, g)
        blurred, sharp = paired_augment([blurred, sharp], g, self.flip, self.rotate)
        return {
            "blurred": blurred,
            "sharp": sharp,
            "blurred_path": f"{paths[start]}..{paths[last].name} (average of {n}"
            + (f", {stride} apart)" if stride > 1 else ")"),
            "sharp_path": str(paths[start + (n // 2) * stride]),
        }


class CameraPathDataset(SeededDataset):
    """GOPRO-style pairs from sharp photos: views along a random camera path averaged in linear light
    (:mod:`idc.data.camera_path`); the path's middle view, the photo's crop, is the ground truth.

    Sample ``i`` draws a view count from ``frame_counts`` (odd), a crop box and a path from its generator.

    Args:
        images: sharp image files (see :func:`image_files`).
        frame_counts: odd numbers of views to average, as frames are in :class:`FrameAveragingDataset`.
        path: how far the camera may move.
        response, gamma: the inverse camera response (see :mod:`idc.data.frames`).
        crop: crop side (images smaller than it are replicate-padded); ``None`` keeps whole images.
    """

    def __init__(
        self,
        images: list[Path],
        frame_counts: Sequence[int] = (7, 9, 11, 13),
        path: CameraPathConfig | None = None,
        response: str = "gamma",
        gamma: float = 2.2,
        crop: int | None = 256,
        flip: bool = True,
        rotate: bool = True,
        seed: int = 0,
    ) -> None:
        super().__init__(seed)
        if not images:
            raise ValueError("no sharp images given")
        check_windows(frame_counts)
        self.images, self.counts, self.path = images, list(frame_counts), path or CameraPathConfig()
        self.response, self.gamma = response, gamma
        self.crop, self.flip, self.rotate = crop, flip, rotate

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, index: int) -> Sample:
        g = self.generator(index)
        image = read_image(self.images[index]).rgb
        n = self.counts[int(torch.randint(len(self.counts), (), generator=g))]
        if self.crop is None:
            top = left = 0
            height, width = image.shape[-2:]
        else:
            image = pad_to_size(image, self.crop)
            top, left = random_crop_box(image.shape[-2], image.shape[-1], self.crop, g)
            height = width = self.crop
        blurred, sharp = path_average(image, top, left, height, width, n, self.path, g, self.response, self.gamma)
        blurred, sharp = paired_augment([blurred, sharp], g, self.flip, self.rotate)
        path = str(self.images[index])
        return {
            "blurred": blurred,
            "sharp": sharp,
            "blurred_path": f"{path} (camera path, {n} views)",
            "sharp_path": path,
        }


class MixtureDataset(SeededDataset):
    """Draws each sample from one of several datasets, chosen with the given weights.

    Sample ``i`` picks a source and an index inside it from its own generator, so the mixture is reproducible.
    """

    def __init__(
        self, datasets: Sequence[Dataset[Sample]], weights: Sequence[float], length: int, seed: int = 0
    ) -> None:
        super().__init__(seed)
        if len(datasets) != len(weights) or not datasets:
            raise ValueError("need one weight per dataset and at least one dataset")
        if min(weights) < 0 or sum(weights) <= 0:
            raise ValueError(f"weights must be >= 0 with a positive sum, got {list(weights)}")
        self.datasets = list(datasets)
        total = float(sum(weights))
        self.cumulative = [sum(weights[: i + 1]) / total for i in range(len(weights))]
        self.length = length

    def __len__(self) -> int:
        return self.length

    def set_epoch(self, epoch: int) -> None:
        super().set_epoch(epoch)
        for d in self.datasets:
            if isinstance(d, SeededDataset):
                d.set_epoch(epoch)

    def __getitem__(self, index: int) -> Sample:
        g = self.generator(index)
        source = min(bisect.bisect_right(self.cumulative, float(torch.rand((), generator=g))), len(self.datasets) - 1)
        dataset = self.datasets[source]
        inner = int(torch.randint(len(dataset), (), generator=g))  # type: ignore[arg-type]
        sample = dataset[inner]
        sample["source"] = source
        return sample


def image_files(root: str | Path) -> list[Path]:
    """Image files under ``root`` (recursively), sorted; hidden files skipped."""
    files = list_images(root, recursive=True)
    if not files:
        raise ValueError(f"{root}: no images found")
    return files
