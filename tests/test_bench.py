from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from idc.bench import bench, median_ms
from idc.cli import main
from idc.weights import save_weights
from tests.conftest import random_idc


def test_bench_rows_are_consistent() -> None:
    model = random_idc()
    rows = bench(model, 40, 56, ["fp32", "bf16", "fp16"], ["eager"], runs=1, warmup=0)
    assert [r.precision for r in rows] == ["fp32", "bf16"]  # fp16 only on CUDA
    fp32 = rows[0]
    assert fp32.max_abs_diff == 0.0 and fp32.ms > 0 and fp32.conv_gflops > 0
    assert fp32.gflops == pytest.approx(2 * fp32.macs / (fp32.ms / 1000) / 1e9)
    assert fp32.ratio == pytest.approx(fp32.ms / 1000 / (fp32.macs / (fp32.conv_gflops * 1e9 / 2)))
    assert rows[1].max_abs_diff < 0.1


def test_median_ms_counts_runs_not_warmup() -> None:
    import torch

    calls = []
    assert median_ms(lambda: calls.append(1), torch.device("cpu"), runs=3, warmup=2) >= 0
    assert len(calls) == 5


def test_bench_command(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    weights = save_weights(random_idc(), tmp_path / "w")
    args = ["bench", "--size", "48x32", "--runs", "1", "--warmup", "0", "--weights", str(weights), "--device", "cpu"]
    assert main([*args, "--precision", "fp32", "--json", str(tmp_path / "b.json")]) == 0
    out = capsys.readouterr().out
    assert "ratio" in out and "IDC at 48x32" in out
    assert json.loads((tmp_path / "b.json").read_text())["rows"][0]["precision"] == "fp32"


def test_cast_runs_a_converted_copy_and_leaves_the_model_alone() -> None:
    import torch

    model = random_idc()
    rows = bench(model, 40, 56, ["fp32", "bf16"], ["eager", "graphs"], runs=1, warmup=0, cast=True)
    # fp32 is never cast; graphs need CUDA and are skipped on a CPU.
    assert [(r.backend, r.precision, r.cast) for r in rows] == [("eager", "fp32", False), ("eager", "bf16", True)]
    assert 0 < rows[1].max_abs_diff < 0.05  # bf16 arithmetic throughout, residual included: small, not zero
    assert all(p.dtype == torch.float32 for p in model.parameters())


@pytest.mark.skipif(not __import__("torch").cuda.is_available(), reason="CUDA graphs need a CUDA GPU")
def test_cuda_graph_replay_matches_eager() -> None:
    import torch

    torch.backends.cudnn.benchmark = False
    model = random_idc().cuda()
    rows = bench(model, 40, 56, ["fp32", "fp16"], ["eager", "graphs"], runs=2, warmup=1)
    by = {(r.backend, r.precision): r for r in rows}
    assert by[("graphs", "fp32")].max_abs_diff < 1e-3
    assert by[("graphs", "fp16")].max_abs_diff < 1e-2


def test_bench_command_says_what_it_skipped(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    weights = save_weights(random_idc(), tmp_path / "w")
    args = ["bench", "--size", "48x32", "--runs", "1", "--warmup", "0", "--weights", str(weights), "--device", "cpu"]
    assert main([*args, "--precision", "fp32", "--backend", "eager", "graphs"]) == 0
    assert "not run: graphs fp32" in capsys.readouterr().out


def test_a_failing_backend_loses_only_its_own_row(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(*_args: object, **_kwargs: object) -> None:
        raise RuntimeError("compiler missing")

    monkeypatch.setattr(torch, "compile", broken)
    model = random_idc()
    rows = bench(model, 24, 32, ["fp32"], ["compile", "eager"], runs=1, warmup=0)
    assert [(r.backend, r.precision) for r in rows] == [("eager", "fp32")]
    assert "compile fp32 failed: RuntimeError: compiler missing" in caplog.text


def test_cpu_model_names_the_processor() -> None:
    from idc.bench import cpu_model, device_name

    name = cpu_model()
    assert name and "\n" not in name
    info = Path("/proc/cpuinfo")
    if info.is_file() and "model name" in info.read_text():
        assert name in info.read_text()  # the model line, not just the architecture
    assert device_name(torch.device("cpu")).startswith(name + " CPU, ")
