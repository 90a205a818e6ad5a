from __future__ import annotations

from pathlib import Path

import pytest

from idc.configs import apply_overrides, from_dict, load_yaml
from idc.data.degrade import DegradationConfig


def test_overrides_parse_yaml_values_and_nest() -> None:
    data = {"a": {"b": 1}, "c": "x"}
    out = apply_overrides(data, ["a.b=2.5", "a.d=[1, 2]", "e=true", "c=hello world"])
    assert out == {"a": {"b": 2.5, "d": [1, 2]}, "c": "hello world", "e": True}
    assert data == {"a": {"b": 1}, "c": "x"}  # the input is not modified
    with pytest.raises(ValueError, match="key=value"):
        apply_overrides(data, ["nope"])
    with pytest.raises(ValueError, match="not a section"):
        apply_overrides(data, ["c.d=1"])


def test_overrides_index_lists() -> None:
    data = {"data": {"sources": [{"kind": "sharp"}, {"kind": "frames", "frame_counts": [7, 9]}]}, "m": [[1, 2], [3]]}
    out = apply_overrides(data, ["data.sources[1].frame_counts=[7, 31]", "data.sources[-2].weight=0.5", "m[1][0]=4"])
    assert out["data"]["sources"] == [{"kind": "sharp", "weight": 0.5}, {"kind": "frames", "frame_counts": [7, 31]}]
    assert out["m"] == [[1, 2], [4]]
    assert apply_overrides(data, ["data.sources[0]={kind: paired}"])["data"]["sources"][0] == {"kind": "paired"}
    with pytest.raises(ValueError, match=r"data\.sources has 2 items, no \[2\]"):
        apply_overrides(data, ["data.sources[2].weight=1"])
    with pytest.raises(ValueError, match=r"data is not a list"):
        apply_overrides(data, ["data[0]=1"])
    with pytest.raises(ValueError, match=r"data\.sources\[0\]\.kind is not a section"):
        apply_overrides(data, ["data.sources[0].kind.x=1"])
    with pytest.raises(ValueError, match="is not a key or key"):
        apply_overrides(data, ["data.sources[x].kind=1"])


def test_from_dict_refuses_unknown_keys_and_makes_tuples(tmp_path: Path) -> None:
    config = from_dict(DegradationConfig, {"noise_sigma": [0.0, 0.01], "poisson_peak": [10, 20]})
    assert config.noise_sigma == (0.0, 0.01) and config.poisson_peak == (10, 20)
    with pytest.raises(ValueError, match=r"cfg: unknown keys \['sigma'\]"):
        from_dict(DegradationConfig, {"sigma": 1}, "cfg: ")
    (tmp_path / "bad.yaml").write_text("a: [1, 2\n")
    with pytest.raises(ValueError, match=r"bad\.yaml: not valid YAML"):
        load_yaml(tmp_path / "bad.yaml")
    (tmp_path / "list.yaml").write_text("- 1\n")
    with pytest.raises(ValueError, match="mapping"):
        load_yaml(tmp_path / "list.yaml")


def test_number_fields_take_exponent_strings_and_refuse_the_wrong_kind() -> None:
    from idc.train.config import load_train_config

    tiny = Path(__file__).resolve().parents[1] / "configs" / "tiny.yaml"
    source = "data.sources=[{kind: sharp, paths: [x]}]"
    config = load_train_config(tiny, [source, "optim.lr=1e-3", "optim.min_lr=1"])
    assert config.optim.lr == 1e-3 and isinstance(config.optim.lr, float) and isinstance(config.optim.min_lr, float)
    for bad, message in (
        ("steps=abc", "steps: expected an integer, got 'abc'"),
        ("batch=2.5", "batch: expected an integer, got 2.5"),
        ("optim.lr=fast", "lr: expected a number, got 'fast'"),
    ):
        with pytest.raises(ValueError, match=message):
            load_train_config(tiny, [source, bad])


def test_training_devices_are_checked_before_anything_runs() -> None:
    from idc.train.config import load_train_config

    tiny = Path(__file__).resolve().parents[1] / "configs" / "tiny.yaml"
    source = "data.sources=[{kind: sharp, paths: [x]}]"
    for device in ("auto", "cpu", "cuda"):
        assert load_train_config(tiny, [source, f"device={device}"]).device == device
    for device in ("mps", "gpu", "cuda:1"):  # one process trains on its local rank's GPU: torchrun picks it
        with pytest.raises(ValueError, match=f"device must be one of .*: got '{device}'"):
            load_train_config(tiny, [source, f"device={device}"])
