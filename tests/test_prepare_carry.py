"""scripts/prepare_gpu_carry.py: what it carries to the device, within its budget."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from tests.conftest import load_script


def _main():  # type: ignore[no-untyped-def]
    return load_script("scripts/prepare_gpu_carry.py").main


def _data(root: Path) -> Path:
    rng = np.random.default_rng(0)
    for i in range(6):
        folder = root / "bsds500" / ("train" if i % 2 else "test")
        folder.mkdir(parents=True, exist_ok=True)
        Image.fromarray(rng.integers(0, 256, (40, 60, 3), dtype=np.uint8)).save(folder / f"{i}.jpg", quality=95)
    frames = root / "gopro" / "frames" / "GOPR0477_11_00"
    frames.mkdir(parents=True)
    smooth = np.linspace(0, 255, 96 * 128 * 3).reshape(96, 128, 3)
    for i in range(5):
        noisy = (smooth + rng.normal(0, 20, smooth.shape)).clip(0, 255).astype(np.uint8)
        Image.fromarray(noisy).save(frames / f"{i:06d}.jpg", quality=95, subsampling=0)
    return root


def test_photos_spread_and_frames_reencoded_within_the_budget(tmp_path: Path) -> None:
    data, out = _data(tmp_path / "data"), tmp_path / "carry"
    main = _main()
    stale = out / "wheels" / "old-0.1-py3-none-any.whl"  # an earlier call's wheels: no longer wanted
    stale.parent.mkdir(parents=True)
    stale.write_bytes(b"x" * 1000)
    args = ["--data", str(data), "--out", str(out), "--budget-mib", "1"]
    assert main([*args, "--photos", "3", "--frame-quality", "60"]) == 0
    photos = sorted(str(p.relative_to(out / "data" / "bsds500")) for p in (out / "data" / "bsds500").glob("*/*.jpg"))
    # Every other one of the 6 sorted paths (test/0, test/2, test/4, train/1, train/3, train/5): both folders.
    assert photos == ["test/0.jpg", "test/4.jpg", "train/3.jpg"]
    carried = sorted((out / "data" / "gopro" / "frames" / "GOPR0477_11_00").glob("*.jpg"))
    originals = sorted((data / "gopro" / "frames" / "GOPR0477_11_00").glob("*.jpg"))
    assert len(carried) == 5
    assert all(c.stat().st_size < o.stat().st_size for c, o in zip(carried, originals, strict=True))
    assert Image.open(carried[0]).size == (128, 96)
    assert not (out / "wheels").exists()
    # A budget too small for every frame carries the first ones, consecutive, and stops.
    sizes = sum(p.stat().st_size for p in (out / "data" / "bsds500").glob("*/*.jpg")) + carried[0].stat().st_size
    assert main([*args[:-1], str((sizes + 100) / 2**20), "--photos", "3", "--frame-quality", "60"]) == 0
    assert [p.name for p in sorted((out / "data" / "gopro" / "frames" / "GOPR0477_11_00").glob("*"))] == ["000000.jpg"]


def test_bad_options_are_refused(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    import pytest

    main = _main()
    for bad in (["--photos", "0"], ["--frame-quality", "101"]):
        with pytest.raises(SystemExit) as stop:
            main(["--data", str(tmp_path), *bad])
        assert stop.value.code == 2
    assert "--frame-quality must be between 1 and 100" in capsys.readouterr().err
