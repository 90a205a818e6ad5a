"""Camera raw files developed with LibRaw (idc.raw), on DNGs of a known scene (tests/rawfiles.py)."""

from __future__ import annotations

import io
import logging
import re
import sys
from pathlib import Path

import numpy as np
import pytest
import tifffile
from PIL import Image

import idc.io as idc_io
from idc.batch import PlanError, collect_inputs, output_suffix
from idc.cli import main
from idc.infer import deblur_image
from idc.io import INSTALL_ADVICE, CameraRawError, ImageReadError, image_size, read_image
from idc.raw import develop, rawpy_problem
from idc.weights import load_model, save_weights
from tests.conftest import random_idc
from tests.rawfiles import patches, srgb_encode, write_dng

# rawpy is a development dependency; where it is missing, or does not load, only the tests of that case run.
needs_rawpy = pytest.mark.skipif(
    rawpy_problem() is not None, reason=f"no rawpy to develop raw files: {rawpy_problem()}"
)

XMP = (
    b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
    b'<rdf:Description xmlns:tiff="http://ns.adobe.com/tiff/1.0/" xmlns:xmp="http://ns.adobe.com/xap/1.0/" '
    b'tiff:Orientation="6" xmp:Rating="4"/></rdf:RDF></x:xmpmeta>'
)


@pytest.fixture
def no_rawpy(monkeypatch: pytest.MonkeyPatch) -> None:
    """An installation without rawpy: importing it fails."""
    monkeypatch.setitem(sys.modules, "rawpy", None)


def _middle(rgb: np.ndarray, rows: slice, cols: slice) -> np.ndarray:
    return rgb[rows, cols].reshape(-1, 3).mean(axis=0)


@needs_rawpy
def test_a_raw_file_is_developed_in_its_colours_with_the_exposure_as_shot(tmp_path: Path) -> None:
    scene = patches()  # (64, 96): red | gray (white above) | blue, a sensor-white strip on top
    write_dng(tmp_path / "IMG_0001.dng", scene)
    image = read_image(tmp_path / "IMG_0001.dng")
    assert image.bit_depth == 16 and image.alpha is None and image.icc is None and not image.grayscale
    rgb = image.rgb.permute(1, 2, 0).numpy()
    assert rgb.shape == (64, 96, 3) and image_size(tmp_path / "IMG_0001.dng") == (96, 64)
    # The camera's colours in sRGB with its white balance and the sRGB curve, away from the patches' edges.
    for rows, cols, linear in (
        (slice(8, 56), slice(4, 28), (0.6, 0.1, 0.1)),  # red
        (slice(40, 60), slice(36, 60), (0.18, 0.18, 0.18)),  # 18 % gray: sRGB 0.461
        (slice(8, 56), slice(68, 92), (0.1, 0.1, 0.6)),  # blue
        (slice(8, 28), slice(36, 60), (0.9, 0.9, 0.9)),  # white paper, not clipped
    ):
        assert np.allclose(_middle(rgb, rows, cols), srgb_encode(np.array(linear)), atol=0.01), linear
    # Exposure as shot: a dark photo stays dark (dcraw's automatic brightening, asked for, clips its brightest 1 %).
    write_dng(tmp_path / "dark.dng", scene[2:] * 0.25)  # no sensor white: nothing to scale by
    dark = read_image(tmp_path / "dark.dng").rgb.permute(1, 2, 0).numpy()
    assert np.allclose(_middle(dark, slice(40, 60), slice(36, 60)), srgb_encode(0.18 * 0.25), atol=0.01)
    bright = develop(tmp_path / "dark.dng", 10**6, auto_bright=True).rgb.permute(1, 2, 0).numpy()
    assert _middle(bright, slice(40, 60), slice(36, 60))[1] > _middle(dark, slice(40, 60), slice(36, 60))[1] + 0.1
    assert (bright >= 1).mean() > 0.005 and (dark >= 1).mean() == 0


@needs_rawpy
def test_the_camera_orientation_is_applied_and_the_metadata_carried(tmp_path: Path) -> None:
    # Orientation 6: the camera was turned a quarter clockwise; the developed photo is upright (the red left side of
    # the sensor on top), its EXIF orientation 1 and its XMP's too, and what is not EXIF (the DNG's colour matrix,
    # version, sensor layout) left out, so the output cannot pass for a raw file.
    write_dng(tmp_path / "turned.DNG", patches(), orientation=6, make="Nikon", model="Z 8", xmp=XMP)
    image = read_image(tmp_path / "turned.DNG")
    rgb = image.rgb.permute(1, 2, 0).numpy()
    assert rgb.shape == (96, 64, 3) and image_size(tmp_path / "turned.DNG") == (64, 96)
    assert np.allclose(_middle(rgb, slice(4, 28), slice(8, 56)), srgb_encode(np.array([0.6, 0.1, 0.1])), atol=0.01)
    exif = Image.Exif()
    assert image.exif is not None
    exif.load(image.exif)
    assert dict(exif) == {271: "Nikon", 272: "Z 8", 274: 1, 306: "2026:11:28 12:00:00"}
    assert image.xmp is not None and b'tiff:Orientation="1"' in image.xmp and b'xmp:Rating="4"' in image.xmp


@needs_rawpy
def test_a_dng_laid_out_as_cameras_write_it_is_developed_from_its_raw_data(tmp_path: Path) -> None:
    # A small preview first (holding the camera's and the DNG's tags), the raw data in a sub-IFD: named .dng, or
    # renamed .tif, where Pillow opens the preview and read_image knows the file by its DNG tag.
    for name in ("IMG_0002.dng", "renamed.tif"):
        write_dng(tmp_path / name, patches(), make="Leica", preview=True)
        with Image.open(tmp_path / name) as pillow_view:
            assert pillow_view.size == (24, 16)  # what would have been deblurred once
        image = read_image(tmp_path / name)
        rgb = image.rgb.permute(1, 2, 0).numpy()
        assert rgb.shape == (64, 96, 3) and image.bit_depth == 16, name
        assert np.allclose(_middle(rgb, slice(40, 60), slice(36, 60)), srgb_encode(0.18), atol=0.01), name
        exif = Image.Exif()
        exif.load(image.exif or b"")
        assert exif[271] == "Leica" and 50706 not in exif and 254 not in exif, name


@needs_rawpy
def test_every_orientation_is_applied_and_sized_alike(tmp_path: Path) -> None:
    # The same sensor data under each EXIF orientation comes out as the upright photo turned as that orientation
    # says (what read_image does for any image), and image_size, from the header, says its size.
    write_dng(tmp_path / "o1.dng", patches(32, 48))
    upright = read_image(tmp_path / "o1.dng").rgb.permute(1, 2, 0).numpy()
    for orientation in range(2, 9):
        write_dng(tmp_path / f"o{orientation}.dng", patches(32, 48), orientation=orientation)
        rgb = read_image(tmp_path / f"o{orientation}.dng").rgb.permute(1, 2, 0).numpy()
        assert np.array_equal(rgb, idc_io._ORIENT[orientation](upright)), orientation
        assert image_size(tmp_path / f"o{orientation}.dng") == (rgb.shape[1], rgb.shape[0]), orientation


@needs_rawpy
def test_without_exif_of_its_own_what_libraw_read_of_the_photo_is_carried(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A CR3 is no TIFF and its previews hold no EXIF: the date, exposure and lens LibRaw read are written as EXIF.
    import rawpy

    if not hasattr(rawpy.RawPy, "other"):
        pytest.skip(f"rawpy {rawpy.__version__} does not tell what LibRaw read of the photo (0.27 and newer do)")
    import idc.raw

    exposure = ((33434, "2I", 1, (1, 250), True), (33437, "2I", 1, (56, 10), True), (37386, "2I", 1, (35, 1), True))
    write_dng(tmp_path / "IMG_0001.dng", patches(32, 48), extra_tags=exposure)
    monkeypatch.setattr(idc.raw, "read_tiff_exif", lambda path: Image.Exif())  # as for a file that is no TIFF
    image = read_image(tmp_path / "IMG_0001.dng")
    exif = Image.Exif()
    exif.load(image.exif or b"")
    shot = exif.get_ifd(0x8769)
    assert exif[0x0132] == shot[0x9003] == "2026:11:28 12:00:00" and 271 not in exif  # LibRaw tells no camera
    assert shot[0x829A] == pytest.approx(1 / 250) and shot[0x829D] == pytest.approx(5.6) and shot[0x920A] == 35
    assert 0x8827 not in shot  # no ISO in the file, none made up


@needs_rawpy
def test_a_raw_file_is_deblurred_into_a_16_bit_tiff_with_its_metadata(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    weights = save_weights(random_idc(), tmp_path / "w")
    write_dng(tmp_path / "shots" / "DSC_0001.NEF", patches(), make="Nikon", xmp=XMP)  # LibRaw reads by content
    before = (tmp_path / "shots" / "DSC_0001.NEF").read_bytes()
    args = ["--weights", str(weights), "--device", "cpu", "--backend", "torch", "--precision", "fp32"]
    assert main(["deblur", str(tmp_path / "shots" / "DSC_0001.NEF"), "-o", str(tmp_path / "out"), "--format", "same",
                 *args]) == 0  # fmt: skip
    out = tmp_path / "out" / "DSC_0001.tif"
    assert output_suffix(Path("a.CR3"), "same") == ".tif" and output_suffix(Path("a.CR3"), "png") == ".png"
    assert (tmp_path / "shots" / "DSC_0001.NEF").read_bytes() == before
    with tifffile.TiffFile(out) as tif:
        samples = tif.pages.first.asarray()
    # The developed photo, deblurred: not its preview, and to the last of its 16-bit levels.
    developed = read_image(tmp_path / "shots" / "DSC_0001.NEF").rgb
    expected = deblur_image(load_model(weights), developed, tile=0).permute(1, 2, 0).numpy()
    assert samples.dtype == np.uint16 and samples.shape == (64, 96, 3)
    assert np.abs(samples.astype(np.int64) - np.round(expected * 65535)).max() <= 1
    again = read_image(out)  # an ordinary 16-bit TIFF: not taken for a raw file, its camera and rating kept
    exif = Image.Exif()
    exif.load(again.exif)
    assert again.bit_depth == 16 and exif[271] == "Nikon" and 50706 not in exif
    assert again.xmp is not None and b'xmp:Rating="4"' in again.xmp
    # From standard input too, where Pillow cannot say what it is: LibRaw knows it by content.
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(before)))
    assert main(["deblur", "-", "-o", str(tmp_path / "piped.png"), *args]) == 0
    piped = read_image(tmp_path / "piped.png")
    assert piped.bit_depth == 16 and tuple(piped.rgb.shape) == (3, 64, 96)


@needs_rawpy
def test_folders_take_raw_files_but_not_beside_their_jpeg(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    shots = tmp_path / "shots"
    shots.mkdir()
    for name in ("a.NEF", "b.NEF", "c.dng"):
        write_dng(shots / name, patches(8, 12))
    Image.new("RGB", (12, 8)).save(shots / "b.JPG")  # a camera's RAW+JPEG pair: its JPEG is the photo
    with caplog.at_level(logging.WARNING):
        assert [rel.name for _, rel in collect_inputs([shots])] == ["a.NEF", "b.JPG", "c.dng"]
    assert "1 camera raw file left out, each beside an image of the same name, which is taken instead" in caplog.text
    assert "(b.JPG for b.NEF)" in caplog.text
    # Without rawpy the raw files are left out with what to install, and a folder of raw files only is refused so.
    monkeypatch.setitem(sys.modules, "rawpy", None)
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        assert [rel.name for _, rel in collect_inputs([shots])] == ["b.JPG"]
    assert f"3 camera raw files left out; {INSTALL_ADVICE}" in caplog.text
    (shots / "b.JPG").unlink()
    with pytest.raises(PlanError, match=re.escape(f"folder holds 3 camera raw files only; {INSTALL_ADVICE}")):
        collect_inputs([shots])


@needs_rawpy
def test_a_folder_takes_a_raw_file_only_when_it_is_a_cameras(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # .raw also names instruments' plain sample dumps: such a file is not an input, a camera's (Panasonic's, which
    # begins as an RW2, or any LibRaw reads) is.
    folder = tmp_path / "mixed"
    folder.mkdir()
    (folder / "scan.raw").write_bytes(bytes(range(256)) * 16)
    write_dng(folder / "camera.raw", patches(32, 48))
    (folder / "P1000001.RAW").write_bytes(b"IIU\0" + bytes(60))
    Image.new("RGB", (12, 8)).save(folder / "photo.png")
    assert [rel.name for _, rel in collect_inputs([folder])] == ["P1000001.RAW", "camera.raw", "photo.png"]
    monkeypatch.setitem(sys.modules, "rawpy", None)  # known by how it begins without rawpy too
    (folder / "photo.png").unlink()
    with pytest.raises(PlanError, match=re.escape(f"folder holds 1 camera raw file only; {INSTALL_ADVICE}")):
        collect_inputs([folder])


@pytest.mark.usefixtures("no_rawpy")
def test_without_rawpy_a_raw_file_is_refused_with_what_to_install(tmp_path: Path) -> None:
    write_dng(tmp_path / "IMG_0001.CR2", patches(8, 12))
    write_dng(tmp_path / "renamed.tif", patches(8, 12))
    with pytest.raises(CameraRawError, match=re.escape(f"IMG_0001.CR2: a camera raw file (CR2); {INSTALL_ADVICE}")):
        read_image(tmp_path / "IMG_0001.CR2")
    with pytest.raises(CameraRawError, match=re.escape(f"renamed.tif: a DNG camera raw file; {INSTALL_ADVICE}")):
        read_image(tmp_path / "renamed.tif")
    with pytest.raises(CameraRawError, match=re.escape(f"IMG_0001.CR2: a camera raw file (CR2); {INSTALL_ADVICE}")):
        image_size(tmp_path / "IMG_0001.CR2")


@pytest.mark.usefixtures("no_rawpy")
def test_raw_files_piped_in_are_known_by_how_they_begin(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # A CR3 or RAF is no TIFF, and Pillow cannot say what it is; it is refused as one, with what to install.
    weights = save_weights(random_idc(), tmp_path / "w")
    for head, kind in ((b"\0\0\0\x18ftypcrx \0\0\0\x01", "CR3"), (b"FUJIFILMCCD-RAW 0201FF383501", "RAF")):
        monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(head + bytes(64))))
        assert main(["deblur", "-", "-o", str(tmp_path / "out.png"), "--weights", str(weights)]) == 1
        assert f"standard input: a camera raw file ({kind}); {INSTALL_ADVICE}" in capsys.readouterr().err
    assert not (tmp_path / "out.png").exists()


def test_a_rawpy_that_does_not_load_is_named_with_what_to_do(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # rawpy 0.21 allows any numpy but was built for numpy 1: beside numpy 2 its import fails with a ValueError.
    (tmp_path / "site" / "rawpy").mkdir(parents=True)
    (tmp_path / "site" / "rawpy" / "__init__.py").write_text("raise ValueError('numpy.dtype size changed')\n")
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    monkeypatch.delitem(sys.modules, "rawpy", raising=False)
    write_dng(tmp_path / "shots" / "IMG_0001.CR2", patches(8, 12))
    problem = "rawpy is installed but does not load (numpy.dtype size changed): pip install -U rawpy (or export it"
    assert (rawpy_problem() or "").startswith(problem)
    with pytest.raises(CameraRawError, match=re.escape(f"IMG_0001.CR2: a camera raw file (CR2); {problem}")):
        read_image(tmp_path / "shots" / "IMG_0001.CR2")
    with pytest.raises(PlanError, match=re.escape(f"folder holds 1 camera raw file only; {problem}")):
        collect_inputs([tmp_path / "shots"])


@needs_rawpy
def test_a_renamed_raw_file_is_developed_from_its_sensor_data_not_its_preview(tmp_path: Path) -> None:
    # A NEF-like TIFF (tests/test_io.py): a 24x36 preview first, 96x144 colour-filter-array data in a sub-image.
    from tests.test_io import _raw_like

    _raw_like(tmp_path / "DSC_0001.tif", dng=False)
    image = read_image(tmp_path / "DSC_0001.tif")
    assert image.bit_depth == 16 and tuple(image.rgb.shape) == (3, 96, 144)


@needs_rawpy
def test_raw_files_libraw_cannot_develop_are_reported_by_name(tmp_path: Path) -> None:
    write_dng(tmp_path / "whole.dng", patches())
    data = (tmp_path / "whole.dng").read_bytes()
    (tmp_path / "cut.dng").write_bytes(data[: len(data) // 2])
    (tmp_path / "notes.NEF").write_bytes(b"not a raw file at all\n" * 20)
    export = "export it as TIFF, PNG or JPEG from a raw converter"
    for name, problem in (
        ("cut.dng", "a camera raw file (DNG); LibRaw could not develop it (Input/output error)"),
        ("notes.NEF", "a camera raw file (NEF); LibRaw does not recognise it as one"),
    ):
        with pytest.raises(CameraRawError, match=re.escape(f"{name}: {problem}")) as caught:
            read_image(tmp_path / name)
        assert str(caught.value).endswith(export)
    with pytest.raises(ImageReadError, match=re.escape("missing.ARW: no such file")):
        read_image(tmp_path / "missing.ARW")
    idc_io.set_max_pixels(96 * 64 - 1)
    try:
        limit = "whole.dng: 96x64 is 6,144 pixels, over the limit of 6,143 (raise it with --max-pixels)"
        with pytest.raises(ImageReadError, match=re.escape(limit)):
            read_image(tmp_path / "whole.dng")
    finally:
        idc_io.set_max_pixels(idc_io.DEFAULT_MAX_PIXELS)
