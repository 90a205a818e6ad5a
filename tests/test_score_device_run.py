"""scripts/score_device_run.py and benchmarks/quality.py --sharp-in, on toy data and weights."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from PIL import Image

from idc.models import IDC, get_preset
from idc.weights import load_model, save_weights

REPO = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.slow


def _data(root: Path) -> Path:
    """A stand-in for ../shared/data: two 'Kodak' photos and one gopro/dev pair, small."""
    rng = np.random.default_rng(0)
    (root / "kodak24").mkdir(parents=True)
    for i in range(2):
        Image.fromarray(rng.integers(0, 256, (40, 56, 3), dtype=np.uint8)).save(root / "kodak24" / f"k{i}.png")
    sharp = rng.integers(0, 256, (40, 56, 3), dtype=np.uint8)
    for sub, a in (("sharp", sharp), ("blur", (sharp * 0.9).astype(np.uint8))):
        (root / "gopro" / "dev" / "SEQ" / sub).mkdir(parents=True)
        Image.fromarray(a).save(root / "gopro" / "dev" / "SEQ" / sub / "f1_avg8.png")
    return root


def _weights(folder: Path, noise: float, seed: int) -> Path:
    torch.manual_seed(seed)
    model = IDC(get_preset("tiny"))  # the last Fusion conv starts at zero: the network is the identity
    with torch.no_grad():
        for p in model.parameters():
            p.add_(noise * torch.randn_like(p))
    save_weights(model, folder, metadata={"description": f"toy {seed}", "training": {"steps": seed}})
    return folder


def _baseline(path: Path, identity: dict[str, Any], gopro: float, kodak: float) -> Path:
    """A baseline result whose restored PSNR is each image's blurred PSNR plus the given offset."""
    sets = {}
    for name, offset in (("gopro-dev", gopro), ("kodak24-motion", kodak)):
        rows = identity["sets"][name]["per_image"]
        sets[name] = {"per_image": [{**r, "psnr_restored": r["psnr_blurred"] + offset} for r in rows]}
    path.write_text(json.dumps({"sets": sets}))
    return path


def test_scores_last_snapshots_and_interpolations_and_judges_them(tmp_path: Path) -> None:
    data = _data(tmp_path / "data")
    start = _weights(tmp_path / "start", 0.0, 0)
    dest = tmp_path / "dest"
    _weights(dest / "train" / "weights", 1e-3, 8)
    _weights(dest / "train" / "ema" / "weights", 1e-3, 7)
    _weights(dest / "train" / "snapshots" / "step-00000004" / "weights", 1e-3, 4)
    with open(dest / "train" / "metrics.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["step", "loss", "it_per_s", "data_wait"])
        w.writerows([[2, 0.09, 1.0, 0.9], [4, 0.08, 2.0, 0.5], [6, 0.07, 3.0, 0.1], [8, 0.06, 5.0, 0.2]])
    (dest / "train" / "train.log").write_text("x\nINFO host synchronisations in steps 3-8: 0 preparing, 1 a step\n")
    (dest / "train" / "health.txt").write_text("Fusion ReLU active: 19.0 %\n")
    # The start is the identity: its restored PSNR is the blurred input's.
    cmd = [sys.executable, "benchmarks/quality.py", "--weights", str(start), "--data", str(data), "--no-warmup"]
    cmd += ["--json", str(tmp_path / "start.json")]
    subprocess.run(cmd, cwd=REPO, capture_output=True, timeout=300, check=True)
    identity = json.loads((tmp_path / "start.json").read_text())
    baseline = _baseline(tmp_path / "base.json", identity, -1.0, +1.0)
    out, runs = tmp_path / "results", tmp_path / "runs"
    out.mkdir()
    cmd = [sys.executable, "scripts/score_device_run.py", str(dest), "--name", "toy", "--alphas", "0.5"]
    cmd += ["--start", str(start), "--baseline", str(baseline), "--out", str(out), "--runs", str(runs)]
    cmd += ["--data", str(data)]
    r = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    # The run's facts: median over the rows after the first two, the sync line and the Fusion health.
    assert "steps 8; median 4.00 it/s, data_wait 0.15" in r.stdout
    assert "host synchronisations in steps 3-8: 0 preparing, 1 a step" in r.stdout and "19.0 %" in r.stdout
    summary = json.loads((out / "toy-summary.json").read_text())
    assert [row["label"] for row in summary["rows"]] == ["last", "ema", "step-00000004", "soup-0.5"]
    for row in summary["rows"]:
        result = json.loads((out / f"toy-{row['label']}-quality.json").read_text())
        assert result["weights"] == row["weights"]
        for name, s in row["sets"].items():
            mean = result["sets"][name]["mean"]
            assert s["psnr"] == pytest.approx(mean["psnr_restored"]) and s["images"] == s["images_vs_baseline"]
            assert s["gain"] == pytest.approx(s["psnr"] - s["psnr_blurred"])
            offset = -1.0 if name == "gopro-dev" else 1.0
            assert s["vs_baseline"] == pytest.approx(s["psnr"] - (s["psnr_blurred"] + offset))
            low, high = s["vs_baseline_interval"]
            assert low - 1e-9 <= s["vs_baseline"] <= high + 1e-9 and 0 < s["vs_baseline_p"] <= 1
        # Close to the identity on this toy data: above a baseline 1 dB under the blurred input, below one 1 dB over.
        assert row["sets"]["gopro-dev"]["vs_baseline"] > 0 > row["sets"]["kodak24-motion"]["vs_baseline"]
        assert row["beats_baseline"] is False
    # The interpolation is the mean of start and last, written where --runs says.
    soup, a, b = (load_model(p).state_dict() for p in (runs / "toy-soup-0.5", start, dest / "train" / "weights"))
    assert all(torch.allclose(soup[k], (a[k] + b[k]) / 2, atol=1e-6) for k in soup if soup[k].is_floating_point())

    # Again against a baseline below the blurred input on both sets: every JSON is read, not scored again.
    cmd[cmd.index(str(baseline))] = str(_baseline(tmp_path / "low.json", identity, -1.0, -1.0))
    r = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    assert r.stdout.count("scored before, read") == 4
    assert all(row["beats_baseline"] for row in json.loads((out / "toy-summary.json").read_text())["rows"])


def test_refuses_a_folder_without_results(tmp_path: Path) -> None:
    cmd = [sys.executable, "scripts/score_device_run.py", str(tmp_path), "--name", "x"]
    r = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=120)
    assert r.returncode == 2 and f"{tmp_path / 'train' / 'weights'}: no model.safetensors" in r.stderr


def test_quality_sharp_in_scores_the_network_on_images_without_blur(tmp_path: Path) -> None:
    data = _data(tmp_path / "data")
    weights = _weights(tmp_path / "w", 1e-3, 1)  # close to the identity
    cmd = [sys.executable, "benchmarks/quality.py", "--weights", str(weights), "--data", str(data), "--no-warmup"]
    for mode, extra in (("blurred", []), ("sharp", ["--sharp-in"])):
        r = subprocess.run([*cmd, *extra, "--json", str(tmp_path / f"{mode}.json")], cwd=REPO, capture_output=True)
        assert r.returncode == 0, r.stderr[-2000:]
    blurred, sharp = (json.loads((tmp_path / f"{m}.json").read_text()) for m in ("blurred", "sharp"))
    assert blurred["input"] == "blurred" and sharp["input"] == "sharp"
    for name, s in sharp["sets"].items():
        assert not any(k.endswith("_blurred") for k in s["mean"]) and len(s["per_image"]) == s["images"]
        # A near-identity network returns a sharp input nearly unchanged, far above what it makes of the blurred one.
        assert s["mean"]["psnr_restored"] > 40 > blurred["sets"][name]["mean"]["psnr_restored"]
