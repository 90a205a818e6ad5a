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
    match_restored,
    measurement_record,
    read_pairs,
    score_restored,
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


def _gopro_set(root: Path, sequences: tuple[str, ...] = ("GOPR01", "GOPR02"), n: int = 2) -> list[Path]:
    """A GOPRO-layout test split whose sequences reuse frame names, as GOPRO's do; returns the blurred files."""
    rng = np.random.default_rng(5)
    blurred = []
    for seq in sequences:
        for sub in ("blur", "sharp"):
            (root / "test" / seq / sub).mkdir(parents=True)
        for i in range(n):
            for sub in ("blur", "sharp"):
                a = rng.integers(0, 256, (24, 30, 3), dtype=np.uint8)
                Image.fromarray(a).save(root / "test" / seq / sub / f"{i:06d}.png")
            blurred.append(root / "test" / seq / "blur" / f"{i:06d}.png")
    return blurred


def test_restored_images_are_scored_as_eval_scores_its_own(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _gopro_set(tmp_path / "data")
    weights = save_weights(random_idc().eval(), tmp_path / "w")
    data = ["eval", "--data", str(tmp_path / "data"), "--no-progress"]
    saved = tmp_path / "saved"
    assert (
        main([*data, "--weights", str(weights), "--save-images", str(saved), "--json", str(tmp_path / "a.json")]) == 0
    )
    assert sorted(p.name for p in saved.iterdir())[0] == "GOPR01__000000.png"
    capsys.readouterr()
    assert (
        main([*data, "--restored", str(saved), "--json", str(tmp_path / "b.json"), "--csv", str(tmp_path / "b.csv")])
        == 0
    )
    out = capsys.readouterr().out
    assert f"out = the images in {saved}" in out and "no network ran here" in out and "Paper" not in out
    ran, scored = (json.loads((tmp_path / f"{x}.json").read_text()) for x in ("a", "b"))
    assert scored["restored"] == str(saved) and "paper" not in scored and scored["mean"]["seconds"] is None
    assert [r["name"] for r in scored["per_image"]] == [r["name"] for r in ran["per_image"]]
    for mine, theirs in zip(ran["per_image"], scored["per_image"], strict=True):
        for key in ("psnr_blurred", "psnr_restored", "ssim_restored", "ssim_matlab_restored"):
            assert theirs[key] == pytest.approx(mine[key], abs=1e-9)  # both on uint8-rounded RGB
        assert theirs["seconds"] is None
    assert theirs["psnr_restored"] != pytest.approx(theirs["psnr_blurred"])  # the network did change the images
    # A missing image and one of the wrong size fail alone; model options do not apply.
    (saved / "GOPR01__000000.png").unlink()
    Image.new("RGB", (31, 24)).save(saved / "GOPR02__000001.png")
    assert main([*data, "--restored", str(saved), "--json", str(tmp_path / "c.json")]) == 1
    err = capsys.readouterr().err
    assert "000000.png: no restored image for it in" in err
    assert (
        f"{saved / 'GOPR02__000001.png'}: 31x24, but the sharp image" in err and "2 of 4 pairs could not be read" in err
    )
    assert len(json.loads((tmp_path / "c.json").read_text())["failed"]) == 2
    assert main([*data, "--restored", str(saved), "--ensemble", "2", "--device", "cpu"]) == 2
    assert "--device, --ensemble apply to running IDC" in capsys.readouterr().err
    assert main([*data, "--restored", str(saved), "--strength", "0.5"]) == 2
    assert "--strength apply to running IDC" in capsys.readouterr().err


def test_restored_images_are_found_by_name_in_any_layout(tmp_path: Path) -> None:
    blurred = _gopro_set(tmp_path / "data")
    pairs = [(b, b.parent.parent / "sharp" / b.name) for b in blurred]
    layouts = {
        "mirror": lambda b: f"GOPR0x/{b.parent.parent.name}/blur/{b.stem}.jpg",  # idc deblur of the split folder
        "sequences": lambda b: f"{b.parent.parent.name}/{b.stem}.webp",
        "flattened": lambda b: f"{b.parent.parent.name}__{b.stem}.png",
    }
    for layout, name in layouts.items():
        for b in blurred:
            path = tmp_path / layout / name(b).replace("GOPR0x/", "test/")
            path.parent.mkdir(parents=True, exist_ok=True)
            Image.new("RGB", (30, 24)).save(path)
        matched = match_restored(pairs, tmp_path / layout)
        assert [(p[0], r.relative_to(tmp_path / layout).as_posix() if r else None) for p, r in matched] == [
            (b, name(b).replace("GOPR0x/", "test/")) for b in blurred
        ], layout
    # The sequences reuse frame names: a flat folder of frame names cannot say which is which.
    (tmp_path / "flat").mkdir()
    for b in blurred[:2]:
        Image.new("RGB", (30, 24)).save(tmp_path / "flat" / b.name)
    with pytest.raises(ValueError, match=r"000000\.png: matches both .*GOPR01.* and .*GOPR02"):
        match_restored(pairs, tmp_path / "flat")
    # Unique frame names in a flat folder are fine; two files for one image are not.
    assert match_restored(pairs[:2], tmp_path / "flat")[1][1] == tmp_path / "flat" / "000001.png"
    Image.new("RGB", (30, 24)).save(tmp_path / "flat" / "000001.jpg")
    with pytest.raises(ValueError, match=r"several restored images match it"):
        match_restored(pairs[:2], tmp_path / "flat")
    (tmp_path / "other").mkdir()
    Image.new("RGB", (30, 24)).save(tmp_path / "other" / "unrelated.png")
    with pytest.raises(ValueError, match=r"no restored image is named after a blurred image of the dataset"):
        match_restored(pairs, tmp_path / "other")
    with pytest.raises(ValueError, match=r"no such folder of restored images"):
        match_restored(pairs, tmp_path / "missing")


def test_realblur_protocol_in_idc_eval(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # RealBlur-like pairs: the "restored" images are the sharp ones moved by two pixels, as a second camera's are.
    import cv2
    from skimage import data

    photo = np.ascontiguousarray(data.astronaut()[::2, ::2][:160, :200])
    for sub in ("blur", "sharp", "restored"):
        (tmp_path / "set" / sub).mkdir(parents=True)
    moved = cv2.warpAffine(photo, np.float32([[1, 0, 2], [0, 1, 1]]), (200, 160), borderMode=cv2.BORDER_REFLECT)
    for i in range(2):
        Image.fromarray(cv2.GaussianBlur(photo, (0, 0), 1.5 + i)).save(tmp_path / "set" / "blur" / f"{i}.png")
        Image.fromarray(photo).save(tmp_path / "set" / "sharp" / f"{i}.png")
        Image.fromarray(moved).save(tmp_path / "set" / "restored" / f"{i}.png")
    base = ["eval", "--data", str(tmp_path / "set"), "--restored", str(tmp_path / "set" / "restored"), "--no-progress"]
    assert main([*base, "--json", str(tmp_path / "gopro.json")]) == 0
    assert main([*base, "--protocol", "realblur", "--json", str(tmp_path / "realblur.json")]) == 0
    out = capsys.readouterr().out
    assert "PSNR and SSIM by the RealBlur protocol: image scaled" in out and "mSSIM is not part of it" in out
    gopro, realblur = (json.loads((tmp_path / f"{x}.json").read_text()) for x in ("gopro", "realblur"))
    assert realblur["protocol"] == "realblur" and gopro["protocol"] == "gopro"
    assert realblur["conventions"]["psnr"].startswith("RealBlur protocol")
    # Misregistration is forgiven, blur is not: the moved sharp image gains, the blurred input hardly changes.
    assert realblur["mean"]["psnr_restored"] > gopro["mean"]["psnr_restored"] + 10
    assert abs(realblur["mean"]["psnr_blurred"] - gopro["mean"]["psnr_blurred"]) < 1.0
    assert realblur["mean"]["ssim_matlab_restored"] is None and realblur["per_image"][0]["ssim_matlab_blurred"] is None
    with pytest.raises(ValueError, match="unknown protocol 'kohler'"):
        evaluate(_identity_model(), _pairs(1), progress=False, protocol="kohler")


def test_scoring_files_in_several_processes_gives_the_same_rows(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    blurred = _gopro_set(tmp_path / "data", n=3)
    pairs = [(b, b.parent.parent / "sharp" / b.name) for b in blurred]
    (tmp_path / "out").mkdir()
    for b in blurred[1:]:  # the first has no restored image: a failure, reported in its place either way
        Image.fromarray(np.asarray(Image.open(b))[::-1].copy()).save(
            tmp_path / "out" / f"{b.parent.parent.name}__{b.name}"
        )
    matched = match_restored(pairs, tmp_path / "out")
    runs = []
    for workers in (1, 2):
        failures: list[str] = []
        report = score_restored(matched, None, failures, False, "out", "realblur", workers)
        rows = [{k: v for k, v in dataclasses.asdict(r).items() if v == v} for r in report.rows]  # NaN: unmeasured
        runs.append((rows, failures))
    assert runs[0] == runs[1] and len(runs[0][0]) == 5 and len(runs[0][1]) == 1
    with pytest.raises(ValueError, match="workers must be at least 1"):
        score_restored(matched, workers=0)
    # Running IDC, the pairs are scored in the workers while the network deblurs the next: the same rows, in order,
    # and the restored images saved all the same; more pairs than the queue holds (2 per worker).
    model = random_idc().eval()
    reports = [
        evaluate(model, _pairs(6), progress=False, workers=w, save_images=tmp_path / f"saved{w}") for w in (1, 2)
    ]
    scores = [[{k: v for k, v in dataclasses.asdict(r).items() if k != "seconds"} for r in x.rows] for x in reports]
    assert scores[0] == scores[1] and [r["name"] for r in scores[1]] == [f"p{i}" for i in range(6)]
    assert all(r.seconds > 0 for r in reports[1].rows)
    for i in range(6):
        assert (tmp_path / "saved1" / f"p{i}.png").read_bytes() == (tmp_path / "saved2" / f"p{i}.png").read_bytes()
    with pytest.raises(ValueError, match="workers must be at least 1"):
        evaluate(model, _pairs(1), progress=False, workers=0)
    data = [
        "eval",
        "--data",
        str(tmp_path / "data"),
        "--no-progress",
        "--workers",
        "2",
        "--json",
        str(tmp_path / "e.json"),
    ]
    weights = save_weights(random_idc(), tmp_path / "w")
    assert main([*data, "--weights", str(weights)]) == 0
    assert len(json.loads((tmp_path / "e.json").read_text())["per_image"]) == len(pairs)


def test_eval_with_a_strength_scores_that_share_of_the_change(tmp_path: Path) -> None:
    model = random_idc().eval()
    full = evaluate(model, _pairs(2), progress=False, warmup=False)
    none = evaluate(model, _pairs(2), progress=False, warmup=False, strength=0.0)
    for row in none.rows:  # strength 0 gives the input back
        assert row.psnr_restored == pytest.approx(row.psnr_blurred)
    assert any(r.psnr_restored != pytest.approx(r.psnr_blurred) for r in full.rows)
    half = evaluate(model, _pairs(2), progress=False, warmup=False, strength=0.5, save_images=tmp_path / "half")
    assert half.strength == 0.5 and "strength 0.5 of the network's change" in format_report(half)
    assert "31.11" not in format_report(half)  # not the paper's method: its result is not set beside this one
    write_json(half, tmp_path / "half.json")
    assert json.loads((tmp_path / "half.json").read_text())["strength"] == 0.5
    with pytest.raises(ValueError, match="strength must be between 0 and 2"):
        evaluate(model, _pairs(1), progress=False, strength=3.0)
