from __future__ import annotations

from pathlib import Path

import pytest
import torch

from idc.data.camera_path import CameraPathConfig, draw_path, path_average
from idc.data.datasets import CameraPathDataset
from idc.data.frames import to_linear
from idc.io import write_image
from idc.train.config import load_train_config
from idc.train.data import build_dataset
from tests.conftest import rand_image

REPO = Path(__file__).resolve().parents[2]


def _gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _mse(a: torch.Tensor, b: torch.Tensor) -> float:
    return float(((a - b) ** 2).mean())


def test_the_middle_view_is_the_identity_and_the_path_is_seeded() -> None:
    maps, shifts = draw_path(9, CameraPathConfig(), _gen(1))
    assert maps.shape == (9, 2, 2) and shifts.shape == (9, 2)
    assert torch.equal(maps[4], torch.eye(2)) and torch.equal(shifts[4], torch.zeros(2))
    assert not torch.allclose(maps[0], torch.eye(2)) and shifts[0].abs().max() > 0
    again = draw_path(9, CameraPathConfig(), _gen(1))
    assert torch.equal(again[0], maps) and torch.equal(again[1], shifts)
    with pytest.raises(ValueError, match="odd"):
        draw_path(8, CameraPathConfig(), _gen())


def test_no_motion_gives_the_sharp_crop_back() -> None:
    image = rand_image(3, 40, 50, seed=2)
    for n, config in ((1, CameraPathConfig()), (9, CameraPathConfig(0, 0, 0, 0))):
        blurred, sharp = path_average(image, 5, 7, 24, 30, n, config, _gen())
        assert torch.equal(sharp, image[:, 5:29, 7:37])
        # Exact up to the sampling grid's float32 rounding (compared in linear light, where it is averaged).
        assert torch.allclose(to_linear(blurred), to_linear(sharp), atol=1e-5)


def test_blur_grows_with_the_shift() -> None:
    # The same generator draws the same path shape; max_shift only scales it.
    image = rand_image(3, 64, 64, seed=3)
    errors = []
    for shift in (0.0, 2.0, 8.0):
        config = CameraPathConfig(max_shift=shift, curvature=0.5, max_rotation=0, max_zoom=0)
        blurred, sharp = path_average(image, 16, 16, 32, 32, 9, config, _gen(4))
        errors.append(_mse(blurred, sharp))
    assert errors[0] < 1e-7 < errors[1] < errors[2]


def test_rotation_blurs_the_edges_more_than_the_centre() -> None:
    # Spatially varying blur, which no single kernel gives: a rotation about the centre moves the corners only.
    image = rand_image(3, 96, 96, seed=5)
    config = CameraPathConfig(max_shift=0, curvature=0, max_rotation=6, max_zoom=0)
    blurred, sharp = path_average(image, 0, 0, 96, 96, 11, config, _gen(6))
    centre = _mse(blurred[:, 44:52, 44:52], sharp[:, 44:52, 44:52])
    corner = _mse(blurred[:, :8, :8], sharp[:, :8, :8])
    assert corner > 20 * centre > 0


def test_bad_settings_and_regions_are_refused() -> None:
    with pytest.raises(ValueError, match="max_shift"):
        CameraPathConfig(max_shift=-1)
    with pytest.raises(ValueError, match="max_zoom"):
        CameraPathConfig(max_zoom=1.0)
    with pytest.raises(ValueError, match="outside"):
        path_average(rand_image(3, 20, 20), 10, 0, 16, 16, 3, CameraPathConfig(), _gen())


def test_dataset_samples_are_seeded_crops_of_each_photo(tmp_path: Path) -> None:
    files = []
    for i, (h, w) in enumerate(((50, 60), (20, 24))):  # the second is smaller than the crop: padded
        files.append(tmp_path / f"{i}.png")
        write_image(files[-1], rand_image(3, h, w, seed=10 + i))
    ds = CameraPathDataset(files, (3, 5), crop=32, seed=7)
    a, b = ds[0], ds[0]
    assert a["blurred"].shape == a["sharp"].shape == (3, 32, 32)
    assert torch.equal(a["blurred"], b["blurred"]) and torch.equal(a["sharp"], b["sharp"])
    assert "camera path" in a["blurred_path"] and a["sharp_path"] == str(files[0])
    assert ds[1]["sharp"].shape == (3, 32, 32)
    ds.set_epoch(1)
    assert not torch.equal(ds[0]["sharp"], a["sharp"]) or not torch.equal(ds[0]["blurred"], a["blurred"])
    whole = CameraPathDataset(files[:1], (3,), crop=None, flip=False, rotate=False)[0]
    assert whole["sharp"].shape == (3, 50, 60)
    with pytest.raises(ValueError, match="odd"):
        CameraPathDataset(files, (4,))


def test_a_training_config_builds_a_camera_path_source(tmp_path: Path) -> None:
    (tmp_path / "photos").mkdir()
    for i in range(2):
        write_image(tmp_path / "photos" / f"{i}.png", rand_image(3, 48, 48, seed=20 + i))
    source = "{kind: camera_path, paths: [photos], frame_counts: [3, 5], camera_path: {max_shift: 4}}"
    config = load_train_config(
        REPO / "configs" / "tiny.yaml", [f"data.sources=[{source}]", f"data.root={tmp_path}", "data.crop=24"]
    )
    built = build_dataset(config.data, 0)
    sample = built.dataset[0]
    assert sample["blurred"].shape == (3, 24, 24) and sample["source"] == 0
    bad = load_train_config(
        REPO / "configs" / "tiny.yaml",
        [f"data.sources=[{source.replace('max_shift', 'max_shfit')}]", f"data.root={tmp_path}"],
    )
    with pytest.raises(ValueError, match=r"data.sources\[0\].camera_path: unknown keys \['max_shfit'\]"):
        build_dataset(bad.data, 0)
