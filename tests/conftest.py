"""Shared fixtures: tiny models, seeded tensors, CPU only."""

from __future__ import annotations

import dataclasses
import importlib.util
import os
import shutil
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest
import torch

from idc.models import IDC, IDCConfig, get_preset


def pytest_configure(config: pytest.Config) -> None:
    # Under pytest-xdist each worker process gets its share of the cores, so that workers do not fight over them.
    if workers := int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "0")):
        torch.set_num_threads(max(1, (os.cpu_count() or 1) // workers))


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # The slow tests first (in their order), so that pytest-xdist does not leave one of them to run alone at the end.
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)


@pytest.fixture(autouse=True)
def _deterministic() -> None:
    torch.manual_seed(0)


@pytest.fixture(autouse=True, scope="session")
def _private_cache(tmp_path_factory: pytest.TempPathFactory) -> None:
    # ONNX exports made by tests go to a temporary cache, never the user's ~/.cache/idc-deblur.
    os.environ["IDC_CACHE"] = str(tmp_path_factory.mktemp("idc-cache"))


@dataclasses.dataclass(frozen=True)
class TinyExport:
    """A seeded tiny network, its weights folder and their ONNX export (in the session's cache)."""

    model: IDC
    weights: Path
    onnx: Path

    def seed_cache(self) -> Path:
        """Copies the export to where the ONNX cache in force now (``$IDC_CACHE``) keeps it for these weights, as if
        ``idc deblur --backend onnx`` had made it there; returns that path."""
        from idc.export import cached_onnx_path

        target = cached_onnx_path(self.weights)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(self.onnx, target)
        return target


@pytest.fixture(scope="session")
def tiny_export(_private_cache: None, tmp_path_factory: pytest.TempPathFactory) -> TinyExport:
    """One ONNX export shared by the tests that need one but do not test the making of it (an export takes
    about half a minute on a 2-core CPU, however small the network)."""
    from idc.export import cached_onnx, onnx_missing

    if why := onnx_missing():  # onnxruntime or onnxscript not installed, or a torch too old to export IDC right
        pytest.skip(why)
    from filelock import FileLock  # a dependency of torch

    from idc.weights import load_model, save_weights

    # Made once for the whole run: under pytest-xdist the workers share the folder above their own temporary ones,
    # and the first to get there exports while the others wait.
    base = tmp_path_factory.getbasetemp()
    shared = base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base
    folder = shared / "tiny-export"
    with FileLock(str(shared / "tiny-export.lock")):
        if not (folder / "model.onnx").is_file():
            torch.manual_seed(0)
            save_weights(random_idc().eval(), folder / "w")
            cached_onnx(folder / "w", path=folder / "model.onnx")
    made = TinyExport(load_model(folder / "w").eval(), folder / "w", folder / "model.onnx")
    made.seed_cache()  # in this worker's cache too, as if exported here: `--backend onnx` of these weights finds it
    return made


def random_idc(preset: str = "tiny") -> IDC:
    """An untrained network with Xavier on every layer (``zero_init_output`` off): a random map, not the identity,
    so that tests comparing outputs (tiling, export, precision, CLI) compare something."""
    return IDC(dataclasses.replace(get_preset(preset), zero_init_output=False))


@pytest.fixture
def tiny_config() -> IDCConfig:
    # Random, non-identity networks for the same reason as random_idc.
    return dataclasses.replace(get_preset("tiny"), zero_init_output=False)


@pytest.fixture
def tiny_model(tiny_config: IDCConfig) -> IDC:
    return IDC(tiny_config).eval()


def rand_image(*shape: int, seed: int = 0) -> torch.Tensor:
    return torch.rand(*shape, generator=torch.Generator().manual_seed(seed))


SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
requires_shared_data = pytest.mark.skipif(
    not (SHARED_DATA / "kodak24").is_dir(),
    reason=f"needs the shared data folder {SHARED_DATA} (absent in a user's clone)",
)


REPO = Path(__file__).resolve().parents[1]


def load_script(relative: str) -> ModuleType:
    """Imports a script of the repository (``scripts/x.py``, ``benchmarks/y.py``), which is not a package, by path."""
    path = REPO / relative
    spec = importlib.util.spec_from_file_location(path.stem, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def run_without_imagecodecs(script: str) -> str:
    """Runs ``script`` in a Python where imagecodecs cannot be imported (a user's without idc-deblur[jxl]): its
    standard error, once it succeeded."""
    blocked = "import sys; sys.modules['imagecodecs'] = None\n" + script
    run = subprocess.run([sys.executable, "-c", blocked], capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-3000:]
    return run.stderr
