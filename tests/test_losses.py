from __future__ import annotations

import numpy as np
import pytest
import torch
from skimage.metrics import structural_similarity

from idc.losses import GRADIENT_NORMS, LossConfig, MixedLoss, image_gradients, scale_loss_terms, ssim_map
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


def test_psnr_weighting_follows_the_mean_per_image_psnr() -> None:
    target = rand_image(3, 3, 16, 16)
    noise = torch.randn(3, 3, 16, 16, generator=torch.Generator().manual_seed(1))
    # One image far off, one close, one exact (its MSE counts as the 40 dB floor: no division by zero).
    estimate = (target + noise * torch.tensor([0.2, 0.02, 0.0]).view(3, 1, 1, 1)).requires_grad_(True)
    weighted = scale_loss_terms(estimate, target, LossConfig(l2_weighting="psnr"))["l2"]
    (grad_weighted,) = torch.autograd.grad(weighted, estimate)
    log_mse = (estimate - target).pow(2).flatten(1).mean(1)[:2].log().mean()  # -mean PSNR up to a scale
    (grad_log,) = torch.autograd.grad(log_mse, estimate)
    # The same direction as the gradient of the mean log MSE of the two inexact images: the close image's pixels
    # pull 10 times as hard as the far one's, where the paper's plain L2 pulls the far one's 10 times as hard.
    cos = torch.nn.functional.cosine_similarity(grad_weighted.flatten(), grad_log.flatten(), dim=0)
    assert torch.isfinite(grad_weighted).all() and float(cos) > 0.999
    plain = scale_loss_terms(estimate, target, LossConfig())["l2"]
    (grad_plain,) = torch.autograd.grad(plain, estimate)
    ratio = lambda g: float(g[1].abs().mean() / g[0].abs().mean())  # noqa: E731
    assert ratio(grad_weighted) == pytest.approx(10, rel=0.05) and ratio(grad_plain) == pytest.approx(0.1, rel=0.05)
    # Above the floor the term's value is the plain MSE's (loss curves stay comparable).
    inexact = estimate[:2].detach()
    assert float(scale_loss_terms(inexact, target[:2], LossConfig(l2_weighting="psnr"))["l2"]) == pytest.approx(
        float(scale_loss_terms(inexact, target[:2], LossConfig())["l2"]), rel=1e-5
    )
    with pytest.raises(ValueError, match="l2_weighting"):
        LossConfig(l2_weighting="dB")


def test_bad_ssim_window() -> None:
    with pytest.raises(ValueError, match="ssim_window"):
        LossConfig(ssim_window=10)
    with pytest.raises(ValueError, match="odd"):
        ssim_map(rand_image(1, 1, 8, 8), rand_image(1, 1, 8, 8), window_size=4)


def _noisy_pair(shape: tuple[int, ...], seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    x = rand_image(*shape, seed=seed)
    g = torch.Generator().manual_seed(seed + 100)
    return x, (x + 0.1 * torch.randn(x.shape, generator=g)).clamp(0, 1)


def test_ssim_matches_scikit_image_away_from_the_borders() -> None:
    # skimage's reference (Gaussian sigma 1.5, 11 taps, population covariance) averages the map 5 pixels inside the
    # borders; there the padding does not reach, so the two must agree to float32 rounding.
    x, y = _noisy_pair((2, 3, 40, 52))
    ours = ssim_map(x, y)[..., 5:-5, 5:-5].mean().item()
    ref = np.mean(
        [
            structural_similarity(
                x[i].permute(1, 2, 0).double().numpy(),
                y[i].permute(1, 2, 0).double().numpy(),
                channel_axis=2,
                data_range=1.0,
                gaussian_weights=True,
                sigma=1.5,
                use_sample_covariance=False,
            )
            for i in range(2)
        ]
    )
    assert ours == pytest.approx(ref, abs=2e-6)
    assert ref < 0.95  # the pair is far from identical, so agreement means something


@pytest.mark.parametrize("shape", [(2, 3, 33, 47), (1, 3, 4, 6), (1, 2, 1, 5)])
def test_ssim_and_gradients_match_kornia(shape: tuple[int, ...]) -> None:
    # kornia computed both terms until 2026-11-27; the own versions must give the same loss.
    kornia = pytest.importorskip("kornia")
    x, y = _noisy_pair(shape, seed=3)
    window = min(11, 2 * min(shape[-2:]) - 1)
    expected = kornia.metrics.ssim(x, y, window_size=window, max_val=1.0)
    assert torch.allclose(ssim_map(x, y), expected, atol=2e-6)
    grads = kornia.filters.spatial_gradient(x, mode="diff", order=1)
    assert torch.allclose(image_gradients(x), grads, atol=1e-7)


def test_gradient_term_equals_the_difference_of_gradients() -> None:
    est, tgt = _noisy_pair((2, 3, 17, 23), seed=5)
    for norm in GRADIENT_NORMS:
        diff = image_gradients(est) - image_gradients(tgt)
        expected = diff.abs().mean() if norm == "l1" else diff.pow(2).mean()
        got = scale_loss_terms(est, tgt, LossConfig(gradient_norm=norm))["grad"]
        assert got.item() == pytest.approx(expected.item(), rel=1e-5)


def test_ssim_ignores_autocast_and_backpropagates() -> None:
    x, y = _noisy_pair((1, 3, 24, 24), seed=7)
    x.requires_grad_(True)
    plain = ssim_map(x, y)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        cast = ssim_map(x, y)
    assert cast.dtype == torch.float32
    assert torch.equal(plain, cast)
    (1 - cast.mean()).backward()
    assert x.grad is not None and x.grad.abs().sum() > 0


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA: host synchronisations exist only there")
def test_loss_never_waits_for_the_host_on_cuda() -> None:
    # kornia's kernels were copied from the host on every call: nine synchronisations per training step.
    sharp = rand_image(2, 3, 64, 64).cuda()
    estimates = [t + 0.01 for t in image_pyramid(sharp, 3)]
    for t in estimates:
        t.requires_grad_(True)
    torch.cuda.synchronize()
    previous = torch.cuda.get_sync_debug_mode()
    torch.cuda.set_sync_debug_mode("error")
    try:
        total, _ = MixedLoss()(estimates, sharp)
        total.backward()
    finally:
        torch.cuda.set_sync_debug_mode(previous)
