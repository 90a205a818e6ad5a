"""Self-ensemble (idc.ensemble): the views, their means, and every entry point that takes --ensemble."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from idc.cli import build_parser, main
from idc.ensemble import ENSEMBLE_SIZES, VIEWS, ensemble_mean, ensemble_means, ensemble_views
from idc.evaluate import evaluate
from idc.infer import deblur, deblur_image
from idc.io import read_image
from idc.models import IDC
from idc.weights import load_model, save_weights
from tests.conftest import load_script, rand_image, random_idc


def _ramp_run(x: torch.Tensor) -> torch.Tensor:
    """A map that is not flip-equivariant: adds a ramp along the width and a different one along the height."""
    h, w = x.shape[-2:]
    return x + torch.linspace(0, 1, w) + 2 * torch.linspace(0, 1, h)[:, None]


def test_views_are_the_eight_symmetries_and_each_undo_inverts_its_apply() -> None:
    x = rand_image(2, 3, 5, 7)  # not square, so a missing transpose shows in the shape
    seen = []
    for view in VIEWS:
        y = view.apply(x)
        assert y.shape[-2:] == ((7, 5) if view.transpose else (5, 7)) and y.is_contiguous()
        assert torch.equal(view.undo(y), x)
        seen.append(y.flatten().tolist())
    assert len({tuple(s) for s in seen}) == 8  # all different
    assert VIEWS[0].apply(x).data_ptr() == x.data_ptr()  # the identity copies nothing
    # x2 adds the left-right flip; x4 the flips of one grid; x8 the transposed grid
    assert torch.equal(VIEWS[1].apply(x), x.flip(-1)) and torch.equal(VIEWS[3].apply(x), x.rot90(2, (-2, -1)))
    assert torch.equal(VIEWS[5].apply(x), x.rot90(-1, (-2, -1)))  # transpose, then left-right: 90 degrees clockwise


def test_the_mean_is_the_average_of_the_undone_outputs() -> None:
    x = rand_image(3, 6, 9)
    h_ramp, w_ramp = 2 * torch.linspace(0, 1, 6)[:, None], torch.linspace(0, 1, 9)
    assert torch.equal(ensemble_mean(_ramp_run, x, 1), _ramp_run(x))
    # the left-right flip mirrors the width ramp of its output back: the two outputs average it to its mean
    two = ensemble_mean(_ramp_run, x, 2)
    torch.testing.assert_close(two, x + (w_ramp + w_ramp.flip(0)) / 2 + h_ramp)
    four = ensemble_mean(_ramp_run, x, 4)
    torch.testing.assert_close(four, x + 0.5 + 1.0)  # both ramps symmetrised to their means (0.5 and 2 x 0.5)
    # a map that commutes with every view is left as it is
    torch.testing.assert_close(ensemble_mean(lambda t: t.sqrt(), x, 8), x.sqrt())


def test_one_pass_yields_every_size_and_bad_sizes_fail_before_any_run() -> None:
    x = rand_image(3, 8, 10)
    calls: list[tuple[int, ...]] = []

    def run(t: torch.Tensor) -> torch.Tensor:
        calls.append(tuple(t.shape))
        return _ramp_run(t)

    means = list(ensemble_means(run, x, [8, 2, 1, 4]))
    assert [n for n, _ in means] == [1, 2, 4, 8] and len(calls) == 8
    assert calls.count((3, 10, 8)) == 4  # the transposed copies
    for n, mean in means:
        torch.testing.assert_close(mean, ensemble_mean(_ramp_run, x, n))
    calls.clear()
    for bad in (3, 0, 16):
        with pytest.raises(ValueError, match="ensemble size must be one of 1, 2, 4, 8"):
            list(ensemble_means(run, x, [2, bad]))
        with pytest.raises(ValueError, match="ensemble size"):
            deblur_image(random_idc(), x, ensemble=bad)
    assert not calls and ENSEMBLE_SIZES == (1, 2, 4, 8) and len(ensemble_views(4)) == 4


def test_deblur_image_averages_the_network_over_copies_whole_and_tiled(tiny_model: IDC) -> None:
    x = rand_image(3, 45, 62)  # odd sizes: the transposed copies pad differently in the pyramid
    one, flipped = deblur_image(tiny_model, x, tile=0), deblur_image(tiny_model, x.flip(-1), tile=0).flip(-1)
    two = deblur_image(tiny_model, x, tile=0, ensemble=2)
    torch.testing.assert_close(two, (one + flipped) / 2)
    assert not torch.allclose(one, flipped, atol=1e-4)  # the network is not flip-equivariant: the mean is new
    eight = deblur_image(tiny_model, x, tile=0, ensemble=8)
    assert eight.shape == x.shape and eight.min() >= 0 and eight.max() <= 1
    expected = sum(v.undo(deblur_image(tiny_model, v.apply(x), tile=0)) for v in VIEWS) / 8
    torch.testing.assert_close(eight, expected)
    tiled = deblur_image(tiny_model, x, tile=32, overlap=8, ensemble=4)  # each copy tiled on its own grid
    manual = sum(v.undo(deblur_image(tiny_model, v.apply(x), tile=32, overlap=8)) for v in VIEWS[:4]) / 4
    torch.testing.assert_close(tiled, manual)


def test_the_one_call_api_takes_an_ensemble(tiny_model: IDC) -> None:
    array = (rand_image(20, 26, 3).numpy() * 255).astype(np.uint8)
    # fp32 as deblur_image below: "auto" is bf16 on a CPU with native bf16, a level off here and there.
    out = deblur(array, tiny_model, ensemble=2, tile=0, precision="fp32")
    x = torch.from_numpy(array.astype(np.float32) / 255).permute(2, 0, 1)
    expected = deblur_image(tiny_model, x, tile=0, ensemble=2).permute(1, 2, 0).numpy()
    assert out.dtype == np.uint8 and np.array_equal(out, np.round(expected * 255).astype(np.uint8))


def test_evaluate_and_the_benchmark_agree_on_every_size(tiny_model: IDC) -> None:
    pairs = [(f"p{i}", rand_image(3, 30, 34, seed=i), rand_image(3, 30, 34, seed=9 + i)) for i in range(2)]
    by_size = load_script("benchmarks/ensemble.py").score_sizes(tiny_model, pairs, [4, 1, 2], warmup=False)
    assert sorted(by_size) == [1, 2, 4]
    for n, report in by_size.items():
        direct = evaluate(tiny_model, pairs, progress=False, warmup=False, ensemble=n)
        assert report.ensemble == direct.ensemble == n
        for a, b in zip(report.rows, direct.rows, strict=True):
            assert a.name == b.name and a.psnr_restored == pytest.approx(b.psnr_restored, abs=1e-9)
            assert a.ssim_restored == pytest.approx(b.ssim_restored, abs=1e-9) and a.seconds > 0
    seconds = [by_size[n].rows[0].seconds for n in (1, 2, 4)]
    assert seconds == sorted(seconds)  # the time of a size counts every run it took


def test_cli_deblur_and_eval_take_an_ensemble(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    weights = save_weights(random_idc(), tmp_path / "w")
    rng = np.random.default_rng(0)
    for sub in ("blur", "sharp"):
        (tmp_path / "set" / sub).mkdir(parents=True)
        Image.fromarray(rng.integers(0, 256, (24, 30, 3), dtype=np.uint8)).save(tmp_path / "set" / sub / "0.png")
    src = tmp_path / "set" / "blur" / "0.png"
    base = ["deblur", str(src), "--weights", str(weights), "--device", "cpu", "--backend", "torch", "--precision"]
    assert main([*base, "fp32", "-o", str(tmp_path / "x4.png"), "--ensemble", "4", "--no-progress"]) == 0
    expected = deblur(read_image(src).rgb, str(weights), device="cpu", precision="fp32", ensemble=4)
    written = read_image(tmp_path / "x4.png").rgb
    assert torch.equal(written, (expected * 255).round() / 255)
    assert main([*base, "fp32", "-o", str(tmp_path / "x1.png"), "--no-progress"]) == 0
    assert not torch.equal(read_image(tmp_path / "x1.png").rgb, written)
    with pytest.raises(SystemExit):
        build_parser().parse_args([*base, "fp32", "-o", str(tmp_path / "x3.png"), "--ensemble", "3"])
    assert "invalid choice: 3" in capsys.readouterr().err
    capsys.readouterr()
    data = ["eval", "--data", str(tmp_path / "set"), "--weights", str(weights), "--no-progress"]
    assert main([*data, "--ensemble", "2", "--json", str(tmp_path / "r.json")]) == 0
    assert "self-ensemble of 2 flipped/transposed copies" in capsys.readouterr().out
    result = json.loads((tmp_path / "r.json").read_text())
    sharp = read_image(src.parents[1] / "sharp" / "0.png").rgb
    direct = evaluate(load_model(weights), [("set/0.png", read_image(src).rgb, sharp)], progress=False, ensemble=2)
    assert result["ensemble"] == 2
    assert result["per_image"][0]["psnr_restored"] == pytest.approx(direct.rows[0].psnr_restored, abs=1e-9)
