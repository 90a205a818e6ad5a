"""benchmarks/lr_probe.py on a tiny network and generated photos (the real probe runs on ../shared/data)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from skimage import data as skdata

REPO = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.slow


@pytest.fixture
def photos(tmp_path: Path) -> Path:
    img = skdata.astronaut()
    folder = tmp_path / "photos"
    folder.mkdir()
    for i in range(3):
        Image.fromarray(np.ascontiguousarray(img[i * 100 : i * 100 + 120, i * 80 : i * 80 + 140])).save(
            folder / f"{i}.png"
        )
    return folder


def _probe(photos: Path, out: Path, *extra: str) -> dict:
    source = f"data.sources=[{{kind: sharp, paths: [{photos}], degradation: {{kernel_size: 9}}}}]"
    cmd = [sys.executable, "benchmarks/lr_probe.py", "--config", "configs/tiny.yaml", "--set", source]
    cmd += ["--steps", "20", "--every", "5", "--batch", "4", "--crop", "32", "--precision", "fp32", "--json", str(out)]
    result = subprocess.run([*cmd, *extra], cwd=REPO, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert "blurred input" in result.stdout
    return json.loads(out.read_text())


def test_overfit_probe_learns_at_a_working_rate_and_the_heldout_probe_scores_other_crops(
    photos: Path, tmp_path: Path
) -> None:
    # One test for both modes: the held-out check compares with the overfit run (two tests would each need it, and
    # pytest-xdist may run them in two processes).
    record = _probe(photos, tmp_path / "o.json", "--lrs", "0", "3e-3")
    assert record["steps"] == [0, 5, 10, 15, 20]
    frozen, learning = record["psnr"]["0.0"], record["psnr"]["0.003"]
    # The untrained network is the identity (last Fusion conv zero), so every score starts at the blurred input's.
    assert frozen == [pytest.approx(record["psnr_blurred"], abs=1e-6)] * 5
    assert learning[0] == pytest.approx(record["psnr_blurred"], abs=1e-6)
    assert learning[-1] > record["psnr_blurred"] + 0.2

    heldout = _probe(photos, tmp_path / "h.json", "--lrs", "0", "--mode", "heldout")
    assert heldout["mode"] == "heldout"
    # Another seed draws other crops, kernels and noise, so the blurred baseline differs from the training batch's.
    assert heldout["psnr_blurred"] != pytest.approx(record["psnr_blurred"], abs=1e-3)
