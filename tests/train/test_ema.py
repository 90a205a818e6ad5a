"""The average of the weights along a run (training config ``ema``, :mod:`idc.train.ema`)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from idc.models import IDC, get_preset
from idc.train.checkpoint import latest_checkpoint, load_train_state
from idc.train.config import load_train_config
from idc.train.ema import WeightEMA, newest_share
from idc.train.loop import TrainingStopped, train
from idc.weights import load_model, read_weights_config
from tests.train.test_train import TINY, _overrides


def _expected(weights: list[dict[str, torch.Tensor]], decay: float) -> dict[str, torch.Tensor]:
    """The bias-corrected EMA written out: sum_k (1 - d) d^(n-k) w_k / (1 - d^n), in float64."""
    n = len(weights)
    norm = 1 - decay**n
    return {
        key: sum((1 - decay) * decay ** (n - k) * w[key].double() for k, w in enumerate(weights, 1)) / norm
        for key in weights[0]
    }


def test_the_average_is_the_bias_corrected_ema_of_the_weights_given() -> None:
    torch.manual_seed(0)
    model, decay = IDC(get_preset("tiny")), 0.8
    ema = WeightEMA(model, decay)
    seen = []
    for _ in range(5):
        with torch.no_grad():
            for p in model.parameters():
                p.copy_(torch.randn_like(p))
        seen.append({k: v.clone() for k, v in model.state_dict().items()})
        ema.update()
        if ema.updates == 1:  # the first update replaces the copy it started from: the start counts for nothing
            assert all(torch.equal(v, seen[0][k]) for k, v in ema.model.state_dict().items())
    expected = _expected(seen, decay)
    got = ema.model.state_dict()
    assert ema.updates == 5 and all(torch.allclose(got[k].double(), expected[k], atol=1e-6) for k in got)
    # The model itself is untouched, and the average takes no gradients.
    assert all(torch.equal(v, seen[-1][k]) for k, v in model.state_dict().items())
    assert not any(p.requires_grad for p in ema.model.parameters())


def test_newest_share_and_bad_decays() -> None:
    assert newest_share(0.9, 1) == 1.0
    assert newest_share(0.9, 2) == pytest.approx(0.1 / 0.19)
    assert newest_share(0.999, 10**6) == pytest.approx(0.001)
    with pytest.raises(ValueError, match="updates must be >= 1"):
        newest_share(0.9, 0)
    for decay in (0.0, 1.0, -0.5):
        with pytest.raises(ValueError, match="decay must lie in"):
            WeightEMA(IDC(get_preset("tiny")), decay)
    with pytest.raises(ValueError, match=re.escape("ema must be 0 (none) or a decay in (0, 1), got 1.0")):
        load_train_config(TINY, ["ema=1.0"])


def test_training_keeps_the_average_of_its_steps_in_each_checkpoint(data: Path, tmp_path: Path) -> None:
    # A checkpoint at every step, all kept: the weights of steps 1..6, from which the average is recomputed.
    overrides = [*_overrides(data), "ema=0.7", "ckpt_every=1", "keep_checkpoints=0"]
    last = train(load_train_config(TINY, overrides), tmp_path / "run", progress=False)
    steps = sorted((tmp_path / "run" / "checkpoints").glob("step-*"))
    assert [s.name for s in steps] == [f"step-{i:08d}" for i in range(1, 7)] and steps[-1] == last
    weights = [load_file(str(s / "model.safetensors")) for s in steps]
    for n, folder in enumerate(steps, 1):
        average = load_model(folder / "ema").state_dict()
        expected = _expected(weights[:n], 0.7)
        assert all(torch.allclose(average[k].double(), expected[k], atol=1e-6) for k in average)
        record = read_weights_config(folder / "ema")
        assert record["training"]["ema"] == {"decay": 0.7, "steps_averaged": n} and record["training"]["steps"] == n
        assert "moving average of the weights (decay 0.7)" in record["description"]
        assert load_train_state(folder)["ema_updates"] == n
    # After training moved the weights, the average differs from the last weights.
    last_average = load_model(last / "ema").state_dict()
    assert any(not torch.allclose(last_average[k], weights[-1][k]) for k in weights[-1])
    # Without ema, no average is kept.
    plain = train(load_train_config(TINY, _overrides(data)), tmp_path / "plain", progress=False)
    assert not (plain / "ema").exists() and "ema_updates" not in load_train_state(plain)
    assert _orange_pixels(tmp_path / "plain" / "curves.png") == 0


def test_resume_continues_the_average_exactly(data: Path, tmp_path: Path) -> None:
    config = load_train_config(TINY, [*_overrides(data), "ema=0.6"])
    whole = train(config, tmp_path / "a", progress=False)
    staged = load_train_config(TINY, [*_overrides(data), "ema=0.6", "stop_at_step=3"])
    with pytest.raises(TrainingStopped, match="stopped at step 3"):
        train(staged, tmp_path / "b", progress=False)
    resumed = train(config, tmp_path / "b", resume=True, progress=False)
    a, b = load_model(whole / "ema").state_dict(), load_model(resumed / "ema").state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert read_weights_config(resumed / "ema")["training"]["ema"]["steps_averaged"] == 6


def test_an_average_turned_on_at_resume_starts_there(data: Path, tmp_path: Path) -> None:
    staged = load_train_config(TINY, [*_overrides(data), "stop_at_step=4", "ckpt_every=1", "keep_checkpoints=0"])
    with pytest.raises(TrainingStopped):
        train(staged, tmp_path / "run", progress=False)
    config = load_train_config(TINY, [*_overrides(data), "ema=0.5", "ckpt_every=1", "keep_checkpoints=0"])
    last = train(config, tmp_path / "run", resume=True, progress=False)
    assert read_weights_config(last / "ema")["training"]["ema"]["steps_averaged"] == 2
    checkpoints = tmp_path / "run" / "checkpoints"
    weights = [load_file(str(checkpoints / f"step-{i:08d}" / "model.safetensors")) for i in (5, 6)]
    expected, average = _expected(weights, 0.5), load_model(last / "ema").state_dict()
    assert all(torch.allclose(average[k].double(), expected[k], atol=1e-6) for k in average)
    assert latest_checkpoint(checkpoints) == last


def test_validation_scores_the_average_too_and_keeps_its_best(data: Path, tmp_path: Path) -> None:
    import csv

    from idc.train.loop import validate

    config = load_train_config(TINY, [*_overrides(data), "ema=0.5", "ckpt_every=3", "keep_checkpoints=0"])
    train(config, tmp_path / "run", progress=False)
    with open(tmp_path / "run" / "metrics.csv", newline="") as f:
        rows = {int(r["step"]): r for r in csv.DictReader(f)}
    validated = {s: r for s, r in rows.items() if r["val_psnr"]}
    assert sorted(validated) == [3, 6] and all(r["val_psnr_ema"] and r["val_ssim_ema"] for r in validated.values())
    # Each step's score is that of the checkpoint's average, and best-ema/ holds the best of them.
    for s, r in validated.items():
        again = validate(
            load_model(tmp_path / "run" / "checkpoints" / f"step-{s:08d}" / "ema"), config, torch.device("cpu")
        )
        assert again is not None and float(r["val_psnr_ema"]) == pytest.approx(again["val_psnr"], abs=1e-4)
    best = max(validated, key=lambda s: float(validated[s]["val_psnr_ema"]))
    record = read_weights_config(tmp_path / "run" / "best-ema")
    assert record["metrics"]["val_psnr"] == pytest.approx(float(validated[best]["val_psnr_ema"]), abs=1e-4)
    assert record["training"]["ema"]["steps_averaged"] == best
    # curves.png draws the average's validation PSNR in orange beside the weights'.
    assert _orange_pixels(tmp_path / "run" / "curves.png") > 0


def _orange_pixels(png: Path) -> int:
    import numpy as np
    from PIL import Image

    return int((np.asarray(Image.open(png).convert("RGB")) == (255, 140, 0)).all(axis=-1).sum())


def test_idc_train_says_where_the_average_is(data: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from idc.cli import main
    from tests.train.test_train import _set_args

    run = ["train", "--config", str(TINY), "--run-dir", str(tmp_path / "run"), "--no-progress"]
    assert main([*run, *_set_args([*_overrides(data), "val.every=0", "ema=0.5"])]) == 0
    out = capsys.readouterr().out
    last = latest_checkpoint(tmp_path / "run" / "checkpoints")
    assert last is not None and f"average of the weights (ema 0.5): {last / 'ema'}" in out
    assert load_model(last / "ema").config == load_model(last).config
