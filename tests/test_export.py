from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

pytest.importorskip("onnxruntime")
pytest.importorskip("onnxscript")

from idc.cli import main
from idc.export import OnnxDeblurrer, export_onnx
from idc.infer import deblur_tensor
from idc.models import IDC, get_preset
from idc.weights import save_weights
from tests.conftest import rand_image


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> tuple[IDC, Path]:
    torch.manual_seed(0)
    model = IDC(get_preset("tiny")).eval()
    path = export_onnx(model, tmp_path_factory.mktemp("onnx") / "tiny.onnx")
    return model, path


@pytest.mark.parametrize("hw", [(37, 45), (1, 1), (64, 48), (101, 203)])
def test_onnx_matches_eager_at_any_size(exported: tuple[IDC, Path], hw: tuple[int, int]) -> None:
    model, path = exported
    runner = OnnxDeblurrer(path)
    x = rand_image(2, 3, *hw)
    assert float((runner(x) - deblur_tensor(model, x)).abs().max()) <= 1e-4
    assert runner(x[0]).shape == (3, *hw)


def test_export_and_deblur_commands(
    exported: tuple[IDC, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    model, path = exported
    weights = save_weights(model, tmp_path / "w")
    target = tmp_path / "m.onnx"
    target.write_bytes(b"keep")
    assert main(["export", "--onnx", str(target), "--weights", str(weights)]) == 2
    assert "already exists" in capsys.readouterr().err and target.read_bytes() == b"keep"
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (33, 47, 3), dtype=np.uint8)).save(tmp_path / "a.png")
    out = tmp_path / "o.png"
    assert main(["deblur", str(tmp_path / "a.png"), "-o", str(out), "--backend", "onnx", "--weights", str(path)]) == 0
    torch_out = tmp_path / "t.png"
    assert main(["deblur", str(tmp_path / "a.png"), "-o", str(torch_out), "--weights", str(weights)]) == 0
    a, b = np.asarray(Image.open(out), np.int16), np.asarray(Image.open(torch_out), np.int16)
    assert np.abs(a - b).max() <= 1
    assert main(["deblur", str(tmp_path / "a.png"), "-o", str(tmp_path / "x.png"), "--backend", "onnx"]) == 2
    assert "needs --weights MODEL.onnx" in capsys.readouterr().err
