"""benchmarks/wide_gamut.py: its colour conversions, against LittleCMS."""

from __future__ import annotations

from io import BytesIO

import numpy as np
import pytest
from PIL import Image, ImageCms

from idc.icc import png_profile
from tests.conftest import load_script


@pytest.mark.parametrize("space", ["Display P3", "Adobe RGB (1998)", "ProPhoto RGB"])
def test_srgb_photos_go_into_each_space_and_back_exactly(space: str) -> None:
    bench = load_script("benchmarks/wide_gamut.py")
    into, back = bench.converters(space)
    rgb = np.random.default_rng(0).random((3, 16, 16))
    coded = into(rgb)
    assert coded.min() >= 0 and coded.max() <= 1 and not np.allclose(coded, rgb, atol=0.01)
    assert np.abs(back(coded) - rgb).max() < 2e-4  # 16-bit coded values: far below half a level of 8 bits
    white_and_black = into(np.array([1.0, 0.0]).reshape(1, 1, 2).repeat(3, axis=0))
    assert np.allclose(white_and_black[:, 0, 0], 1.0, atol=1e-4) and np.allclose(white_and_black[:, 0, 1], 0.0)


@pytest.mark.parametrize(("space", "gamma"), [("Adobe RGB (1998)", 563 / 256), ("ProPhoto RGB", 1.8)])
def test_the_conversions_agree_with_littlecms(space: str, gamma: float) -> None:
    # The space as a matrix profile with a pure power curve (icc.png_profile writes one), converted by LittleCMS.
    bench = load_script("benchmarks/wide_gamut.py")
    profile = png_profile(1 / gamma, bench.SPACES[space][0], grayscale=False)
    assert profile is not None
    transform = ImageCms.buildTransform(
        ImageCms.createProfile("sRGB"),
        ImageCms.ImageCmsProfile(BytesIO(profile)),
        "RGB",
        "RGB",
        renderingIntent=ImageCms.Intent.RELATIVE_COLORIMETRIC,
    )
    rgb = np.random.default_rng(1).integers(0, 256, (8, 8, 3), dtype=np.uint8)
    rgb[0, :3] = [[255, 0, 0], [0, 255, 0], [0, 0, 255]]
    want = np.asarray(transform.apply(Image.fromarray(rgb))).astype(float)
    into, _ = bench.converters(space)
    got = into(rgb.transpose(2, 0, 1) / 255.0).transpose(1, 2, 0) * 255
    # LittleCMS at 8 bits with its own curve tables; ProPhoto's linear toe (below 1/512 of light) is no power curve.
    assert np.abs(got - want).max() <= 2.5
