"""IDC building blocks: ResBlock, Eblock, Dblock (Section 3 and Table 1 of the paper)."""

from __future__ import annotations

import torch
from torch import nn


def conv(in_ch: int, out_ch: int, kernel_size: int, stride: int = 1) -> nn.Conv2d:
    """A convolution with "SAME" padding: stride 1 keeps the size, stride 2 halves an even size."""
    return nn.Conv2d(in_ch, out_ch, kernel_size, stride=stride, padding=kernel_size // 2)


class ResBlock(nn.Module):
    """conv-ReLU-conv plus an identity skip.

    Shape:
        (N, C, H, W) -> (N, C, H, W)
    """

    def __init__(self, channels: int, kernel_size: int) -> None:
        super().__init__()
        self.conv1 = conv(channels, channels, kernel_size)
        self.act = nn.ReLU(inplace=True)
        self.conv2 = conv(channels, channels, kernel_size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv2(self.act(self.conv1(x)))


class EBlock(nn.Module):
    """Encoder block: conv (stride 1 or 2) + ReLU, then ResBlocks.

    Shape:
        (N, C_in, H, W) -> (N, C_out, H / stride, W / stride)
    """

    def __init__(self, in_ch: int, out_ch: int, kernel_size: int, stride: int, resblocks: int) -> None:
        super().__init__()
        self.conv = conv(in_ch, out_ch, kernel_size, stride)
        self.act = nn.ReLU(inplace=True)
        self.res = nn.Sequential(*(ResBlock(out_ch, kernel_size) for _ in range(resblocks)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.res(self.act(self.conv(x)))


class DBlock(nn.Module):
    """Decoder block: ResBlocks, then an upsampling transposed conv (stride 2) or a plain conv (stride 1), + ReLU.

    The stride-1 case is D3 of Table 1. A stride-1 "deconvolution" is a convolution; we use the network's usual
    odd-sized kernel so the output stays centred on the input grid (an even 4x4 kernel at stride 1 would shift
    the image by half a pixel). ``literal_d3`` builds that literal reading instead: a ``deconv_kernel`` transposed
    convolution at stride 1, whose one extra row and column are cropped. See docs/paper-notes.md.

    Shape:
        (N, C_in, H, W) -> (N, C_out, H * stride, W * stride)
    """

    def __init__(
        self,
        in_ch: int,
        out_ch: int,
        kernel_size: int,
        deconv_kernel: int,
        stride: int,
        resblocks: int,
        literal_d3: bool = False,
    ) -> None:
        super().__init__()
        self.res = nn.Sequential(*(ResBlock(in_ch, kernel_size) for _ in range(resblocks)))
        self.up: nn.Module
        self.crop = stride == 1 and literal_d3
        if self.crop:
            # An even kernel at stride 1 with (k - 1) // 2 padding gives one row and column more than the input.
            self.up = nn.ConvTranspose2d(in_ch, out_ch, deconv_kernel, 1, padding=(deconv_kernel - 1) // 2)
        elif stride == 1:
            self.up = conv(in_ch, out_ch, kernel_size)
        else:
            # (k - s) / 2 padding makes the output exactly `stride` times the input for even k.
            self.up = nn.ConvTranspose2d(in_ch, out_ch, deconv_kernel, stride, padding=(deconv_kernel - stride) // 2)
        self.act = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.up(self.res(x))
        if self.crop:
            y = y[..., : x.shape[-2], : x.shape[-1]]
        return self.act(y)
