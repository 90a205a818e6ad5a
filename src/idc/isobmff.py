"""Boxes of the ISO base media file format (ISO/IEC 14496-12), the container of AVIF, HEIF and JPEG XL files: what
idc reads of them that Pillow does not report (an AVIF's bit depth and nclx colour space; a JPEG XL's codestream
and metadata boxes)."""

from __future__ import annotations

from dataclasses import dataclass


def boxes(data: bytes, start: int = 0, end: int | None = None) -> list[tuple[bytes, int, int]]:
    """The (type, payload start, payload end) of each box in ``data[start:end]``, in order.

    Raises:
        ValueError: a box runs past the end (a truncated file) or is shorter than its own header.
    """
    end = len(data) if end is None else end
    out: list[tuple[bytes, int, int]] = []
    pos = start
    while pos + 8 <= end:
        size, kind = int.from_bytes(data[pos : pos + 4], "big"), data[pos + 4 : pos + 8]
        payload = pos + 8
        if size == 1:  # a 64-bit size follows the type
            size, payload = int.from_bytes(data[pos + 8 : pos + 16], "big"), pos + 16
        stop = end if size == 0 else pos + size
        if stop > end or stop < payload:
            raise ValueError(f"box {kind!r} runs past the end of the file")
        out.append((kind, payload, stop))
        pos = stop
    return out


@dataclass
class AvifColour:
    """What an AVIF file's primary image properties say of its samples.

    Attributes:
        bits: bits per channel of the AV1 image (8, 10 or 12), from its av1C box.
        nclx: (colour primaries, transfer characteristics) of its nclx colour box (H.273 code points), else None.
    """

    bits: int = 8
    nclx: tuple[int, int] | None = None


def avif_colour(data: bytes) -> AvifColour:
    """The bit depth and nclx colour space of an AVIF file's primary image (the item its pitm box names, through
    the properties its ipma box associates with it: av1C and colr).

    Raises:
        ValueError: the boxes are broken or missing.
    """
    top = {kind: (a, b) for kind, a, b in reversed(boxes(data))}
    if b"meta" not in top:
        raise ValueError("no meta box")
    start, stop = top[b"meta"]
    meta = {kind: (a, b) for kind, a, b in reversed(boxes(data, start + 4, stop))}  # a full box: version, flags
    if b"pitm" not in meta or b"iprp" not in meta:
        raise ValueError("no primary item or no item properties")
    a, _ = meta[b"pitm"]
    primary = int.from_bytes(data[a + 4 : a + 6] if data[a] == 0 else data[a + 4 : a + 8], "big")
    iprp = boxes(data, *meta[b"iprp"])
    ipco = next(((a, b) for kind, a, b in iprp if kind == b"ipco"), None)
    ipma = next(((a, b) for kind, a, b in iprp if kind == b"ipma"), None)
    if ipco is None or ipma is None:
        raise ValueError("no ipco or ipma box")
    properties = boxes(data, *ipco)
    colour = AvifColour()
    for index in _associations(data, *ipma).get(primary, []):
        if not 0 < index <= len(properties):
            continue
        kind, a, b = properties[index - 1]
        if kind == b"av1C" and b - a >= 3:
            high, twelve = data[a + 2] & 0x40, data[a + 2] & 0x20
            colour.bits = 12 if high and twelve else 10 if high else 8
        elif kind == b"colr" and data[a : a + 4] == b"nclx" and b - a >= 8 and colour.nclx is None:
            colour.nclx = (int.from_bytes(data[a + 4 : a + 6], "big"), int.from_bytes(data[a + 6 : a + 8], "big"))
    return colour


def _associations(data: bytes, start: int, stop: int) -> dict[int, list[int]]:
    """The ipma box's property indices (1-based into ipco) by item."""
    version, flags = data[start], int.from_bytes(data[start + 1 : start + 4], "big")
    pos = start + 4
    count = int.from_bytes(data[pos : pos + 4], "big")
    pos += 4
    out: dict[int, list[int]] = {}
    for _ in range(count):
        id_size = 2 if version < 1 else 4
        item = int.from_bytes(data[pos : pos + id_size], "big")
        pos += id_size
        if pos >= stop:
            raise ValueError("ipma box cut short")
        n, pos = data[pos], pos + 1
        wide = flags & 1  # 15-bit indices instead of 7-bit, each after an "essential" bit
        indices = []
        for _ in range(n):
            if wide:
                indices.append(int.from_bytes(data[pos : pos + 2], "big") & 0x7FFF)
                pos += 2
            else:
                indices.append(data[pos] & 0x7F)
                pos += 1
        if pos > stop:
            raise ValueError("ipma box cut short")
        out[item] = indices
    return out
