"""The IDC model configuration: one dataclass is the whole architecture, plus named presets."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

SKIP_MODES = ("add", "concat")
D3_MODES = ("conv", "deconv")
FUSION_INPUTS = ("features", "images")


@dataclass(frozen=True)
class IDCConfig:
    """Architecture of the Iterative Dual CNN (Table 1 of the paper, with the choices of docs/paper-notes.md).

    Attributes:
        encoder_widths: channels of E1, E2, E3 (E1 at stride 1, each later Eblock halves the resolution);
            the decoder mirrors them (D1 at the widest, D3 at the narrowest).
        texture_width: channels of the Sub-Texture branch (full resolution, no downsampling).
        texture_blocks: number of Eblocks in the Sub-Texture branch.
        fusion_width: channels of the first Fusion convolution.
        kernel_size: size of every convolution except the 4x4 transposed convolutions.
        deconv_kernel: size of the stride-2 transposed convolutions in D1 and D2 (and of D3's with ``d3: deconv``).
        resblocks: ResBlocks per Eblock and per Dblock.
        num_scales: number of pyramid scales (3 = full, 1/2, 1/4); 1 is the single-scale ablation.
        texture: whether the Sub-Texture branch exists (False is the "no Sub-Texture" ablation).
        shared_weights: one parameter set serves every scale (the paper); False gives each scale its own.
        global_residual: the network predicts a correction added to the blurred input of each scale.
        skip: how U-Net skips join the decoder: "add" (as in SRN-DeblurNet) or "concat" (then a 1x1 conv).
        d3: what ends D3, the stride-1 Dblock: "conv", a ``kernel_size`` convolution that stays centred (our choice),
            or "deconv", Table 1 read literally: a ``deconv_kernel`` transposed convolution at stride 1, its one extra
            row and column cropped, which shifts the features by half a pixel (docs/paper-notes.md section 1).
        fusion_input: what the branches hand the Fusion: "features" (D3's and Sub-Texture's channels, our choice) or
            "images" (each branch ends in a convolution to ``in_channels``, and the Fusion sees those images;
            docs/paper-notes.md section 3).
        in_channels: image channels (3 for RGB).
        zero_init_output: the last Fusion convolution starts at zero (every other layer Xavier, as in the paper), so
            an untrained residual network is the identity. With Xavier there too, the random correction costs ~5 dB
            and training removes it by killing the Fusion ReLU, after which no gradient flows and the network stays
            the identity for good (measured; docs/paper-notes.md). Only initialisation reads it.
    """

    encoder_widths: tuple[int, ...] = (32, 64, 128)
    texture_width: int = 64
    texture_blocks: int = 2
    fusion_width: int = 32
    kernel_size: int = 5
    deconv_kernel: int = 4
    resblocks: int = 2
    num_scales: int = 3
    texture: bool = True
    shared_weights: bool = True
    global_residual: bool = True
    skip: str = "add"
    d3: str = "conv"
    fusion_input: str = "features"
    in_channels: int = 3
    zero_init_output: bool = True

    def __post_init__(self) -> None:
        # Lists from JSON/YAML become tuples so configs compare and hash the same way.
        object.__setattr__(self, "encoder_widths", tuple(int(w) for w in self.encoder_widths))
        problems = []
        if len(self.encoder_widths) < 1 or any(w < 1 for w in self.encoder_widths):
            problems.append(f"encoder_widths must be positive, got {self.encoder_widths}")
        if self.kernel_size < 1 or self.kernel_size % 2 == 0:
            problems.append(f"kernel_size must be odd and positive, got {self.kernel_size}")
        if self.deconv_kernel not in (2, 4, 6, 8):
            problems.append(f"deconv_kernel must be 2, 4, 6 or 8 (exact 2x upsampling), got {self.deconv_kernel}")
        if self.num_scales < 1:
            problems.append(f"num_scales must be >= 1, got {self.num_scales}")
        if self.resblocks < 0 or self.texture_blocks < 1 or self.texture_width < 1 or self.fusion_width < 1:
            problems.append("resblocks >= 0, texture_blocks >= 1, texture_width >= 1, fusion_width >= 1 are required")
        if self.d3 not in D3_MODES:
            problems.append(f"d3 must be one of {D3_MODES}, got {self.d3!r}")
        if self.fusion_input not in FUSION_INPUTS:
            problems.append(f"fusion_input must be one of {FUSION_INPUTS}, got {self.fusion_input!r}")
        if self.skip not in SKIP_MODES:
            problems.append(f"skip must be one of {SKIP_MODES}, got {self.skip!r}")
        if problems:
            raise ValueError("invalid IDCConfig: " + "; ".join(problems))

    @property
    def stride(self) -> int:
        """Total downsampling of the Sub-Deblur U-Net at one scale."""
        return 2 ** (len(self.encoder_widths) - 1)

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["encoder_widths"] = list(self.encoder_widths)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> IDCConfig:
        """Builds a config from a dict, refusing unknown keys so a typo never passes silently."""
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise ValueError(f"unknown IDCConfig keys: {unknown}; known keys: {sorted(known)}")
        return cls(**d)


PRESETS: dict[str, IDCConfig] = {
    # The paper's network (Table 1).
    "idc": IDCConfig(),
    # Ablations of the paper's Figures 6-7.
    "idc-single-scale": IDCConfig(num_scales=1),
    "idc-no-texture": IDCConfig(texture=False),
    # The paper's network without the global residual (the output is produced directly, as in SRN-DeblurNet).
    "idc-direct": IDCConfig(global_residual=False),
    # The other readings of the paper's ambiguities (docs/paper-notes.md sections 1 and 3).
    "idc-d3-deconv": IDCConfig(d3="deconv"),
    "idc-fusion-images": IDCConfig(fusion_input="images"),
    # Tiny widths for tests and quick experiments.
    "tiny": IDCConfig(encoder_widths=(4, 8, 16), texture_width=8, fusion_width=4, resblocks=1),
}


def get_preset(name: str) -> IDCConfig:
    """Returns the named preset config.

    Raises:
        ValueError: with the list of known presets when ``name`` is not one.
    """
    if name not in PRESETS:
        raise ValueError(f"unknown preset {name!r}; known presets: {', '.join(PRESETS)}")
    return PRESETS[name]
