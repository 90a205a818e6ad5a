from __future__ import annotations

import json
import pickle
from pathlib import Path

import pytest
import torch

from idc.models import IDC, IDCConfig
from idc.weights import CONFIG_FILE, WEIGHTS_FILE, WeightsError, load_model, read_weights_config, save_weights
from tests.conftest import rand_image, random_idc


def test_save_then_load_gives_identical_outputs(tiny_model: IDC, tmp_path: Path) -> None:
    save_weights(tiny_model, tmp_path / "w", metadata={"trained_on": "nothing", "metrics": {"psnr": 1.0}})
    loaded = load_model(tmp_path / "w")
    x = rand_image(1, 3, 23, 29)
    with torch.no_grad():
        for a, b in zip(tiny_model(x), loaded(x), strict=True):
            assert torch.equal(a, b)
    config = read_weights_config(tmp_path / "w")
    assert config["architecture"] == "idc" and config["format_version"] == 1
    assert config["trained_on"] == "nothing" and config["metrics"] == {"psnr": 1.0}
    assert IDCConfig.from_dict(config["model_config"]) == tiny_model.config
    # A path to the .safetensors file works too.
    assert isinstance(load_model(tmp_path / "w" / WEIGHTS_FILE), IDC)


def test_fp16_weights_load_as_fp32(tiny_model: IDC, tmp_path: Path) -> None:
    save_weights(tiny_model, tmp_path, dtype=torch.float16)
    loaded = load_model(tmp_path)
    assert all(p.dtype == torch.float32 for p in loaded.parameters())
    ref = tiny_model.scales[0].fusion.conv2.weight
    assert torch.allclose(loaded.scales[0].fusion.conv2.weight, ref, atol=1e-3)
    assert read_weights_config(tmp_path)["dtype"] == "float16"


def _edit_config(folder: Path, **changes: object) -> None:
    cfg = json.loads((folder / CONFIG_FILE).read_text())
    cfg.update(changes)
    (folder / CONFIG_FILE).write_text(json.dumps(cfg))


def test_config_validation_errors_name_the_file(tiny_model: IDC, tmp_path: Path) -> None:
    save_weights(tiny_model, tmp_path)
    _edit_config(tmp_path, architecture="resnet")
    with pytest.raises(WeightsError, match=r"config\.json: unknown architecture 'resnet'"):
        load_model(tmp_path)
    _edit_config(tmp_path, architecture="idc", model_config={**tiny_model.config.to_dict(), "bogus": 1})
    with pytest.raises(WeightsError, match="unknown IDCConfig keys"):
        load_model(tmp_path)
    _edit_config(tmp_path, model_config={**tiny_model.config.to_dict(), "texture_width": 16})
    with pytest.raises(WeightsError, match="wrong shapes"):
        load_model(tmp_path)
    _edit_config(tmp_path, model_config={**tiny_model.config.to_dict(), "shared_weights": False})
    with pytest.raises(WeightsError, match="missing tensors"):
        load_model(tmp_path)
    (tmp_path / CONFIG_FILE).write_text("{not json")
    with pytest.raises(WeightsError, match="not valid JSON"):
        load_model(tmp_path)
    (tmp_path / CONFIG_FILE).unlink()
    with pytest.raises(WeightsError, match=r"config\.json not found"):
        load_model(tmp_path)


class _Payload:
    """Unpickling this would create a file: proof that code ran."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[object, tuple[str]]:
        return (exec, (f"open({str(self.marker)!r}, 'w').write('pwned')",))


def test_a_malicious_pickle_never_runs(tiny_model: IDC, tmp_path: Path) -> None:
    marker = tmp_path / "payload_ran"
    evil = pickle.dumps(_Payload(marker))
    # As a .pt checkpoint: refused by name.
    (tmp_path / "model.pt").write_bytes(evil)
    with pytest.raises(WeightsError, match="pickle-based checkpoints are refused"):
        load_model(tmp_path / "model.pt")
    # Disguised as model.safetensors beside a valid config: safetensors cannot parse it, nothing is unpickled.
    save_weights(tiny_model, tmp_path / "w")
    (tmp_path / "w" / WEIGHTS_FILE).write_bytes(evil)
    with pytest.raises(WeightsError, match="not a readable safetensors file"):
        load_model(tmp_path / "w")
    assert not marker.exists()


def test_bundled_default_weights_load_as_the_paper_network() -> None:
    model = load_model()
    assert model.config.encoder_widths == (32, 64, 128) and model.config.texture
    config = read_weights_config()
    assert "trained_on" in config and "training" in config
    out = model(rand_image(1, 3, 20, 20))[-1]
    assert out.shape == (1, 3, 20, 20) and torch.isfinite(out).all()


@pytest.mark.slow
def test_bundle_script_records_lineage_and_extra_fields(tmp_path: Path) -> None:
    import subprocess
    import sys

    from idc.weights import training_lineage

    repo = Path(__file__).resolve().parents[1]
    first = save_weights(random_idc(), tmp_path / "first", metadata={"training": {"steps": 10, "crops_seen": 40}})
    run = save_weights(random_idc(), tmp_path / "run", metadata={"training": {"steps": 5, "crops_seen": 20}})
    out = tmp_path / "bundled"
    cmd = [sys.executable, "scripts/bundle_default.py", "--weights", str(run), "--out", str(out)]
    cmd += ["--started-from", str(first), "--training", "wall_minutes=12.5", "hardware=2-core CPU"]
    unsaid = subprocess.run(cmd, cwd=repo, capture_output=True, text=True, timeout=120)
    assert unsaid.returncode == 2 and "does not say what it was trained on" in unsaid.stderr and not out.exists()
    result = subprocess.run([*cmd, "--trained-on", "noise"], cwd=repo, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert read_weights_config(out)["trained_on"] == "noise"
    record = read_weights_config(out)["training"]
    assert record["wall_minutes"] == 12.5 and record["hardware"] == "2-core CPU" and record["init"] == str(first)
    assert record["total_steps"] == 15 and record["total_crops"] == 60
    assert record["previous"] == [{"steps": 10, "crops_seen": 40}]
    assert [r["steps"] for r in training_lineage(out)] == [10, 5]
    assert json.loads((out / "config.json").read_text())["dtype"] == "float16"


@pytest.mark.slow
def test_interpolated_weights_lie_between_and_keep_the_records(tmp_path: Path) -> None:
    import subprocess
    import sys

    from idc.weights import interpolate_weights

    torch.manual_seed(1)
    start = save_weights(random_idc(), tmp_path / "start", metadata={"training": {"steps": 10, "crops_seen": 40}})
    end_model = random_idc()
    end = save_weights(
        end_model, tmp_path / "end", metadata={"training": {"steps": 5, "crops_seen": 80, "previous": [{"steps": 10}]}}
    )
    a, b = load_model(start).state_dict(), end_model.state_dict()
    for alpha in (0.0, 0.25, 1.0):
        model, record = interpolate_weights(start, end, alpha)
        got = model.state_dict()
        assert all(torch.allclose(got[k], a[k] + alpha * (b[k] - a[k]), atol=1e-6) for k in a)
        assert record["steps"] == 5 and record["previous"] == [{"steps": 10}]
        assert record["interpolation"]["alpha"] == alpha and record["interpolation"]["end"] == str(end)
    with pytest.raises(ValueError, match=r"alpha must be in \[0, 1\]"):
        interpolate_weights(start, end, 1.5)
    import dataclasses

    wider = dataclasses.replace(end_model.config, fusion_width=end_model.config.fusion_width * 2)
    other = save_weights(IDC(wider), tmp_path / "other")
    with pytest.raises(WeightsError, match="different architectures"):
        interpolate_weights(start, other, 0.5)
    script = Path(__file__).resolve().parents[1] / "scripts" / "interpolate_weights.py"
    run = [sys.executable, str(script), "--start", str(start), "--end", str(end), "--alpha", "0.5"]
    subprocess.run([*run, "--out", str(tmp_path / "half")], check=True, capture_output=True)
    assert read_weights_config(tmp_path / "half")["training"]["interpolation"]["alpha"] == 0.5
    again = subprocess.run([*run, "--out", str(tmp_path / "half")], capture_output=True, text=True)
    assert again.returncode == 2 and "already exists" in again.stderr  # nothing overwritten
