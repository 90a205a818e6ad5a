"""Reading and writing images: EXIF orientation, 8- and 16-bit, alpha kept aside, colour profile and EXIF carried
over, atomic writes."""

from __future__ import annotations

import contextlib
import functools
import inspect
import logging
import os
import re
import struct
import tempfile
import warnings
import zlib
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from io import BytesIO
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch
from PIL import Image, JpegImagePlugin, PngImagePlugin, TiffImagePlugin, TiffTags, UnidentifiedImageError, features

from idc.icc import adobe_rgb_profile, png_profile

if TYPE_CHECKING:
    from PIL.ImageCms import ImageCmsTransform

    from idc import jxl
    from idc.isobmff import AvifColour

logger = logging.getLogger(__name__)

# Pillow format by file extension. AVIF is Pillow's own (11.3 and newer, where built with libavif); HEIC/HEIF (what
# iPhones and many cameras save; .hif on Fujifilm and Canon) needs the optional pillow-heif plugin (idc-deblur[heif]);
# JPEG XL the optional pillow-jxl-plugin (idc-deblur[jxl]; idc reads its headers itself and decodes through idc.jxl).
_FORMAT_BY_EXT = {
    ".png": "PNG",
    ".jpg": "JPEG",
    ".jpeg": "JPEG",
    ".tif": "TIFF",
    ".tiff": "TIFF",
    ".webp": "WEBP",
    ".avif": "AVIF",
    ".heic": "HEIF",
    ".heif": "HEIF",
    ".hif": "HEIF",
    ".jxl": "JXL",
}
# Taken from folders whether or not this installation can decode them: a photo it cannot read is reported by name
# with what to install, rather than silently left out.
IMAGE_EXTENSIONS = set(_FORMAT_BY_EXT)
# Camera raw files: sensor data to be developed (demosaiced, white-balanced, tone-mapped), not a photo. Most are TIFFs
# whose first image is a small preview, which Pillow would read without a word; they are known by name instead, and
# developed with LibRaw where rawpy is installed (idc.raw), refused with what to install where it is not.
RAW_EXTENSIONS = {
    ".dng", ".nef", ".nrw", ".cr2", ".cr3", ".crw", ".arw", ".srf", ".sr2", ".orf", ".rw2", ".raf", ".pef", ".srw",
    ".x3f", ".3fr", ".erf", ".kdc", ".dcr", ".mrw", ".mos", ".iiq", ".rwl", ".gpr", ".raw",
}  # fmt: skip
EXPORT_ADVICE = "export it as TIFF, PNG or JPEG from a raw converter"
INSTALL_ADVICE = (
    "idc develops camera raw files with rawpy, which is not installed: pip install rawpy (or the extra "
    f"idc-deblur[raw]), or {EXPORT_ADVICE}"
)
TIFF_DNG_VERSION = 50706  # the tag every DNG carries in its first IFD
# Images larger than this are refused before decoding (a decompression-bomb guard); change with set_max_pixels.
# The default is where Pillow itself refuses (twice its warning size), about 179 megapixels.
DEFAULT_MAX_PIXELS = 178_956_970
_max_pixels = DEFAULT_MAX_PIXELS


def set_max_pixels(limit: int) -> None:
    """Sets the largest image (width x height) :func:`read_image` decodes; larger ones raise ImageReadError."""
    global _max_pixels
    if limit < 1:
        raise ValueError(f"the pixel limit must be positive, got {limit}")
    _max_pixels = limit
    # Pillow warns above its own limit and refuses at twice it; keep its guard just above ours.
    Image.MAX_IMAGE_PIXELS = limit


def max_pixels() -> int:
    """The largest image (width x height) :func:`read_image` decodes (:func:`set_max_pixels`)."""
    return _max_pixels


def check_pixel_limit(path: object, width: int, height: int, limit: int | None = None) -> None:
    """Refuses an image of ``width`` x ``height`` over ``limit`` pixels (default: :func:`max_pixels`), before it is
    decoded.

    Raises:
        ImageReadError: naming ``path``, the size and the limit, and how to raise it.
    """
    limit = _max_pixels if limit is None else limit
    if width * height > limit:
        raise ImageReadError(
            f"{path}: {width}x{height} is {width * height:,} pixels, over the limit of {limit:,} (raise it with "
            "--max-pixels)"
        )


# A JPEG holds EXIF in one APP1 marker segment: at most 65,533 bytes (Pillow refuses longer blocks). XMP shares
# such a segment with its 29-byte namespace (longer XMP, "extended XMP", Pillow does not write).
JPEG_MAX_EXIF = 65533
JPEG_MAX_XMP = JPEG_MAX_EXIF - 29
# The iTXt keyword under which PNG files hold XMP.
PNG_XMP_KEY = "XML:com.adobe.xmp"

# What to install for colour deeper than 8 bits in AVIF and JPEG XL (which Pillow and pillow-jxl-plugin give at 8).
DEEP_INSTALL = "pip install imagecodecs (or the extra idc-deblur[jxl])"
_heif_plugin: bool | None = None  # pillow-heif registered with Pillow (None: not tried yet)
HEIF_MIN_VERSION = (0, 21)  # the oldest pillow-heif tested; older ones cannot read mirrored 10- and 12-bit HEIF


def heif_available() -> bool:
    """Whether HEIC/HEIF files can be read and written: registers pillow-heif with Pillow on the first call.

    Registering only adds formats to Pillow; it is done here, not at import, so importing idc changes nothing.
    """
    global _heif_plugin
    if _heif_plugin is None:
        try:
            import pillow_heif
        except ImportError:
            _heif_plugin = False
        else:
            pillow_heif.register_heif_opener()
            _heif_plugin = True
            version = str(getattr(pillow_heif, "__version__", "0"))
            if version_numbers(version) < HEIF_MIN_VERSION:
                # pip leaves an installed pillow-heif alone, so an old one outlives the extra's bound.
                logger.warning(
                    "pillow-heif %s is older than %s, the oldest idc is tested with: it cannot read mirrored 10- and "
                    "12-bit HEIF photos (pip install -U pillow-heif)",
                    version,
                    ".".join(map(str, HEIF_MIN_VERSION)),
                )
    return _heif_plugin


def version_numbers(version: str) -> tuple[int, ...]:
    """The first two numbers of a version string: (0, 21) for "0.21.1", (2, 13) for "2.13.0+cpu"."""
    return tuple(int(n) for n in re.findall(r"\d+", version)[:2])


def avif_available() -> bool:
    """Whether this Pillow reads and writes AVIF (11.3 and newer, built with libavif)."""
    with warnings.catch_warnings():  # older Pillow warns that it does not know the feature name
        warnings.simplefilter("ignore")
        return bool(features.check("avif"))


def missing_support(fmt: str) -> str | None:
    """What this installation lacks to read and write the Pillow format ``fmt``, or None when it has it."""
    if fmt == "HEIF" and not heif_available():
        return "HEIC/HEIF needs the pillow-heif package: pip install pillow-heif (or the extra idc-deblur[heif])"
    if fmt == "AVIF" and not avif_available():
        return "AVIF needs Pillow 11.3 or newer built with libavif: pip install -U pillow"
    if fmt == "JXL":
        from idc import jxl

        return jxl.decoder_problem()
    return None


# ISO base media brands (the ftyp box that opens HEIF and AVIF files).
_AVIF_BRANDS = {b"avif", b"avis"}
_HEIF_BRANDS = {b"heic", b"heix", b"hevc", b"hevx", b"heim", b"heis", b"hevm", b"hevs", b"mif1", b"msf1", b"mif2"}


def sniff_container(header: bytes) -> str | None:
    """ "AVIF", "HEIF" or "JXL" when ``header`` (a file's first bytes, 64 suffice) opens such a file, else None.

    Used to say what is missing when Pillow cannot identify a file, whatever its extension.
    """
    from idc import jxl

    if jxl.is_jxl(header):
        return "JXL"
    if len(header) < 12 or header[4:8] != b"ftyp":
        return None
    size = int.from_bytes(header[:4], "big")
    brands = [header[8:12]] + [header[i : i + 4] for i in range(16, min(size, len(header)) - 3, 4)]
    if any(b in _AVIF_BRANDS for b in brands):
        return "AVIF"
    if any(b in _HEIF_BRANDS for b in brands):
        return "HEIF"
    return None


def one_line(error: BaseException) -> str:
    """A decoder's message on one line (libheif's end in a newline)."""
    return " ".join(str(error).split())


def _unrecognised(path: Path) -> str:
    """The reason to give for a file Pillow could not identify: a missing plugin when the header names one."""
    try:
        with open(path, "rb") as f:
            fmt = sniff_container(f.read(64))
    except OSError:
        fmt = None
    problem = missing_support(fmt) if fmt else None
    return f"{path}: {problem}" if problem else f"{path}: not a recognised image"


def _check_frames(img: Image.Image, path: Path) -> None:
    """Refuses animations; a file that holds several still images gives its first (primary) one.

    Raises:
        ImageReadError: for an animated GIF, PNG, WebP or AVIF, whose frames one output image cannot hold.
    """
    try:
        frames = int(getattr(img, "n_frames", 1))
    except Exception:  # counting walks every frame; a corrupt later one is the decoder's to report, if it matters
        frames = 1
    if frames < 2 or img.format == "MPO":  # MPO: a camera JPEG followed by previews or a depth map; the first is it
        return
    if img.format == "TIFF":
        logger.warning("%s: a TIFF of %d pages; only the first is deblurred", path, frames)
    elif img.format == "HEIF":
        logger.warning("%s: holds %d images; only the primary one is deblurred", path, frames)
    else:
        raise ImageReadError(
            f"{path}: an animation of {frames} frames; idc deblur reads still images (extract the frames, e.g. with "
            "ffmpeg, and deblur those)"
        )


def publish(tmp: str | Path, path: str | Path) -> None:
    """Renames a finished temporary file onto ``path`` atomically, with the permissions a new file would get.

    ``tempfile.mkstemp`` creates files readable by their owner only; outputs should follow the user's umask.
    """
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)
    os.replace(tmp, path)


def list_images(
    folder: str | Path, recursive: bool = False, extensions: frozenset[str] | set[str] = IMAGE_EXTENSIONS
) -> list[Path]:
    """Image files (by extension; ``extensions``, e.g. :data:`RAW_EXTENSIONS`) in ``folder``, or below it when
    ``recursive``, sorted; hidden files, and the contents of hidden folders below ``folder`` (``.thumbnails``,
    ``.git``), skipped."""
    folder = Path(folder)
    entries = folder.rglob("*") if recursive else folder.iterdir()
    return sorted(
        p
        for p in entries
        if p.is_file()
        and p.suffix.lower() in extensions
        and not any(part.startswith(".") for part in p.relative_to(folder).parts)
    )


class ImageReadError(ValueError):
    """An input that is not a readable image; the message names the file and the problem."""


class CameraRawError(ImageReadError):
    """A camera raw file that was not developed: the message names the file, what it is and what to do.

    Attributes:
        path: the file.
        what: what it is ("a camera raw file (NEF)", "a DNG camera raw file", "camera sensor data ...").
    """

    def __init__(self, path: Path, what: str, advice: str) -> None:
        super().__init__(f"{path}: {what}; {advice}")
        self.path, self.what = path, what


@dataclass
class LoadedImage:
    """An RGB image as float32 in [0, 1], with what is needed to write it back faithfully.

    Attributes:
        rgb: (3, H, W) float32 tensor in [0, 1], EXIF orientation applied.
        bit_depth: 8 or 16.
        alpha: (H, W) float32 alpha in [0, 1] when the input had one, else None (kept, not deblurred).
        path: where it came from.
        icc: the embedded ICC colour profile when it describes the image's colour space: an RGB one (a Display P3
            photo stays Display P3), a gray one for a grayscale image, or the CMYK profile of a CMYK file (``cmyk``);
            else None.
        exif: the EXIF block with its orientation set to 1 (the pixels are already upright), else None.
        cicp: the colour space as ITU-T H.273 code points (colour primaries, transfer characteristics) when the
            file gives it so instead of an ICC profile and it is not sRGB: a camera's HDR HEIF (BT.2020 with PQ or
            HLG) or a Display P3 one, described by an nclx box, or an HDR PNG's cICP chunk. Else None.
        xmp: the XMP packet (ratings, keywords, captions of photo managers), with a ``tiff:Orientation`` set to 1
            when the pixels were turned upright, else None.
        subsampling: a colour JPEG's chroma subsampling (``"4:4:4"``, ``"4:2:2"`` or ``"4:2:0"``), for a JPEG
            output to keep (a 4:4:4 frame written 4:2:0 would lose colour detail the network restored), else None.
        grayscale: the file held one channel of gray (bilevel, 8 or 16 bits, with or without alpha), which ``rgb``
            repeats three times for the network; written back as gray (:func:`write_image`).
        heif_bits: 10 or 12 for a HEIF of that many bits per channel (read as ``bit_depth`` 16), for a HEIC output
            to keep; else None.
        lossless: the file is a losslessly compressed WebP or JPEG XL (coded without XYB), for a WebP or JPEG XL
            output to stay lossless.
        cmyk: the file held CMYK inks (an 8-bit JPEG or TIFF from a print workflow), which ``rgb`` holds converted
            to sRGB for the network (:func:`cmyk_to_srgb`); ``icc`` is then the CMYK profile it was converted
            through (None: by the plain formula), and a JPEG or TIFF output is separated into inks again through it
            (:func:`write_image`).
        lab: the file held CIELab samples (an 8-bit TIFF from a Lab workflow), which ``rgb`` holds converted to sRGB
            for the network; a TIFF output is written as CIELab again (:func:`write_image`).
    """

    rgb: torch.Tensor
    bit_depth: int
    alpha: torch.Tensor | None
    path: Path
    icc: bytes | None = None
    exif: bytes | None = None
    cicp: tuple[int, int] | None = None
    xmp: bytes | None = None
    subsampling: str | None = None
    grayscale: bool = False
    heif_bits: int | None = None
    lossless: bool = False
    cmyk: bool = False
    lab: bool = False


# EXIF orientation -> array operation (rows, cols), matching Pillow's ImageOps.exif_transpose.
_ORIENT = {
    2: lambda a: a[:, ::-1],
    3: lambda a: a[::-1, ::-1],
    4: lambda a: a[::-1],
    5: lambda a: a.swapaxes(0, 1),
    6: lambda a: np.rot90(a, -1),
    7: lambda a: a.swapaxes(0, 1)[::-1, ::-1],
    8: lambda a: np.rot90(a, 1),
}


def _is_16bit_colour(img: Image.Image, path: Path) -> bool:
    """True for 16-bit-per-channel RGB(A) PNG and TIFF and grayscale-with-alpha PNG, which Pillow would silently
    reduce to 8 bits."""
    if img.format == "PNG":
        # Colour types 2 (RGB), 6 (RGBA) and 4 (grayscale with alpha, which Pillow reads at 8 bits).
        depth, colour_type = _png_depth_and_colour_type(path)
        return depth == 16 and colour_type in (2, 4, 6)
    if isinstance(img, TiffImagePlugin.TiffImageFile):
        bits = img.tag_v2.get(258)  # BitsPerSample
        bits = bits if isinstance(bits, tuple) else (bits,)
        samples = img.tag_v2.get(277, 1)  # SamplesPerPixel
        return bool(bits) and bits[0] == 16 and int(samples) >= 3
    return False


def icc_colour_space(profile: object) -> bytes | None:
    """The colour space an ICC profile is for, as its header names it (bytes 16-19: ``b"RGB "``, ``b"GRAY"``,
    ``b"CMYK"`` ...); None for what is not a profile."""
    return profile[16:20] if isinstance(profile, bytes) and len(profile) >= 128 else None


def _fitting_icc(profile: object, grayscale: bool) -> bytes | None:
    """The ICC profile if it describes the image's colour space: RGB, or gray for a grayscale image; else None."""
    if isinstance(profile, bytes) and icc_colour_space(profile) == (b"GRAY" if grayscale else b"RGB "):
        return profile
    return None


def plain_ink_colours(cmyk: np.ndarray) -> np.ndarray:
    """CMYK inks in [0, 1] (..., 4) to the sRGB (..., 3) they print as without a profile, as ImageMagick reads them:
    each ink and black multiply the light, R = (1 - C)(1 - K) (by Pillow's own formula, R = 1 - C - K, half cyan over
    half black is black)."""
    return (1.0 - cmyk[..., :3]) * (1.0 - cmyk[..., 3:])


def plain_separation(rgb: np.ndarray) -> np.ndarray:
    """The inverse of :func:`plain_ink_colours`, sRGB in [0, 1] (..., 3) to inks (..., 4): black as far as the
    lightest channel allows, K = 1 - max(R, G, B), and each ink the rest, C = (1 - R - K) / (1 - K) (none under full
    black)."""
    k = 1.0 - rgb.max(axis=-1, keepdims=True)
    paper = np.maximum(1.0 - k, 1e-6)  # 0 only under full black, where every ink is 0
    inks = np.where(k < 1.0, (1.0 - rgb - k) / paper, 0.0)
    return np.concatenate([inks, k], axis=-1)


def _plain_cmyk_to_rgb(img: Image.Image) -> Image.Image:
    """An 8-bit CMYK image to RGB by :func:`plain_ink_colours`."""
    rgb = plain_ink_colours(np.asarray(img, dtype=np.float32) / 255.0)
    return Image.fromarray(np.round(rgb * 255.0).astype(np.uint8), "RGB")


def _plain_rgb_to_cmyk(img: Image.Image) -> Image.Image:
    """An 8-bit RGB image to CMYK by :func:`plain_separation`, so that :func:`_plain_cmyk_to_rgb` gives ``img``
    back."""
    inks = plain_separation(np.asarray(img.convert("RGB"), dtype=np.float32) / 255.0)
    return Image.fromarray(np.round(inks * 255.0).astype(np.uint8), "CMYK")


@functools.lru_cache(maxsize=8)
def _cmyk_transforms(profile: bytes) -> tuple[ImageCmsTransform, ImageCmsTransform | None]:
    """LittleCMS transforms between a CMYK profile and sRGB, relative colorimetric with black point compensation
    (Photoshop's default for a conversion): (to sRGB, back to CMYK), the second None for a profile that describes
    how inks look but not how to separate colours into them (no BToA table). Cached: a folder's photos share one
    profile, and building a transform takes longer than applying it to a small photo.

    Raises:
        ImportError: Pillow was built without LittleCMS.
        ImageCms.PyCMSError, OSError, ValueError: ``profile`` is unusable.
    """
    from PIL import ImageCms

    cmyk, srgb = ImageCms.ImageCmsProfile(BytesIO(profile)), ImageCms.createProfile("sRGB")
    intent, flags = ImageCms.Intent.RELATIVE_COLORIMETRIC, ImageCms.Flags.BLACKPOINTCOMPENSATION
    to_srgb = ImageCms.buildTransform(cmyk, srgb, "CMYK", "RGB", renderingIntent=intent, flags=flags)
    try:
        to_cmyk = ImageCms.buildTransform(srgb, cmyk, "RGB", "CMYK", renderingIntent=intent, flags=flags)
    except ImageCms.PyCMSError:
        to_cmyk = None
    return to_srgb, to_cmyk


def _apply(transform: ImageCmsTransform, img: Image.Image) -> Image.Image:
    """A LittleCMS transform of ``ImageCms.buildTransform`` applied to ``img``: a new image. Not by its ``apply``,
    which then copies the output profile into the image's ``info`` through LittleCMS, and that fails for some
    profiles it reads well (Ghostscript's ``ps_cmyk.icc``: "Could not determine profile size")."""
    out = Image.new(transform.output_mode, img.size)
    img.load()
    transform.transform.apply(img.getim(), out.getim())
    return out


@functools.lru_cache(maxsize=8)
def _to_srgb_transform(profile: bytes) -> ImageCmsTransform | None:
    """A LittleCMS transform from an RGB profile to sRGB (relative colorimetric), or None when the profile is sRGB
    already (every colour of a test grid within one level of itself) or unusable."""
    from PIL import ImageCms

    try:
        source = ImageCms.ImageCmsProfile(BytesIO(profile))
        transform = ImageCms.buildTransform(
            source, ImageCms.createProfile("sRGB"), "RGB", "RGB", renderingIntent=ImageCms.Intent.RELATIVE_COLORIMETRIC
        )
        levels = np.linspace(0, 255, 6).round().astype(np.uint8)
        grid = np.stack(np.meshgrid(levels, levels, levels, indexing="ij"), axis=-1).reshape(1, -1, 3)
        moved = np.asarray(_apply(transform, Image.fromarray(grid, "RGB"))).astype(int) - grid
    except (ImageCms.PyCMSError, OSError, ValueError):
        return None
    return transform if int(np.abs(moved).max()) > 1 else None


def littlecms_version() -> str | None:
    """The version of LittleCMS in this Pillow, through which CMYK images are converted (``ImageCms``), or None for a
    Pillow built without it (CMYK then goes by the plain formula)."""
    try:
        from PIL import ImageCms
    except ImportError:
        return None
    return str(getattr(ImageCms.core, "littlecms_version", "") or "of unknown version")


def cmyk_profile_problem(profile: object) -> str | None:
    """Why ``profile`` (a CMYK image's ``icc_profile``) cannot convert it to sRGB, or None when it can."""
    if not isinstance(profile, bytes) or icc_colour_space(profile) != b"CMYK":
        return "without a CMYK colour profile"
    try:
        from PIL import ImageCms
    except ImportError:  # a Pillow built without LittleCMS
        return "without colour management (Pillow has no LittleCMS)"
    try:
        _cmyk_transforms(profile)
    except (ImageCms.PyCMSError, OSError, ValueError) as e:  # PyCMSError: a profile LittleCMS opens but cannot use
        return f"its CMYK profile is unusable ({one_line(e)})"
    return None


def cmyk_to_srgb(img: Image.Image, name: object = "image") -> Image.Image:
    """An 8-bit CMYK Pillow image converted to sRGB as colour-managed programs show it.

    It goes through its embedded CMYK profile (ICC ``icc_profile``: how the inks print), relative colorimetric with
    black point compensation (Photoshop's default for a conversion), by LittleCMS. Without a usable profile (or
    where Pillow lacks LittleCMS) it is converted by a plain formula (:func:`_plain_cmyk_to_rgb`), with a warning
    naming ``name``: no printing process is that simple, so its colours are only near.
    """
    return cmyk_to_srgb_with_profile(img, name)[0]


def cmyk_to_srgb_with_profile(img: Image.Image, name: object = "image") -> tuple[Image.Image, bytes | None]:
    """:func:`cmyk_to_srgb`, and the profile the image went through (None: the plain formula), which
    :func:`srgb_to_cmyk` separates it back through."""
    profile = img.info.get("icc_profile")
    if problem := cmyk_profile_problem(profile):
        logger.warning("%s: CMYK %s: converted by a plain formula, colours may be off", name, problem)
        return _plain_cmyk_to_rgb(img), None
    assert isinstance(profile, bytes)
    return _apply(_cmyk_transforms(profile)[0], img), profile


def srgb_to_cmyk(img: Image.Image, profile: bytes | None, name: object = "image") -> tuple[Image.Image, bytes | None]:
    """An 8-bit sRGB Pillow image separated into CMYK inks: the way back of :func:`cmyk_to_srgb`.

    Through ``profile`` (a CMYK ICC profile, the one the image was read through), relative colorimetric with black
    point compensation, by LittleCMS: the profile's own black generation and ink limit decide the inks, as when
    Photoshop converts to it. Without a profile, by the plain formula's inverse (:func:`_plain_rgb_to_cmyk`: what
    idc and ImageMagick read an untagged CMYK file by gives the image back). A profile that cannot separate
    (unusable, or without a BToA table) is left out with a warning naming ``name``, and the plain formula used.

    Returns:
        The CMYK image and the profile to embed with it (``profile``, or None where the plain formula was used).
    """
    if profile is None:
        return _plain_rgb_to_cmyk(img), None
    problem = cmyk_profile_problem(profile)
    if problem is None:
        to_cmyk = _cmyk_transforms(profile)[1]
        if to_cmyk is not None:
            return _apply(to_cmyk, img.convert("RGB")), profile
        problem = "its CMYK profile cannot separate colours into inks (no BToA table)"
    logger.warning("%s: %s: written as CMYK by a plain formula, without the profile", name, problem)
    return _plain_rgb_to_cmyk(img), None


# TIFF tags that describe how the pixels are stored (size, samples, strips, tiles, compression, palette, embedded
# profile). A TIFF's EXIF is its first IFD and holds them; carried into another file they would override the real
# layout and corrupt it, so they are dropped. Descriptive tags (camera, date, resolution, GPS ...) are kept.
_LAYOUT_TAGS = frozenset(
    {254, 255, 256, 257, 258, 259, 262, 263, 266, 273, 277, 278, 279, 280, 281, 284, 288, 289, 290, 291, 317}
    | {320, 322, 323, 324, 325, 332, 333, 334, 336, 338, 339, 340, 341, 530, 531, 532, 34675}
)


def _cicp(primaries: int, transfer: int) -> tuple[int, int] | None:
    """H.273 colour primaries and transfer characteristics worth carrying: None for sRGB (or BT.709, which photo
    viewers show as sRGB) and for invalid code points; unspecified ones (2) are read as sRGB's (1 and 13), as viewers
    do."""
    primaries, transfer = (1 if primaries == 2 else primaries), (13 if transfer == 2 else transfer)
    if not (0 < primaries < 256 and 0 < transfer < 256) or (primaries == 1 and transfer in (1, 13)):
        return None
    return primaries, transfer


def _heif_cicp(img: Image.Image) -> tuple[int, int] | None:
    """The colour space a HEIF file's nclx colour box names, when not sRGB (:func:`_cicp`)."""
    nclx = img.info.get("nclx_profile")
    if not isinstance(nclx, dict):
        return None
    try:
        return _cicp(int(nclx["color_primaries"]), int(nclx["transfer_characteristics"]))
    except (KeyError, TypeError, ValueError):
        return None


def _png_cicp(path: Path) -> tuple[int, int] | None:
    """The colour space a PNG's cICP chunk names (HDR PNGs: BT.2020 with PQ or HLG), when not sRGB; Pillow does not
    report the chunk, so the chunks before the image data are walked here."""
    with open(path, "rb") as f:
        f.seek(8)  # the signature
        while header := f.read(8):
            if len(header) < 8:
                return None
            length, kind = struct.unpack(">I4s", header)
            if kind in (b"IDAT", b"IEND"):
                return None
            if kind == b"cICP" and length == 4:
                data = f.read(4)
                if len(data) < 4:
                    return None
                primaries, transfer, matrix, _ = data
                return _cicp(primaries, transfer) if matrix == 0 else None  # PNG holds RGB: matrix 0 only
            f.seek(length + 4, os.SEEK_CUR)  # the data and its CRC
    return None


# Pillow's code for a JPEG's chroma subsampling (JpegImagePlugin.get_sampling; -1: grayscale, CMYK or unusual).
_JPEG_SUBSAMPLING = {0: "4:4:4", 1: "4:2:2", 2: "4:2:0"}

_XMP_ORIENTATION = (
    re.compile(rb'(tiff:Orientation=")[0-9](")'),
    re.compile(rb"(<tiff:Orientation>)[0-9](</tiff:Orientation>)"),
)


def xmp_packet(value: object, turned: bool) -> bytes | None:
    """The image's XMP packet as bytes (Pillow gives bytes or str), its ``tiff:Orientation`` set to 1 when the
    pixels were turned upright (Pillow's ``exif_transpose`` deletes it instead), else None."""
    if isinstance(value, str):
        value = value.encode("utf-8")
    if not isinstance(value, bytes) or not value.strip(b"\0 \t\r\n"):
        return None
    if turned:
        for pattern in _XMP_ORIENTATION:
            value = pattern.sub(rb"\g<1>1\g<2>", value)
    return value


def upright_exif(img: Image.Image | Image.Exif, path: Path) -> bytes | None:
    """The image's EXIF block (or this EXIF's) with orientation 1 and no TIFF layout tags, or None when it has none or
    it cannot be re-encoded."""
    try:
        exif = img if isinstance(img, Image.Exif) else img.getexif()
        # A TIFF's XMP is a tag of its first IFD; it is carried on its own (orientation reset), not in the EXIF.
        for tag in (_LAYOUT_TAGS | {700}) & set(exif):
            del exif[tag]
        if not exif:
            return None
        if 0x0112 in exif:
            exif[0x0112] = 1
        return exif.tobytes()
    except Exception as e:  # broken EXIF never stops a photo from being deblurred; it is only left out
        logger.info("%s: EXIF left out of the output, it could not be re-encoded (%s)", path, e)
        return None


def exif_says_adobe_rgb(exif: Image.Exif) -> bool:
    """Whether an EXIF block says its photo is Adobe RGB without an ICC profile, as cameras set to Adobe RGB write
    their JPEGs (the DCF rule: ColorSpace "uncalibrated" with the interoperability index "R03"; some cameras write
    ColorSpace 2 instead). Viewers that follow it show such a photo as Adobe RGB; without a profile in the output,
    a PNG or WebP of it would be shown as sRGB, its colours dull."""
    try:
        space = exif.get_ifd(0x8769).get(0xA001)  # the EXIF IFD's ColorSpace
        if space == 2:
            return True
        index = exif.get_ifd(0xA005).get(0x0001) if space == 0xFFFF else None  # the interop IFD's index
    except Exception:  # a broken EXIF block says nothing
        return False
    return (
        isinstance(index, str | bytes) and (index.encode() if isinstance(index, str) else index).strip(b"\0 ") == b"R03"
    )


def _read_16bit_colour(path: Path, orientation: int, img: Image.Image) -> tuple[np.ndarray, np.ndarray | None]:
    """Reads a 16-bit RGB(A) PNG or TIFF (``img``: Pillow's view of its header); returns (H, W, 3) float32 RGB and
    optional alpha in [0, 1].

    PNG is decoded by OpenCV. TIFF by tifffile: OpenCV (5.0) silently mixes up colour planes stored one after the
    other (Photoshop's "per channel" order) and applies a TIFF's orientation itself, flipping it a second time or
    failing; it decodes only the compressions tifffile needs the imagecodecs package for (LZW, JPEG), and only in
    files it reads right (planes interleaved, orientation 1). Premultiplied (associated) alpha is divided out, as
    Pillow does for 8-bit TIFFs.
    """
    if isinstance(img, TiffImagePlugin.TiffImageFile):
        try:
            a, _, associated, _ = _tiff_samples(path)  # RGB: what _is_16bit_colour takes
        except _TiffCodecMissing:
            if img.tag_v2.get(284) == 2 or img.tag_v2.get(262) != 2 or orientation != 1:
                raise
            a = _opencv_16bit_colour(path)
            extra = img.tag_v2.get(338, ())  # ExtraSamples
            associated = (extra if isinstance(extra, tuple) else (extra,))[:1] == (1,)
    else:
        a, associated = _opencv_16bit_colour(path), False
        if _png_depth_and_colour_type(path)[1] == 4:  # gray with alpha, which OpenCV gives as gray, gray, gray, alpha
            a = a[..., [0, 3]]
    a = np.ascontiguousarray(_ORIENT.get(orientation, lambda x: x)(a)).astype(np.float32) / 65535.0
    return _colour_and_alpha(a, associated)


def _colour_and_alpha(a: np.ndarray, associated: bool) -> tuple[np.ndarray, np.ndarray | None]:
    """Splits (H, W, 1|2|3|4) float samples (gray or RGB, then maybe alpha) into colour and alpha, dividing
    premultiplied (associated) alpha out."""
    colours = 3 if a.shape[2] >= 3 else 1
    colour, alpha = a[..., :colours], (a[..., colours] if a.shape[2] > colours else None)
    return (_unpremultiply(colour, alpha) if associated and alpha is not None else colour), alpha


def _webp_is_lossless(path: Path) -> bool:
    """Whether a WebP file's image is compressed losslessly: a VP8L chunk, where lossy ones have VP8 (RIFF chunks:
    four-letter name, little-endian size, data padded to an even length)."""
    with open(path, "rb") as f:
        f.seek(12)  # "RIFF", the file's size, "WEBP"
        while len(header := f.read(8)) == 8:  # chunk headers only, as _png_cicp walks a PNG's
            name, size = header[:4], int.from_bytes(header[4:], "little")
            if name in (b"VP8L", b"VP8 "):
                return name == b"VP8L"
            f.seek(size + (size & 1), os.SEEK_CUR)
    return False


def _png_depth_and_colour_type(path: Path) -> tuple[int, int]:
    """A PNG's bit depth and colour type (IHDR: 0 gray, 2 RGB, 3 palette, 4 gray with alpha, 6 RGBA); (0, 0) for a
    file too short to hold them."""
    with open(path, "rb") as f:
        header = f.read(26)
    return (header[24], header[25]) if len(header) == 26 else (0, 0)


def _opencv_16bit_colour(path: Path) -> np.ndarray:
    """(H, W, 3|4) uint16 RGB(A) of a 16-bit colour file, decoded by OpenCV."""
    import cv2  # only needed for 16-bit colour files

    decoded = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if decoded is None or decoded.dtype != np.uint16 or decoded.ndim != 3 or decoded.shape[2] not in (3, 4):
        raise ImageReadError(f"{path}: could not decode the 16-bit image")
    return decoded[..., [2, 1, 0, 3][: decoded.shape[2]]]  # OpenCV stores BGR(A)


def _colour_key_alpha(img: Image.Image, key: object) -> np.ndarray | None:
    """Alpha (H, W) float32 for an image whose pixels of colour ``key`` are transparent (a grayscale or RGB PNG's
    tRNS chunk), or None when no pixel has it or the key does not fit the mode."""
    samples = np.asarray(img)
    if samples.ndim == 3 and isinstance(key, tuple) and len(key) == samples.shape[2]:
        transparent = np.all(samples == np.asarray(key, dtype=samples.dtype), axis=-1)
    elif samples.ndim == 2 and isinstance(key, int):
        transparent = samples == key
    else:
        return None
    return (~transparent).astype(np.float32) if transparent.any() else None


def _unpremultiply(colour: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    """Colour stored multiplied by its alpha (TIFF's associated alpha) as straight colour; 0 where alpha is 0."""
    with np.errstate(divide="ignore", invalid="ignore"):
        straight = np.where(alpha[..., None] > 0, colour / alpha[..., None], 0.0)
    return np.clip(straight, 0.0, 1.0).astype(np.float32)


def _has_tiff_signature(path: Path) -> bool:
    try:
        with open(path, "rb") as f:
            return f.read(4) in (b"II*\0", b"MM\0*", b"II+\0", b"MM\0+")  # classic TIFF and BigTIFF
    except OSError:
        return False


@contextlib.contextmanager
def _quiet_tifffile() -> Iterator[None]:
    """tifffile logs each odd tag of a damaged file as an error; what matters reaches the user as one error line."""
    tiff_logger = logging.getLogger("tifffile")
    level = tiff_logger.level
    tiff_logger.setLevel(logging.CRITICAL)  # it reports odd tags as errors, then reads on
    try:
        yield
    finally:
        tiff_logger.setLevel(level)


class _TiffCodecMissing(ImageReadError):
    """A TIFF compressed in a way tifffile decodes only with the imagecodecs package (LZW, JPEG, ...)."""


# TIFF's PhotometricInterpretation values that are neither grayscale nor RGB, named for error messages.
_PHOTOMETRIC_NAMES = {3: "palette", 4: "mask", 5: "CMYK", 6: "YCbCr", 8: "CIELAB", 9: "ICCLAB", 10: "ITULAB"}
_RAW_PHOTOMETRICS = {32803: "colour-filter-array", 34892: "linear raw"}  # a camera sensor's data (TIFF/EP, DNG)


def refuse_camera_raw(path: Path, dng: bool, subfiletype: int, photometric: int | None = None) -> None:
    """Refuses a TIFF that holds camera raw data rather than a photo, by what its first image says of itself
    (:func:`read_image` develops such a file where rawpy is installed).

    Raises:
        CameraRawError: for a DNG, a first image marked as a reduced-resolution preview (NEF, CR2, ARW ... put their
            preview first and the sensor data in sub-images), or sensor data itself.
    """
    if dng:
        raise CameraRawError(path, "a DNG camera raw file", INSTALL_ADVICE)
    if subfiletype & 1:  # NewSubfileType bit 0: "reduced-resolution version of another image"
        what = "its first image is a reduced-resolution preview, as in camera raw files"
        raise CameraRawError(path, what, INSTALL_ADVICE)
    if photometric in _RAW_PHOTOMETRICS:
        raise CameraRawError(path, f"camera sensor data ({_RAW_PHOTOMETRICS[photometric]})", INSTALL_ADVICE)


def refuse_camera_raw_image(img: Image.Image, path: Path) -> None:
    """:func:`refuse_camera_raw` for an image Pillow opened: a TIFF's first image, by its tags; other formats pass.

    Raises:
        CameraRawError: as :func:`refuse_camera_raw`, naming ``path``.
    """
    if img.format == "TIFF":
        tags = img.tag_v2  # type: ignore[attr-defined]
        refuse_camera_raw(path, TIFF_DNG_VERSION in tags, int(tags.get(254, 0)), int(tags.get(262, 2)))


def _tiff_samples(path: Path) -> tuple[np.ndarray, int, bool, bool]:
    """The first image of a TIFF decoded with tifffile, for the layouts Pillow cannot open (16-bit grayscale with
    alpha, 8-bit CMYK with alpha) and OpenCV misreads (separate colour planes).

    Returns:
        (H, W, C) uint8 or uint16 samples: gray, gray + alpha, RGB or RGB + alpha (an unspecified extra sample is
        taken as alpha, as OpenCV and Pillow take it), or 8-bit CMYK inks and alpha (marked alpha only: Pillow
        takes an unmarked extra sample of CMYK as no alpha); bits per sample; whether the alpha is associated
        (premultiplied); whether the colour is CMYK.

    Raises:
        ImageReadError: naming the file and what it holds that is not supported (floating-point or 32-bit samples,
            16-bit CMYK, inks other than CMYK, other colour models), or the decoder's reason (a compression tifffile
            needs the imagecodecs package for).
    """
    try:
        import tifffile
    except ImportError:
        raise ImageReadError(f"{path}: this kind of TIFF needs the tifffile package: pip install tifffile") from None
    try:
        with _quiet_tifffile(), tifffile.TiffFile(path) as tif:
            page = tif.pages.first
            if not isinstance(page, tifffile.TiffPage):
                raise ImageReadError(f"{path}: its first image is not one tifffile can read")
            refuse_camera_raw(path, TIFF_DNG_VERSION in page.tags, int(page.subfiletype), int(page.photometric))
            check_pixel_limit(path, page.imagewidth, page.imagelength)
            if page.samplesperpixel > 8:  # colour, alpha and a few extra: more is no photo (or a corrupt header)
                raise ImageReadError(f"{path}: {page.samplesperpixel} samples per pixel are not supported")
            bits, kind, photometric = page.bitspersample, int(page.sampleformat), int(page.photometric)
            if kind == 3:
                raise ImageReadError(
                    f"{path}: {bits}-bit floating-point samples (an HDR or linear-light TIFF) are not supported; "
                    "save it with 16-bit integer samples"
                )
            if kind != 1 or bits not in (8, 16):
                raise ImageReadError(f"{path}: {bits}-bit samples are not supported (8- and 16-bit integers are)")
            extra = tuple(int(e) for e in page.extrasamples)
            cmyk = photometric == 5
            if cmyk and (bits != 8 or int(getattr(page.tags.get(332), "value", 1)) != 1):  # InkSet 1: CMYK
                kind_of = f"{bits}-bit CMYK TIFF" if bits != 8 else "TIFF of inks other than CMYK"
                raise ImageReadError(f"{path}: a {kind_of} is not supported; save it as 8-bit CMYK or as RGB")
            if cmyk and page.samplesperpixel - len(extra) != 4:
                raise ImageReadError(
                    f"{path}: a CMYK TIFF of {page.samplesperpixel - len(extra)} inks is not supported"
                )
            if photometric not in (0, 1, 2, 5):  # WhiteIsZero, BlackIsZero, RGB, separated (CMYK)
                name = _PHOTOMETRIC_NAMES.get(photometric, f"colour model {photometric}")
                raise ImageReadError(f"{path}: a {bits}-bit {name} TIFF is not supported; save it as RGB")
            a = page.asarray()
            planar = page.planarconfig == 2 and page.samplesperpixel > 1
    except ImageReadError:
        raise
    except Exception as e:  # tifffile's own errors, and the compressions it needs imagecodecs for
        if "imagecodecs" in str(e):
            raise _TiffCodecMissing(
                f"{path}: could not decode this TIFF ({one_line(e)}): pip install imagecodecs adds it"
            ) from None
        raise ImageReadError(f"{path}: could not decode this TIFF ({one_line(e)})") from None
    if planar:
        a = np.moveaxis(a, 0, -1)
    if a.ndim == 2:
        a = a[..., None]
    colours = {2: 3, 5: 4}.get(photometric, 1)
    if a.ndim != 3 or a.shape[2] < colours:
        raise ImageReadError(f"{path}: could not decode this TIFF (samples of shape {a.shape})")
    if photometric == 0:  # WhiteIsZero: 0 is white
        a[..., :1] = np.iinfo(a.dtype).max - a[..., :1]
    # The first extra sample is alpha when marked so (associated or not), or when it is the only one and unmarked
    # (as OpenCV and Pillow take a fourth sample of RGB, not a fifth of CMYK); other extra samples are not colour and
    # are left out.
    alpha = extra[:1] in ((1,), (2,)) or (extra == (0,) and not cmyk)
    return np.ascontiguousarray(a[..., : colours + alpha]), bits, alpha and extra[0] == 1, cmyk


def read_tiff_exif(path: Path) -> Image.Exif:
    """The first IFD of a file built as a TIFF (a TIFF, or a camera raw file such as DNG, NEF, CR2), with its EXIF
    and GPS sub-IFDs read while the file is open (Pillow reads them when asked, from a file it no longer has);
    empty when the file is no TIFF or its tags are unreadable (they only cost the metadata)."""
    exif = Image.Exif()
    try:
        with open(path, "rb") as f, warnings.catch_warnings():
            warnings.simplefilter("ignore")  # Pillow's warnings about odd tags: they only cost the metadata
            exif.load_from_fp(f)  # the first IFD, as the header points to it
            for ifd in (0x8769, 0x8825) if len(exif) else ():
                if ifd in exif:
                    exif.get_ifd(ifd)
    except Exception:
        return Image.Exif()
    return exif


def _read_tiff_without_pillow(
    path: Path,
) -> tuple[np.ndarray, np.ndarray | None, int, bytes | None, bytes | None, bytes | None, bool]:
    """Reads a TIFF that Pillow cannot open (16-bit grayscale with alpha, 8-bit CMYK with alpha, or what
    :func:`_tiff_samples` refuses by name) with tifffile, and its metadata from its first IFD; returns float (H, W,
    1|3) colour, alpha, bit depth, ICC profile, EXIF and XMP as :func:`read_image` keeps them, and whether it was
    CMYK (converted to sRGB through its profile as :func:`cmyk_to_srgb` does; the profile kept, when usable, to write
    it back)."""
    samples, bits, associated, cmyk = _tiff_samples(path)
    exif = read_tiff_exif(path)
    orientation = int(exif.get(274, 1))
    profile = exif.get(34675)
    if cmyk:
        inks, alpha8 = samples[..., :4], (samples[..., 4] if samples.shape[2] > 4 else None)
        if associated and alpha8 is not None:  # inks stored multiplied by their alpha
            inks = np.round(_unpremultiply(inks / 255.0, alpha8 / 255.0) * 255).astype(np.uint8)
        image = Image.fromarray(np.ascontiguousarray(inks), "CMYK")
        image.info["icc_profile"] = profile
        converted, icc = cmyk_to_srgb_with_profile(image, path)
        rgb = np.asarray(converted)
        samples, associated = (rgb if alpha8 is None else np.dstack([rgb, alpha8])), False
    else:
        icc = _fitting_icc(profile, grayscale=samples.shape[2] < 3)
    xmp = xmp_packet(exif.get(700), orientation != 1)
    upright = upright_exif(exif, path) if exif else None
    a = np.ascontiguousarray(_ORIENT.get(orientation, lambda x: x)(samples)).astype(np.float32) / (2**bits - 1)
    colour, alpha = _colour_and_alpha(a, associated)
    return colour, alpha, bits, icc, upright, xmp, cmyk


def imagecodecs_decodes(codec: str) -> bool:
    """Whether imagecodecs is installed with ``codec`` ("AVIF", "JPEGXL"): how colour deeper than 8 bits is read from
    AVIF and JPEG XL files, which Pillow and pillow-jxl-plugin give at 8."""
    try:
        import imagecodecs
    except ImportError:
        return False
    return bool(getattr(getattr(imagecodecs, codec, None), "available", False))


def _avif_colour(path: Path) -> AvifColour:
    """An AVIF file's bit depth and nclx colour space (:func:`idc.isobmff.avif_colour`); 8 bits and none when its
    boxes cannot be read (Pillow's decoder then says what is wrong, or reads what it can)."""
    from idc import isobmff

    try:
        return isobmff.avif_colour(path.read_bytes())
    except (ValueError, IndexError):
        return isobmff.AvifColour()


def avif_nclx_writer() -> bool:
    """Whether AVIF files can be written with an nclx colour box here: imagecodecs 2025 or newer (with libavif)."""
    if not imagecodecs_decodes("AVIF"):
        return False
    import imagecodecs

    try:
        return "primaries" in inspect.signature(imagecodecs.avif_encode).parameters
    except (TypeError, ValueError):  # a signature Python cannot read: an imagecodecs this code does not know
        return False


def _codes(rgb: torch.Tensor, alpha: torch.Tensor | None, bits: int) -> np.ndarray:
    """The samples of ``rgb`` (C, H, W) in [0, 1], with ``alpha`` (H, W) after them, as (H, W, C + 1 or C) codes of
    ``bits`` bits (int64, rounded), for the writers of depths other than 8 and 16 (:func:`to_uint`'s)."""
    planes = rgb if alpha is None else torch.cat([rgb, alpha[None].to(rgb)])
    codes = (planes.detach().float().clamp(0, 1).cpu() * (2**bits - 1)).round().to(torch.int64)
    return np.ascontiguousarray(codes.permute(1, 2, 0).numpy())


def _write_nclx_avif(
    path: str, rgb: torch.Tensor, alpha: torch.Tensor | None, quality: int, cicp: tuple[int, int], bits: int
) -> None:
    """Writes an AVIF file of ``bits`` (8 or 10) per channel whose nclx box names the colour space ``cicp`` (H.273
    primaries and transfer; YCbCr as BT.601, as :func:`_nclx_options` writes HEIC), with imagecodecs."""
    import imagecodecs

    samples = _codes(rgb, alpha, bits).astype(np.uint8 if bits == 8 else np.uint16)
    data = imagecodecs.avif_encode(
        samples, level=quality, bitspersample=bits, primaries=cicp[0], transfer=cicp[1], matrix=6
    )
    Path(path).write_bytes(bytes(data))


def _read_deep_avif(path: Path, orientation: int, bits: int) -> tuple[np.ndarray, np.ndarray | None]:
    """Reads an AVIF file of 10 or 12 bits per channel at full precision with imagecodecs (libavif), which gives the
    samples as stored (0-1023 for 10 bits) and not turned: returns (H, W, 1|3) float32 and optional alpha in [0, 1],
    turned upright by ``orientation`` (Pillow's, from the file's EXIF or irot and imir boxes)."""
    import imagecodecs

    try:
        a = np.asarray(imagecodecs.avif_decode(path.read_bytes()))
    except Exception as e:  # imagecodecs.AvifError, among others
        raise ImageReadError(f"{path}: corrupt or truncated image ({one_line(e)})") from None
    a = a.astype(np.float32) / (255.0 if a.dtype == np.uint8 else 2**bits - 1)
    a = a[..., None] if a.ndim == 2 else a
    a = _ORIENT.get(orientation, lambda x: x)(a)
    return _colour_and_alpha(a, associated=False)


def _read_deep_heif(path: Path, orientation: int) -> tuple[np.ndarray, np.ndarray | None, int]:
    """Reads the primary image of a HEIF file with 10 or 12 bits per channel (the HIF files of Sony, Canon and
    Fujifilm cameras) at full precision; returns (H, W, 1|3) float32 and optional alpha in [0, 1], and the bits.

    Pillow's view of such a file (through pillow-heif) is cut to 8 bits; pillow-heif's own reader gives the samples
    shifted up to 16 bits, which are shifted back so that the largest code maps to 1.0 exactly.
    """
    import pillow_heif

    heif = pillow_heif.open_heif(path, convert_hdr_to_8bit=False)
    image = heif[heif.primary_index]
    bits = image.info["bit_depth"]
    a = np.asarray(image)
    if a.dtype != np.uint16 or not isinstance(bits, int) or not 8 < bits <= 16:
        raise ImageReadError(f"{path}: could not decode the HEIF image of {bits!r} bits per channel")
    a = (a >> (16 - bits)).astype(np.float32) / (2**bits - 1)
    a = a[..., None] if a.ndim == 2 else a
    a = _ORIENT.get(orientation, lambda x: x)(a)  # pillow-heif has turned the pixels upright and reset the tag
    return *_colour_and_alpha(a, associated=False), bits


def _to_float_array(img: Image.Image) -> np.ndarray:
    """Returns (H, W, C) float32 in [0, 1] for an 8-bit or single-channel 16-bit Pillow image: C is 1 for
    grayscale (bilevel, 8-, 16- or 32-bit, floating-point), 3 for colour."""
    if img.mode in {"I;16", "I;16B", "I;16L"}:
        return np.asarray(img, dtype=np.float32)[..., None] / 65535.0
    if img.mode == "I":
        a = np.asarray(img, dtype=np.float64)
        peak = 65535.0 if a.max() > 255 else 255.0
        return (np.clip(a, 0, peak) / peak).astype(np.float32)[..., None]
    if img.mode == "F":
        return np.clip(np.asarray(img, dtype=np.float32), 0, 1)[..., None]
    if img.mode in {"1", "L"}:
        return np.asarray(img.convert("L"), dtype=np.float32)[..., None] / 255.0
    return np.asarray(img.convert("RGB"), dtype=np.float32) / 255.0


def image_size(path: str | Path) -> tuple[int, int]:
    """(width, height) as :func:`read_image` would return the image (EXIF rotation applied), from the header only.

    Raises:
        ImageReadError: the file is missing or not an image (the message names the file), or a camera raw file
            (by its name) that rawpy is not installed to read.
    """
    from idc import raw

    path = Path(path)
    if raw.is_raw_name(path):
        return raw.raw_size(path)
    if _is_jxl_file(path):
        return _jxl_header(path, path.read_bytes()).upright_size
    heif_available()
    try:
        with Image.open(path) as img:
            w, h = img.size
            orientation = img.getexif().get(0x0112, 1)
    except UnidentifiedImageError:
        if not _has_tiff_signature(path):
            raise ImageReadError(f"{_unrecognised(path)} (cannot read image header)") from None
        try:  # a TIFF Pillow has no mode for (read_image reads it with tifffile)
            import tifffile

            with _quiet_tifffile(), tifffile.TiffFile(path) as tif:
                page = tif.pages.first
                w, h = int(page.shape[page.axes.index("X")]), int(page.shape[page.axes.index("Y")])
                tag = page.tags.get(274) if isinstance(page, tifffile.TiffPage) else None
                orientation = int(tag.value) if tag is not None else 1
        except Exception as e:
            raise ImageReadError(f"{path}: cannot read image header ({one_line(e)})") from None
    except (OSError, RuntimeError, SyntaxError, ValueError, EOFError, TypeError, Image.DecompressionBombError) as e:
        raise ImageReadError(f"{path}: cannot read image header ({one_line(e)})") from None
    return (h, w) if orientation in (5, 6, 7, 8) else (w, h)


def read_image(path: str | Path) -> LoadedImage:
    """Reads an image file as RGB float32 in [0, 1], applying its EXIF orientation.

    Grayscale is replicated to RGB, palette images are expanded, CMYK is converted, alpha is kept aside.
    16-bit PNG/TIFF (grayscale or colour) are read at full precision and reported as ``bit_depth == 16``; TIFFs in
    any layout (planes interleaved or separate, premultiplied alpha, grayscale with alpha), but floating-point,
    32-bit and 16-bit CMYK or Lab samples are refused by name.
    An RGB ICC profile (or else a colour space given as H.273 code points), the EXIF block and the XMP packet
    (orientation reset in both) are kept for :func:`write_image`. HEIC/HEIF is read when pillow-heif is installed
    (upright; 10- and 12-bit files at full precision, as ``bit_depth == 16``), AVIF where Pillow has it (10- and
    12-bit files at full precision where imagecodecs is installed, else at 8 bits with a warning), JPEG XL when
    pillow-jxl-plugin is installed (upright; 10- and 16-bit colour at full precision where imagecodecs is installed
    too; its size checked from the headers before it is decoded, :mod:`idc.jxl`). Of a multi-page TIFF or a HEIF
    collection the first (primary) image is read, with a logged
    warning. A camera raw file, known by its extension or by what a TIFF's first image says of itself
    (:func:`refuse_camera_raw`), is developed into a 16-bit sRGB photo with LibRaw where rawpy is installed
    (:func:`idc.raw.develop`).

    Raises:
        ImageReadError: naming the file, when it is missing, unreadable, not an image, an animation, a camera raw
            file that rawpy is not installed to develop (a :class:`CameraRawError` saying what to install) or LibRaw
            cannot develop, or in a format this installation cannot decode (the message says what to install).
    """
    from idc import raw

    path = Path(path)
    if raw.is_raw_name(path):
        return raw.develop(path, _max_pixels)
    try:
        return _read_image(path)
    except CameraRawError as e:  # renamed or piped in: known by its content
        if problem := raw.rawpy_problem():
            raise CameraRawError(e.path, e.what, problem) from None
        return raw.develop(path, _max_pixels, what=e.what)


def _is_jxl_file(path: Path) -> bool:
    from idc import jxl

    try:
        with open(path, "rb") as f:
            return jxl.is_jxl(f.read(12))
    except OSError:  # reported by the reader that follows, with the file's name
        return False


def _jxl_header(path: Path, data: bytes) -> jxl.Header:
    """A JPEG XL file's headers (:func:`idc.jxl.parse_header`), read without decoding it; errors name the file."""
    from idc import jxl

    try:
        return jxl.parse_header(jxl.codestream(data))
    except ValueError as e:
        raise ImageReadError(f"{path}: corrupt or truncated JPEG XL image ({e})") from None


def _read_jxl(path: Path) -> LoadedImage:
    """:func:`read_image` of a JPEG XL file: headers read here (:mod:`idc.jxl`), pixels decoded by libjxl.

    A JPEG XL made losslessly from a JPEG is read as that JPEG, which libjxl gives back bit for bit (its EXIF,
    profile and chroma subsampling included).
    """
    from idc import jxl

    data = path.read_bytes()
    header = _jxl_header(path, data)
    check_pixel_limit(path, header.width, header.height)  # before anything decodes it
    if header.animated:
        raise ImageReadError(f"{path}: an animated JPEG XL; idc deblurs still images (export the frame you want)")
    if header.float_samples:
        raise ImageReadError(
            f"{path}: floating-point JPEG XL samples ({header.bits}-bit float, HDR or linear data) are not read; "
            "save it with 8 or 16 bits per channel"
        )
    if jxl.BLACK in header.extra_channels:
        raise ImageReadError(f"{path}: a CMYK JPEG XL is not read; save it as a CMYK TIFF or JPEG")
    if problem := jxl.decoder_problem():
        raise ImageReadError(f"{path}: {problem}")
    try:
        decoded = jxl.decode(data, header, path)
    except ValueError as e:
        raise ImageReadError(f"{path}: corrupt or truncated JPEG XL image ({e})") from None
    if decoded.jpeg is not None:
        with tempfile.TemporaryDirectory(prefix="idc-jxl-") as tmp:
            original = Path(tmp) / f"{path.stem}.jpg"
            original.write_bytes(decoded.jpeg)
            try:
                loaded = _read_image(original)
            except ImageReadError as e:
                raise ImageReadError(str(e).replace(str(original), f"{path} (the JPEG it holds)")) from None
        loaded.path = path
        return loaded
    assert decoded.pixels is not None
    pixels = decoded.pixels
    depth = 16 if pixels.dtype == np.uint16 else 8
    colour, alpha = _colour_and_alpha(
        pixels.astype(np.float32) / (65535.0 if depth == 16 else 255.0), associated=header.premultiplied
    )
    exif_block, xmp = jxl.metadata(data, path)
    exif = None
    if exif_block:
        tags = Image.Exif()
        try:
            with warnings.catch_warnings():  # Pillow warns of corrupt EXIF; what it can read is kept
                warnings.simplefilter("ignore")
                tags.load(exif_block)
        except Exception as e:  # broken EXIF never stops a photo from being deblurred
            logger.info("%s: EXIF left out of the output, it could not be read (%s)", path, e)
        else:
            exif = upright_exif(tags, path)
    grayscale = colour.shape[-1] == 1
    if grayscale:
        colour = np.repeat(colour, 3, axis=-1)
    return LoadedImage(
        rgb=torch.from_numpy(np.ascontiguousarray(colour.transpose(2, 0, 1))),
        bit_depth=depth,
        alpha=None if alpha is None else torch.from_numpy(np.ascontiguousarray(alpha)),
        path=path,
        icc=_fitting_icc(decoded.icc, grayscale=grayscale),
        exif=exif,
        # The pixels are as viewers show the file (the codestream's orientation applied; an EXIF one is ignored, as
        # the JPEG XL standard says), and every orientation written with them is 1.
        xmp=xmp_packet(xmp, turned=True),
        grayscale=grayscale,
        lossless=header.xyb is False,
    )


def _read_image(path: Path) -> LoadedImage:
    """:func:`read_image` of a file not named as camera raw."""
    alpha_np: np.ndarray | None = None
    heif_bits: int | None = None
    lossless = cmyk = lab = False
    heif_available()
    try:
        if _is_jxl_file(path):
            return _read_jxl(path)
        # Pillow warns about corrupt EXIF data and from half its own pixel limit up; the image still decodes (and the
        # limit checked below is the one that decides), so its warnings are not the user's business.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with Image.open(path) as img:
                refuse_camera_raw_image(img, path)
                check_pixel_limit(path, *img.size)
                _check_frames(img, path)
                img_exif = img.getexif()
                orientation = int(img_exif.get(274, 1))
                profile, exif = img.info.get("icc_profile"), upright_exif(img, path)
                # Turned: by the EXIF orientation here (Pillow takes it from the XMP when EXIF has none), or by
                # pillow-heif while decoding (which resets the EXIF tag, not the XMP's).
                turned = orientation != 1 or img.info.get("original_orientation") not in (None, 1)
                xmp = xmp_packet(img.info.get("xmp"), turned)
                subsampling = (
                    _JPEG_SUBSAMPLING.get(JpegImagePlugin.get_sampling(img)) if img.format in ("JPEG", "MPO") else None
                )
                lossless = img.format == "WEBP" and _webp_is_lossless(path)
                cicp = None  # given by an ICC profile when there is one that fits (below)
                if img.format in ("HEIF", "PNG"):
                    cicp = _heif_cicp(img) if img.format == "HEIF" else _png_cicp(path)
                avif = _avif_colour(path) if img.format == "AVIF" else None  # what Pillow does not report
                if avif is not None and avif.nclx:
                    cicp = _cicp(*avif.nclx)
                # Colour given by gAMA/cHRM chunks only (PNG's older way), taken before a conversion drops the format.
                png_colour = (
                    (img.info.get("gamma"), img.info.get("chromaticity"))
                    if img.format == "PNG" and profile is None and cicp is None and "srgb" not in img.info
                    else None
                )
                if _is_16bit_colour(img, path):
                    array, alpha_np = _read_16bit_colour(path, orientation, img)
                    depth = 16
                elif img.format == "HEIF" and int(img.info.get("bit_depth") or 8) > 8:
                    array, alpha_np, heif_bits = _read_deep_heif(path, orientation)
                    depth = 16
                elif avif is not None and avif.bits > 8 and imagecodecs_decodes("AVIF"):
                    array, alpha_np = _read_deep_avif(path, orientation, avif.bits)
                    depth = 16
                else:
                    if avif is not None and avif.bits > 8:  # Pillow's AVIF decoder gives 8 bits
                        logger.warning(
                            "%s: %d-bit AVIF read at 8 bits (to keep its depth: %s)", path, avif.bits, DEEP_INSTALL
                        )
                    img.load()
                    depth = 16 if img.mode in {"I;16", "I;16B", "I;16L", "I"} else 8
                    if img.mode == "P":
                        img = img.convert("RGBA" if "transparency" in img.info else "RGB")
                    lab = img.mode == "LAB"  # converted to sRGB below, and back to CIELab for a TIFF output
                    if img.mode == "CMYK":  # through its printing profile (None: the plain formula), and back
                        cmyk = True
                        img, profile = cmyk_to_srgb_with_profile(img, path)
                    if img.mode in {"RGBA", "LA", "PA", "RGBa", "La"}:
                        alpha_np = np.asarray(img.getchannel("A"), dtype=np.float32) / 255.0
                        img = img.convert("L" if img.mode in {"LA", "La"} else "RGB")
                    elif "transparency" in img.info:  # PNG's tRNS: one colour (gray level) stands for transparent
                        alpha_np = _colour_key_alpha(img, img.info["transparency"])
                    array = _to_float_array(img)
                    if img.format == "TIFF" and img.mode.startswith("I;16") and img.tag_v2.get(262) == 0:
                        array = 1.0 - array  # 16-bit WhiteIsZero, which Pillow (unlike 8-bit) leaves inverted
                    flip = _ORIENT.get(orientation, lambda x: x)
                    array = flip(array)
                    alpha_np = None if alpha_np is None else flip(alpha_np)
                if png_colour:
                    profile = png_profile(*png_colour, grayscale=array.shape[-1] == 1)
                icc = profile if cmyk else _fitting_icc(profile, grayscale=array.shape[-1] == 1)
                if icc is None and cicp is None and not cmyk and array.shape[-1] == 3 and exif_says_adobe_rgb(img_exif):
                    icc = adobe_rgb_profile()  # said by the EXIF only: made a profile, which every format carries
                cicp = None if icc else cicp
    except ImageReadError:
        raise
    except FileNotFoundError:
        raise ImageReadError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise ImageReadError(f"{path}: is a folder, not an image") from None
    except PermissionError:
        raise ImageReadError(f"{path}: permission denied") from None
    except UnidentifiedImageError:
        if not _has_tiff_signature(path):
            raise ImageReadError(_unrecognised(path)) from None
        # A TIFF Pillow has no mode for: 16-bit grayscale with alpha (read), floating-point, 32-bit or 16-bit CMYK
        # samples (refused by name).
        array, alpha_np, depth, icc, exif, xmp, cmyk = _read_tiff_without_pillow(path)
        cicp, subsampling = None, None
    except Image.DecompressionBombError as e:
        raise ImageReadError(f"{path}: too many pixels ({one_line(e)})") from None
    except (OSError, SyntaxError, ValueError, EOFError, RuntimeError, TypeError, SystemError) as e:
        # RuntimeError: Pillow's AVIF decoder reports a corrupt file so ("Failed to decode image: ..."); TypeError:
        # Pillow passes a corrupt TIFF's values on unchecked (a floating-point strip offset to its pixel mapper);
        # SystemError: a corrupt 16-bit gray TIFF that Pillow loads gives "tile cannot extend outside image" as an
        # array.
        raise ImageReadError(f"{path}: corrupt or truncated image ({one_line(e)})") from None

    grayscale = array.shape[-1] == 1
    if grayscale:
        array = np.repeat(array, 3, axis=-1)
    # A real copy: ascontiguousarray keeps negative strides on size-1 axes (a flipped 1-pixel-high image), which
    # torch.from_numpy refuses.
    rgb = torch.from_numpy(np.array(array[..., :3].transpose(2, 0, 1), dtype=np.float32, order="C", copy=True))
    alpha = None if alpha_np is None else torch.from_numpy(np.array(alpha_np, dtype=np.float32, order="C", copy=True))
    return LoadedImage(
        rgb=rgb,
        bit_depth=depth,
        alpha=alpha,
        path=path,
        icc=icc,
        exif=exif,
        cicp=cicp,
        xmp=xmp,
        subsampling=subsampling,
        grayscale=grayscale,
        heif_bits=heif_bits,
        lossless=lossless,
        cmyk=cmyk,
        lab=lab,
    )


def to_uint(rgb: torch.Tensor, bit_depth: int = 8) -> np.ndarray:
    """Rounds a (3, H, W) [0, 1] tensor to an (H, W, 3) uint8 or uint16 array (clipping out-of-range values)."""
    peak = 255 if bit_depth == 8 else 65535
    a = (rgb.detach().float().clamp(0, 1) * peak).round().permute(1, 2, 0).cpu().numpy()
    return a.astype(np.uint8 if bit_depth == 8 else np.uint16)


def output_format(path: Path) -> str:
    """Pillow format name for a path's extension."""
    try:
        return _FORMAT_BY_EXT[path.suffix.lower()]
    except KeyError:
        raise ValueError(f"{path}: unsupported output extension {path.suffix!r}") from None


def format_extension(fmt: str) -> str | None:
    """The extension a file of Pillow format ``fmt`` is given (the first of ``_FORMAT_BY_EXT``'s; a camera's MPO
    JPEG is a JPEG), or None for a format idc does not read."""
    fmt = "JPEG" if fmt == "MPO" else fmt
    return next((ext for ext, name in _FORMAT_BY_EXT.items() if name == fmt), None)


def write_image(
    path: str | Path,
    rgb: torch.Tensor,
    bit_depth: int = 8,
    alpha: torch.Tensor | None = None,
    quality: int = 95,
    icc: bytes | None = None,
    exif: bytes | None = None,
    cicp: tuple[int, int] | None = None,
    xmp: bytes | None = None,
    subsampling: str | None = None,
    grayscale: bool = False,
    heif_bits: int | None = None,
    lossless: bool = False,
    cmyk: bool = False,
    lab: bool = False,
) -> None:
    """Writes a (3, H, W) [0, 1] image, atomically (temporary file, then rename).

    16-bit output is kept for PNG and TIFF and written as 10 bits per channel for HEIC (HEVC Main 10, which phones
    and computers decode), or 12 when ``heif_bits`` is 12 (a 12-bit HEIF's depth, kept); other formats are 8-bit.
    Alpha, when given, is written where the format supports it (all but JPEG, where an image with transparency is
    flattened onto white, with a warning, as image editors export one to JPEG). ``icc`` (an ICC profile) and
    ``exif`` (an EXIF block) are embedded in every format, EXIF in JPEG only up to 65,533 bytes (a warning
    otherwise), but JPEG XL: it is written as 8-bit sRGB through pillow-jxl-plugin, which embeds no profile, so an
    RGB ``icc`` other than sRGB is converted to sRGB first, with a warning (:mod:`idc.jxl`). ``quality`` applies to
    JPEG, WebP, AVIF, HEIC and JPEG XL; TIFF is compressed losslessly (Deflate, :func:`write_tiff`). ``cicp`` (H.273
    colour primaries and transfer characteristics, :attr:`LoadedImage.cicp`) is written, when there is no ``icc``,
    as PNG's cICP chunk and HEIC's nclx box, and as AVIF's through imagecodecs 2025 or newer (10 bits for a 16-bit
    image; without EXIF and XMP, with a warning); other formats have no place for it and are written without it,
    with a warning. ``xmp`` (an XMP packet) is embedded in every format, in JPEG only up to 65,504 bytes and in PNG only
    when UTF-8 (a message otherwise).
    ``subsampling`` (``"4:4:4"``, ``"4:2:2"`` or ``"4:2:0"``) sets a JPEG's chroma subsampling (default: Pillow's,
    4:2:0). ``grayscale``: the image is gray (:attr:`LoadedImage.grayscale`); the mean of its channels is written as
    one gray channel in PNG, TIFF, JPEG, HEIC and JPEG XL (monochrome; with a gray ICC profile, when given, but in
    JPEG XL), and as equal RGB channels in WebP, AVIF and a HEIC with alpha, which have no gray mode here (a gray
    profile is then left out, with a message).
    ``lossless``: a WebP or JPEG XL output is compressed losslessly (:attr:`LoadedImage.lossless`; for WebP,
    ``quality`` then sets the effort).
    ``cmyk``: the image came from CMYK inks and ``rgb`` is sRGB (:attr:`LoadedImage.cmyk`); a JPEG or TIFF is
    written as 8-bit CMYK again, separated through ``icc`` when it is a CMYK profile (embedded) and else by the plain
    formula idc reads untagged CMYK by (:func:`srgb_to_cmyk`), with ``alpha`` in a TIFF; other formats, which hold
    no CMYK, get the sRGB image, without the CMYK profile.
    ``lab``: the image came from CIELab samples (:attr:`LoadedImage.lab`); a TIFF is written as 8-bit CIELab again
    (Pillow's sRGB to Lab conversion, the inverse of the one it was read by), other formats get the sRGB image.

    Raises:
        ValueError: an unknown extension, or a format this installation cannot write (the message says why).
    """
    path = Path(path)
    fmt = output_format(path)
    if problem := missing_support(fmt):
        raise ValueError(f"{path}: {problem}")
    if alpha is not None and fmt == "JPEG":
        if bool((alpha < 1).any()):  # what lay under transparent pixels would show: flattened, as image editors do
            logger.warning(
                "%s: JPEG holds no transparency; written flattened onto white (PNG, TIFF, WebP, AVIF, HEIC and JPEG XL "
                "keep it)",
                path,
            )
            rgb = rgb * alpha + (1.0 - alpha)
        alpha = None
    inks = cmyk and not grayscale and fmt in {"JPEG", "TIFF"}
    cielab = lab and not grayscale and fmt == "TIFF" and alpha is None
    if icc and icc_colour_space(icc) == b"CMYK" and not inks:
        icc = None  # the pixels are sRGB, which a file without a profile is read as
    depth = 8 if inks or cielab else bit_depth if fmt in {"PNG", "TIFF", "HEIF"} else 8
    cicp = None if icc else cicp
    # An AVIF names its colour space in an nclx box, which Pillow cannot write and imagecodecs can (at 10 bits; no
    # EXIF or XMP): colours shown right outweigh the metadata.
    nclx_avif = bool(cicp) and fmt == "AVIF" and avif_nclx_writer()
    if nclx_avif and cicp and (exif or xmp):
        logger.warning(
            "%s: AVIF in the input's colour space (H.273 primaries %d, transfer %d) is written through imagecodecs, "
            "which writes no EXIF or XMP; written without them (PNG and HEIC keep both)",
            path,
            *cicp,
        )
    if cicp and fmt not in {"PNG", "HEIF"} and not nclx_avif:
        logger.warning(
            "%s: the input's colour space (H.273 primaries %d, transfer %d) %s; written without it, so colours will "
            "look different (PNG and HEIC keep it)",
            path,
            *cicp,
            "is written into AVIF only with imagecodecs 2025 or newer (pip install -U imagecodecs)"
            if fmt == "AVIF"
            else f"has no place in {fmt}",
        )
    nclx = {} if not cicp else _nclx_options(cicp)
    # HEIC has a monochrome mode (libheif's, as pillow-heif writes an L image) but none with alpha here.
    gray = grayscale and (fmt in {"PNG", "TIFF", "JPEG", "JXL"} or (fmt == "HEIF" and alpha is None))
    if grayscale:
        # The network's three outputs for three equal inputs differ by a few levels: colour noise in a gray photo.
        rgb = rgb.mean(0, keepdim=True) if gray else rgb.mean(0, keepdim=True).repeat(3, 1, 1)
    if icc and (icc_colour_space(icc) == b"GRAY") != gray:
        logger.info(
            "%s: the input's colour profile does not fit a %s %s; written without it",
            path,
            "gray" if gray else "colour",
            fmt,
        )
        icc = None
    separated = None
    if inks:
        separated, icc = srgb_to_cmyk(Image.fromarray(to_uint(rgb, 8), "RGB"), icc, path)
    elif cielab:  # back into the Lab values it came in, as Pillow converted them to sRGB (its inverse)
        separated, icc = Image.fromarray(to_uint(rgb, 8)).convert("LAB"), None
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}.", suffix=path.suffix)
    os.close(fd)
    try:
        if depth == 16 and fmt == "HEIF":
            metadata: dict[str, object] = {"icc_profile": icc, "exif": exif, "xmp": xmp, **nclx}
            _write_deep_heif(tmp, rgb, alpha, quality, metadata, bits=12 if heif_bits == 12 else 10)
        elif nclx_avif and cicp:
            _write_nclx_avif(tmp, rgb, alpha, quality, cicp, bits=10 if bit_depth == 16 else 8)
        elif fmt == "TIFF" or depth == 16:  # written by our own TIFF and gray PNG writers, or OpenCV's PNG one
            samples = to_uint(rgb, depth) if separated is None else np.asarray(separated)
            if alpha is not None:
                samples = np.concatenate([samples, to_uint(alpha[None], depth)], axis=-1)
            if fmt == "TIFF":
                write_tiff(tmp, samples, icc=icc, exif=exif, xmp=xmp, name=path, cmyk=inks, lab=cielab)
            else:
                (_write_gray16_png if gray else _write_16bit_png)(tmp, samples)
                _add_png_metadata(tmp, icc, exif, cicp, _png_xmp(xmp, path))
        else:
            if separated is not None:
                img = separated
            else:
                img = Image.fromarray(to_uint(rgb, 8)[..., 0] if gray else to_uint(rgb, 8), "L" if gray else "RGB")
            if fmt == "JXL" and icc and not gray:
                img = _jxl_colours(img, icc, path)
            if alpha is not None and fmt != "JPEG":
                img.putalpha(Image.fromarray(to_uint(alpha[None], 8)[..., 0], "L"))
            options: dict[str, object] = {"quality": quality} if fmt in {"JPEG", "WEBP", "AVIF", "HEIF"} else {}
            if fmt == "JPEG" and exif and len(exif) > JPEG_MAX_EXIF:
                logger.warning(
                    "%s: the input's EXIF (%d bytes) is too long for JPEG; written without it", path, len(exif)
                )
                exif = None
            if fmt == "JPEG" and xmp and len(xmp) > JPEG_MAX_XMP:
                logger.warning(
                    "%s: the input's XMP (%d bytes) is too long for JPEG; written without it", path, len(xmp)
                )
                xmp = None
            options.update({k: v for k, v in (("icc_profile", icc), ("exif", exif)) if v})
            if fmt == "PNG":
                chunks = PngImagePlugin.PngInfo()
                if cicp:
                    chunks.add(b"cICP", _cicp_chunk(cicp))
                if text := _png_xmp(xmp, path):
                    chunks.add_itxt(PNG_XMP_KEY, text)
                options["pnginfo"] = chunks
            elif xmp:
                options["xmp"] = xmp  # JPEG, WebP, AVIF, HEIC
            if fmt == "JPEG" and subsampling:
                options["subsampling"] = subsampling
            if fmt == "WEBP" and lossless:
                options["lossless"] = True
            if fmt == "HEIF":
                options.update(nclx)
            if fmt == "JXL":
                from idc import jxl

                pixels = np.asarray(img)
                data = jxl.encode(pixels[..., None] if pixels.ndim == 2 else pixels, quality, lossless, exif, xmp)
                Path(tmp).write_bytes(data)
            else:
                img.save(tmp, format=fmt, **options)
        publish(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _jxl_colours(img: Image.Image, icc: bytes, path: Path) -> Image.Image:
    """An RGB image in the colour space of profile ``icc``, for a JPEG XL output, which idc writes as sRGB (the
    plugin it writes through embeds no profile): converted to sRGB, with a warning, unless the profile is sRGB."""
    transform = _to_srgb_transform(icc)
    if transform is None:
        return img
    logger.warning(
        "%s: JPEG XL is written in sRGB here; converted from the input's colour profile (colours outside sRGB are "
        "clipped; PNG, TIFF, JPEG, WebP, AVIF and HEIC keep the profile)",
        path,
    )
    return _apply(transform, img)


def write_like(path: str | Path, rgb: torch.Tensor, like: LoadedImage, quality: int = 95) -> None:
    """Writes ``rgb`` (3, H, W) as ``like`` was read (its deblurred version, say): with its depth, alpha, colour
    space, EXIF, XMP, chroma subsampling, grayness, HEIF depth, lossless compression, CMYK inks and CIELab, where the
    format of ``path`` holds them (:func:`write_image`)."""
    write_image(
        path,
        rgb,
        like.bit_depth,
        like.alpha,
        quality,
        icc=like.icc,
        exif=like.exif,
        cicp=like.cicp,
        xmp=like.xmp,
        subsampling=like.subsampling,
        grayscale=like.grayscale,
        heif_bits=like.heif_bits,
        lossless=like.lossless,
        cmyk=like.cmyk,
        lab=like.lab,
    )


def _write_gray16_png(path: str, samples: np.ndarray) -> None:
    """Writes (H, W, 1|2) uint16 gray (and alpha) as a 16-bit PNG (Pillow writes no 16-bit gray with alpha, OpenCV
    none of gray with alpha), each row with PNG's Sub filter (the difference to the pixel on its left)."""
    h, w, channels = samples.shape
    rows = samples.astype(">u2").reshape(h, w * channels).view(np.uint8)  # big-endian bytes, as PNG stores them
    step = 2 * channels  # bytes per pixel
    sub = rows.copy()
    sub[:, step:] -= rows[:, :-step]  # modulo 256, as the filter is defined
    data = np.concatenate([np.ones((h, 1), np.uint8), sub], axis=1)  # filter type 1 before each row
    header = struct.pack(">IIBBBBB", w, h, 16, 0 if channels == 1 else 4, 0, 0, 0)
    with open(path, "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", header))
        f.write(_png_chunk(b"IDAT", zlib.compress(data.tobytes())) + _png_chunk(b"IEND", b""))


def _write_16bit_png(path: str, samples: np.ndarray) -> None:
    """Writes (H, W, 3|4) uint16 RGB(A) as a 16-bit PNG with OpenCV (Pillow cannot write 16-bit colour)."""
    import cv2

    bgr = samples[..., [2, 1, 0, 3][: samples.shape[2]]]  # OpenCV takes BGR(A)
    if not cv2.imwrite(path, np.ascontiguousarray(bgr)):
        raise OSError(f"{path}: OpenCV could not write the 16-bit image")


# Uncompressed bytes per TIFF strip: small enough that strips compress in parallel and a reader can decode part of
# the image, large enough that the table of strips stays short (a 4000x3000 16-bit RGB image has 300 strips).
TIFF_STRIP_BYTES = 256 * 1024
_TIFF_MAX_BYTES = 2**32 - 1  # a classic TIFF's offsets are 32 bits (BigTIFF is not written)
_TIFF_SAMPLE_TAGS = frozenset({273, 279, 700, 34675} | _LAYOUT_TAGS)


def write_tiff(
    path: str | Path,
    samples: np.ndarray,
    icc: bytes | None = None,
    exif: bytes | None = None,
    xmp: bytes | None = None,
    name: str | Path | None = None,
    cmyk: bool = False,
    lab: bool = False,
) -> None:
    """Writes a gray, gray + alpha, RGB, RGBA, CMYK, CMYK + alpha or CIELab TIFF of 8 or 16 bits per sample with its
    colour profile, EXIF and XMP.

    Deflate compression with horizontal differencing (TIFF predictor 2), as Photoshop's and libtiff's "ZIP", which
    every TIFF reader we know of decodes; the alpha channel, the last of 2 or 4 samples (5 for CMYK), is marked
    unassociated (straight, as PNG's). The EXIF block's IFD0 tags (camera, date, resolution ...) join the image's own
    IFD and its EXIF and GPS IFDs are written as sub-IFDs, as cameras and Photoshop do; its layout tags, if any, are
    overridden by the real ones. Pillow writes no 16-bit colour TIFF, and OpenCV writes no metadata, hence this writer.

    Args:
        path: the file to write (not atomically: :func:`write_image` writes a temporary file and renames it).
        samples: (H, W, 1|2|3|4) uint8 or uint16 array: gray, gray + alpha, RGB or RGBA; with ``cmyk``,
            (H, W, 4|5): CMYK inks (0: no ink), or CMYK + alpha (a TIFF Pillow cannot open; idc reads it with
            tifffile, as Photoshop's CMYK with transparency).
        icc: an ICC profile to embed (tag 34675).
        exif: an EXIF block as Pillow writes it (``Image.Exif.tobytes()``).
        xmp: an XMP packet (tag 700).
        name: the file named in error messages (default: ``path``; :func:`write_image` names its target, not the
            temporary file it writes).
        cmyk: the samples are CMYK inks (photometric "separated"), with ``icc`` a CMYK profile.
        lab: the samples are 8-bit CIELab, (H, W, 3): L* from 0 to 100 as 0 to 255, a* and b* signed bytes (as TIFF
            and Pillow's LAB mode hold them).

    Raises:
        ValueError: samples of another shape or type, or an image too large for a classic TIFF (4 GiB).
    """
    name = path if name is None else name
    counts = (4, 5) if cmyk else (3,) if lab else (1, 2, 3, 4)
    dtypes = (np.uint8,) if lab else (np.uint8, np.uint16)
    if samples.ndim != 3 or samples.shape[2] not in counts or samples.dtype not in dtypes:
        kind = (
            "CMYK TIFF is written from (H, W, 4-5) uint8 or uint16"
            if cmyk
            else "CIELab TIFF is written from (H, W, 3) uint8"
            if lab
            else "TIFF is written from (H, W, 1-4) uint8 or uint16"
        )
        raise ValueError(f"{name}: a {kind} samples, not {samples.shape} {samples.dtype}")
    height, width, channels = samples.shape
    samples = samples.astype(samples.dtype.newbyteorder("<"), copy=False)  # the file says "II": little-endian
    # Predictor 2: each sample minus its left neighbour (modulo 2^bits), which Deflate packs far better.
    diff = samples.copy()
    diff[:, 1:] -= samples[:, :-1]
    rows = max(1, min(height, TIFF_STRIP_BYTES // (width * channels * samples.itemsize)))
    strips = [diff[top : top + rows].tobytes() for top in range(0, height, rows)]
    del diff
    with ThreadPoolExecutor(max_workers=min(len(strips), os.cpu_count() or 1)) as pool:
        packed = list(pool.map(zlib.compress, strips))  # zlib lets go of the GIL: strips compress in parallel
    del strips
    layout: dict[int, object] = {
        256: width,  # ImageWidth
        257: height,  # ImageLength
        258: (samples.itemsize * 8,) * channels,  # BitsPerSample
        259: 8,  # Compression: Deflate ("Adobe Deflate", the registered code)
        # PhotometricInterpretation: separated, CIELab, RGB, BlackIsZero
        262: 5 if cmyk else 8 if lab else 2 if channels >= 3 else 1,
        277: channels,  # SamplesPerPixel
        278: rows,  # RowsPerStrip
        # StripOffsets counted from the end of the IFD block: Pillow's tobytes adds where that ends (the strips follow).
        273: tuple(np.cumsum([0] + [len(p) for p in packed[:-1]]).tolist()),
        279: tuple(len(p) for p in packed),  # StripByteCounts
        284: 1,  # PlanarConfiguration: samples interleaved
        317: 2,  # Predictor: horizontal differencing
        339: (1,) * channels,  # SampleFormat: unsigned integers
    }
    if cmyk:
        layout[332] = 1  # InkSet: CMYK
    if channels in ((5,) if cmyk else (2, 4)):
        layout[338] = (2,)  # ExtraSamples: unassociated alpha
    if icc:
        layout[34675] = icc  # InterColorProfile
    if xmp:
        layout[700] = xmp
    header = b"II*\0" + struct.pack("<I", 8)
    try:
        directory = _tiff_directory(layout, exif, len(header))
    except Exception as e:  # an EXIF tag Pillow cannot write never costs the image; the EXIF is only left out
        logger.info("%s: EXIF left out of the TIFF, it could not be written (%s)", name, one_line(e))
        directory = _tiff_directory(layout, None, len(header))
    if len(header) + len(directory) + sum(len(p) for p in packed) > _TIFF_MAX_BYTES:
        raise ValueError(f"{name}: {width}x{height} is too large for a TIFF file (over 4 GiB); write PNG instead")
    with open(path, "wb") as f:
        f.write(header)
        f.write(directory)
        for strip in packed:
            f.write(strip)


def _tiff_directory(layout: dict[int, object], exif: bytes | None, offset: int) -> bytes:
    """A TIFF's first IFD as bytes, at ``offset`` in the file: the EXIF block's tags, then the layout's over them."""
    ifd = TiffImagePlugin.ImageFileDirectory_v2(prefix=b"II")
    if exif:
        tags = Image.Exif()
        tags.load(exif)
        for tag in sorted(set(tags) - _TIFF_SAMPLE_TAGS):
            # The EXIF and GPS IFDs as dicts, which Pillow writes as sub-IFDs (types by tag, as Pillow's own writer).
            if tag not in TiffTags.TAGS_V2_GROUPS:
                ifd[tag] = tags[tag]
            elif sub := dict(tags.get_ifd(tag)):
                if 0xA005 in sub:  # the interoperability IFD, nested in the EXIF IFD: its offset, moved, is stale
                    del sub[0xA005]
                    if interop := dict(tags.get_ifd(0xA005)):
                        sub[0xA005] = interop
                ifd[tag] = sub
    for tag, value in layout.items():
        ifd[tag] = value
    return ifd.tobytes(offset=offset)


def _cicp_chunk(cicp: tuple[int, int]) -> bytes:
    """PNG's cICP chunk data: primaries, transfer, matrix 0 (the samples are RGB), full range."""
    return bytes([cicp[0], cicp[1], 0, 1])


def _nclx_options(cicp: tuple[int, int]) -> dict[str, int]:
    """pillow-heif's options for an nclx colour box of these primaries and transfer (YCbCr as libheif's default)."""
    return {"color_primaries": cicp[0], "transfer_characteristics": cicp[1], "matrix_coefficients": 6}


def _png_xmp(xmp: bytes | None, path: Path) -> str | None:
    """XMP as the text of PNG's iTXt chunk, which must be UTF-8 (as XMP almost always is); None, logged, if not."""
    if not xmp:
        return None
    try:
        return xmp.decode("utf-8")
    except UnicodeDecodeError:
        logger.info("%s: the input's XMP is not UTF-8, which PNG requires; written without it", path)
        return None


def _write_deep_heif(
    path: str,
    rgb: torch.Tensor,
    alpha: torch.Tensor | None,
    quality: int,
    metadata: dict[str, object],
    bits: int = 10,
) -> None:
    """Writes a HEIC file with 10 or 12 bits per channel (HEVC Main 10 as cameras' HIF files, or Main 12), with
    pillow-heif: ``rgb`` of 3 channels, or 1 for a monochrome image (then without ``alpha``)."""
    import pillow_heif

    # Codes of that many bits, shifted up to the 16-bit samples pillow-heif takes (it shifts them back down).
    data = (_codes(rgb, alpha, bits) << (16 - bits)).astype(np.uint16)
    mode = {1: "L;16", 3: "RGB;16", 4: "RGBA;16"}[data.shape[2]]  # monochrome, colour, colour with alpha
    heif = pillow_heif.from_bytes(mode=mode, size=data.shape[1::-1], data=data.tobytes())
    # pillow-heif takes the depth of its output from a global option (10 bits unless it is set): set for this save.
    before = pillow_heif.options.SAVE_HDR_TO_12_BIT
    pillow_heif.options.SAVE_HDR_TO_12_BIT = bits == 12
    try:
        heif.save(path, format="HEIF", quality=quality, **{k: v for k, v in metadata.items() if v})
    finally:
        pillow_heif.options.SAVE_HDR_TO_12_BIT = before


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def _add_png_metadata(
    path: str,
    icc: bytes | None,
    exif: bytes | None,
    cicp: tuple[int, int] | None = None,
    xmp: str | None = None,
) -> None:
    """Inserts iCCP, cICP, eXIf and XMP's iTXt chunks after the IHDR of a 16-bit PNG file (which OpenCV and
    :func:`_write_gray16_png` write without them)."""
    if not icc and not exif and not cicp and not xmp:
        return
    data = Path(path).read_bytes()
    end_of_ihdr = 8 + 4 + 4 + 13 + 4  # signature, then IHDR: length, type, 13 bytes of data, CRC
    if data[12:16] != b"IHDR":
        raise OSError(f"{path}: not a PNG file as written for 16 bits")
    extra = b""
    if icc:
        extra += _png_chunk(b"iCCP", b"ICC profile\0\0" + zlib.compress(icc))
    if cicp:
        extra += _png_chunk(b"cICP", _cicp_chunk(cicp))
    if exif:
        extra += _png_chunk(b"eXIf", exif.removeprefix(b"Exif\0\0"))
    if xmp:
        # Keyword, then no compression (flag and method 0), empty language tag and translated keyword, then UTF-8.
        extra += _png_chunk(b"iTXt", PNG_XMP_KEY.encode() + b"\0\0\0\0\0" + xmp.encode("utf-8"))
    Path(path).write_bytes(data[:end_of_ihdr] + extra + data[end_of_ihdr:])
