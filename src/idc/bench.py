"""Inference speed against the machine's convolution roofline: the library behind ``idc bench``.

The roofline is one 64 -> 64 5x5 convolution at the benchmark resolution, timed the same way; IDC is almost entirely
such convolutions, so ``ratio = IDC time / (IDC MACs / conv MAC rate)`` says how close IDC runs to the best this
machine does on its own workload (1.0 = as fast as its convolutions allow).
"""

from __future__ import annotations

import resource
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn

from idc.complexity import count_complexity
from idc.infer import autocast_context
from idc.models import IDC


@dataclass
class BenchRow:
    """One configuration's timing."""

    backend: str
    precision: str
    ms: float
    macs: int
    gflops: float
    conv_gflops: float
    ratio: float
    peak_mib: float
    max_abs_diff: float


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def median_ms(fn: Callable[[], object], device: torch.device, runs: int, warmup: int) -> float:
    """Median wall time of ``fn`` in ms over ``runs`` after ``warmup`` untimed calls, CUDA-synchronised."""
    for _ in range(warmup):
        fn()
    _sync(device)
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        _sync(device)
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


def _peak_mib(device: torch.device) -> float:
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # process peak RSS (Linux reports KiB)


def bench(
    model: IDC,
    height: int,
    width: int,
    precisions: list[str],
    backends: list[str],
    runs: int = 3,
    warmup: int = 1,
    onnx_path: str | None = None,
) -> list[BenchRow]:
    """Times IDC at one size for each backend (eager, compile, onnx) and precision, beside the conv roofline.

    The fp32 eager output is the reference for ``max_abs_diff``. Input: a fixed random image (speed does not
    depend on content). Peak memory is the CUDA allocator's peak on GPU and the process's peak RSS on CPU.
    """
    device = next(model.parameters()).device
    model = model.eval().to(memory_format=torch.channels_last)  # type: ignore[call-overload]
    x = torch.rand(1, 3, height, width, generator=torch.Generator().manual_seed(0)).to(device)
    x = x.contiguous(memory_format=torch.channels_last)
    macs = count_complexity(model.config, height, width).macs
    with torch.inference_mode():
        # Clamped like every deblurred output (and like the exported ONNX model), so differences are comparable.
        reference = model(x)[-1].float().clamp(0, 1)
    rows = []
    for backend in backends:
        for precision in precisions:
            if precision == "fp16" and device.type != "cuda":
                continue
            run: Callable[[], torch.Tensor]
            if backend == "onnx":
                if precision != "fp32" or onnx_path is None:
                    continue
                from idc.export import OnnxDeblurrer

                runner = OnnxDeblurrer(onnx_path, device.type)
                xc = x.cpu()

                def run(runner: OnnxDeblurrer = runner, xc: torch.Tensor = xc) -> torch.Tensor:
                    return runner(xc).to(device)
            else:
                net = torch.compile(model) if backend == "compile" else model

                def run(net: Callable[..., list[torch.Tensor]] = net, precision: str = precision) -> torch.Tensor:
                    with torch.inference_mode(), autocast_context(device, precision):
                        return net(x)[-1]

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
                    ms=ms,
                    macs=macs,
                    gflops=2 * macs / (ms / 1000) / 1e9,
                    conv_gflops=2 * rate / 1e9,
                    ratio=ms / 1000 / (macs / rate),
                    peak_mib=_peak_mib(device),
                    max_abs_diff=diff,
                )
            )
    return rows
