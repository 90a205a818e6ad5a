"""idc.deblur, the one-call Python API: any image type in, the same type out."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import idc
from idc.infer import deblur_tensor
from idc.io import to_uint
from idc.weights import save_weights
from tests.conftest import random_idc


@pytest.fixture(scope="module")
def model() -> idc.IDC:
    torch.manual_seed(0)
    return random_idc().eval()


def _photo(h: int = 30, w: int = 41, channels: int = 3) -> np.ndarray:
    return np.random.default_rng(0).integers(0, 256, (h, w, channels), dtype=np.uint8)


def test_numpy_uint8_matches_the_network_and_keeps_shape_and_dtype(model: idc.IDC) -> None:
    a = _photo()
    out = idc.deblur(a, model, precision="fp32")
    expected = to_uint(deblur_tensor(model, torch.from_numpy(a).permute(2, 0, 1).float() / 255))
    assert out.dtype == np.uint8 and out.shape == a.shape and np.array_equal(out, expected)
    assert not np.array_equal(out, a)  # a random network changes the image: the output is not the input


def test_other_numpy_types_and_alpha(model: idc.IDC) -> None:
    a8 = _photo(channels=4)
    out = idc.deblur(a8, model, precision="fp32")
    assert out.shape == a8.shape and np.array_equal(out[..., 3], a8[..., 3])  # alpha untouched
    assert np.array_equal(out[..., :3], idc.deblur(a8[..., :3].copy(), model, precision="fp32"))
    a16 = a8[..., :3].astype(np.uint16) * 257
    out16 = idc.deblur(a16, model, precision="fp32")
    assert out16.dtype == np.uint16 and np.abs(out16.astype(np.int32) // 257 - out[..., :3]).max() <= 1
    f = a8[..., :3].astype(np.float32) / 255
    outf = idc.deblur(f, model, precision="fp32")
    assert outf.dtype == np.float32 and np.abs(outf * 255 - out[..., :3]).max() <= 0.51


def test_pil_images_keep_their_mode(model: idc.IDC) -> None:
    rgb = Image.fromarray(_photo())
    out = idc.deblur(rgb, model, precision="fp32")
    assert isinstance(out, Image.Image) and out.mode == "RGB" and out.size == rgb.size
    assert np.array_equal(np.asarray(out), idc.deblur(_photo(), model, precision="fp32"))
    rgba = idc.deblur(Image.fromarray(_photo(channels=4), "RGBA"), model)
    assert rgba.mode == "RGBA" and np.array_equal(np.asarray(rgba)[..., 3], _photo(channels=4)[..., 3])
    with pytest.raises(ValueError, match="mode 'HSV' is not supported"):
        idc.deblur(rgb.convert("HSV"), model)


def test_a_camera_raw_file_opened_with_pillow_is_refused(model: idc.IDC, tmp_path: Path) -> None:
    # Pillow opens a NEF or DNG as the small preview its first image is; deblurring that would pass unnoticed.
    from tests.test_io import _raw_like

    _raw_like(tmp_path / "DSC_0001.tif", dng=False)
    advice = "reduced-resolution preview, as in camera raw files; develop the file with idc.io.read_image(path)"
    with Image.open(tmp_path / "DSC_0001.tif") as img, pytest.raises(ValueError, match=re.escape(advice)):
        idc.deblur(img, model)
    Image.fromarray(np.zeros((8, 12, 3), dtype=np.uint8)).save(tmp_path / "photo.tif")
    with Image.open(tmp_path / "photo.tif") as img:
        assert idc.deblur(img, model).size == (12, 8)  # a TIFF photo is deblurred as ever


def test_cmyk_images_come_back_as_cmyk(model: idc.IDC) -> None:
    # Deblurred in sRGB, converted through their profile as files are (idc.io.cmyk_to_srgb), and separated into inks
    # through it again (idc.io.srgb_to_cmyk), the profile kept; without one, by the plain formula both ways.
    from tests.colour import cmyk_profile, swapped_inks, swapped_separation

    profile = cmyk_profile(swapped_inks, separate=swapped_separation)
    for given in (profile, None):
        cmyk = Image.fromarray(_photo(channels=4), "CMYK")
        if given:
            cmyk.info["icc_profile"] = given
        out = idc.deblur(cmyk, model, precision="fp32")
        assert out.mode == "CMYK" and out.info.get("icc_profile") == given
        srgb = idc.io.cmyk_to_srgb(cmyk)
        sharp = Image.fromarray(idc.deblur(np.asarray(srgb), model, precision="fp32"))
        assert np.array_equal(np.asarray(out), np.asarray(idc.io.srgb_to_cmyk(sharp, given)[0]))
        assert given is None or not np.array_equal(np.asarray(srgb), np.asarray(cmyk.convert("RGB")))


def test_a_camera_jpeg_in_adobe_rgb_by_its_exif_comes_back_with_the_profile(model: idc.IDC, tmp_path: Path) -> None:
    # As idc deblur reads it (tests/test_io.py::test_a_camera_jpeg_that_says_adobe_rgb_in_its_exif_gets_the_profile).
    from idc.icc import adobe_rgb_profile
    from tests.test_io import _colour_space_exif

    Image.fromarray(_photo()).save(tmp_path / "adobe.jpg", exif=_colour_space_exif(0xFFFF, "R03"))
    Image.fromarray(_photo()).save(tmp_path / "srgb.jpg", exif=_colour_space_exif(1, "R98"))
    with Image.open(tmp_path / "adobe.jpg") as adobe, Image.open(tmp_path / "srgb.jpg") as srgb:
        assert idc.deblur(adobe, model).info.get("icc_profile") == adobe_rgb_profile()
        assert "icc_profile" not in idc.deblur(srgb, model).info


def test_gray_images_stay_gray(model: idc.IDC) -> None:
    # Three equal channels in, their mean out: the network's three outputs differ (colour noise in a gray photo).
    gray = _photo()[..., 0]
    three = idc.deblur(np.dstack([gray] * 3), model, precision="fp32")
    assert np.abs(three.astype(int).max(-1) - three.astype(int).min(-1)).max() > 0  # the noise a gray output drops
    out = idc.deblur(gray, model, precision="fp32")
    mean = deblur_tensor(model, torch.from_numpy(gray).float()[None].repeat(3, 1, 1) / 255).mean(0)
    assert out.shape == gray.shape and out.dtype == np.uint8 and np.array_equal(out, to_uint(mean[None])[..., 0])
    pil = Image.fromarray(gray)
    assert np.array_equal(np.asarray(idc.deblur(pil, model, precision="fp32")), out)
    assert idc.deblur(pil, model).mode == "L" and idc.deblur(pil.convert("1"), model).mode == "L"
    la = idc.deblur(Image.merge("LA", (pil, pil.point(lambda v: 255 - v))), model)
    assert la.mode == "LA" and np.array_equal(np.asarray(la)[..., 1], 255 - gray)
    deep = Image.fromarray(gray.astype(np.uint16) * 257)
    assert deep.mode == "I;16" and idc.deblur(deep, model).mode == "I;16"
    assert idc.deblur(gray.astype(np.float32) / 255, model).dtype == np.float32


def test_pil_images_are_deblurred_upright_with_their_metadata(model: idc.IDC, tmp_path: Path) -> None:
    # A phone photo stored sideways (EXIF orientation 6) comes back upright, as idc deblur writes it.
    from PIL import ImageCms, ImageOps

    icc = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    exif = Image.Exif()
    exif[0x0112], exif[0x010F] = 6, "PhoneCam"
    xmp = b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:Description tiff:Orientation="6" xmp:Rating="3"/></x:xmpmeta>'
    Image.fromarray(_photo()).save(tmp_path / "phone.jpg", exif=exif, xmp=xmp, icc_profile=icc, quality=95)
    opened = Image.open(tmp_path / "phone.jpg")
    out = idc.deblur(opened, model, precision="fp32")
    upright = ImageOps.exif_transpose(Image.open(tmp_path / "phone.jpg"))
    assert out.size == upright.size == (30, 41)
    assert np.array_equal(np.asarray(out), idc.deblur(np.asarray(upright), model, precision="fp32"))
    assert opened.size == (41, 30) and opened.getexif()[0x0112] == 6  # the caller's image is left as it was
    assert out.info["icc_profile"] == icc
    assert b"Orientation" not in out.info["xmp"] and b'xmp:Rating="3"' in out.info["xmp"]  # exif_transpose drops it
    carried = Image.Exif()
    carried.load(out.info["exif"])
    assert carried[0x010F] == "PhoneCam" and carried.get(0x0112, 1) == 1
    out.save(tmp_path / "sharp.jpg", exif=out.info["exif"], icc_profile=out.info["icc_profile"])
    with Image.open(tmp_path / "sharp.jpg") as saved:
        assert ImageOps.exif_transpose(saved).size == (30, 41) and saved.getexif()[0x010F] == "PhoneCam"


def test_tensors_single_and_batched(model: idc.IDC) -> None:
    x = torch.rand(2, 3, 24, 37, generator=torch.Generator().manual_seed(1))
    out = idc.deblur(x, model, precision="fp32")
    assert out.shape == x.shape and torch.allclose(out, deblur_tensor(model, x), atol=1e-6)
    assert torch.allclose(idc.deblur(x[1], model, precision="fp32"), out[1], atol=1e-6)
    assert idc.deblur(x.double(), model, precision="fp32").dtype == torch.float64


def test_weights_paths_and_tiles(model: idc.IDC, tmp_path: Path) -> None:
    weights = save_weights(model, tmp_path / "w")
    a = _photo(90, 120)
    from_path = idc.deblur(a, weights, device="cpu", precision="fp32")
    assert np.array_equal(from_path, idc.deblur(a, model, precision="fp32"))
    tiled = idc.deblur(a, model, tile=64, overlap=32, precision="fp32")
    assert tiled.shape == a.shape and np.abs(tiled.astype(int) - from_path.astype(int)).mean() < 8


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        (np.zeros((4, 5, 2), np.uint8), r"must be \(H, W, 3\), \(H, W, 4\) or \(H, W\)"),
        (np.zeros((4, 5, 3), np.int32), "dtype must be uint8, uint16 or float"),
        (torch.zeros(1, 4, 5, 6), r"must be floating point \(3, H, W\)"),
        (torch.zeros(3, 4, 5, dtype=torch.uint8), "must be floating point"),
        ([[0, 1]], "cannot deblur a list"),
        ("photo.jpg", r"cannot deblur the path 'photo.jpg': pass the image, e.g. idc.deblur\(PIL.Image.open"),
        (Path("a/b.png"), "cannot deblur the path 'a/b.png'"),
    ],
)
def test_bad_inputs_are_clear_errors(model: idc.IDC, bad: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        idc.deblur(bad, model)  # type: ignore[call-overload]


def test_bundled_default_is_loaded_once_per_device() -> None:
    from idc.infer import _default_models

    a = _photo(20, 28)
    out = idc.deblur(a, device="cpu")
    assert out.shape == a.shape and out.dtype == np.uint8
    kept = _default_models["cpu"]
    idc.deblur(a, device="cpu")
    assert _default_models["cpu"] is kept


def test_auto_precision_is_the_machines_fast_one_and_close_to_fp32(
    model: idc.IDC, monkeypatch: pytest.MonkeyPatch
) -> None:
    from idc.infer import fast_precision

    cpu = torch.device("cpu")
    monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda: True)
    assert fast_precision(cpu) == "bf16"
    monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda: False)
    monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda: False)
    assert fast_precision(cpu) == "fp32"
    monkeypatch.undo()
    a = _photo()
    auto = idc.deblur(a, model)
    assert np.array_equal(auto, idc.deblur(a, model, precision=fast_precision(cpu)))
    diff = np.abs(auto.astype(int) - idc.deblur(a, model, precision="fp32").astype(int))
    assert diff.mean() < 1 and diff.max() <= 4  # bf16 rounding of a random network, in uint8 levels


def test_a_network_cast_to_a_low_precision_runs_whole_and_tiled(model: idc.IDC) -> None:
    """What `idc deblur` runs on CUDA (a network cast to fp16), with the dtype this CPU has (bf16): same paths."""
    import copy

    from idc.infer import cast_for_speed, deblur_image

    assert cast_for_speed(model, "fp16") is model and next(model.parameters()).dtype == torch.float32  # CPU: as is
    low = copy.deepcopy(model).to(torch.bfloat16)
    x = torch.from_numpy(_photo(90, 120)).permute(2, 0, 1).float() / 255
    for tile in (0, 64):
        out = deblur_image(low, x, tile=tile, overlap=32)
        assert out.dtype == torch.float32 and out.shape == x.shape
        assert (out - deblur_image(model, x, tile=tile, overlap=32)).abs().mean() < 0.01  # bf16: steps of 1/256


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_fp16_on_cuda_casts_the_loaded_network_and_stays_close(model: idc.IDC, tmp_path: Path) -> None:
    from idc.infer import _model_for

    weights = save_weights(model, tmp_path / "w")
    net, precision = _model_for(weights, "cuda", "auto")
    if precision != "fp16":
        pytest.skip("this GPU has no tensor cores: auto is fp32")
    assert next(net.parameters()).dtype == torch.float16  # type: ignore[union-attr]
    a = _photo(90, 120)
    diff = np.abs(
        idc.deblur(a, weights, device="cuda").astype(int) - idc.deblur(a, model, precision="fp32").astype(int)
    )
    assert diff.mean() < 1 and diff.max() <= 4
    assert next(model.parameters()).dtype == torch.float32  # a model passed in is never cast


def test_strength_blends_the_input_and_the_output(model: idc.IDC) -> None:
    from idc.infer import apply_strength, deblur_image

    image = torch.rand(3, 20, 28)
    full = deblur_image(model, image, tile=0)
    assert not torch.allclose(full, image, atol=0.01)  # the random network changes the image
    assert torch.equal(deblur_image(model, image, tile=0, strength=1.0), full)
    assert torch.equal(deblur_image(model, image, tile=0, strength=0.0), image)  # nothing of the network's change
    half = deblur_image(model, image, tile=0, strength=0.5)
    assert torch.allclose(half, (image + full) / 2, atol=1e-6)
    more = deblur_image(model, image, tile=0, strength=1.5)  # the change enlarged, clipped to [0, 1]
    assert torch.allclose(more, (image + 1.5 * (full - image)).clamp(0, 1), atol=1e-6) and float(more.max()) <= 1
    # With the self-ensemble and tiles too, and through the one-call API in every type it takes.
    mean = deblur_image(model, image, tile=16, overlap=4, ensemble=2)
    assert torch.allclose(deblur_image(model, image, tile=16, overlap=4, ensemble=2, strength=0.25),
                          apply_strength(image, mean, 0.25), atol=1e-6)  # fmt: skip
    photo = (image.permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)
    assert np.array_equal(idc.deblur(photo, model, precision="fp32", strength=0.0), photo)
    assert np.array_equal(np.asarray(idc.deblur(Image.fromarray(photo), model, precision="fp32", strength=0)), photo)
    for bad in (-0.1, 2.5, float("nan")):
        with pytest.raises(ValueError, match="strength must be between 0 and 2"):
            idc.deblur(photo, model, strength=bad)


def test_lab_images_come_back_as_lab(model: idc.IDC) -> None:
    lab = Image.fromarray(_photo()).convert("LAB")
    out = idc.deblur(lab, model, precision="fp32")
    assert out.mode == "LAB" and out.size == lab.size
    expected = idc.deblur(lab.convert("RGB"), model, precision="fp32").convert("LAB")
    assert np.array_equal(np.asarray(out), np.asarray(expected))
