"""idc.batch.deblur_files: reading, the network and writing overlap; results come in the jobs' order."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import idc.batch as batch
from idc.batch import Job, deblur_files
from idc.infer import deblur_image
from idc.io import LoadedImage, read_image
from tests.conftest import random_idc


def _photos(folder: Path, names: list[str]) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    paths = []
    for name in names:
        Image.fromarray(rng.integers(0, 256, (12, 16, 3), dtype=np.uint8)).save(folder / name)
        paths.append(folder / name)
    return paths


def test_the_next_image_is_read_while_the_one_before_is_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The write of the first image waits until the third is being read: only a pipeline gets there (one image at a
    # time would wait for ever; the wait gives up after 60 s and the test fails).
    sources = _photos(tmp_path / "in", ["a.png", "b.png", "c.png", "d.png"])
    jobs = [Job(s, tmp_path / "out" / s.name) for s in sources]
    third_read = threading.Event()
    reads: list[tuple[str, str]] = []
    waited: list[bool] = []
    real_read, real_write = batch.read_image, batch.write_like

    def read(path: Path) -> LoadedImage:
        reads.append((path.name, threading.current_thread().name))
        if path.name == "c.png":
            third_read.set()
        return real_read(path)

    def write(path: Path, rgb: torch.Tensor, like: LoadedImage, quality: int = 95) -> None:
        if path.name == "a.png":
            waited.append(third_read.wait(timeout=60))
        real_write(path, rgb, like, quality)

    monkeypatch.setattr(batch, "read_image", read)
    monkeypatch.setattr(batch, "write_like", write)
    model = random_idc()
    done: list[str] = []
    report = deblur_files(model, jobs, progress=False, on_done=lambda job, s: done.append(job.source.name))
    assert waited == [True] and done == ["a.png", "b.png", "c.png", "d.png"] and report.ok
    assert reads[0] == ("a.png", "MainThread") and all(t.startswith("idc-read") for _, t in reads[1:])
    assert all(seconds > 0 for _, seconds in report.done) and report.seconds > 0
    for job in jobs:  # the same pixels as one image at a time
        expected = deblur_image(model, read_image(job.source).rgb, tile=0)
        assert np.array_equal(np.asarray(Image.open(job.target)), np.round(expected.permute(1, 2, 0).numpy() * 255))


def test_failures_and_results_come_in_the_jobs_order(tmp_path: Path) -> None:
    sources = _photos(tmp_path / "in", ["a.png", "c.png", "d.png"])
    (tmp_path / "in" / "b.png").write_bytes(b"not a png")  # fails to read
    (tmp_path / "blocked").write_text("a file where d's output folder should be")  # fails to write
    a, c, d = sources
    jobs = [
        Job(a, tmp_path / "out" / "a.png"),
        Job(tmp_path / "in" / "b.png", tmp_path / "out" / "b.png"),
        Job(c, tmp_path / "out" / "c.png"),
        Job(d, tmp_path / "blocked" / "d.png"),
    ]
    done: list[str] = []
    report = deblur_files(random_idc(), jobs, progress=False, on_done=lambda job, s: done.append(job.source.name))
    assert done == ["a.png", "c.png"] and [job.source.name for job, _ in report.done] == done
    assert [path.name for path, _ in report.failed] == ["b.png", "d.png"]
    assert report.failed[0][1].startswith(f"{tmp_path / 'in' / 'b.png'}: ")
    assert report.failed[1][1].startswith(f"{tmp_path / 'blocked' / 'd.png'}: could not write")
    assert (tmp_path / "out" / "c.png").exists() and not (tmp_path / "out" / "b.png").exists()


def test_large_images_are_not_read_ahead(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Over the limit, an image is read when its turn comes, so that two are never held beside the network's memory.
    sources = _photos(tmp_path / "in", ["a.png", "b.png", "c.png"])
    threads: list[str] = []
    real_read = batch.read_image
    monkeypatch.setattr(batch, "read_image", lambda p: threads.append(threading.current_thread().name) or real_read(p))
    monkeypatch.setattr(batch, "READ_AHEAD_MAX_PIXELS", 12 * 16 - 1)
    report = deblur_files(random_idc(), [Job(s, tmp_path / "out" / s.name) for s in sources], progress=False)
    assert report.ok and threads == ["MainThread"] * 3


def test_an_interruption_leaves_whole_outputs_only(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Ctrl-C while the network runs on the second photo and the first is being written: the first is finished (the
    # writer is waited for), no other output and no temporary file are left, and the interruption goes on up.
    sources = _photos(tmp_path / "in", ["a.png", "b.png", "c.png"])
    jobs = [Job(s, tmp_path / "out" / s.name) for s in sources]
    writing = threading.Event()
    real_write, real_deblur = batch.write_like, batch.deblur_image

    def write(path: Path, rgb: torch.Tensor, like: LoadedImage, quality: int = 95) -> None:
        writing.set()
        real_write(path, rgb, like, quality)

    calls: list[int] = []

    def deblur(model: object, rgb: torch.Tensor, *args: object, **kwargs: object) -> torch.Tensor:
        calls.append(1)
        if len(calls) == 2:  # the second photo, once the writer has the first
            assert writing.wait(timeout=60)
            raise KeyboardInterrupt
        return real_deblur(model, rgb, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(batch, "write_like", write)
    monkeypatch.setattr(batch, "deblur_image", deblur)
    with pytest.raises(KeyboardInterrupt):
        deblur_files(random_idc(), jobs, progress=False)
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["a.png"]
    assert Image.open(tmp_path / "out" / "a.png").size == (16, 12)
