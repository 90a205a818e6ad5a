from __future__ import annotations

from itertools import islice
from pathlib import Path

import pytest
import torch

from idc.data.benchmark_sets import (
    BENCHMARK_SETS,
    DIAGNOSTIC_SETS,
    SEEN_SEQUENCE,
    SEEN_WINDOWS,
    gopro0477_seen,
    gopro_dev,
    kodak24_motion,
    kodak24_motion_pair,
    write_benchmark_set,
)
from idc.data.datasets import flat_pairs
from idc.data.frames import average_frames, list_frames
from idc.io import read_image, write_image
from idc.metrics import psnr
from tests.conftest import SHARED_DATA, rand_image, requires_shared_data


def test_kodak_blur_is_fixed_by_the_image_index() -> None:
    sharp = rand_image(3, 40, 40)
    assert torch.equal(kodak24_motion_pair(sharp, 3), kodak24_motion_pair(sharp, 3))
    assert not torch.equal(kodak24_motion_pair(sharp, 3), kodak24_motion_pair(sharp, 4))


@pytest.mark.slow
@requires_shared_data
def test_benchmark_sets_from_shared_data(tmp_path: Path) -> None:
    names = [name for name, _, _ in gopro_dev(SHARED_DATA)]
    assert len(names) == 5 and names[0] == "GOPR0374_11_00/f1195_avg8.png"
    first = list(islice(kodak24_motion(SHARED_DATA), 2))
    again = list(islice(kodak24_motion(SHARED_DATA), 2))
    for (n1, b1, s1), (n2, b2, _) in zip(first, again, strict=True):
        assert n1 == n2 and torch.equal(b1, b2)
        assert b1.shape == s1.shape and 18 < psnr(b1, s1) < 35
    assert write_benchmark_set("gopro-dev", SHARED_DATA, tmp_path / "g") == 5
    assert len(flat_pairs(tmp_path / "g")) == 5


def test_the_seen_frames_diagnostic_averages_its_windows(tmp_path: Path) -> None:
    # 281 tiny frames stand in for GOPR0477_11_00 (the last window ends at frame 280).
    folder = tmp_path / "gopro" / "frames" / SEEN_SEQUENCE
    folder.mkdir(parents=True)
    g = torch.Generator().manual_seed(0)
    for i in range(281):
        write_image(folder / f"{i:06d}.png", torch.rand(3, 6, 8, generator=g))
    pairs = list(gopro0477_seen(tmp_path))
    assert [name for name, _, _ in pairs] == [f"{SEEN_SEQUENCE}/f{s}_avg{n}" for s, n in SEEN_WINDOWS]
    paths = list_frames(folder)
    for (_, blurred, sharp), (start, count) in zip(pairs, SEEN_WINDOWS, strict=True):
        frames = torch.stack([read_image(p).rgb for p in paths[start : start + count]])
        expected_blurred, expected_sharp = average_frames(frames)
        assert torch.allclose(blurred, expected_blurred, atol=1e-6) and torch.equal(sharp, expected_sharp)
    # A diagnostic only: never among the benchmark sets that scripts run by default.
    assert "gopro0477-seen" in DIAGNOSTIC_SETS and "gopro0477-seen" not in BENCHMARK_SETS
