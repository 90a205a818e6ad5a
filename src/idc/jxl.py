"""JPEG XL: what the file's headers say (size, orientation, bit depth, animation, extra channels), read without
decoding, and decoding and encoding through the optional pillow-jxl-plugin (libjxl), with imagecodecs (libjxl too)
for colour deeper than 8 bits, which the plugin gives at 8.

The headers are read here, not by the plugin, because the plugin decodes the whole image when it opens a file: the
pixel limit must be checked first, and ``idc deblur --dry-run`` must not decode. Field layout: ISO/IEC 18181-1,
section "Headers" (SizeHeader, ImageMetadata, BitDepth, ExtraChannelInfo); bits are read least significant first.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import numpy as np

from idc import isobmff

logger = logging.getLogger(__name__)

CODESTREAM_SIGNATURE = b"\xff\x0a"
CONTAINER_SIGNATURE = b"\x00\x00\x00\x0cJXL \r\n\x87\n"
INSTALL = "pip install pillow-jxl-plugin imagecodecs (or the extra idc-deblur[jxl])"

# ExtraChannelInfo.type (an Enum field): the kinds idc acts on.
ALPHA, BLACK = 0, 4
# SizeHeader.ratio: width = floor(height * num / den).
_RATIOS = {1: (1, 1), 2: (12, 10), 3: (4, 3), 4: (3, 2), 5: (16, 9), 6: (5, 4), 7: (2, 1)}


def is_jxl(header: bytes) -> bool:
    """Whether ``header`` (a file's first bytes, 12 suffice) opens a JPEG XL file: a bare codestream or the
    ISO base media container."""
    return header.startswith(CODESTREAM_SIGNATURE) or header.startswith(CONTAINER_SIGNATURE)


@dataclass
class Header:
    """What a JPEG XL codestream's headers say of the image.

    Attributes:
        width, height: the stored size (before ``orientation`` is applied).
        orientation: the EXIF-style orientation (1-8) the codestream gives; decoders apply it (libjxl does).
        bits: bits per sample of the colour channels.
        float_samples: the samples are floating-point (HDR or linear data).
        animated: the file holds an animation.
        extra_channels: the type of each extra channel (0 alpha, 4 black/K of CMYK, ...).
        premultiplied: the (first) alpha channel is premultiplied into the colour.
        xyb: the colour is coded in XYB, libjxl's lossy mode; False means lossless-capable modular coding. None when
            the headers could not be read that far.
    """

    width: int
    height: int
    orientation: int = 1
    bits: int = 8
    float_samples: bool = False
    animated: bool = False
    extra_channels: list[int] = field(default_factory=list)
    premultiplied: bool = False
    xyb: bool | None = True

    @property
    def upright_size(self) -> tuple[int, int]:
        """(width, height) once the orientation is applied."""
        return (self.height, self.width) if self.orientation > 4 else (self.width, self.height)


class _Bits:
    """Reads a byte string's bits least significant first, as JPEG XL packs them."""

    def __init__(self, data: bytes) -> None:
        self.value = int.from_bytes(data, "little")
        self.left = len(data) * 8
        self.pos = 0

    def u(self, n: int) -> int:
        if n > self.left - self.pos:
            raise ValueError("header truncated")
        out = (self.value >> self.pos) & ((1 << n) - 1)
        self.pos += n
        return out

    def flag(self) -> bool:
        return bool(self.u(1))

    def u32(self, *choices: tuple[int, int]) -> int:
        """The spec's U32: two bits choose one of four (bits, offset) distributions."""
        bits, offset = choices[self.u(2)]
        return self.u(bits) + offset

    def enum(self) -> int:
        return self.u32((0, 0), (0, 1), (4, 2), (6, 18))


def _size(bits: _Bits) -> tuple[int, int]:
    dist = ((9, 1), (13, 1), (18, 1), (30, 1))
    small = bits.flag()
    height = (bits.u(5) + 1) * 8 if small else bits.u32(*dist)
    ratio = bits.u(3)
    if ratio:
        num, den = _RATIOS[ratio]
        return height * num // den, height
    return ((bits.u(5) + 1) * 8 if small else bits.u32(*dist)), height


def _skip_preview(bits: _Bits) -> None:
    div8 = bits.flag()
    dist = ((0, 16), (0, 32), (5, 1), (9, 33)) if div8 else ((6, 1), (8, 65), (10, 321), (12, 1345))
    bits.u32(*dist)
    if bits.u(3) == 0:
        bits.u32(*dist)


def _skip_animation(bits: _Bits) -> None:
    bits.u32((0, 100), (0, 1000), (10, 1), (30, 1))
    bits.u32((0, 1), (0, 1001), (8, 1), (10, 1))
    bits.u32((0, 0), (3, 0), (16, 0), (32, 0))
    bits.flag()


def _bit_depth(bits: _Bits) -> tuple[int, bool]:
    if bits.flag():  # floating-point samples
        depth = bits.u32((0, 32), (0, 16), (0, 24), (6, 1))
        bits.u(4)  # exponent bits - 1
        return depth, True
    return bits.u32((0, 8), (0, 10), (0, 12), (6, 1)), False


def _extra_channel(bits: _Bits) -> tuple[int, bool]:
    """Reads one ExtraChannelInfo: its type, and whether it is premultiplied alpha."""
    if bits.flag():  # all default: an 8-bit straight alpha channel
        return ALPHA, False
    kind = bits.enum()
    _bit_depth(bits)
    bits.u32((0, 0), (0, 3), (0, 4), (3, 1))  # dim_shift
    name_length = bits.u32((0, 0), (4, 0), (5, 16), (10, 48))
    bits.u(8 * name_length)
    premultiplied = False
    if kind == ALPHA:
        premultiplied = bits.flag()
    elif kind == 2:  # spot colour: four half floats
        bits.u(64)
    elif kind == 5:  # colour filter array channel
        bits.u32((0, 1), (2, 0), (4, 3), (8, 19))
    return kind, premultiplied


def parse_header(codestream: bytes) -> Header:
    """The image headers at the start of a JPEG XL codestream (:func:`codestream`).

    Raises:
        ValueError: not a codestream, or one that ends inside its headers.
    """
    if not codestream.startswith(CODESTREAM_SIGNATURE):
        raise ValueError("no JPEG XL codestream")
    bits = _Bits(codestream[2:4096])
    width, height = _size(bits)
    header = Header(width, height)
    if bits.flag():  # ImageMetadata all default: 8-bit, upright, still, no extra channels, XYB
        return header
    if bits.flag():  # extra fields
        header.orientation = 1 + bits.u(3)
        if bits.flag():  # intrinsic size: a display size, not the coded one
            _size(bits)
        if bits.flag():
            _skip_preview(bits)
        if bits.flag():
            header.animated = True
            _skip_animation(bits)
    header.bits, header.float_samples = _bit_depth(bits)
    bits.flag()  # modular 16-bit buffers suffice
    header.xyb = None  # from here on, a header this reader misreads only costs knowing the coding
    try:
        count = bits.u32((0, 0), (0, 1), (4, 2), (12, 1))
        channels = [_extra_channel(bits) for _ in range(count)]
        header.extra_channels = [kind for kind, _ in channels]
        header.premultiplied = next((pre for kind, pre in channels if kind == ALPHA), False)
        header.xyb = bits.flag()
    except (ValueError, KeyError):
        pass
    return header


def boxes(data: bytes) -> list[tuple[bytes, bytes]]:
    """The (type, payload) of each top-level box of a JPEG XL container (none for a bare codestream).

    Raises:
        ValueError: a box runs past the end of the file (a truncated file).
    """
    if not data.startswith(CONTAINER_SIGNATURE):
        return []
    return [(kind, data[start:stop]) for kind, start, stop in isobmff.boxes(data)]


def codestream(data: bytes) -> bytes:
    """The codestream of a JPEG XL file: the file itself, or the container's jxlc box or jxlp boxes joined.

    Raises:
        ValueError: the file holds no codestream (the message says what is wrong).
    """
    if data.startswith(CODESTREAM_SIGNATURE):
        return data
    found = boxes(data)
    for kind, payload in found:
        if kind == b"jxlc":
            return payload
    parts = [payload[4:] for kind, payload in found if kind == b"jxlp"]  # each opens with a 4-byte index
    if not parts:
        raise ValueError("JPEG XL container without a codestream")
    return b"".join(parts)


def _brotli() -> object | None:
    for name in ("brotli", "imagecodecs"):
        try:
            return __import__(name)
        except ImportError:
            pass
    return None


def metadata(data: bytes, name: object = "image") -> tuple[bytes | None, bytes | None]:
    """The EXIF block (TIFF bytes, as Pillow's ``exif`` option takes them) and the XMP packet of a JPEG XL
    container, from its Exif and xml boxes, Brotli-compressed ones (brob) too where brotli or imagecodecs is
    installed (else left out, with a warning naming ``name``)."""
    exif = xmp = None
    for kind, payload in boxes(data):
        if kind == b"brob" and payload[:4] in (b"Exif", b"xml "):
            what = "EXIF" if payload[:4] == b"Exif" else "XMP"
            codec = _brotli()
            if codec is None:
                logger.warning("%s: its compressed %s left out (pip install brotli to keep it)", name, what)
                continue
            decode = getattr(codec, "brotli_decode", None) or getattr(codec, "decompress")  # noqa: B009
            try:
                kind, payload = payload[:4], bytes(decode(payload[4:]))
            except Exception as e:  # each decoder raises its own error type for corrupt data
                logger.warning("%s: its compressed %s is corrupt, left out (%s)", name, what, " ".join(str(e).split()))
                continue
        if kind == b"Exif" and exif is None and len(payload) > 8:
            # The box opens with the offset of the TIFF header; some writers leave it out.
            tiff = payload[4 + int.from_bytes(payload[:4], "big") :] if payload[:2] not in (b"II", b"MM") else payload
            exif = tiff if tiff[:4] in (b"II*\x00", b"MM\x00*") else None
        elif kind == b"xml " and xmp is None:
            xmp = payload
    return exif, xmp


def decoder_problem() -> str | None:
    """What this installation lacks to decode and encode JPEG XL, or None."""
    try:
        import pillow_jxl  # noqa: F401
    except ImportError:
        return f"JPEG XL needs the pillow-jxl-plugin package: {INSTALL}"
    return None


@dataclass
class Decoded:
    """A decoded JPEG XL image.

    Attributes:
        pixels: (H, W, C) uint8 or uint16, C = 1 (gray), 2 (gray + alpha), 3 (RGB) or 4 (RGBA), upright; None when
            the file is a recompressed JPEG (``jpeg``).
        icc: the colour profile libjxl gives for the pixels (made from the file's colour encoding when it has no
            ICC profile of its own).
        jpeg: the original JPEG file, for a JPEG XL made from one losslessly (libjxl reconstructs it bit for bit).
    """

    pixels: np.ndarray | None
    icc: bytes | None
    jpeg: bytes | None = None


def decode(data: bytes, header: Header, name: object = "image") -> Decoded:
    """Decodes a JPEG XL file with libjxl (pillow-jxl-plugin; imagecodecs for colour deeper than 8 bits).

    Raises:
        ImportError: pillow-jxl-plugin is not installed.
        ValueError: libjxl cannot decode the file.
    """
    from pillow_jxl import Decoder

    from idc.io import DEEP_INSTALL, imagecodecs_decodes

    try:
        is_jpeg, info, raw, icc, _ = Decoder()(data)
    except (KeyboardInterrupt, SystemExit):
        raise
    except BaseException as e:  # the plugin's errors for corrupt data; a panic in its Rust code is a BaseException
        raise ValueError(" ".join(str(e).split()) or type(e).__name__) from None
    if is_jpeg:
        return Decoded(None, icc or None, jpeg=bytes(raw))
    channels = {"L": 1, "I;16": 1, "LA": 2, "RGB": 3, "RGBA": 4}.get(info.mode)
    if channels is None:
        raise ValueError(f"decoded as {info.mode!r} samples, which idc does not read")
    width, height = info.width, info.height
    if len(raw) not in (width * height * channels, 2 * width * height * channels):
        raise ValueError(f"decoded {len(raw)} bytes for {width}x{height} {info.mode} pixels")
    if len(raw) == 2 * width * height * channels:  # the plugin gives gray deeper than 8 bits at 16
        pixels = np.frombuffer(raw, dtype="<u2").reshape(height, width, channels).astype(np.uint16)
        return Decoded(pixels, icc or None)
    if header.bits > 8 and imagecodecs_decodes("JPEGXL"):  # colour the plugin gives at 8 bits
        return Decoded(_decode_deep(data, header.bits, channels), icc or None)
    if header.bits > 8:
        logger.warning("%s: %d-bit JPEG XL read at 8 bits (to keep its depth: %s)", name, header.bits, DEEP_INSTALL)
    return Decoded(np.frombuffer(raw, dtype=np.uint8).reshape(height, width, channels).copy(), icc or None)


def _decode_deep(data: bytes, bits: int, channels: int) -> np.ndarray:
    """(H, W, C) uint16 samples of a JPEG XL deeper than 8 bits, by imagecodecs, which gives them as stored
    (0-1023 for 10 bits): scaled to the full 16-bit range, as libjxl gives them to the plugin."""
    import imagecodecs

    try:
        pixels = np.asarray(imagecodecs.jpegxl_decode(data))
    except Exception as e:  # imagecodecs.JpegxlError, among others
        raise ValueError(" ".join(str(e).split()) or type(e).__name__) from None
    if pixels.ndim == 2:
        pixels = pixels[..., None]
    if pixels.dtype != np.uint16 or pixels.shape[-1] != channels:
        raise ValueError(f"decoded as {pixels.dtype} with {pixels.shape[-1]} channels, not {channels}")
    if bits < 16:
        pixels = np.round(pixels.astype(np.float64) * (65535 / (2**bits - 1))).clip(0, 65535).astype(np.uint16)
    return pixels


def encode(pixels: np.ndarray, quality: int, lossless: bool, exif: bytes | None, xmp: bytes | None) -> bytes:
    """A JPEG XL file (libjxl through pillow-jxl-plugin) of 8-bit ``pixels`` in sRGB, with EXIF and XMP boxes.

    Shape:
        pixels: (H, W, C) uint8, C = 1 (gray), 2 (gray + alpha), 3 (RGB) or 4 (RGBA).
    """
    from io import BytesIO

    import pillow_jxl  # noqa: F401  (registers the JXL format with Pillow)
    from PIL import Image

    if pixels.dtype != np.uint8 or pixels.ndim != 3 or not 1 <= pixels.shape[-1] <= 4:
        raise ValueError(f"JPEG XL is written from 8-bit samples of 1 to 4 channels, not {pixels.dtype} {pixels.shape}")
    img = Image.fromarray(pixels[..., 0] if pixels.shape[-1] == 1 else pixels)  # L, LA, RGB or RGBA by its shape
    out = BytesIO()
    # The Exif box holds the TIFF bytes (Pillow's block opens with "Exif\0\0") after the offset of the TIFF header
    # (0 here), which the plugin does not add itself.
    tiff = exif[6:] if exif and exif.startswith(b"Exif\x00\x00") else exif
    box = b"\x00\x00\x00\x00" + tiff if tiff else None
    img.save(out, format="JXL", quality=quality, lossless=lossless, exif=box, xmp=xmp or None, use_container=True)
    return out.getvalue()
