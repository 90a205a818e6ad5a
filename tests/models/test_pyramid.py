from __future__ import annotations

import torch
import torch.nn.functional as F

from idc.models.pyramid import downsample2, image_pyramid, pad_to_multiple, upsample2
from tests.conftest import rand_image


def test_downsample_is_bilinear_half_on_even_sizes() -> None:
    x = rand_image(1, 3, 16, 24)
    ref = F.interpolate(x, scale_factor=0.5, mode="bilinear", align_corners=False)
    assert torch.allclose(downsample2(x), ref, atol=1e-6)


def test_pyramid_sizes_and_finest_is_input() -> None:
    x = rand_image(1, 3, 37, 45)
    levels = image_pyramid(x, 3)
    assert [tuple(t.shape[-2:]) for t in levels] == [(10, 12), (19, 23), (37, 45)]
    assert levels[-1] is x


def test_pyramid_preserves_constant_images_and_means() -> None:
    x = torch.full((1, 3, 9, 7), 0.25)
    for t in image_pyramid(x, 4):
        assert torch.allclose(t, torch.full_like(t, 0.25))
    y = rand_image(1, 3, 32, 32)
    assert torch.allclose(image_pyramid(y, 3)[0].mean(), y.mean(), atol=1e-6)


def test_pad_replicates_edges() -> None:
    x = rand_image(1, 1, 3, 5)
    p = pad_to_multiple(x, 4)
    assert p.shape[-2:] == (4, 8)
    assert torch.equal(p[..., 3, :5], x[..., 2, :])
    assert torch.equal(p[..., :3, 7], x[..., :, 4])


def test_upsample_doubles() -> None:
    assert upsample2(torch.ones(1, 3, 5, 6)).shape == (1, 3, 10, 12)
