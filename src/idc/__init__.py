"""idc-deblur: blind image deblurring with Iterative Dual CNNs (Wang, Wang and Yang, Mathematics 2022)."""

__version__ = "0.1.0"

from idc.infer import deblur
from idc.losses import LossConfig, MixedLoss
from idc.models import IDC, PRESETS, IDCConfig, get_preset
from idc.weights import load_model, save_weights

__all__ = [
    "IDC",
    "PRESETS",
    "IDCConfig",
    "LossConfig",
    "MixedLoss",
    "__version__",
    "deblur",
    "get_preset",
    "load_model",
    "save_weights",
]
