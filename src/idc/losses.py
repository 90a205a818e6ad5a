"""The paper's mixed loss: per scale L2 + alpha (1 - SSIM) + beta * gradient loss, summed over scales."""

from __future__ import annotations

from dataclasses import dataclass

import kornia
import torch
import torch.nn.functional as F
from torch import nn

from idc.models.pyramid import image_pyramid

GRADIENT_NORMS = ("l1", "l2")


def ssim_map(x: torch.Tensor, y: torch.Tensor, window_size: int = 11) -> torch.Tensor:
    """Differentiable SSIM (Gaussian window, sigma 1.5, per channel, data range 1) via kornia.

    The window shrinks on images smaller than it (down to 1 pixel), so coarse scales of tiny crops still work.

    Shape:
        (N, C, H, W), (N, C, H, W) -> (N, C, H, W)
    """
    limit = 2 * min(x.shape[-2:]) - 1  # reflect padding needs half the window below each side
    window = min(window_size, limit)
    return kornia.metrics.ssim(x.float(), y.float(), window_size=window, max_val=1.0)


def image_gradients(x: torch.Tensor) -> torch.Tensor:
    """Horizontal and vertical central-difference gradients (kornia, replicate borders).

    Shape:
        (N, C, H, W) -> (N, C, 2, H, W)
    """
    return kornia.filters.spatial_gradient(x.float(), mode="diff", order=1)


@dataclass(frozen=True)
class LossConfig:
    """Weights of the mixed loss; defaults are the paper's (alpha = beta = 0.1, L1 norm on gradient differences)."""

    alpha: float = 0.1
    beta: float = 0.1
    gradient_norm: str = "l1"
    ssim_window: int = 11

    def __post_init__(self) -> None:
        if self.gradient_norm not in GRADIENT_NORMS:
            raise ValueError(f"gradient_norm must be one of {GRADIENT_NORMS}, got {self.gradient_norm!r}")


def scale_loss_terms(estimate: torch.Tensor, target: torch.Tensor, config: LossConfig) -> dict[str, torch.Tensor]:
    """The three loss terms at one scale, each a scalar mean over the batch.

    Returns:
        ``{"l2": mean squared error, "ssim": 1 - mean SSIM, "grad": mean |grad(est) - grad(target)|}``
        (squared differences for ``gradient_norm="l2"``).
    """
    estimate = estimate.float()
    diff = image_gradients(estimate) - image_gradients(target)
    grad = diff.abs().mean() if config.gradient_norm == "l1" else diff.pow(2).mean()
    return {
        "l2": F.mse_loss(estimate, target),
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
