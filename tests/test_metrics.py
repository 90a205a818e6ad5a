from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from idc.metrics import best_shift_psnr, paired_change_uncertainty, psnr, realblur_scores, shift_image, ssim
from tests.conftest import rand_image


def test_psnr_rounds_to_uint8_first() -> None:
    x = torch.randint(0, 255, (3, 16, 16), generator=torch.Generator().manual_seed(0)).float() / 255
    assert psnr(x, x) == math.inf
    # A shift of 0.4 grey levels rounds away; 0.6 rounds to one level everywhere (MSE 1, 48.13 dB).
    assert psnr(x + 0.4 / 255, x) == math.inf
    assert psnr(x + 0.6 / 255, x) == pytest.approx(10 * math.log10(255**2), rel=1e-9)


def test_psnr_known_value() -> None:
    a = np.full((8, 8, 3), 100, np.uint8)
    b = np.full((8, 8, 3), 101, np.uint8)
    assert psnr(a, b) == pytest.approx(10 * math.log10(255**2), rel=1e-9)  # MSE 1 -> 48.13 dB


def test_ssim_identity_and_order() -> None:
    x = rand_image(3, 32, 32)
    assert ssim(x, x) == pytest.approx(1.0)
    assert ssim((x + 0.05 * torch.randn(x.shape)).clamp(0, 1), x) > ssim(
        (x + 0.2 * torch.randn(x.shape)).clamp(0, 1), x
    )


def _reference_ssim_3d(a: np.ndarray, b: np.ndarray) -> float:
    """MATLAB's 3-D SSIM from its definition: 11-tap Gaussian (sigma 1.5) on each axis, edge-replicated."""
    taps = np.exp(-(np.arange(-5, 6) ** 2) / (2 * 1.5**2))
    taps /= taps.sum()

    def filt(x: np.ndarray) -> np.ndarray:
        for axis in range(3):
            padded = np.pad(x, [(5, 5) if i == axis else (0, 0) for i in range(3)], mode="edge")
            x = sum(t * np.take(padded, range(k, k + x.shape[axis]), axis=axis) for k, t in enumerate(taps))
        return x

    a, b = a.astype(np.float64), b.astype(np.float64)
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
    ma, mb = filt(a), filt(b)
    va, vb, cov = filt(a * a) - ma**2, filt(b * b) - mb**2, filt(a * b) - ma * mb
    return float(np.mean((2 * ma * mb + c1) * (2 * cov + c2) / ((ma**2 + mb**2 + c1) * (va + vb + c2))))


def test_matlab_ssim_matches_its_definition() -> None:
    from idc.metrics import ssim_matlab

    rng = np.random.default_rng(0)
    a = rng.integers(0, 256, (9, 13, 3), dtype=np.uint8)
    b = np.clip(a.astype(int) + rng.integers(-30, 30, a.shape), 0, 255).astype(np.uint8)
    assert ssim_matlab(a, b) == pytest.approx(_reference_ssim_3d(a, b), rel=1e-10)
    assert ssim_matlab(a, a) == pytest.approx(1.0)
    # Constant images: only the luminance term is left.
    x, y = np.full((8, 8, 3), 100, np.uint8), np.full((8, 8, 3), 150, np.uint8)
    c1 = (0.01 * 255) ** 2
    assert ssim_matlab(x, y) == pytest.approx((2 * 100 * 150 + c1) / (100**2 + 150**2 + c1))


def test_matlab_ssim_mixes_channels_and_reads_higher_on_blur() -> None:
    from idc.data.degrade import blur
    from idc.data.kernels import gaussian_kernel
    from idc.metrics import ssim_matlab

    img = rand_image(3, 48, 48)
    blurred = blur(img[None], gaussian_kernel(1.5))[0]
    assert ssim_matlab(blurred, img) > ssim(blurred, img)


def _smooth_image(h: int = 64, w: int = 80) -> torch.Tensor:
    g = torch.Generator().manual_seed(5)
    x = torch.nn.functional.avg_pool2d(torch.rand(1, 3, h, w, generator=g), 5, 1, 2, count_include_pad=False)
    return torch.nn.functional.avg_pool2d(x, 5, 1, 2, count_include_pad=False)[0]


def test_shift_image_moves_whole_pixels_like_roll_and_keeps_the_mean() -> None:
    img = _smooth_image()
    assert torch.allclose(shift_image(img, 2, -3), torch.roll(img, (2, -3), (1, 2)), atol=1e-5)
    half = shift_image(img, 0.5, 0.25)
    assert torch.allclose(half.mean(), img.mean(), atol=1e-6) and not torch.allclose(half, img, atol=1e-3)


def test_best_shift_finds_a_misplaced_copy_and_its_score() -> None:
    ref = _smooth_image()
    moved = shift_image(ref, 1.0, -0.5)  # the same picture, a pixel down and half a pixel left
    base, best, dy, dx = best_shift_psnr(moved, ref, max_shift=2.0, step=0.5, margin=4)
    assert (dy, dx) == (-1.0, 0.5)
    assert best > 45 and base < best - 10
    # An estimate already in place stays at (0, 0) with both scores equal.
    base, best, dy, dx = best_shift_psnr(ref, ref, max_shift=1.0, step=0.5, margin=2)
    assert (dy, dx) == (0.0, 0.0) and base == best == math.inf
    with pytest.raises(ValueError, match="margin 1 must be at least the largest shift 2"):
        best_shift_psnr(ref, ref, max_shift=2.0, margin=1)


def test_paired_change_uncertainty_sign_flip_p_is_exact_for_few_images() -> None:
    # Five images all better: of the 32 sign patterns only all-plus and all-minus are as extreme, p = 2/32.
    low, high, p = paired_change_uncertainty([0.1, 0.2, 0.3, 0.4, 0.5])
    assert p == pytest.approx(2 / 32)
    assert 0.1 <= low < 0.3 < high <= 0.5  # the mean (0.3) inside, never past the extremes
    # Mixed signs: one large loss against small gains is no evidence of either (6 of the 8 patterns are as extreme).
    assert paired_change_uncertainty([0.5, -2.0, -0.25])[2] == pytest.approx(6 / 8)
    assert paired_change_uncertainty([0.1, 0.2, 0.3, 0.4, 0.5]) == (low, high, p)  # seeded: repeatable


def test_paired_change_uncertainty_random_flips_for_many_images() -> None:
    clear = paired_change_uncertainty([0.3 + 0.01 * i for i in range(24)], draws=2000)
    assert clear[2] == pytest.approx(1 / 2001)  # never 0: the measured signs count as one draw
    assert 0.3 < clear[0] < clear[1] < 0.54
    noise = paired_change_uncertainty([0.1, -0.1] * 12, draws=2000)
    assert noise[2] > 0.9 and noise[0] < 0 < noise[1]
    with pytest.raises(ValueError, match="one change per image"):
        paired_change_uncertainty([])


def _astronaut() -> np.ndarray:
    from skimage import data

    return np.ascontiguousarray(data.astronaut()[100:292, 120:376])  # 192 x 256, uint8 RGB


def test_realblur_protocol_forgives_misregistration_and_exposure_not_blur() -> None:
    import cv2

    sharp = _astronaut()
    # Two cameras' images: moved by 3.5 px and darker by 10 %. The protocol undoes both; plain PSNR punishes both.
    moved = cv2.warpAffine(sharp, np.float32([[1, 0, 3.5], [0, 1, -1]]), (256, 192), borderMode=cv2.BORDER_REFLECT)
    moved = np.round(moved * 0.9).astype(np.uint8)
    aligned_psnr, aligned_ssim = realblur_scores(moved, sharp)
    assert psnr(moved, sharp) < 25 and aligned_psnr > 33
    assert ssim(moved, sharp) < 0.6 and aligned_ssim > 0.97  # (a half-pixel move interpolates: a little blur)
    # Blur is not forgiven: a blurred copy in place scores about as it does without alignment.
    blurred = cv2.GaussianBlur(sharp, (0, 0), 2.0)
    blur_psnr, blur_ssim = realblur_scores(blurred, sharp)
    assert blur_psnr < 30 and abs(blur_psnr - psnr(blurred, sharp)) < 0.6 and blur_ssim < 0.9
    p, s = realblur_scores(torch.from_numpy(sharp).permute(2, 0, 1).float() / 255, sharp)  # tensors too
    assert p > 60 and s == pytest.approx(1.0, abs=1e-6)


def test_realblur_protocol_matches_its_definition_where_nothing_moves() -> None:
    # A flat estimate gives ECC nothing to align on, so the warp stays the identity and covers every pixel: what is
    # left is the definition, scale to the sharp image's intensity, then PSNR (peak 1) and skimage's Gaussian SSIM.
    from skimage.metrics import structural_similarity

    sharp = _astronaut()
    x = sharp.astype(np.float64) / 255
    grey = 128 / 255
    matched = np.float32(np.sum(x * grey) / (grey * grey * x.size) * grey)  # the intensity-matched flat image
    p, s = realblur_scores(np.full_like(sharp, 128), sharp)
    assert p == pytest.approx(10 * math.log10(1 / np.mean((x.astype(np.float32) - matched) ** 2)), abs=1e-4)
    expected_ssim = structural_similarity(
        x.astype(np.float32),
        np.full(x.shape, matched, np.float32),
        channel_axis=2,
        data_range=1.0,
        gaussian_weights=True,
        use_sample_covariance=False,
    )
    assert s == pytest.approx(expected_ssim, abs=1e-5)


def test_realblur_protocol_scores_only_what_the_warp_covers() -> None:
    import cv2

    from idc.metrics import _realblur_align

    sharp = _astronaut()
    moved = cv2.warpAffine(sharp, np.float32([[1, 0, 4], [0, 1, 0]]), (256, 192), borderMode=cv2.BORDER_REFLECT)
    aligned, target, mask = _realblur_align(moved.astype(np.float32) / 255, sharp.astype(np.float32) / 255)
    columns = mask[..., 0].mean(axis=0)
    assert set(columns[:-6].tolist()) == {1.0} and set(columns[-4:].tolist()) == {0.0}  # 4 columns uncovered
    assert not aligned[:, -4:].any() and not target[:, -4:].any()  # masked on both sides
