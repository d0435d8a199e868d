"""Priors p(z): ``StandardNormal`` (the default, closed-form KL), a learned ``MixtureOfGaussians`` and
the ``VampPrior`` (Tomczak & Welling 2018), which have no closed-form KL: the objective then uses a
one-sample Monte Carlo estimate, and IWAE, sampling and every task use ``log_prob`` and ``sample``."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn
from torch.distributions import Distribution, Independent, Normal

from . import noise
from ._validation import Interval, check_param
from .config import ModelConfig, NoOptions, _Config, sub_config
from .errors import ConfigError
from .registry import PRIORS

__all__ = ["Prior", "StandardNormal", "MixtureOfGaussians", "VampPrior", "MixtureOptions", "build_prior"]


@dataclass(frozen=True, kw_only=True)
class MixtureOptions(_Config):
    """Options of the learned mixture priors.

    Parameters
    ----------
    components : int
        Mixture components (Gaussians, or pseudo-inputs of the VampPrior).
    """

    components: int = 50

    def __post_init__(self):
        check_param("prior_options", "components", self.components, Interval("int", 1, None))


class Prior(nn.Module):
    """Base class of priors over z of shape (..., latent_dim).

    A prior is registered by name (``@PRIORS.register("name")``) and built by :meth:`from_config` with
    access to the model's encoder, so a learned prior that lives in the encoder's space (the VampPrior:
    a mixture of q(z|u_k) over pseudo-inputs u_k) can be one.
    """

    #: the prior's own options (``ModelConfig.prior_options``)
    Options: type = NoOptions

    def __init__(self, latent_dim: int):
        super().__init__()
        self.latent_dim = latent_dim

    @classmethod
    def options(cls, given: Any) -> _Config:
        """``prior_options`` as this prior's options record (defaults filled, unknown keys refused)."""
        return sub_config(cls.Options, given, "prior_options")

    @classmethod
    def from_config(cls, config: ModelConfig, *, encode=None) -> "Prior":
        """Build the prior for ``config``; ``encode(x) -> q(z|x)`` is the model's encoder (unused here)."""
        return cls(config.latent_dim)

    def log_prob(self, z: torch.Tensor) -> torch.Tensor:
        """log p(z) summed over latent dimensions: (..., latent_dim) -> (...)."""
        raise NotImplementedError  # pragma: no cover - abstract

    def sample(self, n: int, *, generator: torch.Generator | None = None, temperature: float = 1.0) -> torch.Tensor:
        """Draw ``n`` latents, shape (n, latent_dim); ``temperature`` scales the spread."""
        raise NotImplementedError  # pragma: no cover - abstract

    def kl_per_dim(self, posterior: Distribution) -> torch.Tensor | None:
        """Closed-form KL(q || p) per latent dimension, (batch, latent_dim), or None when unavailable."""
        return None


@PRIORS.register("standard_normal")
class StandardNormal(Prior):
    """p(z) = N(0, I)."""

    def __init__(self, latent_dim: int):
        super().__init__(latent_dim)
        # Buffers so the prior follows the model across devices; not saved (persistent=False).
        self.register_buffer("_zero", torch.zeros(()), persistent=False)

    def distribution(self) -> Distribution:
        zeros = self._zero.expand(self.latent_dim)
        return Independent(Normal(zeros, torch.ones_like(zeros)), 1)

    def log_prob(self, z):
        # -0.5 * (z^2 + log 2 pi), summed over dims
        return -0.5 * (z.pow(2) + torch.log(2 * torch.pi * torch.ones_like(z))).sum(-1)

    def sample(self, n, *, generator=None, temperature=1.0):
        return temperature * noise.randn((n, self.latent_dim), generator, device=self._zero.device)

    def kl_per_dim(self, posterior):
        # KL(N(mu, s^2) || N(0, 1)) = 0.5 (mu^2 + s^2 - 1 - log s^2)   (Kingma & Welling 2014, App. B)
        base = posterior.base_dist
        var = base.scale.pow(2)
        return 0.5 * (base.loc.pow(2) + var - 1.0 - torch.log(var))


def _mixture_log_prob(z: torch.Tensor, loc: torch.Tensor, scale: torch.Tensor, log_weights: torch.Tensor) -> torch.Tensor:
    """log sum_k w_k N(z; loc_k, diag(scale_k^2)): z (..., D), loc/scale (K, D), log_weights (K,) -> (...)."""
    diff = (z.unsqueeze(-2) - loc) / scale  # (..., K, D)
    per = -0.5 * diff.pow(2).sum(-1) - torch.log(scale).sum(-1) - 0.5 * z.shape[-1] * math.log(2 * math.pi)
    return torch.logsumexp(per + log_weights, dim=-1)  # (...)


def _mixture_sample(n: int, loc, scale, log_weights, generator, temperature: float) -> torch.Tensor:
    k = noise.multinomial(torch.softmax(log_weights, -1).expand(n, -1), generator, 1)[:, 0]  # (n,)
    eps = noise.randn((n, loc.shape[-1]), generator, device=loc.device, dtype=loc.dtype)
    return loc[k] + temperature * scale[k] * eps


@PRIORS.register("mixture")
class MixtureOfGaussians(Prior):
    """p(z) = sum_k pi_k N(mu_k, diag(sigma_k^2)), every parameter learned (the means start spread like N(0, I))."""

    Options = MixtureOptions

    def __init__(self, latent_dim: int, components: int = 50):
        super().__init__(latent_dim)
        self.logits = nn.Parameter(torch.zeros(components))
        self.loc = nn.Parameter(torch.zeros(components, latent_dim))
        self.log_scale = nn.Parameter(torch.zeros(components, latent_dim))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        with torch.no_grad():
            self.logits.zero_()
            self.loc.normal_()
            self.log_scale.zero_()

    @classmethod
    def from_config(cls, config, *, encode=None):
        return cls(config.latent_dim, config.prior_options.components)

    def log_prob(self, z):
        scale = self.log_scale.clamp(-7, 5).exp()
        return _mixture_log_prob(z, self.loc, scale, torch.log_softmax(self.logits, -1))

    def sample(self, n, *, generator=None, temperature=1.0):
        with torch.no_grad():
            return _mixture_sample(n, self.loc, self.log_scale.clamp(-7, 5).exp(), self.logits, generator,
                                   float(temperature))


@PRIORS.register("vamp")
class VampPrior(Prior):
    """p(z) = (1/K) sum_k q(z|u_k): the mixture of the encoder's posteriors at K learned pseudo-inputs
    u_k (Tomczak & Welling 2018). The pseudo-inputs have the data's shape and start as noise in [0, 1]."""

    Options = MixtureOptions

    def __init__(self, latent_dim: int, data_shape: tuple[int, ...], encode, components: int = 50):
        super().__init__(latent_dim)
        if encode is None:
            raise ConfigError("The VampPrior is built from the model's encoder; build it through VAE(config).")
        self.pseudo_inputs = nn.Parameter(torch.empty(components, *data_shape))
        self._encode = [encode]  # a list: the model owns the encoder, the prior only calls it
        self.reset_parameters()

    def reset_parameters(self) -> None:
        with torch.no_grad():
            self.pseudo_inputs.uniform_(0, 1)

    @classmethod
    def from_config(cls, config, *, encode=None):
        if config.conditioning != "none":
            raise ConfigError("The VampPrior mixes posteriors q(z|u) of unlabelled pseudo-inputs; it cannot be used "
                              f"with conditioning={config.conditioning!r}. Use prior='mixture'.")
        if config.missing != "none":
            raise ConfigError("The VampPrior's pseudo-inputs have no missing entries; use prior='mixture' with "
                              "missing='ignore'.")
        return cls(config.latent_dim, config.data_shape, encode, config.prior_options.components)

    def _components(self):
        q = self._encode[0](self.pseudo_inputs)  # batch (K,)
        base = q.base_dist if isinstance(q, Independent) else q
        return base.loc, base.scale

    def log_prob(self, z):
        loc, scale = self._components()
        log_w = torch.full((loc.shape[0],), -math.log(loc.shape[0]), device=z.device, dtype=z.dtype)
        return _mixture_log_prob(z, loc, scale, log_w)

    def sample(self, n, *, generator=None, temperature=1.0):
        with torch.no_grad():
            loc, scale = self._components()
            return _mixture_sample(n, loc, scale, torch.zeros(loc.shape[0], device=loc.device), generator,
                                   float(temperature))


def build_prior(config: ModelConfig, *, encode=None) -> Prior:
    """The prior named by ``config.prior``, built with access to the model's encoder ``encode``."""
    return PRIORS.get(config.prior).from_config(config, encode=encode)
