from __future__ import annotations

from itertools import pairwise
from pathlib import Path

import pytest
import torch

from idc import tiling
from idc.infer import deblur_image, deblur_tensor
from idc.tiling import auto_tile, deblur_tiled, tile_starts
from tests.conftest import rand_image, random_idc


@pytest.mark.parametrize(("size", "tile", "overlap"), [(720, 256, 64), (1000, 300, 100), (257, 256, 32), (50, 64, 16)])
def test_tiles_cover_the_image_with_the_overlap(size: int, tile: int, overlap: int) -> None:
    starts = tile_starts(size, tile, overlap)
    assert starts[0] == 0 and starts[-1] + min(tile, size) == size
    for a, b in pairwise(starts):
        assert a + tile - b >= overlap


def test_blending_reconstructs_exactly_through_an_identity_run() -> None:
    image = rand_image(3, 150, 230)
    model = random_idc()
    out = deblur_tiled(model, image, tile=64, overlap=24, run=lambda t: t.float())
    assert torch.allclose(out, image, atol=1e-6)
    shifted = deblur_tiled(model, image, tile=64, overlap=24, run=lambda t: (t * 0.5).float())
    assert torch.allclose(shifted, image * 0.5, atol=1e-6)


def test_tiled_inference_is_close_to_whole_and_tile_0_is_whole() -> None:
    model = random_idc().eval()
    image = rand_image(3, 100, 140)
    whole = deblur_tensor(model, image)
    assert torch.equal(deblur_image(model, image, tile=0), whole)
    tiled = deblur_image(model, image, tile=96, overlap=48)
    assert tiled.shape == whole.shape
    assert float((tiled - whole).abs().mean()) < 0.05


def test_auto_mode_tiles_only_what_does_not_fit(monkeypatch: pytest.MonkeyPatch) -> None:
    config = random_idc("idc").config
    cpu = torch.device("cpu")
    monkeypatch.setattr(tiling, "available_memory", lambda device: 8 * 2**30)
    assert auto_tile(config, 720, 1280, cpu) is None  # 0.9 MP x 2.4 kB < 4 GiB
    side = auto_tile(config, 3000, 4000, cpu)
    assert side is not None and side % 64 == 0 and side * side * tiling.bytes_per_pixel(config) <= 4 * 2**30
    monkeypatch.setattr(tiling, "available_memory", lambda device: 2**30)
    assert auto_tile(config, 720, 1280, cpu) is not None


def test_deblur_command_tiles(tmp_path: Path) -> None:
    import numpy as np
    from PIL import Image

    from idc.cli import main
    from idc.weights import save_weights

    weights = save_weights(random_idc(), tmp_path / "w")
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (90, 130, 3), dtype=np.uint8)).save(tmp_path / "a.png")
    out = tmp_path / "o.png"
    assert (
        main(
            [
                "deblur",
                str(tmp_path / "a.png"),
                "-o",
                str(out),
                "--tile",
                "64",
                "--overlap",
                "16",
                "--weights",
                str(weights),
            ]
        )
        == 0
    )
    assert Image.open(out).size == (130, 90)
    with pytest.raises(SystemExit):
        main(["deblur", str(tmp_path / "a.png"), "-o", str(out), "--tile", "10"])
