from __future__ import annotations

from io import BytesIO

import numpy as np
import pytest
from PIL import Image, ImageCms

from idc.icc import SRGB_CHROMATICITY, png_profile, rgb_to_xyz_d50

ADOBE_RGB = (0.3127, 0.3290, 0.64, 0.33, 0.21, 0.71, 0.15, 0.06)


def _to_srgb(profile: bytes, pixels: np.ndarray, mode: str = "RGB") -> np.ndarray:
    """Pixels in ``profile``'s colour space converted to sRGB by LittleCMS (relative colorimetric)."""
    srgb = ImageCms.createProfile("sRGB")
    source = ImageCms.ImageCmsProfile(BytesIO(profile))
    transform = ImageCms.buildTransform(
        source, srgb, mode, "RGB", renderingIntent=ImageCms.Intent.RELATIVE_COLORIMETRIC
    )
    return np.asarray(transform.apply(Image.fromarray(pixels[None], mode)), dtype=np.int64)[0]


def _rgb_to_xyz(chromaticity: tuple[float, ...]) -> np.ndarray:
    """Linear RGB to XYZ (no adaptation), from the textbook: primaries scaled to add up to the white."""
    xy = np.array(chromaticity).reshape(4, 2)
    xyz = np.stack([xy[:, 0] / xy[:, 1], np.ones(4), (1 - xy.sum(1)) / xy[:, 1]], axis=1)
    primaries = xyz[1:].T
    return primaries * np.linalg.solve(primaries, xyz[0])


def _srgb_encode(linear: np.ndarray) -> np.ndarray:
    linear = np.clip(linear, 0, 1)
    return np.round(255 * np.where(linear <= 0.0031308, 12.92 * linear, 1.055 * linear ** (1 / 2.4) - 0.055))


@pytest.mark.parametrize(("gamma", "chromaticity"), [(1.0, None), (1 / 2.2, ADOBE_RGB), (1 / 1.8, ADOBE_RGB)])
def test_png_profile_converts_as_the_colorimetry_says(gamma: float, chromaticity: tuple[float, ...] | None) -> None:
    # LittleCMS reads the written profile and converts colours as computing them by hand does (same white, D65).
    profile = png_profile(gamma, chromaticity, grayscale=False)
    assert profile is not None and profile[12:20] == b"mntrRGB "
    pixels = np.random.default_rng(0).integers(0, 256, (64, 3), dtype=np.uint8)
    want_linear = (pixels / 255.0) ** (round(256 / gamma) / 256)  # the curve's exponent is stored in 8.8 fixed point
    to_srgb = np.linalg.solve(_rgb_to_xyz(SRGB_CHROMATICITY), _rgb_to_xyz(chromaticity or SRGB_CHROMATICITY))
    want = _srgb_encode(want_linear @ to_srgb.T)
    assert np.abs(_to_srgb(profile, pixels) - want).max() <= 1


def test_gray_png_profile_has_the_curve_only() -> None:
    profile = png_profile(1.0, ADOBE_RGB, grayscale=True)  # a gray image's cHRM does not matter
    assert profile is not None and profile[12:20] == b"mntrGRAY"
    got = _to_srgb(profile, np.array([0, 64, 128, 255], np.uint8), mode="L")
    assert (
        np.array_equal(got[:, 0], got[:, 2])
        and np.abs(got[:, 0] - _srgb_encode(np.array([0, 64, 128, 255]) / 255)).max() <= 1
    )


def test_png_profile_is_none_where_the_chunks_say_srgb_or_nothing() -> None:
    assert png_profile(None, None, grayscale=False) is None
    assert png_profile(0.45455, None, grayscale=False) is None  # 1/2.2 with sRGB's primaries: how viewers show sRGB
    assert png_profile(0.45455, SRGB_CHROMATICITY, grayscale=False) is None
    assert png_profile(0.45455, ADOBE_RGB, grayscale=True) is None
    assert png_profile(0.0, None, grayscale=False) is None  # no gamma at all
    assert png_profile(1.0, (0.3,) * 8, grayscale=False) is None  # every primary at one point
    assert png_profile(1.0, (0.3127, 0.0, 0.64, 0.33, 0.3, 0.6, 0.15, 0.06), grayscale=False) is None  # y of 0
    assert png_profile(None, ADOBE_RGB, grayscale=False) is not None  # primaries alone: a 2.2 curve assumed


def test_matrix_maps_white_to_d50_and_refuses_no_colour_space() -> None:
    assert np.allclose(rgb_to_xyz_d50(ADOBE_RGB) @ np.ones(3), [0.9642, 1.0, 0.8249], atol=1e-4)
    with pytest.raises(ValueError, match="one line"):
        rgb_to_xyz_d50((0.3127, 0.329, 0.2, 0.2, 0.3, 0.3, 0.4, 0.4))
    with pytest.raises(ValueError, match="out of range"):
        rgb_to_xyz_d50((0.3127, 0.329, 0.7, 0.31, 0.3, 0.6, 0.15, 0.06))  # x + y over 1: no colour


def test_display_p3_and_prophoto_primaries_give_their_profiles_matrices() -> None:
    # Their reds lie on x + y = 1 (z = 0), which was once refused: a PNG giving Display P3 by its cHRM chunk was then
    # taken as sRGB. Reference columns: Apple's Display P3 profile and ROMM RGB's (ISO 22028-2) D50 matrix.
    p3 = rgb_to_xyz_d50((0.3127, 0.3290, 0.680, 0.320, 0.265, 0.690, 0.150, 0.060))
    assert np.allclose(p3, [[0.5151, 0.2920, 0.1571], [0.2412, 0.6922, 0.0666], [-0.0011, 0.0419, 0.7841]], atol=2e-3)
    romm = rgb_to_xyz_d50((0.3457, 0.3585, 0.7347, 0.2653, 0.1596, 0.8404, 0.0366, 0.0001))
    assert np.allclose(romm, [[0.7977, 0.1352, 0.0313], [0.2880, 0.7119, 0.0001], [0.0, 0.0, 0.8249]], atol=2e-3)
    assert png_profile(0.45455, (0.3127, 0.3290, 0.680, 0.320, 0.265, 0.690, 0.150, 0.060), grayscale=False) is not None
