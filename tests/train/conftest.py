"""Fixtures of the training tests."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image


@pytest.fixture
def data(tmp_path: Path) -> Path:
    """Four blur/sharp pairs (40x44) in pairs/ and three photos (50x60) in photos/, random pixels."""
    rng = np.random.default_rng(0)
    root = tmp_path / "data"
    for i in range(4):
        sharp = rng.integers(0, 256, (40, 44, 3), dtype=np.uint8)
        for sub, a in (("sharp", sharp), ("blur", (sharp * 0.8).astype(np.uint8))):
            (root / "pairs" / sub).mkdir(parents=True, exist_ok=True)
            Image.fromarray(a).save(root / "pairs" / sub / f"{i}.png")
    (root / "photos").mkdir()
    for i in range(3):
        Image.fromarray(rng.integers(0, 256, (50, 60, 3), dtype=np.uint8)).save(root / "photos" / f"{i}.png")
    return root
