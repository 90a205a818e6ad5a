from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from idc.models import get_preset
from idc.weights import load_model, read_weights_config
from tests.conftest import load_script

REPO = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("steps", ["4", "auto", "clock"])
def test_gpu_train_script_runs_the_tiny_config_on_cpu(tmp_path: Path, steps: str) -> None:
    carry = tmp_path / "carry"
    rng = np.random.default_rng(0)
    (carry / "data" / "photos").mkdir(parents=True)
    (carry / "data" / "frames").mkdir(parents=True)
    for i in range(4):
        Image.fromarray(rng.integers(0, 256, (48, 48, 3), dtype=np.uint8)).save(carry / "data" / "photos" / f"{i}.png")
    for i in range(8):
        Image.fromarray(rng.integers(0, 256, (40, 40, 3), dtype=np.uint8)).save(
            carry / "data" / "frames" / f"{i:03d}.png"
        )
    out = tmp_path / "out"
    sources = (
        "data.sources=[{kind: sharp, paths: [photos], degradation: {kernel_size: 7}}, "
        "{kind: frames, paths: [frames], frame_counts: [3, 5]}]"
    )
    env = {**os.environ, "IDC_CARRY": str(carry), "IDC_CONFIG": "configs/tiny.yaml", "PYTHON": sys.executable}
    env["OMP_NUM_THREADS"] = "1"
    cmd = ["bash", "scripts/gpu_train.sh", str(out), "0.1", steps, "none", "--set", sources, "--set", "device=cpu"]
    r = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    model = load_model(out)
    assert model.config.encoder_widths == (4, 8, 16)
    assert (out / "metrics.csv").is_file() and (out / "train.log").is_file()
    log = (out / "env.txt").read_text()
    assert "training" in log and "steps" in log
    if steps == "auto":
        assert (out / "speed.json").is_file()
    if steps == "clock":
        # No probe: the wall-time limit ends the run, and the learning rate followed the clock to min_lr.
        assert not (out / "speed.json").exists() and "training ended with status 3" in log
        config = (out / "run" / "config.yaml").read_text()
        assert "anneal_by_time: true" in config and "steps: 1000000" in config
        rows = (out / "metrics.csv").read_text().splitlines()
        assert float(rows[-1].split(",")[5]) < 1e-4  # lr column: from 1e-3 towards the tiny config's min_lr 1e-5

    if steps != "4":
        return
    # Resuming from the weights it wrote: a second timed run starts from them (once: it is the same in each mode).
    r = subprocess.run(
        [*cmd[:2], str(tmp_path / "again"), "5", "2", str(out), *cmd[6:]],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    assert "init " + str(out) in (tmp_path / "again" / "env.txt").read_text()


def test_gpu_session_script_runs_every_stage_on_cpu(tmp_path: Path) -> None:
    # scripts/gpu_session.sh is what a device call runs; here each stage runs at toy size on the CPU.
    import tarfile

    carry = tmp_path / "carry"
    rng = np.random.default_rng(0)
    for sub, n, size in (("photos", 4, 48), ("frames", 8, 40)):
        (carry / "data" / sub).mkdir(parents=True)
        for i in range(n):
            Image.fromarray(rng.integers(0, 256, (size, size, 3), dtype=np.uint8)).save(
                carry / "data" / sub / f"{i:03d}.png"
            )
    sources = (
        "data.sources=[{kind: sharp, paths: [photos], degradation: {kernel_size: 7}}, "
        "{kind: frames, paths: [frames], frame_counts: [3, 5], cache_mib: 4}]"
    )
    env = {**os.environ, "IDC_CARRY": str(carry), "IDC_CONFIG": "configs/tiny.yaml", "PYTHON": sys.executable}
    env |= {"OMP_NUM_THREADS": "1", "IDC_INIT": "none", "IDC_BENCH_DEVICE": "cpu", "IDC_BENCH_SIZE": "32x24"}
    env |= {"IDC_BENCH_FAST": "1", "IDC_BENCH_ALL": "1", "IDC_BENCH_COMPILE": "1", "IDC_BENCH_RUNS": "2"}
    env |= {"IDC_BENCH_WARMUP": "1"}
    env |= {"IDC_ABLATION_BATCH": "1", "IDC_ABLATION_CROP": "16", "IDC_ABLATION_WORKERS": "0"}
    env |= {"IDC_SNAPSHOT_EVERY": "4", "IDC_CHUNK": "100K"}  # a pack of tiny networks in several chunks all the same
    env |= {"TMPDIR": str(tmp_path)}  # the session's work folder, read again below
    out = tmp_path / "out"
    cmd = ["bash", "scripts/gpu_session.sh", str(out), "400", "0.1", "1", "--set", sources, "--set", "device=cpu"]
    cmd += ["--set", "ckpt_every=2", "--set", "ema=0.9"]
    # The tiny preset's widths for the ablation's variants too (the training run's preset is tiny already).
    tiny = get_preset("tiny")
    for key in ("encoder_widths", "texture_width", "fusion_width", "resblocks"):
        value = getattr(tiny, key)
        cmd += ["--set", f"model.{key}={list(value) if isinstance(value, tuple) else value}"]
    r = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=900)
    assert r.returncode == 0 and "session done" in r.stdout, r.stdout[-3000:] + r.stderr[-3000:]
    chunks = sorted(out.glob("results.tar.*"))
    assert len(chunks) > 1 and all(c.stat().st_size <= 100 * 2**10 for c in chunks)
    packed = tmp_path / "packed"
    packed.mkdir()
    (tmp_path / "all.tar").write_bytes(b"".join(c.read_bytes() for c in chunks))
    with tarfile.open(tmp_path / "all.tar") as tar:
        tar.extractall(packed, filter="data")
    assert (packed / "bench-gpu.json").is_file() and (packed / "train" / "metrics.csv").is_file()
    # The CUDA-only fp16 benches run too and say, on a CPU, that they had nothing to run.
    for name in ("fp16", "fp16-cast", "fp16-compile"):
        assert (packed / f"bench-gpu-{name}.json").is_file()
    assert "not run: eager fp16, graphs fp16" in (packed / "bench.log").read_text()
    # The run's own limit was fitted to the stage and its schedule annealed on the clock.
    assert "anneal_by_time: true" in (packed / "train" / "config.yaml").read_text()
    assert "Fusion ReLU active" in (packed / "train" / "health.txt").read_text()
    assert load_model(packed / "train" / "weights").config.encoder_widths == (4, 8, 16)
    # The average of the weights travels beside them, from the same step, over every step of the run.
    average = read_weights_config(packed / "train" / "ema" / "weights")
    assert average["training"]["steps"] == read_weights_config(packed / "train" / "weights")["training"]["steps"]
    assert average["training"]["ema"] == {"decay": 0.9, "steps_averaged": average["training"]["steps"]}
    # Snapshots every 4 steps beside the last weights, each from its own step.
    snapshots = sorted((packed / "train" / "snapshots").iterdir())
    last_step = read_weights_config(packed / "train" / "weights")["training"]["steps"]
    assert snapshots, r.stdout[-3000:]
    for s in snapshots:
        step = int(s.name.removeprefix("step-"))
        assert step % 4 == 0 and step < last_step
        assert read_weights_config(s / "weights")["training"]["steps"] == step
    record = (packed / "ablation" / "ablation-train.json").read_text()
    for variant in ("idc", "idc-single-scale", "idc-no-texture"):
        assert f'"variant": "{variant}"' in record
        variant_model = load_model(packed / "ablation" / variant / "weights")
        # Each variant is its preset with the model overrides on top: tiny widths, and still single-scale or
        # without Sub-Texture.
        assert variant_model.config.encoder_widths == (4, 8, 16)
        assert variant_model.config.num_scales == (1 if variant == "idc-single-scale" else 3)
        assert variant_model.config.texture == (variant != "idc-no-texture")
    # The pack again, from the same work folder, under a limit that the first snapshot already passes: the last
    # weights and the ablation's are packed all the same, no snapshot is, and each refused one is named.
    pack_session = load_script("scripts/pack_session.py")
    (work,) = tmp_path.glob("idc-session.*")

    def staged(name: str) -> Path:
        stage = tmp_path / name
        (stage / "ablation").mkdir(parents=True)
        shutil.copy(packed / "ablation" / "ablation-train.json", stage / "ablation")
        return stage

    base = staged("no-snapshots")
    pack_session.pack(work, base, 0)
    base_bytes = sum(f.stat().st_size for f in base.rglob("*") if f.is_file())
    half_a_model = (packed / "train" / "weights" / "model.safetensors").stat().st_size / 2
    stage = staged("repack")
    outcome = pack_session.pack(work, stage, 4, limit_mib=(base_bytes + half_a_model) / 2**20)
    assert outcome["train"] == outcome["train/ema"] == outcome["ablation/idc"] == "packed"
    refused = [k for k, v in outcome.items() if v == "too big"]
    assert refused == [f"train/snapshots/{s.name}" for s in snapshots]
    assert not any((stage / "train" / "snapshots").iterdir())
    # Under the default limit every snapshot fits, as in the session.
    again = pack_session.pack(work, staged("repack-2"), 4)
    assert [k for k, v in again.items() if v == "packed" and "snapshots" in k] == refused
