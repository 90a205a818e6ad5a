"""Parameter and multiply-accumulate counts, computed on the meta device (no memory, no compute)."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch.utils.flop_counter import FlopCounterMode

from idc.models import IDC, IDCConfig
from idc.models.pyramid import scale_size


@dataclass(frozen=True)
class Complexity:
    """Counts for one input size.

    Attributes:
        parameters: total parameters.
        branch_parameters: parameters per branch of one scale network (deblur, texture, fusion).
        scale_sizes: (H, W) processed at each scale, coarse to fine.
        scale_macs: multiply-accumulates of each scale, coarse to fine (convolutions and transposed convolutions).
    """

    parameters: int
    branch_parameters: dict[str, int]
    scale_sizes: list[tuple[int, int]]
    scale_macs: list[int]

    @property
    def macs(self) -> int:
        return sum(self.scale_macs)


def count_complexity(config: IDCConfig, height: int, width: int) -> Complexity:
    """Counts parameters and MACs of the IDC network for an input of ``height`` x ``width``."""
    with torch.device("meta"):
        model = IDC(config)
    net = model.net_for_scale(0)
    branches = {"deblur": net.deblur, "texture": net.texture, "fusion": net.fusion}
    branch_parameters = {k: sum(p.numel() for p in m.parameters()) if m is not None else 0 for k, m in branches.items()}
    n = config.num_scales
    sizes = [scale_size(height, width, n - 1 - s) for s in range(n)]
    macs = []
    for s, (h, w) in enumerate(sizes):
        x = torch.empty(1, config.in_channels, h, w, device="meta")
        with FlopCounterMode(display=False) as counter:
            model.net_for_scale(s)(x, x)
        macs.append(counter.get_total_flops() // 2)  # the counter reports 2 FLOPs per multiply-accumulate
    return Complexity(
        parameters=sum(p.numel() for p in model.parameters()),
        branch_parameters=branch_parameters,
        scale_sizes=sizes,
        scale_macs=macs,
    )
