"""Fully connected encoder and decoder networks for flat data of any size."""

from __future__ import annotations

import math

import torch
from torch import nn

__all__ = ["activation", "MLP", "MLPEncoder", "MLPDecoder"]

_ACTIVATIONS = {"relu": nn.ReLU, "elu": nn.ELU, "silu": nn.SiLU, "tanh": nn.Tanh, "gelu": nn.GELU}


def activation(name: str) -> nn.Module:
    """A fresh activation module by config name."""
    return _ACTIVATIONS[name]()


class MLP(nn.Sequential):
    """Linear layers of widths ``in_dim -> *hidden_dims -> out_dim`` with ``act`` between them.

    With ``hidden_dims=()`` it is a single affine map (used by the linear-Gaussian closed-form checks).
    """

    def __init__(self, in_dim: int, hidden_dims: tuple[int, ...], out_dim: int, act: str = "elu"):
        layers: list[nn.Module] = []
        widths = (in_dim, *hidden_dims)
        for a, b in zip(widths[:-1], widths[1:]):
            layers += [nn.Linear(a, b), activation(act)]
        layers.append(nn.Linear(widths[-1], out_dim))
        super().__init__(*layers)


class MLPEncoder(nn.Module):
    """x of shape (batch, *data_shape) -> posterior parameters of shape (batch, out_dim)."""

    def __init__(self, data_shape: tuple[int, ...], hidden_dims: tuple[int, ...], out_dim: int, act: str = "elu"):
        super().__init__()
        self.net = MLP(math.prod(data_shape), hidden_dims, out_dim, act)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x.flatten(1))


class MLPDecoder(nn.Module):
    """z of shape (..., latent_dim) -> likelihood parameters of shape (..., n_params, *data_shape)."""

    def __init__(
        self, latent_dim: int, hidden_dims: tuple[int, ...], data_shape: tuple[int, ...], n_params: int, act: str = "elu"
    ):
        super().__init__()
        self.data_shape = tuple(data_shape)
        self.n_params = n_params
        # The decoder mirrors the encoder: widths reversed.
        self.net = MLP(latent_dim, tuple(reversed(hidden_dims)), n_params * math.prod(data_shape), act)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        out = self.net(z)
        return out.view(*z.shape[:-1], self.n_params, *self.data_shape)
