"""Evaluation metrics with one stated convention.

PSNR: on RGB rounded to uint8 (the GOPRO convention), peak 255, mean squared error over all pixels and channels.
SSIM: skimage's ``structural_similarity`` on uint8 RGB: Gaussian window sigma 1.5, per channel then averaged,
population covariance, data range 255 (Wang et al. 2004 settings).
MATLAB-style SSIM: what MATLAB's ``ssim`` computes on an RGB array, which it treats as an H x W x 3 volume: one 3-D
Gaussian (sigma 1.5, 11 taps per axis) with replicate padding, the channel axis included, averaged over the whole map.
Many GOPRO papers report this one; it reads higher than the per-channel SSIM.
RealBlur protocol (:func:`realblur_scores`): what RealBlur (Rim et al., ECCV 2020) and the papers reporting on it
compute, because its blurred and sharp images come from two cameras and are not exactly registered: the output,
scaled to the sharp image's intensity, is aligned to it by an ECC homography, and PSNR and SSIM are taken over the
pixels the warp covers, on float RGB in [0, 1] (from uint8 images).
"""

from __future__ import annotations

import math

import numpy as np
import torch
from skimage.metrics import structural_similarity

PSNR_CONVENTION = "PSNR on uint8-rounded RGB, peak 255"
SSIM_CONVENTION = "SSIM skimage-style: Gaussian sigma 1.5, per channel, on uint8 RGB"
SSIM_MATLAB_CONVENTION = "MATLAB-style SSIM: 3-D Gaussian sigma 1.5 over H x W x 3, replicate padding"
REALBLUR_CONVENTION = (
    "RealBlur protocol: image scaled to the sharp one's intensity and aligned to it by an ECC homography (OpenCV, "
    "100 iterations, Gaussian 5), then PSNR (peak 1) and skimage-style SSIM on float RGB over the pixels the warp "
    "covers"
)


def to_uint8(image: torch.Tensor) -> np.ndarray:
    """(3, H, W) float in [0, 1] -> (H, W, 3) uint8, clipped and rounded."""
    return (image.detach().float().clamp(0, 1) * 255).round().to(torch.uint8).permute(1, 2, 0).cpu().numpy()


def psnr(estimate: torch.Tensor | np.ndarray, reference: torch.Tensor | np.ndarray) -> float:
    """PSNR in dB between two images after rounding both to uint8 RGB.

    Shape:
        (3, H, W) float tensors in [0, 1], or (H, W, 3) uint8 arrays.
    """
    a = to_uint8(estimate) if isinstance(estimate, torch.Tensor) else estimate
    b = to_uint8(reference) if isinstance(reference, torch.Tensor) else reference
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return math.inf if mse == 0 else 10 * math.log10(255.0**2 / mse)


def ssim(estimate: torch.Tensor | np.ndarray, reference: torch.Tensor | np.ndarray) -> float:
    """SSIM between two images after rounding both to uint8 RGB (see module docstring for the settings).

    Shape:
        (3, H, W) float tensors in [0, 1], or (H, W, 3) uint8 arrays; both sides at least 7 pixels.
    """
    a = to_uint8(estimate) if isinstance(estimate, torch.Tensor) else estimate
    b = to_uint8(reference) if isinstance(reference, torch.Tensor) else reference
    return float(
        structural_similarity(
            a, b, channel_axis=2, data_range=255, gaussian_weights=True, sigma=1.5, use_sample_covariance=False
        )
    )


def ssim_matlab(estimate: torch.Tensor | np.ndarray, reference: torch.Tensor | np.ndarray) -> float:
    """SSIM as MATLAB's ``ssim`` computes it on uint8 RGB arrays (see module docstring).

    Shape:
        (3, H, W) float tensors in [0, 1], or (H, W, 3) uint8 arrays.
    """
    from scipy.ndimage import gaussian_filter

    a = (to_uint8(estimate) if isinstance(estimate, torch.Tensor) else estimate).astype(np.float64)
    b = (to_uint8(reference) if isinstance(reference, torch.Tensor) else reference).astype(np.float64)
    sigma, radius = 1.5, 5  # MATLAB: FilterSize = 2 * ceil(3 * sigma) + 1 = 11 along every axis

    def filt(x: np.ndarray) -> np.ndarray:
        return gaussian_filter(x, sigma, mode="nearest", truncate=radius / sigma)

    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
    mu_a, mu_b = filt(a), filt(b)
    var_a = filt(a * a) - mu_a**2
    var_b = filt(b * b) - mu_b**2
    cov = filt(a * b) - mu_a * mu_b
    num = (2 * mu_a * mu_b + c1) * (2 * cov + c2)
    den = (mu_a**2 + mu_b**2 + c1) * (var_a + var_b + c2)
    return float(np.mean(num / den))


def shift_image(image: torch.Tensor, dy: float, dx: float) -> torch.Tensor:
    """Moves an image by (dy, dx) pixels (down, right; fractions allowed) with a Fourier phase ramp.

    The image wraps round at its borders, so compare only an interior at least ``ceil(|shift|)`` from them.

    Shape:
        (C, H, W) -> (C, H, W), float
    """
    ramp = _phase_ramp(image.shape[-2], image.shape[-1], dy, dx)
    return torch.fft.ifft2(torch.fft.fft2(image.double()) * ramp).real.to(image.dtype)


def _phase_ramp(h: int, w: int, dy: float, dx: float) -> torch.Tensor:
    fy = torch.fft.fftfreq(h, dtype=torch.float64)[:, None]
    fx = torch.fft.fftfreq(w, dtype=torch.float64)[None, :]
    return torch.exp(-2j * math.pi * (fy * dy + fx * dx))


def best_shift_psnr(
    estimate: torch.Tensor, reference: torch.Tensor, max_shift: float = 3.0, step: float = 0.5, margin: int = 16
) -> tuple[float, float, float, float]:
    """How much of an estimate's error is misplacement: the PSNR of the estimate as it is and at the global
    translation (a grid of ``step`` pixels up to ``max_shift`` each way) that best matches the reference, both
    on the interior ``margin`` pixels in from every border (uint8-rounded, as :func:`psnr`).

    A deblurred image whose edges are sharp but a pixel from where the reference has them scores low although
    it is sharp; a large gain here says the error is where things are, not how sharp they are.

    Returns:
        (PSNR unshifted, PSNR at the best shift, dy, dx) with dy, dx in pixels (down, right).

    Raises:
        ValueError: a margin smaller than the largest shift, or an image too small for it.
    """
    if margin < math.ceil(max_shift) or min(reference.shape[-2:]) <= 2 * margin:
        raise ValueError(f"margin {margin} must be at least the largest shift {max_shift} and leave an interior")

    def inner(x: torch.Tensor) -> torch.Tensor:
        return x[..., margin:-margin, margin:-margin]

    ref = inner(reference)
    base = psnr(inner(estimate), ref)
    spectrum = torch.fft.fft2(estimate.double())
    n = round(max_shift / step)
    best = (base, 0.0, 0.0)
    for dy in (i * step for i in range(-n, n + 1)):
        for dx in (i * step for i in range(-n, n + 1)):
            moved = torch.fft.ifft2(spectrum * _phase_ramp(estimate.shape[-2], estimate.shape[-1], dy, dx)).real.float()
            score = psnr(inner(moved), ref)
            if score > best[0]:
                best = (score, dy, dx)
    return base, best[0], best[1], best[2]


def paired_change_uncertainty(
    changes: list[float] | np.ndarray, draws: int = 10_000, seed: int = 0
) -> tuple[float, float, float]:
    """How sure a mean change measured image by image (new minus old, same images) is: a 95 % bootstrap interval of
    the mean and the two-sided sign-flip (paired randomisation) p-value of "no change".

    The p-value is the share of the 2^n ways of flipping the changes' signs whose mean is at least as far from zero
    as the one measured: exact for up to 16 images, otherwise estimated from ``draws`` random flips. With n images
    it cannot be below 2 / 2^n: 0.0625 for 5, so five images alone can never show a change at the 5 % level. Both
    are seeded, so the same changes give the same numbers. Both count only the images' spread, not the spread between
    training runs that differ only in their seed.

    Args:
        changes: one change per image (e.g. dB of PSNR).
        draws: bootstrap resamples, and random sign flips above 16 images.
        seed: the generator's seed.

    Returns:
        (low, high, p): the interval's ends and the p-value.
    """
    d = np.asarray(changes, dtype=np.float64)
    if d.ndim != 1 or d.size == 0:
        raise ValueError("need one change per image, at least one")
    rng = np.random.default_rng(seed)
    means = d[rng.integers(0, d.size, (draws, d.size))].mean(axis=1)
    low, high = np.quantile(means, [0.025, 0.975])
    if d.size <= 16:
        signs = 1 - 2 * ((np.arange(2**d.size)[:, None] >> np.arange(d.size)) & 1)
    else:
        signs = rng.choice(np.array([-1, 1]), (draws, d.size))
    extreme = int(np.sum(np.abs((signs * d).mean(axis=1)) >= abs(d.mean()) - 1e-12))
    # Random flips: the measured signs count as one draw more, so p is never 0.
    p = extreme / len(signs) if d.size <= 16 else (extreme + 1) / (draws + 1)
    return float(low), float(high), p


def _realblur_align(estimate: np.ndarray, reference: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``estimate`` scaled to ``reference``'s intensity and warped onto it by the ECC homography, both masked to the
    pixels the warp covers, and that mask (RealBlur's evaluation, after Koehler et al.'s benchmark code).

    Shape:
        (H, W, 3) float32 in [0, 1] in; three (H, W, 3) float32 arrays out.
    """
    import cv2

    products = float(np.sum(estimate.astype(np.float64) ** 2))
    scale = float(np.sum(reference.astype(np.float64) * estimate)) / products if products > 0 else 1.0
    scaled = (scale * estimate).astype(np.float32)
    warp = np.eye(3, dtype=np.float32)
    criteria = (cv2.TERM_CRITERIA_EPS | cv2.TERM_CRITERIA_COUNT, 100, 0.0)
    try:
        _, warp = cv2.findTransformECC(  # type: ignore[call-overload]  # the stubs refuse inputMask=None
            cv2.cvtColor(reference, cv2.COLOR_RGB2GRAY),
            cv2.cvtColor(scaled, cv2.COLOR_RGB2GRAY),
            warp,
            cv2.MOTION_HOMOGRAPHY,
            criteria,
            None,
            5,
        )
    except cv2.error:  # no texture to align on (a flat image): score it where it is, as the identity warp would
        warp = np.eye(3, dtype=np.float32)
    h, w = reference.shape[:2]
    inverse = cv2.WARP_INVERSE_MAP
    aligned = cv2.warpPerspective(scaled, warp, (w, h), flags=cv2.INTER_CUBIC | inverse, borderMode=cv2.BORDER_REFLECT)
    mask = cv2.warpPerspective(
        np.ones_like(scaled), warp, (w, h), flags=cv2.INTER_NEAREST | inverse, borderMode=cv2.BORDER_CONSTANT
    )
    return aligned * mask, reference * mask, mask


def realblur_scores(estimate: torch.Tensor | np.ndarray, reference: torch.Tensor | np.ndarray) -> tuple[float, float]:
    """(PSNR, SSIM) under the RealBlur protocol (module docstring): ``estimate`` rounded to uint8 as a saved image
    is, scaled and aligned to ``reference``; PSNR with peak 1 over the covered pixels; skimage's Gaussian SSIM map
    (sigma 1.5, per channel) averaged over the covered pixels away from the border, per channel, then over channels.

    Shape:
        (3, H, W) float tensors in [0, 1], or (H, W, 3) uint8 arrays; both sides at least 11 pixels.
    """
    a = to_uint8(estimate) if isinstance(estimate, torch.Tensor) else estimate
    b = to_uint8(reference) if isinstance(reference, torch.Tensor) else reference
    aligned, target, mask = _realblur_align(a.astype(np.float32) / 255, b.astype(np.float32) / 255)
    err = float(np.sum((target.astype(np.float64) - aligned) ** 2)) / float(np.sum(mask))
    psnr_value = math.inf if err == 0 else 10 * math.log10(1.0 / err)
    _, ssim_map = structural_similarity(
        target, aligned, channel_axis=2, data_range=1.0, gaussian_weights=True, use_sample_covariance=False, full=True
    )
    pad = 5  # half of the 11-pixel window skimage uses for sigma 1.5 (truncate 3.5): where the map is incomplete
    inner_map, inner_mask = (ssim_map * mask)[pad:-pad, pad:-pad], mask[pad:-pad, pad:-pad]
    per_channel = inner_map.sum(axis=(0, 1)) / np.maximum(inner_mask.sum(axis=(0, 1)), 1)
    return psnr_value, float(np.mean(per_channel))
