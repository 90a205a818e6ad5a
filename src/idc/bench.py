"""Inference speed against the machine's convolution roofline: the library behind ``idc bench``.

The roofline is one 64 -> 64 5x5 convolution at the benchmark resolution, timed the same way; IDC is almost entirely
such convolutions, so ``ratio = IDC time / (IDC MACs / conv MAC rate)`` says how close IDC runs to the best this
machine does on its own workload (1.0 = as fast as its convolutions allow).
"""

from __future__ import annotations

import copy
import logging
import platform
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn

from idc.complexity import count_complexity
from idc.infer import PRECISIONS, autocast_context, synchronize
from idc.models import IDC

logger = logging.getLogger(__name__)


@dataclass
class BenchRow:
    """One configuration's timing."""

    backend: str
    precision: str
    cast: bool
    ms: float
    macs: int
    gflops: float
    conv_gflops: float
    ratio: float
    peak_mib: float
    max_abs_diff: float


def cpu_model() -> str:
    """The CPU's model name (Linux: /proc/cpuinfo), else what ``platform`` knows (often only the architecture)."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name") and ":" in line:
                    name = line.split(":", 1)[1].strip()
                    if name:
                        return name
    except OSError:
        pass
    return platform.processor() or platform.machine()


def device_name(device: torch.device) -> str:
    """What a benchmark ran on: the CUDA card's name, or the CPU model and torch's thread count."""
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    if device.type == "mps":
        return f"Apple GPU (mps) beside {cpu_model()}"
    return f"{cpu_model()} CPU, {torch.get_num_threads()} threads"


def median_ms(fn: Callable[[], object], device: torch.device, runs: int, warmup: int) -> float:
    """Median wall time of ``fn`` in ms over ``runs`` after ``warmup`` untimed calls, CUDA-synchronised."""
    for _ in range(warmup):
        fn()
    synchronize(device)
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        synchronize(device)
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def conv_rate(height: int, width: int, device: torch.device, precision: str, runs: int, warmup: int) -> float:
    """MAC/s of one 64 -> 64 5x5 convolution (padding 2) at ``height`` x ``width``, channels_last, inference."""
    conv = nn.Conv2d(64, 64, 5, padding=2).to(device).eval().to(memory_format=torch.channels_last)  # type: ignore[call-overload]
    x = torch.randn(1, 64, height, width, device=device).contiguous(memory_format=torch.channels_last)

    def run() -> torch.Tensor:
        with torch.inference_mode(), autocast_context(device, precision):
            return conv(x)

    ms = median_ms(run, device, runs, warmup)
    return height * width * 64 * 64 * 25 / (ms / 1000)


def cuda_graph_runner(net: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor) -> Callable[[], torch.Tensor]:
    """Captures ``net(x)`` in one CUDA graph; the returned function replays it (same input buffer, same output).

    Replaying skips the per-kernel launch cost of the few hundred small kernels of IDC's coarse scales.
    """
    stream = torch.cuda.Stream()
    stream.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(stream):  # warm-up on a side stream, as capture requires (cuDNN picks its kernels here)
        for _ in range(3):
            net(x)
    torch.cuda.current_stream().wait_stream(stream)
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        out = net(x)

    def replay() -> torch.Tensor:
        graph.replay()
        return out

    return replay


def _peak_mib(device: torch.device) -> float:
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20
    if device.type == "mps":  # no peak counter on an Apple GPU
        return float("nan")
    try:
        import resource  # POSIX only
    except ImportError:  # Windows: no peak RSS without another dependency
        return float("nan")
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # process peak RSS: KiB on Linux, bytes on macOS
    return peak / 2**20 if sys.platform == "darwin" else peak / 1024


def _runner(
    model: IDC, x: torch.Tensor, backend: str, precision: str, casting: bool, onnx_path: str | None
) -> Callable[[], torch.Tensor]:
    """One call of IDC on ``x`` as :func:`bench` times it: the backend, at the precision, maybe on a cast copy."""
    device = x.device
    if backend == "onnx":
        from idc.export import OnnxDeblurrer

        runner = OnnxDeblurrer(str(onnx_path), device.type)
        xc = x.cpu()
        return lambda: runner(xc).to(device)
    dtype = PRECISIONS[precision] or torch.float32
    base = copy.deepcopy(model).to(dtype) if casting else model
    net = torch.compile(base) if backend == "compile" else base
    xin = x.to(dtype) if casting else x
    # Autocast's weight-cast cache must be off while a CUDA graph is captured.
    amp, cache = ("fp32" if casting else precision), backend != "graphs"

    def forward(xin: torch.Tensor) -> torch.Tensor:
        with torch.inference_mode(), autocast_context(device, amp, cache=cache):
            return net(xin)[-1]

    if backend == "graphs":
        return cuda_graph_runner(forward, xin)
    return lambda: forward(xin)


def bench(
    model: IDC,
    height: int,
    width: int,
    precisions: list[str],
    backends: list[str],
    runs: int = 3,
    warmup: int = 1,
    onnx_path: str | None = None,
    cast: bool = False,
) -> list[BenchRow]:
    """Times IDC at one size for each backend and precision, beside the conv roofline.

    Backends: ``eager``; ``compile`` (torch.compile, inductor); ``graphs`` (the eager network replayed as one CUDA
    graph; CUDA only); ``onnx`` (ONNX Runtime on ``onnx_path``, fp32 only). Precisions bf16/fp16 run under autocast,
    or with ``cast`` on a copy of the network converted to that dtype and fed that dtype (no per-call weight casts;
    the global residual is then added in that dtype too). The fp32 eager output is the reference for
    ``max_abs_diff``. Input: a fixed random image (speed does not depend on content). Peak memory is the CUDA
    allocator's peak on GPU and the process's peak RSS on CPU.
    """
    device = next(model.parameters()).device
    model = model.eval().to(memory_format=torch.channels_last)  # type: ignore[call-overload]
    x = torch.rand(1, 3, height, width, generator=torch.Generator().manual_seed(0)).to(device)
    x = x.contiguous(memory_format=torch.channels_last)
    macs = count_complexity(model.config, height, width).macs
    with torch.inference_mode():
        # Clamped like every deblurred output (and like the exported ONNX model), so differences are comparable.
        reference = model(x)[-1].float().clamp(0, 1)
    rows: list[BenchRow] = []
    for backend in backends:
        for precision in precisions:
            if (precision == "fp16" or backend == "graphs") and device.type != "cuda":
                continue
            if backend == "onnx" and (precision != "fp32" or onnx_path is None):
                continue
            casting = cast and precision != "fp32"
            try:
                run = _runner(model, x, backend, precision, casting, onnx_path)
                if device.type == "cuda":
                    torch.cuda.reset_peak_memory_stats(device)
                ms = median_ms(run, device, runs, warmup)
                with torch.inference_mode():
                    diff = float((run().float().clamp(0, 1) - reference).abs().max())
                rate = conv_rate(height, width, device, precision, runs, warmup)
                rows.append(
                    BenchRow(
                        backend=backend,
                        precision=precision,
                        cast=casting,
                        ms=ms,
                        macs=macs,
                        gflops=2 * macs / (ms / 1000) / 1e9,
                        conv_gflops=2 * rate / 1e9,
                        ratio=ms / 1000 / (macs / rate),
                        peak_mib=_peak_mib(device),
                        max_abs_diff=diff,
                    )
                )
            except Exception as e:  # one backend failing on this machine costs only its own row
                logger.warning(
                    "%s %s%s failed: %s: %s", backend, precision, " cast" if casting else "", type(e).__name__, e
                )
    return rows
