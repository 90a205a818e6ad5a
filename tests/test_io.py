from __future__ import annotations

import functools
import inspect
import json
import logging
import re
import struct
import subprocess
import sys
import zlib
from io import BytesIO
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import tifffile
import torch
from PIL import Image, ImageOps, PngImagePlugin, UnidentifiedImageError

import idc.io as idc_io
from idc.io import (
    ImageReadError,
    avif_available,
    heif_available,
    image_size,
    missing_support,
    read_image,
    sniff_container,
    write_image,
    write_like,
)
from tests.conftest import run_without_imagecodecs


def _array(h: int = 6, w: int = 9, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)


@pytest.mark.parametrize("ext", ["png", "tif"])
def test_16bit_round_trip_is_exact(tmp_path: Path, ext: str) -> None:
    a = np.random.default_rng(1).integers(0, 65536, (5, 7, 3), dtype=np.uint16)
    rgb = torch.from_numpy(a.astype(np.float32) / 65535).permute(2, 0, 1)
    write_image(tmp_path / f"x.{ext}", rgb, bit_depth=16)
    back = read_image(tmp_path / f"x.{ext}")
    assert back.bit_depth == 16
    assert np.array_equal((back.rgb.permute(1, 2, 0).numpy() * 65535).round().astype(np.uint16), a)


def _png16(path: Path, samples: np.ndarray, colour_type: int, trns: bytes | None = None) -> None:
    """A 16-bit PNG written by hand (no library writes 16-bit grayscale with alpha): rows unfiltered, big-endian."""
    from idc.io import _png_chunk

    h, w = samples.shape[:2]
    rows = b"".join(b"\0" + samples[y].astype(">u2").tobytes() for y in range(h))
    header = _png_chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 16, colour_type, 0, 0, 0))
    extra = _png_chunk(b"tRNS", trns) if trns else b""
    body = _png_chunk(b"IDAT", zlib.compress(rows)) + _png_chunk(b"IEND", b"")
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + header + extra + body)


def test_16bit_grayscale_with_alpha_png_is_read_at_16_bits(tmp_path: Path) -> None:
    gray_alpha = np.random.default_rng(5).integers(0, 65536, (6, 5, 2), dtype=np.uint16)
    _png16(tmp_path / "la16.png", gray_alpha, colour_type=4)
    back = read_image(tmp_path / "la16.png")
    assert back.bit_depth == 16 and back.alpha is not None
    assert all(np.array_equal(_as_uint16(back.rgb[c]), gray_alpha[..., 0]) for c in range(3))
    assert np.array_equal(_as_uint16(back.alpha), gray_alpha[..., 1])


@pytest.mark.parametrize("kind", ["L", "RGB", "L;16", "RGB;16"])
def test_a_png_transparent_colour_becomes_alpha(tmp_path: Path, kind: str) -> None:
    # PNG's tRNS chunk names one gray level or colour as transparent, instead of an alpha channel.
    rgb = kind.startswith("RGB")
    samples = np.random.default_rng(6).integers(1, 200, (4, 6, 3 if rgb else 1), dtype=np.uint8)
    samples[1, 2] = samples[3, 0] = 0
    path = tmp_path / "keyed.png"
    if kind.endswith(";16"):
        wide = samples.astype(np.uint16) * 257
        _png16(
            path,
            wide if rgb else wide[..., 0],
            2 if rgb else 0,
            struct.pack(">HHH" if rgb else ">H", *[0] * (3 if rgb else 1)),
        )
    else:
        Image.fromarray(samples if rgb else samples[..., 0]).save(path, transparency=(0, 0, 0) if rgb else 0)
    back = read_image(path)
    expected = np.ones((4, 6), np.float32)
    expected[1, 2] = expected[3, 0] = 0
    assert back.alpha is not None and np.array_equal(back.alpha.numpy(), expected)
    assert back.bit_depth == (16 if kind.endswith(";16") else 8)
    # Written with its alpha, the transparent pixels stay transparent.
    write_image(tmp_path / "out.png", back.rgb, back.bit_depth, alpha=back.alpha)
    again = read_image(tmp_path / "out.png").alpha
    assert again is not None and torch.equal(again, back.alpha)


def test_16bit_grayscale_is_read_as_16bit(tmp_path: Path) -> None:
    g = np.random.default_rng(2).integers(0, 65536, (4, 5), dtype=np.uint16)
    Image.fromarray(g).save(tmp_path / "g.png")
    img = read_image(tmp_path / "g.png")
    assert img.bit_depth == 16 and img.rgb.shape == (3, 4, 5)
    assert torch.allclose(img.rgb[1], torch.from_numpy(g.astype(np.float32) / 65535))


@pytest.mark.parametrize("orientation", range(1, 9))
def test_exif_orientation_matches_pillow(tmp_path: Path, orientation: int) -> None:
    im = Image.fromarray(_array())
    exif = im.getexif()
    exif[274] = orientation
    im.save(tmp_path / "o.jpg", exif=exif, quality=100)
    ref = np.asarray(ImageOps.exif_transpose(Image.open(tmp_path / "o.jpg")).convert("RGB"), np.float32) / 255
    got = read_image(tmp_path / "o.jpg").rgb.permute(1, 2, 0).numpy()
    assert got.shape == ref.shape and np.abs(got - ref).max() < 1e-6


@pytest.mark.parametrize(
    ("mode", "ext", "has_alpha"),
    [
        ("L", "png", False),
        ("P", "png", False),
        ("RGBA", "png", True),
        ("CMYK", "tif", False),
        ("LA", "png", True),
        ("RGB", "webp", False),
    ],
)
def test_modes_become_rgb(tmp_path: Path, mode: str, ext: str, has_alpha: bool) -> None:
    Image.fromarray(_array()).convert(mode).save(tmp_path / f"m.{ext}")
    img = read_image(tmp_path / f"m.{ext}")
    assert img.rgb.shape == (3, 6, 9) and img.rgb.dtype == torch.float32
    assert (img.alpha is not None) == has_alpha and img.bit_depth == 8


def test_alpha_is_written_back(tmp_path: Path) -> None:
    rgba = np.dstack([_array(), np.full((6, 9), 77, np.uint8)])
    Image.fromarray(rgba, "RGBA").save(tmp_path / "a.png")
    img = read_image(tmp_path / "a.png")
    write_image(tmp_path / "b.png", img.rgb, alpha=img.alpha)
    assert np.array_equal(np.asarray(Image.open(tmp_path / "b.png")), rgba)


def test_bad_files_raise_errors_naming_the_file(tmp_path: Path) -> None:
    (tmp_path / "empty.png").write_bytes(b"")
    (tmp_path / "text.jpg").write_text("hello, not an image")
    Image.fromarray(_array(64, 64)).save(tmp_path / "full.png")
    (tmp_path / "cut.png").write_bytes((tmp_path / "full.png").read_bytes()[:200])
    for name in ("empty.png", "text.jpg", "cut.png", "missing.png"):
        with pytest.raises(ImageReadError, match=name):
            read_image(tmp_path / name)


def test_write_is_atomic_and_leaves_no_temporary_files(tmp_path: Path) -> None:
    write_image(tmp_path / "x.jpg", torch.rand(3, 8, 8))
    assert [p.name for p in tmp_path.iterdir()] == ["x.jpg"]
    with pytest.raises(ValueError, match="unsupported output extension"):
        write_image(tmp_path / "x.bmp", torch.rand(3, 8, 8))


def test_outputs_get_normal_permissions(tmp_path: Path) -> None:
    import os

    umask = os.umask(0o022)
    try:
        write_image(tmp_path / "x.png", torch.rand(3, 4, 4))
        assert (tmp_path / "x.png").stat().st_mode & 0o777 == 0o644
    finally:
        os.umask(umask)


def test_pixel_limit_refuses_large_images(tmp_path: Path) -> None:
    from idc import io

    Image.fromarray(_array(20, 30)).save(tmp_path / "big.png")
    pillow_limit = Image.MAX_IMAGE_PIXELS
    try:
        io.set_max_pixels(500)
        with pytest.raises(ImageReadError, match=r"big\.png: 30x20 is 600 pixels, over the limit of 500"):
            read_image(tmp_path / "big.png")
        io.set_max_pixels(600)
        assert read_image(tmp_path / "big.png").rgb.shape == (3, 20, 30)
    finally:
        io.set_max_pixels(io.DEFAULT_MAX_PIXELS)
        Image.MAX_IMAGE_PIXELS = pillow_limit
    with pytest.raises(ValueError, match="positive"):
        io.set_max_pixels(0)


@pytest.mark.parametrize("orientation", [2, 3, 4, 5, 7])
def test_one_pixel_high_images_with_flips(tmp_path: Path, orientation: int) -> None:
    # Found by benchmarks/fuzz.py: a flip of a size-1 axis left a negative stride that torch refused.
    rgba = np.random.default_rng(0).integers(0, 256, (1, 7, 4), dtype=np.uint8)
    im = Image.fromarray(rgba, "RGBA")
    exif = im.getexif()
    exif[274] = orientation
    im.save(tmp_path / "thin.png", exif=exif)
    img = read_image(tmp_path / "thin.png")
    assert img.rgb.shape in {(3, 1, 7), (3, 7, 1)} and img.alpha is not None


@functools.cache
def _profile(space: str = "sRGB") -> bytes:
    """An ICC profile; made once, as its header holds the second it was made (two calls could differ)."""
    from PIL import ImageCms

    return ImageCms.ImageCmsProfile(ImageCms.createProfile(space)).tobytes()


def _exif(orientation: int) -> bytes:
    exif = Image.Exif()
    exif[0x0112] = orientation
    exif[0x010F] = "TestCam"  # Make
    exif[0x0132] = "2026:11:26 12:00:00"  # DateTime
    return exif.tobytes()


@pytest.mark.parametrize(("ext", "depth"), [("png", 8), ("jpg", 8), ("webp", 8), ("tif", 8), ("png", 16), ("tif", 16)])
def test_colour_profile_and_exif_are_carried_over(tmp_path: Path, ext: str, depth: int) -> None:
    icc = _profile()
    source = tmp_path / f"in.{ext}"
    Image.fromarray(_array(6, 9)).save(source, icc_profile=icc, exif=_exif(6))  # stored sideways, 6: rotate
    loaded = read_image(source)
    assert loaded.icc == icc and loaded.rgb.shape == (3, 9, 6)
    carried = Image.Exif()
    carried.load(loaded.exif or b"")
    assert carried[0x010F] == "TestCam" and 256 not in carried  # a TIFF's layout tags are not carried
    target = tmp_path / f"out.{ext}"
    write_image(target, loaded.rgb, depth, icc=loaded.icc, exif=loaded.exif)
    with Image.open(target) as out:
        exif = out.getexif()
        assert out.info.get("icc_profile") == icc
        assert exif[0x010F] == "TestCam" and exif[0x0132] == "2026:11:26 12:00:00"
        assert exif.get(0x0112, 1) == 1  # the pixels are upright now: no viewer may rotate them again
        assert ImageOps.exif_transpose(out).size == (6, 9)
    again = read_image(target)
    assert again.bit_depth == depth and again.icc == icc and again.rgb.shape == (3, 9, 6)
    if ext in {"png", "tif"}:
        assert torch.allclose(again.rgb, loaded.rgb, atol=0.5 / 255)  # the pixels survive the added chunks


def _camera_exif() -> bytes:
    """EXIF as a camera writes it: IFD0 tags, an EXIF sub-IFD (exposure, date taken) and a GPS sub-IFD."""
    exif = Image.Exif()
    exif[0x010F] = "TestCam"  # Make
    exif[0x0112] = 1  # Orientation
    exif.get_ifd(0x8769).update({0x829A: 0.004, 0x9003: "2026:11:28 09:30:00"})  # ExposureTime, DateTimeOriginal
    exif.get_ifd(0x8769)[0xA005] = {1: "R98", 2: b"0100"}  # the interoperability IFD, nested in the EXIF IFD
    exif.get_ifd(0x8825).update({1: "N", 2: (52.0, 30.0, 1.5)})  # GPSLatitudeRef, GPSLatitude
    return exif.tobytes()


@pytest.mark.parametrize(("depth", "alpha"), [(8, False), (8, True), (16, False), (16, True)])
def test_tiff_is_written_compressed_with_all_metadata_and_decoded_alike_by_other_readers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, depth: int, alpha: bool
) -> None:
    monkeypatch.setattr(idc_io, "TIFF_STRIP_BYTES", 500)  # many strips, the last one short
    dtype = np.uint8 if depth == 8 else np.uint16
    samples = np.random.default_rng(depth).integers(0, 2**depth, (37, 23, 4 if alpha else 3), dtype=dtype)
    planes = torch.from_numpy(samples.astype(np.float32) / (2**depth - 1)).permute(2, 0, 1)
    target = tmp_path / "out.tif"
    write_image(
        target, planes[:3], depth, alpha=planes[3] if alpha else None, icc=_profile(), exif=_camera_exif(), xmp=XMP
    )
    with tifffile.TiffFile(target) as tif:  # a strict reader of its own, not libtiff
        page = tif.pages[0]
        assert page.compression == 8 and page.predictor == 2 and len(page.dataoffsets) > 3
        assert page.extrasamples == ((2,) if alpha else ())  # unassociated (straight) alpha, as the input's
        assert np.array_equal(page.asarray(), samples)
        assert page.tags[34665].value["DateTimeOriginal"] == "2026:11:28 09:30:00"
        assert page.tags[34853].value["GPSLatitudeRef"] == "N"
    back = read_image(target)  # Pillow for 8 bits, OpenCV (libtiff) for 16
    assert back.bit_depth == depth and back.icc == _profile() and back.xmp == XMP
    assert torch.equal(back.rgb, planes[:3]) and (back.alpha is None) != alpha
    assert back.alpha is None or torch.equal(back.alpha, planes[3])
    exif = Image.Exif()
    exif.load(back.exif or b"")
    assert exif[0x010F] == "TestCam" and 700 not in exif  # the XMP goes on its own, not inside the EXIF
    assert exif.get_ifd(0x8769)[0x9003] == "2026:11:28 09:30:00" and exif.get_ifd(0x8825)[2] == (52.0, 30.0, 1.5)
    assert exif.get_ifd(0xA005) == {1: "R98", 2: b"0100"}  # moved with the EXIF IFD, not left pointing elsewhere


def test_tiff_writer_refuses_what_a_tiff_cannot_hold(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ValueError, match="uint8 or uint16"):
        idc_io.write_tiff(tmp_path / "f.tif", np.zeros((4, 4, 3), dtype=np.float32))
    monkeypatch.setattr(idc_io, "_TIFF_MAX_BYTES", 1000)  # as a 4 GiB image would be
    with pytest.raises(ValueError, match=r"out\.tif: 50x40 is too large for a TIFF file"):
        write_image(tmp_path / "out.tif", torch.rand(3, 40, 50))
    assert list(tmp_path.iterdir()) == []  # nothing half-written is left


def test_exif_a_tiff_cannot_hold_is_left_out_not_the_image(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    # Make "C", then XResolution (a RATIONAL in TIFF's table) stored as text: readable, not writable as a TIFF tag.
    entries = struct.pack("<HHI4s", 271, 2, 2, b"C\0\0\0") + struct.pack("<HHI4s", 282, 2, 2, b"x\0\0\0")
    exif = b"Exif\0\0II*\0" + struct.pack("<IH", 8, 2) + entries + struct.pack("<I", 0)
    rgb = torch.rand(3, 5, 4)
    with caplog.at_level(logging.INFO, logger="idc.io"):
        write_image(tmp_path / "out.tif", rgb, 16, exif=exif, xmp=XMP_UPRIGHT)
    assert "out.tif: EXIF left out of the TIFF, it could not be written" in caplog.text
    back, left = read_image(tmp_path / "out.tif"), Image.Exif()
    left.load(back.exif or b"")
    assert 271 not in left and back.xmp == XMP_UPRIGHT and back.rgb.shape == (3, 5, 4)


def _planes(seed: int, h: int = 9, w: int = 7, channels: int = 3) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 65536, (h, w, channels), dtype=np.uint16)


def _as_uint16(t: torch.Tensor) -> np.ndarray:
    return (t.numpy() * 65535).round().astype(np.uint16)


@pytest.mark.parametrize("channels", [3, 4])
def test_16bit_tiff_with_separate_colour_planes_is_read_exactly(tmp_path: Path, channels: int) -> None:
    # Photoshop's "per channel" pixel order: OpenCV silently mixes the planes up; tifffile decodes them.
    samples = _planes(channels, channels=channels)
    extra = {"extrasamples": ["unassalpha"]} if channels == 4 else {}
    tifffile.imwrite(
        tmp_path / "planar.tif",
        np.moveaxis(samples, -1, 0),
        photometric="rgb",
        planarconfig="separate",
        compression="zlib",
        **extra,
    )
    back = read_image(tmp_path / "planar.tif")
    assert back.bit_depth == 16 and np.array_equal(_as_uint16(back.rgb.permute(1, 2, 0)), samples[..., :3])
    assert (back.alpha is None) == (channels == 3)
    assert back.alpha is None or np.array_equal(_as_uint16(back.alpha), samples[..., 3])


@pytest.mark.parametrize("orientation", range(1, 9))
def test_16bit_colour_tiff_is_turned_by_its_orientation_once(tmp_path: Path, orientation: int) -> None:
    # OpenCV 5 turns TIFFs by their orientation tag itself (2-4) or fails (5-8): read without it, turned here once.
    samples = _planes(orientation, h=5, w=3)
    tifffile.imwrite(tmp_path / "o.tif", samples, photometric="rgb", extratags=[(274, "H", 1, orientation, True)])
    expected = np.asarray(ImageOps.exif_transpose(_exif_image(samples[..., 0], orientation)))
    back = read_image(tmp_path / "o.tif")
    assert back.bit_depth == 16 and np.array_equal(_as_uint16(back.rgb[0]), expected)


@pytest.mark.parametrize("orientation", range(1, 9))
def test_16bit_colour_png_is_turned_by_its_orientation_once(tmp_path: Path, orientation: int) -> None:
    # OpenCV decodes 16-bit colour PNGs; were it to apply their EXIF orientation as it does TIFF's, they would turn
    # twice.
    from idc.io import _add_png_metadata

    samples = _planes(orientation, h=5, w=3)
    write_image(tmp_path / "o.png", torch.from_numpy(samples / 65535).permute(2, 0, 1), 16)
    _add_png_metadata(str(tmp_path / "o.png"), None, _exif(orientation))
    expected = np.asarray(ImageOps.exif_transpose(_exif_image(samples[..., 0], orientation)))
    back = read_image(tmp_path / "o.png")
    assert back.bit_depth == 16 and np.array_equal(_as_uint16(back.rgb[0]), expected)


def _exif_image(plane: np.ndarray, orientation: int) -> Image.Image:
    img = Image.fromarray(plane)
    img.getexif()[0x0112] = orientation
    return img


def test_16bit_tiff_in_a_compression_tifffile_needs_imagecodecs_for_is_read_by_opencv(tmp_path: Path) -> None:
    import cv2

    samples = _planes(9)
    assert cv2.imwrite(str(tmp_path / "lzw.tif"), samples[..., ::-1].copy())  # OpenCV writes LZW
    with tifffile.TiffFile(tmp_path / "lzw.tif") as tif:
        assert tif.pages.first.compression == 5
    back = read_image(tmp_path / "lzw.tif")
    assert back.bit_depth == 16 and np.array_equal(_as_uint16(back.rgb.permute(1, 2, 0)), samples)
    # The same without imagecodecs (the dev extras install it, for JPEG XL): through OpenCV, the same samples.
    np.save(tmp_path / "samples.npy", samples)
    run_without_imagecodecs(
        "import numpy as np, torch\n"
        "from idc.io import read_image\n"
        f"back = read_image({str(tmp_path / 'lzw.tif')!r})\n"
        "codes = (back.rgb.permute(1, 2, 0).numpy() * 65535).round().astype(np.uint16)\n"
        f"assert back.bit_depth == 16 and np.array_equal(codes, np.load({str(tmp_path / 'samples.npy')!r}))\n"
    )


@pytest.mark.parametrize("planar", [False, True])
def test_16bit_premultiplied_alpha_is_divided_out(tmp_path: Path, planar: bool) -> None:
    straight = np.random.default_rng(3).random((6, 8, 3))
    alpha = np.linspace(0.2, 1.0, 48).reshape(6, 8)
    alpha[0, 0] = 0.0  # fully transparent: no colour to recover, black
    stored = np.dstack([straight * alpha[..., None], alpha])
    samples = (stored * 65535).round().astype(np.uint16)
    data = np.moveaxis(samples, -1, 0) if planar else samples
    layout = {"planarconfig": "separate"} if planar else {}
    tifffile.imwrite(tmp_path / "a.tif", data, photometric="rgb", extrasamples=["assocalpha"], **layout)
    back = read_image(tmp_path / "a.tif")
    assert back.alpha is not None and np.allclose(back.alpha.numpy(), alpha, atol=1 / 65535)
    rgb = back.rgb.permute(1, 2, 0).numpy()
    assert np.abs(rgb - straight)[alpha > 0].max() < 1e-3 and (rgb[0, 0] == 0).all()


def test_16bit_grayscale_with_alpha_which_pillow_cannot_open_is_read_upright_with_its_metadata(
    tmp_path: Path,
) -> None:
    gray_alpha = _planes(4, channels=2)
    tags = [(271, "s", 0, "TestCam", True), (274, "H", 1, 6, True), (700, "B", len(XMP), XMP, True)]
    tifffile.imwrite(
        tmp_path / "la16.tif", gray_alpha, photometric="minisblack", extrasamples=["unassalpha"], extratags=tags
    )
    with pytest.raises(UnidentifiedImageError):
        Image.open(tmp_path / "la16.tif")
    assert image_size(tmp_path / "la16.tif") == (9, 7)  # (width, height) upright, from the header
    back = read_image(tmp_path / "la16.tif")
    turned = np.rot90(gray_alpha, -1)  # orientation 6: turned clockwise to stand upright
    assert back.bit_depth == 16 and back.rgb.shape == (3, 7, 9) and back.alpha is not None
    assert all(np.array_equal(_as_uint16(back.rgb[c]), turned[..., 0]) for c in range(3))
    assert np.array_equal(_as_uint16(back.alpha), turned[..., 1])
    assert back.xmp == XMP_UPRIGHT
    exif = Image.Exif()
    exif.load(back.exif or b"")
    assert exif[0x010F] == "TestCam" and exif.get(0x0112, 1) == 1 and 256 not in exif
    # With an EXIF sub-IFD (exposure, as cameras write it): read while the file is open, so neither it nor the rest
    # of the EXIF is lost (until 2026-11-28 Pillow was asked for it after the file had closed, and all was dropped).
    camera = Image.Exif()
    camera[0x010F] = "TestCam"
    camera.get_ifd(0x8769)[0x829A] = 0.004  # ExposureTime
    write_image(tmp_path / "exposed.tif", back.rgb, 16, back.alpha, exif=camera.tobytes(), grayscale=True)
    again = Image.Exif()
    again.load(read_image(tmp_path / "exposed.tif").exif or b"")
    assert again[0x010F] == "TestCam" and again.get_ifd(0x8769)[0x829A] == 0.004


def test_16bit_grayscale_tiff_with_alpha_and_another_extra_sample_keeps_gray_and_alpha(tmp_path: Path) -> None:
    samples = _planes(8, channels=3)  # gray, alpha, and a sample of no stated meaning
    tifffile.imwrite(
        tmp_path / "g.tif",
        samples,
        photometric="minisblack",
        planarconfig="contig",
        extrasamples=["unassalpha", "unspecified"],
    )
    back = read_image(tmp_path / "g.tif")
    assert back.bit_depth == 16 and back.alpha is not None and np.array_equal(_as_uint16(back.alpha), samples[..., 1])
    assert all(np.array_equal(_as_uint16(back.rgb[c]), samples[..., 0]) for c in range(3))


def test_16bit_grayscale_stored_white_is_zero_is_not_inverted(tmp_path: Path) -> None:
    g = np.array([[0, 1000], [30000, 65535]], np.uint16)
    tifffile.imwrite(tmp_path / "white-is-zero.tif", g, photometric="miniswhite")
    back = read_image(tmp_path / "white-is-zero.tif")
    assert back.bit_depth == 16 and np.array_equal(_as_uint16(back.rgb[0]), 65535 - g)


@pytest.mark.parametrize(
    ("data", "options", "message"),
    [
        (np.zeros((4, 4, 3), np.float32), {"photometric": "rgb"}, "32-bit floating-point samples (an HDR"),
        (np.zeros((4, 4, 3), np.float16), {"photometric": "rgb"}, "16-bit floating-point samples"),
        (np.zeros((4, 4, 3), np.uint32), {"photometric": "rgb"}, "32-bit samples are not supported"),
        (np.zeros((4, 4, 4), np.uint16), {"photometric": "separated"}, "a 16-bit CMYK TIFF is not supported"),
    ],
)
def test_tiffs_of_samples_not_supported_are_refused_by_name(
    tmp_path: Path, data: np.ndarray, options: dict[str, str], message: str
) -> None:
    tifffile.imwrite(tmp_path / "odd.tif", data, **options)
    with pytest.raises(ImageReadError, match=re.escape(f"odd.tif: {message}")):
        read_image(tmp_path / "odd.tif")


def _raw_like(path: Path, dng: bool) -> None:
    """What NEF, CR2, ARW and DNG files are: a TIFF whose first image is a small RGB preview marked as reduced
    resolution, with the sensor's colour-filter-array data in a sub-image (and, in a DNG, a DNGVersion tag)."""
    rng = np.random.default_rng(0)
    with tifffile.TiffWriter(path) as tif:
        extratags = [(50706, 1, 4, (1, 4, 0, 0), True)] if dng else []
        tif.write(rng.integers(0, 256, (24, 36, 3), dtype=np.uint8), photometric="rgb", subfiletype=1, subifds=1,
                  extratags=extratags)  # fmt: skip
        tif.write(rng.integers(0, 4096, (96, 144), dtype=np.uint16), photometric=32803)


def test_camera_raw_files_are_refused_by_name_not_read_as_their_preview(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Without rawpy to develop them (tests/test_raw.py develops them with it).
    monkeypatch.setitem(sys.modules, "rawpy", None)
    advice = idc_io.INSTALL_ADVICE
    # Named as cameras name them: refused whatever they hold (a CR3 or RAF is not even a TIFF).
    _raw_like(tmp_path / "DSC_0001.NEF", dng=False)
    (tmp_path / "IMG_0002.CR3").write_bytes(b"\0\0\0\x18ftypcrx \0\0\0\x01crx isom" + bytes(64))
    for name, kind in (("DSC_0001.NEF", "NEF"), ("IMG_0002.CR3", "CR3")):
        with pytest.raises(ImageReadError, match=re.escape(f"{name}: a camera raw file ({kind}); {advice}")):
            read_image(tmp_path / name)
    # Renamed (or piped in): known by what the file says of its first image, not read as that small preview.
    _raw_like(tmp_path / "renamed.tif", dng=False)
    _raw_like(tmp_path / "renamed_dng.tif", dng=True)
    for name, problem in (
        ("renamed.tif", "its first image is a reduced-resolution preview, as in camera raw files"),
        ("renamed_dng.tif", "a DNG camera raw file"),
    ):
        with pytest.raises(ImageReadError, match=re.escape(f"{name}: {problem}; {advice}")):
            read_image(tmp_path / name)
    for bits in (8, 16):  # sensor data in the first image itself (Pillow refuses it, tifffile would decode it)
        sensor = np.zeros((8, 12), dtype=np.uint8 if bits == 8 else np.uint16)
        tifffile.imwrite(tmp_path / f"cfa{bits}.tif", sensor, photometric=32803)
        with pytest.raises(ImageReadError, match=re.escape(f"cfa{bits}.tif: camera sensor data (colour-filter-array)")):
            read_image(tmp_path / f"cfa{bits}.tif")
    # A TIFF of several full images is still read (its first page), and the command reports the raw file in a line.
    tifffile.imwrite(tmp_path / "pages.tif", np.zeros((2, 8, 12, 3), dtype=np.uint8), photometric="rgb")
    assert tuple(read_image(tmp_path / "pages.tif").rgb.shape) == (3, 8, 12)
    from idc.cli import main
    from idc.weights import save_weights
    from tests.conftest import random_idc

    weights, out = save_weights(random_idc(), tmp_path / "w"), tmp_path / "out"
    assert main(["deblur", str(tmp_path / "renamed.tif"), "-o", str(out), "--weights", str(weights)]) == 1
    assert "renamed.tif: its first image is a reduced-resolution preview" in capsys.readouterr().err
    assert not out.exists() or not any(out.iterdir())


def test_a_tiff_compression_needing_another_package_is_named(tmp_path: Path) -> None:
    tifffile.imwrite(tmp_path / "p.tif", np.zeros((3, 4, 5), np.uint16), photometric="rgb", planarconfig="separate")
    data = bytearray((tmp_path / "p.tif").read_bytes())
    with tifffile.TiffFile(tmp_path / "p.tif") as tif:
        where = tif.pages.first.tags[259].valueoffset
    data[where : where + 2] = (5).to_bytes(2, "little")  # now says LZW, which tifffile decodes with imagecodecs
    (tmp_path / "p.tif").write_bytes(bytes(data))
    with pytest.raises(ImageReadError, match=r"p\.tif: could not decode this TIFF \(") as error:
        read_image(tmp_path / "p.tif")
    assert "\n" not in str(error.value)
    # Without imagecodecs (with it, the made-up LZW data fails to decode instead), the message says to install it.
    run_without_imagecodecs(
        "import pytest\n"
        "from idc.io import ImageReadError, read_image\n"
        "with pytest.raises(ImageReadError, match=r'could not decode this TIFF .*: pip install imagecodecs adds it'):\n"
        f"    read_image({str(tmp_path / 'p.tif')!r})\n"
    )


def _gray_profile() -> bytes:
    """Bytes that say "gray ICC profile" where readers look (header bytes 16-19): carried as they are, never parsed."""
    profile = bytearray(_profile())
    profile[16:20] = b"GRAY"
    return bytes(profile)


def _gray_file(path: Path, kind: str, gray: np.ndarray, alpha: np.ndarray) -> None:
    """``gray`` and ``alpha`` (uint8) stored as ``kind``: a Pillow mode, or a 16-bit layout no library writes."""
    if kind == "I;16":
        Image.fromarray(gray.astype(np.uint16) * 257).save(path)
    elif kind == "LA;16" and path.suffix == ".png":
        _png16(path, np.dstack([gray, alpha]).astype(np.uint16) * 257, colour_type=4)
    elif kind.endswith(";16"):
        planes = [gray] if kind == "L;16" else [gray, alpha]
        extra = {"extrasamples": ["unassalpha"]} if kind == "LA;16" else {}
        tifffile.imwrite(path, np.dstack(planes).astype(np.uint16) * 257, photometric="minisblack", **extra)
    else:
        image = Image.fromarray(gray)
        if kind == "LA":
            image = Image.merge("LA", (image, Image.fromarray(alpha)))
        else:
            image = image.convert(kind, dither=Image.Dither.NONE)  # bilevel: a threshold at 128, not dithered
        image.save(path, icc_profile=_gray_profile())


@pytest.mark.parametrize(
    ("name", "kind", "depth"),
    [
        ("g.png", "L", 8),
        ("ga.png", "LA", 8),
        ("bilevel.png", "1", 8),
        ("g.jpg", "L", 8),
        ("g.tif", "LA", 8),
        ("g16.png", "I;16", 16),
        ("ga16.png", "LA;16", 16),
        ("g16.tif", "L;16", 16),
        ("ga16.tif", "LA;16", 16),
    ],
)
def test_grayscale_images_are_read_as_gray(tmp_path: Path, name: str, kind: str, depth: int) -> None:
    rng = np.random.default_rng(11)
    gray, alpha = rng.integers(0, 256, (5, 7), dtype=np.uint8), rng.integers(0, 256, (5, 7), dtype=np.uint8)
    _gray_file(tmp_path / name, kind, gray, alpha)
    back = read_image(tmp_path / name)
    assert back.grayscale and back.bit_depth == depth and back.rgb.shape == (3, 5, 7)
    assert torch.equal(back.rgb[0], back.rgb[1]) and torch.equal(back.rgb[0], back.rgb[2])
    assert (back.alpha is not None) == ("A" in kind)
    if kind in ("L", "LA"):  # Pillow's writers: the gray profile is kept (it fits a gray image)
        assert back.icc == _gray_profile()
    if kind not in ("1", "L") or name.endswith(".png"):  # lossless: the very values (bilevel: 0 or 255)
        expected = (gray >= 128) * 255 if kind == "1" else gray
        assert np.array_equal((back.rgb[0].numpy() * 255).round(), expected)
    assert not read_image(_written(tmp_path, np.dstack([gray] * 3))).grayscale  # gray values in RGB are colour


def _written(tmp_path: Path, rgb: np.ndarray) -> Path:
    Image.fromarray(rgb).save(tmp_path / "rgb.png")
    return tmp_path / "rgb.png"


@pytest.mark.parametrize(
    ("ext", "depth", "alpha"),
    [
        ("png", 8, False),
        ("png", 8, True),
        ("png", 16, False),
        ("png", 16, True),
        ("tif", 8, True),
        ("tif", 16, False),
        ("tif", 16, True),
        ("jpg", 8, False),
        ("heic", 8, False),
        ("heic", 16, False),
    ],
)
def test_gray_images_are_written_as_one_gray_channel(tmp_path: Path, ext: str, depth: int, alpha: bool) -> None:
    # Three channels out of the network, a little apart: written as their mean, one channel (and alpha).
    if ext == "heic":
        _require("heic")
    rgb = torch.rand(1, 6, 9, generator=torch.Generator().manual_seed(2)).repeat(3, 1, 1)
    rgb += torch.tensor([-0.01, 0.0, 0.01])[:, None, None]
    rgb = rgb.clamp(0, 1)
    a = torch.linspace(0, 1, 54).reshape(6, 9) if alpha else None
    target = tmp_path / f"gray.{ext}"
    write_image(target, rgb, depth, alpha=a, icc=_gray_profile(), grayscale=True)
    if ext == "png":
        header = target.read_bytes()[24:26]
        assert header == bytes([depth, 4 if alpha else 0])  # bit depth, colour type: gray (with alpha)
    elif ext == "tif":
        with tifffile.TiffFile(target) as tif:
            page = tif.pages.first
            assert page.photometric == 1 and page.samplesperpixel == (2 if alpha else 1) and page.bitspersample == depth
    elif ext == "heic":
        import pillow_heif

        heif = pillow_heif.open_heif(target, convert_hdr_to_8bit=False)
        assert heif.mode == ("L" if depth == 8 else "I;16") and heif.info["bit_depth"] == (8 if depth == 8 else 10)
    else:
        with Image.open(target) as img:
            assert img.mode == "L"
    back = read_image(target)
    assert back.grayscale and back.bit_depth == depth and back.icc == _gray_profile()
    peak = 2**depth - 1
    tolerance = 6 / 255 if ext in ("jpg", "heic") else 0.5 / peak  # JPEG, HEIC: lossy, on noise
    assert (back.rgb[0] - rgb.mean(0)).abs().max() <= tolerance
    if a is not None:
        assert back.alpha is not None and (back.alpha - a).abs().max() <= 0.5 / peak


def test_gray_images_become_equal_rgb_where_the_format_has_no_gray(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    rgb = torch.rand(3, 6, 9, generator=torch.Generator().manual_seed(3))
    with caplog.at_level(logging.INFO, logger="idc.io"):
        write_image(tmp_path / "g.webp", rgb, icc=_gray_profile(), grayscale=True, quality=100)
    assert "colour profile does not fit a colour WEBP" in caplog.text
    with Image.open(tmp_path / "g.webp") as img:
        channels = np.asarray(img.convert("RGB")).astype(int)
        assert img.mode == "RGB" and "icc_profile" not in img.info
    assert np.abs(channels.max(-1) - channels.min(-1)).max() <= 2  # equal but for WebP's YUV rounding


@pytest.mark.parametrize("alpha", [False, True])
def test_a_lossless_webp_stays_lossless(tmp_path: Path, alpha: bool) -> None:
    # Screenshots and graphics are kept as lossless WebP; written lossy at quality 95 they would gain artefacts.
    pixels = np.random.default_rng(7).integers(0, 256, (6, 9, 4 if alpha else 3), dtype=np.uint8)
    Image.fromarray(pixels).save(tmp_path / "lossless.webp", lossless=True, exif=_exif(1))  # with EXIF: VP8X first
    Image.fromarray(pixels).save(tmp_path / "lossy.webp", quality=90)
    assert not read_image(tmp_path / "lossy.webp").lossless
    loaded = read_image(tmp_path / "lossless.webp")
    assert loaded.lossless and torch.equal(
        (loaded.rgb * 255).round().permute(1, 2, 0).byte(), torch.from_numpy(pixels[..., :3])
    )
    write_image(tmp_path / "out.webp", loaded.rgb, alpha=loaded.alpha, lossless=loaded.lossless)
    assert b"VP8L" in (tmp_path / "out.webp").read_bytes()[:64]
    with Image.open(tmp_path / "out.webp") as out:
        assert np.array_equal(np.asarray(out), pixels)  # the very pixels, alpha too


def test_profiles_that_do_not_describe_rgb_are_left_out(tmp_path: Path) -> None:
    Image.fromarray(_array()).save(tmp_path / "lab.png", icc_profile=_profile("LAB"))
    Image.fromarray(_array()).save(tmp_path / "plain.png")
    assert read_image(tmp_path / "lab.png").icc is None
    plain = read_image(tmp_path / "plain.png")
    assert plain.icc is None and plain.exif is None


def test_exif_too_long_for_jpeg_is_left_out_not_fatal(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    exif = Image.Exif()
    exif[0x010E] = "x" * 70_000  # ImageDescription: fine in PNG, beyond one JPEG marker segment
    Image.fromarray(_array()).save(tmp_path / "long.png", exif=exif.tobytes())
    loaded = read_image(tmp_path / "long.png")
    assert loaded.exif is not None and len(loaded.exif) > 65533
    with caplog.at_level(logging.WARNING, logger="idc.io"):
        write_image(tmp_path / "out.jpg", loaded.rgb, exif=loaded.exif, icc=_profile())
    with Image.open(tmp_path / "out.jpg") as out:
        assert out.size == (9, 6) and not out.getexif() and out.info.get("icc_profile") == _profile()
    assert "too long for JPEG" in caplog.text
    write_image(tmp_path / "out.webp", loaded.rgb, exif=loaded.exif)  # other formats keep it
    with Image.open(tmp_path / "out.webp") as out:
        assert out.getexif()[0x010E] == "x" * 70_000


def _corner_block(h: int = 16, w: int = 24) -> np.ndarray:
    """Black with a white block in the top-left corner: survives lossy codecs and shows any rotation."""
    a = np.zeros((h, w, 3), dtype=np.uint8)
    a[:4, :6] = 255
    return a


def _require(fmt: str) -> None:
    if fmt == "heic":
        pytest.importorskip("pillow_heif", reason="HEIC needs pillow-heif (idc-deblur[heif], in the dev extras)")
        assert heif_available()
    elif not avif_available():
        pytest.skip("this Pillow has no AVIF (11.3 and newer, built with libavif)")


@pytest.mark.parametrize("ext", ["avif", "heic"])
def test_avif_and_heic_are_read_upright_and_written_with_metadata(tmp_path: Path, ext: str) -> None:
    _require(ext)
    icc = _profile()
    source = tmp_path / f"in.{ext}"
    Image.fromarray(_corner_block()).save(source, icc_profile=icc, exif=_exif(6), quality=100)
    loaded = read_image(source)
    # Orientation 6 turns the stored 24x16 picture a quarter clockwise: 16 wide, 24 high, the block top right.
    # (pillow-heif turns HEIC pixels upright itself and resets the tag; AVIF keeps the tag: both come out upright.)
    assert loaded.rgb.shape == (3, 24, 16) and loaded.bit_depth == 8
    assert loaded.rgb[:, :6, -4:].mean() > 0.9 and loaded.rgb[:, 8:, :].mean() < 0.1
    assert loaded.icc == icc
    carried = Image.Exif()
    carried.load(loaded.exif or b"")
    assert carried[0x010F] == "TestCam" and carried.get(0x0112, 1) == 1
    alpha = torch.linspace(0, 1, 16).expand(24, 16).contiguous()
    target = tmp_path / f"out.{ext}"
    write_image(target, loaded.rgb, alpha=alpha, icc=loaded.icc, exif=loaded.exif)
    with Image.open(target) as out:
        assert out.format == ("AVIF" if ext == "avif" else "HEIF")
        assert out.info.get("icc_profile") == icc and out.getexif()[0x010F] == "TestCam"
        assert out.getexif().get(0x0112, 1) == 1 and out.size == (16, 24)  # written upright, nothing to rotate
    again = read_image(target)
    assert again.rgb.shape == (3, 24, 16) and (again.rgb - loaded.rgb).abs().mean() < 4 / 255
    assert again.alpha is not None and (again.alpha - alpha).abs().max() < 4 / 255


def _avif_encoder() -> Any:
    """imagecodecs' AVIF encoder, which makes the deep and HDR AVIF files of these tests (Pillow writes 8 bits)."""
    _require("avif")
    imagecodecs = pytest.importorskip("imagecodecs", reason="deep AVIF is read with imagecodecs (idc-deblur[jxl])")
    return imagecodecs.avif_encode


def _nclx(encode: Any, **codes: int) -> dict[str, int]:
    """The options for an nclx colour box, where this imagecodecs writes one (2025 and newer)."""
    if "primaries" not in inspect.signature(encode).parameters:
        pytest.skip("this imagecodecs writes no nclx colour box (2025 and newer do)")
    return codes


@pytest.mark.parametrize(("bits", "channels"), [(10, 3), (12, 4), (10, 1)])
def test_avif_of_more_than_8_bits_is_read_at_full_precision(tmp_path: Path, bits: int, channels: int) -> None:
    encode = _avif_encoder()
    codes = np.random.default_rng(bits).integers(0, 2**bits, (9, 11, channels)).astype(np.uint16)
    samples = codes[..., 0] if channels == 1 else codes
    (tmp_path / "deep.avif").write_bytes(encode(samples, bitspersample=bits, level=100))  # lossless
    loaded = read_image(tmp_path / "deep.avif")
    assert loaded.bit_depth == 16 and loaded.grayscale == (channels == 1)
    colours = 1 if channels == 1 else 3
    read_codes = np.round(loaded.rgb.permute(1, 2, 0).numpy()[..., :colours] * (2**bits - 1))
    assert np.array_equal(read_codes, codes[..., :colours])
    if channels == 4:
        assert loaded.alpha is not None
        assert np.array_equal(np.round(loaded.alpha.numpy() * (2**bits - 1)), codes[..., 3])


def test_an_avif_colour_space_is_read_and_kept(tmp_path: Path) -> None:
    encode = _avif_encoder()
    codes = np.random.default_rng(0).integers(0, 1024, (9, 11, 3)).astype(np.uint16)
    hdr = _nclx(encode, primaries=9, transfer=16, matrix=0)  # BT.2020 primaries, PQ: an HDR photo
    (tmp_path / "hdr.avif").write_bytes(encode(codes, bitspersample=10, level=100, **hdr))
    loaded = read_image(tmp_path / "hdr.avif")
    assert loaded.bit_depth == 16 and loaded.cicp == (9, 16) and loaded.icc is None
    # Into PNG: 16 bits and the colour space kept (cICP), so viewers show it as HDR.
    write_like(tmp_path / "out.png", loaded.rgb, loaded)
    back = read_image(tmp_path / "out.png")
    assert back.bit_depth == 16 and back.cicp == (9, 16) and torch.allclose(back.rgb, loaded.rgb, atol=1 / 65535)
    # An 8-bit AVIF says its colour space the same way; sRGB needs no words.
    eight = codes.astype(np.uint8)
    (tmp_path / "p3.avif").write_bytes(encode(eight, level=100, **_nclx(encode, primaries=12, transfer=13)))
    (tmp_path / "srgb.avif").write_bytes(encode(eight, level=100, **_nclx(encode, primaries=1, transfer=13)))
    assert read_image(tmp_path / "p3.avif").cicp == (12, 13) and read_image(tmp_path / "p3.avif").bit_depth == 8
    assert read_image(tmp_path / "srgb.avif").cicp is None


def test_a_colour_space_is_written_into_avif_through_imagecodecs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    # Pillow writes no nclx box; imagecodecs does (at 10 bits for a 16-bit image), without EXIF or XMP.
    encode = _avif_encoder()
    _nclx(encode, primaries=9, transfer=16)
    ramp = torch.linspace(0, 1, 3 * 12 * 16).reshape(3, 12, 16)
    with caplog.at_level(logging.WARNING, logger="idc.io"):
        write_image(tmp_path / "hdr.avif", ramp, bit_depth=16, cicp=(9, 16), exif=_exif(1), quality=100)
    assert "hdr.avif: AVIF in the input's colour space (H.273 primaries 9, transfer 16) is written through " in (
        caplog.text
    )
    back = read_image(tmp_path / "hdr.avif")
    assert back.cicp == (9, 16) and back.bit_depth == 16 and back.exif is None
    assert float((back.rgb - ramp).abs().max()) < 3 / 1023
    # Where imagecodecs cannot (none, or one from before 2025), the colour space is lost, and the warning says why.
    monkeypatch.setattr(idc_io, "avif_nclx_writer", lambda: False)
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="idc.io"):
        write_image(tmp_path / "plain.avif", ramp, bit_depth=16, cicp=(9, 16))
    assert "is written into AVIF only with imagecodecs 2025 or newer (pip install -U imagecodecs)" in caplog.text
    assert read_image(tmp_path / "plain.avif").cicp is None


def test_deep_avif_is_turned_upright_by_its_orientation(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # imagecodecs gives an AVIF's samples as stored, not turned: idc turns them by the orientation Pillow reports.
    # No writer at hand makes a deep AVIF with an orientation, so an 8-bit one goes the deep way here.
    _avif_encoder()
    from idc.isobmff import AvifColour

    Image.fromarray(_corner_block()).save(tmp_path / "turned.avif", exif=_exif(6), quality=100)
    by_pillow = read_image(tmp_path / "turned.avif")
    monkeypatch.setattr(idc_io, "_avif_colour", lambda path: AvifColour(bits=10))
    deep = read_image(tmp_path / "turned.avif")
    assert deep.bit_depth == 16 and deep.rgb.shape == by_pillow.rgb.shape == (3, 24, 16)
    assert (deep.rgb - by_pillow.rgb).abs().max() <= 2 / 255
    assert deep.rgb[:, :6, -4:].mean() > 0.9  # the block top right, as for orientation 6


def test_without_imagecodecs_deep_avif_is_read_at_8_bits_with_a_warning(tmp_path: Path) -> None:
    codes = np.full((6, 7, 3), 1023, np.uint16)
    (tmp_path / "deep.avif").write_bytes(_avif_encoder()(codes, bitspersample=10, level=100))
    err = run_without_imagecodecs(
        "import logging\n"
        "logging.basicConfig(level=logging.WARNING, format='%(message)s')\n"
        "from idc.io import read_image\n"
        f"loaded = read_image({str(tmp_path / 'deep.avif')!r})\n"
        "assert loaded.bit_depth == 8 and float(loaded.rgb.min()) == 1.0\n"
    )
    assert "deep.avif: 10-bit AVIF read at 8 bits (to keep its depth: pip install imagecodecs" in err


def _deep_heif(path: Path, codes: np.ndarray, bits: int, exif: bytes | None = None) -> None:
    """Writes ``codes`` ((H, W) or (H, W, 3|4) integers below 2**bits) as a lossless HEIF of ``bits`` per channel, as
    a camera's HIF file holds them (pillow-heif takes them shifted up to 16 bits)."""
    import pillow_heif

    mode = {2: "L;16", 3: "RGB;16", 4: "RGBA;16"}[codes.ndim if codes.ndim == 2 else codes.shape[2]]
    data = np.ascontiguousarray(codes.astype(np.uint16) << (16 - bits))
    pillow_heif.options.SAVE_HDR_TO_12_BIT = bits == 12
    try:
        heif = pillow_heif.from_bytes(mode=mode, size=(codes.shape[1], codes.shape[0]), data=data.tobytes())
        # Lossless: RGB kept as it is (no YCbCr), every sample at full resolution.
        heif.save(path, quality=-1, chroma=444, matrix_coefficients=0, **({"exif": exif} if exif else {}))
    finally:
        pillow_heif.options.SAVE_HDR_TO_12_BIT = False


@pytest.mark.parametrize("bits", [10, 12])
def test_heif_of_more_than_8_bits_is_read_at_full_precision(tmp_path: Path, bits: int) -> None:
    # Cameras' HIF files (Sony, Canon, Fujifilm) hold 10 or 12 bits per channel; Pillow's view of them has 8.
    _require("heic")
    rng = np.random.default_rng(bits)
    peak = 2**bits - 1
    codes = rng.integers(0, peak + 1, (12, 20, 4))
    codes[0, :, :3] = np.arange(20)[:, None]  # the darkest codes, which 8 bits would merge into one level
    codes[0, 0] = peak  # and the brightest, which must map to 1.0
    _deep_heif(tmp_path / "rgba.hif", codes, bits)
    loaded = read_image(tmp_path / "rgba.hif")
    assert loaded.bit_depth == 16 and loaded.rgb.shape == (3, 12, 20) and loaded.alpha is not None
    assert loaded.heif_bits == bits and not loaded.grayscale
    expected = torch.from_numpy(codes / peak).float()
    assert torch.allclose(loaded.rgb, expected[..., :3].permute(2, 0, 1), atol=1e-6)
    assert torch.allclose(loaded.alpha, expected[..., 3], atol=1e-6)
    assert len(torch.unique(loaded.rgb[:, 0, :])) == 20
    # A grayscale one is gray, like any grayscale image.
    _deep_heif(tmp_path / "gray.heic", codes[..., 0], bits)
    gray = read_image(tmp_path / "gray.heic")
    assert gray.bit_depth == 16 and gray.alpha is None and gray.grayscale
    assert torch.allclose(gray.rgb, expected[..., 0].expand(3, 12, 20), atol=1e-6)
    # Upright, like an 8-bit HEIC: orientation 6 turns the stored 20x12 picture a quarter clockwise.
    _deep_heif(tmp_path / "turned.hif", codes[..., :3], bits, exif=_exif(6))
    turned = read_image(tmp_path / "turned.hif")
    assert torch.allclose(turned.rgb, expected[..., :3].permute(2, 0, 1).rot90(-1, (1, 2)), atol=1e-6)


def test_deep_images_are_written_as_10_bit_heic(tmp_path: Path) -> None:
    _require("heic")
    import pillow_heif

    # A gray ramp over 1024 levels (gray stays in the luma plane, so the lossy codec keeps it to within a code).
    ramp = torch.linspace(0, 1, 1024).reshape(16, 64).expand(3, 16, 64).contiguous()
    alpha = torch.linspace(1, 0, 64).expand(16, 64).contiguous()
    write_image(tmp_path / "deep.heic", ramp, bit_depth=16, alpha=alpha, quality=100, exif=_exif(1))
    heif = pillow_heif.open_heif(tmp_path / "deep.heic", convert_hdr_to_8bit=False)
    assert heif.info["bit_depth"] == 10 and heif.mode == "RGBA;16"
    with Image.open(tmp_path / "deep.heic") as img:
        assert img.getexif()[0x010F] == "TestCam"
    back = read_image(tmp_path / "deep.heic")
    assert back.bit_depth == 16 and back.alpha is not None
    assert (back.rgb - ramp).abs().max() <= 2 / 1023 and len(torch.unique(back.rgb[0])) > 700
    assert (back.alpha - alpha).abs().max() <= 2 / 1023
    # 8-bit images stay 8-bit HEIC.
    write_image(tmp_path / "plain.heic", ramp, bit_depth=8)
    assert pillow_heif.open_heif(tmp_path / "plain.heic", convert_hdr_to_8bit=False).info["bit_depth"] == 8


def test_a_12_bit_heif_is_written_back_at_12_bits(tmp_path: Path) -> None:
    _require("heic")
    import pillow_heif

    # A ramp over 4096 levels: 10 bits would merge them four by four.
    ramp = torch.linspace(0, 1, 4096).reshape(32, 128).expand(3, 32, 128).contiguous()
    codes = (ramp.permute(1, 2, 0).numpy() * 4095).round().astype(np.int64)
    _deep_heif(tmp_path / "camera.hif", codes, 12)
    loaded = read_image(tmp_path / "camera.hif")
    assert loaded.heif_bits == 12
    write_image(tmp_path / "out.heic", loaded.rgb, loaded.bit_depth, quality=100, heif_bits=loaded.heif_bits)
    assert pillow_heif.open_heif(tmp_path / "out.heic", convert_hdr_to_8bit=False).info["bit_depth"] == 12
    back = read_image(tmp_path / "out.heic")
    assert back.heif_bits == 12 and (back.rgb - ramp).abs().max() <= 2 / 1023  # lossy, as the 10-bit test
    assert len(torch.unique(back.rgb[0])) > 2000  # more levels than 10 bits hold
    assert not pillow_heif.options.SAVE_HDR_TO_12_BIT  # pillow-heif's global option is left as it was
    # Without the 12-bit source, the common 10 bits (what phones and computers decode).
    write_image(tmp_path / "ten.heic", loaded.rgb, 16, quality=100)
    assert pillow_heif.open_heif(tmp_path / "ten.heic", convert_hdr_to_8bit=False).info["bit_depth"] == 10


XMP = (
    b'<?xpacket begin="" id="W5M0MpCehiHzreSzNTczkc9d"?><x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF '
    b'xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"><rdf:Description xmlns:tiff="http://ns.adobe.com/tiff/'
    b'1.0/" xmlns:xmp="http://ns.adobe.com/xap/1.0/" tiff:Orientation="6" xmp:Rating="4"><dc:subject><rdf:Bag>'
    b"<rdf:li>caf\xc3\xa9</rdf:li></rdf:Bag></dc:subject></rdf:Description></rdf:RDF></x:xmpmeta>"
    b'<?xpacket end="w"?>'
)
XMP_UPRIGHT = XMP.replace(b'tiff:Orientation="6"', b'tiff:Orientation="1"')


@pytest.mark.parametrize("ext", ["jpg", "png", "webp", "tif", "avif", "heic"])
def test_xmp_is_carried_with_its_orientation_reset(tmp_path: Path, ext: str) -> None:
    # XMP holds what photo managers add (ratings, keywords, captions); it goes wherever the output format can hold it.
    if ext in ("avif", "heic"):
        _require(ext)
    source = tmp_path / f"in.{ext}"
    options = {"tiffinfo": {700: XMP}} if ext == "tif" else {"xmp": XMP}
    if ext == "png":
        info = PngImagePlugin.PngInfo()
        info.add_itxt("XML:com.adobe.xmp", XMP.decode())
        options = {"pnginfo": info}
    Image.fromarray(_corner_block()).save(source, exif=_exif(6), **options)
    loaded = read_image(source)
    # Turned upright by its EXIF orientation, the XMP's copy of it says so too; pillow-heif, which turns HEIC pixels
    # itself, drops the XMP's copy instead.
    if ext == "heic":
        assert loaded.xmp is not None and b"Orientation" not in loaded.xmp and b'xmp:Rating="4"' in loaded.xmp
    else:
        assert loaded.xmp == XMP.replace(b'Orientation="6"', b'Orientation="1"'), loaded.xmp
    for out, depth in (("png", 8), ("png", 16), ("jpg", 8), ("webp", 8), ("tif", 8), ("avif", 8), ("heic", 16)):
        if out in ("avif", "heic") and missing_support("AVIF" if out == "avif" else "HEIF"):
            continue
        target = tmp_path / f"out{depth}.{out}"
        write_image(target, loaded.rgb, depth, xmp=loaded.xmp)
        assert read_image(target).xmp == loaded.xmp, (out, depth)
    # Without EXIF, Pillow takes the orientation from the XMP: turned by it, and it reset, all the same.
    Image.fromarray(_corner_block()).save(tmp_path / "xmp-only.jpg", xmp=XMP)
    turned = read_image(tmp_path / "xmp-only.jpg")
    assert turned.rgb.shape == (3, 24, 16) and turned.xmp == XMP.replace(b'Orientation="6"', b'Orientation="1"')
    # Upright already (orientation 1), the XMP is copied as it is.
    upright = XMP.replace(b'Orientation="6"', b"")
    Image.fromarray(_corner_block()).save(tmp_path / "upright.jpg", xmp=upright, exif=_exif(1))
    assert read_image(tmp_path / "upright.jpg").xmp == upright


def test_xmp_too_long_for_jpeg_or_not_utf8_for_png_is_left_out(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    rgb = torch.rand(3, 6, 9)
    long = b"<x:xmpmeta>" + b"x" * 70_000 + b"</x:xmpmeta>"
    with caplog.at_level(logging.INFO, logger="idc.io"):
        write_image(tmp_path / "long.jpg", rgb, xmp=long)
        write_image(tmp_path / "latin1.png", rgb, xmp="<x:xmpmeta>caf\xe9</x:xmpmeta>".encode("latin-1"))
    assert read_image(tmp_path / "long.jpg").xmp is None and read_image(tmp_path / "latin1.png").xmp is None
    assert "long.jpg: the input's XMP (70023 bytes) is too long for JPEG; written without it" in caplog.text
    assert "latin1.png: the input's XMP is not UTF-8, which PNG requires; written without it" in caplog.text
    write_image(tmp_path / "long.webp", rgb, xmp=long)  # other formats hold it
    assert read_image(tmp_path / "long.webp").xmp == long


@pytest.mark.parametrize("subsampling", ["4:4:4", "4:2:2", "4:2:0"])
def test_a_jpeg_keeps_its_chroma_subsampling(tmp_path: Path, subsampling: str) -> None:
    # A 4:4:4 JPEG (GOPRO's frames here) written back at Pillow's default 4:2:0 would halve the colour resolution the
    # network restored, and lower the PSNR of outputs scored as JPEG.
    from PIL import JpegImagePlugin

    Image.fromarray(_array(seed=6)).save(tmp_path / "in.jpg", subsampling=subsampling, quality=95)
    loaded = read_image(tmp_path / "in.jpg")
    assert loaded.subsampling == subsampling
    write_image(tmp_path / "out.jpg", loaded.rgb, subsampling=loaded.subsampling)
    with Image.open(tmp_path / "out.jpg") as out:
        assert JpegImagePlugin.get_sampling(out) == {"4:4:4": 0, "4:2:2": 1, "4:2:0": 2}[subsampling]
    # A camera's MPO JPEG is a JPEG too.
    Image.fromarray(_array(seed=6)).save(
        tmp_path / "camera.jpg",
        format="MPO",
        save_all=True,
        append_images=[Image.new("RGB", (4, 4))],
        subsampling=subsampling,
    )
    assert read_image(tmp_path / "camera.jpg").subsampling == subsampling
    # Other inputs, and grayscale JPEGs, have none to keep.
    Image.fromarray(_array(seed=6)).convert("L").save(tmp_path / "gray.jpg")
    assert read_image(tmp_path / "gray.jpg").subsampling is None
    Image.fromarray(_array(seed=6)).save(tmp_path / "in.png")
    assert read_image(tmp_path / "in.png").subsampling is None


def _png_cicp_chunk(path: Path) -> bytes | None:
    """The data of a PNG's cICP chunk, if it comes before the image data."""
    data = path.read_bytes()
    at, idat = data.find(b"cICP"), data.find(b"IDAT")
    return data[at + 4 : at + 8] if 0 < at < idat else None


@pytest.mark.parametrize("bits", [8, 10])
def test_a_colour_space_given_as_h273_code_points_is_carried(
    tmp_path: Path, bits: int, caplog: pytest.LogCaptureFixture
) -> None:
    # A camera's HDR HEIF names its colour space in an nclx box (here BT.2020 primaries, PQ transfer), not an ICC
    # profile; PNG's cICP chunk and HEIC's nclx box can say the same, other formats cannot (a warning says so).
    _require("heic")
    import pillow_heif

    ramp = torch.linspace(0, 1, 24 * 32).reshape(24, 32).expand(3, 24, 32).contiguous()
    write_image(tmp_path / "hdr.heic", ramp, bit_depth=8 if bits == 8 else 16, cicp=(9, 16))
    loaded = read_image(tmp_path / "hdr.heic")
    assert loaded.cicp == (9, 16) and loaded.icc is None
    write_image(tmp_path / "out.png", loaded.rgb, loaded.bit_depth, cicp=loaded.cicp)
    assert _png_cicp_chunk(tmp_path / "out.png") == bytes([9, 16, 0, 1])
    assert read_image(tmp_path / "out.png").cicp == (9, 16)  # and read back from PNG
    write_image(tmp_path / "out.heic", loaded.rgb, loaded.bit_depth, cicp=loaded.cicp)
    nclx = pillow_heif.open_heif(tmp_path / "out.heic").info["nclx_profile"]
    assert (nclx["color_primaries"], nclx["transfer_characteristics"]) == (9, 16)
    with caplog.at_level(logging.WARNING, logger="idc.io"):
        write_image(tmp_path / "out.jpg", loaded.rgb, cicp=loaded.cicp)
    assert "out.jpg: the input's colour space (H.273 primaries 9, transfer 16) has no place in JPEG" in caplog.text
    # sRGB needs no words: HEIC's default nclx box, and plain PNGs, give None and no cICP chunk.
    write_image(tmp_path / "srgb.heic", ramp)
    assert read_image(tmp_path / "srgb.heic").cicp is None
    write_image(tmp_path / "srgb.png", ramp, cicp=read_image(tmp_path / "srgb.heic").cicp)
    assert _png_cicp_chunk(tmp_path / "srgb.png") is None and read_image(tmp_path / "srgb.png").cicp is None
    # An ICC profile says it all: with one, no cICP is written beside it (PNG viewers would let cICP win).
    write_image(tmp_path / "icc.png", ramp, icc=_profile(), cicp=(9, 16))
    assert _png_cicp_chunk(tmp_path / "icc.png") is None and read_image(tmp_path / "icc.png").icc == _profile()


@pytest.mark.parametrize("ext", ["gif", "png", "webp"])
def test_animations_are_refused_naming_the_file(tmp_path: Path, ext: str) -> None:
    frames = [Image.fromarray(_array(seed=i)) for i in range(3)]
    path = tmp_path / f"anim.{ext}"
    frames[0].save(path, save_all=True, append_images=frames[1:])
    with pytest.raises(ImageReadError, match=rf"anim\.{ext}: an animation of 3 frames; idc deblur reads still"):
        read_image(path)
    frames[0].save(tmp_path / f"still.{ext}")  # one frame of the same format is an ordinary image
    assert read_image(tmp_path / f"still.{ext}").rgb.shape == (3, 6, 9)


def test_files_of_several_still_images_give_the_first(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    first, other = Image.fromarray(_array(seed=1)), Image.fromarray(_array(seed=2))
    first.save(tmp_path / "pages.tif", save_all=True, append_images=[other, other])
    with caplog.at_level(logging.WARNING, logger="idc.io"):
        pages = read_image(tmp_path / "pages.tif")
    assert np.array_equal((pages.rgb.permute(1, 2, 0).numpy() * 255).round().astype(np.uint8), _array(seed=1))
    assert "pages.tif: a TIFF of 3 pages; only the first is deblurred" in caplog.text
    caplog.clear()
    # A camera's MPO JPEG (the photo, then previews or a depth map) is read as the photo, without a warning.
    first.save(tmp_path / "camera.jpg", format="MPO", save_all=True, append_images=[other], quality=100)
    first.save(tmp_path / "plain.jpg", quality=100)
    with caplog.at_level(logging.WARNING, logger="idc.io"):
        mpo = read_image(tmp_path / "camera.jpg")
    assert torch.equal(mpo.rgb, read_image(tmp_path / "plain.jpg").rgb) and not caplog.text


def test_sniff_container_names_heif_and_avif_by_their_brands() -> None:
    def ftyp(major: bytes, *compatible: bytes) -> bytes:
        body = b"ftyp" + major + b"\0\0\0\0" + b"".join(compatible)
        return (len(body) + 4).to_bytes(4, "big") + body + b"\0" * 32

    assert sniff_container(ftyp(b"heic", b"mif1", b"heic")) == "HEIF"
    assert sniff_container(ftyp(b"mif1", b"mif1", b"miaf")) == "HEIF"  # a generic HEIF still image
    assert sniff_container(ftyp(b"avif", b"mif1", b"miaf")) == "AVIF"
    assert sniff_container(ftyp(b"mif1", b"avif", b"mif1")) == "AVIF"  # AVIF named among the compatible brands
    assert sniff_container(ftyp(b"isom", b"mp41")) is None  # an MP4 video
    assert sniff_container(b"\x89PNG\r\n\x1a\n" + b"\0" * 40) is None and sniff_container(b"") is None


def test_missing_avif_support_is_named(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    import idc.io

    monkeypatch.setattr(idc.io, "avif_available", lambda: False)
    assert "AVIF needs Pillow 11.3 or newer" in (missing_support("AVIF") or "")
    with pytest.raises(ValueError, match=r"out\.avif: AVIF needs Pillow 11\.3"):
        write_image(tmp_path / "out.avif", torch.rand(3, 4, 5))
    assert not list(tmp_path.iterdir())
    assert missing_support("PNG") is None and missing_support("JPEG") is None


def test_an_old_pillow_heif_is_named_with_what_it_cannot_read(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    # pip keeps an installed pillow-heif older than the extra's bound; 0.20 and older fail on mirrored deep HEIF.
    _require("heic")
    import pillow_heif

    for version, warned in ((pillow_heif.__version__, False), ("0.20.0", True), ("0.9.3", True), ("1.0.0", False)):
        monkeypatch.setattr(idc_io, "_heif_plugin", None)
        monkeypatch.setattr(pillow_heif, "__version__", version)
        caplog.clear()
        with caplog.at_level(logging.WARNING, logger="idc.io"):
            assert heif_available()
        said = [r.getMessage() for r in caplog.records]
        assert said == (
            [
                f"pillow-heif {version} is older than 0.21, the oldest idc is tested with: it cannot read "
                "mirrored 10- and 12-bit HEIF photos (pip install -U pillow-heif)"
            ]
            if warned
            else []
        ), version


def test_heic_without_pillow_heif_says_what_to_install(tmp_path: Path) -> None:
    _require("heic")
    Image.fromarray(_corner_block()).save(tmp_path / "photo.heic", quality=90)
    (tmp_path / "renamed.jpg").write_bytes((tmp_path / "photo.heic").read_bytes())  # a HEIC under a JPEG name
    # A child interpreter in which pillow-heif cannot be imported (this one has registered it with Pillow).
    script = """
import sys
from pathlib import Path
sys.modules["pillow_heif"] = None
from idc.batch import PlanError, plan_jobs
from idc.io import ImageReadError, read_image
folder = Path(sys.argv[1])
for name in ("photo.heic", "renamed.jpg"):
    try:
        read_image(folder / name)
    except ImageReadError as e:
        print(e)
try:
    plan_jobs([(folder / "photo.heic", Path("photo.heic"))], folder / "out", "same")
except PlanError as e:
    print(e)
"""
    done = subprocess.run([sys.executable, "-c", script, str(tmp_path)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    hint = "HEIC/HEIF needs the pillow-heif package: pip install pillow-heif (or the extra idc-deblur[heif])"
    assert done.stdout.splitlines() == [
        f"{tmp_path / 'photo.heic'}: {hint}",
        f"{tmp_path / 'renamed.jpg'}: {hint}",
        f"{tmp_path / 'out' / 'photo.heic'}: {hint}",
    ]
    assert not (tmp_path / "out").exists()


@pytest.mark.filterwarnings("ignore:.*:UserWarning")  # Pillow warns about the broken page it reads
def test_a_tiff_with_a_floating_point_strip_offset_is_a_clean_error(tmp_path: Path) -> None:
    # Found by tests/test_fuzz.py on 2026-11-27: one corrupted byte made a TIFF's StripOffsets tag of type DOUBLE;
    # Pillow hands the float to its pixel mapper, which raised TypeError out of read_image.
    import io
    import struct

    buf = io.BytesIO()
    Image.fromarray(_array(seed=5)).save(buf, format="TIFF")
    data = bytearray(buf.getvalue())
    ifd = struct.unpack_from("<I", data, 4)[0]
    for entry in range(ifd + 2, ifd + 2 + 12 * struct.unpack_from("<H", data, ifd)[0], 12):
        if struct.unpack_from("<H", data, entry)[0] == 273:  # StripOffsets
            struct.pack_into("<H", data, entry + 2, 12)  # its type: DOUBLE instead of LONG
    (tmp_path / "float.tif").write_bytes(bytes(data))
    with Image.open(tmp_path / "float.tif") as img, pytest.raises(TypeError):
        img.load()  # what Pillow does with it
    with pytest.raises(ImageReadError, match=r"float\.tif: corrupt or truncated image \("):
        read_image(tmp_path / "float.tif")


def test_a_broken_page_pointer_or_a_corrupt_avif_is_not_a_crash(tmp_path: Path) -> None:
    # Both found by benchmarks/fuzz.py on 2026-11-27. A TIFF whose "next page" pointer leads into its pixels: counting
    # the pages raised TypeError ("Missing dimensions") out of read_image; its first page is intact and is read.
    import io
    import struct

    a = _array(seed=4)
    buf = io.BytesIO()
    Image.fromarray(a).save(buf, format="TIFF")
    data = bytearray(buf.getvalue())
    ifd = struct.unpack_from("<I", data, 4)[0]
    entries = struct.unpack_from("<H", data, ifd)[0]
    struct.pack_into("<I", data, ifd + 2 + 12 * entries, len(data) - 40)
    (tmp_path / "next.tif").write_bytes(bytes(data))
    with Image.open(tmp_path / "next.tif") as img, pytest.raises(TypeError):
        _ = img.n_frames  # what Pillow does with it
    loaded = read_image(tmp_path / "next.tif")
    assert np.array_equal((loaded.rgb.permute(1, 2, 0).numpy() * 255).round().astype(np.uint8), a)
    # Pillow's AVIF decoder reports some corrupt files with RuntimeError, which escaped read_image (and ended an
    # idc deblur folder run); now it is the usual one-line error.
    if not avif_available():
        pytest.skip("this Pillow has no AVIF (11.3 and newer, built with libavif)")
    Image.fromarray(_corner_block()).save(tmp_path / "ok.avif")
    good = (tmp_path / "ok.avif").read_bytes()
    for i in range(12, len(good)):  # damage one byte at a time until the decoder raises RuntimeError
        damaged = bytearray(good)
        damaged[i] ^= 0xFF
        try:
            with Image.open(io.BytesIO(bytes(damaged))) as img:
                img.load()
        except RuntimeError:
            (tmp_path / "bad.avif").write_bytes(bytes(damaged))
            break
        except Exception:  # other damage gives other errors, which read_image always turned into its own
            continue
    else:
        pytest.skip("no one-byte damage makes this Pillow's AVIF decoder raise RuntimeError")
    with pytest.raises(ImageReadError, match=r"bad\.avif: corrupt or truncated image \(.*\)$"):
        read_image(tmp_path / "bad.avif")


def test_decoder_messages_are_one_line(tmp_path: Path) -> None:
    # libheif's messages end in a newline; read_image's errors are one line (found by benchmarks/fuzz.py).
    _require("heic")
    Image.fromarray(_corner_block()).save(tmp_path / "ok.heic")
    data = (tmp_path / "ok.heic").read_bytes()
    (tmp_path / "cut.heic").write_bytes(data[: len(data) - 20])
    with pytest.raises(ImageReadError) as caught:
        read_image(tmp_path / "cut.heic")
    message = str(caught.value)
    assert message.startswith(f"{tmp_path / 'cut.heic'}: corrupt or truncated image (") and "\n" not in message


def test_format_extension_names_the_files_standard_input_is_stored_in() -> None:
    from idc.io import format_extension

    assert [format_extension(f) for f in ("PNG", "JPEG", "MPO", "TIFF", "WEBP", "AVIF", "HEIF")] == [
        ".png",
        ".jpg",
        ".jpg",
        ".tif",
        ".webp",
        ".avif",
        ".heic",
    ]
    assert format_extension("GIF") is None


@pytest.mark.parametrize("ext", ["jpg", "tif"])
def test_cmyk_is_converted_through_its_embedded_profile(tmp_path: Path, ext: str) -> None:
    # Inks that print nothing like Pillow's formula: cyan ink shows magenta, so only the profile gives these colours.
    from PIL import ImageCms

    from tests.colour import cmyk_profile, swapped_inks

    profile = cmyk_profile(swapped_inks)
    cmyk = np.zeros((8, 12, 4), np.uint8)
    cmyk[:4, :6, 0] = 255  # cyan ink
    cmyk[4:, :6, 3] = 128  # half black
    cmyk[:, 6:] = np.random.default_rng(3).integers(0, 256, (8, 6, 4), dtype=np.uint8)
    image = Image.fromarray(cmyk, "CMYK")
    image.save(tmp_path / f"c.{ext}", icc_profile=profile, quality=100)  # a JPEG's CMYK is stored inverted (Adobe)
    loaded = read_image(tmp_path / f"c.{ext}")
    got = np.round(loaded.rgb.permute(1, 2, 0).numpy() * 255)
    tol = 0 if ext == "tif" else 3
    assert np.abs(got[:4, :6] - [255, 0, 255]).max() <= tol
    assert np.abs(got[4:, :6] - 128).max() <= tol
    assert loaded.cmyk and loaded.icc == profile  # kept, to separate a JPEG or TIFF output into inks through it
    if ext == "tif":  # every colour as LittleCMS converts it, relative colorimetric with black point compensation
        srgb = ImageCms.createProfile("sRGB")
        intent, flags = ImageCms.Intent.RELATIVE_COLORIMETRIC, ImageCms.Flags.BLACKPOINTCOMPENSATION
        source = ImageCms.ImageCmsProfile(BytesIO(profile))
        want = ImageCms.buildTransform(source, srgb, "CMYK", "RGB", renderingIntent=intent, flags=flags).apply(image)
        assert np.array_equal(got, np.asarray(want))


def test_cmyk_without_a_usable_profile_is_converted_plainly_with_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    cmyk = np.zeros((2, 3, 4), np.uint8)
    cmyk[0, 0] = (128, 0, 0, 128)  # half cyan over half black: a quarter of the red light, half of green and blue
    cmyk[0, 1] = (0, 0, 0, 255)
    broken = bytearray(200)
    broken[16:20] = b"CMYK"
    # A profile LittleCMS opens but cannot convert with: no tables (ImageCms.PyCMSError, which is no OSError).
    from idc.icc import D50_XYZ, assemble, text_description_tag, xyz_tag

    tableless = assemble(
        b"prtr", b"CMYK", b"Lab ", [(b"desc", text_description_tag("no")), (b"wtpt", xyz_tag(D50_XYZ))]
    )
    Image.fromarray(cmyk, "CMYK").save(tmp_path / "plain.tif")
    Image.fromarray(cmyk, "CMYK").save(tmp_path / "broken.jpg", icc_profile=bytes(broken), quality=100)
    Image.fromarray(cmyk, "CMYK").save(tmp_path / "tableless.tif", icc_profile=tableless)
    for name, tol in (("plain.tif", 0), ("broken.jpg", 3), ("tableless.tif", 0)):
        caplog.clear()
        with caplog.at_level(logging.WARNING, logger="idc.io"):
            loaded = read_image(tmp_path / name)
        assert loaded.cmyk and loaded.icc is None  # written back by the same formula, without the broken profile
        got = np.round(loaded.rgb.permute(1, 2, 0).numpy() * 255)
        assert np.abs(got[0, 0] - [64, 127, 127]).max() <= tol + 1 and np.abs(got[0, 1]).max() <= tol
        assert np.abs(got[1] - 255).max() <= tol
        (record,) = caplog.records
        assert name in record.getMessage() and "colours may be off" in record.getMessage()


@pytest.mark.parametrize("ext", ["jpg", "tif"])
def test_cmyk_is_written_back_as_cmyk_through_its_profile(tmp_path: Path, ext: str) -> None:
    # Printed by inks unlike real ones (cyan ink takes away green), the colours must be separated by the profile's own
    # table: the plain formula would put nearly every ink elsewhere.
    from idc.io import _plain_rgb_to_cmyk, write_like
    from tests.colour import cmyk_profile, swapped_inks, swapped_separation

    profile = cmyk_profile(swapped_inks, grid=5, separate=swapped_separation)
    colours = np.random.default_rng(4).integers(40, 216, (16, 16, 3)) / 255.0
    inks = np.round(swapped_separation(colours.reshape(-1, 3)).reshape(16, 16, 4) * 255).astype(np.uint8)
    Image.fromarray(inks, "CMYK").save(tmp_path / f"c.{ext}", icc_profile=profile, quality=100)
    loaded = read_image(tmp_path / f"c.{ext}")
    for out in (ext, "png"):
        write_like(tmp_path / f"out.{out}", loaded.rgb, loaded, quality=100)
    with Image.open(tmp_path / f"out.{ext}") as written:
        assert written.mode == "CMYK" and written.info.get("icc_profile") == profile
        got = np.asarray(written).astype(np.float64)
    rgb = loaded.rgb.permute(1, 2, 0).numpy()
    want = swapped_separation(rgb.reshape(-1, 3)).reshape(16, 16, 4) * 255
    plain = np.asarray(_plain_rgb_to_cmyk(Image.fromarray(np.round(rgb * 255).astype(np.uint8))))
    assert np.abs(got - want).mean() <= 4 and np.abs(got - plain).mean() >= 25
    back = read_image(tmp_path / f"out.{ext}")
    assert back.cmyk and back.icc == profile
    error = (back.rgb - loaded.rgb).abs() * 255  # two trips through the profile's tables (and JPEG at quality 100)
    assert float(error.mean()) <= 2.5 and float(error.max()) <= 16
    # PNG holds no CMYK: the sRGB colours themselves, without the CMYK profile.
    png = read_image(tmp_path / "out.png")
    assert not png.cmyk and png.icc is None and torch.equal(png.rgb, torch.round(loaded.rgb * 255) / 255)


def test_untagged_cmyk_is_written_back_by_the_plain_formula(tmp_path: Path) -> None:
    from idc.io import _plain_cmyk_to_rgb, _plain_rgb_to_cmyk, write_like

    # The plain separation is the formula's inverse: a colour comes back exactly (every one of the 2**24:
    # test_the_plain_cmyk_formula_gives_back_every_colour_its_inverse_separates).
    colours = np.random.default_rng(5).integers(0, 256, (64, 64, 3), dtype=np.uint8)
    colours[0, :4] = [[0, 0, 0], [255, 255, 255], [255, 0, 0], [10, 10, 10]]
    inks = _plain_rgb_to_cmyk(Image.fromarray(colours))
    assert np.array_equal(np.asarray(_plain_cmyk_to_rgb(inks)), colours)
    assert np.asarray(inks)[0, :4].tolist() == [[0, 0, 0, 255], [0, 0, 0, 0], [0, 255, 255, 0], [0, 0, 0, 245]]
    inks.save(tmp_path / "plain.jpg", quality=100)
    loaded = read_image(tmp_path / "plain.jpg")
    write_like(tmp_path / "out.jpg", loaded.rgb, loaded, quality=100)
    write_like(tmp_path / "out.tif", loaded.rgb, loaded)
    with Image.open(tmp_path / "out.jpg") as written:
        assert written.mode == "CMYK" and "icc_profile" not in written.info
    # OpenCV (libjpeg's Adobe CMYK, its own conversion) sees the colours idc deblurred.
    import cv2

    seen = cv2.imread(str(tmp_path / "out.jpg"))[..., ::-1].astype(np.float64)
    assert np.abs(seen - loaded.rgb.permute(1, 2, 0).numpy() * 255).mean() <= 2
    with tifffile.TiffFile(tmp_path / "out.tif") as tif:
        page = tif.pages.first
        assert page.photometric == tifffile.PHOTOMETRIC.SEPARATED and page.tags["InkSet"].value == 1
        separated = _plain_rgb_to_cmyk(Image.fromarray(idc_io.to_uint(loaded.rgb, 8)))
        assert np.array_equal(page.asarray(), np.asarray(separated))
    assert torch.equal(read_image(tmp_path / "out.tif").rgb, loaded.rgb)  # the formula and its inverse, exactly


@pytest.mark.slow
def test_the_plain_cmyk_formula_gives_back_every_colour_its_inverse_separates() -> None:
    from idc.io import _plain_cmyk_to_rgb, _plain_rgb_to_cmyk

    for red in range(0, 256, 16):  # 16 reds at a time: 4096 x 1024 colours
        every = np.arange(red << 16, (red + 16) << 16, dtype=np.uint32)
        rgb = np.stack([every >> 16, (every >> 8) & 255, every & 255], -1).astype(np.uint8).reshape(1024, -1, 3)
        assert np.array_equal(np.asarray(_plain_cmyk_to_rgb(_plain_rgb_to_cmyk(Image.fromarray(rgb)))), rgb)


def test_a_cmyk_profile_that_cannot_separate_is_left_out_with_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # An input-only CMYK profile (no BToA table) tells how inks look, not which inks make a colour.
    from idc.io import write_like
    from tests.colour import cmyk_profile, swapped_inks

    profile = cmyk_profile(swapped_inks)
    Image.fromarray(np.full((4, 4, 4), 60, np.uint8), "CMYK").save(tmp_path / "in.tif", icc_profile=profile)
    loaded = read_image(tmp_path / "in.tif")
    assert loaded.cmyk and loaded.icc == profile
    with caplog.at_level(logging.WARNING, logger="idc.io"):
        write_like(tmp_path / "out.tif", loaded.rgb, loaded)
    (record,) = caplog.records
    assert "out.tif" in record.getMessage() and "no BToA table" in record.getMessage()
    with Image.open(tmp_path / "out.tif") as written:
        assert written.mode == "CMYK" and "icc_profile" not in written.info


@pytest.mark.parametrize("stored", ["unassalpha", "assocalpha"])
def test_cmyk_with_alpha_is_read_and_written_back_with_it(tmp_path: Path, stored: str) -> None:
    # Photoshop's CMYK with transparency: a fifth sample marked as alpha, which Pillow cannot open.
    from idc.io import cmyk_to_srgb, write_like
    from tests.colour import cmyk_profile, swapped_inks, swapped_separation

    profile = cmyk_profile(swapped_inks, grid=5, separate=swapped_separation)
    rng = np.random.default_rng(7)
    colours = rng.integers(40, 216, (6, 9, 3)) / 255.0  # inks as the profile separates colours, within its ink limit
    inks = np.round(swapped_separation(colours.reshape(-1, 3)).reshape(6, 9, 4) * 255).astype(np.uint8)
    alpha = rng.integers(64, 256, (6, 9), dtype=np.uint8)
    alpha[0, 0] = 255
    stored_inks = inks if stored == "unassalpha" else np.round(inks * (alpha[..., None] / 255.0)).astype(np.uint8)
    tifffile.imwrite(
        tmp_path / "cut-out.tif",
        np.dstack([stored_inks, alpha]),
        photometric="separated",
        extrasamples=[stored],
        extratags=[(34675, "B", len(profile), profile, True)],
    )
    loaded = read_image(tmp_path / "cut-out.tif")
    assert loaded.cmyk and loaded.icc == profile and loaded.alpha is not None
    assert torch.equal(loaded.alpha, torch.from_numpy(alpha / np.float32(255)))
    image = Image.fromarray(inks, "CMYK")
    image.info["icc_profile"] = profile
    want = np.asarray(cmyk_to_srgb(image)).astype(int)
    got = np.round(loaded.rgb.permute(1, 2, 0).numpy() * 255).astype(int)
    tol = 0 if stored == "unassalpha" else 4  # premultiplied: inks rounded, then divided by alpha (1/4 or more)
    assert np.abs(got - want).max() <= tol and got[0, 0].tolist() == want[0, 0].tolist()
    write_like(tmp_path / "out.tif", loaded.rgb, loaded)
    write_like(tmp_path / "out.jpg", loaded.rgb, loaded)
    with tifffile.TiffFile(tmp_path / "out.tif") as tif:
        page = tif.pages.first
        assert page.photometric == tifffile.PHOTOMETRIC.SEPARATED and page.extrasamples == (2,)
        assert np.array_equal(page.asarray()[..., 4], alpha)
    back = read_image(tmp_path / "out.tif")
    assert back.cmyk and back.icc == profile and torch.equal(back.alpha, loaded.alpha)
    assert float((back.rgb - loaded.rgb).abs().max()) * 255 <= 16  # through the profile's tables and back
    with Image.open(tmp_path / "out.jpg") as jpeg:  # JPEG holds no alpha
        assert jpeg.mode == "CMYK" and jpeg.info.get("icc_profile") == profile
    with pytest.raises(ValueError, match=r"a CMYK TIFF is written from \(H, W, 4-5\)"):
        idc_io.write_tiff(tmp_path / "b.tif", np.zeros((2, 2, 3), np.uint8), cmyk=True)


def test_corrupted_cmyk_profiles_cost_at_most_the_colour_management(tmp_path: Path) -> None:
    # benchmarks/fuzz_icc.py: CMYK files whose profiles have random bytes changed are read and written back as CMYK.
    from tests.colour import cmyk_profile, swapped_inks, swapped_separation
    from tests.conftest import load_script

    (tmp_path / "swapped.icc").write_bytes(cmyk_profile(swapped_inks, grid=5, separate=swapped_separation))
    fuzz = load_script("benchmarks/fuzz_icc.py")
    assert fuzz.main([str(tmp_path / "swapped.icc"), "--cases", "40", "--json", str(tmp_path / "out.json")]) == 0
    result = json.loads((tmp_path / "out.json").read_text())
    assert result["failures"] == [] and result["through_profile"] > 0 and result["plain"] > 0


def test_transparency_written_to_jpeg_is_flattened_onto_white_with_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # JPEG holds no alpha: what lay under transparent pixels (here black) would show. Image editors flatten.
    rgb = torch.zeros(3, 16, 16)
    rgb[0, :, 8:] = 1.0  # red on the right
    alpha = torch.ones(16, 16)
    alpha[:, :8] = 0.0  # the black left half transparent
    alpha[8:, 8:] = 0.5  # the lower red quarter half transparent
    with caplog.at_level(logging.WARNING, logger="idc.io"):
        write_image(tmp_path / "cut.jpg", rgb, alpha=alpha, quality=100)
    (record,) = caplog.records
    assert "cut.jpg" in record.getMessage() and "flattened onto white" in record.getMessage()
    got = np.asarray(Image.open(tmp_path / "cut.jpg").convert("RGB")).astype(int)
    assert np.abs(got[4:12, 1:6] - 255).max() <= 3  # transparent: white, not the black beneath
    assert np.abs(got[1:6, 10:15] - [255, 0, 0]).max() <= 6  # opaque red stays red
    assert np.abs(got[10:15, 10:15] - [255, 128, 128]).max() <= 6  # half red over white
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="idc.io"):
        write_image(tmp_path / "opaque.jpg", rgb, alpha=torch.ones(16, 16), quality=100)
    assert not caplog.records  # fully opaque: nothing lost, nothing said
    assert np.abs(np.asarray(Image.open(tmp_path / "opaque.jpg")).astype(int)[4:12, 1:6]).max() <= 3  # black stays


def test_cielab_tiffs_are_read_in_their_colours(tmp_path: Path) -> None:
    # 8-bit CIELab as tifffile writes it (a and b signed), against sRGB's known Lab values (D50).
    lab = np.zeros((2, 2, 3), np.uint8)
    lab[0, 0] = (128, 0, 0)  # L* 50, neutral: sRGB 119
    lab[0, 1] = (255, 0, 0)  # L* 100: white
    lab[1, 0] = (138, 81, 70)  # sRGB red's Lab (D50)
    lab[1, 1] = (128, 256 - 40, 256 - 40)  # a* and b* -40: a blue-green
    tifffile.imwrite(tmp_path / "lab.tif", lab, photometric="cielab")
    got = np.round(read_image(tmp_path / "lab.tif").rgb.permute(1, 2, 0).numpy() * 255)
    assert np.abs(got[0, 0] - 119).max() <= 1 and np.abs(got[0, 1] - 255).max() <= 1
    assert got[1, 0, 0] >= 245 and got[1, 0, 1:].max() <= 10
    assert got[1, 1, 0] <= 10 and got[1, 1, 2] > got[1, 1, 1] > 100


def test_cielab_tiffs_are_written_back_as_cielab(tmp_path: Path) -> None:
    # Lab values of colours inside sRGB (L*, then a* and b* as signed bytes): back as they were, up to rounding.
    lab = np.array(
        [
            [[128, 0, 0], [255, 0, 0], [138, 81, 70], [60, 30, 226]],
            [[200, 10, 20], [90, 250, 5], [30, 0, 0], [170, 0, 60]],
        ],
        np.uint8,
    )
    tifffile.imwrite(tmp_path / "lab.tif", lab, photometric="cielab")
    loaded = read_image(tmp_path / "lab.tif")
    assert loaded.lab and loaded.bit_depth == 8
    write_like(tmp_path / "out.tif", loaded.rgb, loaded)
    with tifffile.TiffFile(tmp_path / "out.tif") as tif:
        page = tif.pages.first
        assert page.photometric == tifffile.PHOTOMETRIC.CIELAB and page.compression == 8  # Deflate, as ever
        back = page.asarray()
    signed = lambda a: a.astype(np.int16) - np.where(np.arange(3) > 0, 256 * (a > 127), 0)  # noqa: E731
    assert np.abs(signed(back) - signed(lab)).max() <= 2
    again = read_image(tmp_path / "out.tif")
    # In sRGB: within 4 levels (8-bit Lab's steps are coarser than sRGB's near saturated colours: sRGB red's Lab).
    assert again.lab and float((again.rgb - loaded.rgb).abs().max()) <= 4 / 255 + 1e-6
    # Formats without Lab get its colours in sRGB; a gray image is gray, not Lab.
    write_like(tmp_path / "out.png", loaded.rgb, loaded)
    assert Image.open(tmp_path / "out.png").mode == "RGB" and not read_image(tmp_path / "out.png").lab


def test_cmyk_profiles_benchmark_reads_the_patches_through_each_profile(tmp_path: Path) -> None:
    from tests.colour import cmyk_profile, swapped_inks, swapped_separation
    from tests.conftest import load_script

    profile = cmyk_profile(swapped_inks, grid=5, description="swapped inks", separate=swapped_separation)
    (tmp_path / "swapped.icc").write_bytes(profile)
    bench = load_script("benchmarks/cmyk_profiles.py")
    assert bench.main([str(tmp_path / "swapped.icc"), "--json", str(tmp_path / "out.json")]) == 0
    result = json.loads((tmp_path / "out.json").read_text())
    patches = result["profiles"][0]["patches"]
    assert result["profiles"][0]["description"] == "swapped inks"
    assert patches["cyan"] == {"jpg": "#FF00FF", "tif": "#FF00FF"} and patches["paper"]["tif"] == "#FFFFFF"
    assert result["plain"]["cyan"]["tif"] == "#00FFFF" and result["plain"]["black"]["tif"] == "#000000"
    # Written back: the plain formula's inverse moves no colour; the profile's detour through sRGB about as much as
    # its own tables do, to Lab and back.
    assert all(row["dE00_max"] == 0 for row in result["plain_round_trip"].values())
    for name, row in result["profiles"][0]["round_trip"].items():
        assert 0 < row["dE00_mean"] <= row["profile_alone_dE00_mean"] + 0.5, name
    from PIL import ImageCms

    (tmp_path / "srgb.icc").write_bytes(ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes())
    with pytest.raises(SystemExit):
        bench.main([str(tmp_path / "srgb.icc")])


def _png_with_chunks(path: Path, mode: str, chunks: dict[bytes, bytes], **save: object) -> None:
    info = PngImagePlugin.PngInfo()
    for kind, data in chunks.items():
        info.add(kind, data)
    Image.fromarray(_array()).convert(mode).save(path, pnginfo=info, **save)


def _colour_space_exif(colour_space: int, interop: str | None) -> bytes:
    """EXIF as a camera writes it: its ColorSpace tag and, when given, the interoperability index (DCF)."""
    from PIL import ExifTags

    exif = Image.Exif()
    exif[0x010F] = "TestCam"
    sub = exif.get_ifd(ExifTags.IFD.Exif)
    sub[0xA001] = colour_space
    if interop is not None:
        sub[ExifTags.IFD.Interop] = {1: interop}
    return exif.tobytes()


def test_a_camera_jpeg_that_says_adobe_rgb_in_its_exif_gets_the_profile(tmp_path: Path) -> None:
    # A camera set to Adobe RGB embeds no profile: its EXIF says so (ColorSpace uncalibrated, interop index R03; some
    # write ColorSpace 2). Written to PNG without a profile, viewers would show it as sRGB, its colours dull.
    from PIL import ImageCms

    from idc.io import write_like

    photo = Image.fromarray(_array(8, 10))
    cases = {"r03": (0xFFFF, "R03"), "two": (2, None), "srgb": (1, "R98"), "bare": (0xFFFF, None)}
    for name, (space, interop) in cases.items():
        photo.save(tmp_path / f"{name}.jpg", exif=_colour_space_exif(space, interop), quality=95)
    srgb = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    photo.save(tmp_path / "own.jpg", exif=_colour_space_exif(0xFFFF, "R03"), icc_profile=srgb)
    adobe = read_image(tmp_path / "r03.jpg").icc
    assert adobe is not None and adobe == read_image(tmp_path / "two.jpg").icc
    assert read_image(tmp_path / "srgb.jpg").icc is None and read_image(tmp_path / "bare.jpg").icc is None
    assert read_image(tmp_path / "own.jpg").icc == srgb  # an embedded profile says more than the EXIF
    # The matrix of Adobe's own profile (AdobeRGB1998.icc, D50) and its curve, 563/256.
    profile = ImageCms.ImageCmsProfile(BytesIO(adobe)).profile
    columns = [profile.red_colorant[0], profile.green_colorant[0], profile.blue_colorant[0]]
    want = [(0.6097, 0.3111, 0.0195), (0.2053, 0.6257, 0.0609), (0.1492, 0.0632, 0.7446)]
    assert np.allclose(columns, want, atol=2e-3)
    assert b"curv" + bytes(4) + struct.pack(">IH", 1, 563) in adobe  # one exponent, 563/256
    loaded = read_image(tmp_path / "r03.jpg")
    write_like(tmp_path / "out.png", loaded.rgb, loaded)
    with Image.open(tmp_path / "out.png") as png:
        assert png.info.get("icc_profile") == adobe


def test_png_gamma_and_chromaticity_become_the_profile_they_amount_to(tmp_path: Path) -> None:
    # A linear PNG (gAMA 1.0) with Adobe RGB's primaries: every output carries it as an ICC profile, so colour-managed
    # viewers show the deblurred image as they showed the input; a gray one gets a gray profile.
    from idc.icc import png_profile

    adobe = (0.3127, 0.3290, 0.64, 0.33, 0.21, 0.71, 0.15, 0.06)
    gama, chrm = struct.pack(">I", 100000), struct.pack(">8I", *(round(v * 100000) for v in adobe))
    _png_with_chunks(tmp_path / "linear.png", "RGB", {b"gAMA": gama, b"cHRM": chrm})
    _png_with_chunks(tmp_path / "gray.png", "L", {b"gAMA": gama})
    loaded = read_image(tmp_path / "linear.png")
    assert loaded.icc == png_profile(1.0, adobe, grayscale=False) and loaded.icc is not None
    assert read_image(tmp_path / "gray.png").icc == png_profile(1.0, None, grayscale=True)
    _png_with_chunks(tmp_path / "palette.png", "P", {b"gAMA": gama})  # converted to RGB while read
    assert read_image(tmp_path / "palette.png").icc == png_profile(1.0, None, grayscale=False)
    for ext in ("png", "jpg", "tif", "webp"):
        write_image(tmp_path / f"out.{ext}", loaded.rgb, icc=loaded.icc)
        assert Image.open(tmp_path / f"out.{ext}").info.get("icc_profile") == loaded.icc
    # What says more wins, as in the PNG specification: an sRGB chunk or an embedded profile.
    _png_with_chunks(tmp_path / "srgb.png", "RGB", {b"gAMA": gama, b"sRGB": b"\0"})
    _png_with_chunks(tmp_path / "iccp.png", "RGB", {b"gAMA": gama}, icc_profile=_profile())
    assert read_image(tmp_path / "srgb.png").icc is None
    assert read_image(tmp_path / "iccp.png").icc == _profile()
    # The gamma of sRGB, the usual gAMA: nothing to carry.
    _png_with_chunks(tmp_path / "usual.png", "RGB", {b"gAMA": struct.pack(">I", 45455)})
    assert read_image(tmp_path / "usual.png").icc is None
