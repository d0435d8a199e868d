"""Encoder and decoder networks. They return distribution parameters only; no loss lives here.

A net family is one registered :class:`NetFamily` (``@NETS.register("name")``): it says which example
shapes it takes and builds the encoder, the decoder and the x-only trunk of a label-conditioned
encoder. ``ModelConfig.net`` is validated against the registry, so a new family (e.g. a GRU over
token sequences) is one class here and nothing else changes.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any

from torch import nn

from .._validation import Interval, check_param
from ..config import ModelConfig, NoOptions, _check_int_tuple, _Config, sub_config
from ..errors import ConfigError
from ..registry import LIKELIHOODS, NETS
from .conv import ConvDecoder, ConvEncoder
from .mlp import MLP, MLPDecoder, MLPEncoder
from .sequence import GRUDecoder, PriorEncoder, SequenceEncoder, SequenceOptions, TransformerDecoder

__all__ = ["NetFamily", "ConvOptions", "SequenceOptions", "NoOptions", "build_encoder", "build_decoder", "encoder_trunk", "MLP", "MLPEncoder", "MLPDecoder",
           "ConvEncoder", "ConvDecoder"]


@dataclass(frozen=True, kw_only=True)
class ConvOptions(_Config):
    """Options of ``net="conv"``.

    Parameters
    ----------
    channels : tuple of int
        Channels of the stride-2 conv stages (encoder order; the decoder mirrors them).
    residual_blocks : int
        Residual blocks after each conv stage.
    """

    channels: tuple[int, ...] = (32, 64)
    residual_blocks: int = 0

    def __post_init__(self):
        object.__setattr__(self, "channels", _check_int_tuple("net_options", "channels", self.channels,
                                                               allow_empty=False))
        check_param("net_options", "residual_blocks", self.residual_blocks, Interval("int", 0, None))


class NetFamily:
    """How one family of networks is built from a :class:`~vaekit.config.ModelConfig`."""

    #: number of axes of one example this family reads (None: any)
    example_ndim: int | None = None
    #: the family's own options (``ModelConfig.net_options``)
    Options: type = NoOptions

    def options(self, given: Any) -> _Config:
        """``net_options`` as this family's options record (defaults filled, unknown keys refused)."""
        return sub_config(self.Options, given, "net_options")

    #: the likelihoods this family's decoder can feed (None: any whose class names no net of its own)
    likelihoods: tuple[str, ...] | None = None

    def check_shape(self, config: ModelConfig) -> None:
        """Refuse a ``data_shape`` this family cannot read (or a likelihood its decoder cannot feed)."""
        if self.example_ndim is not None and len(config.data_shape) != self.example_ndim:
            raise ConfigError(self.shape_message(config))
        needs = getattr(LIKELIHOODS.get(config.likelihood), "needs_net", None)
        if (self.likelihoods is not None and config.likelihood not in self.likelihoods) or \
                (self.likelihoods is None and needs is not None):
            raise ConfigError(f"net={config.net!r} cannot be paired with likelihood={config.likelihood!r}"
                              + (f"; likelihood={config.likelihood!r} needs net={needs!r}." if needs else
                                 f"; use one of {', '.join(map(repr, self.likelihoods or ()))}."))

    def shape_message(self, config: ModelConfig) -> str:
        return f"net={config.net!r} cannot read examples of shape {config.data_shape!r}."

    def encoder(self, config: ModelConfig, out_dim: int) -> nn.Module:
        """(batch, *data_shape) -> (batch, out_dim)."""
        raise NotImplementedError  # pragma: no cover - abstract

    def decoder(self, config: ModelConfig, n_params: int) -> nn.Module:
        """(..., latent_dim) -> (..., n_params, *data_shape)."""
        raise NotImplementedError  # pragma: no cover - abstract

    def trunk(self, config: ModelConfig) -> tuple[nn.Module, int]:
        """The x-only part of a label-conditioned encoder q(z|x,y) and its output width."""
        raise NotImplementedError  # pragma: no cover - abstract


@NETS.register("mlp")
class MLPFamily(NetFamily):
    """Fully connected nets over the flattened example (any shape)."""

    def encoder(self, config, out_dim):
        return MLPEncoder(config.data_shape, config.hidden_dims, out_dim, config.activation)

    def decoder(self, config, n_params):
        return MLPDecoder(config.latent_dim, config.hidden_dims, config.data_shape, n_params, config.activation)

    def trunk(self, config):
        # the layers of hidden_dims; the last hidden layer is the trunk's output
        if not config.hidden_dims:
            return nn.Flatten(), math.prod(config.data_shape)
        inner = dataclasses.replace(config, hidden_dims=config.hidden_dims[:-1])
        return self.encoder(inner, config.hidden_dims[-1]), config.hidden_dims[-1]


@NETS.register("conv")
class ConvFamily(NetFamily):
    """Stride-2 conv stages (optionally residual) for images of shape (channels, height, width)."""

    example_ndim = 3
    Options = ConvOptions

    def shape_message(self, config):
        return (f"The 'net' parameter of VAE can be 'conv' only for image data of shape (channels, height, width); "
                f"data_shape is {config.data_shape!r}. Use net='mlp'.")

    def encoder(self, config, out_dim):
        o = config.net_options
        return ConvEncoder(config.data_shape, o.channels, out_dim, o.residual_blocks, config.activation)

    def decoder(self, config, n_params):
        o = config.net_options
        return ConvDecoder(config.latent_dim, o.channels, config.data_shape, n_params, o.residual_blocks,
                           config.activation)

    def trunk(self, config):
        # the conv stages and a 256-wide linear map
        return self.encoder(config, 256), 256


@NETS.register("sequence")
class SequenceFamily(NetFamily):
    """Token sequences (shape (max_length + 1,)): a bidirectional GRU encoder and an autoregressive GRU (or
    small Transformer) decoder fed z at every step, for the ``"tokens"`` likelihood (:mod:`vaekit.nets.sequence`)."""

    example_ndim = 1
    Options = SequenceOptions
    likelihoods = ("tokens",)

    def shape_message(self, config):
        return (f"net='sequence' reads token sequences of shape (max_length + 1,); data_shape is "
                f"{config.data_shape!r}.")

    def encoder(self, config, out_dim):
        o = config.net_options
        return SequenceEncoder(o, out_dim) if o.latent else PriorEncoder(out_dim)

    def decoder(self, config, n_params):
        o = config.net_options
        cls = GRUDecoder if o.decoder == "gru" else TransformerDecoder
        return cls(o, config.latent_dim, config.data_shape[0] - 1)

    def trunk(self, config):
        raise ConfigError("net='sequence' does not support label conditioning yet.")


def _family(config: ModelConfig) -> NetFamily:
    return NETS.get(config.net)()


def build_encoder(config: ModelConfig, out_dim: int) -> nn.Module:
    """The encoder network named by ``config.net``: (batch, *data_shape) -> (batch, out_dim)."""
    return _family(config).encoder(config, out_dim)


def build_decoder(config: ModelConfig, n_params: int) -> nn.Module:
    """The decoder network named by ``config.net``: (..., latent_dim) -> (..., n_params, *data_shape)."""
    return _family(config).decoder(config, n_params)


def encoder_trunk(config: ModelConfig) -> tuple[nn.Module, int]:
    """The x-only trunk of a label-conditioned encoder of family ``config.net`` and its output width."""
    return _family(config).trunk(config)
