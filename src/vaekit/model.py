"""The composed VAE (encoder + prior + decoder + likelihood) and the deterministic Autoencoder.

Tensors in, distributions and :class:`Objective` out: no I/O, no optimiser, no numpy here.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from torch.distributions import Distribution, Independent, Normal, constraints

from . import noise
from ._numerics import full_precision
from .config import DataSpec, ModelConfig
from .errors import ConfigError, DataError
from .likelihoods import build_likelihood
from .nets import build_decoder, build_encoder, encoder_trunk
from .nets.mlp import activation
from .priors import build_prior

__all__ = ["Objective", "VAE", "Autoencoder", "StackedVAE", "PointMass", "default_config", "corrupt"]


@dataclass(frozen=True)
class Objective:
    """A training objective with its per-sample terms.

    Attributes
    ----------
    loss : Tensor of shape ()
        The scalar to minimise (mean over the batch; includes beta, KL warm-up and free bits).
    reconstruction_nll : Tensor of shape (batch,)
        -E_q[log p(x|z)] per example (a single-sample estimate).
    kl : Tensor of shape (batch,)
        KL(q(z|x) || p(z)) per example (closed form when the prior allows it), without any weighting.
    extra : dict
        Further per-sample terms, e.g. ``"iwae_bound"`` when training with ``iwae_k > 1``.
    """

    loss: torch.Tensor
    reconstruction_nll: torch.Tensor
    kl: torch.Tensor
    extra: dict[str, torch.Tensor] = field(default_factory=dict)

    @property
    def neg_elbo(self) -> torch.Tensor:
        """reconstruction_nll + kl per example: shape (batch,)."""
        return self.reconstruction_nll + self.kl


class PointMass(Distribution):
    """A degenerate distribution at ``loc`` (the autoencoder's 'posterior'), event shape (latent_dim,)."""

    arg_constraints = {"loc": constraints.real}
    support = constraints.real_vector
    has_rsample = True

    def __init__(self, loc: torch.Tensor):
        self.loc = loc
        super().__init__(loc.shape[:-1], loc.shape[-1:], validate_args=False)

    @property
    def mean(self):
        return self.loc

    @property
    def stddev(self):
        return torch.zeros_like(self.loc)

    def rsample(self, sample_shape=torch.Size()):
        return self.loc.expand(torch.Size(sample_shape) + self.loc.shape)


#: alpha = CLASSIFIER_WEIGHT_SCALE * N / N_l (Kingma et al. 2014, eq. 9, alpha = 0.1 N with the bound summed
#: over the data; per example and per labelled example, as vaekit's loss averages them, 0.1 N / N_l)
CLASSIFIER_WEIGHT_SCALE = 0.1


def scaled_classifier_weight(data) -> float | None:
    """The classifier weight of M2 on partly labelled ``data``: 0.1 x (examples / labelled examples),
    at least 1; None when ``data`` has no labels or no unlabelled examples (nothing to scale)."""
    n_labelled = int(getattr(data, "n_labelled", 0) or 0)
    n = len(data)
    if n_labelled == 0 or n_labelled >= n:
        return None
    return max(1.0, round(CLASSIFIER_WEIGHT_SCALE * n / n_labelled, 3))


def default_config(spec: DataSpec, *, preset: str = "default", **overrides: Any) -> ModelConfig:
    """The preset vaekit picks for data described by ``spec``; ``overrides`` win.

    ``preset`` names one of the kind's recipes (``"default"``; grey images also ``"fast"`` and ``"best"``,
    see :meth:`vaekit.data.kinds.ImageKind.recipes`); :func:`vaekit.training.default_train_config` takes
    the same name for the training half of the recipe.

    The preset belongs to the data's kind (:mod:`vaekit.data.kinds`):

    * grey-level images: MLP 512-256, latent 32, Bernoulli (intensities as probabilities; train with
      ``binarize="dynamic"`` for an honest binary likelihood), a learned mixture of 50 Gaussians as the
      prior (conditioned models, and an ``Autoencoder``, keep N(0, I));
    * colour images: conv encoder/decoder, latent 64, discretized logistic (honest bits/dim on 8-bit data);
    * tables: MLP sized to the input, the mixed likelihood (Gaussian per numeric feature, categorical per
      one-hot block), missing cells masked when the table has any;
    * vectors: MLP sized to the input, Gaussian with learned per-feature variance.
    """
    from .data.kinds import kind_of

    shape = tuple(spec.shape)
    base = kind_of(spec).preset(preset, spec)[0]
    from .config import fold_legacy_net_fields

    overrides = fold_legacy_net_fields(dict(overrides), net=base.get("net"))
    if "net" in overrides and overrides["net"] != base.get("net"):
        base.pop("net_options", None)  # the preset's options belong to the preset's net
    elif isinstance(overrides.get("net_options"), dict):  # options given on top of the preset's
        overrides["net_options"] = {**(base.get("net_options") or {}), **overrides["net_options"]}
    if "likelihood" in overrides and overrides["likelihood"] != base.get("likelihood"):
        base.pop("likelihood_options", None)  # the preset's options belong to the preset's likelihood
    if overrides.get("prior", base.get("prior")) != base.get("prior"):
        base.pop("prior_options", None)  # the preset's options belong to the preset's prior
    elif "prior" not in overrides and overrides.get("conditioning", "none") != "none":
        # A preset's learned prior is for unconditioned models: a mixture over z can carry the class
        # itself, and the decoder of a conditioned model would then learn to ignore y. Conditioned models
        # keep N(0, I), as their figures were measured (bench/semisupervised.py).
        base.pop("prior", None)
        base.pop("prior_options", None)
    base.update(overrides)
    return ModelConfig(data_shape=shape, **base)


class _SharedVerbs:
    """What every model offers on top of its own ``class_logits``: class predictions.

    Saving is :func:`vaekit.save` (the run directory sits above the model classes, not inside them)."""

    @torch.no_grad()
    def predict_proba(self, x: torch.Tensor) -> torch.Tensor:
        """Class probabilities q(y|x): (batch, *data_shape) -> (batch, num_classes); rows sum to 1."""
        return torch.softmax(self.class_logits(x), dim=-1)

    @torch.no_grad()
    def predict(self, x: torch.Tensor) -> torch.Tensor:
        """The most probable class under q(y|x): (batch, *data_shape) -> (batch,) int64."""
        return self.class_logits(x).argmax(-1)


class _NoDensity:
    """Likelihood verbs of a model without a tractable bound on log p(x): each raises ``ConfigError``
    with the class's ``_no_density_message`` (formatted with the verb's ``name``)."""

    _no_density_message = "{name}"

    def _no_likelihood(self, name):
        return ConfigError(self._no_density_message.format(name=name))

    def elbo(self, x, *, generator=None, n_samples=1, y=None):
        raise self._no_likelihood("elbo")

    def iwae(self, x, k, *, generator=None, max_elements=2**25, y=None):
        raise self._no_likelihood("iwae")

    def log_likelihood(self, x, k=1000, *, generator=None, max_elements=2**25, y=None):
        raise self._no_likelihood("log_likelihood")

    def impute(self, x, k=1000, *, n_imputations=None, generator=None, max_elements=2**25):
        raise self._no_likelihood("impute")


class VAE(_SharedVerbs, nn.Module):
    """A variational autoencoder composed of encoder, prior, decoder and likelihood.

    The encoder gives q(z|x) = N(mu, diag(sigma^2)); z = mu + sigma * eps (reparameterisation,
    Kingma & Welling 2014); the decoder gives the parameters of p(x|z). Training minimises
    reconstruction NLL + beta * KL(q(z|x) || p(z)), or the IWAE bound when ``iwae_k > 1``.

    Parameters
    ----------
    config : ModelConfig
        Architecture and objective.
    data_spec : DataSpec or None
        What the model is trained on (kept with the model so new inputs are preprocessed the same way).

    Examples
    --------
    >>> import torch
    >>> from vaekit.config import ModelConfig
    >>> model = VAE(ModelConfig(data_shape=(6,), latent_dim=2, hidden_dims=(8,), likelihood="gaussian"))
    >>> q = model.encode(torch.randn(5, 6))
    >>> q.batch_shape, q.event_shape
    (torch.Size([5]), torch.Size([2]))
    >>> model.decode(q.mean).log_prob(torch.randn(5, 6)).shape
    torch.Size([5])
    """

    #: decoder-side posterior parameters per latent dimension (mean and log-variance)
    _posterior_params = 2
    #: whether the model bounds log p(x) (ELBO, IWAE, likelihood scores, bits-back coding)
    has_density = True

    def __init__(self, config: ModelConfig, *, data_spec: DataSpec | None = None):
        super().__init__()
        if not isinstance(config, ModelConfig):
            raise ConfigError(f"The 'config' parameter of {type(self).__name__} must be a ModelConfig. "
                              f"Got {type(config).__name__} instead.")
        self.config = config
        self.data_spec = data_spec
        # With missing="ignore" the encoder reads [x with NaN set to 0, observed mask] stacked on the
        # feature (MLP) or channel (conv) axis, so a missing entry is never confused with an observed 0.
        enc_config = config
        if config.missing == "ignore":
            doubled = (2 * config.data_shape[0], *config.data_shape[1:])
            enc_config = dataclasses.replace(config, data_shape=doubled)
        out_dim = self._posterior_params * config.latent_dim
        self.likelihood = build_likelihood(config)
        if config.conditioning == "none":
            self.encoder = build_encoder(enc_config, out_dim)
            self.decoder = build_decoder(config, self.likelihood.n_params)
        else:
            # q(z|x,y): a trunk reads x once, then a head reads [trunk features, one-hot y], so summing
            # over every class of an unlabelled example runs the trunk once (Kingma et al. 2014, M2).
            self.encoder, width = encoder_trunk(enc_config)
            act = None if isinstance(self.encoder, nn.Flatten) else config.activation
            self.label_head = LabelHead(width, config.num_classes, out_dim, act)
            # p(x|z,y): the decoder reads [z, one-hot y].
            dec_config = dataclasses.replace(config, latent_dim=config.latent_dim + config.num_classes)
            self.decoder = build_decoder(dec_config, self.likelihood.n_params)
        if config.conditioning == "semi_supervised" and config.auxiliary_dim:
            # ADGM (Maaloe et al. 2016): a ~ q(a|x), the classifier q(y|a,x), and p(a|x,y,z) on the generative side
            self.classifier = AuxiliaryClassifier(enc_config, config.num_classes, config.auxiliary_dim)
            self.aux_prior = AuxiliaryPrior(config, width, act)
        elif config.conditioning == "semi_supervised":
            # q(y|x): the same network family as the encoder, ending in class logits.
            self.classifier = build_encoder(enc_config, config.num_classes)
        self.prior = build_prior(config, encode=self.encode)

    # ------------------------------------------------------------------ construction
    @classmethod
    def for_data(cls, data, *, preset: str = "default", **overrides: Any) -> "VAE":
        """Build a model whose nets and likelihood suit ``data`` (a Dataset or DataSpec).

        Parameters
        ----------
        data : Dataset or DataSpec
        preset : str
            A recipe of the data's kind (``"default"``; grey images also ``"fast"``, ``"best"``); train it
            with ``default_train_config(spec, preset=...)`` (``vaekit train --preset`` does both).
        **overrides
            Any :class:`~vaekit.config.ModelConfig` field, e.g. ``latent_dim=16``.

        A semi-supervised model (``conditioning="semi_supervised"``) of a partly labelled Dataset gets,
        unless ``classifier_weight`` is given, the scaling of Kingma et al. (2014): alpha = 0.1 N / N_l
        (:func:`scaled_classifier_weight`; about 60 for MNIST with 100 labels).
        """
        spec = data if isinstance(data, DataSpec) else getattr(data, "spec", None)
        if spec is None:
            raise ConfigError(f"{cls.__name__}.for_data expects a vaekit Dataset or DataSpec; "
                              f"got {type(data).__name__}. Use vaekit.datasets.from_array(x) first.")
        if (overrides.get("conditioning") == "semi_supervised" and overrides.get("classifier_weight") is None
                and not isinstance(data, DataSpec)):
            weight = scaled_classifier_weight(data)
            if weight is not None:
                overrides = {**overrides, "classifier_weight": weight}
        return cls(default_config(spec, preset=preset, **overrides), data_spec=spec)

    @property
    def latent_dim(self) -> int:
        return self.config.latent_dim

    @property
    def num_classes(self) -> int:
        """Number of classes of the label y (0 for a model without conditioning)."""
        return self.config.num_classes

    @property
    def conditional(self) -> bool:
        """Whether the model is conditioned on a class label (CVAE or semi-supervised M2)."""
        return self.config.conditioning != "none"

    @property
    def has_classifier(self) -> bool:
        """Whether the model holds a classifier q(y|x) (``conditioning="semi_supervised"``)."""
        return self.config.conditioning == "semi_supervised"

    @property
    def data_shape(self) -> tuple[int, ...]:
        return self.config.data_shape

    @property
    def device(self) -> torch.device:
        return next(self.parameters()).device

    @property
    def data_needs(self):
        """What training data this model needs (a :class:`vaekit.data.samplers.DataNeeds`): labels for
        every example (CVAE), labels for some with the labelled ones kept out of validation and topped
        up in every batch (semi-supervised M2), or none."""
        from .data.samplers import DataNeeds

        if not self.conditional:
            return DataNeeds()
        if self.has_classifier:
            return DataNeeds(labels="some", keep_labelled=True, top_up_labelled=True)
        return DataNeeds(labels="all")

    def check_data(self, data) -> None:
        """Refuse training data that does not fit: wrong example shape, or labels this model cannot use.

        A conditioned model needs labels: all of them (CVAE) or some of every class (semi-supervised).
        """
        if tuple(data.shape) != tuple(self.data_shape):
            raise DataError(f"Dataset '{data.name}' has examples of shape {tuple(data.shape)}, "
                            f"but the model expects {tuple(self.data_shape)}.")
        if not self.conditional:
            return
        what = "semi-supervised" if self.has_classifier else "conditional"
        if data.y is None:
            raise DataError(f"A {what} model trains on labels, but dataset '{data.name}' has none. Give labels "
                            f"(--labels FILE, a labelled folder or table) or train an unconditioned model.")
        known = data.y[data.y >= 0]
        if len(known) and int(known.max()) >= self.num_classes:
            raise DataError(f"Dataset '{data.name}' has label {int(known.max())}, but the model has "
                            f"{self.num_classes} classes (0..{self.num_classes - 1}).")
        if not self.has_classifier and len(known) < len(data):
            raise DataError(f"A conditional VAE (CVAE) needs the label of every example; {len(data) - len(known):,} "
                            f"of {len(data):,} examples of dataset '{data.name}' are unlabelled. Train with "
                            f"conditioning='semi_supervised' (--semi-supervised) to use unlabelled examples.")
        if self.has_classifier and len(known) == 0:
            raise DataError(f"Semi-supervised training needs some labelled examples; dataset '{data.name}' has none.")

    def initialize(self, seed: int) -> "VAE":
        """Re-draw every layer's initial weights from ``seed`` (the global RNG is left untouched)."""
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            for m in self.modules():
                if m is not self and hasattr(m, "reset_parameters"):
                    m.reset_parameters()
        if hasattr(self.likelihood, "log_scale"):
            with torch.no_grad():
                self.likelihood.log_scale.zero_()
        return self

    def extra_repr(self) -> str:
        c = self.config
        text = f"data_shape={c.data_shape}, latent_dim={c.latent_dim}, net={c.net!r}, likelihood={c.likelihood!r}"
        if c.conditioning != "none":
            text += f", conditioning={c.conditioning!r}, num_classes={c.num_classes}"
        return text

    def check_input(self, x: torch.Tensor) -> torch.Tensor:
        """Accept (batch, *data_shape), or flat (batch, prod(data_shape)); else a clear DataError."""
        if not isinstance(x, torch.Tensor):
            raise DataError(f"x must be a torch.Tensor of shape (batch, {', '.join(map(str, self.data_shape))}); "
                            f"got {type(x).__name__}.")
        if tuple(x.shape[1:]) == self.data_shape:
            return x
        if x.dim() == 2 and x.shape[1] == math.prod(self.data_shape):
            return x.view(x.shape[0], *self.data_shape)
        raise DataError(f"x has shape {tuple(x.shape)}, but {type(self).__name__} expects "
                        f"(batch, {', '.join(map(str, self.data_shape))}).")

    def _encoder_input(self, x: torch.Tensor) -> torch.Tensor:
        """x as the encoder reads it: with ``missing="ignore"``, [x with NaN -> 0, mask] on axis 1."""
        x = self.check_input(x)
        if self.config.missing != "ignore":
            return x
        observed = ~torch.isnan(x)  # (batch, *data_shape)
        return torch.cat([torch.where(observed, x, torch.zeros_like(x)), observed.to(x.dtype)], dim=1)

    def log_px(self, p: Distribution, x: torch.Tensor) -> torch.Tensor:
        """log p(x|z) summed over the observed entries of x: shape ``p.batch_shape``.

        With ``missing="ignore"``, NaN entries of ``x`` are missing and contribute nothing (MIWAE,
        Mattei & Frellsen 2019, eq. 4); otherwise this is ``p.log_prob(x)``.

        Parameters
        ----------
        p : Distribution
            ``decode(z)``, batch shape (..., batch), event shape data_shape.
        x : Tensor of shape (batch, *data_shape), broadcastable to p's shape

        Examples
        --------
        >>> import torch
        >>> from vaekit.config import ModelConfig
        >>> m = VAE(ModelConfig(data_shape=(3,), latent_dim=2, hidden_dims=(), likelihood="gaussian", missing="ignore"))
        >>> x = torch.tensor([[0.5, float("nan"), -1.0]])
        >>> m.log_px(m.decode(torch.zeros(1, 2)), x).isfinite().item()
        True
        """
        if self.config.missing != "ignore":
            return p.log_prob(x)
        observed = ~torch.isnan(x)
        filled = torch.where(observed, x, torch.zeros_like(x))
        per_entry = p.base_dist.log_prob(filled.expand(p.base_dist.batch_shape))  # (..., batch, *data_shape)
        per_entry = torch.where(observed, per_entry, torch.zeros_like(per_entry))
        return per_entry.flatten(-len(self.data_shape)).sum(-1)

    # ------------------------------------------------------------------ the two distributions
    def encode(self, x: torch.Tensor, y: torch.Tensor | None = None) -> Distribution:
        """q(z|x) (or q(z|x,y)): a distribution with batch shape (batch,) and event shape (latent_dim,).

        Parameters
        ----------
        x : Tensor of shape (batch, *data_shape)
            With ``missing="ignore"``, NaN marks missing entries.
        y : Tensor of shape (batch,), int, or None
            Class labels of a conditioned model. For a semi-supervised model, None (or -1 entries) means
            the label predicted by q(y|x); for a conditional model (CVAE), None means the class whose
            ELBO is highest (see :meth:`_resolve_labels`).
        """
        h = self.encoder(self._encoder_input(x))  # (batch, 2 * latent_dim), or trunk features
        if self.conditional:
            y = self._resolve_labels(x, y)
            h = self.label_head(h, self._one_hot(y, h.dtype))
        return self._posterior(h)

    def _posterior(self, h: torch.Tensor) -> Distribution:
        q = _diagonal_normal(h, (self.config.logvar_min, self.config.logvar_max))
        # A prior may shape inference (the ladder prior's top-down posterior); while the prior is being
        # built (a VampPrior calls encode) there is none yet.
        prior = self._modules.get("prior")
        return q if prior is None else prior.posterior(q)

    def decode(self, z: torch.Tensor, y: torch.Tensor | None = None, *, noise=None) -> Distribution:
        """p(x|z) (or p(x|z,y)): batch shape ``z.shape[:-1]``, event shape ``data_shape``.

        ``log_prob(x)`` sums over data dims.

        Parameters
        ----------
        z : Tensor of shape (..., latent_dim)
        y : Tensor of int, broadcastable to ``z.shape[:-1]``, or None
            Class labels; needed by (and only by) a conditioned model.
        noise : torch.Generator or None
            Training noise for a decoder that draws its own (the word dropout of ``net="sequence"``).
        """
        if self.conditional:
            if y is None:
                raise ConfigError(
                    f"This {type(self).__name__} generates conditionally (conditioning="
                    f"{self.config.conditioning!r}): pass y, a class index in 0..{self.num_classes - 1} per z.")
            y = torch.as_tensor(y, device=z.device)
            self._check_label_range(y, allow_missing=False)
            onehot = self._one_hot(y.expand(z.shape[:-1]), z.dtype)
            z = torch.cat([z, onehot], dim=-1)
        if noise is not None and getattr(self.decoder, "takes_noise", False):
            params = self.decoder(z, noise=noise)  # a decoder with noise of its own (word dropout)
        else:
            params = self.decoder(z)
        # the likelihood's math in float32 even when the nets ran under a bf16/fp16 autocast
        return self.likelihood(full_precision(params))

    # ------------------------------------------------------------------ labels
    def _one_hot(self, y: torch.Tensor, dtype) -> torch.Tensor:
        return F.one_hot(y.long(), self.num_classes).to(dtype)

    def _check_label_range(self, y: torch.Tensor, *, allow_missing: bool) -> None:
        if y.is_floating_point():
            if not torch.equal(y, y.round()):
                raise DataError("Labels y must be integers (class indices); got non-integer values.")
        low = -1 if allow_missing else 0
        if y.numel() and (int(y.min()) < low or int(y.max()) >= self.num_classes):
            bad = int(y.min()) if int(y.min()) < low else int(y.max())
            missing = " (or -1 for unknown)" if allow_missing else ""
            raise DataError(f"Label {bad} is out of range: this model has {self.num_classes} classes, so labels "
                            f"must be in 0..{self.num_classes - 1}{missing}.")

    def _check_y(self, y, n: int, *, allow_missing: bool) -> torch.Tensor:
        """Labels as an int64 tensor of shape (n,), range-checked; -1 (unknown) only if ``allow_missing``."""
        y = torch.as_tensor(y)
        if y.shape != (n,):
            raise DataError(f"y has shape {tuple(y.shape)}, but there are {n} examples: expected ({n},).")
        self._check_label_range(y, allow_missing=allow_missing)
        return y.long()

    def _resolve_labels(self, x: torch.Tensor, y) -> torch.Tensor:
        """Labels for q(z|x,y): given ones kept, unknown (None or -1) ones predicted by q(y|x).

        A CVAE has no classifier: without ``y`` it takes the Bayes choice under its own model and the
        uniform p(y), argmax_y of the ELBO of (x, y) at the posterior mean (deterministic).
        """
        n = x.shape[0]
        if y is None and not self.has_classifier:
            return self._most_likely_labels(x)
        y = None if y is None else self._check_y(y, n, allow_missing=self.has_classifier).to(x.device)
        if y is not None and bool((y >= 0).all()):
            return y
        predicted = self._class_logits(self._encoder_input(x)).argmax(-1)
        return predicted if y is None else torch.where(y >= 0, y, predicted)

    def _most_likely_labels(self, x: torch.Tensor) -> torch.Tensor:
        h = self.encoder(self._encoder_input(x))
        scores = []
        for c in range(self.num_classes):
            yc = torch.full((x.shape[0],), c, device=x.device, dtype=torch.long)
            q = self._posterior(self.label_head(h, self._one_hot(yc, h.dtype)))
            scores.append(self.log_px(self.decode(q.mean, yc), x) - self._kl_z(q, q.mean))
        return torch.stack(scores).argmax(0)

    def class_logits(self, x: torch.Tensor) -> torch.Tensor:
        """Logits of the classifier q(y|x): (batch, *data_shape) -> (batch, num_classes)."""
        if not self.has_classifier:
            raise ConfigError(
                f"This {type(self).__name__} has no classifier q(y|x) (conditioning={self.config.conditioning!r}); "
                f"train it with conditioning='semi_supervised' (vaekit train ... --semi-supervised).")
        return self._class_logits(self._encoder_input(x))

    def _log_pa(self, h: torch.Tensor, y: torch.Tensor, z: torch.Tensor, a: torch.Tensor) -> torch.Tensor:
        """log p(a|x,y,z) of an ADGM: trunk features ``h`` (..., width), labels ``y`` (...), ``z``, ``a``."""
        return self.aux_prior(h, z, self._one_hot(y, h.dtype)).log_prob(a)

    def _class_logits(self, enc_in: torch.Tensor) -> torch.Tensor:
        """q(y|x)'s logits for encoder input ``enc_in``; with an auxiliary latent, q(y|a,x) at the mean of q(a|x)."""
        if self.config.auxiliary_dim:
            h = self.classifier.trunk(enc_in)
            logits = self.classifier.logits(h, self.classifier.posterior(h).mean)
        else:
            logits = self.classifier(enc_in)
        return full_precision(logits)

    @staticmethod
    def reparameterize(q: Distribution, n: int | None = None, generator: torch.Generator | None = None, *,
                       eps: torch.Tensor | None = None) -> torch.Tensor:
        """z = mu + sigma * eps: (batch, latent) or (n, batch, latent).

        ``eps`` is drawn from ``generator``, or given: shape (n, latent_dim) shares the same n draws
        across every example of the batch (common random numbers, so scores differ between examples only
        through the examples), (n, batch, latent_dim) gives each its own. A point-mass posterior (the
        autoencoder's) gives its code, repeated ``n`` times.
        """
        if isinstance(q, PointMass):
            return q.rsample(() if n is None else (n,))
        if hasattr(q, "rsample_with"):  # a posterior that is a function of noise (the ladder's top-down one)
            if eps is None:
                shape = (*q.batch_shape, *q.event_shape) if n is None else (n, *q.batch_shape, *q.event_shape)
                eps = noise.randn(shape, generator, batch_axis=0 if n is None else 1, device=q.loc_hat.device,
                                  dtype=q.loc_hat.dtype)
            elif eps.dim() == 2:
                eps = eps[:, None, :]  # (n, 1, latent): the same draws for every example
            return q.rsample_with(eps.to(device=q.loc_hat.device, dtype=q.loc_hat.dtype))
        base = q.base_dist if isinstance(q, Independent) else q
        if eps is not None:
            eps = eps.to(device=base.loc.device, dtype=base.loc.dtype)
            if eps.dim() == 2:
                eps = eps[:, None, :]  # (n, 1, latent): the same draws for every example
            return base.loc + base.scale * eps  # (n, batch, latent)
        shape = base.loc.shape if n is None else (n, *base.loc.shape)
        # the example axis is the first of loc's batch axes: 0, or 1 behind the n samples
        axis = (0 if n is None else 1) + max(0, base.loc.dim() - 2)
        eps = noise.randn(shape, generator, batch_axis=axis, device=base.loc.device, dtype=base.loc.dtype)
        return base.loc + base.scale * eps

    # ------------------------------------------------------------------ objectives
    def objective(
        self,
        x: torch.Tensor,
        *,
        kl_weight: float | None = None,
        target: torch.Tensor | None = None,
        generator: torch.Generator | None = None,
        y: torch.Tensor | None = None,
    ) -> Objective:
        """The training objective on a batch.

        Parameters
        ----------
        x : Tensor of shape (batch, *data_shape)
            Encoder input.
        kl_weight : float or None
            Weight of the KL term; defaults to ``config.beta`` (the trainer passes beta times the warm-up factor).
        target : Tensor of shape (batch, *data_shape) or None
            What the likelihood scores. When None, it is ``x``, and with ``config.corruption`` set the
            encoder reads a corrupted copy of ``x`` (the denoising criterion, Im et al. 2017); an
            explicit target means ``x`` is already the corrupted input.
        generator : torch.Generator or None
            Source of the reparameterisation (and corruption) noise.
        y : Tensor of shape (batch,), int, or None
            Class labels of a conditioned model (ignored otherwise); -1 marks an unlabelled example of a
            semi-supervised model. See :meth:`_labelled_objective`.
        """
        x, target = self._input_and_target(x, target, generator)
        w = self.config.beta if kl_weight is None else kl_weight
        if self.conditional:
            return self._labelled_objective(x, target, y, _one_weight(w), generator)
        q = self.encode(x)
        k = self.config.iwae_k
        if k > 1:
            return self._iwae_objective(target, q, k, w, generator)
        z = self.reparameterize(q, None, generator)  # (batch, latent_dim)
        rec = -self.log_px(self.decode(z, noise=generator), target)  # (batch,)  Kingma & Welling 2014, eq. 10
        if hasattr(q, "log_prob_layers"):  # hierarchical latents: a KL per layer
            kl_layers = q.log_prob_layers(z) - self.prior.log_prob_layers(z)  # (batch, L), one-sample MC
            per_layer = kl_layers.mean(0)
            if self.config.free_bits > 0:
                # free bits per layer (a group of dims_l dimensions): no pressure below lambda * dims_l nats
                floor = self.config.free_bits * torch.tensor(self.prior.dims, dtype=per_layer.dtype, device=per_layer.device)
                per_layer = torch.maximum(per_layer, floor)
            weights = torch.as_tensor(w, dtype=per_layer.dtype, device=per_layer.device).expand_as(per_layer)
            loss = rec.mean() + (weights * per_layer).sum()  # a KL weight per layer (per-layer warm-up)
            return Objective(loss=loss, reconstruction_nll=rec, kl=kl_layers.sum(-1))
        w = _one_weight(w)
        kl_dims = self.prior.kl_per_dim(q)  # (batch, latent_dim) or None
        if kl_dims is None:
            kl = q.log_prob(z) - self.prior.log_prob(z)  # single-sample Monte Carlo KL
            kl_term = kl.mean()
            if self.config.free_bits > 0:
                # free bits for the latent as one group (a learned prior does not factorise over dimensions):
                # no pressure while the batch's mean KL is below lambda nats per dimension
                kl_term = kl_term.clamp(min=self.config.free_bits * self.config.latent_dim)
        else:
            kl = kl_dims.sum(-1)
            if self.config.free_bits > 0:
                # Free bits (Kingma et al. 2016, eq. 15): no pressure on a dimension below lambda nats.
                kl_term = kl_dims.mean(0).clamp(min=self.config.free_bits).sum()
            else:
                kl_term = kl.mean()
        loss = rec.mean() + w * kl_term
        return Objective(loss=loss, reconstruction_nll=rec, kl=kl)

    def _kl_z(self, q: Distribution, z: torch.Tensor) -> torch.Tensor:
        """KL(q(z|.) || p(z)) per example: closed form when the prior allows it, else one-sample Monte Carlo."""
        kl_dims = self.prior.kl_per_dim(q)
        return kl_dims.sum(-1) if kl_dims is not None else q.log_prob(z) - self.prior.log_prob(z)

    def _labelled_objective(self, x, target, y, w, generator) -> Objective:
        """The bound of a label-conditioned model (Kingma et al. 2014, eqs. 6-9; Sohn et al. 2015).

        Labelled example (x, y): -L(x, y) = E_q(z|x,y)[-log p(x|y,z)] + KL(q(z|x,y) || p(z)) - log p(y).
        Unlabelled example (semi-supervised only): -U(x) = sum_y q(y|x) (-L(x, y)) - H(q(y|x)), with the
        sum over every class done exactly. ``reconstruction_nll`` holds the (expected) first term and ``kl``
        the rest, so ``neg_elbo`` is -L(x, y) or -U(x). The loss adds ``classifier_weight`` times the
        mean of -log q(y|x) over labelled examples (the alpha term of eq. 9). ``extra`` holds
        ``"labelled"`` (bool mask), ``"class_nll"`` (-log q(y|x); 0 where unlabelled) and, for a
        semi-supervised model, ``"class_probs"`` q(y|x). For a CVAE, -log p(y) is omitted (it
        models p(x|y)).
        """
        n, K = x.shape[0], self.num_classes
        if y is None:
            raise DataError(f"This {type(self).__name__} is conditioned on labels (conditioning="
                            f"{self.config.conditioning!r}): its objective needs y, a label per example.")
        semi = self.has_classifier
        y = self._check_y(y, n, allow_missing=semi).to(x.device)
        labelled = y >= 0
        enc_in = self._encoder_input(x)
        h = self.encoder(enc_in)  # trunk features, (n, width)
        rec = torch.zeros(n, device=x.device, dtype=x.dtype)
        kl = torch.zeros_like(rec)
        kl_z_all = torch.zeros_like(rec)
        extra: dict[str, torch.Tensor] = {"labelled": labelled}
        log_k = math.log(K) if semi else 0.0  # -log p(y) under the uniform label prior
        if bool(labelled.any()):
            yl = y[labelled]
            q = self._posterior(self.label_head(h[labelled], self._one_hot(yl, h.dtype)))
            z = self.reparameterize(q, None, generator)
            rec_l = -self.log_px(self.decode(z, yl), target[labelled])
            kl_l = self._kl_z(q, z)
            rec = rec.masked_scatter(labelled, rec_l)
            kl_z_all = kl_z_all.masked_scatter(labelled, kl_l)
            kl = kl.masked_scatter(labelled, kl_l + log_k)
        class_term = torch.zeros((), device=x.device, dtype=x.dtype)
        aux = self.config.auxiliary_dim if semi else 0
        if aux:  # ADGM: a ~ q(a|x) once per example; -log p(a|x,y,z) + log q(a|x) joins the KL side
            hc = self.classifier.trunk(enc_in)
            q_a = self.classifier.posterior(hc)
            a = self.reparameterize(q_a, None, generator)  # (n, aux)
            log_qa = q_a.log_prob(a)
            if bool(labelled.any()):
                aux_l = log_qa[labelled] - self._log_pa(h[labelled], yl, z, a[labelled])
                kl = kl.masked_scatter(labelled, kl[labelled] + aux_l)
        if semi:
            logits = full_precision(self.classifier.logits(hc, a) if aux else self.classifier(enc_in))  # (n, K)
            log_qy = torch.log_softmax(logits, dim=-1)
            class_nll = torch.zeros_like(rec)
            if bool(labelled.any()):
                nll_l = -log_qy[labelled].gather(1, y[labelled, None])[:, 0]
                class_nll = class_nll.masked_scatter(labelled, nll_l)
                class_term = nll_l.mean()
            extra["class_nll"] = class_nll
            extra["class_probs"] = log_qy.exp()
            unl = ~labelled
            if bool(unl.any()):
                m = int(unl.sum())
                hu = h[unl]  # (m, width)
                classes = torch.arange(K, device=x.device)
                onehot = self._one_hot(classes, h.dtype)[:, None, :].expand(K, m, K)  # (K, m, K)
                q = self._posterior(self.label_head(hu.expand(K, *hu.shape), onehot))  # batch (K, m)
                z = self.reparameterize(q, None, generator)  # (K, m, latent)
                rec_y = -self.log_px(self.decode(z, classes[:, None]), target[unl].expand(K, *target[unl].shape))
                kl_y = self._kl_z(q, z)  # (K, m)
                qy = log_qy[unl].exp().T  # (K, m)
                rec_u = (qy * rec_y).sum(0)
                kl_zu = (qy * kl_y).sum(0)
                # KL(q(y|x) || uniform) = sum_y q log q + log K
                kl_yu = (qy * log_qy[unl].T).sum(0) + log_k
                if aux:  # E_q(y|a,x)[-log p(a|x,y,z_y)] + log q(a|x)
                    log_pa = self._log_pa(hu.expand(K, *hu.shape), classes[:, None].expand(K, m), z,
                                          a[unl].expand(K, m, aux))  # (K, m)
                    kl_yu = kl_yu + log_qa[unl] - (qy * log_pa).sum(0)
                rec = rec.masked_scatter(unl, rec_u)
                kl_z_all = kl_z_all.masked_scatter(unl, kl_zu)
                kl = kl.masked_scatter(unl, kl_zu + kl_yu)
        # KL warm-up / beta weight the KL of z; the label terms keep weight 1 (they are part of -log p(x)).
        loss = (rec + w * kl_z_all + (kl - kl_z_all)).mean() + self.config.classifier_weight * class_term
        return Objective(loss=loss, reconstruction_nll=rec, kl=kl, extra=extra)

    def _input_and_target(self, x, target, generator):
        """(encoder input, likelihood target): corrupt a copy of x when training a denoiser on x alone."""
        x = self.check_input(x)
        if target is not None:
            return x, self.check_input(target)
        if self.config.corruption == "none" or self.config.corruption_level == 0:
            return x, x
        noisy = corrupt(x, self.config.corruption, self.config.corruption_level, generator=generator,
                        clip=self.likelihood.support == "unit_interval")
        return noisy, x

    def log_weights(self, x: torch.Tensor, q: Distribution, z: torch.Tensor, kl_weight: float = 1.0, y=None):
        """The two parts of the importance log-weights of given latents: log p(x|z) and
        ``kl_weight * (log p(z) - log q(z|x))``, each of shape (k, batch), for z of shape (k, batch, latent_dim).

        Passing z built from fixed noise (z = mu + sigma * eps with the same eps for every example) gives
        common random numbers: scores that differ between examples only through the examples. IWAE is
        ``logsumexp(log_px + log_ratio, 0) - log k``.
        """
        log_px = self.log_px(self.decode(z, y), x.expand(z.shape[0], *x.shape))  # (k, batch)
        if isinstance(kl_weight, (tuple, list)):  # one weight per latent layer (hierarchical latents)
            per_layer = self.prior.log_prob_layers(z) - q.log_prob_layers(z)  # (k, batch, L)
            return log_px, (per_layer * per_layer.new_tensor(kl_weight)).sum(-1)
        log_ratio = self.prior.log_prob(z) - q.log_prob(z)  # (k, batch)
        return log_px, kl_weight * log_ratio

    def _iwae_objective(self, x, q, k, w, generator) -> Objective:
        z = self.reparameterize(q, k, generator)  # (k, batch, latent_dim)
        dreg = self.config.iwae_gradient == "dreg"
        # DReG (Tucker et al. 2019, eq. 7): log q scored with its parameters held fixed, so the encoder's
        # gradient flows through z alone; the hook below turns its weights w_i into w_i^2.
        log_px, log_ratio = self.log_weights(x, _detached(q) if dreg else q, z, w)
        log_w = log_px + log_ratio  # (k, batch)
        # IWAE bound (Burda et al. 2016, eq. 8): log (1/k) sum_i w_i
        bound = torch.logsumexp(log_w, dim=0) - math.log(k)  # (batch,)
        loss = -bound.mean()
        if dreg and torch.is_grad_enabled() and z.requires_grad:
            w_norm = torch.softmax(log_w.detach(), dim=0)  # (k, batch), normalised importance weights
            # d(sum_i w_i log w_i)/dz_i = w_i dlog w_i/dz_i; scaling the gradient reaching z by w_i makes
            # the encoder's path gradient sum_i w_i^2 dlog w_i/dz_i dz_i/dphi; decoder and prior keep w_i.
            z.register_hook(lambda g: g * w_norm[..., None])
            surrogate = -(w_norm * log_w).sum(0).mean()
            loss = surrogate + (loss - surrogate).detach()  # the bound's value, DReG's gradient
        kl_dims = self.prior.kl_per_dim(q)
        kl = kl_dims.sum(-1) if kl_dims is not None else (q.log_prob(z) - self.prior.log_prob(z)).detach().mean(0)
        return Objective(loss=loss, reconstruction_nll=-log_px.mean(0), kl=kl,
                         extra={"iwae_bound": bound})

    def _over_labels(self, bound, x: torch.Tensor, y) -> torch.Tensor:
        """A bound on log p(x|y) for given labels, or on log p(x) = log sum_y p(y) p(x|y) (uniform p(y)).

        Summing exp(bound_y) over every class is exact in y, so a lower bound per class gives one on
        log p(x); -1 entries of ``y`` are summed over too.
        """
        x = self.check_input(x)
        if not self.conditional:
            return bound(x, None)
        y = None if y is None else self._check_y(y, x.shape[0], allow_missing=True).to(x.device)
        if y is not None and bool((y >= 0).all()):
            return bound(x, y)
        per_class = torch.stack([bound(x, torch.full((x.shape[0],), c, device=x.device))
                                 for c in range(self.num_classes)])  # (K, batch)
        marginal = torch.logsumexp(per_class, dim=0) - math.log(self.num_classes)
        if y is None:
            return marginal
        known = per_class.gather(0, y.clamp(min=0)[None])[0]
        return torch.where(y >= 0, known, marginal)

    def elbo(self, x: torch.Tensor, *, generator: torch.Generator | None = None, n_samples: int = 1,
             y: torch.Tensor | None = None) -> torch.Tensor:
        """The evidence lower bound per example, averaged over ``n_samples`` draws of z: shape (batch,).

        Uses the closed-form KL when the prior allows it (lower-variance than the Monte Carlo ELBO).
        For a conditioned model it bounds log p(x|y) given labels ``y``, and log p(x) (summed exactly
        over the classes under a uniform p(y)) without them.
        """
        return self._over_labels(lambda xx, yy: self._elbo(xx, yy, generator, n_samples), x, y)

    def _elbo(self, x, y, generator, n_samples):
        q = self.encode(x, y)
        z = self.reparameterize(q, n_samples, generator)  # (n, batch, latent)
        log_px = self.log_px(self.decode(z, y), x.expand(n_samples, *x.shape)).mean(0)  # (batch,)
        kl_dims = self.prior.kl_per_dim(q)
        kl = kl_dims.sum(-1) if kl_dims is not None else (q.log_prob(z) - self.prior.log_prob(z)).mean(0)
        return log_px - kl

    def iwae(
        self, x: torch.Tensor, k: int, *, generator: torch.Generator | None = None, max_elements: int = 2**25,
        y: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """The IWAE bound log (1/k) sum_i p(x, z_i) / q(z_i|x) per example: shape (batch,).

        Computed in chunks of importance samples so that at most about ``max_elements`` decoder
        outputs exist at once; memory does not grow with ``k``. ``iwae(x, 1)`` is the Monte Carlo ELBO.
        A conditioned model bounds log p(x|y) given ``y``, and log p(x) = log sum_y p(y) p(x|y)
        (every class, uniform p(y)) without it.
        """
        if not isinstance(k, int) or isinstance(k, bool) or k < 1:
            raise ConfigError(f"The 'k' parameter of {type(self).__name__}.iwae must be an int >= 1. Got {k!r} instead.")
        return self._over_labels(lambda xx, yy: self._iwae(xx, yy, k, generator, max_elements), x, y)

    def _iwae(self, x, y, k, generator, max_elements):
        q = self.encode(x, y)
        chunk = self._chunk(x.shape[0], k, max_elements)
        total = None
        done = 0
        while done < k:
            c = min(chunk, k - done)
            z = self.reparameterize(q, c, generator)  # (c, batch, latent)
            log_px, log_ratio = self.log_weights(x, q, z, y=y)
            part = torch.logsumexp(log_px + log_ratio, dim=0)  # (batch,)
            # running log-sum-exp over chunks keeps the estimate exact in k
            total = part if total is None else torch.logaddexp(total, part)
            done += c
        return total - math.log(k)

    @torch.no_grad()
    def log_likelihood(
        self, x: torch.Tensor, k: int = 1000, *, generator: torch.Generator | None = None, max_elements: int = 2**25,
        y: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Importance-sampled estimate of log p(x) (or log p(x|y)) per example, the IWAE bound with ``k``
        samples: (batch,).

        A lower bound in expectation that tightens as ``k`` grows (Burda et al. 2016, Thm. 1).
        """
        return self.iwae(x, k, generator=generator, max_elements=max_elements, y=y)

    def _chunk(self, batch: int, k: int, max_elements: int) -> int:
        """Importance samples per chunk so that about ``max_elements`` decoder outputs exist at once."""
        per_sample = batch * math.prod(self.data_shape) * self.likelihood.n_params
        return max(1, min(k, max_elements // max(per_sample, 1)))

    @torch.no_grad()
    def impute(
        self,
        x: torch.Tensor,
        k: int = 1000,
        *,
        n_imputations: int | None = None,
        generator: torch.Generator | None = None,
        max_elements: int = 2**25,
    ) -> torch.Tensor:
        """Fill the NaN entries of ``x`` by importance sampling (Mattei & Frellsen 2019, Sec. 3).

        With z_1..z_k ~ q(z|x_obs) and self-normalised weights w_i proportional to
        p(x_obs|z_i) p(z_i) / q(z_i|x_obs):

        * single imputation (``n_imputations=None``): the conditional mean E[x_mis|x_obs] estimated as
          sum_i w_i E[x_mis|z_i] (self-normalised importance sampling, eq. 12);
        * multiple imputation: ``n_imputations`` draws by sampling-importance-resampling: pick z_i with
          probability w_i, then draw x_mis ~ p(x_mis|z_i). Their average tends to the single imputation.

        Observed entries are returned unchanged.

        Parameters
        ----------
        x : Tensor of shape (batch, *data_shape)
            NaN marks missing entries. Needs ``config.missing == "ignore"``.
        k : int
            Importance samples per example.
        n_imputations : int or None
            Number of imputations to draw; None gives the single (conditional-mean) imputation.
        generator : torch.Generator or None
        max_elements : int
            Bound on decoder outputs held at once (memory does not grow with ``k``).

        Returns
        -------
        Tensor of shape (batch, *data_shape), or (n_imputations, batch, *data_shape)

        Examples
        --------
        >>> import torch
        >>> from vaekit.config import ModelConfig
        >>> m = VAE(ModelConfig(data_shape=(3,), latent_dim=2, hidden_dims=(8,), likelihood="gaussian", missing="ignore"))
        >>> x = torch.tensor([[0.5, float("nan"), -1.0]])
        >>> out = m.impute(x, k=50, generator=torch.Generator().manual_seed(0))
        >>> out[0, 0].item(), bool(torch.isfinite(out).all())
        (0.5, True)
        >>> m.impute(x, k=50, n_imputations=4).shape
        torch.Size([4, 1, 3])
        """
        if self.config.missing != "ignore":
            raise ConfigError(f"{type(self).__name__}.impute needs a model trained with missing='ignore' "
                              f"(it scores observed entries only). Got missing={self.config.missing!r}.")
        if not isinstance(k, int) or isinstance(k, bool) or k < 1:
            raise ConfigError(f"The 'k' parameter of {type(self).__name__}.impute must be an int >= 1. Got {k!r} instead.")
        if n_imputations is not None and (not isinstance(n_imputations, int) or isinstance(n_imputations, bool)
                                          or n_imputations < 1):
            raise ConfigError(f"The 'n_imputations' parameter of {type(self).__name__}.impute must be an int >= 1 "
                              f"or None. Got {n_imputations!r} instead.")
        x = self.check_input(x)
        observed = ~torch.isnan(x)
        q = self.encode(x)
        chunk = self._chunk(x.shape[0], k, max_elements)
        shape = (x.shape[0], *([1] * len(self.data_shape)))
        log_w_parts, z_parts = [], []
        run_max = torch.full((x.shape[0],), -math.inf, device=x.device, dtype=x.dtype)  # (batch,)
        norm = torch.zeros_like(run_max)  # sum_i exp(log_w_i - run_max)
        acc = torch.zeros_like(x)  # sum_i exp(log_w_i - run_max) * E[x|z_i]
        done = 0
        while done < k:
            c = min(chunk, k - done)
            z = self.reparameterize(q, c, generator)  # (c, batch, latent)
            p = self.decode(z)
            log_w = self.log_px(p, x.expand(c, *x.shape)) + self.prior.log_prob(z) - q.log_prob(z)  # (c, batch)
            if n_imputations is None:
                # streaming self-normalised weighted mean, rescaled as the running max grows
                new_max = torch.maximum(run_max, log_w.max(0).values)
                scale = torch.exp(run_max - new_max)  # (batch,)
                e = torch.exp(log_w - new_max)  # (c, batch)
                norm = norm * scale + e.sum(0)
                acc = acc * scale.view(shape) + (e.view(c, *shape) * p.mean).sum(0)
                run_max = new_max
            else:
                log_w_parts.append(log_w)
                z_parts.append(z)
            done += c
        if n_imputations is None:
            filled = acc / norm.view(shape)  # (batch, *data_shape)
            return torch.where(observed, x, filled)
        log_w = torch.cat(log_w_parts)  # (k, batch)
        zs = torch.cat(z_parts)  # (k, batch, latent)
        # sampling-importance-resampling: n_imputations indices per example, drawn with probabilities w
        idx = noise.multinomial(torch.softmax(log_w, dim=0).T, generator, n_imputations,
                                replacement=True)  # (batch, n_imputations)
        batch_index = torch.arange(x.shape[0], device=x.device)
        chosen = zs[idx.T, batch_index]  # (n_imputations, batch, latent)
        draws = self.likelihood.sample(self.decode(chosen), generator)  # (n_imputations, batch, *data_shape)
        return torch.where(observed, x, draws)

    # ------------------------------------------------------------------ verbs
    @torch.no_grad()
    def embed(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        """Posterior means E[z|x] (E[z|x,y] for a conditioned model): (batch, *data_shape) -> (batch, latent_dim)."""
        return self.encode(x, y).mean

    def _labels_or_predicted(self, x: torch.Tensor, y) -> torch.Tensor | None:
        """The labels a conditioned model encodes and decodes ``x`` with (given, else predicted)."""
        return self._resolve_labels(self.check_input(x), y) if self.conditional else None

    @torch.no_grad()
    def reconstruct(self, x: torch.Tensor, *, sample_latent: bool = False,
                    generator: torch.Generator | None = None, y: torch.Tensor | None = None) -> torch.Tensor:
        """Decoder mean at the posterior mean (or at a posterior draw): (batch, *data_shape).

        A conditioned model encodes and decodes with labels ``y`` (predicted by q(y|x) where unknown).
        """
        y = self._labels_or_predicted(x, y)
        q = self.encode(x, y)
        z = self.reparameterize(q, None, generator) if sample_latent else q.mean
        return self.decode(z, y).mean

    def sample_labels(self, n: int, y=None, *, generator: torch.Generator | None = None) -> torch.Tensor | None:
        """Labels for :meth:`sample`: ``y`` (an int or ``n`` ints) checked, or drawn from the uniform p(y)."""
        if not self.conditional:
            if y is not None:
                raise ConfigError(f"This {type(self).__name__} is not conditioned on labels, so it cannot sample a "
                                  f"given class. Train it with --semi-supervised or --conditional for that.")
            return None
        if y is None:
            return torch.randint(self.num_classes, (n,), generator=generator).to(self.device)
        y = torch.as_tensor(y)
        y = y.expand(n) if y.dim() == 0 else y
        return self._check_y(y, n, allow_missing=False).to(self.device)

    @torch.no_grad()
    def sample(
        self, n: int, *, generator: torch.Generator | None = None, temperature: float = 1.0, mean: bool = True,
        y=None,
    ) -> torch.Tensor:
        """Generate ``n`` examples: z ~ p(z) (scaled by ``temperature``), then the decoder mean
        (``mean=True``, the usual picture) or a draw x ~ p(x|z). Shape (n, *data_shape).

        A conditioned model generates class ``y`` (an int, or ``n`` ints); without ``y`` the classes are
        drawn from the uniform p(y).
        """
        if not isinstance(n, int) or isinstance(n, bool) or n < 1:
            raise ConfigError(f"The 'n' parameter of {type(self).__name__}.sample must be an int >= 1. Got {n!r} instead.")
        if not (isinstance(temperature, (int, float)) and temperature >= 0):
            raise ConfigError(f"The 'temperature' parameter of {type(self).__name__}.sample must be a float >= 0. "
                              f"Got {temperature!r} instead.")
        labels = self.sample_labels(n, y, generator=generator)
        z = self.prior.sample(n, generator=generator, temperature=float(temperature))
        p = self.decode(z, labels)
        return p.mean if mean else self.likelihood.sample(p, generator)

    @torch.no_grad()
    def interpolate(self, a: torch.Tensor, b: torch.Tensor, steps: int = 8, *, spherical: bool = False) -> torch.Tensor:
        """Decode ``steps`` points between the posterior means of ``a`` and ``b`` (single examples).

        Parameters
        ----------
        a, b : Tensor of shape data_shape or (1, *data_shape)
        steps : int
            Number of points including both ends.
        spherical : bool
            Slerp instead of a straight line (White 2016), which keeps points at typical prior radius.

        Returns
        -------
        Tensor of shape (steps, *data_shape)
        """
        if not isinstance(steps, int) or steps < 2:
            raise ConfigError(f"The 'steps' parameter of {type(self).__name__}.interpolate must be an int >= 2. "
                              f"Got {steps!r} instead.")
        a, b = a.reshape(1, *self.data_shape), b.reshape(1, *self.data_shape)
        # a conditioned model keeps the (given or predicted) label of ``a`` along the path
        y = self._labels_or_predicted(a, None)
        za = self.embed(a, y)[0]
        zb = self.embed(b, y)[0]
        return self.decode(interpolate_latents(za, zb, steps, spherical=spherical), y).mean


def _one_weight(w) -> float:
    """A single KL weight: per-layer weights need a hierarchical model (a ladder prior)."""
    if isinstance(w, (tuple, list)):
        raise ConfigError(f"Per-layer KL weights {tuple(w)} need a model with hierarchical latents (prior='ladder').")
    return w


def _detached(q: Distribution) -> Distribution:
    """q(z|x) with its parameters cut from the graph (for scoring log q without its score-function gradient)."""
    base = q.base_dist if isinstance(q, Independent) else q
    out = Normal(base.loc.detach(), base.scale.detach())
    return Independent(out, 1) if isinstance(q, Independent) else out


class AuxiliaryClassifier(nn.Module):
    """The inference side of an ADGM's auxiliary latent: q(a|x) and q(y|a,x) over one trunk of x."""

    def __init__(self, enc_config: ModelConfig, num_classes: int, aux_dim: int):
        super().__init__()
        self.trunk, width = encoder_trunk(enc_config)
        act = None if isinstance(self.trunk, nn.Flatten) else enc_config.activation
        self.act = nn.Identity() if act is None else activation(act)
        self.q_a = nn.Linear(width, 2 * aux_dim)
        hidden = _aux_hidden(width)
        self.head = nn.Sequential(nn.Linear(width + aux_dim, hidden), activation(enc_config.activation),
                                  nn.Linear(hidden, num_classes))
        self.logvar_range = (enc_config.logvar_min, enc_config.logvar_max)

    def posterior(self, h: torch.Tensor) -> Distribution:
        """q(a|x) from trunk features ``h``: a diagonal Gaussian."""
        return _diagonal_normal(self.q_a(self.act(h)), self.logvar_range)

    def logits(self, h: torch.Tensor, a: torch.Tensor) -> torch.Tensor:
        """Logits of q(y|a,x)."""
        return self.head(torch.cat([self.act(h), a], dim=-1))


class AuxiliaryPrior(nn.Module):
    """p(a|x,y,z) of an ADGM: [act(features of x), z, one-hot y] -> a diagonal Gaussian over a."""

    def __init__(self, config: ModelConfig, width: int, act: str | None):
        super().__init__()
        self.act = nn.Identity() if act is None else activation(act)
        hidden = _aux_hidden(width)
        self.net = nn.Sequential(nn.Linear(width + config.latent_dim + config.num_classes, hidden),
                                 activation(config.activation), nn.Linear(hidden, 2 * config.auxiliary_dim))
        self.logvar_range = (config.logvar_min, config.logvar_max)

    def forward(self, h: torch.Tensor, z: torch.Tensor, onehot: torch.Tensor) -> Distribution:
        return _diagonal_normal(self.net(torch.cat([self.act(h), z, onehot], dim=-1)), self.logvar_range)


def _aux_hidden(width: int) -> int:
    """Hidden width of the ADGM's small heads: the trunk's width, within [64, 512]."""
    return max(64, min(width, 512))


def _diagonal_normal(params: torch.Tensor, logvar_range: tuple[float, float]) -> Distribution:
    """N(mu, diag(exp(logvar))) from ``params`` = [mu, logvar] on the last axis, logvar clamped to the range."""
    mu, logvar = full_precision(params).chunk(2, dim=-1)  # float32 under a bf16/fp16 autocast (TrainConfig.precision)
    logvar = logvar.clamp(*logvar_range)
    return Independent(Normal(mu, torch.exp(0.5 * logvar), validate_args=False), 1)


class LabelHead(nn.Module):
    """[act(trunk features), one-hot y] -> posterior parameters: the label-conditioned end of q(z|x,y)."""

    def __init__(self, width: int, num_classes: int, out_dim: int, act: str | None):
        super().__init__()
        self.act = nn.Identity() if act is None else activation(act)
        self.linear = nn.Linear(width + num_classes, out_dim)

    def forward(self, h: torch.Tensor, onehot: torch.Tensor) -> torch.Tensor:
        return self.linear(torch.cat([self.act(h), onehot], dim=-1))


def corrupt(
    x: torch.Tensor, kind: str, level: float, *, generator: torch.Generator | None = None, clip: bool = False
) -> torch.Tensor:
    """A corrupted copy of ``x`` for the denoising criterion (Vincent et al. 2010; Im et al. 2017).

    Parameters
    ----------
    x : Tensor of shape (batch, *data_shape)
    kind : {"none", "gaussian", "salt_and_pepper", "mask"}
        ``"gaussian"``: x + N(0, level^2); ``"salt_and_pepper"``: a ``level`` fraction of entries set
        to 0 or 1 with equal chance; ``"mask"``: a ``level`` fraction of entries set to 0.
    level : float
        Noise standard deviation or fraction of entries.
    generator : torch.Generator or None
    clip : bool
        Clip the result to [0, 1] (data on the unit interval, e.g. images).

    Returns
    -------
    Tensor of the shape of ``x``

    Examples
    --------
    >>> import torch
    >>> x = torch.full((2, 1000), 0.5)
    >>> y = corrupt(x, "salt_and_pepper", 0.2, generator=torch.Generator().manual_seed(0))
    >>> round(float((y != 0.5).float().mean()), 1)
    0.2
    """
    if kind == "none" or level == 0:
        return x
    if kind == "gaussian":
        out = x + level * noise.randn(x.shape, generator, device=x.device, dtype=x.dtype)
    elif kind in ("salt_and_pepper", "mask"):
        hit = noise.rand(x.shape, generator, device=x.device) < level
        if kind == "mask":
            fill = torch.zeros_like(x)
        else:
            fill = (noise.rand(x.shape, generator, device=x.device) < 0.5).to(x.dtype)
        out = torch.where(hit, fill, x)
    else:
        raise ConfigError(f"The 'kind' parameter of corrupt must be one of 'none', 'gaussian', 'salt_and_pepper', "
                          f"'mask'. Got {kind!r} instead.")
    return out.clamp(0, 1) if clip else out


def interpolate_latents(za: torch.Tensor, zb: torch.Tensor, steps: int, *, spherical: bool = False) -> torch.Tensor:
    """Points from ``za`` to ``zb`` (both (latent_dim,)): linear or spherical; shape (steps, latent_dim)."""
    t = torch.linspace(0, 1, steps, dtype=za.dtype, device=za.device)[:, None]  # (steps, 1)
    if not spherical:
        return (1 - t) * za + t * zb
    na, nb = za.norm(), zb.norm()
    cos = torch.dot(za / na.clamp(min=1e-8), zb / nb.clamp(min=1e-8)).clamp(-1, 1)
    omega = torch.arccos(cos)
    if omega.abs() < 1e-4:  # nearly parallel: slerp degenerates to lerp
        return (1 - t) * za + t * zb
    return (torch.sin((1 - t) * omega) * za + torch.sin(t * omega) * zb) / torch.sin(omega)


class Autoencoder(_NoDensity, VAE):
    """The deterministic baseline: same nets, likelihood, trainer and save/load, but z = encoder(x).

    It minimises the reconstruction NLL only, so nothing ties its codes to p(z): decoding z ~ N(0, I)
    (``sample``) shows what the probabilistic latent space of a VAE buys. It has no ELBO or likelihood.
    """

    _posterior_params = 1
    has_density = False

    def __init__(self, config: ModelConfig, *, data_spec: DataSpec | None = None):
        if isinstance(config, ModelConfig) and config.prior != "standard_normal":
            raise ConfigError(f"An Autoencoder is not trained against a prior (it has no posterior), so a learned prior "
                              f"({config.prior!r}) would stay untrained; use prior='standard_normal' (for its samples).")
        if isinstance(config, ModelConfig) and config.conditioning != "none":
            raise ConfigError(f"An Autoencoder is not conditioned on labels; got conditioning={config.conditioning!r}. "
                              f"Use a VAE for conditional or semi-supervised models.")
        super().__init__(config, data_spec=data_spec)

    def encode(self, x, y=None):
        """A point mass at the code encoder(x): batch shape (batch,), event shape (latent_dim,)."""
        return PointMass(self.encoder(self._encoder_input(x)))

    def objective(self, x, *, kl_weight=None, target=None, generator=None) -> Objective:
        x, target = self._input_and_target(x, target, generator)
        rec = -self.log_px(self.decode(self.encoder(self._encoder_input(x))), target)  # (batch,)
        return Objective(loss=rec.mean(), reconstruction_nll=rec, kl=torch.zeros_like(rec))

    @classmethod
    def for_data(cls, data, *, preset: str = "default", **overrides: Any) -> "Autoencoder":
        """The preset's nets and likelihood for ``data`` with N(0, I) as the prior its samples come from (a
        preset's learned prior would stay untrained); see :meth:`VAE.for_data`."""
        overrides.setdefault("prior", "standard_normal")
        return super().for_data(data, preset=preset, **overrides)

    _no_density_message = ("An Autoencoder has no posterior or prior density, so '{name}' is undefined. "
                           "Train a VAE (drop --autoencoder) for ELBO and likelihood estimates.")


class StackedVAE(_SharedVerbs, _NoDensity, nn.Module):
    """M1+M2 (Kingma et al. 2014, Sec. 3.2): a semi-supervised VAE (M2) over the latent codes of a VAE (M1).

    M1 (``features``, a trained unsupervised :class:`VAE`) is frozen; M2 (``top``, a :class:`VAE` with
    ``conditioning="semi_supervised"`` and a Gaussian likelihood over z1) models M1's posterior means
    E[z1|x]. (The paper draws z1 ~ q(z1|x) at every step instead; on MNIST with 100 labels the means
    gave lower test error at every epoch count we tried, because M1's inactive latent dimensions then
    hold no noise: see bench/RESULTS.md.) Classification uses q(y | E[z1|x]); generation decodes
    z2, y -> E[z1|z2,y] with M2, then z1 -> x with M1.

    Build one with :meth:`on`, train it with :func:`vaekit.fit` on partly labelled data (only M2's
    weights change), save and load it like any run.

    Parameters
    ----------
    config : ModelConfig
        M2's configuration (``data_shape == (features_config.latent_dim,)``).
    features_config : ModelConfig
        M1's configuration.
    data_spec : DataSpec or None
    """

    def __init__(self, config: ModelConfig, features_config: ModelConfig, *, data_spec: DataSpec | None = None):
        super().__init__()
        if not isinstance(config, ModelConfig) or not isinstance(features_config, ModelConfig):
            raise ConfigError("StackedVAE expects two ModelConfig objects (M2's and M1's).")
        if config.conditioning != "semi_supervised":
            raise ConfigError(f"The top model of a StackedVAE must have conditioning='semi_supervised'; "
                              f"got {config.conditioning!r}.")
        if features_config.conditioning != "none":
            raise ConfigError("The features model (M1) of a StackedVAE must be an unconditioned VAE.")
        if tuple(config.data_shape) != (features_config.latent_dim,):
            raise ConfigError(f"The top model's data_shape must be (features latent_dim,) = "
                              f"({features_config.latent_dim},); got {config.data_shape!r}.")
        self.features = VAE(features_config, data_spec=data_spec)
        self.top = VAE(config)
        self.features.requires_grad_(False)
        self.data_spec = data_spec

    @classmethod
    def on(cls, features: VAE, *, num_classes: int | None = None, **overrides: Any) -> "StackedVAE":
        """Stack a new M2 on the trained VAE ``features`` (copied; the original is not changed).

        ``num_classes`` defaults to the number of label names of the data ``features`` was trained
        on (``features.data_spec.label_names``); give it when that data had no labels.

        M2's defaults: Gaussian likelihood over z1, two hidden layers of 500 units in each network,
        latent dimension 10 and ``classifier_weight`` 1, chosen on MNIST with 100 labels
        (bench/semisupervised.py and bench/RESULTS.md: a second hidden layer halved the error at 10
        epochs; a higher classifier weight overfits the few labels). ``overrides`` are any
        :class:`~vaekit.config.ModelConfig` fields of M2 (e.g. ``latent_dim=16``).
        """
        if type(features) is not VAE or features.conditional:
            raise ConfigError(f"StackedVAE.on needs a trained, unconditioned VAE as features (M1); "
                              f"got {type(features).__name__}"
                              f"{' with conditioning' if getattr(features, 'conditional', False) else ''}.")
        if num_classes is None:
            names = () if features.data_spec is None else tuple(features.data_spec.label_names)
            if len(names) < 2:
                raise ConfigError("StackedVAE.on could not tell the number of classes: the features model's data "
                                  "has no label names. Pass num_classes=K.")
            num_classes = len(names)
        base: dict[str, Any] = dict(latent_dim=10, hidden_dims=(500, 500), likelihood="gaussian", classifier_weight=1.0)
        base.update(overrides)
        config = ModelConfig(data_shape=(features.latent_dim,), conditioning="semi_supervised",
                             num_classes=num_classes, **base)
        model = cls(config, features.config, data_spec=features.data_spec)
        model.features.load_state_dict(features.state_dict())
        return model.to(features.device)

    # ------------------------------------------------------------------ what the tasks read
    @property
    def config(self) -> ModelConfig:
        """M2's configuration (the features model's is ``features.config``)."""
        return self.top.config

    @property
    def data_shape(self) -> tuple[int, ...]:
        return self.features.data_shape

    @property
    def latent_dim(self) -> int:
        return self.top.latent_dim

    @property
    def num_classes(self) -> int:
        return self.top.num_classes

    conditional = True
    has_classifier = True
    has_density = False

    @property
    def likelihood(self):
        return self.features.likelihood

    @property
    def prior(self):
        return self.top.prior

    @property
    def device(self) -> torch.device:
        return next(self.parameters()).device

    data_needs = VAE.data_needs
    check_data = VAE.check_data

    def extra_repr(self) -> str:
        return "M1+M2 (Kingma et al. 2014): top = M2 over the features model's latent codes"

    def initialize(self, seed: int) -> "StackedVAE":
        """Re-draw M2's initial weights from ``seed``; the trained features model is kept."""
        self.top.initialize(seed)
        return self

    def train(self, mode: bool = True) -> "StackedVAE":
        super().train(mode)
        self.features.eval()  # frozen: always in inference mode
        return self

    def check_input(self, x: torch.Tensor) -> torch.Tensor:
        return self.features.check_input(x)

    def _codes(self, x: torch.Tensor) -> torch.Tensor:
        """E[z1|x]: the features model's posterior means."""
        with torch.no_grad():
            return self.features.encode(x).mean

    # ------------------------------------------------------------------ objective and classifier
    def objective(self, x, *, kl_weight=None, target=None, generator=None, y=None) -> Objective:
        """M2's objective on the codes E[z1|x]; see :meth:`VAE._labelled_objective`."""
        if target is not None:
            raise ConfigError("A StackedVAE models the features model's codes; 'target' is not supported.")
        return self.top.objective(self._codes(x), kl_weight=kl_weight, generator=generator, y=y)

    def class_logits(self, x: torch.Tensor) -> torch.Tensor:
        """Logits of M2's classifier at the codes, q(y | E[z1|x]): (batch, *data_shape) -> (batch, num_classes)."""
        return self.top.class_logits(self._codes(x))

    # ------------------------------------------------------------------ encode / decode / generate
    def encode(self, x: torch.Tensor, y: torch.Tensor | None = None) -> Distribution:
        """q(z2 | E[z1|x], y): M2's posterior over its latent (labels predicted where unknown)."""
        return self.top.encode(self._codes(x), y)

    def decode(self, z: torch.Tensor, y: torch.Tensor | None = None) -> Distribution:
        """p(x | E[z1|z2,y]): M2 decodes (z2, y) to the mean code z1, M1 decodes that to x."""
        return self.features.decode(self.top.decode(z, y).mean)

    @torch.no_grad()
    def embed(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        """E[z2 | x, y]: (batch, *data_shape) -> (batch, latent_dim)."""
        return self.encode(x, y).mean

    @torch.no_grad()
    def reconstruct(self, x: torch.Tensor, *, sample_latent: bool = False, generator=None, y=None) -> torch.Tensor:
        """x -> z1 -> (z2, y) -> z1 -> x through both models; labels predicted where unknown."""
        codes = self._codes(x)
        y = self.top._resolve_labels(codes, y)
        q = self.top.encode(codes, y)
        z = self.top.reparameterize(q, None, generator) if sample_latent else q.mean
        return self.decode(z, y).mean

    def sample_labels(self, n: int, y=None, *, generator=None):
        return self.top.sample_labels(n, y, generator=generator)

    @torch.no_grad()
    def interpolate(self, a: torch.Tensor, b: torch.Tensor, steps: int = 8, *, spherical: bool = False) -> torch.Tensor:
        """Decode ``steps`` points between the M2 posterior means of ``a`` and ``b``, with ``a``'s predicted class."""
        if not isinstance(steps, int) or isinstance(steps, bool) or steps < 2:
            raise ConfigError(f"The 'steps' parameter of StackedVAE.interpolate must be an int >= 2. Got {steps!r} instead.")
        ca, cb = self._codes(a.reshape(1, *self.data_shape)), self._codes(b.reshape(1, *self.data_shape))
        y = self.top._resolve_labels(ca, None)  # (1,)
        za, zb = self.top.embed(ca, y)[0], self.top.embed(cb, y)[0]
        return self.decode(interpolate_latents(za, zb, steps, spherical=spherical), y).mean

    @torch.no_grad()
    def sample(self, n: int, *, generator=None, temperature: float = 1.0, mean: bool = True, y=None) -> torch.Tensor:
        """Generate ``n`` examples of class ``y`` (drawn from the uniform p(y) when None): (n, *data_shape)."""
        z1 = self.top.sample(n, generator=generator, temperature=temperature, mean=True, y=y)
        p = self.features.decode(z1)
        return p.mean if mean else self.features.likelihood.sample(p, generator)

    _no_density_message = ("A StackedVAE (M1+M2) has no tractable bound on log p(x), so '{name}' is undefined; "
                           "evaluate its features model (M1) for likelihoods.")

