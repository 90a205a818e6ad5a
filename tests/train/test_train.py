from __future__ import annotations

import contextlib
import csv
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from PIL import Image
from safetensors.torch import load_file

from idc.cli import main
from idc.train.checkpoint import latest_checkpoint, load_train_state
from idc.train.config import load_train_config
from idc.train.data import ignore_stop_signals, stop_signals_held
from idc.train.loop import TrainingStopped, _end_leftover_processes, train
from idc.train.schedule import get_lr

REPO = Path(__file__).resolve().parents[2]
TINY = REPO / "configs" / "tiny.yaml"


def _overrides(data: Path) -> list[str]:
    return [
        f"data.sources=[{{kind: paired, paths: [{data / 'pairs'}], weight: 1}}, "
        f"{{kind: sharp, paths: [{data / 'photos'}], degradation: {{kernel_size: 7}}}}]",
        f"val={{data: {data / 'pairs'}, count: 2, crop: 32, every: 3}}",
    ]


def _set_args(overrides: list[str]) -> list[str]:
    return [arg for o in overrides for arg in ("--set", o)]


def _weights(run: Path, within: str = ".") -> dict[str, torch.Tensor]:
    """The newest checkpoint's weights (``within="ema"``: their average)."""
    found = latest_checkpoint(run / "checkpoints")
    assert found is not None
    return load_file(str(found / within / "model.safetensors"))


def test_resume_continues_exactly(data: Path, tmp_path: Path) -> None:
    config = load_train_config(TINY, _overrides(data))
    train(config, tmp_path / "a", progress=False)
    staged = load_train_config(TINY, [*_overrides(data), "stop_at_step=3"])
    with pytest.raises(TrainingStopped, match="stopped at step 3"):
        train(staged, tmp_path / "b", progress=False)
    assert load_train_state(latest_checkpoint(tmp_path / "b" / "checkpoints"))["step"] == 3  # type: ignore[arg-type]
    train(config, tmp_path / "b", resume=True, progress=False)
    a, b = _weights(tmp_path / "a"), _weights(tmp_path / "b")
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    # ...and training changed the weights at all.
    first = load_file(str(sorted((tmp_path / "b" / "checkpoints").glob("step-*"))[0] / "model.safetensors"))
    assert any(not torch.equal(first[k], b[k]) for k in b)


def test_runs_started_from_weights_record_the_accumulated_training(data: Path, tmp_path: Path) -> None:
    from idc.weights import read_weights_config

    def record(run: Path) -> dict:
        found = latest_checkpoint(run / "checkpoints")
        assert found is not None
        return read_weights_config(found)["training"]

    base = [*_overrides(data), "val.every=0"]
    train(load_train_config(TINY, [*base, "steps=2"]), tmp_path / "a", progress=False)
    first = record(tmp_path / "a")
    assert first["steps"] == 2 and first["init"].startswith("Xavier") and "previous" not in first
    assert first["hardware"].endswith("CPU, " + str(torch.get_num_threads()) + " threads") and first["crop"] == 32
    a_weights = latest_checkpoint(tmp_path / "a" / "checkpoints")
    train(load_train_config(TINY, [*base, "steps=3", f"init_weights={a_weights}"]), tmp_path / "b", progress=False)
    second = record(tmp_path / "b")
    assert second["init"] == str(a_weights) and second["previous"] == [first]
    assert second["total_steps"] == 5 and second["total_crops"] == 5 * second["batch"]
    b_weights = latest_checkpoint(tmp_path / "b" / "checkpoints")
    train(load_train_config(TINY, [*base, "steps=1", f"init_weights={b_weights}"]), tmp_path / "c", progress=False)
    third = record(tmp_path / "c")
    assert [r["steps"] for r in third["previous"]] == [2, 3] and third["total_steps"] == 6


def test_run_folder_contents(data: Path, tmp_path: Path) -> None:
    run = tmp_path / "run"
    assert (
        main(
            [
                "train",
                "--config",
                str(TINY),
                *_set_args(_overrides(data)),
                "--run-dir",
                str(run),
                "--no-progress",
            ]
        )
        == 0
    )
    assert (run / "config.yaml").is_file() and (run / "curves.png").is_file()
    rows = list(csv.DictReader((run / "metrics.csv").read_text().splitlines()))
    assert [int(r["step"]) for r in rows] == [2, 3, 4, 6]
    assert all(float(r["loss"]) > 0 for r in rows if r["loss"]) and rows[1]["val_psnr"]
    assert float(rows[0]["crops_per_s"]) > 0 and float(rows[0]["lr"]) > 0
    assert (run / "best" / "model.safetensors").is_file()
    assert [p.name for p in sorted((run / "checkpoints").glob("step-*"))] == ["step-00000003", "step-00000006"]
    from idc.weights import load_model

    assert load_model(run / "best").config.encoder_widths == (4, 8, 16)
    # A second run into the same folder is refused.
    args = ["train", "--config", str(TINY), *_set_args(_overrides(data)), "--run-dir", str(run)]
    assert main(args) == 2


def test_schedules() -> None:
    from idc.train.config import OptimConfig

    poly = OptimConfig(lr=1e-4, min_lr=1e-6, schedule="poly", power=0.3)
    assert get_lr(0, 100, poly) == pytest.approx(1e-4)
    assert get_lr(100, 100, poly) == pytest.approx(1e-6)
    assert get_lr(50, 100, poly) == pytest.approx(1e-6 + (1e-4 - 1e-6) * 0.5**0.3)
    warm = OptimConfig(lr=1e-3, warmup=10, schedule="cosine", min_lr=0.0)
    assert get_lr(4, 110, warm) == pytest.approx(5e-4)
    assert get_lr(60, 110, warm) == pytest.approx(5e-4)
    assert get_lr(5, 10, OptimConfig(schedule="constant", lr=3e-4)) == 3e-4


def test_config_errors(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"unknown keys \['stepz'\]"):
        load_train_config(TINY, ["stepz=3"])
    with pytest.raises(ValueError, match=r"data\.sources is empty"):
        load_train_config(TINY)
    with pytest.raises(ValueError, match=r"data.sources\[0\]: unknown keys"):
        load_train_config(TINY, ["data.sources=[{kind: paired, path: x}]"])
    source = ["data.sources=[{kind: paired, paths: [x]}]"]
    with pytest.raises(ValueError, match=r"keep_every \(300\) must be a multiple of ckpt_every \(200\)"):
        load_train_config(TINY, [*source, "ckpt_every=200", "keep_every=300"])
    with pytest.raises(ValueError, match=r"keep_every and keep_checkpoints must be >= 0"):
        load_train_config(TINY, [*source, "keep_every=-1"])


def test_keep_every_keeps_snapshots_beside_the_newest_checkpoints(data: Path, tmp_path: Path) -> None:
    run = tmp_path / "run"
    overrides = [*_overrides(data), "val.every=0", "ckpt_every=1", "steps=7", "keep_checkpoints=2", "keep_every=3"]
    train(load_train_config(TINY, overrides), run, progress=False)
    kept = sorted(p.name for p in (run / "checkpoints").glob("step-*"))
    assert kept == ["step-00000003", "step-00000006", "step-00000007"]
    # Each snapshot is whole weights of its own step, loadable and different from the last.
    snapshot, last = (load_file(str(run / "checkpoints" / k / "model.safetensors")) for k in (kept[0], kept[-1]))
    assert any(not torch.equal(snapshot[k], last[k]) for k in last)
    assert load_train_state(run / "checkpoints" / kept[0])["step"] == 3


@pytest.mark.slow
def test_ddp_on_two_cpu_processes_matches_one(data: Path, tmp_path: Path) -> None:
    overrides = [*_overrides(data), "val.every=0", "ema=0.8"]
    single = load_train_config(TINY, overrides)
    train(single, tmp_path / "one", progress=False)
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port", "29512"]
    cmd += ["-m", "idc", "train", "--config", str(TINY), "--run-dir", str(tmp_path / "two"), "--no-progress"]
    cmd += _set_args(overrides)
    r = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    a, b = _weights(tmp_path / "one"), _weights(tmp_path / "two")
    assert all(torch.allclose(a[k], b[k], atol=1e-5) for k in a)
    # The average of the weights too (kept by the first process only).
    a, b = _weights(tmp_path / "one", "ema"), _weights(tmp_path / "two", "ema")
    assert all(torch.allclose(a[k], b[k], atol=1e-5) for k in a)


TINY_MODEL = ["model={preset: tiny}", "data.crop=32", "data.workers=0", "batch=2", "steps=2", "precision=fp32"]
TINY_RUN = [*TINY_MODEL, "log_every=1", "ckpt_every=1", "tensorboard=false", "channels_last=false"]


def test_paper_recipe_runs_on_a_gopro_large_folder(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    for split, seq in (("train", "GOPR0372_07_00"), ("test", "GOPR0384_11_00")):
        for i in range(3):
            sharp = rng.integers(0, 256, (48, 64, 3), dtype=np.uint8)
            for sub, a in (("sharp", sharp), ("blur", sharp // 2), ("blur_gamma", sharp // 3)):
                folder = tmp_path / "GOPRO_Large" / split / seq / sub
                folder.mkdir(parents=True, exist_ok=True)
                Image.fromarray(a).save(folder / f"{i:06d}.png")
    config = load_train_config(REPO / "configs" / "idc_gopro.yaml", [f"data.root={tmp_path}", *TINY_RUN, "val.every=2"])
    assert config.optim.schedule == "poly" and config.loss["alpha"] == 0.1
    train(config, tmp_path / "run", progress=False)
    rows = list(csv.DictReader((tmp_path / "run" / "metrics.csv").read_text().splitlines()))
    assert rows[-1]["step"] == "2" and rows[-1]["val_psnr"]


@pytest.mark.skipif(not (REPO.parent / "shared" / "data" / "bsds500").is_dir(), reason="needs ../shared/data")
@pytest.mark.parametrize(
    ("name", "kinds"),
    [("idc_synthetic", ["sharp", "frames"]), ("idc_synthetic_camera", ["sharp", "camera_path", "frames"])],
)
@pytest.mark.slow
def test_synthetic_recipe_runs_on_shared_data(tmp_path: Path, name: str, kinds: list[str]) -> None:
    config = load_train_config(
        REPO / "configs" / f"{name}.yaml",
        [f"data.root={REPO.parent / 'shared' / 'data'}", *TINY_RUN, "val.every=0"],
    )
    assert [s.kind for s in config.data.sources] == kinds
    train(config, tmp_path / "run", progress=False)
    assert latest_checkpoint(tmp_path / "run" / "checkpoints") is not None


@pytest.mark.slow
def test_sigterm_saves_a_checkpoint_and_resume_finishes(data: Path, tmp_path: Path) -> None:
    import signal
    import time

    run = tmp_path / "run"
    args = ["--config", str(TINY), "--run-dir", str(run), "--no-progress", *_set_args(_overrides(data))]
    args += ["--set", "steps=100000", "--set", "ckpt_every=1000", "--set", "val.every=0", "--set", "log_every=1"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "idc", "train", *args], env=env, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 120
    while time.time() < deadline and not (run / "metrics.csv").exists():
        time.sleep(0.2)
    time.sleep(1.0)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 3, err[-2000:]
    assert "SIGTERM" in err and "--resume" in err
    found = latest_checkpoint(run / "checkpoints")
    assert found is not None
    stopped = load_train_state(found)["step"]
    assert stopped >= 1
    assert main(["train", "--resume", str(run), "--set", f"steps={stopped + 2}", "--no-progress"]) == 0
    assert load_train_state(latest_checkpoint(run / "checkpoints"))["step"] == stopped + 2  # type: ignore[arg-type]


def test_non_finite_losses_skip_updates_then_stop(data: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    clean = load_train_config(TINY, [*_overrides(data), "val.every=0", "steps=10", "stop_at_step=2"])
    with pytest.raises(TrainingStopped):
        train(clean, tmp_path / "clean", progress=False)

    _nan_after_two(monkeypatch)
    config = load_train_config(TINY, [*_overrides(data), "val.every=0", "steps=10", "max_bad_steps=3"])
    with pytest.raises(TrainingStopped, match="3 non-finite losses in a row"):
        train(config, tmp_path / "nan", progress=False)
    assert load_train_state(latest_checkpoint(tmp_path / "nan" / "checkpoints"))["step"] == 5  # type: ignore[arg-type]
    a, b = _weights(tmp_path / "clean"), _weights(tmp_path / "nan")
    assert all(torch.equal(a[k], b[k]) for k in a)  # the three non-finite steps changed nothing


def test_training_goes_on_after_a_single_non_finite_loss(
    data: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The skipped step must leave the optimiser's moments clean too: NaN there would spread to every weight.
    _nan_after_two(monkeypatch, last=3)
    config = load_train_config(TINY, [*_overrides(data), "val.every=0", "steps=6", "log_every=1"])
    train(config, tmp_path / "run", progress=False)
    assert all(torch.isfinite(w).all() for w in _weights(tmp_path / "run").values())
    with open(tmp_path / "run" / "metrics.csv") as f:
        losses = [float(r["loss"]) for r in csv.DictReader(f)]
    assert len(losses) == 6 and losses[2] == 0.0 and all(np.isfinite(losses))  # step 3's row: nothing summed


def test_loss_flags_report_each_step_in_order_on_a_cpu() -> None:
    from idc.train.loop import LossFlags

    flags = LossFlags(torch.device("cpu"))
    for step, loss in enumerate([0.5, float("nan"), float("inf"), 0.25]):
        value = torch.tensor(loss)
        flags.push(step, (~torch.isfinite(value)).float(), value)
        arrived = list(flags.arrived())  # on a CPU the work is done: every flag is there at once
        assert len(arrived) == 1 and arrived[0][:2] == (step, not np.isfinite(loss))
    assert list(flags.arrived(wait=True)) == []
    for step, loss in enumerate([float("nan"), float("nan"), 1.0, float("inf")]):
        value = torch.tensor(loss)
        flags.push(step, (~torch.isfinite(value)).float(), value)
        assert flags.read() == [1, 2, 0, 1][step]  # non-finite losses in a row


def _nan_after_two(monkeypatch: pytest.MonkeyPatch, last: int | None = None) -> None:
    """Makes the losses after the second one NaN (up to the ``last``-th, or all)."""
    from idc.losses import MixedLoss
    from idc.train import loop

    class NanAfterTwo(MixedLoss):
        calls = 0

        def forward(self, estimates, sharp):  # type: ignore[no-untyped-def]
            total, terms = super().forward(estimates, sharp)
            NanAfterTwo.calls += 1
            bad = NanAfterTwo.calls > 2 and (last is None or NanAfterTwo.calls <= last)
            return (total * float("nan"), terms) if bad else (total, terms)

    monkeypatch.setattr(loop, "MixedLoss", NanAfterTwo)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
@pytest.mark.parametrize("ema", [0.0, 0.999])
def test_a_training_step_on_a_gpu_never_waits_for_the_gpu(
    data: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture, ema: float
) -> None:
    # The loop counts host synchronisations on a few steps and logs them: none, since the non-finite-loss check
    # reads its flags behind the GPU (LossFlags), the optimiser skips a bad update on the device, and the average of
    # the weights takes a share the host computes.
    import ast

    from idc.train.loop import SYNC_CHECK_STEPS

    steps = SYNC_CHECK_STEPS[-1] + 2
    overrides = [*_overrides(data), "val.every=0", f"steps={steps}", "device=cuda", f"ema={ema}"]
    config = load_train_config(TINY, overrides)
    with caplog.at_level("INFO", logger="idc.train.loop"):
        train(config, tmp_path / "run", progress=False)
    lines = [r.getMessage() for r in caplog.records if "host synchronisations" in r.getMessage()]
    assert len(lines) == 1
    counts = ast.literal_eval(lines[0].rsplit(": ", 1)[1])
    assert len(counts) == len(SYNC_CHECK_STEPS) and min(w for _, w in counts) == 0


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_non_finite_losses_on_a_gpu_stop_within_the_lag(
    data: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _nan_after_two(monkeypatch)
    config = load_train_config(TINY, [*_overrides(data), "val.every=0", "steps=20", "max_bad_steps=3", "device=cuda"])
    with pytest.raises(TrainingStopped, match="non-finite losses in a row"):
        train(config, tmp_path / "nan", progress=False)
    stopped = load_train_state(latest_checkpoint(tmp_path / "nan" / "checkpoints"))["step"]  # type: ignore[arg-type]
    assert 5 <= stopped <= 5 + 2  # read at most LossFlags' lag of 2 steps late
    assert all(torch.isfinite(w).all() for w in _weights(tmp_path / "nan").values())


def test_anneal_by_time_reaches_min_lr_at_the_wall_time_limit(
    data: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With ``steps`` far more than fit in ``max_minutes``, the schedule follows the clock and ends at min_lr."""
    from types import SimpleNamespace

    from idc.losses import MixedLoss
    from idc.train import loop

    clock = SimpleNamespace(now=0.0)

    class OneSecondPerStep(MixedLoss):
        def forward(self, estimates, sharp):  # type: ignore[no-untyped-def]
            clock.now += 1.0
            return super().forward(estimates, sharp)

    monkeypatch.setattr(loop, "MixedLoss", OneSecondPerStep)
    monkeypatch.setattr(loop, "time", SimpleNamespace(perf_counter=lambda: clock.now))
    sets = [*_overrides(data), "val.every=0", "steps=100", "log_every=1", "max_minutes=0.1"]

    def lrs(run: Path) -> list[float]:
        with (run / "metrics.csv").open() as f:
            return [float(r["lr"]) for r in csv.DictReader(f)]

    fixed = load_train_config(TINY, sets)
    with pytest.raises(TrainingStopped, match="wall-time limit"):
        train(fixed, tmp_path / "steps", progress=False)
    # Six "seconds" of a 100-step schedule: the step-based learning rate has hardly moved.
    assert lrs(tmp_path / "steps") == pytest.approx([get_lr(k, 100, fixed.optim) for k in range(7)])

    clock.now = 0.0
    timed = load_train_config(TINY, [*sets, "anneal_by_time=true"])
    with pytest.raises(TrainingStopped, match="wall-time limit"):
        train(timed, tmp_path / "time", progress=False)
    expected = [get_lr(int(min(1.0, k / 6) * 100), 100, timed.optim) for k in range(7)]
    assert lrs(tmp_path / "time") == pytest.approx(expected)
    assert expected[-1] == pytest.approx(timed.optim.min_lr)
    state = load_train_state(latest_checkpoint(tmp_path / "time" / "checkpoints"))  # type: ignore[arg-type]
    assert state["step"] == 7 and state["schedule_step"] == pytest.approx(101)
    record = json.loads((latest_checkpoint(tmp_path / "time" / "checkpoints") / "config.json").read_text())  # type: ignore[operator]
    assert "over 0.1 min (annealed on the clock, at most 100 steps)" in record["training"]["schedule"]
    assert record["trained_on"] == f"paired ({data / 'pairs'}); sharp ({data / 'photos'})"  # what the weights saw
    with pytest.raises(ValueError, match="anneal_by_time needs max_minutes"):
        load_train_config(TINY, [*_overrides(data), "anneal_by_time=true"])


def test_a_malicious_train_state_is_refused_without_running(tmp_path: Path) -> None:
    import pickle

    marker = tmp_path / "ran"

    class Payload:
        def __reduce__(self):  # type: ignore[no-untyped-def]
            return (exec, (f"open({str(marker)!r}, 'w').write('x')",))

    (tmp_path / "step-00000001").mkdir()
    (tmp_path / "step-00000001" / "train_state.pt").write_bytes(pickle.dumps({"step": 1, "x": Payload()}))
    with pytest.raises(ValueError, match="refused or unreadable train state"):
        load_train_state(tmp_path / "step-00000001")
    assert not marker.exists()


# Sharp sources whose degradation the trainer finishes: Gaussian noise (kernel and noise drawn in the worker), shot
# noise (kernel drawn in the worker, noise by the trainer), JPEG (nothing drawn ahead), and two sources with different
# kernel margins in one batch, with and without a ready (paired) source beside them.
DEFERRED_SOURCES = {
    "gaussian": ["{kernel_size: 7}"],
    "shot noise": ["{kernel_size: 7, poisson_peak: [50, 200]}"],
    "jpeg": ["{kernel_size: 7, jpeg_quality: [60, 90], jpeg_prob: 1.0}"],
    "two margins": ["{kernel_size: 7}", "{kernel_size: 11, noise_sigma: [0.02, 0.05]}"],
}


@pytest.mark.parametrize("with_pairs", [True, False])
@pytest.mark.parametrize("case", list(DEFERRED_SOURCES))
def test_deferred_degradation_gives_the_same_batches(data: Path, case: str, with_pairs: bool) -> None:
    # On a GPU, sharp-photo samples are degraded by the trainer (finish_batch); run that path on the CPU here.
    from idc.train.data import build_dataset, collate, finish_batch

    sources = [f"{{kind: sharp, paths: [{data / 'photos'}], degradation: {d}}}" for d in DEFERRED_SOURCES[case]]
    if with_pairs:
        sources.insert(0, f"{{kind: paired, paths: [{data / 'pairs'}]}}")
    config = load_train_config(TINY, [f"data.sources=[{', '.join(sources)}]"]).data
    plain, deferred = build_dataset(config, 0), build_dataset(config, 0, defer_degradation=True)
    assert deferred.deferred and not plain.deferred
    cpu = torch.device("cpu")
    first = deferred.dataset[0]
    if case in ("gaussian", "two margins") and "window" in first:
        assert "noise" in first and "rng" not in first  # drawn ahead in the worker
    seen: set[int] = set()
    for indices in ([0, 1, 2, 3], [5, 6], list(range(8))):
        a = finish_batch(collate([plain.dataset[i] for i in indices]), plain.deferred, config.crop, cpu)
        batch = collate([deferred.dataset[i] for i in indices])
        seen.update(int(s) for s in batch["source"])
        b = finish_batch(batch, deferred.deferred, config.crop, cpu)
        assert a[0].shape == b[0].shape == (len(indices), 3, config.crop, config.crop)
        assert torch.allclose(a[0], b[0], atol=1e-5) and torch.equal(a[1], b[1])
        assert not torch.equal(b[0], b[1])  # degraded
    assert seen == set(range(len(sources)))  # every source took part
    if case == "two margins" and with_pairs:
        # The same batches through loader workers (the groups travel between processes as on a GPU run).
        from torch.utils.data import DataLoader

        loader = DataLoader(deferred.dataset, batch_size=4, num_workers=2, collate_fn=collate)
        for k, batch in enumerate(loader):
            got = finish_batch(batch, deferred.deferred, config.crop, cpu)
            want = finish_batch(collate([plain.dataset[i] for i in range(4 * k, 4 * k + 4)]), {}, config.crop, cpu)
            assert torch.allclose(got[0], want[0], atol=1e-5) and torch.equal(got[1], want[1])


def _pinned(x: Any) -> Any:
    if isinstance(x, torch.Tensor):
        return x.pin_memory()
    if isinstance(x, dict):
        return {k: _pinned(v) for k, v in x.items()}
    if isinstance(x, list):
        return [_pinned(v) for v in x]
    return x


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_finishing_a_deferred_batch_on_a_gpu_never_waits_for_the_gpu(data: Path) -> None:
    # A host synchronisation in finish_batch would stall the GPU every step (the loop logs the same count).
    from idc.train.data import build_dataset, collate, finish_batch
    from idc.train.loop import host_syncs

    sources = f"[{{kind: paired, paths: [{data / 'pairs'}]}}, {{kind: sharp, paths: [{data / 'photos'}]}}]"
    config = load_train_config(TINY, [f"data.sources={sources}"]).data
    built = build_dataset(config, 0, defer_degradation=True)
    cpu, gpu = torch.device("cpu"), torch.device("cuda")
    batch = _pinned(collate([built.dataset[i] for i in range(8)]))
    assert "groups" in batch
    finish_batch(batch, built.deferred, config.crop, gpu)  # cuDNN may synchronise while it picks algorithms
    torch.cuda.synchronize()
    with host_syncs() as synced:
        blurred, sharp = finish_batch(batch, built.deferred, config.crop, gpu)
        assert synced() == 0
    expected = finish_batch(batch, built.deferred, config.crop, cpu)
    assert torch.allclose(blurred.cpu(), expected[0], atol=1e-5) and torch.equal(sharp.cpu(), expected[1])
    with host_syncs() as synced:
        torch.ones(1, device=gpu).item()
        assert synced() >= 1  # the counter does see one


@pytest.mark.slow
def test_group_sigterm_with_loader_workers_saves_a_checkpoint(data: Path, tmp_path: Path) -> None:
    # `timeout` (and Ctrl-C in a terminal) signal the whole process group, loader workers included.
    import signal
    import time

    run = tmp_path / "run"
    args = ["--config", str(TINY), "--run-dir", str(run), "--no-progress", *_set_args(_overrides(data))]
    args += ["--set", "steps=100000", "--set", "ckpt_every=1000", "--set", "val.every=0", "--set", "log_every=1"]
    args += ["--set", "data.workers=2"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "idc", "train", *args],
        env=env,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    deadline = time.time() + 120
    while time.time() < deadline and not (run / "metrics.csv").exists():
        time.sleep(0.2)
    time.sleep(1.0)
    os.killpg(proc.pid, signal.SIGTERM)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 3, err[-2000:]
    found = latest_checkpoint(run / "checkpoints")
    assert found is not None and load_train_state(found)["step"] >= 1


def test_a_stopped_run_leaves_no_loader_workers_behind(data: Path, tmp_path: Path) -> None:
    # Workers ignore SIGTERM; one left waiting at exit would hang multiprocessing's exit-time join (seen once).
    import multiprocessing

    overrides = [*_overrides(data), "val.every=0", "data.workers=2", "steps=20", "stop_at_step=5"]
    with pytest.raises(TrainingStopped):  # step 5 is mid-way through the second epoch of 4 steps
        train(load_train_config(TINY, overrides), tmp_path / "run", progress=False)
    assert multiprocessing.active_children() == []


@pytest.mark.slow
def test_loader_workers_started_by_spawn_train_as_forked_ones(data: Path, tmp_path: Path) -> None:
    # macOS and Windows start loader workers by spawning a fresh interpreter (everything they need is pickled over),
    # Linux by forking. Each sample is seeded by (seed, epoch, index), so workers however started give the same
    # batches, and so the same weights (both runs in a child process alike, so threads and settings are the same).
    code = (
        "import multiprocessing, sys\n"
        "if __name__ == '__main__':\n"
        "    multiprocessing.set_start_method(sys.argv[1], force=True)\n"
        "    from idc.cli import main\n"
        "    sys.exit(main(sys.argv[2:]))\n"
    )
    overrides = [*_overrides(data), "val.every=0", "steps=4", "ckpt_every=4", "ema=0.5", "data.workers=2"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    for method in ("fork", "spawn"):
        args = ["train", "--config", str(TINY), "--run-dir", str(tmp_path / method), "--no-progress"]
        cmd = [sys.executable, "-c", code, method, *args, *_set_args(overrides)]
        result = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
        assert result.returncode == 0, result.stderr[-2000:]
    for within in (".", "ema"):
        a, b = _weights(tmp_path / "fork", within), _weights(tmp_path / "spawn", within)
        assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


class _Numbers(torch.utils.data.Dataset[int]):
    def __len__(self) -> int:
        return 8

    def __getitem__(self, i: int) -> int:
        return i


def _slow_ignore_stop_signals(worker_id: int) -> None:
    # Widens the window between the worker's start and its worker_init_fn, where a signal used to kill it.
    import time

    time.sleep(1.0)
    ignore_stop_signals(worker_id)


def _signal_starting_workers(held: bool) -> list[int]:
    """Makes a 2-worker loader's iterator (inside stop_signals_held when ``held``), SIGTERMs its workers and this
    process before they reach their worker_init_fn, and reads every batch; returns the signals this process saw."""
    import multiprocessing
    import signal
    import time

    from torch.utils.data import DataLoader

    seen: list[int] = []
    previous = signal.signal(signal.SIGTERM, lambda signum, _frame: seen.append(signum))
    before = set(multiprocessing.active_children())
    it = None
    try:
        loader = DataLoader(_Numbers(), batch_size=2, num_workers=2, worker_init_fn=_slow_ignore_stop_signals)
        with stop_signals_held() if held else contextlib.nullcontext():
            it = iter(loader)
            # Sent to the whole process: held from this thread, but another thread of the process (one left by an
            # earlier test, or by torch) may take it, and then the handler runs at once; only the count is certain.
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(0.3)
            for worker in it._workers:  # type: ignore[attr-defined]
                os.kill(worker.pid, signal.SIGTERM)
        assert [b.tolist() for b in it] == [[0, 1], [2, 3], [4, 5], [6, 7]]
    finally:
        signal.signal(signal.SIGTERM, previous)
        if it is not None:
            it._shutdown_workers()  # type: ignore[attr-defined]
        _end_leftover_processes(before)  # a failed check must not leave deaf workers to hang pytest's exit
    return seen


@pytest.mark.slow
def test_workers_signalled_while_starting_live_on_when_started_with_stop_signals_held() -> None:
    # A group SIGTERM (`timeout`, Ctrl-C) arriving while an epoch's loader starts its workers: before their
    # worker_init_fn, PyTorch's own SIGTERM handler ends them, and the trainer failed without a checkpoint (CI, once).
    import signal

    assert _signal_starting_workers(held=True) == [signal.SIGTERM]  # the trainer still sees it, once
    with pytest.raises(RuntimeError, match="DataLoader worker"):
        _signal_starting_workers(held=False)  # the failure held signals prevent


def _deaf_sleeper() -> None:
    import signal
    import time

    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    time.sleep(60)


def test_processes_left_running_are_ended() -> None:
    import multiprocessing

    before = set(multiprocessing.active_children())
    deaf = multiprocessing.get_context("fork").Process(target=_deaf_sleeper, daemon=True)
    deaf.start()
    _end_leftover_processes(before)
    assert not deaf.is_alive() and deaf.exitcode is not None and deaf.exitcode < 0


def test_resume_after_a_crash_logs_each_step_once(data: Path, tmp_path: Path) -> None:
    run = tmp_path / "run"
    overrides = [*_overrides(data), "val.every=0", "log_every=1", "ckpt_every=3", "steps=6", "keep_checkpoints=5"]
    train(load_train_config(TINY, overrides), run, progress=False)
    # A crash after steps 4-6 were logged but before their checkpoint: the run resumes from step 3.
    import shutil

    shutil.rmtree(run / "checkpoints" / "step-00000006")
    (run / "checkpoints" / "LATEST").write_text("step-00000003")
    # ... and a metrics.csv from a version without the data_wait column.
    with open(run / "metrics.csv", newline="") as f:
        old_rows = list(csv.DictReader(f))
    old_fields = [k for k in old_rows[0] if k != "data_wait"]
    with open(run / "metrics.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=old_fields, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(old_rows)
    train(load_train_config(TINY, overrides), run, resume=True, progress=False)
    with open(run / "metrics.csv", newline="") as f:
        reader = csv.DictReader(f)
        rows = list(reader)
        assert "data_wait" in (reader.fieldnames or [])
    assert [int(r["step"]) for r in rows] == [1, 2, 3, 4, 5, 6]
    assert all(r["loss"] and float(r["lr"]) > 0 for r in rows)
