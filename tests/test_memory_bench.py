"""benchmarks/memory.py on a tiny network: both engines measured, each in its own process."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from idc.tiling import bytes_per_pixel
from tests.conftest import TinyExport

REPO = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.slow


def test_memory_benchmark_measures_both_engines(tiny_export: TinyExport, tmp_path: Path) -> None:
    # The ONNX engine runs the cached export of the weights, which the session's fixture has made already.
    model, weights = tiny_export.model, tiny_export.weights
    out = tmp_path / "memory.json"
    cmd = [sys.executable, "benchmarks/memory.py", "--weights", str(weights), "--sizes", "256", "--json", str(out)]
    result = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    report = json.loads(out.read_text())
    assert report["tiling_estimate_bytes_per_pixel"] == pytest.approx(bytes_per_pixel(model.config))
    assert [(r["engine"], r["size"]) for r in report["rows"]] == [("torch", 256), ("onnx", 256)]
    for row in report["rows"]:
        # One 256x256 inference of even the tiny network allocates megabytes beyond the loaded model.
        assert row["peak_mib"] > row["loaded_mib"] and row["bytes_per_pixel"] > 10
        assert f"{row['engine']:5s} 256x256" in result.stdout
