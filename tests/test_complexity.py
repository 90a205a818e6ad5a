from __future__ import annotations

from idc.complexity import count_complexity
from idc.models import IDC, get_preset


def test_paper_network_size_and_cost() -> None:
    c = count_complexity(get_preset("idc"), 256, 256)
    assert 5e6 <= c.parameters <= 7e6
    assert 140e9 <= c.macs <= 150e9
    assert c.scale_sizes == [(64, 64), (128, 128), (256, 256)]
    # Cost grows with area: the finest scale is 4x the middle one.
    assert abs(c.scale_macs[2] / c.scale_macs[1] - 4) < 0.01


def test_parameter_count_matches_the_real_model() -> None:
    config = get_preset("tiny")
    c = count_complexity(config, 37, 45)
    assert c.parameters == sum(p.numel() for p in IDC(config).parameters())
    assert sum(c.branch_parameters.values()) == c.parameters


def test_no_texture_costs_less() -> None:
    full = count_complexity(get_preset("idc"), 64, 64)
    ablated = count_complexity(get_preset("idc-no-texture"), 64, 64)
    assert ablated.macs < full.macs and ablated.branch_parameters["texture"] == 0
