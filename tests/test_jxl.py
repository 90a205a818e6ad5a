"""JPEG XL: headers read without decoding, pixels and metadata through the optional plugin (idc-deblur[jxl])."""

from __future__ import annotations

import contextlib
import io
import logging
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from idc import jxl
from idc.cli import main
from idc.io import ImageReadError, image_size, read_image, set_max_pixels, sniff_container, write_image, write_like
from idc.weights import save_weights
from tests.conftest import random_idc, run_without_imagecodecs

imagecodecs = pytest.importorskip("imagecodecs", reason="JPEG XL tests make files with imagecodecs (idc-deblur[jxl])")
pytest.importorskip("pillow_jxl", reason="JPEG XL needs pillow-jxl-plugin (idc-deblur[jxl], in the dev extras)")

XMP = (
    b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
    b'<rdf:Description xmlns:tiff="http://ns.adobe.com/tiff/1.0/" xmlns:xmp="http://ns.adobe.com/xap/1.0/" '
    b'tiff:Orientation="6" xmp:Rating="4"/></rdf:RDF></x:xmpmeta>'
)


def _samples(h: int, w: int, c: int, dtype: type = np.uint8, seed: int = 0) -> np.ndarray:
    peak = 255 if dtype == np.uint8 else 65535
    a = np.random.default_rng(seed).integers(0, peak + 1, (h, w, c))
    return a.astype(dtype)[..., 0] if c == 1 else a.astype(dtype)


def _exif(orientation: int) -> bytes:
    exif = Image.Exif()
    exif[0x0112] = orientation
    exif[0x010F] = "TestCam"
    return exif.tobytes()


@pytest.mark.parametrize("container", [False, True])
def test_headers_give_the_size_depth_and_channels_libjxl_wrote(container: bool) -> None:
    # Sizes that take each branch of the size header: small (multiples of 8 up to 256), the fixed aspect ratios
    # (1:1, 4:3, 3:2, 16:9, 2:1), large and odd ones.
    sizes = [(1, 1), (8, 8), (64, 64), (72, 96), (256, 256), (264, 352), (40, 60), (720, 1280), (33, 1000), (5, 7)]
    sizes += [(300, 450), (200, 400), (257, 513)]
    kinds = [(3, np.uint8), (4, np.uint8), (1, np.uint16), (2, np.uint16)] * 4
    for (h, w), (c, dtype) in zip(sizes, kinds[: len(sizes)], strict=True):
        data = imagecodecs.jpegxl_encode(_samples(h, w, c, dtype), usecontainer=container, distance=1.0)
        header = jxl.parse_header(jxl.codestream(data))
        assert (header.width, header.height, header.orientation) == (w, h, 1), (h, w, c)
        assert header.bits == (8 if dtype == np.uint8 else 16) and not header.float_samples and not header.animated
        assert header.extra_channels == ([jxl.ALPHA] if c in (2, 4) else [])
    lossless = imagecodecs.jpegxl_encode(_samples(9, 11, 3), lossless=True, usecontainer=container)
    lossy = imagecodecs.jpegxl_encode(_samples(90, 110, 3), distance=2.0, usecontainer=container)
    assert jxl.parse_header(jxl.codestream(lossless)).xyb is False
    assert jxl.parse_header(jxl.codestream(lossy)).xyb is True


def test_headers_say_float_samples_and_animation() -> None:
    rng = np.random.default_rng(1)
    for dtype, bits in ((np.float32, 32), (np.float16, 16)):
        header = jxl.parse_header(jxl.codestream(imagecodecs.jpegxl_encode(rng.random((6, 7, 3)).astype(dtype))))
        assert header.float_samples and header.bits == bits
    frames = imagecodecs.jpegxl_encode(_samples(3 * 6, 7, 3).reshape(3, 6, 7, 3))
    assert jxl.parse_header(jxl.codestream(frames)).animated


def test_a_corrupt_header_raises_value_error_only() -> None:
    data = imagecodecs.jpegxl_encode(_samples(30, 40, 4), usecontainer=True)
    rng = np.random.default_rng(2)
    for _ in range(300):
        mangled = bytearray(data[: rng.integers(0, 80)] if rng.random() < 0.5 else data)
        for where in rng.integers(0, len(mangled), 3) if mangled else []:
            mangled[where] ^= 1 << int(rng.integers(0, 8))
        with contextlib.suppress(ValueError):  # any other exception fails the test
            jxl.parse_header(jxl.codestream(bytes(mangled)))


def _orientation_6_jpeg_as_jxl(tmp_path: Path) -> tuple[Path, Path]:
    """A JPEG stored sideways (EXIF orientation 6) recompressed losslessly into JPEG XL by libjxl, which moves the
    orientation into the codestream; and the same JPEG XL without its JPEG reconstruction data, which decoders give
    as pixels."""
    jpeg = tmp_path / "sideways.jpg"
    corner = np.zeros((16, 24, 3), np.uint8)
    corner[:4, :4] = 255  # stored top left; upright (a quarter turn clockwise), top right
    Image.fromarray(corner).save(jpeg, exif=_exif(6), quality=95)
    recompressed = tmp_path / "recompressed.jxl"
    with Image.open(jpeg) as img:
        img.save(recompressed, lossless_jpeg=True)
    data = recompressed.read_bytes()
    pixels = b"".join(
        (len(payload) + 8).to_bytes(4, "big") + kind + payload for kind, payload in jxl.boxes(data) if kind != b"jbrd"
    )
    (tmp_path / "pixels.jxl").write_bytes(pixels)
    return recompressed, tmp_path / "pixels.jxl"


def test_the_codestream_orientation_is_applied_once(tmp_path: Path) -> None:
    recompressed, pixels = _orientation_6_jpeg_as_jxl(tmp_path)
    assert jxl.parse_header(jxl.codestream(recompressed.read_bytes())).orientation == 6
    jpeg = read_image(tmp_path / "sideways.jpg")
    for source in (recompressed, pixels):
        assert image_size(source) == (16, 24)  # (width, height) upright, from the headers alone
        loaded = read_image(source)
        assert loaded.rgb.shape == (3, 24, 16)
        assert loaded.rgb[:, :4, -4:].mean() > 0.9 and loaded.rgb[:, -4:, :4].mean() < 0.1
        assert loaded.exif is not None and Image.Exif().load(loaded.exif) is None
    # The recompressed file gives back the JPEG bit for bit, so the very pixels of the JPEG.
    assert torch.equal(read_image(recompressed).rgb, jpeg.rgb)
    assert read_image(recompressed).subsampling == jpeg.subsampling
    # Decoded as pixels by libjxl: the same picture within its rounding.
    assert (read_image(pixels).rgb - jpeg.rgb).abs().mean() < 2 / 255


@pytest.mark.parametrize(("c", "dtype"), [(3, np.uint16), (4, np.uint16), (2, np.uint16), (1, np.uint8), (4, np.uint8)])
def test_pixels_are_read_exactly_at_their_depth(tmp_path: Path, c: int, dtype: type) -> None:
    samples = _samples(7, 9, c, dtype, seed=c)
    (tmp_path / "a.jxl").write_bytes(imagecodecs.jpegxl_encode(samples, lossless=True))
    loaded = read_image(tmp_path / "a.jxl")
    peak = 255 if dtype == np.uint8 else 65535
    assert loaded.bit_depth == (8 if dtype == np.uint8 else 16) and loaded.lossless
    as_read = np.round(loaded.rgb.permute(1, 2, 0).numpy() * peak).astype(np.int64)
    colours = 1 if c <= 2 else 3
    planes = samples[..., None] if c == 1 else samples
    assert loaded.grayscale == (colours == 1)
    assert np.array_equal(as_read[..., :colours], planes[..., :colours])
    if c in (2, 4):
        assert loaded.alpha is not None
        assert np.array_equal(np.round(loaded.alpha.numpy() * peak).astype(np.int64), planes[..., -1])
    else:
        assert loaded.alpha is None


@pytest.mark.parametrize("c", [1, 3])
def test_10_bit_samples_are_scaled_to_16_bits(tmp_path: Path, c: int) -> None:
    codes = (_samples(5, 6, c, np.uint16, seed=7) >> 6).astype(np.uint16)  # 0-1023
    (tmp_path / "ten.jxl").write_bytes(imagecodecs.jpegxl_encode(codes, lossless=True, bitspersample=10))
    assert jxl.parse_header(jxl.codestream((tmp_path / "ten.jxl").read_bytes())).bits == 10
    loaded = read_image(tmp_path / "ten.jxl")
    as_read = np.round(loaded.rgb.permute(1, 2, 0).numpy()[..., :c] * 65535).astype(np.int64)
    expected = np.round((codes[..., None] if c == 1 else codes) * (65535 / 1023))
    assert loaded.bit_depth == 16 and np.abs(as_read - expected).max() <= 1


def test_written_with_metadata_and_read_back(tmp_path: Path) -> None:
    rgb = torch.from_numpy(_samples(12, 10, 3).transpose(2, 0, 1) / 255.0).float()
    alpha = torch.linspace(0, 1, 120).reshape(12, 10)
    write_image(tmp_path / "out.jxl", rgb, alpha=alpha, exif=_exif(6), xmp=XMP, lossless=True)
    data = (tmp_path / "out.jxl").read_bytes()
    exif, xmp = jxl.metadata(data)
    assert exif is not None and exif[:4] in (b"II*\x00", b"MM\x00*") and xmp == XMP
    back = read_image(tmp_path / "out.jxl")
    assert torch.equal(back.rgb, (rgb * 255).round() / 255) and back.alpha is not None
    assert torch.allclose(back.alpha, (alpha * 255).round() / 255)
    tags = Image.Exif()
    tags.load(back.exif)
    assert tags[0x010F] == "TestCam" and tags[0x0112] == 1
    assert back.xmp is not None and b'tiff:Orientation="1"' in back.xmp and b'xmp:Rating="4"' in back.xmp
    # Another writer's layout: the Exif box without its offset field, both boxes Brotli-compressed (brob).
    img = Image.fromarray(_samples(12, 10, 3))
    img.save(tmp_path / "plugin.jxl", exif=_exif(3)[6:], xmp=XMP, compress_metadata=True)
    kinds = [kind for kind, _ in jxl.boxes((tmp_path / "plugin.jxl").read_bytes())]
    assert kinds.count(b"brob") == 2
    other = read_image(tmp_path / "plugin.jxl")
    assert other.xmp is not None and b'xmp:Rating="4"' in other.xmp
    tags.load(other.exif)
    assert tags[0x010F] == "TestCam" and tags[0x0112] == 1


def test_compressed_metadata_without_brotli_is_left_out_with_a_warning(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    Image.fromarray(_samples(12, 10, 3)).save(
        tmp_path / "plugin.jxl", exif=_exif(3)[6:], xmp=XMP, compress_metadata=True
    )
    monkeypatch.setattr(jxl, "_brotli", lambda: None)
    with caplog.at_level(logging.WARNING, logger="idc.jxl"):
        loaded = read_image(tmp_path / "plugin.jxl")
    assert loaded.exif is None and loaded.xmp is None and loaded.rgb.shape == (3, 12, 10)
    assert "plugin.jxl: its compressed EXIF left out (pip install brotli to keep it)" in caplog.text
    assert "plugin.jxl: its compressed XMP left out" in caplog.text


def test_gray_stays_gray_and_lossy_input_gives_lossy_output(tmp_path: Path) -> None:
    gray = _samples(40, 48, 1, seed=5)
    (tmp_path / "gray.jxl").write_bytes(imagecodecs.jpegxl_encode(gray, distance=1.0))
    loaded = read_image(tmp_path / "gray.jxl")
    assert loaded.grayscale and not loaded.lossless
    write_like(tmp_path / "out.jxl", loaded.rgb, loaded, quality=90)
    header = jxl.parse_header(jxl.codestream((tmp_path / "out.jxl").read_bytes()))
    assert header.xyb is True  # lossy, as the input was
    with Image.open(tmp_path / "out.jxl") as out:  # the plugin is registered once idc has written JPEG XL
        assert out.mode == "L"


def test_colours_in_another_profile_are_converted_to_srgb(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    from PIL import ImageCms

    from idc.icc import adobe_rgb_profile

    green = torch.zeros(3, 4, 4)
    green[1] = 1.0  # Adobe RGB's green lies outside sRGB: clipped to sRGB's most saturated green, red and blue lift 0
    with caplog.at_level(logging.WARNING, logger="idc.io"):
        write_image(tmp_path / "adobe.jxl", green, icc=adobe_rgb_profile(), lossless=True)
    assert "adobe.jxl: JPEG XL is written in sRGB here; converted from the input's colour profile" in caplog.text
    back = read_image(tmp_path / "adobe.jxl").rgb
    assert back[1].min() == 1.0 and back[0].max() == 0.0 and back[2].max() < 0.3
    caplog.clear()
    srgb = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    with caplog.at_level(logging.WARNING, logger="idc.io"):
        write_image(tmp_path / "srgb.jxl", green, icc=srgb, lossless=True)
    assert not caplog.text and torch.equal(read_image(tmp_path / "srgb.jxl").rgb, green)


def test_what_is_not_read_is_refused_by_name(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    rng = np.random.default_rng(4)
    (tmp_path / "hdr.jxl").write_bytes(imagecodecs.jpegxl_encode(rng.random((6, 7, 3)).astype(np.float32)))
    (tmp_path / "anim.jxl").write_bytes(imagecodecs.jpegxl_encode(_samples(18, 7, 3).reshape(3, 6, 7, 3)))
    whole = imagecodecs.jpegxl_encode(_samples(60, 70, 3), usecontainer=True)
    (tmp_path / "cut.jxl").write_bytes(whole[:30])
    (tmp_path / "tail.jxl").write_bytes(whole[: len(whole) // 2])
    with pytest.raises(ImageReadError, match=r"hdr\.jxl: floating-point JPEG XL samples \(32-bit float"):
        read_image(tmp_path / "hdr.jxl")
    with pytest.raises(ImageReadError, match=r"anim\.jxl: an animated JPEG XL; idc deblurs still images"):
        read_image(tmp_path / "anim.jxl")
    for name in ("cut.jxl", "tail.jxl"):
        with pytest.raises(ImageReadError, match=rf"{name}: corrupt or truncated JPEG XL image \("):
            read_image(tmp_path / name)
    # Too many pixels: refused from the headers, before anything decodes it.
    (tmp_path / "big.jxl").write_bytes(imagecodecs.jpegxl_encode(_samples(40, 50, 3)))
    monkeypatch.setattr(jxl, "decode", lambda *a: pytest.fail("decoded before the pixel limit was checked"))
    set_max_pixels(1999)
    try:
        with pytest.raises(ImageReadError, match=r"big\.jxl: .*2,000"):
            read_image(tmp_path / "big.jxl")
    finally:
        set_max_pixels(178_956_970)


def test_without_the_plugin_what_to_install_is_said(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "a.jxl").write_bytes(imagecodecs.jpegxl_encode(_samples(6, 7, 3)))
    assert sniff_container((tmp_path / "a.jxl").read_bytes()[:64]) == "JXL"
    monkeypatch.setattr(jxl, "decoder_problem", lambda: f"JPEG XL needs the pillow-jxl-plugin package: {jxl.INSTALL}")
    with pytest.raises(ImageReadError, match=r"a\.jxl: JPEG XL needs the pillow-jxl-plugin package: pip install"):
        read_image(tmp_path / "a.jxl")
    assert image_size(tmp_path / "a.jxl") == (7, 6)  # the headers need no plugin
    with pytest.raises(ValueError, match=r"out\.jxl: JPEG XL needs the pillow-jxl-plugin package"):
        write_image(tmp_path / "out.jxl", torch.rand(3, 4, 5))
    assert not (tmp_path / "out.jxl").exists()


def test_deblur_keeps_jpeg_xl_with_format_same(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    weights = save_weights(random_idc(), tmp_path / "w")
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "deep.jxl").write_bytes(imagecodecs.jpegxl_encode(_samples(20, 24, 3, np.uint16), lossless=True))
    (folder / "photo.jxl").write_bytes(imagecodecs.jpegxl_encode(_samples(20, 24, 3), distance=1.0))
    common = ["--weights", str(weights), "--device", "cpu", "--backend", "torch", "--precision", "fp32"]
    assert main(["deblur", str(folder), "-o", str(tmp_path / "dry"), "--format", "same", "--dry-run"]) == 0
    assert "deep.jxl -> " in capsys.readouterr().out and not (tmp_path / "dry").exists()
    assert main(["deblur", str(folder), "-o", str(tmp_path / "same"), "--format", "same", *common]) == 0
    assert main(["deblur", str(folder / "deep.jxl"), "-o", str(tmp_path / "deep.png"), *common]) == 0
    assert read_image(tmp_path / "same" / "photo.jxl").rgb.shape == (3, 20, 24)
    assert read_image(tmp_path / "deep.png").bit_depth == 16  # 16 bits kept into PNG
    # Standard input is known as JPEG XL by its signature.
    data = (folder / "photo.jxl").read_bytes()
    piped = subprocess.run(
        [sys.executable, "-m", "idc", "deblur", "-", "-o", "-", "--format", "same", *common],
        input=data,
        capture_output=True,
        timeout=300,
    )
    assert piped.returncode == 0, piped.stderr.decode()[-2000:]
    assert jxl.is_jxl(piped.stdout) and "standard input -> standard output" in piped.stderr.decode()


def test_without_imagecodecs_deep_colour_is_read_at_8_bits_with_a_warning(tmp_path: Path) -> None:
    samples = _samples(5, 6, 3, np.uint16)
    (tmp_path / "deep.jxl").write_bytes(imagecodecs.jpegxl_encode(samples, lossless=True))
    eight = round(samples[0, 0, 0] / 65535 * 255)
    err = run_without_imagecodecs(
        "import logging\n"
        "logging.basicConfig(level=logging.WARNING, format='%(message)s')\n"
        "from idc.io import read_image\n"
        f"loaded = read_image({str(tmp_path / 'deep.jxl')!r})\n"
        f"assert loaded.bit_depth == 8 and round(float(loaded.rgb[0, 0, 0]) * 255) == {eight}\n"
    )
    assert "deep.jxl: 16-bit JPEG XL read at 8 bits (to keep its depth: pip install imagecodecs" in err


def test_an_image_in_memory_round_trips_through_the_plugin_encoder() -> None:
    pixels = _samples(8, 8, 4)
    data = jxl.encode(pixels, 100, True, None, None)
    assert jxl.is_jxl(data) and jxl.boxes(data)  # a container, so metadata boxes can follow
    with Image.open(io.BytesIO(data)) as img:
        assert np.array_equal(np.asarray(img), pixels)
