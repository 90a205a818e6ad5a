"""benchmarks/tiling.py: its worst case must be a network that is not the identity."""

from __future__ import annotations

import torch

from idc.infer import deblur_tensor
from tests.conftest import load_script, rand_image


def test_the_random_network_of_the_tiling_benchmark_is_not_the_identity() -> None:
    tiling_benchmark = load_script("benchmarks/tiling.py")
    net = tiling_benchmark.random_network()
    x = rand_image(3, 40, 56)
    out = deblur_tensor(net, x)
    # Far from the input, and a change at one corner reaches the opposite one (what makes tiling hard).
    assert float((out - x.clamp(0, 1)).abs().mean()) > 0.05
    y = x.clone()
    y[:, :8, :8] = 1 - y[:, :8, :8]
    assert float((deblur_tensor(net, y) - out)[:, -8:, -8:].abs().max()) > 0
    assert torch.equal(deblur_tensor(tiling_benchmark.random_network(), x), out)  # seeded
