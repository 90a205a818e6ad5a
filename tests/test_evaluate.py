from __future__ import annotations

import csv
import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn

from idc.cli import main
from idc.evaluate import (
    center_crop,
    evaluate,
    format_report,
    measurement_record,
    read_pairs,
    write_csv,
    write_json,
)
from idc.metrics import psnr
from idc.models import IDC
from idc.weights import save_weights
from tests.conftest import rand_image, random_idc


def _identity_model() -> IDC:
    model = random_idc()
    for m in model.modules():
        if isinstance(m, nn.Conv2d | nn.ConvTranspose2d):
            nn.init.zeros_(m.weight)
    return model.eval()  # global residual with zero correction: output = input


def _pairs(n: int = 3) -> list[tuple[str, torch.Tensor, torch.Tensor]]:
    return [(f"p{i}", rand_image(3, 40, 44, seed=i), rand_image(3, 40, 44, seed=10 + i)) for i in range(n)]


def test_identity_model_scores_like_its_input(tmp_path: Path) -> None:
    report = evaluate(_identity_model(), _pairs(), progress=False, save_images=tmp_path / "out")
    assert len(report.rows) == 3
    for row, (_, blurred, sharp) in zip(report.rows, _pairs(), strict=True):
        assert row.psnr_blurred == pytest.approx(psnr(blurred, sharp))
        assert row.psnr_restored == pytest.approx(row.psnr_blurred)
        assert row.ssim_matlab_restored == pytest.approx(row.ssim_matlab_blurred)
        assert row.seconds > 0
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["p0.png", "p1.png", "p2.png"]
    mean = report.mean()
    assert mean["psnr_blurred"] == pytest.approx(sum(r.psnr_blurred for r in report.rows) / 3)
    text = format_report(report)
    assert "mean of 3" in text and "31.11" in text and "uint8-rounded" in text and "warm-up excluded" in text
    assert "synchronised" not in text  # the CPU runs synchronously: nothing to wait for
    for device in ("cuda:0", "mps"):  # the report says the clock waited for the GPU
        assert "GPU synchronised" in format_report(dataclasses.replace(report, device=device))


def test_crop_csv_and_json(tmp_path: Path) -> None:
    report = evaluate(_identity_model(), _pairs(2), crop=16, progress=False)
    assert report.crop == 16 and center_crop(torch.zeros(3, 40, 44), 16).shape == (3, 16, 16)
    write_csv(report, tmp_path / "r.csv")
    rows = list(csv.DictReader((tmp_path / "r.csv").read_text().splitlines()))
    assert [r["name"] for r in rows] == ["p0", "p1", "mean"]
    write_json(report, tmp_path / "r.json", {"data": "x"})
    data = json.loads((tmp_path / "r.json").read_text())
    assert data["data"] == "x" and len(data["per_image"]) == 2 and data["paper"]["psnr"] == 31.11
    assert set(data["conventions"]) == {"psnr", "ssim", "ssim_matlab"}


def test_eval_command_on_a_flat_folder(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rng = np.random.default_rng(0)
    for sub in ("blur", "sharp"):
        (tmp_path / "set" / sub).mkdir(parents=True)
    for i in range(2):
        Image.fromarray(rng.integers(0, 256, (24, 30, 3), dtype=np.uint8)).save(tmp_path / "set" / "blur" / f"{i}.png")
        Image.fromarray(rng.integers(0, 256, (24, 30, 3), dtype=np.uint8)).save(tmp_path / "set" / "sharp" / f"{i}.png")
    weights = save_weights(_identity_model(), tmp_path / "w")
    args = ["eval", "--data", str(tmp_path / "set"), "--weights", str(weights), "--no-progress"]
    assert main([*args, "--json", str(tmp_path / "r.json"), "--csv", str(tmp_path / "r.csv")]) == 0
    out = capsys.readouterr().out
    assert "set/0.png" in out and "mean of 2" in out
    assert json.loads((tmp_path / "r.json").read_text())["weights"] == str(weights)
    names = [n for n, _, _ in read_pairs([(tmp_path / "set" / "blur" / "0.png", tmp_path / "set" / "sharp" / "0.png")])]
    assert names == ["set/0.png"]
    assert main(["eval", "--data", str(tmp_path / "nothing"), "--weights", str(weights)]) == 2
    assert "not a list file" in capsys.readouterr().err


def test_measurement_record_names_weights_machine_and_conventions(tmp_path: Path) -> None:
    weights = save_weights(_identity_model(), tmp_path / "w", metadata={"description": "identity for a test"})
    record = measurement_record(weights, torch.device("cpu"), "bf16")
    assert record["weights"] == str(weights) and record["weights_description"] == "identity for a test"
    assert record["device"] == "cpu" and record["precision"] == "bf16" and record["torch"] == torch.__version__
    assert record["torch_threads"] == torch.get_num_threads() and record["machine"]
    assert set(record["conventions"]) == {"psnr", "ssim", "ssim_matlab"}
    assert measurement_record(None, torch.device("cpu"), "fp32")["weights"] == "bundled default"
