from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from idc.data.frames import (
    average_frames,
    average_window,
    from_linear,
    list_frames,
    read_frame_codes,
    to_linear,
)
from idc.io import read_image
from tests.conftest import SHARED_DATA, rand_image, requires_shared_data


def test_one_frame_averages_to_itself() -> None:
    frame = rand_image(1, 3, 8, 9)
    for response in ("gamma", "srgb"):
        blurred, sharp = average_frames(frame, response)
        assert torch.allclose(blurred, frame[0], atol=1e-5) and torch.equal(sharp, frame[0])


def test_a_static_scene_averages_to_the_scene() -> None:
    scene = rand_image(3, 16, 16)
    blurred, sharp = average_frames(scene.expand(7, 3, 16, 16))
    assert torch.allclose(blurred, scene, atol=1e-5) and torch.equal(sharp, scene)


def test_averaging_happens_in_linear_light() -> None:
    frames = torch.stack([torch.zeros(3, 2, 2), torch.ones(3, 2, 2), torch.zeros(3, 2, 2)])
    blurred, sharp = average_frames(frames, gamma=2.2)
    assert torch.allclose(blurred, torch.full_like(blurred, (1 / 3) ** (1 / 2.2)))
    assert torch.equal(sharp, frames[1])
    x = torch.linspace(0, 1, 11)
    for response in ("gamma", "srgb"):
        assert torch.allclose(from_linear(to_linear(x, response), response), x, atol=1e-5)


@pytest.mark.parametrize("response", ["gamma", "srgb"])
def test_code_values_average_like_the_floats_read_image_gives(tmp_path: Path, response: str) -> None:
    # Integer frames (a quarter of the memory) go through a lookup table instead of pow: same pairs.
    rng = np.random.default_rng(1)
    paths = []
    for i in range(5):
        paths.append(tmp_path / f"{i}.png")
        Image.fromarray(rng.integers(0, 256, (12, 10, 3), dtype=np.uint8)).save(paths[-1])
    codes = torch.stack([read_frame_codes(p) for p in paths])
    floats = torch.stack([read_image(p).rgb for p in paths])
    assert codes.dtype == torch.uint8 and torch.equal(codes.float() / 255, floats)
    for got, want in zip(average_frames(codes, response), average_frames(floats, response), strict=True):
        assert got.dtype == torch.float32 and torch.equal(got, want)
    # 16-bit frames are held as int32 code values.
    deep = tmp_path / "deep.png"
    Image.fromarray(rng.integers(0, 65536, (12, 10), dtype=np.uint16)).save(deep)
    code16 = read_frame_codes(deep)
    assert code16.dtype == torch.int32 and int(code16.max()) > 255
    got = average_frames(code16.expand(3, -1, -1, -1), response)
    want = average_frames(read_image(deep).rgb.expand(3, -1, -1, -1), response)
    assert torch.allclose(got[0], want[0], atol=1e-6) and torch.allclose(got[1], want[1], atol=1e-7)


def test_even_counts_and_bad_windows_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="odd number"):
        average_frames(torch.zeros(4, 3, 2, 2))
    for i in range(3):
        Image.fromarray(np.full((4, 5, 3), 10 * i, np.uint8)).save(tmp_path / f"{i:03d}.png")
    paths = list_frames(tmp_path)
    blurred, sharp = average_window(paths, 0, 3)
    assert blurred.shape == (3, 4, 5) and float(sharp[0, 0, 0]) == pytest.approx(10 / 255)
    with pytest.raises(ValueError, match="outside the 3 frames"):
        average_window(paths, 1, 3)
    Image.fromarray(np.zeros((6, 5, 3), np.uint8)).save(tmp_path / "003.png")
    with pytest.raises(ValueError, match=r"003\.png: size"):
        average_window(list_frames(tmp_path), 1, 3)


@requires_shared_data
def test_real_gopro_frames_average_into_a_blurred_pair() -> None:
    from idc.data.datasets import FrameAveragingDataset
    from idc.metrics import psnr

    folder = SHARED_DATA / "gopro" / "frames" / "GOPR0477_11_00"
    paths = list_frames(folder)
    assert len(paths) == 299
    blurred, sharp = average_window(paths, 100, 11)
    assert blurred.shape == (3, 720, 1280) and 20 < psnr(blurred, sharp) < 40
    ds = FrameAveragingDataset([folder], crop=64, seed=0, length=2)
    assert ds[0]["blurred"].shape == (3, 64, 64)
