from __future__ import annotations

import pytest
import torch

from idc.data.degrade import add_gaussian_noise, blur, camera_shake_kernel
from tests.conftest import rand_image


def _centroid(k: torch.Tensor) -> tuple[float, float]:
    yy, xx = torch.meshgrid(
        torch.arange(k.shape[0], dtype=k.dtype), torch.arange(k.shape[1], dtype=k.dtype), indexing="ij"
    )
    return float((k * yy).sum()), float((k * xx).sum())


@pytest.mark.parametrize("size", [9, 31])
def test_kernels_are_normalised_centred_and_seeded(size: int) -> None:
    for seed in range(5):
        k = camera_shake_kernel(torch.Generator().manual_seed(seed), size=size)
        assert k.shape == (size, size) and torch.all(k >= 0)
        assert float(k.sum()) == pytest.approx(1.0, abs=1e-5)
        cy, cx = _centroid(k)
        assert cy == pytest.approx((size - 1) / 2, abs=1e-3) and cx == pytest.approx((size - 1) / 2, abs=1e-3)
        assert torch.equal(k, camera_shake_kernel(torch.Generator().manual_seed(seed), size=size))
    a = camera_shake_kernel(torch.Generator().manual_seed(0), size=size)
    b = camera_shake_kernel(torch.Generator().manual_seed(1), size=size)
    assert not torch.equal(a, b)


def test_blur_keeps_a_centred_dot_centred_and_conserves_energy() -> None:
    k = camera_shake_kernel(torch.Generator().manual_seed(3), size=21)
    img = torch.zeros(1, 1, 61, 61)
    img[..., 30, 30] = 1.0
    out = blur(img, k)
    assert float(out.sum()) == pytest.approx(1.0, abs=1e-5)
    cy, cx = _centroid(out[0, 0])
    assert cy == pytest.approx(30, abs=1e-3) and cx == pytest.approx(30, abs=1e-3)


def test_blur_is_a_true_convolution_and_has_no_dark_borders() -> None:
    k = torch.zeros(5, 5)
    k[2, 4] = 1.0  # a shift kernel: convolution moves content right by 2
    img = rand_image(1, 3, 10, 10)
    out = blur(img, k)
    assert torch.allclose(out[..., :, 4:], img[..., :, 2:8])
    flat = blur(torch.full((2, 3, 12, 12), 0.7), camera_shake_kernel(torch.Generator().manual_seed(0), 9))
    assert torch.allclose(flat, torch.full_like(flat, 0.7), atol=1e-6)


def test_per_image_kernels() -> None:
    ks = torch.stack([camera_shake_kernel(torch.Generator().manual_seed(s), 9) for s in range(2)])
    img = rand_image(2, 3, 16, 16)
    out = blur(img, ks)
    assert torch.allclose(out[1:], blur(img[1:], ks[1]), atol=1e-6)


def test_noise_is_seeded_with_the_right_sigma() -> None:
    x = torch.zeros(1, 3, 128, 128)
    a = add_gaussian_noise(x, 0.02, torch.Generator().manual_seed(0))
    assert torch.equal(a, add_gaussian_noise(x, 0.02, torch.Generator().manual_seed(0)))
    assert float(a.std()) == pytest.approx(0.02, rel=0.05)
