"""benchmarks/data_speed.py and benchmarks/blur_strength.py on a tiny config and made-up frames and photos."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

REPO = Path(__file__).resolve().parents[1]


def _config(tmp_path: Path) -> Path:
    rng = np.random.default_rng(0)
    frames, photos = tmp_path / "frames", tmp_path / "photos"
    frames.mkdir()
    photos.mkdir()
    # A bright square moving 2 pixels a frame: longer windows blur it more.
    for i in range(20):
        a = np.full((48, 64, 3), 40, dtype=np.uint8)
        a[16:32, 4 + 2 * i : 20 + 2 * i] = 220
        Image.fromarray(a).save(frames / f"{i:03d}.png")
    for i in range(3):
        Image.fromarray(rng.integers(0, 256, (50, 60, 3), dtype=np.uint8)).save(photos / f"{i}.png")
    config = tmp_path / "config.yaml"
    config.write_text(
        f"""name: bench
model: {{preset: tiny}}
data:
  root: {tmp_path}
  sources:
    - {{kind: sharp, paths: [photos], degradation: {{kernel_size: 7}}}}
    - {{kind: frames, paths: [frames], frame_counts: [3, 15], cache_mib: 1}}
  crop: 32
  samples_per_epoch: 16
steps: 1
batch: 4
"""
    )
    return config


def _run(script: str, *args: str) -> str:
    result = subprocess.run(
        [sys.executable, f"benchmarks/{script}", *args], cwd=REPO, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_data_speed_times_each_source_and_the_batch_finish(tmp_path: Path) -> None:
    out = tmp_path / "speed.json"
    _run("data_speed.py", "--config", str(_config(tmp_path)), "--samples", "4", "--batches", "2", "--batch", "4",
         "--json", str(out))  # fmt: skip
    report = json.loads(out.read_text())
    assert [r["kind"] for r in report["sources"]] == ["sharp", "frames"]
    assert all(r["ms_first_pass"] > 0 and r["ms_second_pass"] > 0 for r in report["sources"])
    assert report["finish_batch_host_ms"] > 0 and report["batch"] == 4


@pytest.mark.slow
def test_blur_strength_separates_long_windows_and_longer_blur_scores_lower(tmp_path: Path) -> None:
    config = _config(tmp_path)
    out = tmp_path / "strength.json"
    text = _run("blur_strength.py", "--config", str(config), "--samples", "30", "--data", str(tmp_path / "none"),
                "--json", str(out))  # fmt: skip
    rows = json.loads(out.read_text())["rows"]
    short = rows["source 1: frames (frames), up to 13 frames"]
    long = rows["source 1: frames (frames), over 13 frames"]
    assert short["n"] + long["n"] == 30 and short["n"] and long["n"]
    assert long["mean"] < short["mean"]  # 15 frames of motion blur more than 3
    assert rows["source 0: sharp (photos)"]["n"] == 30
    assert not any(label.startswith("benchmark") for label in rows)  # no benchmark data there
    assert "PSNR blurred vs sharp" in text
    # --set reaches one source's field.
    _run("blur_strength.py", "--config", str(config), "--samples", "10", "--data", str(tmp_path / "none"),
         "--set", "data.sources[1].frame_counts=[5]", "--json", str(out))  # fmt: skip
    rows = json.loads(out.read_text())["rows"]
    assert rows["source 1: frames (frames), up to 13 frames"]["n"] == 10
