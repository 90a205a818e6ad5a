"""Shared fixtures: tiny models, seeded tensors, CPU only."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from idc.models import IDC, IDCConfig, get_preset


@pytest.fixture(autouse=True)
def _deterministic() -> None:
    torch.manual_seed(0)


@pytest.fixture
def tiny_config() -> IDCConfig:
    return get_preset("tiny")


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
