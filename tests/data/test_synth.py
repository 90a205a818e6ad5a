from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from idc.cli import main
from idc.data.datasets import PairedImageDataset, gopro_pairs
from idc.data.synth import read_manifest, regenerate_pair
from idc.io import read_image
from idc.metrics import to_uint8


def _photos(folder: Path, count: int = 3, h: int = 30, w: int = 34) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(count):
        a = np.random.default_rng(i).integers(0, 256, (h, w, 3), dtype=np.uint8)
        Image.fromarray(a).save(folder / f"p{i}.jpg", quality=95)
    return folder


def _frames(folder: Path, count: int) -> Path:
    """``count`` frames of 12x14 getting brighter by 5 a frame, named by number."""
    folder.mkdir(parents=True)
    for i in range(count):
        Image.fromarray(np.full((12, 14, 3), 5 * i, np.uint8)).save(folder / f"{i:06d}.png")
    return folder


def test_synth_from_sharp_photos_is_readable_and_regenerable(tmp_path: Path) -> None:
    photos = _photos(tmp_path / "photos")
    out = tmp_path / "ds"
    overrides = ["--set", "kernel_size=9", "--set", "kernel_types={linear: 1, gaussian: 1}"]
    code = main(["synth", "--sharp", str(photos), "-o", str(out), "--seed", "7", "--copies", "2", *overrides])
    assert code == 0
    pairs = gopro_pairs(out, "train")
    assert len(pairs) == 6 and all(b.parent.parent.name == "photos" for b, _ in pairs)
    sample = PairedImageDataset(pairs, crop=16)[0]
    assert sample["blurred"].shape == (3, 16, 16)
    manifest = read_manifest(out)
    assert manifest["degradation_config"]["kernel_size"] == 9
    assert len({p["seed"] for p in manifest["pairs"]}) == 6
    for index in (0, 5):
        entry = manifest["pairs"][index]
        assert entry["degradation"]["kernels"][0]["type"] in {"linear", "gaussian"}
        blurred, sharp = regenerate_pair(out / "manifest.json", index)
        assert np.array_equal(to_uint8(blurred), to_uint8(read_image(out / entry["blur"]).rgb))
        assert np.array_equal(to_uint8(sharp), to_uint8(read_image(out / entry["sharp"]).rgb))


def test_synth_from_frames(tmp_path: Path) -> None:
    seq = _frames(tmp_path / "GOPR9999_00_00", 20)
    out = tmp_path / "avg"
    assert main(["synth", "--frames", str(seq), "-o", str(out), "--frame-counts", "3", "5", "--no-progress"]) == 0
    manifest = read_manifest(out)
    assert manifest["kind"] == "frames" and manifest["gamma"] == 2.2
    covered = [f for p in manifest["pairs"] for f in p["frames"]]
    assert len(covered) == len(set(covered)) and len(covered) > 10  # non-overlapping windows
    pairs = gopro_pairs(out, "train")
    assert len(pairs) == len(manifest["pairs"])
    first = manifest["pairs"][0]
    centre = Path(first["frames"][len(first["frames"]) // 2])
    assert Path(first["sharp"]).name == centre.with_suffix(".png").name
    blurred, _ = regenerate_pair(out, 0)
    assert np.array_equal(to_uint8(blurred), to_uint8(read_image(out / first["blur"]).rgb))


def test_synth_from_frames_with_strides(tmp_path: Path) -> None:
    seq = _frames(tmp_path / "GOPR9999_00_00", 30)
    out = tmp_path / "avg"
    args = ["synth", "--frames", str(seq), "-o", str(out), "--frame-counts", "3", "--frame-strides", "2", "3"]
    assert main([*args, "--no-progress"]) == 0
    manifest = read_manifest(out)
    assert manifest["frame_strides"] == [2, 3]
    gaps = set()
    for pair in manifest["pairs"]:
        numbers = [int(Path(f).stem) for f in pair["frames"]]
        gap = numbers[1] - numbers[0]
        assert len(numbers) == 3 and numbers[2] - numbers[1] == gap and gap in (2, 3)
        assert Path(pair["sharp"]).stem == f"{numbers[1]:06d}"  # the centre frame
        gaps.add(gap)
    assert gaps == {2, 3}
    blurred, _ = regenerate_pair(out, 0)
    assert np.array_equal(to_uint8(blurred), to_uint8(read_image(out / manifest["pairs"][0]["blur"]).rgb))
    assert main(["synth", "--frames", str(seq), "-o", str(tmp_path / "x"), "--frame-strides", "0"]) == 2


def test_synth_refuses_to_replace_a_dataset_and_bad_settings(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    photos = _photos(tmp_path / "photos", count=1)
    out = tmp_path / "ds"
    assert main(["synth", "--sharp", str(photos), "-o", str(out), "--no-progress"]) == 0
    before = (out / "manifest.json").read_text()
    assert main(["synth", "--sharp", str(photos), "-o", str(out), "--no-progress"]) == 2
    assert "already there (use --overwrite" in capsys.readouterr().err
    assert (out / "manifest.json").read_text() == before
    assert main(["synth", "--sharp", str(photos), "-o", str(out), "--overwrite", "--no-progress"]) == 0
    assert main(["synth", "--sharp", str(photos), "-o", str(tmp_path / "x"), "--set", "kernal_size=9"]) == 2
    assert "unknown keys ['kernal_size']" in capsys.readouterr().err
    cfg = tmp_path / "deg.yaml"
    cfg.write_text("kernel_types: {disk: 1}\ndisk_radius: [1, 2]\nnoise_sigma: [0.0, 0.0]\n")
    assert main(["synth", "--sharp", str(photos), "-o", str(tmp_path / "y"), "--degradation", str(cfg)]) == 0
    entry = json.loads((tmp_path / "y" / "manifest.json").read_text())["pairs"][0]
    assert entry["degradation"]["kernels"][0]["type"] == "disk" and entry["degradation"]["noise_sigma"] == 0.0
