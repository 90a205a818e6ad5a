from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from idc.data.datasets import (
    FrameAveragingDataset,
    MixtureDataset,
    PairedImageDataset,
    PairError,
    SyntheticBlurDataset,
    find_pairs,
    flat_pairs,
    gopro_pairs,
    image_files,
    list_file_pairs,
)
from idc.data.degrade import DegradationConfig


def _save(path: Path, a: np.ndarray) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(a).save(path)
    return path


def _pair(folder_b: Path, folder_s: Path, name: str, seed: int, h: int = 40, w: int = 52) -> None:
    sharp = np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)
    _save(folder_s / name, sharp)
    _save(folder_b / name, 255 - sharp)  # blurred = 1 - sharp: alignment is checkable after augmentation


@pytest.fixture
def gopro_root(tmp_path: Path) -> Path:
    root = tmp_path / "GOPRO_Large"
    for seq, names in (("GOPR0001_11_00", ["000001.png", "000002.png"]), ("GOPR0002_11_00", ["000010.png"])):
        for i, n in enumerate(names):
            base = root / "train" / seq
            _pair(base / "blur", base / "sharp", n, seed=i)
            _pair(base / "blur_gamma", base / "sharp_unused", n, seed=i)
    return root


def test_gopro_layout_and_blur_gamma(gopro_root: Path) -> None:
    pairs = gopro_pairs(gopro_root, "train")
    assert (pairs[0][0].parent.name, pairs[0][1].parent.name, pairs[0][0].name) == ("blur", "sharp", "000001.png")
    assert len(pairs) == 3
    assert all(b.parent.name == "blur_gamma" for b, _ in gopro_pairs(gopro_root, "train", "blur_gamma"))
    assert find_pairs(gopro_root, split="train") == pairs
    with pytest.raises(PairError, match="no such split"):
        gopro_pairs(gopro_root, "test")


def test_paired_crops_flips_and_rotations_stay_aligned(gopro_root: Path) -> None:
    ds = PairedImageDataset(gopro_pairs(gopro_root, "train"), crop=24, seed=3)
    shapes = set()
    for i in range(len(ds)):
        for epoch in range(4):
            ds.set_epoch(epoch)
            s = ds[i]
            assert s["blurred"].shape == s["sharp"].shape == (3, 24, 24)
            assert torch.allclose(s["blurred"] + s["sharp"], torch.ones(3, 24, 24), atol=1e-6)
            assert s["blurred_path"].endswith(".png") and "sharp" in s["sharp_path"]
            shapes.add(tuple(s["sharp"][0, 0, :3].tolist()))
    assert len(shapes) > 3  # epochs draw different crops
    ds.set_epoch(1)
    a, b = ds[0], ds[0]
    assert torch.equal(a["blurred"], b["blurred"])  # same (seed, epoch, index): same sample


def test_small_images_are_padded_to_the_crop(tmp_path: Path) -> None:
    _pair(tmp_path / "blur", tmp_path / "sharp", "a.png", 0, h=10, w=12)
    s = PairedImageDataset(flat_pairs(tmp_path), crop=16)[0]
    assert s["blurred"].shape == (3, 16, 16)
    whole = PairedImageDataset(flat_pairs(tmp_path), crop=None, flip=False, rotate=False)[0]
    assert whole["sharp"].shape == (3, 10, 12)


def test_broken_pairs_name_both_files(tmp_path: Path) -> None:
    _pair(tmp_path / "blur", tmp_path / "sharp", "a.png", 0)
    _save(tmp_path / "blur" / "orphan.png", np.zeros((8, 8, 3), np.uint8))
    with pytest.raises(PairError, match=r"orphan\.png has no sharp counterpart .*sharp/orphan\.png"):
        flat_pairs(tmp_path)
    (tmp_path / "blur" / "orphan.png").unlink()
    _save(tmp_path / "sharp" / "a.png", np.zeros((8, 8, 3), np.uint8))
    with pytest.raises(PairError, match=r"blur/a\.png \(52x40\) / .*sharp/a\.png \(8x8\): sizes differ"):
        PairedImageDataset(flat_pairs(tmp_path))[0]
    (tmp_path / "sharp" / "a.png").write_bytes(b"not a png")
    with pytest.raises(PairError, match=r"pair .*blur/a\.png / .*sharp/a\.png: .*not a recognised image"):
        PairedImageDataset(flat_pairs(tmp_path))[0]


def test_list_files_realblur_and_hide(tmp_path: Path) -> None:
    _pair(tmp_path / "scene1" / "blur", tmp_path / "scene1" / "gt", "1.png", 0)
    (tmp_path / "RealBlur_J_test_list.txt").write_text("# comment\nscene1/gt/1.png scene1/blur/1.png\n\n")
    ((b, s),) = list_file_pairs(tmp_path / "RealBlur_J_test_list.txt")
    assert b.parent.name == "blur" and s.parent.name == "gt"
    assert find_pairs(tmp_path / "RealBlur_J_test_list.txt") == [(b, s)]
    _pair(tmp_path / "test", tmp_path / "GT", "x.png", 1)
    (tmp_path / "test.txt").write_text("x.png\n")
    ((hb, hs),) = list_file_pairs(tmp_path / "test.txt", blur_dir="test", sharp_dir="GT")
    assert hb == tmp_path / "test" / "x.png" and hs == tmp_path / "GT" / "x.png"
    (tmp_path / "bad.txt").write_text("scene1/gt/1.png scene1/blur/missing.png\n")
    with pytest.raises(PairError, match=r"bad\.txt:1: .*missing\.png does not exist"):
        list_file_pairs(tmp_path / "bad.txt")


def test_synthetic_blur_from_a_sharp_folder(tmp_path: Path) -> None:
    for i in range(3):
        _save(tmp_path / "photos" / f"{i}.jpg", np.random.default_rng(i).integers(0, 256, (60, 70, 3), dtype=np.uint8))
    config = DegradationConfig(kernel_size=9)
    ds = SyntheticBlurDataset(image_files(tmp_path / "photos"), config, crop=32, seed=5)
    s = ds[1]
    assert s["blurred"].shape == s["sharp"].shape == (3, 32, 32)
    assert s["degradation"]["kernels"][0]["type"] == "camera_shake"
    assert not torch.equal(s["blurred"], s["sharp"])
    assert torch.equal(ds[1]["blurred"], s["blurred"])
    # The sharp crop is exactly a window of the photo (up to flips/rotations): no border effects from blurring.
    whole = SyntheticBlurDataset(image_files(tmp_path / "photos"), config, crop=None, flip=False, rotate=False)[0]
    assert whole["sharp"].shape == (3, 60, 70)


def test_frame_averaging_dataset(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    for i in range(9):
        _save(tmp_path / "seq" / f"{i:04d}.png", rng.integers(0, 256, (20, 24, 3), dtype=np.uint8))
    ds = FrameAveragingDataset([tmp_path / "seq"], frame_counts=(3, 5), crop=16, seed=1, length=6)
    assert len(ds) == 6
    for i in range(6):
        _, start, n, stride = ds.window(i)
        assert n in (3, 5) and 0 <= start <= 9 - n and stride == 1
        s = ds[i]
        assert s["blurred"].shape == (3, 16, 16) and f"average of {n})" in s["blurred_path"]
        assert s["sharp_path"].endswith(f"{start + n // 2:04d}.png")
    with pytest.raises(ValueError, match="odd"):
        FrameAveragingDataset([tmp_path / "seq"], frame_counts=(4,))


def test_frame_strides_average_every_kth_frame(tmp_path: Path) -> None:
    from idc.data.frames import average_frames

    rng = np.random.default_rng(0)
    frames = [rng.integers(0, 256, (20, 24, 3), dtype=np.uint8) for _ in range(9)]
    for i, a in enumerate(frames):
        _save(tmp_path / "seq" / f"{i:04d}.png", a)
    ds = FrameAveragingDataset(
        [tmp_path / "seq"], frame_counts=(3, 5), frame_strides=(1, 2), crop=None, flip=False, rotate=False, length=40
    )
    strides = set()
    for i in range(40):
        _, start, n, stride = ds.window(i)
        strides.add(stride)
        assert start + (n - 1) * stride <= 8
        s = ds[i]
        chosen = torch.stack([torch.from_numpy(frames[k]).permute(2, 0, 1) for k in range(start, 9, stride)[:n]])
        blurred, sharp = average_frames(chosen)
        assert torch.equal(s["blurred"], blurred) and torch.equal(s["sharp"], sharp)
        assert s["sharp_path"].endswith(f"{start + (n // 2) * stride:04d}.png")
        assert (", 2 apart)" in s["blurred_path"]) == (stride == 2)
    assert strides == {1, 2}
    with pytest.raises(ValueError, match=r"fewer than 13 frames \(5 at stride 3\)"):
        FrameAveragingDataset([tmp_path / "seq"], frame_counts=(5,), frame_strides=(3,))
    with pytest.raises(ValueError, match="at least 1"):
        FrameAveragingDataset([tmp_path / "seq"], frame_counts=(3,), frame_strides=(0,))
    with pytest.raises(ValueError, match="fewer than 13 frames"):
        FrameAveragingDataset([tmp_path / "seq"])


def test_mixture_draws_by_weight_reproducibly(gopro_root: Path, tmp_path: Path) -> None:
    paired = PairedImageDataset(gopro_pairs(gopro_root, "train"), crop=16)
    _save(tmp_path / "p" / "a.png", np.zeros((30, 30, 3), np.uint8))
    synthetic = SyntheticBlurDataset(image_files(tmp_path / "p"), DegradationConfig(kernel_size=5), crop=16)
    mix = MixtureDataset([paired, synthetic], [3.0, 1.0], length=200, seed=0)
    sources = [mix[i]["source"] for i in range(200)]
    assert 0.65 < sources.count(0) / 200 < 0.85
    assert [mix[i]["source"] for i in range(20)] == sources[:20]
    only = MixtureDataset([paired, synthetic], [0.0, 1.0], length=10)
    assert {only[i]["source"] for i in range(10)} == {1}


@pytest.mark.parametrize("cache_mib", [0, 0.05, 100])
def test_frame_averaging_crops_before_averaging_with_identical_samples(tmp_path: Path, cache_mib: float) -> None:
    # Cutting each frame to the crop before averaging (and caching decoded frames, even a cache too small for all of
    # them) must give exactly the samples of averaging whole frames and cropping after.
    from idc.data.datasets import FrameAveragingDataset, paired_augment, random_crop
    from idc.data.frames import average_window

    rng = np.random.default_rng(0)
    for i in range(9):
        Image.fromarray(rng.integers(0, 256, (40, 52, 3), dtype=np.uint8)).save(tmp_path / f"{i:03d}.png")
    ds = FrameAveragingDataset(
        [tmp_path], frame_counts=(3, 5), frame_strides=(1, 2), crop=24, seed=4, length=12, cache_mib=cache_mib
    )
    for i in range(12):
        sample = ds[i]
        seq, start, n, stride = ds.window(i)
        g = ds.generator(i + 2**40)
        blurred, sharp = random_crop(average_window(ds.sequences[seq], start, n, stride=stride), 24, g)
        blurred, sharp = paired_augment([blurred, sharp], g, True, True)
        assert torch.equal(sample["blurred"], blurred) and torch.equal(sample["sharp"], sharp)
    assert ds._cached <= ds.cache_bytes
    # 9 frames of 40x52 take 55 KiB as uint8: decoded up front only when they all fit.
    assert (ds.decoded is not None) == (cache_mib == 100)


def test_frames_decoded_up_front_are_shared_with_loader_workers(tmp_path: Path) -> None:
    from torch.utils.data import DataLoader

    from idc.data.datasets import FrameAveragingDataset

    rng = np.random.default_rng(0)
    for i in range(7):
        Image.fromarray(rng.integers(0, 256, (30, 34, 3), dtype=np.uint8)).save(tmp_path / f"{i:03d}.png")
    ds = FrameAveragingDataset([tmp_path], frame_counts=(3,), crop=16, seed=1, length=6, cache_mib=1)
    assert ds.decoded is not None and ds.decoded[0].shape == (7, 3, 30, 34)
    for p in tmp_path.glob("*.png"):
        p.unlink()  # workers can only use what was decoded
    loader = DataLoader(ds, batch_size=3, num_workers=2)
    got = torch.cat([b["blurred"] for b in loader])
    assert torch.equal(got, torch.stack([ds[i]["blurred"] for i in range(6)]))


def test_decoding_frames_up_front_names_a_frame_of_another_size(tmp_path: Path) -> None:
    from idc.data.datasets import FrameAveragingDataset

    for i in range(5):
        size = (20, 24) if i != 3 else (20, 26)
        Image.fromarray(np.zeros((*size, 3), dtype=np.uint8)).save(tmp_path / f"{i:03d}.png")
    with pytest.raises(ValueError, match=r"003\.png: size \(20, 26\)"):
        FrameAveragingDataset([tmp_path], frame_counts=(3,), crop=16, cache_mib=1)
    (tmp_path / "003.png").write_bytes(b"not an image")
    with pytest.raises(ValueError, match=r"003\.png"):
        FrameAveragingDataset([tmp_path], frame_counts=(3,), crop=16, cache_mib=1)
