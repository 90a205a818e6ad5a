from __future__ import annotations

import io
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from idc.cli import main
from idc.infer import deblur_image
from idc.io import read_image
from idc.weights import load_model, save_weights
from tests.conftest import random_idc


@pytest.fixture
def weights(tmp_path: Path) -> Path:
    return save_weights(random_idc(), tmp_path / "tiny-weights", metadata={"description": "tiny test"})


def _png(path: Path, h: int = 20, w: int = 27, seed: int = 0, mode: str = "RGB") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    a = np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)
    Image.fromarray(a).convert(mode).save(path)
    return path


def _exact_cpu(weights: Path) -> list[str]:
    """Options for a run whose outputs tests compare: the given weights, PyTorch on the CPU in fp32."""
    return ["--weights", str(weights), "--device", "cpu", "--backend", "torch", "--precision", "fp32"]


def test_deblur_a_file(tmp_path: Path, weights: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src = _png(tmp_path / "in" / "photo.png")
    before = src.read_bytes()
    assert main(["deblur", str(src), "-o", str(tmp_path / "out"), "--weights", str(weights), "--device", "cpu"]) == 0
    out = tmp_path / "out" / "photo.png"
    assert Image.open(out).size == (27, 20)
    assert src.read_bytes() == before
    printed = capsys.readouterr().out
    assert f"{src} -> {out}" in printed and " s" in printed and "deblurred 1 of 1 images on cpu" in printed


def _idc(args: list[str], stdin: bytes = b"") -> subprocess.CompletedProcess[bytes]:
    return subprocess.run([sys.executable, "-m", "idc", *args], input=stdin, capture_output=True, timeout=300)


@pytest.mark.slow
def test_deblur_through_standard_input_and_output(tmp_path: Path, weights: Path) -> None:
    # A JPEG with a camera name in its EXIF: the pipe gives the bytes the file route gives, metadata and all.
    src = tmp_path / "photo.jpg"
    exif = Image.Exif()
    exif[0x0110] = "Pipe Camera"  # Model
    Image.fromarray(np.random.default_rng(3).integers(0, 256, (30, 37, 3), dtype=np.uint8)).save(src, exif=exif)
    common = _exact_cpu(weights)
    assert main(["deblur", str(src), "-o", str(tmp_path / "file.png"), *common]) == 0
    piped = _idc(["deblur", "-", "-o", "-", *common], src.read_bytes())
    assert piped.returncode == 0, piped.stderr.decode()[-2000:]
    assert piped.stdout == (tmp_path / "file.png").read_bytes()  # only the image reaches standard output
    err = piped.stderr.decode()
    assert "standard input -> standard output" in err and "deblurred 1 of 1 images" in err and "backend: torch" in err
    assert "idc-stdio-" not in err  # no temporary path in the messages
    # --format same keeps the input's format; a file input can go to standard output, stdin to a file.
    same = _idc(["deblur", str(src), "-o", "-", "--format", "same", *common])
    assert same.returncode == 0 and same.stdout[:2] == b"\xff\xd8"
    assert Image.open(io.BytesIO(same.stdout)).getexif().get(0x0110) == "Pipe Camera"
    to_file = _idc(["deblur", "-", "-o", str(tmp_path / "from-stdin.png"), *common], src.read_bytes())
    assert to_file.returncode == 0
    assert (tmp_path / "from-stdin.png").read_bytes() == (tmp_path / "file.png").read_bytes()
    assert not list(tmp_path.glob("stdin*")) and not (tmp_path / "-").exists()
    # A dry run through the pipes says what would happen and writes no image bytes.
    dry = _idc(["deblur", "-", "-o", "-", "--dry-run"], src.read_bytes())
    assert dry.returncode == 0 and dry.stdout == b"", dry.stderr.decode()[-2000:]
    assert "standard input -> standard output  (37x30)" in dry.stderr.decode()


@pytest.mark.slow
def test_deblur_standard_input_errors(
    tmp_path: Path, weights: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    for stdin, message in (
        (b"", "standard input: no image data"),
        (b"not an image at all", "standard input: not an image Pillow can read"),
    ):
        r = _idc(["deblur", "-", "-o", str(tmp_path / "x.png"), "--weights", str(weights)], stdin)
        assert r.returncode == 2 and message in r.stderr.decode() and not (tmp_path / "x.png").exists()
    src = _png(tmp_path / "a.png")
    _png(tmp_path / "set" / "b.png")
    _png(tmp_path / "set" / "c.png", seed=1)
    r = _idc(["deblur", "-", str(src), "-o", str(tmp_path / "out"), "--weights", str(weights)])
    assert r.returncode == 2 and "- (standard input) must be the only INPUT" in r.stderr.decode()
    r = _idc(["deblur", str(tmp_path / "set"), "-o", "-", "--weights", str(weights)])
    assert r.returncode == 2 and "-o - writes one image to standard output; the inputs hold 2" in r.stderr.decode()
    assert r.stdout == b""
    monkeypatch.setattr(sys.stdout, "isatty", lambda: True)
    assert main(["deblur", str(src), "-o", "-", "--weights", str(weights)]) == 2
    assert "refusing to write image bytes to a terminal" in capsys.readouterr().err


def test_a_reader_that_stops_early_ends_the_command_quietly(tmp_path: Path, weights: Path) -> None:
    # `idc deblur big.png -o - | head -c 10`: the image is larger than the pipe holds, and the reader is gone.
    src = _png(tmp_path / "big.png", h=256, w=256)
    cmd = [sys.executable, "-m", "idc", "deblur", str(src), "-o", "-", "--weights", str(weights), "--device", "cpu"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.close()
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=300) == 141 and "Traceback" not in err and "BrokenPipe" not in err, err[-2000:]


def test_deblur_single_output_file_and_folders(tmp_path: Path, weights: Path) -> None:
    src = _png(tmp_path / "a.png")
    assert main(["deblur", str(src), "-o", str(tmp_path / "sharp.jpg"), "--weights", str(weights)]) == 0
    assert Image.open(tmp_path / "sharp.jpg").format == "JPEG"
    _png(tmp_path / "set" / "x.png", seed=1)
    _png(tmp_path / "set" / "sub" / "y.jpg", seed=2)
    (tmp_path / "set" / "notes.txt").write_text("skip me")
    assert (
        main(
            [
                "deblur",
                str(tmp_path / "set"),
                "-o",
                str(tmp_path / "res"),
                "--format",
                "same",
                "--weights",
                str(weights),
            ]
        )
        == 0
    )
    assert sorted(p.relative_to(tmp_path / "res").as_posix() for p in (tmp_path / "res").rglob("*.*")) == [
        "sub/y.jpg",
        "x.png",
    ]


def test_inputs_are_never_overwritten_and_outputs_only_with_overwrite(
    tmp_path: Path, weights: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    src = _png(tmp_path / "img.png")
    before = src.read_bytes()
    assert main(["deblur", str(src), "-o", str(src), "--overwrite", "--weights", str(weights)]) == 2
    assert "would overwrite an input" in capsys.readouterr().err
    assert main(["deblur", str(src), "-o", str(tmp_path), "--weights", str(weights)]) == 2
    assert src.read_bytes() == before
    out = tmp_path / "out.png"
    out.write_bytes(b"keep me")
    assert main(["deblur", str(src), "-o", str(out), "--weights", str(weights)]) == 2
    assert "already exists (--overwrite replaces it" in capsys.readouterr().err and out.read_bytes() == b"keep me"
    assert main(["deblur", str(src), "-o", str(out), "--overwrite", "--weights", str(weights)]) == 0
    assert Image.open(out).size == (27, 20)


def test_a_bad_file_fails_alone(tmp_path: Path, weights: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _png(tmp_path / "in" / "good.png")
    (tmp_path / "in" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n garbage")
    code = main(["deblur", str(tmp_path / "in"), "-o", str(tmp_path / "out"), "--weights", str(weights)])
    err = capsys.readouterr().err
    assert code == 1
    assert "broken.png" in err and "1 of 2 images failed" in err and "Traceback" not in err
    assert (tmp_path / "out" / "good.png").exists() and not (tmp_path / "out" / "broken.png").exists()
    assert [p.name for p in (tmp_path / "out").iterdir()] == ["good.png"]


def test_dry_run_lists_outputs_and_failures_and_writes_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # No --weights: a dry run loads no network.
    _png(tmp_path / "in" / "good.png")
    (tmp_path / "in" / "sub").mkdir()
    Image.fromarray(np.zeros((30, 40, 3), np.uint8)).save(tmp_path / "in" / "sub" / "wide.jpg")
    (tmp_path / "in" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n garbage")
    base = ["deblur", str(tmp_path / "in"), "-o", str(tmp_path / "out"), "--dry-run", "--suffix", "_sharp"]
    assert main(base) == 1
    out, err = capsys.readouterr()
    assert f"{tmp_path / 'in' / 'sub' / 'wide.jpg'} -> {tmp_path / 'out' / 'sub' / 'wide_sharp.png'}  (40x30)" in out
    assert f"{tmp_path / 'in' / 'good.png'} -> {tmp_path / 'out' / 'good_sharp.png'}" in out
    assert "would deblur 2 of 3 images" in out and "broken.png" in err and "Traceback" not in err
    assert not (tmp_path / "out").exists()
    # The pixel limit is checked as a run would check it; without failures the exit status is 0.
    (tmp_path / "in" / "broken.png").unlink()
    import idc.io

    assert main([*base, "--max-pixels", "1000"]) == 1
    assert "wide.jpg: 40x30 is 1,200 pixels, over the limit of 1,000" in capsys.readouterr().err
    assert idc.io.max_pixels() == idc.io.DEFAULT_MAX_PIXELS  # the option held for that command only
    assert main(base) == 0 and not (tmp_path / "out").exists()


def test_16bit_and_alpha_are_kept(tmp_path: Path, weights: Path) -> None:
    import cv2

    a16 = np.random.default_rng(3).integers(0, 65536, (12, 13, 3), dtype=np.uint16)
    cv2.imwrite(str(tmp_path / "deep.png"), a16)
    _png(tmp_path / "rgba.png", mode="RGBA")
    assert (
        main(
            [
                "deblur",
                str(tmp_path / "deep.png"),
                str(tmp_path / "rgba.png"),
                "-o",
                str(tmp_path / "o"),
                "--weights",
                str(weights),
            ]
        )
        == 0
    )
    assert cv2.imread(str(tmp_path / "o" / "deep.png"), cv2.IMREAD_UNCHANGED).dtype == np.uint16
    assert Image.open(tmp_path / "o" / "rgba.png").mode == "RGBA"


def test_colour_profile_and_exif_are_kept_unless_asked_not_to(tmp_path: Path, weights: Path) -> None:
    from PIL import ImageCms

    icc = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    exif = Image.Exif()
    exif[0x010F] = "TestCam"
    exif[0x0112] = 8  # stored rotated: the output is written upright with orientation 1
    xmp = b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:Description tiff:Orientation="8" xmp:Rating="5"/></x:xmpmeta>'
    src = tmp_path / "photo.jpg"
    Image.fromarray(np.random.default_rng(4).integers(0, 256, (20, 27, 3), dtype=np.uint8)).save(
        src, icc_profile=icc, exif=exif.tobytes(), xmp=xmp
    )
    base = ["deblur", str(src), "--weights", str(weights), "--format", "same"]
    assert main([*base, "-o", str(tmp_path / "kept")]) == 0
    assert main([*base, "-o", str(tmp_path / "bare"), "--no-metadata"]) == 0
    with Image.open(tmp_path / "kept" / "photo.jpg") as kept:
        assert kept.size == (20, 27) and kept.info.get("icc_profile") == icc
        assert kept.getexif()[0x010F] == "TestCam" and kept.getexif()[0x0112] == 1
        assert kept.info.get("xmp") == xmp.replace(b'Orientation="8"', b'Orientation="1"')
    with Image.open(tmp_path / "bare" / "photo.jpg") as bare:
        assert bare.size == (20, 27) and "icc_profile" not in bare.info and not bare.getexif()
        assert "xmp" not in bare.info
    # The chroma subsampling is not metadata: a 4:4:4 JPEG stays 4:4:4 either way.
    from PIL import JpegImagePlugin

    Image.open(src).save(tmp_path / "full.jpg", subsampling="4:4:4", quality=95)
    for extra in ([], ["--no-metadata"]):
        target = tmp_path / f"full{len(extra)}.jpg"
        assert main(["deblur", str(tmp_path / "full.jpg"), "-o", str(target), "--weights", str(weights), *extra]) == 0
        with Image.open(target) as out:
            assert JpegImagePlugin.get_sampling(out) == 0


def test_a_cmyk_jpeg_stays_cmyk_in_its_profile(tmp_path: Path, weights: Path) -> None:
    # From a print workflow: CMYK with its printing profile. JPEG and TIFF outputs are separated through the profile
    # again; with --no-metadata, by the plain formula (what an untagged CMYK file is read by), so that both outputs
    # hold the same deblurred colours; a PNG holds them as sRGB.
    from tests.colour import cmyk_profile, swapped_inks, swapped_separation

    profile = cmyk_profile(swapped_inks, grid=5, separate=swapped_separation)
    colours = np.random.default_rng(6).integers(40, 216, (20, 27, 3)) / 255.0
    inks = np.round(swapped_separation(colours.reshape(-1, 3)).reshape(20, 27, 4) * 255).astype(np.uint8)
    src = tmp_path / "print.jpg"
    Image.fromarray(inks, "CMYK").save(src, icc_profile=profile, quality=100)
    base = ["deblur", str(src), "--weights", str(weights), "--quality", "100"]
    assert main([*base, "-o", str(tmp_path / "kept"), "--format", "same"]) == 0
    assert main([*base, "-o", str(tmp_path / "bare"), "--format", "same", "--no-metadata"]) == 0
    assert main([*base, "-o", str(tmp_path / "png")]) == 0
    with Image.open(tmp_path / "kept" / "print.jpg") as kept, Image.open(tmp_path / "bare" / "print.jpg") as bare:
        assert kept.mode == bare.mode == "CMYK" and kept.info.get("icc_profile") == profile
        assert "icc_profile" not in bare.info
        assert np.abs(np.asarray(kept).astype(int) - np.asarray(bare)).mean() >= 25  # inks of two separations
    with Image.open(tmp_path / "png" / "print.png") as png:
        assert png.mode == "RGB" and "icc_profile" not in png.info
    sharp = read_image(tmp_path / "png" / "print.png").rgb
    for folder in ("kept", "bare"):
        assert float((read_image(tmp_path / folder / "print.jpg").rgb - sharp).abs().mean()) * 255 <= 2.5


def test_a_16bit_tiff_export_keeps_its_depth_profile_and_metadata(tmp_path: Path, weights: Path) -> None:
    # What a raw developer exports for retouching: 16 bits, a wide-gamut profile, camera EXIF, XMP; here stored
    # sideways (orientation 6) and in separate colour planes, which OpenCV alone misreads.
    import tifffile
    from PIL import ImageCms

    icc = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    xmp = b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:Description tiff:Orientation="6" xmp:Rating="5"/></x:xmpmeta>'
    planes = np.random.default_rng(5).integers(0, 65536, (3, 20, 27), dtype=np.uint16)
    tags = [(271, "s", 0, "TestCam", True), (274, "H", 1, 6, True), (700, "B", len(xmp), xmp, True)]
    tags.append((34675, "B", len(icc), icc, True))
    src = tmp_path / "export.tif"
    tifffile.imwrite(src, planes, photometric="rgb", planarconfig="separate", compression="zlib", extratags=tags)
    assert main(["deblur", str(src), "-o", str(tmp_path / "out"), "--weights", str(weights), "--format", "same"]) == 0
    out = tmp_path / "out" / "export.tif"
    with tifffile.TiffFile(out) as tif:
        page = tif.pages.first
        assert page.dtype == np.uint16 and page.shape == (27, 20, 3)  # upright: turned from 20 x 27
        assert page.tags[34675].value == icc and page.tags[271].value == "TestCam"
        assert page.tags[274].value == 1 and b'Orientation="1"' in page.tags[700].value
        assert len(np.unique(page.asarray())) > 1000  # 16-bit precision, not 8-bit values spread out


def test_a_gray_photo_stays_gray(tmp_path: Path, weights: Path) -> None:
    src = tmp_path / "scan.jpg"
    Image.fromarray(np.random.default_rng(6).integers(0, 256, (20, 27), dtype=np.uint8)).save(src)
    assert main(["deblur", str(src), "-o", str(tmp_path / "out"), "--weights", str(weights)]) == 0
    assert main(["deblur", str(src), "-o", str(tmp_path / "same"), "--weights", str(weights), "--format", "same"]) == 0
    with Image.open(tmp_path / "out" / "scan.png") as png, Image.open(tmp_path / "same" / "scan.jpg") as jpg:
        assert png.mode == "L" and jpg.mode == "L" and png.size == jpg.size == (27, 20)


def test_a_lossless_webp_stays_lossless(tmp_path: Path, weights: Path) -> None:
    src = tmp_path / "screen.webp"
    Image.fromarray(np.random.default_rng(7).integers(0, 256, (20, 27, 3), dtype=np.uint8)).save(src, lossless=True)
    assert main(["deblur", str(src), "-o", str(tmp_path / "out"), "--weights", str(weights), "--format", "same"]) == 0
    assert (tmp_path / "out" / "screen.webp").read_bytes()[12:16] == b"VP8L"


def test_usage_errors_are_one_line(tmp_path: Path, weights: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["deblur", str(tmp_path / "nope.png"), "-o", str(tmp_path / "o"), "--weights", str(weights)]) == 2
    assert capsys.readouterr().err.strip() == f"idc: error: {tmp_path / 'nope.png'}: no such file or folder"
    _png(tmp_path / "a.png")
    assert (
        main(["deblur", str(tmp_path / "a.png"), "-o", str(tmp_path / "o"), "--weights", str(tmp_path / "x.pt")]) == 2
    )
    assert "pickle-based checkpoints are refused" in capsys.readouterr().err


def test_info_prints_parameters_and_gmacs(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["info", "--size", "256x256"]) == 0
    out = capsys.readouterr().out
    assert "parameters: 5,764,259" in out and "256x256: 146 GMAC" in out
    assert main(["info", "--preset", "bogus"]) == 2
    assert "unknown preset 'bogus'" in capsys.readouterr().err


def test_info_reads_weights(weights: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["info", "--weights", str(weights), "--size", "37x45"]) == 0
    out = capsys.readouterr().out
    assert "parameters: 52,071" in out and "Fusion ReLU active" in out and "(ok)" in out


def test_info_flags_a_collapsed_network(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # What training without zero_init_output did: every Fusion ReLU unit off, the output = input + constant.
    model = random_idc()
    for scale in model.scales:
        torch.nn.init.constant_(scale.fusion.conv1.bias, -1e3)  # type: ignore[union-attr]
    weights = save_weights(model, tmp_path / "collapsed")
    assert main(["info", "--weights", str(weights), "--size", "32x32"]) == 0
    assert "Fusion ReLU active on a test image: 0.0% (collapsed onto the identity" in capsys.readouterr().out


def test_demo_writes_side_by_side_and_scores(tmp_path: Path, weights: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo", "-o", str(tmp_path / "demo"), "--image", "chelsea", "--weights", str(weights)]) == 0
    out = capsys.readouterr().out
    assert "blurred" in out and "restored" in out and "gain:" in out and "PSNR on uint8-rounded RGB" in out
    sbs = Image.open(tmp_path / "demo" / "side_by_side.png")
    h, w = np.asarray(Image.open(tmp_path / "demo" / "sharp.png")).shape[:2]
    assert sbs.size == (3 * w + 16, h + 22)


@pytest.mark.slow
def test_demo_with_the_self_ensemble(tmp_path: Path, weights: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from idc.demo import make_blurred, sample_photo
    from idc.ensemble import ensemble_mean
    from idc.infer import deblur_tensor
    from idc.metrics import to_uint8
    from idc.weights import load_model

    for n in (1, 4):
        run = ["demo", "-o", str(tmp_path / f"x{n}"), "--image", "coffee", "--weights", str(weights)]
        assert main([*run, "--ensemble", str(n)]) == 0
    out = capsys.readouterr().out
    assert out.count("self-ensemble: the mean of 4 flipped/transposed runs") == 1
    # The restored picture is the mean of the 4 views' outputs (this random network is not equivariant, so it is
    # not the plain output).
    model = load_model(weights)
    blurred, _ = make_blurred(sample_photo("coffee"), seed=0, noise=0.01)
    expected = to_uint8(ensemble_mean(lambda x: deblur_tensor(model, x), blurred, 4))
    got = {n: np.asarray(Image.open(tmp_path / f"x{n}" / "restored.png")) for n in (1, 4)}
    assert np.abs(got[4].astype(int) - expected.astype(int)).max() <= 1
    assert np.abs(got[4].astype(int) - got[1].astype(int)).max() > 1
    with pytest.raises(SystemExit) as refused:
        main(["demo", "-o", str(tmp_path / "bad"), "--ensemble", "3"])
    assert refused.value.code == 2 and "invalid choice: 3" in capsys.readouterr().err


def test_python_dash_m_runs() -> None:
    r = subprocess.run([sys.executable, "-m", "idc", "--version"], capture_output=True, text=True, check=True)
    assert r.stdout.startswith("idc-deblur ")


def test_bf16_precision_is_close_to_fp32_and_bad_combinations_are_refused(
    tmp_path: Path, weights: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from idc.infer import fast_precision

    src = _png(tmp_path / "a.png", h=33, w=41)
    run = ["deblur", str(src), "--weights", str(weights), "--device", "cpu", "-o"]
    assert main([*run, str(tmp_path / "f.png"), "--precision", "fp32"]) == 0
    # the default, auto, is this machine's fast precision (bf16 on CPUs with native bf16, else fp32)
    assert main([*run, str(tmp_path / "auto.png")]) == 0
    assert f"backend: torch, {fast_precision(torch.device('cpu'))}" in capsys.readouterr().out
    assert (
        main(["deblur", str(src), "-o", str(tmp_path / "b.png"), "--precision", "bf16", "--weights", str(weights)]) == 0
    )
    a = np.asarray(Image.open(tmp_path / "f.png"), np.int16)
    b = np.asarray(Image.open(tmp_path / "b.png"), np.int16)
    assert np.abs(a - b).max() <= 8 and np.abs(a - b).mean() < 1.5
    base = ["deblur", str(src), "-o", str(tmp_path / "x.png"), "--weights", str(weights), "--device", "cpu"]
    assert main([*base, "--precision", "fp16"]) == 2
    assert "fp16 inference needs a CUDA GPU" in capsys.readouterr().err
    assert main([*base[:-2], "--backend", "onnx", "--precision", "bf16"]) == 2
    assert "--precision applies to the torch backend" in capsys.readouterr().err


@pytest.mark.slow
def test_phone_formats_in_folders_and_through_pipes(tmp_path: Path, weights: Path) -> None:
    pytest.importorskip("pillow_heif", reason="HEIC needs pillow-heif (idc-deblur[heif], in the dev extras)")
    from idc.io import avif_available, heif_available

    assert heif_available()  # registers pillow-heif with Pillow, for the HEIC this test writes itself
    if not avif_available():
        pytest.skip("this Pillow has no AVIF (11.3 and newer, built with libavif)")
    a = np.random.default_rng(4).integers(0, 256, (24, 32, 3), dtype=np.uint8)
    photos = tmp_path / "phone"
    photos.mkdir()
    Image.fromarray(a).save(photos / "iphone.heic", quality=90)
    Image.fromarray(a).save(photos / "pixel.avif", quality=90)
    Image.fromarray(a).save(photos / "camera.jpg", format="MPO", save_all=True, append_images=[Image.fromarray(a)])
    common = _exact_cpu(weights)
    assert main(["deblur", str(photos), "-o", str(tmp_path / "same"), "--format", "same", *common]) == 0
    formats = {p.name: Image.open(p).format for p in sorted((tmp_path / "same").iterdir())}
    assert formats == {"camera.jpg": "JPEG", "iphone.heic": "HEIF", "pixel.avif": "AVIF"}
    assert main(["deblur", str(photos / "camera.jpg"), "-o", str(tmp_path / "heic"), "--format", "heic", *common]) == 0
    assert Image.open(tmp_path / "heic" / "camera.heic").size == (32, 24)
    # Standard input takes HEIC (and a camera's MPO JPEG) like a file: the same bytes come out.
    assert main(["deblur", str(photos / "iphone.heic"), "-o", str(tmp_path / "file.png"), *common]) == 0
    piped = _idc(["deblur", "-", "-o", "-", *common], (photos / "iphone.heic").read_bytes())
    assert piped.returncode == 0, piped.stderr.decode()[-2000:]
    assert piped.stdout == (tmp_path / "file.png").read_bytes()
    mpo = _idc(["deblur", "-", "-o", "-", "--format", "same", *common], (photos / "camera.jpg").read_bytes())
    assert mpo.returncode == 0 and mpo.stdout[:2] == b"\xff\xd8", mpo.stderr.decode()[-2000:]


def test_a_10_bit_camera_heif_keeps_its_precision_and_colour_space(tmp_path: Path, weights: Path) -> None:
    pillow_heif = pytest.importorskip(
        "pillow_heif", reason="HEIC needs pillow-heif (idc-deblur[heif], in the dev extras)"
    )
    # A camera's HLG HIF file: 10 bits per channel, BT.2020 primaries and HLG transfer named in its nclx box.
    codes = np.random.default_rng(5).integers(0, 1024, (24, 32, 3))
    data = np.ascontiguousarray(codes.astype(np.uint16) << 6)
    heif = pillow_heif.from_bytes(mode="RGB;16", size=(32, 24), data=data.tobytes())
    heif.save(tmp_path / "DSC0001.HIF", color_primaries=9, transfer_characteristics=18, matrix_coefficients=9)
    common = [*_exact_cpu(weights), "--no-progress"]
    # Into PNG (the default) as 16 bits with a cICP chunk, the same pixels as the network gives on the 10-bit input;
    # --format same gives a 10-bit HEIF with the same nclx colour space.
    assert main(["deblur", str(tmp_path / "DSC0001.HIF"), "-o", str(tmp_path / "png"), *common]) == 0
    assert (
        main(["deblur", str(tmp_path / "DSC0001.HIF"), "-o", str(tmp_path / "same"), "--format", "same", *common]) == 0
    )
    png, same = read_image(tmp_path / "png" / "DSC0001.png"), tmp_path / "same" / "DSC0001.hif"
    assert png.bit_depth == 16 and len(torch.unique(png.rgb)) > 256 and png.cicp == (9, 18)
    restored = deblur_image(load_model(weights), read_image(tmp_path / "DSC0001.HIF").rgb, tile=0, precision="fp32")
    assert (png.rgb - restored).abs().max() <= 0.5 / 65535 + 1e-7
    written = pillow_heif.open_heif(same, convert_hdr_to_8bit=False)
    nclx = written.info["nclx_profile"]
    assert written.info["bit_depth"] == 10 and (nclx["color_primaries"], nclx["transfer_characteristics"]) == (9, 18)
    # --no-metadata leaves the colour space out with the rest.
    assert main(["deblur", str(tmp_path / "DSC0001.HIF"), "-o", str(tmp_path / "bare"), "--no-metadata", *common]) == 0
    assert read_image(tmp_path / "bare" / "DSC0001.png").cicp is None


def test_wildcards_are_expanded_as_a_shell_would_and_hidden_things_skipped(
    tmp_path: Path, weights: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from idc.batch import PlanError, collect_inputs

    monkeypatch.chdir(tmp_path)
    for name in ("shots/a.jpg", "shots/b.png", "shots/sub/c.jpg", "shots/.hidden.jpg", "shots/.thumbs/d.jpg"):
        _png(tmp_path / name)
    (tmp_path / "shots" / "notes.txt").write_text("not an image")

    def found(*paths: str) -> list[tuple[str, str]]:
        return [(a.as_posix(), b.as_posix()) for a, b in collect_inputs(paths)]

    # Each match is taken as if named (what a Unix shell hands over): files by name, folders as folders.
    assert found("shots/*.jpg") == found("shots/a.jpg") == [("shots/a.jpg", "a.jpg")]
    assert found("shots/**/*.jpg") == [("shots/a.jpg", "a.jpg"), ("shots/sub/c.jpg", "c.jpg")]
    assert found("sh?ts/*") == found("shots/a.jpg", "shots/b.png", "shots/notes.txt", "shots/sub")
    # A folder skips hidden files and hidden folders' contents (thumbnail caches, .git), matched or named.
    assert (
        found("sh?ts")
        == found("shots")
        == [
            ("shots/a.jpg", "a.jpg"),
            ("shots/b.png", "b.png"),
            ("shots/sub/c.jpg", "sub/c.jpg"),
        ]
    )
    with pytest.raises(PlanError, match=r"shots/\*\.gif: no file or folder matches"):
        found("shots/*.gif")
    # What Windows' shells hand over unexpanded, the command expands.
    assert main(["deblur", "shots/**/*.jpg", "-o", "out", *_exact_cpu(weights), "--no-progress"]) == 0
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["a.png", "c.png"]
    capsys.readouterr()
    assert main(["deblur", "shots/*.gif", "-o", "out", *_exact_cpu(weights)]) == 2
    assert "idc: error: shots/*.gif: no file or folder matches" in capsys.readouterr().err


def test_suffix_writes_beside_the_inputs_and_quality_sets_the_compression(
    tmp_path: Path, weights: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    shots = tmp_path / "shots"
    for name in ("a.jpg", "sub/b.jpg"):
        (shots / name).parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(np.random.default_rng(7).integers(0, 256, (40, 52, 3), dtype=np.uint8)).save(shots / name)
    before = {p: p.read_bytes() for p in shots.rglob("*.jpg")}
    common = [*_exact_cpu(weights), "--no-progress"]
    # Without a suffix, --format same into the inputs' own folder would replace them: refused, nothing written.
    assert main(["deblur", str(shots), "-o", str(shots), "--format", "same", *common]) == 2
    assert "would overwrite an input image" in capsys.readouterr().err
    assert main(["deblur", str(shots), "-o", str(shots), "--format", "same", "--suffix", "_sharp", *common]) == 0
    assert sorted(p.relative_to(shots).as_posix() for p in shots.rglob("*")) == [
        "a.jpg",
        "a_sharp.jpg",
        "sub",
        "sub/b.jpg",
        "sub/b_sharp.jpg",
    ]
    assert all(p.read_bytes() == data for p, data in before.items())  # the inputs are untouched
    # --quality: the same image at a lower JPEG quality is smaller; an explicit file name takes no suffix.
    sizes = {}
    for q in (40, 95):
        target = tmp_path / f"q{q}.jpg"
        assert (
            main(["deblur", str(shots / "a.jpg"), "-o", str(target), "--quality", str(q), "--suffix", "_x", *common])
            == 0
        )
        sizes[q] = target.stat().st_size
    assert sizes[40] < 0.8 * sizes[95]
    assert (tmp_path / "q95.jpg").read_bytes() == (shots / "a_sharp.jpg").read_bytes()  # 95 is the default
    for bad, message in (("0", "quality must be from 1 to 100"), ("high", "quality must be a whole number")):
        with pytest.raises(SystemExit):
            main(["deblur", str(shots / "a.jpg"), "-o", str(tmp_path / "x.jpg"), "--quality", bad])
        assert message in capsys.readouterr().err
    assert main(["deblur", str(shots), "-o", str(tmp_path / "o"), "--suffix", "x/y", *common]) == 2
    assert "--suffix 'x/y': must be part of a file name" in capsys.readouterr().err


def test_skip_existing_continues_an_interrupted_folder(
    tmp_path: Path, weights: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for i in range(3):
        _png(tmp_path / "in" / f"{i}.png", seed=i)
    common = [*_exact_cpu(weights), "--no-progress"]
    assert main(["deblur", str(tmp_path / "in" / "1.png"), "-o", str(tmp_path / "out" / "1.png"), *common]) == 0
    done_first = (tmp_path / "out" / "1.png").read_bytes()
    (tmp_path / "out" / "1.png").touch()
    mtime = (tmp_path / "out" / "1.png").stat().st_mtime_ns
    capsys.readouterr()
    # As if a run had stopped after one image: the plain command refuses, --skip-existing does the other two.
    assert main(["deblur", str(tmp_path / "in"), "-o", str(tmp_path / "out"), *common]) == 2
    assert "--skip-existing keeps it and goes on" in capsys.readouterr().err
    assert main(["deblur", str(tmp_path / "in"), "-o", str(tmp_path / "out"), "--skip-existing", *common]) == 0
    out = capsys.readouterr().out
    assert "skipping 1 of 3 images whose output exists" in out and "deblurred 2 of 2 images" in out
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["0.png", "1.png", "2.png"]
    assert (tmp_path / "out" / "1.png").stat().st_mtime_ns == mtime  # the finished output was not written again
    assert (tmp_path / "out" / "1.png").read_bytes() == done_first
    # Everything done: nothing runs (not even the network's loading); the two options exclude each other.
    assert main(["deblur", str(tmp_path / "in"), "-o", str(tmp_path / "out"), "--skip-existing", *common]) == 0
    out = capsys.readouterr().out
    assert "skipping 3 of 3 images" in out and "backend" not in out
    assert main(["deblur", str(tmp_path / "in"), "-o", str(tmp_path / "o2"), "--skip-existing", "--overwrite"]) == 2
    assert "--overwrite and --skip-existing exclude each other" in capsys.readouterr().err


def test_strength_zero_writes_the_input_and_bad_strengths_are_usage_errors(
    tmp_path: Path, weights: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    src = _png(tmp_path / "in.png")
    assert main(["deblur", str(src), "-o", str(tmp_path / "same.png"), "--strength", "0", *_exact_cpu(weights)]) == 0
    assert np.array_equal(np.asarray(Image.open(tmp_path / "same.png")), np.asarray(Image.open(src)))
    assert main(["deblur", str(src), "-o", str(tmp_path / "half.png"), "--strength", "0.5", *_exact_cpu(weights)]) == 0
    assert main(["deblur", str(src), "-o", str(tmp_path / "full.png"), *_exact_cpu(weights)]) == 0
    half, full, before = (np.asarray(Image.open(tmp_path / n), np.float64) for n in ("half.png", "full.png", "in.png"))
    assert np.abs(half - (before + full) / 2).max() <= 1.0  # halfway, up to the rounding of each
    for bad in ("2.5", "-1", "lots"):
        with pytest.raises(SystemExit) as exit_:
            main(["deblur", str(src), "-o", str(tmp_path / "x.png"), "--strength", bad])
        assert exit_.value.code == 2 and "--strength: strength must be" in capsys.readouterr().err
