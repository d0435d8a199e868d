"""Likelihood families p(x|z): decoder parameters -> a ``torch.distributions`` object over one example.

Every family maps decoder output of shape ``(..., n_params, *data_shape)`` to a distribution whose
``batch_shape`` is ``(...)`` and whose ``event_shape`` is ``data_shape``, so ``log_prob(x)`` is already
summed over data dimensions. Discrete families (``discrete = True``) give log-probabilities of the
actual 8-bit or binary values, so ``-log p(x) / (D log 2)`` is an honest bits/dim.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn
from torch.distributions import Bernoulli, Distribution, Independent, Normal, constraints

from dataclasses import dataclass
from typing import Any

from . import noise
from .config import ModelConfig, NoOptions, _Config, sub_config
from .errors import ConfigError
from .registry import LIKELIHOODS

__all__ = [
    "Likelihood",
    "BernoulliLikelihood",
    "GaussianLikelihood",
    "HeteroscedasticGaussianLikelihood",
    "DiscretizedLogisticLikelihood",
    "BetaBinomialLikelihood",
    "Categorical256Likelihood",
    "MixedLikelihood",
    "MixedDistribution",
    "DiscretizedLogistic",
    "BetaBinomial",
    "QuantizedCategorical",
    "TokenLikelihood",
    "TokenSequence",
    "build_likelihood",
]


class Likelihood(nn.Module):
    """Base class: a family of distributions over one example, parameterised by the decoder.

    Attributes
    ----------
    n_params : int
        Decoder outputs per data entry.
    discrete : bool
        Whether ``log_prob`` is a log-probability mass (honest bits/dim) rather than a density.
    support : {"real", "unit_interval"}
        Where the data lives: ``"unit_interval"`` families score values in [0, 1] (images), so
        corrupted or imputed inputs are clipped to that range.
    levels : int or None
        Number of discrete values per entry (2 for binary, 256 for 8-bit), None for a density.

    These facts are what tasks read (compression, anomaly scores, denoising); no task tests the
    family's name.
    """

    n_params: int = 1
    discrete: bool = False
    support: str = "real"
    levels: int | None = None
    #: the family's own options (``ModelConfig.likelihood_options``)
    Options: type = NoOptions

    def __init__(self, data_shape: tuple[int, ...], options: Any = None):
        super().__init__()
        self.data_shape = tuple(data_shape)

    @classmethod
    def options(cls, given: Any) -> _Config:
        """``likelihood_options`` as this family's options record (defaults filled, unknown keys refused)."""
        return sub_config(cls.Options, given, "likelihood_options")

    def uniform_code_length(self) -> float | None:
        """Nats to store one example as it is, each entry uniform over its ``levels`` (None: a density).

        Examples
        --------
        >>> round(BernoulliLikelihood((1, 2, 2)).uniform_code_length(), 4)
        2.7726
        >>> GaussianLikelihood((3,)).uniform_code_length() is None
        True
        """
        if self.levels is None:
            return None
        return math.prod(self.data_shape) * math.log(self.levels)

    def level_probabilities(self, dist: Distribution) -> torch.Tensor:
        """Probability of every level of every entry, float64, shape (*batch, *data_shape, levels).

        Level ``k`` is the value ``k / (levels - 1)``. Rows sum to 1; this is the table an entropy coder
        (bits-back compression) codes with. Only discrete families have it.
        """
        raise NotImplementedError(f"{type(self).__name__} is a density; it has no per-level probabilities.")

    def forward(self, params: torch.Tensor) -> Distribution:  # pragma: no cover - abstract
        raise NotImplementedError

    def sample(self, dist: Distribution, generator: torch.Generator | None = None) -> torch.Tensor:
        """Draw x ~ dist with an explicit ``generator`` (torch.distributions cannot take one)."""
        raise NotImplementedError  # pragma: no cover - abstract

    def _independent(self, base: Distribution) -> Distribution:
        return Independent(base, len(self.data_shape))


@LIKELIHOODS.register("bernoulli")
class BernoulliLikelihood(Likelihood):
    """Bernoulli per entry with logits from the decoder; for binary or [0, 1] data.

    ``log_prob`` of a fractional x is the negative binary cross-entropy (the common practice for
    grey-level images); it is a true log-probability only for binary x.
    """

    n_params = 1
    discrete = True
    support = "unit_interval"
    levels = 2

    def level_probabilities(self, dist):
        p1 = torch.sigmoid(dist.base_dist.logits.double())  # (*batch, *data_shape)
        return torch.stack([1 - p1, p1], dim=-1)

    def forward(self, params: torch.Tensor) -> Distribution:
        # validate_args=False: grey-level x in [0, 1] is allowed (cross-entropy), not only {0, 1}.
        logits = params.select(-len(self.data_shape) - 1, 0)
        return self._independent(Bernoulli(logits=logits, validate_args=False))

    def sample(self, dist, generator=None):
        probs = dist.base_dist.probs
        return (noise.rand(probs.shape, generator, device=probs.device) < probs).to(probs.dtype)


@LIKELIHOODS.register("gaussian")
class GaussianLikelihood(Likelihood):
    """Normal per entry: mean from the decoder, a learned standard deviation per feature.

    The per-feature log-scale is a free parameter (not a function of z), floored at exp(-7) so a
    constant feature cannot drive the density to infinity.
    """

    n_params = 1
    discrete = False
    min_log_scale = -7.0

    def __init__(self, data_shape, options: Any = None):
        super().__init__(data_shape)
        self.log_scale = nn.Parameter(torch.zeros(self.data_shape))

    def forward(self, params):
        mean = params.select(-len(self.data_shape) - 1, 0)
        scale = self.log_scale.clamp(min=self.min_log_scale).exp().expand_as(mean)
        return self._independent(Normal(mean, scale, validate_args=False))

    def sample(self, dist, generator=None):
        base = dist.base_dist
        return base.loc + base.scale * noise.randn(base.loc.shape, generator, device=base.loc.device)


@LIKELIHOODS.register("heteroscedastic_gaussian")
class HeteroscedasticGaussianLikelihood(Likelihood):
    """Normal per entry with mean and log standard deviation both from the decoder (functions of z).

    Suits targets whose spread depends on z, e.g. the latent codes an M2 models in M1+M2, where the
    spread of each code dimension differs by class. The log-scale is clamped to [-7, 7].
    """

    n_params = 2
    discrete = False
    min_log_scale = -7.0
    max_log_scale = 7.0

    def forward(self, params):
        axis = -len(self.data_shape) - 1
        mean = params.select(axis, 0)
        scale = params.select(axis, 1).clamp(self.min_log_scale, self.max_log_scale).exp()
        return self._independent(Normal(mean, scale, validate_args=False))

    sample = GaussianLikelihood.sample


class DiscretizedLogistic(Distribution):
    """Logistic distribution discretised to ``levels`` equally spaced values in [0, 1].

    The edge bins take the remaining tail mass, so probabilities sum to one over the grid
    (Salimans et al. 2017, PixelCNN++, eq. 2, with one mixture component).

    Parameters
    ----------
    loc : Tensor
        Location on the [-1, 1] scale (x = 0 maps to -1, x = 1 to +1).
    log_scale : Tensor
        Log of the logistic scale on the [-1, 1] scale.
    levels : int
        Number of values (256 for 8-bit data).
    """

    arg_constraints = {"loc": constraints.real, "log_scale": constraints.real}
    support = constraints.unit_interval
    has_rsample = False

    def __init__(self, loc, log_scale, levels: int = 256, validate_args=False):
        self.loc, self.log_scale, self.levels = loc, log_scale.clamp(min=-7.0), levels
        super().__init__(loc.shape, validate_args=validate_args)

    def log_prob(self, value):
        half_bin = 1.0 / (self.levels - 1)  # half the bin width on the [-1, 1] scale
        k = torch.round(value * (self.levels - 1))  # integer level of each entry
        centered = (2 * value - 1) - self.loc
        inv_s = torch.exp(-self.log_scale)
        plus_in = inv_s * (centered + half_bin)
        min_in = inv_s * (centered - half_bin)
        log_cdf_plus = plus_in - F.softplus(plus_in)  # log sigmoid(plus_in): mass of the lowest bin
        log_one_minus_cdf_min = -F.softplus(min_in)  # log (1 - sigmoid(min_in)): mass of the top bin
        cdf_delta = torch.sigmoid(plus_in) - torch.sigmoid(min_in)
        mid_in = inv_s * centered
        # When the bin mass underflows, use density * bin width (PixelCNN++ fallback).
        log_pdf_mid = mid_in - self.log_scale - 2.0 * F.softplus(mid_in) + math.log(2 * half_bin)
        inner = torch.where(cdf_delta > 1e-5, torch.log(cdf_delta.clamp(min=1e-12)), log_pdf_mid)
        return torch.where(k <= 0, log_cdf_plus, torch.where(k >= self.levels - 1, log_one_minus_cdf_min, inner))

    @property
    def mean(self):
        # The mean of the discretised variable, up to the (tiny) effect of the edge bins.
        return ((self.loc.clamp(-1, 1) + 1) / 2)

    def draw(self, generator=None):
        u = noise.rand(self.loc.shape, generator, device=self.loc.device).clamp(1e-5, 1 - 1e-5)
        x = self.loc + torch.exp(self.log_scale) * (torch.log(u) - torch.log1p(-u))  # logistic inverse CDF
        x01 = ((x + 1) / 2).clamp(0, 1)
        return torch.round(x01 * (self.levels - 1)) / (self.levels - 1)

    def sample(self, sample_shape=torch.Size()):
        with torch.no_grad():
            return self.expand(torch.Size(sample_shape) + self.batch_shape).draw()

    def expand(self, batch_shape, _instance=None):
        return DiscretizedLogistic(self.loc.expand(batch_shape), self.log_scale.expand(batch_shape), self.levels)


class BetaBinomial(Distribution):
    """Beta-binomial over ``levels`` values k / (levels - 1) in [0, 1].

    k ~ Binomial(levels - 1, p) with p ~ Beta(alpha, beta), p marginalised out. With alpha, beta < 1
    the mass piles up at both ends: the "mostly black or white, unsure which" pixels of digit images,
    which a unimodal discretized logistic cannot express. BB-ANS (Townsend et al. 2019, sec. 3.2) codes
    8-bit MNIST with this likelihood.

    Parameters
    ----------
    alpha, beta : Tensor
        Positive concentrations, same shape.
    levels : int
        Number of values (256 for 8-bit data).

    Examples
    --------
    >>> d = BetaBinomial(torch.tensor([0.5]), torch.tensor([0.5]), levels=4)
    >>> round(float(d.log_prob_table().exp().sum()), 6)
    1.0
    """

    arg_constraints = {"alpha": constraints.positive, "beta": constraints.positive}
    support = constraints.unit_interval
    has_rsample = False

    def __init__(self, alpha, beta, levels: int = 256, validate_args=False):
        self.alpha, self.beta, self.levels = alpha, beta, levels
        super().__init__(alpha.shape, validate_args=validate_args)

    def log_prob(self, value):
        n, a, b = self.levels - 1, self.alpha, self.beta
        k = torch.round(value * n).clamp(0, n)  # integer level of each entry
        log_choose = math.lgamma(n + 1) - torch.lgamma(k + 1) - torch.lgamma(n - k + 1)
        # log B(k + alpha, n - k + beta) - log B(alpha, beta)
        return (log_choose + torch.lgamma(k + a) + torch.lgamma(n - k + b) - torch.lgamma(n + a + b)
                + torch.lgamma(a + b) - torch.lgamma(a) - torch.lgamma(b))

    def log_prob_table(self, dtype: torch.dtype | None = None) -> torch.Tensor:
        """Log-probabilities of every level, shape ``(*batch_shape, levels)``, normalised in ``dtype``."""
        a = (self.alpha if dtype is None else self.alpha.to(dtype)).unsqueeze(-1)  # (..., 1)
        b = (self.beta if dtype is None else self.beta.to(dtype)).unsqueeze(-1)
        n = self.levels - 1
        k = torch.arange(n, dtype=a.dtype, device=a.device)  # (n,) levels 0..n-1
        # p(k+1) / p(k) = (n-k)(k+alpha) / ((k+1)(n-k-1+beta)): two logs per entry instead of four lgammas
        # (the 8-bit coder builds one table per pixel), then a cumulative sum from log p(0).
        log_ratio = torch.log(k + a) - torch.log(n - k - 1 + b) + (torch.log(n - k) - torch.log(k + 1))  # (..., n)
        log_p0 = torch.lgamma(n + b) + torch.lgamma(a + b) - torch.lgamma(n + a + b) - torch.lgamma(b)  # (..., 1)
        table = torch.cat([log_p0, log_p0 + log_ratio.cumsum(-1)], dim=-1)  # (..., levels)
        return table - table.logsumexp(-1, keepdim=True)  # removes rounding error

    @property
    def mean(self):
        return self.alpha / (self.alpha + self.beta)

    def draw(self, generator=None):
        probs = self.log_prob_table().exp().reshape(-1, self.levels)
        k = noise.multinomial(probs, generator).view(self.batch_shape)
        return k.to(self.alpha.dtype) / (self.levels - 1)

    def sample(self, sample_shape=torch.Size()):
        with torch.no_grad():
            return self.expand(torch.Size(sample_shape) + self.batch_shape).draw()

    def expand(self, batch_shape, _instance=None):
        return BetaBinomial(self.alpha.expand(batch_shape), self.beta.expand(batch_shape), self.levels)


class QuantizedCategorical(Distribution):
    """A categorical over ``levels`` values k / (levels - 1) in [0, 1] (van den Oord et al. 2016)."""

    arg_constraints = {"logits": constraints.real}
    support = constraints.unit_interval
    has_rsample = False

    def __init__(self, logits, validate_args=False):
        # logits: (..., levels) with the level axis last.
        self.logits = logits - logits.logsumexp(-1, keepdim=True)
        self.levels = logits.shape[-1]
        super().__init__(logits.shape[:-1], validate_args=validate_args)

    def log_prob(self, value):
        k = torch.round(value * (self.levels - 1)).long().clamp(0, self.levels - 1)
        return self.logits.gather(-1, k.unsqueeze(-1)).squeeze(-1)

    @property
    def mean(self):
        grid = torch.linspace(0, 1, self.levels, device=self.logits.device, dtype=self.logits.dtype)
        return (self.logits.exp() * grid).sum(-1)

    def draw(self, generator=None):
        probs = self.logits.exp().reshape(-1, self.levels)
        k = noise.multinomial(probs, generator).view(self.batch_shape)
        return k.to(self.logits.dtype) / (self.levels - 1)

    def sample(self, sample_shape=torch.Size()):
        if sample_shape != torch.Size():
            raise NotImplementedError("QuantizedCategorical.sample supports only sample_shape=()")
        with torch.no_grad():
            return self.draw()


@LIKELIHOODS.register("discretized_logistic")
class DiscretizedLogisticLikelihood(Likelihood):
    """Discretized logistic per entry over 256 levels (8-bit images); decoder gives location and log-scale."""

    n_params = 2
    discrete = True
    support = "unit_interval"
    levels = 256

    def level_probabilities(self, dist):
        base = dist.base_dist
        k = torch.arange(self.levels - 1, dtype=torch.float64, device=base.loc.device)
        edges = (2 * k + 1) / (self.levels - 1) - 1  # (levels-1,) upper bin edges on the [-1, 1] scale
        loc = base.loc.double().unsqueeze(-1)  # (..., 1)
        inv_s = torch.exp(-base.log_scale.double()).unsqueeze(-1)  # log_scale already clamped at -7
        t = (edges - loc) * inv_s  # (..., levels-1) standardised upper bin edges
        cdf = torch.sigmoid(t)
        # Salimans et al. 2017, eq. 2: interior bins are CDF differences, the edge bins take the tails.
        return torch.cat([cdf[..., :1], cdf[..., 1:] - cdf[..., :-1], torch.sigmoid(-t[..., -1:])], dim=-1)

    def forward(self, params):
        axis = -len(self.data_shape) - 1
        return self._independent(DiscretizedLogistic(params.select(axis, 0), params.select(axis, 1), self.levels))

    def sample(self, dist, generator=None):
        return dist.base_dist.draw(generator)


@LIKELIHOODS.register("beta_binomial")
class BetaBinomialLikelihood(Likelihood):
    """Beta-binomial per entry over 256 levels (8-bit images); decoder gives the two concentrations.

    Concentrations are ``softplus(raw) + 1e-3``, kept below 1e4 (a near-deterministic pixel needs no more).
    """

    n_params = 2
    discrete = True
    support = "unit_interval"
    levels = 256

    def level_probabilities(self, dist):
        return dist.base_dist.log_prob_table(torch.float64).exp()

    def forward(self, params):
        axis = -len(self.data_shape) - 1
        alpha = (F.softplus(params.select(axis, 0)) + 1e-3).clamp(max=1e4)
        beta = (F.softplus(params.select(axis, 1)) + 1e-3).clamp(max=1e4)
        return self._independent(BetaBinomial(alpha, beta, self.levels))

    def sample(self, dist, generator=None):
        return dist.base_dist.draw(generator)


@LIKELIHOODS.register("categorical256")
class Categorical256Likelihood(Likelihood):
    """A 256-way categorical per entry (8-bit images); decoder gives 256 logits per entry."""

    n_params = 256
    discrete = True
    support = "unit_interval"
    levels = 256

    def level_probabilities(self, dist):
        return torch.softmax(dist.base_dist.logits.double(), dim=-1)

    def forward(self, params):
        axis = -len(self.data_shape) - 1
        return self._independent(QuantizedCategorical(params.movedim(axis, -1)))

    def sample(self, dist, generator=None):
        return dist.base_dist.draw(generator)


class MixedDistribution(Distribution):
    """Per-entry distribution of a mixed table row: Normal entries and one-hot categorical blocks.

    ``batch_shape`` is ``(..., features)`` with an empty event shape, so ``log_prob(x)`` is per entry (the
    missing-value mask of ``missing="ignore"`` zeroes entries): a Normal log-density for a numeric feature,
    and ``x_k log softmax(logits)_k`` for the k-th feature of a categorical block, so a block's entries sum
    to the log-probability of its (one-hot) level. A missing categorical cell is NaN across its block.
    """

    arg_constraints: dict = {}
    has_rsample = False

    def __init__(self, loc, scale, blocks, is_cat, validate_args=False):
        self.loc, self.scale, self.blocks, self.is_cat = loc, scale, blocks, is_cat
        super().__init__(loc.shape, validate_args=validate_args)

    def _log_softmax(self) -> torch.Tensor:
        out = self.loc
        if self.blocks:
            out = out.clone()
            for start, width in self.blocks:
                out[..., start : start + width] = torch.log_softmax(self.loc[..., start : start + width], dim=-1)
        return out

    def log_prob(self, value):
        gauss = Normal(self.loc, self.scale, validate_args=False).log_prob(value)
        if not self.blocks:
            return gauss
        return torch.where(self.is_cat, value * self._log_softmax(), gauss)

    def level_probabilities(self) -> list[torch.Tensor]:
        """Probabilities of each block's levels: one (..., width) float64 tensor per categorical block."""
        return [torch.softmax(self.loc[..., s : s + w].double(), dim=-1) for s, w in self.blocks]

    @property
    def mean(self):
        if not self.blocks:
            return self.loc
        out = self.loc.clone()
        for start, width in self.blocks:
            out[..., start : start + width] = torch.softmax(self.loc[..., start : start + width], dim=-1)
        return out

    def draw(self, generator=None):
        x = self.loc + self.scale * noise.randn(self.loc.shape, generator, device=self.loc.device)
        for start, width in self.blocks:
            probs = torch.softmax(self.loc[..., start : start + width], dim=-1)
            k = noise.multinomial(probs.reshape(-1, width), generator).view(probs.shape[:-1])
            x[..., start : start + width] = F.one_hot(k, width).to(x.dtype)
        return x

    def sample(self, sample_shape=torch.Size()):
        if sample_shape != torch.Size():
            raise NotImplementedError("MixedDistribution.sample supports only sample_shape=()")
        with torch.no_grad():
            return self.draw()


@dataclass(frozen=True, kw_only=True)
class MixedOptions(_Config):
    """Options of the ``"mixed"`` likelihood: ``categorical`` lists the ``(start, width)`` of each one-hot
    block of the features; every other feature is numeric (Gaussian)."""

    categorical: tuple[tuple[int, ...], ...] = ()

    def __post_init__(self):
        blocks = self.categorical
        ok = isinstance(blocks, tuple) and all(
            isinstance(b, tuple) and len(b) == 2 and all(isinstance(v, int) and not isinstance(v, bool) for v in b)
            and b[0] >= 0 and b[1] >= 1 for b in blocks)
        if not ok:
            raise ConfigError(f"The 'categorical' parameter of likelihood_options must be a sequence of "
                              f"(start, width) pairs of ints (start >= 0, width >= 1). Got {blocks!r} instead.")
        ends = sorted(blocks)
        for (s0, w0), (s1, _) in zip(ends, ends[1:]):
            if s0 + w0 > s1:
                raise ConfigError(f"The 'categorical' blocks of likelihood_options overlap: ({s0}, {w0}) and "
                                  f"the block starting at {s1}.")


@LIKELIHOODS.register("mixed")
class MixedLikelihood(Likelihood):
    """Mixed-type table rows: a Normal per numeric feature (mean from the decoder, a learned standard
    deviation per feature, as :class:`GaussianLikelihood`) and a categorical per one-hot block (the
    decoder's outputs on the block are its logits), as TVAE models tables (Xu et al. 2019).

    The blocks come from ``likelihood_options`` (``{"categorical": ((start, width), ...)}``); for a table
    the preset derives them from the data spec (categorical columns and, with mode-specific
    normalisation, the mode indicator of each numeric column). ``level_probabilities`` gives each block's
    level probabilities (what imputation picks categories by). ``log_prob`` is a density in the numeric
    features and a probability in the categorical ones.
    """

    n_params = 1
    discrete = False
    min_log_scale = -7.0
    Options = MixedOptions

    def __init__(self, data_shape, options: Any = None):
        super().__init__(data_shape)
        options = self.options(options)
        self.blocks = tuple((int(s), int(w)) for s, w in options.categorical)
        d = math.prod(self.data_shape)
        if self.blocks and len(self.data_shape) != 1:
            raise ConfigError(f"The 'mixed' likelihood's categorical blocks index the features of flat table rows; "
                              f"data_shape {self.data_shape} is not (features,).")
        for s, w in self.blocks:
            if s + w > d:
                raise ConfigError(f"The categorical block ({s}, {w}) of the 'mixed' likelihood ends past the "
                                  f"{d} features of data_shape {self.data_shape}.")
        is_cat = torch.zeros(self.data_shape, dtype=torch.bool)
        for s, w in self.blocks:
            is_cat[s : s + w] = True
        self.register_buffer("is_cat", is_cat, persistent=False)
        self.log_scale = nn.Parameter(torch.zeros(self.data_shape))

    def level_probabilities(self, dist):
        """Per categorical block, the probabilities of its levels (a list of (*batch, width) tensors)."""
        return dist.base_dist.level_probabilities()

    def forward(self, params):
        loc = params.select(-len(self.data_shape) - 1, 0)
        scale = self.log_scale.clamp(min=self.min_log_scale).exp().expand_as(loc)
        return self._independent(MixedDistribution(loc, scale, self.blocks, self.is_cat))

    def sample(self, dist, generator=None):
        return dist.base_dist.draw(generator)


class TokenSequence(Distribution):
    """p(x|z) over token sequences, autoregressive: prod_t p(x_t | x_<t, z), scored up to and with ``<eos>``.

    ``params`` is what a sequence decoder returns (:class:`vaekit.nets.sequence.TokenParams`): z and the
    decoder that turns a prefix into next-token logits. Batch shape ``z.shape[:-1]``, event shape
    ``(max_length + 1,)``; ``mean`` is the greedy decoding (token ids as floats, the data's dtype).
    Without gradients, ``log_prob`` runs in chunks of rows so that memory stays bounded for any number of
    importance samples.
    """

    arg_constraints: dict = {}
    has_rsample = False
    #: logits (rows x positions x vocabulary) held at most at once when scoring without gradients (only the
    #: positions before padding are computed, so for short sentences far fewer are)
    max_logits = 2**27

    def __init__(self, params, validate_args=False):
        self.params = params
        super().__init__(torch.Size(params.batch_shape), torch.Size((params.length,)), validate_args=False)

    def log_prob(self, value):
        p = self.params
        x = value.expand(*self.batch_shape, p.length).reshape(-1, p.length).long()
        z = p.flat_z
        dropout = p.decoder.training
        if torch.is_grad_enabled():
            out = p.log_prob_rows(x, z, word_dropout=dropout)
        else:
            rows = max(1, self.max_logits // (p.length * p.vocab_size))
            out = torch.cat([p.log_prob_rows(x[i:i + rows], z[i:i + rows], word_dropout=dropout)
                             for i in range(0, x.shape[0], rows)])
        return out.view(self.batch_shape)

    @property
    def mean(self):
        """The greedy decoding (the most probable token at every step), token ids as floats."""
        return self.params.generate().to(self.params.z.dtype).view(*self.batch_shape, self.params.length)


@LIKELIHOODS.register("tokens")
class TokenLikelihood(Likelihood):
    """A categorical over the vocabulary at every position, autoregressive in the tokens before it
    (for text; pairs with ``net="sequence"``, whose decoder returns the parameters this reads).

    ``log_prob`` is the log-probability of the sentence (padding after ``<eos>`` not scored), so the
    negative ELBO or IWAE bound is nats per sentence. ``sample`` draws sentences token by token.
    """

    n_params = 1
    discrete = True
    support = "tokens"
    levels = None
    #: the one net family whose decoder feeds this likelihood
    needs_net = "sequence"

    def __init__(self, data_shape, options=None):
        super().__init__(data_shape)

    def forward(self, params) -> Distribution:
        return TokenSequence(params)

    def sample(self, dist, generator=None, *, temperature: float = 1.0):
        p = dist.params
        return p.generate(temperature=temperature, generator=generator).to(p.z.dtype).view(*dist.batch_shape, p.length)


def build_likelihood(config: ModelConfig) -> Likelihood:
    """The likelihood family named by ``config.likelihood`` (with ``config.likelihood_options``)."""
    return LIKELIHOODS.get(config.likelihood)(config.data_shape, config.likelihood_options)
