"""Training killed with SIGKILL at random moments and during checkpoint writes always resumes from a complete one."""

from __future__ import annotations

import csv
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from idc.train.checkpoint import COMPLETE, latest_checkpoint, load_train_state
from idc.weights import load_model

REPO = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.slow


def _data(root: Path) -> None:
    rng = np.random.default_rng(0)
    for i in range(4):
        sharp = rng.integers(0, 256, (40, 40, 3), dtype=np.uint8)
        for sub, a in (("sharp", sharp), ("blur", sharp // 2)):
            (root / sub).mkdir(parents=True, exist_ok=True)
            Image.fromarray(a).save(root / sub / f"{i}.png")


def _logged_steps(run: Path) -> list[int]:
    path = run / "metrics.csv"
    if not path.exists():
        return []
    return [int(r["step"]) for r in csv.DictReader(path.read_text().splitlines()) if r.get("step")]


def test_sigkill_at_random_moments_and_during_checkpoint_writes(tmp_path: Path) -> None:
    _data(tmp_path / "pairs")
    run = tmp_path / "run"
    # Each start is killed a second or two after its first checkpoint, so the kills end within the first few steps;
    # with a 0.3 s pause in every checkpoint (one per 2 steps) a start needs over 10 s to finish 80 steps.
    steps = 80
    base = [sys.executable, "-m", "idc", "train", "--no-progress"]
    sets = [
        f"data.sources=[{{kind: paired, paths: [{tmp_path / 'pairs'}]}}]",
        "val.every=0",
        f"steps={steps}",
        "ckpt_every=2",
        "log_every=1",
    ]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "IDC_CHECKPOINT_PAUSE": "0.3"}
    rng = random.Random(0)
    kills, during_write, last_step = 0, 0, 0
    while kills < 6:
        if latest_checkpoint(run / "checkpoints") is None:
            cmd = [*base, "--config", str(REPO / "configs" / "tiny.yaml"), "--run-dir", str(run)]
            cmd += [arg for s in sets for arg in ("--set", s)]
        else:
            cmd = [*base, "--resume", str(run)]
        proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.time() + 120
        target_write = kills % 2 == 0  # every other kill lands inside a checkpoint write
        wait = rng.uniform(0.5, 2.5)
        started = time.time()
        while time.time() < deadline and proc.poll() is None:
            if latest_checkpoint(run / "checkpoints") is None:  # kill only once there is something to resume
                time.sleep(0.01)
                continue
            partial = [p for p in (run / "checkpoints").glob("step-*") if not (p / COMPLETE).exists()]
            if target_write and partial and time.time() - started > 1.0:
                break
            if not target_write and time.time() - started > wait and _logged_steps(run)[-1:] > [last_step]:
                break
            time.sleep(0.01)
        assert proc.poll() is None, "training ended before it could be killed"
        in_write = any(not (p / COMPLETE).exists() for p in (run / "checkpoints").glob("step-*"))
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=60)
        kills += 1
        during_write += in_write
        found = latest_checkpoint(run / "checkpoints")
        assert found is not None and (found / COMPLETE).exists()
        state = load_train_state(found)
        load_model(found)  # weights complete and loadable
        logged = max(_logged_steps(run), default=0)
        assert state["step"] >= last_step  # never goes back past an earlier complete checkpoint
        assert logged - state["step"] <= 2 + 1  # at most one checkpoint interval (and the step being logged) lost
        last_step = state["step"]
    assert during_write >= 3
    done = subprocess.run([*base, "--resume", str(run)], env={**env, "IDC_CHECKPOINT_PAUSE": "0"}, capture_output=True)
    assert done.returncode == 0, done.stderr[-2000:]
    assert load_train_state(latest_checkpoint(run / "checkpoints"))["step"] == steps  # type: ignore[arg-type]
    assert not [p for p in (run / "checkpoints").glob("step-*") if not (p / COMPLETE).exists()]
