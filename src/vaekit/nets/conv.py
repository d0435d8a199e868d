"""Convolutional encoder and decoder for images of any size with 1 or 3 channels.

Each stage halves the spatial size with a stride-2 3x3 convolution (rounding up), optionally followed
by residual blocks; the decoder mirrors the stages with transposed convolutions whose
``output_padding`` is chosen per stage so that odd sizes (e.g. 28 -> 14 -> 7 -> 4) come back exactly.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from .mlp import activation

__all__ = ["ConvEncoder", "ConvDecoder", "stage_sizes"]


def stage_sizes(height: int, width: int, n_stages: int) -> list[tuple[int, int]]:
    """Spatial sizes before each stage and after the last: ``[(H, W), (ceil(H/2), ceil(W/2)), ...]``."""
    sizes = [(height, width)]
    for _ in range(n_stages):
        h, w = sizes[-1]
        sizes.append(((h + 1) // 2, (w + 1) // 2))
    return sizes


class ResidualBlock(nn.Module):
    """x + conv(act(conv(act(x)))) with 3x3 convolutions (He et al. 2016, pre-activation)."""

    def __init__(self, channels: int, act: str):
        super().__init__()
        self.body = nn.Sequential(
            activation(act),
            nn.Conv2d(channels, channels, 3, padding=1),
            activation(act),
            nn.Conv2d(channels, channels, 3, padding=1),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


class ConvEncoder(nn.Module):
    """x of shape (batch, C, H, W) -> posterior parameters of shape (batch, out_dim)."""

    def __init__(
        self, data_shape: tuple[int, int, int], channels: tuple[int, ...], out_dim: int, residual_blocks: int = 0,
        act: str = "elu",
    ):
        super().__init__()
        c_in, h, w = data_shape
        layers: list[nn.Module] = []
        for c in channels:
            layers += [nn.Conv2d(c_in, c, 3, stride=2, padding=1), activation(act)]
            layers += [ResidualBlock(c, act) for _ in range(residual_blocks)]
            c_in = c
        self.conv = nn.Sequential(*layers)
        fh, fw = stage_sizes(h, w, len(channels))[-1]
        self.head = nn.Linear(channels[-1] * fh * fw, out_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.conv(x).flatten(1))


class ConvDecoder(nn.Module):
    """z of shape (..., latent_dim) -> likelihood parameters of shape (..., n_params, C, H, W)."""

    def __init__(
        self, latent_dim: int, channels: tuple[int, ...], data_shape: tuple[int, int, int], n_params: int,
        residual_blocks: int = 0, act: str = "elu",
    ):
        super().__init__()
        c_out, h, w = data_shape
        self.data_shape = tuple(data_shape)
        self.n_params = n_params
        sizes = stage_sizes(h, w, len(channels))
        rev = tuple(reversed(channels))
        self.start = (rev[0], *sizes[-1])
        self.head = nn.Sequential(nn.Linear(latent_dim, math.prod(self.start)), activation(act))
        layers: list[nn.Module] = []
        for i, c in enumerate(rev):
            layers += [ResidualBlock(c, act) for _ in range(residual_blocks)]
            (ih, iw), (th, tw) = sizes[len(channels) - i], sizes[len(channels) - i - 1]
            # 3x3 stride-2 transposed conv gives 2*s - 1; output_padding adds the missing row/column.
            pad = (th - (2 * ih - 1), tw - (2 * iw - 1))
            nxt = rev[i + 1] if i + 1 < len(rev) else rev[-1]
            layers += [nn.ConvTranspose2d(c, nxt, 3, stride=2, padding=1, output_padding=pad), activation(act)]
        layers.append(nn.Conv2d(rev[-1], c_out * n_params, 3, padding=1))
        self.conv = nn.Sequential(*layers)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        lead = z.shape[:-1]
        h = self.head(z.reshape(-1, z.shape[-1])).view(-1, *self.start)
        out = self.conv(h)  # (N, n_params * C, H, W)
        return out.view(*lead, self.n_params, *self.data_shape)
