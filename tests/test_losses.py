from __future__ import annotations

import pytest
import torch

from idc.losses import LossConfig, MixedLoss, scale_loss_terms
from idc.models import IDC
from idc.models.pyramid import image_pyramid
from tests.conftest import rand_image

C1 = 0.01**2  # SSIM stabiliser for data range 1


def test_loss_is_zero_at_identity() -> None:
    sharp = rand_image(2, 3, 37, 45)
    total, terms = MixedLoss()(image_pyramid(sharp, 3), sharp)
    assert total.abs() < 1e-6
    assert all(v.abs() < 1e-6 for v in terms.values())


def test_constant_offset_has_known_value() -> None:
    # Constant images: L2 = d^2, no gradients, SSIM = (2ab + C1) / (a^2 + b^2 + C1) (no variance anywhere).
    a, b = 0.6, 0.5
    sharp = torch.full((1, 3, 32, 32), b)
    estimates = [torch.full_like(t, a) for t in image_pyramid(sharp, 3)]
    total, terms = MixedLoss()(estimates, sharp)
    ssim = (2 * a * b + C1) / (a * a + b * b + C1)
    per_scale = (a - b) ** 2 + 0.1 * (1 - ssim)
    # float32 variances (E[x^2] - mean^2 on a constant image) cancel to ~3e-8, which moves SSIM by ~3e-5 via C2.
    assert total.item() == pytest.approx(3 * per_scale, abs=2e-5)
    assert terms["ssim"].item() == pytest.approx(3 * (1 - ssim), abs=2e-4)
    assert terms["l2"].item() == pytest.approx(3 * (a - b) ** 2, rel=1e-5)
    assert terms["grad"].item() == pytest.approx(0.0, abs=1e-7)


@pytest.mark.parametrize(("norm", "expected"), [("l1", 0.1 * 7 / 16), ("l2", 0.01 * (6 + 2 * 0.25) / 16)])
def test_gradient_term_of_a_ramp(norm: str, expected: float) -> None:
    # est = horizontal ramp of slope 0.1 per pixel over 8 columns, target constant. Central differences give the
    # slope inside and half of it at the two replicate-padded borders; the vertical gradient is zero.
    ramp = (0.1 * torch.arange(8.0)).expand(1, 1, 8, 8).contiguous()
    terms = scale_loss_terms(ramp, torch.zeros_like(ramp), LossConfig(gradient_norm=norm))
    assert terms["grad"].item() == pytest.approx(expected, rel=1e-5)


def test_weights_alpha_beta_scale_the_terms() -> None:
    sharp = rand_image(1, 3, 24, 24, seed=1)
    est = [t + 0.05 * rand_image(*t.shape, seed=2) for t in image_pyramid(sharp, 3)]
    _, terms = MixedLoss()(est, sharp)
    total, _ = MixedLoss(LossConfig(alpha=0.5, beta=2.0))(est, sharp)
    assert total.item() == pytest.approx((terms["l2"] + 0.5 * terms["ssim"] + 2.0 * terms["grad"]).item(), rel=1e-5)


def test_loss_trains_the_network_and_rejects_mismatched_scales(tiny_model: IDC) -> None:
    sharp = rand_image(1, 3, 20, 28)
    outs = tiny_model(sharp)
    total, _ = MixedLoss()(outs, sharp)
    total.backward()
    assert all(p.grad is not None for p in tiny_model.parameters())
    with pytest.raises(ValueError, match="does not match"):
        MixedLoss()([outs[-1], outs[-1], outs[-1]], sharp)


def test_bad_gradient_norm() -> None:
    with pytest.raises(ValueError, match="gradient_norm"):
        LossConfig(gradient_norm="l3")
