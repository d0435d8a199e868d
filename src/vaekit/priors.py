"""Priors p(z). ``StandardNormal`` is the default; the interface leaves room for learned priors
(mixture of Gaussians, VampPrior) that have no closed-form KL and fall back to Monte Carlo."""

from __future__ import annotations

import torch
from torch import nn
from torch.distributions import Distribution, Independent, Normal

from . import noise
from .config import ModelConfig
from .registry import PRIORS

__all__ = ["Prior", "StandardNormal", "build_prior"]


class Prior(nn.Module):
    """Base class of priors over z of shape (..., latent_dim).

    A prior is registered by name (``@PRIORS.register("name")``) and built by :meth:`from_config` with
    access to the model's encoder, so a learned prior that lives in the encoder's space (the VampPrior:
    a mixture of q(z|u_k) over pseudo-inputs u_k) can be one.
    """

    def __init__(self, latent_dim: int):
        super().__init__()
        self.latent_dim = latent_dim

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


def build_prior(config: ModelConfig, *, encode=None) -> Prior:
    """The prior named by ``config.prior``, built with access to the model's encoder ``encode``."""
    return PRIORS.get(config.prior).from_config(config, encode=encode)
