"""An exponential moving average (EMA) of the weights along a training run.

After step n the average is the bias-corrected EMA of the weights w_1 .. w_n that the optimiser produced:

    m_n = d m_(n-1) + (1 - d) w_n,  m_0 = 0,   average_n = m_n / (1 - d^n)

so each step's weights count with (1 - d) d^(n - k) / (1 - d^n) and the weights a run started from count not at all
(an uncorrected EMA started from them would keep d^n of them: 37 % after 1,000 steps at d = 0.999). It is updated in
place with one fused ``lerp`` over all tensors (the newest weights' share, (1 - d) / (1 - d^n), is a number the host
computes), so it never makes the host wait for a GPU.
"""

from __future__ import annotations

import copy
import logging

import torch

from idc.models import IDC

logger = logging.getLogger(__name__)


def newest_share(decay: float, updates: int) -> float:
    """The share of the newest weights in the bias-corrected average after ``updates`` updates (1 for the first)."""
    if updates < 1:
        raise ValueError(f"updates must be >= 1, got {updates}")
    return (1 - decay) / (1 - decay**updates)


class WeightEMA:
    """A bias-corrected exponential moving average of ``model``'s weights, held in a copy of the model.

    Args:
        model: the network being trained; the average starts as a copy of it (on its device, in its memory format),
            which the first :meth:`update` replaces entirely.
        decay: d in (0, 1): how much of the average each update keeps (0.999: about the last 1,000 steps).

    Attributes:
        model: the averaged network, ready to save or evaluate (gradients off).
        updates: how many steps it averages.
    """

    def __init__(self, model: IDC, decay: float) -> None:
        if not 0 < decay < 1:
            raise ValueError(f"EMA decay must lie in (0, 1), got {decay}")
        self.decay = decay
        self.updates = 0
        self.model = copy.deepcopy(model).requires_grad_(False)
        mine, theirs = self.model.state_dict(keep_vars=True), model.state_dict(keep_vars=True)
        # The same tensors every step: the optimiser and load_state_dict change the model's tensors in place.
        floating = [k for k, v in mine.items() if v.is_floating_point()]
        self._averaged = [mine[k].data for k in floating]
        self._sources = [theirs[k].data for k in floating]
        self._copied = [(mine[k].data, theirs[k].data) for k in mine if k not in floating]

    @torch.no_grad()
    def update(self) -> None:
        """Takes the model's current weights into the average."""
        share = newest_share(self.decay, self.updates + 1)
        torch._foreach_lerp_(self._averaged, self._sources, share)
        for mine, theirs in self._copied:
            mine.copy_(theirs)
        self.updates += 1

    def load(self, averaged: IDC, updates: int) -> None:
        """Restores an average saved earlier (``averaged``: its weights; ``updates``: how many steps it held)."""
        self.model.load_state_dict(averaged.state_dict())
        self.updates = updates
