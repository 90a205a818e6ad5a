"""Health checks of trained weights: is the network still able to learn, or has it collapsed onto the identity?"""

from __future__ import annotations

import torch

from idc.models import IDC
from idc.models.idc import Fusion


@torch.inference_mode()
def fusion_activity(model: IDC, image: torch.Tensor | None = None) -> float:
    """Fraction of the Fusion ReLU's units that are active (> 0) on ``image`` (default: a fixed smooth random image).

    Near 0 means the network has collapsed: the output is the blurred input plus a constant and no gradient can
    reach anything before that ReLU (docs/paper-notes.md section 10). A healthy network reads about 0.1 to 0.6.

    Shape:
        image: (3, H, W) or (N, 3, H, W) in [0, 1]
    """
    if image is None:
        g = torch.Generator().manual_seed(0)
        image = torch.nn.functional.interpolate(torch.rand(1, 3, 16, 16, generator=g), size=96, mode="bicubic")
    x = (image if image.ndim == 4 else image[None]).clamp(0, 1)
    device = next(model.parameters()).device
    counts = [0.0, 0.0]

    def hook(_m: torch.nn.Module, _i: object, out: torch.Tensor) -> None:
        counts[0] += float((out > 0).sum())
        counts[1] += out.numel()

    handles = [m.act.register_forward_hook(hook) for m in model.modules() if isinstance(m, Fusion)]
    try:
        model(x.to(device, torch.float32))
    finally:
        for h in handles:
            h.remove()
    return counts[0] / max(counts[1], 1.0)
