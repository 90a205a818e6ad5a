"""Tiled inference for images of any size: overlapping tiles blended with smooth ramps.

IDC's receptive field is large (its coarsest U-Net level sees the image at 1/16 resolution), so tiles overlap
generously and are blended with raised-cosine ramps across the overlap; where a tile meets the image border there is no
ramp. The blended result matches whole-image inference closely (``benchmarks/tiling.py`` measures the PSNR between the
two), while memory grows with the tile, not the image.
"""

from __future__ import annotations

import math
import os
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from tqdm import tqdm

from idc.models import IDC, IDCConfig

# Peak memory of fp32 inference per input pixel of the full network: 1,700-1,900 bytes with PyTorch and about 1,600
# with ONNX Runtime, measured on CPU at 512-1024 pixels square (benchmarks/memory.py); rounded up for margin.
BYTES_PER_PIXEL_FP32 = 2400
# Auto mode keeps inference within min(half the free memory, this), so a 12 MP photo stays under 6 GiB in all.
MAX_AUTO_BYTES = 4 * 2**30


def tile_starts(size: int, tile: int, overlap: int) -> list[int]:
    """Start offsets of tiles of ``tile`` pixels covering ``size`` with at least ``overlap`` pixels of overlap."""
    if tile >= size:
        return [0]
    if overlap >= tile:
        raise ValueError(f"overlap {overlap} must be smaller than the tile {tile}")
    count = math.ceil((size - overlap) / (tile - overlap))
    step = (size - tile) / (count - 1)
    return [round(i * step) for i in range(count)]


def _ramp(length: int, overlap: int, ramp_start: bool, ramp_end: bool) -> torch.Tensor:
    """1-D blending weights: a raised-cosine rise over ``overlap`` at a ramped start, a fall at a ramped end."""
    w = torch.ones(length, dtype=torch.float64)
    if overlap > 0:
        t = (torch.arange(overlap, dtype=torch.float64) + 0.5) / overlap
        rise = 0.5 - 0.5 * torch.cos(math.pi * t)
        if ramp_start:
            w[:overlap] = torch.minimum(w[:overlap], rise)
        if ramp_end:
            w[-overlap:] = torch.minimum(w[-overlap:], rise.flip(0))
    return w


def available_memory(device: torch.device) -> int:
    """Bytes free for inference on ``device``: a CUDA GPU's free memory; an Apple GPU's (MPS) recommended working
    set less what its driver holds; for the CPU, the memory the system has available (:func:`system_memory_available`).
    """
    if device.type == "cuda":
        free, _ = torch.cuda.mem_get_info(device)
        return int(free)
    if device.type == "mps":
        limit = getattr(torch.mps, "recommended_max_memory", None)  # torch >= 2.5
        if limit is not None:
            return max(0, int(limit()) - int(torch.mps.driver_allocated_memory()))
    return system_memory_available()


# When no probe answers: assume this much, so that automatic tiling still works (with tiles sized for 2 GiB).
FALLBACK_AVAILABLE_BYTES = 4 * 2**30


def system_memory_available() -> int:
    """Bytes of memory available to a new process, by the first probe that answers: Linux's MemAvailable
    (/proc/meminfo), Windows' GlobalMemoryStatusEx, macOS' ``vm_stat`` (free + inactive pages, as psutil counts
    them), POSIX ``sysconf`` free pages, half the physical memory; else ``FALLBACK_AVAILABLE_BYTES``. Never raises."""
    probes: tuple[Callable[[], int | None], ...] = (
        _linux_available,
        _windows_available,
        _macos_available,
        lambda: _sysconf_bytes("SC_AVPHYS_PAGES"),
        _half_physical,
    )
    for probe in probes:
        try:
            found = probe()
        except Exception:  # a probe for another system, or a system that answers oddly: try the next
            found = None
        if found is not None and found > 0:
            return found
    return FALLBACK_AVAILABLE_BYTES


def _linux_available(meminfo: Path = Path("/proc/meminfo")) -> int | None:
    if not meminfo.exists():
        return None
    for line in meminfo.read_text().splitlines():
        if line.startswith("MemAvailable:"):
            return int(line.split()[1]) * 1024
    return None


def _windows_available(kernel32: Any = None) -> int | None:
    """``ullAvailPhys`` of GlobalMemoryStatusEx (``kernel32``: the Windows library, or a stand-in for tests)."""
    import ctypes

    if kernel32 is None:
        if sys.platform != "win32":
            return None
        kernel32 = ctypes.windll.kernel32

    class MemoryStatusEx(ctypes.Structure):
        _fields_ = [
            ("dwLength", ctypes.c_uint32),
            ("dwMemoryLoad", ctypes.c_uint32),
            ("ullTotalPhys", ctypes.c_uint64),
            ("ullAvailPhys", ctypes.c_uint64),
            ("ullTotalPageFile", ctypes.c_uint64),
            ("ullAvailPageFile", ctypes.c_uint64),
            ("ullTotalVirtual", ctypes.c_uint64),
            ("ullAvailVirtual", ctypes.c_uint64),
            ("ullAvailExtendedVirtual", ctypes.c_uint64),
        ]

    status = MemoryStatusEx()
    status.dwLength = ctypes.sizeof(MemoryStatusEx)
    if not kernel32.GlobalMemoryStatusEx(ctypes.byref(status)):
        return None
    return int(status.ullAvailPhys)


def _macos_available(vm_stat: Callable[[], str] | None = None) -> int | None:
    """(free + inactive pages) x page size from ``vm_stat``'s report (``vm_stat``: a stand-in for tests)."""
    if vm_stat is None and sys.platform != "darwin":
        return None
    if vm_stat is None:
        text = subprocess.run(["vm_stat"], capture_output=True, text=True, timeout=5, check=True).stdout
    else:
        text = vm_stat()
    page = re.search(r"page size of (\d+) bytes", text)
    counts = dict(re.findall(r"^Pages (free|inactive):\s+(\d+)\.?\s*$", text, flags=re.MULTILINE))
    if page is None or set(counts) != {"free", "inactive"}:
        return None
    return (int(counts["free"]) + int(counts["inactive"])) * int(page.group(1))


def _sysconf_bytes(name: str) -> int | None:
    """``name`` pages (a POSIX sysconf name) in bytes; None where this system lacks sysconf or the name."""
    try:
        return int(os.sysconf("SC_PAGE_SIZE")) * int(os.sysconf(name))
    except (AttributeError, ValueError, OSError):
        return None


def _half_physical() -> int | None:
    total = _sysconf_bytes("SC_PHYS_PAGES")
    return None if total is None else total // 2


def memory_budget(device: torch.device) -> float:
    """Bytes auto mode lets one inference use: min(half the free memory, 4 GiB)."""
    return min(0.5 * available_memory(device), MAX_AUTO_BYTES)


def bytes_per_pixel(config: IDCConfig) -> float:
    """Estimated peak inference memory per input pixel of the network ``config`` describes, scaled from the full
    network by channel widths."""
    c = config
    scale = (c.texture_width * c.texture + sum(c.encoder_widths) + c.fusion_width) / (64 + 32 + 64 + 128 + 32)
    return BYTES_PER_PIXEL_FP32 * scale


def auto_tile(config: IDCConfig, height: int, width: int, device: torch.device) -> int | None:
    """``None`` when the whole image fits the memory budget, else the largest fitting square tile (multiple of 64)."""
    budget = memory_budget(device)
    per_pixel = bytes_per_pixel(config)
    if height * width * per_pixel <= budget:
        return None
    side = int(math.sqrt(budget / per_pixel))
    return max(128, side // 64 * 64)


@torch.inference_mode()
def deblur_tiled(
    model: IDC | None,
    image: torch.Tensor,
    tile: int,
    overlap: int = 128,
    progress: bool = False,
    run: Callable[[torch.Tensor], torch.Tensor] | None = None,
) -> torch.Tensor:
    """Deblurs a (3, H, W) image tile by tile; the output is on the image's device, clamped to [0, 1].

    Args:
        model: the network (its device is used for the tiles); ``None`` when ``run`` is given.
        image: (3, H, W) in [0, 1].
        tile: tile side in pixels (the whole image when it is no larger).
        overlap: pixels shared by neighbouring tiles, blended with raised-cosine ramps.
        run: computes one tile's output; default: the finest estimate of ``model``.

    Shape:
        (3, H, W) -> (3, H, W)
    """
    if run is None:
        if model is None:
            raise ValueError("deblur_tiled needs a model or a run function")
        net, param = model, next(model.parameters())

        def run(x: torch.Tensor) -> torch.Tensor:
            return net(x[None].to(param.device, param.dtype))[-1][0].float()

    _, h, w = image.shape
    overlap = min(overlap, tile // 2)
    ys, xs = tile_starts(h, tile, overlap), tile_starts(w, tile, overlap)
    out = torch.zeros(3, h, w, dtype=torch.float64)
    weight = torch.zeros(h, w, dtype=torch.float64)
    bar = tqdm(total=len(ys) * len(xs), desc="tiles", unit="tile", disable=not progress or len(ys) * len(xs) < 2)
    for y in ys:
        th = min(tile, h)
        wy = _ramp(th, overlap, y > 0, y + th < h)
        for x in xs:
            tw = min(tile, w)
            wx = _ramp(tw, overlap, x > 0, x + tw < w)
            result = run(image[:, y : y + th, x : x + tw]).cpu().double()
            mask = torch.outer(wy, wx)
            out[:, y : y + th, x : x + tw] += result * mask
            weight[y : y + th, x : x + tw] += mask
            bar.update(1)
    bar.close()
    return (out / weight).clamp(0, 1).to(image.device, image.dtype)
