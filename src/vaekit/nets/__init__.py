"""Encoder and decoder networks. They return distribution parameters only; no loss lives here."""

from __future__ import annotations

from torch import nn

from ..config import ModelConfig
from .conv import ConvDecoder, ConvEncoder
from .mlp import MLP, MLPDecoder, MLPEncoder

__all__ = ["build_encoder", "build_decoder", "MLP", "MLPEncoder", "MLPDecoder", "ConvEncoder", "ConvDecoder"]


def build_encoder(config: ModelConfig, out_dim: int) -> nn.Module:
    """The encoder network named by ``config.net``: (batch, *data_shape) -> (batch, out_dim)."""
    if config.net == "conv":
        return ConvEncoder(config.data_shape, config.conv_channels, out_dim, config.residual_blocks, config.activation)
    return MLPEncoder(config.data_shape, config.hidden_dims, out_dim, config.activation)


def build_decoder(config: ModelConfig, n_params: int) -> nn.Module:
    """The decoder network named by ``config.net``: (..., latent_dim) -> (..., n_params, *data_shape)."""
    if config.net == "conv":
        return ConvDecoder(
            config.latent_dim, config.conv_channels, config.data_shape, n_params, config.residual_blocks,
            config.activation,
        )
    return MLPDecoder(config.latent_dim, config.hidden_dims, config.data_shape, n_params, config.activation)
