from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from idc.metrics import psnr, ssim
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
