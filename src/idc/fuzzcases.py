"""Generators of odd and broken image files, shared by the fuzz tests and benchmarks/fuzz.py."""

from __future__ import annotations

import functools
import io
import random
import struct
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageCms

from idc.data.frames import from_linear
from idc.icc import D50_XYZ, assemble, s15_fixed16, text_description_tag, text_tag, xyz_tag
from idc.io import (
    LoadedImage,
    avif_nclx_writer,
    missing_support,
    plain_ink_colours,
    plain_separation,
    read_image,
    to_uint,
    write_like,
)

# RGB;16 and RGBA;16: 10-bit colour HEIF (cameras' HIF files), written through pillow-heif, 10- and 12-bit AVIF and
# 16-bit colour JPEG XL, written through imagecodecs, and 16-bit colour TIFF, written by tifffile (no Pillow mode
# holds them), as are LA;16 (16-bit grayscale with alpha, which Pillow cannot open) and CMYKA (8-bit CMYK with marked
# alpha, Photoshop's CMYK with transparency, which Pillow cannot open either).
MODES = ("1", "L", "LA", "P", "RGB", "RGBA", "CMYK", "CMYKA", "LAB", "I;16", "RGB;16", "RGBA;16", "LA;16")
FORMATS = {"png": "PNG", "jpg": "JPEG", "tif": "TIFF", "webp": "WEBP", "avif": "AVIF", "heic": "HEIF", "jxl": "JXL"}
# Which modes each format can store.
STORABLE = {
    "png": {"1", "L", "LA", "P", "RGB", "RGBA", "I;16"},
    "jpg": {"L", "RGB", "CMYK"},
    "tif": {"1", "L", "LA", "P", "RGB", "RGBA", "CMYK", "CMYKA", "LAB", "I;16", "RGB;16", "RGBA;16", "LA;16"},
    "webp": {"RGB", "RGBA"},
    "avif": {"L", "RGB", "RGBA", "RGB;16", "RGBA;16"},
    "heic": {"L", "LA", "RGB", "RGBA", "I;16", "RGB;16", "RGBA;16"},
    "jxl": {"L", "LA", "RGB", "RGBA", "I;16", "RGB;16", "RGBA;16"},
}


def formats() -> list[str]:
    """The extensions of FORMATS this installation can write: AVIF where Pillow has it, HEIC with pillow-heif, JPEG XL
    with pillow-jxl-plugin."""
    return sorted(ext for ext, fmt in FORMATS.items() if missing_support(fmt) is None)


def readable() -> list[str]:
    """The extensions of the files the fuzz cases are: :func:`formats`, and DNG camera raw files where rawpy is
    installed to develop them."""
    from idc.raw import rawpy_available

    return formats() + (["dng"] if rawpy_available() else [])


def odd_image(rng: random.Random, exts: list[str] | None = None) -> tuple[str, bytes, tuple[int, int]]:
    """A valid but unusual image file of one of ``exts`` (default :func:`readable`): (extension, bytes, (width,
    height) before EXIF orientation)."""
    ext = rng.choice(exts or readable())
    nprng = np.random.default_rng(rng.randrange(2**32))
    if ext == "dng":  # LibRaw takes sensors of 22x22 and more; the colour filter array repeats every 2 pixels
        w, h = 2 * rng.randint(11, 24), 2 * rng.randint(11, 24)
        scene, orientation, preview = nprng.random((h, w, 3)), rng.randint(1, 8), rng.random() < 0.5
        return ext, dng_file(scene, orientation=orientation, preview=preview), (w, h)
    mode = rng.choice(sorted(STORABLE[ext]))
    w, h = rng.randint(1, 40), rng.randint(1, 40)
    buf = io.BytesIO()
    kwargs = {}
    if rng.random() < 0.5:
        exif = Image.Exif()
        exif[274] = rng.randint(1, 8)
        kwargs["exif"] = exif.tobytes()
    if mode in {"CMYK", "CMYKA"} and rng.random() < 0.5:  # half of them in a print workflow's profile
        kwargs["icc_profile"] = fuzz_cmyk_profile()
    if ext == "tif" and (mode in {"RGB;16", "RGBA;16", "LA;16", "CMYKA"}):
        return ext, _tifffile_image(rng, nprng, mode, w, h, kwargs.get("exif"), kwargs.get("icc_profile")), (w, h)
    if ext == "jxl":
        import pillow_jxl  # noqa: F401  (registers the JXL format with Pillow)

        lossless = rng.random() < 0.5
        if mode in {"RGB;16", "RGBA;16"}:  # through imagecodecs: the plugin writes colour at 8 bits only
            import imagecodecs

            samples = nprng.integers(0, 65536, (h, w, len(mode) - 3), dtype=np.uint16)
            level = {"lossless": True} if lossless else {"level": rng.randint(50, 99)}
            return ext, bytes(imagecodecs.jpegxl_encode(samples, **level)), (w, h)
    if ext == "avif" and mode in {"RGB;16", "RGBA;16"}:  # Pillow writes AVIF at 8 bits only
        import imagecodecs

        bits = rng.choice([10, 12])
        samples = nprng.integers(0, 2**bits, (h, w, len(mode) - 3), dtype=np.uint16)
        nclx = rng.choice([(1, 13), (9, 16), (9, 18), (12, 13)])  # sRGB, BT.2020 with PQ or HLG, Display P3
        quality = rng.randint(60, 100)
        try:
            data = imagecodecs.avif_encode(
                samples, bitspersample=bits, level=quality, primaries=nclx[0], transfer=nclx[1]
            )
        except TypeError:  # imagecodecs before 2025 writes no nclx box
            data = imagecodecs.avif_encode(samples, bitspersample=bits, level=quality)
        return ext, bytes(data), (w, h)
    if mode in {"RGB;16", "RGBA;16"}:
        import pillow_heif

        samples = nprng.integers(0, 65536, (h, w, len(mode) - 3), dtype=np.uint16)
        pillow_heif.from_bytes(mode=mode, size=(w, h), data=samples.tobytes()).save(buf, **kwargs)
        return ext, buf.getvalue(), (w, h)
    if mode == "I;16":
        img = Image.fromarray(nprng.integers(0, 65536, (h, w), dtype=np.uint16))
    else:
        img = Image.fromarray(nprng.integers(0, 256, (h, w, 3), dtype=np.uint8)).convert(mode)
    img.save(buf, format=FORMATS[ext], **kwargs, **({"lossless": lossless} if ext == "jxl" else {}))
    return ext, buf.getvalue(), (w, h)


def _tifffile_image(
    rng: random.Random,
    nprng: np.random.Generator,
    mode: str,
    w: int,
    h: int,
    exif: bytes | None,
    icc: bytes | None = None,
) -> bytes:
    """A TIFF in a layout Pillow cannot hold, by tifffile (16-bit colour, 16-bit gray with alpha, 8-bit CMYK with
    alpha): colour planes interleaved or separate, Deflate or none, alpha straight or premultiplied, the EXIF
    orientation as a tag."""
    import tifffile

    channels = {"RGB;16": 3, "RGBA;16": 4, "LA;16": 2, "CMYKA": 5}[mode]
    peak, dtype = (255, np.uint8) if mode == "CMYKA" else (65535, np.uint16)
    samples = nprng.integers(0, peak + 1, (h, w, channels), dtype=dtype)
    planar = rng.random() < 0.5 and channels > 1
    options: dict[str, object] = {
        "photometric": {"LA;16": "minisblack", "CMYKA": "separated"}.get(mode, "rgb"),
        "planarconfig": "separate" if planar else "contig",
        "compression": rng.choice([None, "zlib"]),
    }
    if channels in (2, 4, 5):
        options["extrasamples"] = [rng.choice(["unassalpha", "assocalpha"])]
    extratags: list[tuple[int, str, int, object, bool]] = []
    if exif:
        tags = Image.Exif()
        tags.load(exif)
        extratags.append((274, "H", 1, int(tags.get(274, 1)), True))
    if icc:
        extratags.append((34675, "B", len(icc), icc, True))
    options["extratags"] = extratags
    buf = io.BytesIO()
    tifffile.imwrite(buf, np.moveaxis(samples, -1, 0) if planar else samples, **options)  # type: ignore[arg-type]
    return buf.getvalue()


# XYZ (D65) to linear sRGB: the ColorMatrix1 of a DNG whose camera colours are linear sRGB.
XYZ_TO_SRGB = ((3.2406, -1.5372, -0.4986), (-0.9689, 1.8758, 0.0415), (0.0557, -0.2040, 1.0570))
DNG_WHITE = 4095  # a 12-bit sensor's white level


def dng_file(
    scene: np.ndarray,
    orientation: int = 1,
    make: str = "IDC",
    model: str = "Test Camera",
    xmp: bytes | None = None,
    extra_tags: tuple[tuple[int, str, int, object, bool], ...] = (),
    preview: bool = False,
) -> bytes:
    """A DNG camera raw file of ``scene`` ((H, W, 3) linear RGB in [0, 1], H and W even; LibRaw develops 22x22 and
    more): 12-bit RGGB colour-filter-array data of a camera whose colours are linear sRGB (its colour matrix is the
    XYZ to linear sRGB matrix, its neutral 1, 1, 1), with camera ``make`` and ``model``, an EXIF ``orientation`` and
    an optional XMP packet in its first IFD, as cameras write them, and ``extra_tags`` there (tifffile's
    ``extratags``: exposure tags, say). With ``preview``, laid out as cameras and Adobe's converter write DNGs: the
    first IFD a small 8-bit sRGB preview (a quarter of the size, marked reduced-resolution) that holds the DNG and
    camera tags, the raw data in a sub-IFD. Developed into sRGB with the camera's white balance and the exposure as
    shot, it gives the scene's sRGB values back, up to demosaicing at edges."""
    import tifffile

    mosaic = np.empty(scene.shape[:2])
    for dy, dx, channel in ((0, 0, 0), (0, 1, 1), (1, 0, 1), (1, 1, 2)):  # R G / G B
        mosaic[dy::2, dx::2] = scene[dy::2, dx::2, channel]
    data = np.round(np.clip(mosaic, 0, 1) * DNG_WHITE).astype(np.uint16)
    matrix = [v for row in XYZ_TO_SRGB for x in row for v in (round(x * 10000), 10000)]
    sensor = [
        (33421, "H", 2, (2, 2), True),  # CFARepeatPatternDim
        (33422, "B", 4, (0, 1, 1, 2), True),  # CFAPattern: R G G B
        (50717, "I", 1, DNG_WHITE, True),  # WhiteLevel
    ]
    tags = [
        (50706, "B", 4, (1, 4, 0, 0), True),  # DNGVersion
        (50707, "B", 4, (1, 1, 0, 0), True),  # DNGBackwardVersion
        (50708, "s", 0, f"{make} {model}", True),  # UniqueCameraModel
        (50721, "2i", 9, tuple(matrix), True),  # ColorMatrix1
        (50778, "H", 1, 21, True),  # CalibrationIlluminant1: D65
        (50728, "2I", 3, (1, 1, 1, 1, 1, 1), True),  # AsShotNeutral
        (271, "s", 0, make, True),
        (272, "s", 0, model, True),
        (274, "H", 1, orientation, True),
        (306, "s", 0, "2026:11:28 12:00:00", True),
    ]
    if xmp is not None:
        tags.append((700, "B", len(xmp), xmp, True))
    tags.extend(extra_tags)
    buf = io.BytesIO()
    raw = {"photometric": 32803, "subfiletype": 0, "metadata": None, "software": False}
    if not preview:
        tifffile.imwrite(buf, data, extratags=sensor + tags, **raw)  # type: ignore[arg-type]
        return buf.getvalue()
    small = from_linear(torch.from_numpy(np.ascontiguousarray(scene[::4, ::4])), "srgb").numpy()  # the sRGB curve
    with tifffile.TiffWriter(buf) as tif:
        first = np.round(small * 255).astype(np.uint8)
        tif.write(first, photometric="rgb", subfiletype=1, subifds=1, extratags=tags, metadata=None, software=False)
        tif.write(data, extratags=sensor, **raw)
    return buf.getvalue()


def broken_file(rng: random.Random, exts: list[str] | None = None) -> tuple[str, bytes]:
    """A file with an image extension (of ``exts``, default :func:`readable`) that is empty, random, truncated or
    corrupted (an odd image of ``exts``, not necessarily of its extension)."""
    ext = rng.choice(exts or readable())
    kind = rng.randrange(4)
    if kind == 0:
        return ext, b""
    if kind == 1:
        return ext, rng.randbytes(rng.randint(1, 400))
    _, data, _ = odd_image(rng, exts)
    if kind == 2:
        return ext, data[: rng.randint(1, max(1, len(data) - 1))]
    corrupted = bytearray(data)
    for _ in range(rng.randint(1, 8)):
        corrupted[rng.randrange(len(corrupted))] = rng.randrange(256)
    return ext, bytes(corrupted)


# What each output format keeps: several bits per channel (16 for PNG/TIFF, HEIC's 10 or 12 read back as 16), alpha,
# one gray channel.
KEEPS_DEPTH = {"png", "tif", "heic"}
KEEPS_ALPHA = {"png", "tif", "webp", "avif", "heic", "jxl"}
KEEPS_GRAY = {"png", "tif", "jpg", "heic", "jxl"}  # HEIC: without alpha (it has no monochrome mode with alpha here)
KEEPS_CMYK = {"jpg", "tif"}
KEEPS_LAB = {"tif"}


def _lut16(inputs: int, outputs: int, grid: int, table: np.ndarray) -> bytes:
    """An ICC v2 ``mft2`` lookup table: identity curves around a CLUT of ``grid`` points per input (first input
    slowest), ``table`` (grid**inputs, outputs) in 0..65535."""
    ramp = np.array([0, 65535], ">u2").tobytes()  # identity input and output curves of 2 entries
    identity = s15_fixed16([1, 0, 0, 0, 1, 0, 0, 0, 1])
    lut = b"mft2" + bytes(4) + bytes([inputs, outputs, grid, 0]) + identity + struct.pack(">HH", 2, 2) + ramp * inputs
    return lut + np.clip(np.round(table), 0, 65535).astype(">u2").tobytes() + ramp * outputs


def cmyk_profile(
    inks: Callable[[np.ndarray], np.ndarray],
    grid: int = 3,
    description: str = "test CMYK",
    separate: Callable[[np.ndarray], np.ndarray] | None = None,
) -> bytes:
    """An ICC v2 CMYK printer profile whose inks print as ``inks`` says.

    Args:
        inks: maps (N, 4) CMYK amounts in [0, 1] to the (N, 3) sRGB colours in [0, 1] they print as.
        grid: points per ink of the profile's lookup table (lut16 A2B0, to Lab; LittleCMS finds the Lab colours).
        description: the profile's name.
        separate: maps (N, 3) sRGB colours in [0, 1] to the (N, 4) CMYK amounts that print them (the inverse of
            ``inks``), for a B2A0 table (17 points per Lab axis) through which colours can be separated into inks;
            without it the profile only tells how inks look, as an input-only profile.
    """
    axis = np.linspace(0.0, 1.0, grid)
    cmyk = np.stack(np.meshgrid(axis, axis, axis, axis, indexing="ij"), -1).reshape(-1, 4)  # first ink slowest
    rgb = np.round(np.clip(inks(cmyk), 0, 1) * 255).astype(np.uint8)
    srgb, lab = ImageCms.createProfile("sRGB"), ImageCms.createProfile("LAB", 5000)
    lab8 = np.asarray(ImageCms.buildTransform(srgb, lab, "RGB", "LAB").apply(Image.fromarray(rgb[None])))[0]
    # ICC v2 16-bit Lab: L 0..100 as 0..0xFF00; a and b -128..127.996 as 0..0xFFFF, 0 at 0x8000. Pillow's 8-bit Lab:
    # L in 0..255; a and b as signed bytes.
    lab16 = np.concatenate(
        [lab8[:, :1] / 255 * 0xFF00, (lab8[:, 1:].view(np.int8).astype(np.float64) + 128) * 256], axis=-1
    )
    tags = [
        (b"desc", text_description_tag(description)),
        (b"cprt", text_tag("No copyright, made for tests")),
        (b"wtpt", xyz_tag(D50_XYZ)),
        (b"A2B0", _lut16(4, 3, grid, lab16)),
    ]
    if separate is not None:
        points = 17
        encoded = np.stack(np.meshgrid(*[np.linspace(0, 65535, points)] * 3, indexing="ij"), -1).reshape(-1, 3)
        lab_points = np.concatenate(
            [np.clip(encoded[:, :1] / 0xFF00 * 255, 0, 255), np.clip(encoded[:, 1:] / 256 - 128, -128, 127) % 256],
            axis=-1,
        )
        lab_image = Image.frombytes("LAB", (len(lab_points), 1), np.round(lab_points).astype(np.uint8).tobytes())
        colours = np.asarray(ImageCms.buildTransform(lab, srgb, "LAB", "RGB").apply(lab_image))[0] / 255.0
        tags.append((b"B2A0", _lut16(3, 4, points, np.clip(separate(colours), 0, 1) * 65535)))
    return assemble(b"prtr", b"CMYK", b"Lab ", tags)


@functools.cache
def fuzz_cmyk_profile() -> bytes:
    """A CMYK profile of the plain inks with tables both ways, embedded in half the CMYK cases."""
    return cmyk_profile(plain_ink_colours, grid=5, description="fuzz CMYK", separate=plain_separation)


def case(seed: int, index: int, exts: list[str] | None = None) -> tuple[str, bytes, bool]:
    """Case ``index`` of ``benchmarks/fuzz.py --seed seed``: an odd but valid image or a broken file, half each, as
    (extension, bytes, whether it is valid), so that any case a run reports can be made again."""
    rng = random.Random(seed * 1_000_003 + index)
    if rng.random() < 0.5:
        ext, data, _ = odd_image(rng, exts)
        return ext, data, True
    return (*broken_file(rng, exts), False)


def round_trip_problems(img: LoadedImage, folder: Path) -> list[str]:
    """What goes wrong when ``img`` is written to every output format this installation has, as ``idc deblur``
    writes its outputs (:func:`idc.io.write_like`), and read again: it must come back the same size and keep its
    depth, alpha, grayness, CMYK inks and CIELab wherever the format holds them, PNG and TIFF to the last level (a CMYK
    TIFF without a profile too: the plain formula gives back every colour its inverse separates; through a profile's
    tables, within 6 levels on average; a CIELab TIFF holds the image's Lab values exactly). Empty when nothing."""
    problems = []
    for out in formats():
        target = folder / f"round-trip.{out}"
        write_like(target, img.rgb, img)
        back = read_image(target)
        if back.lab:  # the samples as stored, to check against the Lab values of what was written
            import tifffile

            stored = tifffile.imread(target)
        target.unlink()
        if back.rgb.shape != img.rgb.shape:  # written upright: read back without turning
            problems.append(f"{out}: size {tuple(back.rgb.shape)}, not {tuple(img.rgb.shape)}")
        # AVIF in a colour space only an nclx box names is written through imagecodecs, deep ones at 10 bits.
        deep_avif = out == "avif" and img.cicp is not None and avif_nclx_writer()
        if back.bit_depth != (img.bit_depth if out in KEEPS_DEPTH or deep_avif else 8):
            problems.append(f"{out}: {back.bit_depth} bits from {img.bit_depth}")
        if img.alpha is None or out not in KEEPS_ALPHA:
            if back.alpha is not None:
                problems.append(f"{out}: alpha where there was none to keep")
        elif back.alpha is None and bool((img.alpha < 1).any()):  # AVIF drops an alpha opaque everywhere: no loss
            problems.append(f"{out}: alpha lost")
        if back.grayscale != (img.grayscale and out in KEEPS_GRAY and not (out == "heic" and img.alpha is not None)):
            problems.append(f"{out}: grayscale {back.grayscale} from {img.grayscale}")
        if back.cmyk != (img.cmyk and out in KEEPS_CMYK):
            problems.append(f"{out}: CMYK {back.cmyk} from {img.cmyk}")
        if back.lab != (img.lab and out in KEEPS_LAB and img.alpha is None and not img.grayscale):
            problems.append(f"{out}: CIELab {back.lab} from {img.lab}")
        if out in ("png", "tif") and back.rgb.shape == img.rgb.shape:  # lossless: the very values
            expected = img.rgb.mean(0, keepdim=True).expand_as(img.rgb) if img.grayscale else img.rgb
            error = (back.rgb - expected).abs()
            if out == "tif" and img.cmyk and img.icc:  # through the profile's tables and back: near, not exact
                # (the fuzz profile's: 2.3 levels on average for random colours, 4.3 at most in 367 cases)
                if float(error.mean()) * 255 > 6:
                    problems.append(f"{out}: values off by {float(error.mean()) * 255:.2f} levels on average")
            elif out == "tif" and back.lab:  # the file holds the image's very Lab values (Pillow's conversion)
                # (compared in Lab, not through sRGB again: 8-bit Lab's steps are up to 40 levels of sRGB red in
                # cyans, colours it does not tell apart)
                lab = np.asarray(Image.fromarray(to_uint(expected, 8)).convert("LAB"))
                if not np.array_equal(stored, lab):
                    worst = int(np.abs(stored.astype(int) - lab).max())
                    problems.append(f"{out}: CIELab values off by up to {worst}")
            elif float(error.max()) > 0.5 / (2**back.bit_depth - 1) + 1e-6:
                problems.append(f"{out}: values off by {float(error.max()):.2e}")
    return problems
