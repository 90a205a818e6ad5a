"""Property-based fuzzing of the image loader and the deblur command (the long run is benchmarks/fuzz.py)."""

from __future__ import annotations

import random
import tempfile
from pathlib import Path

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from idc.cli import main
from idc.fuzzcases import broken_file, case, odd_image, round_trip_problems
from idc.io import ImageReadError, read_image
from idc.weights import save_weights
from tests.conftest import random_idc

SEEDS = st.integers(min_value=0, max_value=2**32 - 1)
# derandomize: the same cases on every run, so that the suite is deterministic and a red CI means a change broke
# something; the open-ended search for new cases is benchmarks/fuzz.py's (other --seed values, more --cases).


@settings(max_examples=200, deadline=None, derandomize=True)
@given(seed=SEEDS)
def test_broken_files_give_only_clean_errors(seed: int) -> None:
    ext, data = broken_file(random.Random(seed))
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"case.{ext}"
        path.write_bytes(data)
        try:
            img = read_image(path)
        except ImageReadError as e:
            assert str(e).startswith(str(path)) and "\n" not in str(e)
        else:  # a corruption that still decodes must give a valid image
            assert img.rgb.ndim == 3 and img.rgb.shape[0] == 3 and torch.isfinite(img.rgb).all()


# Cases benchmarks/fuzz.py found failing, as (--seed, case), each kept once fixed.
FOUND = [
    (49, 5194),  # a corrupt 16-bit gray PNG that Pillow loads but cannot turn into an array (SystemError)
]


@pytest.mark.parametrize(("seed", "index"), FOUND)
def test_cases_the_long_fuzz_run_found_stay_fixed(tmp_path: Path, seed: int, index: int) -> None:
    ext, data, valid = case(seed, index)
    path = tmp_path / f"case.{ext}"
    path.write_bytes(data)
    try:
        img = read_image(path)
    except ImageReadError as e:
        assert not valid and str(e).startswith(str(path)) and "\n" not in str(e)
    else:
        assert img.rgb.ndim == 3 and img.rgb.shape[0] == 3 and torch.isfinite(img.rgb).all()
        assert not valid or round_trip_problems(img, tmp_path) == []


@settings(max_examples=200, deadline=None, derandomize=True)
@given(seed=SEEDS)
def test_odd_but_valid_images_always_load(seed: int) -> None:
    ext, data, (w, h) = odd_image(random.Random(seed))
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"case.{ext}"
        path.write_bytes(data)
        img = read_image(path)
    assert img.rgb.shape in {(3, h, w), (3, w, h)}
    assert img.rgb.dtype == torch.float32 and float(img.rgb.min()) >= 0 and float(img.rgb.max()) <= 1


@pytest.mark.slow
@settings(max_examples=100, deadline=None, derandomize=True)
@given(seed=SEEDS)
def test_odd_images_written_back_keep_size_depth_alpha_gray_and_cmyk(seed: int) -> None:
    # An image read, written as idc deblur writes its output, then read again: same size, and its depth, alpha,
    # grayness and CMYK inks kept wherever the format can hold them (idc.fuzzcases.round_trip_problems).
    ext, data, _ = odd_image(random.Random(seed))
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"case.{ext}"
        path.write_bytes(data)
        assert round_trip_problems(read_image(path), Path(tmp)) == [], (seed, ext)


def test_deblur_command_on_a_fuzzed_folder(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rng = random.Random(1)
    folder = tmp_path / "in"
    folder.mkdir()
    good, bad = [], []
    for i in range(24):
        if i % 2:
            ext, data, _ = odd_image(rng)
            good.append(f"{i}.{ext}")
        else:
            ext, data = broken_file(rng)
            bad.append(f"{i}.{ext}")
        (folder / f"{i}.{ext}").write_bytes(data)
    weights = save_weights(random_idc(), tmp_path / "w")
    code = main(["deblur", str(folder), "-o", str(tmp_path / "out"), "--weights", str(weights), "--no-progress"])
    err = capsys.readouterr().err
    assert code in (0, 1) and "Traceback" not in err
    written = {p.stem for p in (tmp_path / "out").iterdir()}
    assert {Path(g).stem for g in good} <= written  # every valid image was deblurred
    failed = [line for line in err.splitlines() if line.startswith("idc: error: ")]
    assert all(any(f"{b}:" in line for line in failed) or Path(b).stem in written for b in bad)
    assert not [p for p in (tmp_path / "out").iterdir() if p.name.startswith(".")]  # no partial files left
