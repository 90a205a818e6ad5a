"""Bad input and failing outputs: one-line errors, runs that go on, no partial files."""

from __future__ import annotations

import errno
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from idc.cli import main
from idc.weights import save_weights
from tests.conftest import random_idc


@pytest.fixture
def weights(tmp_path: Path) -> Path:
    return save_weights(random_idc(), tmp_path / "w")


def _png(path: Path, seed: int = 0, size: tuple[int, int] = (20, 24)) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.random.default_rng(seed).integers(0, 256, (*size, 3), dtype=np.uint8)).save(path)
    return path


def test_eval_goes_on_past_a_broken_pair(tmp_path: Path, weights: Path, capsys: pytest.CaptureFixture[str]) -> None:
    for i in range(3):
        _png(tmp_path / "set" / "blur" / f"{i}.png", i)
        _png(tmp_path / "set" / "sharp" / f"{i}.png", 10 + i)
    (tmp_path / "set" / "sharp" / "1.png").write_bytes(b"broken")
    code = main(["eval", "--data", str(tmp_path / "set"), "--weights", str(weights), "--no-progress"])
    captured = capsys.readouterr()
    assert code == 1 and "mean of 2" in captured.out
    assert "sharp/1.png: not a recognised image" in captured.err and "Traceback" not in captured.err
    assert "1 of 3 pairs could not be read" in captured.err


def test_synth_goes_on_past_a_broken_photo(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _png(tmp_path / "photos" / "a.png")
    (tmp_path / "photos" / "b.jpg").write_bytes(b"\xff\xd8\xff truncated")
    _png(tmp_path / "photos" / "c.png", 2)
    code = main(["synth", "--sharp", str(tmp_path / "photos"), "-o", str(tmp_path / "ds"), "--no-progress"])
    err = capsys.readouterr().err
    assert code == 1 and "b.jpg" in err and "Traceback" not in err
    manifest = json.loads((tmp_path / "ds" / "manifest.json").read_text())
    assert len(manifest["pairs"]) == 2 and "b.jpg" in manifest["failed"][0]


def test_a_full_disk_leaves_no_partial_file(
    tmp_path: Path, weights: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    src = _png(tmp_path / "in" / "a.png")
    real_save = Image.Image.save

    def save_then_fill_disk(self: Image.Image, fp: str, *args: object, **kwargs: object) -> None:
        real_save(self, fp, *args, **kwargs)  # the temporary file is (partly) written...
        raise OSError(errno.ENOSPC, "No space left on device")  # ...then the disk is full

    monkeypatch.setattr(Image.Image, "save", save_then_fill_disk)
    code = main(["deblur", str(src), "-o", str(tmp_path / "out"), "--weights", str(weights)])
    err = capsys.readouterr().err
    assert code == 1 and "could not write (No space left on device)" in err and "Traceback" not in err
    assert list((tmp_path / "out").iterdir()) == []


def test_an_unwritable_output_folder_is_one_line(
    tmp_path: Path, weights: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import tempfile

    src = _png(tmp_path / "in" / "a.png")

    def denied(*args: object, **kwargs: object) -> None:
        raise PermissionError(errno.EACCES, "Permission denied")

    monkeypatch.setattr(tempfile, "mkstemp", denied)  # root ignores chmod, so simulate the refusal
    code = main(["deblur", str(src), "-o", str(tmp_path / "out"), "--weights", str(weights)])
    err = capsys.readouterr().err
    assert code == 1 and "could not write (Permission denied)" in err and "Traceback" not in err


@pytest.mark.parametrize("size", [(1, 1), (2, 3), (3, 2)])
def test_tiny_images_deblur(tmp_path: Path, weights: Path, size: tuple[int, int]) -> None:
    src = _png(tmp_path / "t.png", size=size)
    assert main(["deblur", str(src), "-o", str(tmp_path / "o.png"), "--weights", str(weights)]) == 0
    assert Image.open(tmp_path / "o.png").size == (size[1], size[0])
