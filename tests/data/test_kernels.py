from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from idc.data.degrade import blur
from idc.data.kernels import (
    camera_shake_kernel,
    centroid,
    disk_kernel,
    gaussian_kernel,
    linear_motion_kernel,
    load_kernel,
    normalize_kernel,
    shake_trajectory,
)


def _assert_valid(k: torch.Tensor) -> None:
    assert k.ndim == 2 and k.shape[0] == k.shape[1] and k.shape[0] % 2 == 1
    assert torch.all(k >= 0) and float(k.sum()) == pytest.approx(1.0, abs=1e-5)
    c = (k.shape[0] - 1) / 2
    cy, cx = centroid(k)
    assert cy == pytest.approx(c, abs=1e-4) and cx == pytest.approx(c, abs=1e-4)


@pytest.mark.parametrize(
    "make",
    [
        lambda: camera_shake_kernel(torch.Generator().manual_seed(0), 31),
        lambda: camera_shake_kernel(torch.Generator().manual_seed(1), 41, extent=(0.9, 1.0)),
        lambda: linear_motion_kernel(12.0, 30.0),
        lambda: linear_motion_kernel(7.5, 90.0, size=15),
        lambda: gaussian_kernel(1.7),
        lambda: disk_kernel(4.3),
    ],
)
def test_every_kernel_type_is_normalised_and_centred(make) -> None:  # type: ignore[no-untyped-def]
    _assert_valid(make())


def test_middle_centred_shake_puts_mid_exposure_on_the_centre_pixel() -> None:
    # The same draws as camera_shake_kernel: the trajectory, then the extent.
    size, extent, offsets = 31, (0.15, 1.0), []
    for seed in range(40):
        k = camera_shake_kernel(torch.Generator().manual_seed(seed), size, extent, centre="middle")
        assert torch.all(k >= 0) and float(k.sum()) == pytest.approx(1.0, abs=1e-5) and k.shape == (size, size)
        g = torch.Generator().manual_seed(seed)
        points = shake_trajectory(g)
        mid = (points[127] + points[128]) / 2
        radius = (points - mid).norm(dim=1).max()
        scale = (extent[0] + (extent[1] - extent[0]) * float(torch.rand((), generator=g))) * (size // 2 - 1) / radius
        expected = (points.mean(dim=0) - mid) * scale + (size - 1) / 2  # (x, y): the blur's centroid
        cy, cx = centroid(k)
        assert (cx, cy) == pytest.approx((float(expected[0]), float(expected[1])), abs=1e-3)
        offsets.append(float(((points.mean(dim=0) - mid) * scale).norm()))
    # The sharp image sits away from the blur's centroid, by about a pixel and a half on average at this size.
    assert 0.8 < sum(offsets) / len(offsets) < 2.5 and max(offsets) > 3.0


def test_middle_centring_needs_a_known_name() -> None:
    with pytest.raises(ValueError, match="centroid, middle"):
        camera_shake_kernel(torch.Generator().manual_seed(0), 31, centre="center")


def test_linear_motion_has_its_length_and_direction() -> None:
    k = linear_motion_kernel(10.0, 0.0)
    rows = torch.nonzero(k.sum(1) > 1e-6).flatten()
    cols = torch.nonzero(k.sum(0) > 1e-6).flatten()
    assert len(rows) == 1  # horizontal: one row
    assert 10 <= len(cols) <= 12
    vertical = linear_motion_kernel(10.0, 90.0)
    assert len(torch.nonzero(vertical.sum(0) > 1e-6)) == 1


def test_gaussian_and_disk_shapes() -> None:
    g = gaussian_kernel(2.0)
    var = float((g.sum(0) * (torch.arange(g.shape[0]) - (g.shape[0] - 1) / 2) ** 2).sum())
    assert var == pytest.approx(4.0, rel=0.02)
    d = disk_kernel(5.0)
    assert float(d[d.shape[0] // 2, d.shape[1] // 2]) == pytest.approx(float(d.max()))
    assert float(d[0, 0]) == 0.0


def test_normalize_moves_an_off_centre_kernel_to_the_centre() -> None:
    raw = np.zeros((9, 12))
    raw[1, 2], raw[2, 3], raw[2, 5] = 1.0, 2.0, 0.5
    _assert_valid(normalize_kernel(raw))
    with pytest.raises(ValueError, match="negative"):
        normalize_kernel(-np.ones((3, 3)))
    with pytest.raises(ValueError, match="sums to zero"):
        normalize_kernel(np.zeros((3, 3)))
    with pytest.raises(ValueError, match="2-D"):
        normalize_kernel(np.ones((3, 3, 3)))


def _measured() -> np.ndarray:
    k = np.zeros((13, 15))
    k[3:6, 4:11] = np.arange(21).reshape(3, 7)
    return k


def test_kernels_load_from_png_npy_and_mat(tmp_path: Path) -> None:
    import h5py
    from scipy.io import savemat

    raw = _measured()
    expected = normalize_kernel(raw)
    np.save(tmp_path / "k.npy", raw)
    savemat(tmp_path / "k5.mat", {"kernel": raw})
    # MATLAB v7.3: a 512-byte text header, then HDF5 with the array stored column-major (transposed).
    with h5py.File(tmp_path / "k73.mat", "w", userblock_size=512) as f:
        f["kernel"] = raw.T
    with open(tmp_path / "k73.mat", "r+b") as f:
        f.write(b"MATLAB 7.3 MAT-file, created by a test")
    Image.fromarray((raw / raw.max() * 255).round().astype(np.uint8)).save(tmp_path / "k.png")
    for name in ("k.npy", "k5.mat", "k73.mat"):
        k = load_kernel(tmp_path / name)
        assert torch.allclose(k, expected, atol=1e-6), name
    png = load_kernel(tmp_path / "k.png")
    assert png.shape == expected.shape and torch.allclose(png, expected, atol=2e-3)


def test_bad_kernel_files_name_the_file(tmp_path: Path) -> None:
    from scipy.io import savemat

    savemat(tmp_path / "two.mat", {"a": np.ones((3, 3)), "b": np.ones((5, 5))})
    with pytest.raises(ValueError, match=r"two\.mat.*expected one 2-D variable"):
        load_kernel(tmp_path / "two.mat")
    assert load_kernel(tmp_path / "two.mat", variable="b").shape == (5, 5)
    (tmp_path / "bad.npy").write_bytes(b"nope")
    with pytest.raises(ValueError, match=r"bad\.npy"):
        load_kernel(tmp_path / "bad.npy")
    with pytest.raises(ValueError, match="unsupported kernel file type"):
        load_kernel(tmp_path / "k.txt")
    with pytest.raises(ValueError, match="no such kernel file"):
        load_kernel(tmp_path / "missing.npy")


def test_blurring_with_a_loaded_kernel_keeps_a_dot_centred(tmp_path: Path) -> None:
    np.save(tmp_path / "k.npy", _measured())
    k = load_kernel(tmp_path / "k.npy")
    img = torch.zeros(1, 1, 41, 41)
    img[..., 20, 20] = 1.0
    cy, cx = centroid(blur(img, k)[0, 0])
    assert cy == pytest.approx(20, abs=1e-4) and cx == pytest.approx(20, abs=1e-4)
