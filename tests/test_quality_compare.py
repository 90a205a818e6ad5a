"""benchmarks/quality.py --compare: two results image by image (no benchmark data needed)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.slow


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
    # how sure: resampled means span the worst and best change; 6 of the 8 sign patterns are as extreme
    assert lines[2] == "  mean's 95 % bootstrap interval -2.000 .. +0.500 dB; sign-flip p = 0.75"
    assert lines[3] == "  b.png: blurred 25.00, old 27.00, new 25.00 (-2.00 dB)"
    assert len(lines) == 4 and "only-old" not in out


def test_by_blur_gives_the_gain_per_blur_strength_group(tmp_path: Path) -> None:
    rows = [
        {"name": f"{i}.png", "psnr_blurred": b, "psnr_restored": b + g}
        for i, (b, g) in enumerate([(20.0, 0.1), (30.0, 1.0), (22.0, 0.3), (28.0, 0.8), (25.0, 0.5), (26.0, 0.4)])
    ]
    result = tmp_path / "r.json"
    result.write_text(json.dumps({"sets": {"kodak": {"per_image": rows}, "two": {"per_image": rows[:2]}}}))
    cmd = [sys.executable, "benchmarks/quality.py", "--by-blur", str(result)]
    lines = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=120, check=True).stdout.splitlines()
    # Sorted by blurred PSNR: (20, +0.1), (22, +0.3) | (25, +0.5), (26, +0.4) | (28, +0.8), (30, +1.0)
    assert lines[1] == "  kodak: 2 at 21.00 dB: +0.20; 2 at 25.50 dB: +0.45; 2 at 29.00 dB: +0.90"
    assert lines[2] == "  two: 1 at 20.00 dB: +0.10; 1 at 30.00 dB: +1.00"


def test_compare_takes_idc_eval_results(tmp_path: Path) -> None:
    # Two `idc eval --json` results (IDC's, and another method's outputs scored with --restored): one set each.
    for name, restored in (("idc", [26.0, 27.0]), ("other", [26.5, 28.0])):
        rows = [{"name": f"{i}.png", "psnr_blurred": 25.0, "psnr_restored": v} for i, v in enumerate(restored)]
        (tmp_path / f"{name}.json").write_text(json.dumps({"data": "set", "per_image": rows, "mean": {}}))
    cmd = [
        sys.executable,
        "benchmarks/quality.py",
        "--compare",
        str(tmp_path / "idc.json"),
        str(tmp_path / "other.json"),
    ]
    out = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=120, check=True).stdout
    assert "idc eval: 2 images, mean +0.750 dB, 2 better, 0 worse" in out.splitlines()
    by_blur = [sys.executable, "benchmarks/quality.py", "--by-blur", str(tmp_path / "other.json"), "--parts", "2"]
    out = subprocess.run(by_blur, cwd=REPO, capture_output=True, text=True, timeout=120, check=True).stdout
    assert "  idc eval: 1 at 25.00 dB: +1.50; 1 at 25.00 dB: +3.00" in out.splitlines()
