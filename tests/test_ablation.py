"""benchmarks/ablation.py's table arithmetic and overrides (training and scoring run in
tests/train/test_gpu_train_script.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.conftest import load_script

ablation = load_script("benchmarks/ablation.py")
REPO = Path(__file__).resolve().parents[1]


def test_paired_difference_is_image_by_image() -> None:
    mean, se, wins = ablation.paired_difference([1.0, 2.0, 3.0], [0.0, 2.0, 1.0])
    assert mean == pytest.approx(1.0)
    assert se == pytest.approx((1 / 3) ** 0.5)  # sample sd of (1, 0, 2) is 1, over sqrt(3) images
    assert wins == 1 + 0 + 1


def _result(variant: str, per_image: list[float]) -> dict[str, Any]:
    n = len(per_image)
    scores = {
        "set-a": {
            "images": n,
            "psnr_blurred": 20.0,
            "psnr_restored": sum(per_image) / n,
            "ssim_blurred": 0.5,
            "ssim_restored": 0.6,
            "psnr_restored_per_image": per_image,
        }
    }
    return {"variant": variant, "parameters": 10, "minutes": 1.0, "scores": scores}


def test_table_compares_each_variant_with_the_first(capsys: pytest.CaptureFixture[str]) -> None:
    record = {
        "budget": {"steps": 5, "batch": 2, "crop": 32, "crops": 10},
        "config": "c.yaml",
        "device": "cpu",
        "eval": "full images",
        "scored_on": "cpu",
        "results": [_result("idc", [21.0, 22.0, 23.0]), _result("idc-no-texture", [21.5, 21.0, 23.0])],
    }
    ablation.print_table(record)
    out = capsys.readouterr().out
    assert "equal budget: 5 steps x 2 crops of 32x32 = 10 crops per variant" in out
    # (0.5 - 1.0 + 0.0) / 3 = -0.167; better on 1 image of 3.
    assert "idc-no-texture    set-a -0.167 +- 0.441 dB (1/3 better)" in out


def test_model_overrides_change_every_variant_and_the_budget_stays_equal() -> None:
    from idc.train.config import load_train_config
    from idc.train.loop import model_config

    overrides = ["model.encoder_widths=[4, 8, 16]", "model.d3=deconv", "steps=999", "data.crop=64"]
    for variant, key, value in (("idc-single-scale", "num_scales", 1), ("idc-no-texture", "texture", False)):
        config = load_train_config(
            REPO / "configs" / "idc_synthetic.yaml", ablation.variant_overrides(variant, overrides, 5, 2, 16, 0)
        )
        assert config.model == {"preset": variant, "encoder_widths": [4, 8, 16], "d3": "deconv"}
        assert (config.steps, config.batch, config.data.crop, config.data.workers) == (5, 2, 16, 0)
        assert getattr(model_config(config), key) == value


@pytest.mark.parametrize("override", ["model.preset=tiny", "model={preset: tiny}"])
def test_an_override_of_the_variants_preset_is_refused(
    override: str, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        ablation.main(["--set", override, "--out", str(tmp_path)])
    assert exit_info.value.code == 2
    assert "each variant sets the model preset" in capsys.readouterr().err
    assert not any(tmp_path.iterdir())
