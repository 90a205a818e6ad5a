"""benchmarks/quality.py --compare: two results image by image (no benchmark data needed)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def _result(path: Path, restored: dict[str, float]) -> Path:
    rows = [{"name": n, "psnr_blurred": 25.0, "psnr_restored": v} for n, v in restored.items()]
    path.write_text(json.dumps({"sets": {"gopro-dev": {"per_image": rows}, "only-old": {"per_image": rows}}}))
    return path


def test_compare_lists_the_mean_change_and_the_largest_losses(tmp_path: Path) -> None:
    old = _result(tmp_path / "old.json", {"a.png": 26.0, "b.png": 27.0, "c.png": 25.5})
    new_rows = {"a.png": 26.5, "b.png": 25.0, "c.png": 25.25, "new-only.png": 30.0}
    new = json.loads(_result(tmp_path / "new.json", new_rows).read_text())
    del new["sets"]["only-old"]
    (tmp_path / "new.json").write_text(json.dumps(new))
    cmd = [sys.executable, "benchmarks/quality.py", "--compare", str(old), str(tmp_path / "new.json"), "--worst", "1"]
    out = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=120, check=True).stdout
    lines = out.strip().splitlines()
    # 3 shared images: +0.5, -2.0, -0.25 -> mean -0.583; the worst loss listed first and alone (--worst 1)
    assert lines[1] == "gopro-dev: 3 images, mean -0.583 dB, 1 better, 2 worse"
    assert lines[2] == "  b.png: blurred 25.00, old 27.00, new 25.00 (-2.00 dB)"
    assert len(lines) == 3 and "only-old" not in out
