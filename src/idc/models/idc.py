"""The Iterative Dual CNN: Sub-Deblur (U-Net) in parallel with Sub-Texture, joined by Fusion, run coarse to fine."""

from __future__ import annotations

import torch
from torch import nn

from idc.models.blocks import DBlock, EBlock, conv
from idc.models.config import IDCConfig
from idc.models.pyramid import image_pyramid, pad_to_multiple, upsample2


class SubDeblur(nn.Module):
    """The encoder-decoder branch: Eblocks E1..En, Dblocks D1..Dn, skips from each encoder to its decoder.

    Shape:
        (N, C_in, H, W) -> (N, encoder_widths[0], H, W), H and W multiples of ``config.stride``
    """

    def __init__(self, config: IDCConfig, in_ch: int) -> None:
        super().__init__()
        widths = config.encoder_widths
        k, r = config.kernel_size, config.resblocks
        self.encoders = nn.ModuleList(
            EBlock(c_in, c_out, k, stride=1 if i == 0 else 2, resblocks=r)
            for i, (c_in, c_out) in enumerate(zip((in_ch, *widths[:-1]), widths, strict=True))
        )
        # Decoders run deepest first; each but the last upsamples to the next encoder's width and resolution.
        rev = widths[::-1]
        self.decoders = nn.ModuleList(
            DBlock(
                c,
                rev[i + 1] if i + 1 < len(rev) else c,
                k,
                config.deconv_kernel,
                2 if i + 1 < len(rev) else 1,
                r,
                literal_d3=config.d3 == "deconv",
            )
            for i, c in enumerate(rev)
        )
        # With "concat" skips a 1x1 conv brings the joined channels back to the decoder's width.
        self.joins = nn.ModuleList(
            nn.Conv2d(2 * c, c, 1) if config.skip == "concat" else nn.Identity() for c in rev[1:]
        )
        self.skip = config.skip

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        skips = []
        for enc in self.encoders:
            x = enc(x)
            skips.append(x)
        skips.pop()  # the deepest encoder output feeds D1 directly
        x = self.decoders[0](x)
        for dec, join in zip(self.decoders[1:], self.joins, strict=True):
            skip = skips.pop()
            x = join(torch.cat([x, skip], dim=1)) if self.skip == "concat" else x + skip
            x = dec(x)
        return x


class SubTexture(nn.Module):
    """The full-resolution branch: Eblocks at stride 1, no downsampling.

    Shape:
        (N, C_in, H, W) -> (N, texture_width, H, W)
    """

    def __init__(self, config: IDCConfig, in_ch: int) -> None:
        super().__init__()
        w = config.texture_width
        self.blocks = nn.Sequential(
            *(
                EBlock(in_ch if i == 0 else w, w, config.kernel_size, stride=1, resblocks=config.resblocks)
                for i in range(config.texture_blocks)
            )
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.blocks(x)


class Fusion(nn.Module):
    """Joins the branch features: conv to ``fusion_width`` + ReLU, then conv to the image channels.

    Shape:
        (N, C_in, H, W) -> (N, out_ch, H, W)
    """

    def __init__(self, config: IDCConfig, in_ch: int, out_ch: int) -> None:
        super().__init__()
        self.conv1 = conv(in_ch, config.fusion_width, config.kernel_size)
        self.act = nn.ReLU(inplace=True)
        self.conv2 = conv(config.fusion_width, out_ch, config.kernel_size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv2(self.act(self.conv1(x)))


class IDCScale(nn.Module):
    """One application of the network at one scale.

    It sees the blurred image of its scale and the upsampled estimate of the previous (coarser) scale, concatenated.

    Shape:
        blurred, previous: (N, C, H, W) -> (N, C, H, W), any H, W >= 1
    """

    def __init__(self, config: IDCConfig) -> None:
        super().__init__()
        c = config.in_channels
        self.config = config
        self.deblur = SubDeblur(config, 2 * c)
        self.texture = SubTexture(config, 2 * c) if config.texture else None
        fused = config.encoder_widths[0] + (config.texture_width if config.texture else 0)
        # With fusion_input "images" each branch hands over an image (a convolution to c channels) instead of features.
        self.deblur_image: nn.Conv2d | None = None
        self.texture_image: nn.Conv2d | None = None
        if config.fusion_input == "images":
            self.deblur_image = conv(config.encoder_widths[0], c, config.kernel_size)
            self.texture_image = conv(config.texture_width, c, config.kernel_size) if config.texture else None
            fused = c * (2 if config.texture else 1)
        self.fusion = Fusion(config, fused, c)

    def forward(self, blurred: torch.Tensor, previous: torch.Tensor) -> torch.Tensor:
        h, w = blurred.shape[-2:]
        x = pad_to_multiple(torch.cat([blurred, previous], dim=1), self.config.stride)
        features = self.deblur(x)
        if self.deblur_image is not None:
            features = self.deblur_image(features)
        if self.texture is not None:
            texture = self.texture(x)
            if self.texture_image is not None:
                texture = self.texture_image(texture)
            features = torch.cat([features, texture], dim=1)
        out = self.fusion(features)[..., :h, :w]
        return out + blurred if self.config.global_residual else out


class IDC(nn.Module):
    """Iterative Dual CNN for blind deblurring (Wang, Wang and Yang, Mathematics 2022, 10(20):3891).

    The blurred image is downsampled ``num_scales - 1`` times; the network runs coarse to fine, each scale seeing its
    blurred image and the bilinearly upsampled estimate of the previous scale (at the coarsest scale, the blurred
    image itself). With ``shared_weights`` one parameter set serves every scale.

    Args:
        config: the architecture; defaults to the paper's network.

    Shape:
        blurred: (N, C, H, W) in [0, 1], any H, W >= 1
        returns: list of ``num_scales`` estimates, coarse to fine; estimate ``s`` has size
            ``ceil(H / 2^(n-1-s)) x ceil(W / 2^(n-1-s))``, the last is (N, C, H, W). Values are not clamped.
    """

    def __init__(self, config: IDCConfig | None = None) -> None:
        super().__init__()
        self.config = config or IDCConfig()
        n_nets = 1 if self.config.shared_weights else self.config.num_scales
        self.scales = nn.ModuleList(IDCScale(self.config) for _ in range(n_nets))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Xavier-uniform initialisation of every (transposed) convolution, zero biases, as in the paper; with
        ``config.zero_init_output`` the last Fusion convolution starts at zero instead (see :class:`IDCConfig`)."""
        for m in self.modules():
            if isinstance(m, nn.Conv2d | nn.ConvTranspose2d):
                nn.init.xavier_uniform_(m.weight)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
        if self.config.zero_init_output:
            for m in self.modules():
                if isinstance(m, Fusion):
                    nn.init.zeros_(m.conv2.weight)

    def net_for_scale(self, index: int) -> IDCScale:
        """The module that processes scale ``index`` (0 = coarsest)."""
        return self.scales[0 if self.config.shared_weights else index]  # type: ignore[return-value]

    def forward(self, blurred: torch.Tensor) -> list[torch.Tensor]:
        if blurred.ndim != 4 or blurred.shape[1] != self.config.in_channels:
            raise ValueError(f"expected (N, {self.config.in_channels}, H, W) input, got {tuple(blurred.shape)}")
        levels = image_pyramid(blurred, self.config.num_scales)
        estimates: list[torch.Tensor] = []
        for s, y in enumerate(levels):
            h, w = y.shape[-2:]
            previous = y if s == 0 else upsample2(estimates[-1])[..., :h, :w]
            estimates.append(self.net_for_scale(s)(y, previous))
        return estimates
