"""benchmarks/alignment.py: the best global shift of a network's output against the sharp image, per image."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from idc.weights import save_weights
from tests.conftest import SHARED_DATA, random_idc, requires_shared_data

REPO = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.slow


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    cmd = [sys.executable, "benchmarks/alignment.py", *args]
    return subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=300)


def test_alignment_refuses_a_bad_weights_name_and_missing_data(tmp_path: Path) -> None:
    bad = _run("--weights", "just-a-path")
    assert bad.returncode == 2 and "expected NAME=DIR (or NAME=default)" in bad.stderr
    clash = _run("--data", str(tmp_path), "--weights", "blurred=default")  # refused before the data is looked for
    assert clash.returncode == 2 and "not 'blurred'" in clash.stderr
    missing = _run("--data", str(tmp_path / "nowhere"))
    assert missing.returncode == 2 and "no benchmark data at" in missing.stderr


@requires_shared_data
def test_alignment_scores_the_blurred_input_and_a_network(tmp_path: Path) -> None:
    weights = save_weights(random_idc(), tmp_path / "tiny", metadata={"description": "tiny test"})
    out = tmp_path / "a.json"
    args = ["--data", str(SHARED_DATA), "--sets", "kodak24-motion", "--limit", "1", "--max-shift", "1"]
    done = _run(*args, "--weights", f"tiny={weights}", "--json", str(out))
    assert done.returncode == 0, done.stderr
    result = json.loads(out.read_text())
    row = result["sets"]["kodak24-motion"]["per_image"][0]
    assert row["name"] == "kodim01.png" and set(row) == {"name", "blurred", "tiny"}
    for column in ("blurred", "tiny"):
        cell = row[column]
        # The unshifted score is one of the candidates, so the best is never below it; shifts stay on the grid.
        assert cell["psnr_shifted"] >= cell["psnr"] > 5
        assert abs(cell["dy"]) <= 1 and abs(cell["dx"]) <= 1 and (2 * cell["dy"]) % 1 == 0
    assert "kodim01.png" in done.stdout and result["weights"] == {"tiny": str(weights)}
