"""IDC network: blocks, branches, fusion, the multi-scale model and its config."""

from idc.models.config import PRESETS, IDCConfig, get_preset
from idc.models.idc import IDC, Fusion, IDCScale, SubDeblur, SubTexture

__all__ = ["IDC", "PRESETS", "Fusion", "IDCConfig", "IDCScale", "SubDeblur", "SubTexture", "get_preset"]
