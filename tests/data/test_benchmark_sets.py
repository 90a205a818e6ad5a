from __future__ import annotations

from itertools import islice
from pathlib import Path

import torch

from idc.data.benchmark_sets import gopro_dev, kodak24_motion, kodak24_motion_pair, write_benchmark_set
from idc.data.datasets import flat_pairs
from idc.metrics import psnr
from tests.conftest import SHARED_DATA, rand_image, requires_shared_data


def test_kodak_blur_is_fixed_by_the_image_index() -> None:
    sharp = rand_image(3, 40, 40)
    assert torch.equal(kodak24_motion_pair(sharp, 3), kodak24_motion_pair(sharp, 3))
    assert not torch.equal(kodak24_motion_pair(sharp, 3), kodak24_motion_pair(sharp, 4))


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
