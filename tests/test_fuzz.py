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
from idc.fuzzcases import broken_file, odd_image, round_trip_problems
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


# Files benchmarks/fuzz.py found failing, kept byte for byte once fixed (a change to the case generator makes other
# cases of the same seed and index; idc.fuzzcases.case(seed, index) remakes a case while the generator is unchanged).
FOUND = {
    # --seed 49, case 5194 (2026-11-28): a TIFF named .png whose 16-bit gray image, 47107x31 by its corrupted header,
    # Pillow loads but cannot make an array of (SystemError: tile cannot extend outside image).
    "seed49-case5194.png": bytes.fromhex(
        "49492a00080000000a0000010400010000001f000000010104000100000003b800000201030001000000100000000301"
        "030001000000010000000601030001000000010000001101040001000000860000001201030001000000070000001601"
        "040001000000030000001701040001000000ba0000001c01030001000000010000000000000059bc947dbd7b4d999531"
        "bad1d5fa84d5409f41b77e54e8ac079d285d3d7b326f9de0dd3169f26063433564e29f533d995db1d335265550b07c39"
        "a9eebf87a31709293d92458fc640ebe161af15d7cd120c1eabba4ea39adea473512573338c880e39554b96b03da34b70"
        "387cb437e46ebbcc6d16fdd206c0e0c216fdcc546289f68e41a9b70cbe6d6b34d50454d06e1f8f45ff2fe1fc11e40617"
        "76656ca6738fdc2d257eecf16c1e0537e57beab1e6a44b00da1a4ecc624df158"
    ),
}


@pytest.mark.parametrize("name", sorted(FOUND))
def test_files_the_long_fuzz_run_found_stay_fixed(tmp_path: Path, name: str) -> None:
    path = tmp_path / name
    path.write_bytes(FOUND[name])
    try:
        img = read_image(path)
    except ImageReadError as e:
        assert str(e).startswith(str(path)) and "\n" not in str(e)
    else:
        assert img.rgb.ndim == 3 and img.rgb.shape[0] == 3 and torch.isfinite(img.rgb).all()


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
    # A dry run first: headers only, one clean line for each file that would fail, nothing written.
    dry_code = main(["deblur", str(folder), "-o", str(tmp_path / "out"), "--dry-run"])
    dry_err = capsys.readouterr().err
    assert dry_code in (0, 1) and "Traceback" not in dry_err and not (tmp_path / "out").exists()
    code = main(["deblur", str(folder), "-o", str(tmp_path / "out"), "--weights", str(weights), "--no-progress"])
    err = capsys.readouterr().err
    assert code in (0, 1) and "Traceback" not in err
    written = {p.stem for p in (tmp_path / "out").iterdir()}
    assert {Path(g).stem for g in good} <= written  # every valid image was deblurred
    failed = [line for line in err.splitlines() if line.startswith("idc: error: ")]
    assert all(any(f"{b}:" in line for line in failed) or Path(b).stem in written for b in bad)
    # What the dry run said would fail did fail (a header can pass where the pixels then do not).
    for line in (line for line in dry_err.splitlines() if line.startswith("idc: error: ")):
        name = Path(line.removeprefix("idc: error: ").split(":")[0]).name
        assert Path(name).stem not in written, line
    assert not [p for p in (tmp_path / "out").iterdir() if p.name.startswith(".")]  # no partial files left
