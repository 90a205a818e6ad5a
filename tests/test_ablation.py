"""benchmarks/ablation.py's table arithmetic (training and scoring run in tests/train/test_gpu_train_script.py)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import load_script

ablation = load_script("benchmarks/ablation.py")


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
