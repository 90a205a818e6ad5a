"""Camera raw files (NEF, CR2, CR3, ARW, RAF, DNG ...) developed into photos with LibRaw, through the optional rawpy
package (``pip install rawpy``, or the extra ``idc-deblur[raw]``).

The network was trained on sRGB photos, so a raw file is developed into one, with choices that keep what the sensor
recorded and add nothing a photographer would have to undo: the camera's own white balance (as shot), LibRaw's
standard demosaicing (AHD), the camera's colour matrix into sRGB primaries with the sRGB tone curve, 16 bits per
channel, and the exposure as shot (no automatic brightening, which clips the brightest 1 % of pixels). The result
is upright (the camera's orientation applied) and carries the raw file's EXIF (camera, lens, exposure, date, GPS)
and XMP. Tone, exposure and colour grading are a raw converter's job. docs/paper-notes.md ("Choices of
dependencies") gives the reasons for these choices; tests/test_raw.py checks them on DNGs of a known scene.
"""

from __future__ import annotations

import logging
from io import BytesIO
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image, TiffImagePlugin

from idc.io import (
    EXPORT_ADVICE,
    INSTALL_ADVICE,
    RAW_EXTENSIONS,
    CameraRawError,
    ImageReadError,
    LoadedImage,
    check_pixel_limit,
    one_line,
    read_tiff_exif,
    upright_exif,
    xmp_packet,
)

logger = logging.getLogger(__name__)

# What of a raw file's first IFD (a TIFF's, or its JPEG preview's) describes the photo: the rest says how the raw data
# or the preview is stored (DNG colour matrices, sub-IFD offsets, makers' private blocks) and would mislead a reader
# of the developed image, or, as DNGVersion, make it look like a raw file itself.
_DESCRIPTIVE_TAGS = frozenset({270, 271, 272, 274, 305, 306, 315, 33432, 0x8769, 0x8825})
_MAKER_NOTE = 0x927C  # in the EXIF IFD: the maker's private block, its offsets relative to the raw file
_LIBRAW_TRANSPOSE = 4  # LibRaw's flip is a bit mask: 1 mirror left-right, 2 mirror top-bottom, 4 swap the axes


def rawpy_problem() -> str | None:
    """Why camera raw files cannot be developed here, with what to do about it; None where they can."""
    try:
        import rawpy  # noqa: F401
    except ImportError:
        return INSTALL_ADVICE
    except Exception as e:  # installed but unloadable: rawpy 0.21 (built for numpy 1, allowing any) beside numpy 2
        reason = one_line(e) or type(e).__name__
        return f"rawpy is installed but does not load ({reason}): pip install -U rawpy (or {EXPORT_ADVICE})"
    return None


def rawpy_available() -> bool:
    """Whether camera raw files can be developed here (rawpy, LibRaw's Python binding, is installed and loads)."""
    return rawpy_problem() is None


def libraw_version() -> str:
    """``rawpy X, LibRaw Y`` (what a report of a misdeveloped raw file needs), where rawpy loads."""
    import rawpy

    libraw = ".".join(str(n) for n in getattr(rawpy, "libraw_version", ()))
    return f"rawpy {rawpy.__version__}, LibRaw {libraw or 'unknown'}"


def is_raw_name(path: str | Path) -> bool:
    """Whether ``path`` is named as a camera raw file (by its extension)."""
    return Path(path).suffix.lower() in RAW_EXTENSIONS


# How the camera raw files that are not TIFFs begin (TIFF-based ones, DNG, NEF, CR2, ARW ..., Pillow opens as TIFFs
# and read_image knows by their tags).
_SIGNATURES = (
    (0, b"FUJIFILMCCD-RAW", ".raf"),
    (4, b"ftypcrx ", ".cr3"),
    (0, b"IIRO", ".orf"),
    (0, b"IIRS", ".orf"),
    (0, b"MMOR", ".orf"),
    (0, b"IIU\0", ".rw2"),
)


def _signature(head: bytes) -> str | None:
    """The extension of the raw format a file beginning with ``head`` is, by its signature, else None."""
    for offset, signature, extension in _SIGNATURES:
        if head[offset : offset + len(signature)] == signature:
            return extension
    return None


def _libraw_opens(source: str | BytesIO) -> bool:
    """Whether LibRaw opens ``source`` (a path or the bytes of a file) as a raw file; False without rawpy."""
    try:
        import rawpy

        with rawpy.imread(source):
            return True
    except Exception:  # not installed, or LibRaw does not recognise the data
        return False


def raw_extension(data: bytes) -> str | None:
    """The extension of the camera raw file ``data`` is, by how it begins or, where rawpy is installed, by LibRaw
    (``.raw`` when only LibRaw knows it); None when it is none (or a TIFF-based one, which Pillow opens)."""
    return _signature(data) or (".raw" if _libraw_opens(BytesIO(data)) else None)


def is_camera_raw_file(path: Path) -> bool:
    """Whether ``path`` is a camera raw file, by how it begins (CR3, RAF, ORF, RW2 and Panasonic's RAW) or, where
    rawpy is installed, by LibRaw; for names that other files share too (``.raw``)."""
    try:
        with open(path, "rb") as f:
            head = f.read(64)
    except OSError:
        return False
    return _signature(head) is not None or _libraw_opens(str(path))


def _rawpy(path: Path, what: str) -> Any:
    """The rawpy module; without it, a CameraRawError for ``path`` (``what`` it is) saying what to install."""
    if problem := rawpy_problem():
        raise CameraRawError(path, what, problem)
    import rawpy

    return rawpy


def _what(path: Path) -> str:
    return f"a camera raw file ({path.suffix.upper().lstrip('.')})" if is_raw_name(path) else "a camera raw file"


def _reason(error: BaseException) -> str:
    """LibRaw's message for ``error`` as text (rawpy gives it as bytes: b'Input/output error')."""
    reason = error.args[0] if error.args else type(error).__name__
    return reason.decode(errors="replace") if isinstance(reason, bytes) else str(reason)


def _open(rawpy: Any, path: Path, what: str) -> Any:
    """rawpy's handle on ``path``, its header read; errors name the file."""
    if not path.exists():
        raise ImageReadError(f"{path}: no such file")
    if path.is_dir():
        raise ImageReadError(f"{path}: is a folder, not an image")
    try:
        return rawpy.imread(str(path))
    except rawpy.LibRawFileUnsupportedError:
        raise CameraRawError(path, what, f"LibRaw does not recognise it as one: {EXPORT_ADVICE}") from None
    except (rawpy.LibRawError, OSError) as e:
        raise CameraRawError(path, what, f"LibRaw could not read it ({_reason(e)}): {EXPORT_ADVICE}") from None


def raw_size(path: str | Path) -> tuple[int, int]:
    """(width, height) of ``path`` developed and upright, from its header (rawpy 0.22 and newer decode no raw data).

    Raises:
        ImageReadError: the file is missing, rawpy is not installed, or LibRaw cannot read it.
    """
    path = Path(path)
    what = _what(path)
    rawpy = _rawpy(path, what)
    with _open(rawpy, path, what) as raw:
        try:
            s = raw.sizes
        except rawpy.LibRawError as e:
            raise CameraRawError(path, what, f"LibRaw could not read it ({_reason(e)}): {EXPORT_ADVICE}") from None
        return (s.height, s.width) if s.flip & _LIBRAW_TRANSPOSE else (s.width, s.height)


def develop(path: str | Path, max_pixels: int, auto_bright: bool = False, what: str | None = None) -> LoadedImage:
    """Develops the camera raw file ``path`` into a 16-bit sRGB photo (the choices of this module's docstring).

    Args:
        path: a raw file LibRaw reads (by content: its name does not matter).
        max_pixels: larger images are refused before they are developed (with rawpy 0.22 and newer, before their
            raw data is read).
        auto_bright: brighten as dcraw does by default, the brightest 1 % of pixels to white (clipping them);
            default off: the exposure as shot, nothing clipped that the sensor did not.
        what: what the file is, for messages (default: "a camera raw file (NEF)" by its extension).

    Returns:
        A LoadedImage with ``bit_depth`` 16, no ICC profile (sRGB), and the raw file's EXIF (orientation 1) and XMP.

    Raises:
        ImageReadError: naming the file: missing, over ``max_pixels``, rawpy not installed (a CameraRawError saying
            what to install), or LibRaw cannot read or develop it.
    """
    path = Path(path)
    what = what or _what(path)
    rawpy = _rawpy(path, what)
    with _open(rawpy, path, what) as raw:
        try:
            s = raw.sizes  # rawpy before 0.22 reads the raw data here, not only the header
            check_pixel_limit(path, s.width, s.height, max_pixels)
            samples = raw.postprocess(
                use_camera_wb=True,
                output_color=rawpy.ColorSpace.sRGB,
                output_bps=16,
                gamma=(2.4, 12.92),  # the sRGB curve (dcraw's default is BT.709's), as the output has no profile
                no_auto_bright=not auto_bright,
            )
        except (rawpy.LibRawError, MemoryError) as e:
            raise CameraRawError(path, what, f"LibRaw could not develop it ({_reason(e)}): {EXPORT_ADVICE}") from None
        turned = s.flip != 0
        exif, xmp = _metadata(path, raw, turned)
    if samples.ndim != 3 or samples.shape[2] != 3:
        raise CameraRawError(path, what, f"LibRaw developed it as {samples.shape}, not RGB: {EXPORT_ADVICE}")
    rgb = torch.from_numpy(np.ascontiguousarray(samples.transpose(2, 0, 1), dtype=np.float32) / 65535.0)
    return LoadedImage(rgb=rgb, bit_depth=16, alpha=None, path=path, exif=exif, xmp=xmp)


def _metadata(path: Path, raw: Any, turned: bool) -> tuple[bytes | None, bytes | None]:
    """The raw file's EXIF and XMP as a developed image carries them: from its first IFD where it is a TIFF (DNG,
    NEF, CR2, ARW, PEF ...), else from its embedded JPEG preview (RAF ...), else what LibRaw read of them (date,
    exposure, lens, artist: a CR3's preview has no EXIF), else none."""
    exif = read_tiff_exif(path)
    if len(exif):
        xmp = xmp_packet(exif.get(700), turned)  # before the tags that are not EXIF are taken out
        return _descriptive_exif(exif, path), xmp
    xmp = None
    try:
        thumb = raw.extract_thumb()
        if thumb.format.name == "JPEG":
            with Image.open(BytesIO(thumb.data)) as preview:
                found, xmp = _descriptive_exif(preview.getexif(), path), xmp_packet(preview.info.get("xmp"), turned)
            if found:
                return found, xmp
    except Exception:  # no preview, or not a JPEG: LibRaw's own reading is left
        pass
    found = _libraw_exif(raw, path)
    if found is None:
        logger.info("%s: no EXIF found in this raw file; the output has none", path)
    return found, xmp


def _libraw_exif(raw: Any, path: Path) -> bytes | None:
    """An EXIF block of what LibRaw read of the photo (rawpy 0.27 and newer tell it): the date it was taken, ISO,
    exposure time, aperture, focal length, lens and artist, those it knows; None when it knows none."""
    other, lens = getattr(raw, "other", None), getattr(raw, "lens", None)
    exif, shot = Image.Exif(), dict[int, object]()
    if other is not None:
        if other.timestamp is not None and other.timestamp.timestamp() > 0:
            taken = other.timestamp.strftime("%Y:%m:%d %H:%M:%S")
            exif[0x0132] = taken  # DateTime
            shot[0x9003] = taken  # DateTimeOriginal
        if other.artist:
            exif[0x013B] = other.artist
        for tag, value in ((0x829A, other.shutter_speed), (0x829D, other.aperture), (0x920A, other.focal_length)):
            if value and value > 0:
                shot[tag] = TiffImagePlugin.IFDRational(float(value))
        if other.iso_speed and other.iso_speed > 0:
            shot[0x8827] = round(other.iso_speed)  # ISOSpeedRatings
    if lens is not None:
        for tag, value in ((0xA433, lens.make), (0xA434, lens.model)):
            if value:
                shot[tag] = str(value)
    if shot:
        exif[0x8769] = shot  # Pillow writes a dict as the sub-IFD
    return upright_exif(exif, path) if len(exif) else None


def _descriptive_exif(exif: Image.Exif, path: Path) -> bytes | None:
    """``exif`` reduced to the tags that describe the photo (camera, date, exposure, GPS), maker notes left out,
    orientation 1, encoded; None when nothing is left."""
    try:
        for tag in set(exif) - _DESCRIPTIVE_TAGS:
            del exif[tag]
        if 0x8769 in exif:
            exif.get_ifd(0x8769).pop(_MAKER_NOTE, None)
    except Exception:  # broken tags cost the metadata only
        return None
    return upright_exif(exif, path)
