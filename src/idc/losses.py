"""The paper's mixed loss: per scale L2 + alpha (1 - SSIM) + beta * gradient loss, summed over scales.

SSIM and the image gradients are written here rather than taken from a library: every tensor they need is made on the
images' device, so a training step on a GPU never waits for the host (kornia 0.9, used until 2026-11-27, copied a
small tensor from the host on each call: nine synchronisations a step; docs/paper-notes.md, "Choices of
dependencies").
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from idc.models.pyramid import image_pyramid

GRADIENT_NORMS = ("l1", "l2")
L2_WEIGHTINGS = ("none", "psnr")
PSNR_WEIGHT_FLOOR = 1e-4  # an image's MSE counts as at least this (40 dB) when it weights its own squared error
SSIM_SIGMA = 1.5
SSIM_C1 = 0.01**2  # (k1 L)^2 and (k2 L)^2 for data range L = 1
SSIM_C2 = 0.03**2
SSIM_EPS = 1e-12  # added to the denominator, as kornia does


def gaussian_window(size: int, sigma: float, device: torch.device, dtype: torch.dtype) -> torch.Tensor:
    """A sampled 1-D Gaussian of odd ``size`` taps summing to 1, made on ``device`` (no copy from the host)."""
    x = torch.arange(size, device=device, dtype=dtype) - size // 2
    w = torch.exp(-(x * x) / (2 * sigma * sigma))
    return w / w.sum()


def ssim_map(x: torch.Tensor, y: torch.Tensor, window_size: int = 11) -> torch.Tensor:
    """Differentiable SSIM map: Gaussian window (sigma 1.5, ``window_size`` taps, odd), per channel, data range 1,
    reflect padding so the map has the images' size. Computed in float32 whatever the inputs and any autocast.

    The window shrinks on images smaller than it (down to 1 pixel), so coarse scales of tiny crops still work.

    Shape:
        (N, C, H, W), (N, C, H, W) -> (N, C, H, W)
    """
    if x.shape != y.shape or x.dim() != 4:
        raise ValueError(f"ssim_map needs two (N, C, H, W) tensors of one shape: {tuple(x.shape)}, {tuple(y.shape)}")
    if window_size < 1 or window_size % 2 == 0:
        raise ValueError(f"the SSIM window must be odd and positive, got {window_size}")
    limit = 2 * min(x.shape[-2:]) - 1  # reflect padding needs half the window below each side
    window = min(window_size, limit)
    c = x.shape[1]
    with torch.autocast(x.device.type, enabled=False):
        x, y = x.float(), y.float()
        # The five local means in one pair of separable depthwise convolutions.
        moments = torch.cat([x, y, x * x, y * y, x * y], dim=1)
        if window > 1:
            g = gaussian_window(window, SSIM_SIGMA, x.device, torch.float32)
            pad = window // 2
            moments = F.pad(moments, (pad, pad, pad, pad), mode="reflect")
            moments = F.conv2d(moments, g.view(1, 1, 1, window).expand(5 * c, 1, 1, window), groups=5 * c)
            moments = F.conv2d(moments, g.view(1, 1, window, 1).expand(5 * c, 1, window, 1), groups=5 * c)
        mu1, mu2, xx, yy, xy = moments.split(c, dim=1)
        mu1_mu2 = mu1 * mu2
        mu1_sq, mu2_sq = mu1 * mu1, mu2 * mu2
        num = (2 * mu1_mu2 + SSIM_C1) * (2 * (xy - mu1_mu2) + SSIM_C2)
        den = (mu1_sq + mu2_sq + SSIM_C1) * ((xx - mu1_sq) + (yy - mu2_sq) + SSIM_C2)
        return num / (den + SSIM_EPS)


def image_gradients(x: torch.Tensor) -> torch.Tensor:
    """Horizontal and vertical central differences, (x[i+1] - x[i-1]) / 2, with replicate borders.

    Shape:
        (N, C, H, W) -> (N, C, 2, H, W), horizontal first
    """
    p = F.pad(x.float(), (1, 1, 1, 1), mode="replicate")
    dx = (p[..., 1:-1, 2:] - p[..., 1:-1, :-2]) * 0.5
    dy = (p[..., 2:, 1:-1] - p[..., :-2, 1:-1]) * 0.5
    return torch.stack([dx, dy], dim=2)


@dataclass(frozen=True)
class LossConfig:
    """Weights of the mixed loss; defaults are the paper's (alpha = beta = 0.1, L1 norm on gradient differences).

    ``l2_weighting``: ``none`` (the paper) averages squared errors over all pixels of the batch, so an image with
    heavy blur, whose errors are large, outweighs one with little blur. ``psnr`` weights each image's squared error
    by the batch's MSE over the image's own (both detached; an image's MSE counted as at least ``PSNR_WEIGHT_FLOOR``,
    40 dB): the term keeps the plain MSE's value, but its gradient is that of the batch's mean per-image PSNR, the
    metric the benchmarks average, so a dB gained on a mildly blurred image counts as much as one on a heavily
    blurred image. Not in the paper; docs/paper-notes.md says why it exists.
    """

    alpha: float = 0.1
    beta: float = 0.1
    gradient_norm: str = "l1"
    ssim_window: int = 11
    l2_weighting: str = "none"

    def __post_init__(self) -> None:
        if self.gradient_norm not in GRADIENT_NORMS:
            raise ValueError(f"gradient_norm must be one of {GRADIENT_NORMS}, got {self.gradient_norm!r}")
        if self.l2_weighting not in L2_WEIGHTINGS:
            raise ValueError(f"l2_weighting must be one of {L2_WEIGHTINGS}, got {self.l2_weighting!r}")
        if self.ssim_window < 1 or self.ssim_window % 2 == 0:
            raise ValueError(f"ssim_window must be odd and positive, got {self.ssim_window}")


def scale_loss_terms(estimate: torch.Tensor, target: torch.Tensor, config: LossConfig) -> dict[str, torch.Tensor]:
    """The three loss terms at one scale, each a scalar mean over the batch.

    Returns:
        ``{"l2": mean squared error, "ssim": 1 - mean SSIM, "grad": mean |grad(est) - grad(target)|}``
        (squared differences for ``gradient_norm="l2"``; images weighted for ``l2_weighting="psnr"``).
    """
    estimate, target = estimate.float(), target.float()
    error = estimate - target
    diff = image_gradients(error)  # the gradients are linear: one pass instead of two
    grad = diff.abs().mean() if config.gradient_norm == "l1" else diff.pow(2).mean()
    if config.l2_weighting == "psnr":
        per_image = error.pow(2).flatten(1).mean(1)
        detached = per_image.detach()
        l2 = (per_image * (detached.mean() / detached.clamp_min(PSNR_WEIGHT_FLOOR))).mean()
    else:
        l2 = F.mse_loss(estimate, target)
    return {
        "l2": l2,
        "ssim": 1.0 - ssim_map(estimate, target, config.ssim_window).mean(),
        "grad": grad,
    }


class MixedLoss(nn.Module):
    """Sum over scales of ``l2 + alpha * (1 - SSIM) + beta * grad``, against a ground-truth pyramid.

    The ground truth is downsampled with :func:`idc.models.pyramid.image_pyramid`, exactly like the input.

    Shape:
        estimates: list of n tensors, coarse to fine, as returned by :class:`idc.models.IDC`
        sharp: (N, C, H, W) in [0, 1]
        returns: (scalar total loss, dict of per-term sums over scales, detached)
    """

    def __init__(self, config: LossConfig | None = None) -> None:
        super().__init__()
        self.config = config or LossConfig()

    def forward(
        self, estimates: list[torch.Tensor], sharp: torch.Tensor
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        targets = image_pyramid(sharp.float(), len(estimates))
        total = sharp.new_zeros((), dtype=torch.float32)
        sums = {"l2": 0.0 * total, "ssim": 0.0 * total, "grad": 0.0 * total}
        for est, tgt in zip(estimates, targets, strict=True):
            if est.shape != tgt.shape:
                raise ValueError(f"estimate {tuple(est.shape)} does not match target {tuple(tgt.shape)}")
            terms = scale_loss_terms(est, tgt, self.config)
            total = total + terms["l2"] + self.config.alpha * terms["ssim"] + self.config.beta * terms["grad"]
            for k, v in terms.items():
                sums[k] = sums[k] + v.detach()
        return total, sums
