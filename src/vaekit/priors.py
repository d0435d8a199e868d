"""Priors p(z): ``StandardNormal`` (the default, closed-form KL), a learned ``MixtureOfGaussians``, the
``VampPrior`` (Tomczak & Welling 2018) and the ``LadderPrior`` (hierarchical latents, L >= 2 stochastic
layers with top-down inference, Sønderby et al. 2016), which have no closed-form KL: the objective then
uses a one-sample Monte Carlo estimate, and IWAE, sampling and every task use ``log_prob`` and ``sample``.

A prior may also refine the encoder's posterior (:meth:`Prior.posterior`): the ladder prior merges the
encoder's bottom-up estimates with its own top-down conditionals, so q(z|x) is built with the prior."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn
from torch.distributions import Distribution, Independent, Normal

from . import noise
from ._numerics import full_precision
from ._validation import Interval, check_param
from .config import ModelConfig, NoOptions, _Config, sub_config
from .errors import ConfigError
from .registry import PRIORS

__all__ = ["Prior", "StandardNormal", "MixtureOfGaussians", "VampPrior", "LadderPrior", "TopDownPosterior",
           "MixtureOptions", "LadderOptions", "build_prior"]


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

    def posterior(self, bottom_up: Distribution) -> Distribution:
        """q(z|x) from the encoder's diagonal Gaussian: the encoder's own, unless the prior shapes inference."""
        return bottom_up

    def mixture_components(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor] | None:
        """``(log_weights (K,), loc (K, latent_dim), scale (K, latent_dim))`` when p(z) is a mixture of K
        diagonal Gaussians over the one latent layer, else None. Bits-back coding codes z with it
        (:mod:`vaekit.tasks._bitsback`); the mixture priors compute their density from it."""
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

    def mixture_components(self):
        return torch.log_softmax(self.logits, -1), self.loc, self.log_scale.clamp(-7, 5).exp()

    def log_prob(self, z):
        log_w, loc, scale = self.mixture_components()
        return _mixture_log_prob(z, loc, scale, log_w)

    def sample(self, n, *, generator=None, temperature=1.0):
        with torch.no_grad():
            log_w, loc, scale = self.mixture_components()
            return _mixture_sample(n, loc, scale, log_w, generator, float(temperature))


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

    def mixture_components(self):
        q = self._encode[0](self.pseudo_inputs)  # batch (K,)
        base = q.base_dist if isinstance(q, Independent) else q
        loc, scale = base.loc, base.scale
        log_w = torch.full((loc.shape[0],), -math.log(loc.shape[0]), device=loc.device, dtype=loc.dtype)
        return log_w, loc, scale

    def log_prob(self, z):
        log_w, loc, scale = self.mixture_components()
        return _mixture_log_prob(z, loc, scale, log_w.to(z.dtype))

    def sample(self, n, *, generator=None, temperature=1.0):
        with torch.no_grad():
            log_w, loc, scale = self.mixture_components()
            return _mixture_sample(n, loc, scale, log_w, generator, float(temperature))


@dataclass(frozen=True, kw_only=True)
class LadderOptions(_Config):
    """Options of the ladder prior (hierarchical latents).

    Parameters
    ----------
    layers : int
        Stochastic layers L >= 2. ``latent_dim`` is split between them (bottom layer first; it gets the
        remainder of an uneven split), so z = [z_1, ..., z_L] keeps shape (..., latent_dim).
    cell_width : int
        Width of each top-down cell p(z_l | z_{l+1}), a residual MLP (NVAE-style residual cell on vector
        latents); 0 makes the cells linear (a linear-Gaussian hierarchy, used by the closed-form checks).
    """

    layers: int = 2
    cell_width: int = 128

    def __post_init__(self):
        check_param("prior_options", "layers", self.layers, Interval("int", 2, None))
        check_param("prior_options", "cell_width", self.cell_width, Interval("int", 0, None))


class _TopDownCell(nn.Module):
    """(mean, log-variance) of z_l given z_{l+1}: linear, or a residual MLP (x + f(x), ELU activations)."""

    def __init__(self, d_in: int, d_out: int, width: int):
        super().__init__()
        self.width = width
        if width == 0:
            self.out = nn.Linear(d_in, 2 * d_out)
        else:
            self.inp = nn.Linear(d_in, width)
            self.res = nn.Sequential(nn.ELU(), nn.Linear(width, width), nn.ELU(), nn.Linear(width, width))
            self.out = nn.Sequential(nn.ELU(), nn.Linear(width, 2 * d_out))

    def forward(self, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if self.width == 0:
            h = self.out(z)
        else:
            h = self.inp(z)
            h = self.out(h + self.res(h))
        mu, logvar = full_precision(h).chunk(2, dim=-1)  # float32 under a bf16/fp16 autocast
        return mu, logvar


@PRIORS.register("ladder")
class LadderPrior(Prior):
    """p(z) = p(z_L) prod_{l<L} p(z_l | z_{l+1}): a hierarchy of L Gaussian layers, top N(0, I), each lower
    layer a Gaussian whose mean and variance a top-down cell computes from the layer above.

    Inference is top-down, as in the ladder VAE (Sønderby et al. 2016, eq. 17-19): the encoder gives a
    bottom-up estimate (mu_hat_l, sigma_hat_l) for every layer; the top layer's posterior is that estimate,
    and each lower layer's is its precision-weighted merge with p(z_l | z_{l+1}) at the z_{l+1} drawn
    above. The generative cells are thus shared by the prior and the posterior (:class:`TopDownPosterior`).
    The decoder reads all layers, z = [z_1, ..., z_L]. No closed-form KL: the objective is Monte Carlo.
    """

    Options = LadderOptions

    def __init__(self, latent_dim: int, layers: int = 2, cell_width: int = 128, *,
                 logvar_range: tuple[float, float] = (-12.0, 8.0)):
        super().__init__(latent_dim)
        if latent_dim < layers:
            raise ConfigError(f"A ladder prior with {layers} layers needs latent_dim >= {layers} (one dimension per "
                              f"layer at least). Got latent_dim={latent_dim}.")
        base = latent_dim // layers
        self.dims = (latent_dim - base * (layers - 1),) + (base,) * (layers - 1)  # bottom first
        self.offsets = tuple(sum(self.dims[:i]) for i in range(layers))
        self.logvar_range = logvar_range
        self.cells = nn.ModuleList(_TopDownCell(self.dims[i + 1], self.dims[i], cell_width) for i in range(layers - 1))
        self.register_buffer("_zero", torch.zeros(()), persistent=False)

    @classmethod
    def from_config(cls, config, *, encode=None):
        if config.conditioning != "none":
            raise ConfigError(f"The ladder prior does not take label conditioning (conditioning="
                              f"{config.conditioning!r}); use prior='standard_normal' or 'mixture' for a CVAE or M2.")
        if config.iwae_gradient == "dreg":
            raise ConfigError("iwae_gradient='dreg' needs a posterior whose parameters can be held fixed apart from "
                              "z; the ladder's top-down posterior depends on the layers above. Use "
                              "iwae_gradient='iwae' with prior='ladder'.")
        o = config.prior_options
        return cls(config.latent_dim, o.layers, o.cell_width, logvar_range=(config.logvar_min, config.logvar_max))

    @property
    def layers(self) -> int:
        return len(self.dims)

    def layer(self, z: torch.Tensor, i: int) -> torch.Tensor:
        """Layer ``i`` (0 = bottom) of z of shape (..., latent_dim)."""
        return z[..., self.offsets[i]:self.offsets[i] + self.dims[i]]

    def conditional(self, i: int, upper: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(mean, standard deviation) of p(z_i | z_{i+1} = upper), i < L - 1."""
        mu, logvar = self.cells[i](upper)
        return mu, torch.exp(0.5 * logvar.clamp(*self.logvar_range))

    def log_prob_layers(self, z: torch.Tensor) -> torch.Tensor:
        """log p(z_l | z_{l+1}) per layer (the top's is log N(z_L; 0, I)): (..., latent_dim) -> (..., L)."""
        top = self.layer(z, self.layers - 1)
        out = [None] * self.layers
        out[-1] = -0.5 * (top.pow(2) + math.log(2 * math.pi)).sum(-1)
        for i in range(self.layers - 1):
            mu, sd = self.conditional(i, self.layer(z, i + 1))
            out[i] = Normal(mu, sd, validate_args=False).log_prob(self.layer(z, i)).sum(-1)
        return torch.stack(out, -1)

    def log_prob(self, z):
        return self.log_prob_layers(z).sum(-1)

    def sample(self, n, *, generator=None, temperature=1.0):
        with torch.no_grad():
            eps = noise.randn((n, self.latent_dim), generator, device=self._zero.device)
            z = [None] * self.layers
            z[-1] = temperature * self.layer(eps, self.layers - 1)
            for i in reversed(range(self.layers - 1)):
                mu, sd = self.conditional(i, z[i + 1])
                z[i] = mu + temperature * sd * self.layer(eps, i)
            return torch.cat(z, -1)

    def posterior(self, bottom_up):
        base = bottom_up.base_dist if isinstance(bottom_up, Independent) else bottom_up
        return TopDownPosterior(base.loc, base.scale, self)


class TopDownPosterior(Distribution):
    """q(z|x) = q(z_L|x) prod_{l<L} q(z_l | z_{l+1}, x) of a :class:`LadderPrior`: batch shape (batch,),
    event shape (latent_dim,), z = [z_1 (bottom), ..., z_L (top)].

    q(z_L|x) is the encoder's estimate N(mu_hat_L, sigma_hat_L^2); q(z_l | z_{l+1}, x) has precision
    sigma_hat_l^-2 + sigma_p^-2 and mean (mu_hat_l sigma_hat_l^-2 + mu_p sigma_p^-2) / precision, with
    (mu_p, sigma_p) those of p(z_l | z_{l+1}). ``mean`` is the mean path (each layer at its mean given the
    means above), what ``embed`` reports; ``stddev`` the standard deviations along it. Draws go through
    :meth:`rsample_with` (z as a function of standard-normal noise, so common random numbers work).
    """

    arg_constraints: dict = {}
    has_rsample = True

    def __init__(self, loc: torch.Tensor, scale: torch.Tensor, prior: LadderPrior):
        self.loc_hat, self.scale_hat, self.prior = loc, scale, prior
        super().__init__(loc.shape[:-1], loc.shape[-1:], validate_args=False)

    def _walk(self, *, eps: torch.Tensor | None = None, z: torch.Tensor | None = None):
        """Top-down pass: (z, [(mean, sd) per layer, bottom first]) from noise ``eps``, or at given ``z``."""
        p = self.prior
        zs, params = [None] * p.layers, [None] * p.layers
        for i in reversed(range(p.layers)):
            mh, sh = p.layer(self.loc_hat, i), p.layer(self.scale_hat, i)
            if i == p.layers - 1:
                mu, sd = mh, sh
            else:
                mp, sp = p.conditional(i, zs[i + 1])
                prec_h, prec_p = sh.pow(-2), sp.pow(-2)
                var = 1.0 / (prec_h + prec_p)
                mu, sd = (mh * prec_h + mp * prec_p) * var, var.sqrt()
            zs[i] = mu + sd * p.layer(eps, i) if z is None else p.layer(z, i)
            params[i] = (mu, sd)
        return torch.cat(zs, -1), params

    def rsample_with(self, eps: torch.Tensor) -> torch.Tensor:
        """z for standard-normal noise ``eps`` of shape (..., batch, latent_dim)."""
        return self._walk(eps=eps)[0]

    def rsample(self, sample_shape=torch.Size()):
        eps = torch.randn(torch.Size(sample_shape) + self.loc_hat.shape, device=self.loc_hat.device,
                          dtype=self.loc_hat.dtype)
        return self.rsample_with(eps)

    def log_prob_layers(self, z: torch.Tensor) -> torch.Tensor:
        """log q(z_l | z_{l+1}, x) per layer: z (..., batch, latent_dim) -> (..., batch, L)."""
        _, params = self._walk(z=z)
        return torch.stack([Normal(mu, sd, validate_args=False).log_prob(self.prior.layer(z, i)).sum(-1)
                            for i, (mu, sd) in enumerate(params)], -1)

    def log_prob(self, z):
        return self.log_prob_layers(z).sum(-1)

    @property
    def mean(self):
        return self._walk(eps=torch.zeros_like(self.loc_hat))[0]

    @property
    def stddev(self):
        _, params = self._walk(eps=torch.zeros_like(self.loc_hat))
        return torch.cat([sd.expand_as(mu) for mu, sd in params], -1)


def build_prior(config: ModelConfig, *, encode=None) -> Prior:
    """The prior named by ``config.prior``, built with access to the model's encoder ``encode``."""
    return PRIORS.get(config.prior).from_config(config, encode=encode)
