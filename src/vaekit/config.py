"""Frozen, validated configuration records, serialised strictly to and from JSON.

A field has one name everywhere: ``latent_dim`` is ``--latent-dim`` on the command line,
``"latent_dim"`` in ``config.json`` and in the web explorer.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, fields
from typing import Any, Mapping

from ._validation import Interval, Options, check_param, unknown_key_message
from .errors import ConfigError
from .registry import DATA_KINDS, LIKELIHOODS, NETS, PRIORS

__all__ = ["ModelConfig", "TrainConfig", "DataSpec"]

ACTIVATIONS = ("relu", "elu", "silu", "tanh", "gelu")
MISSING = ("none", "ignore")
CORRUPTIONS = ("none", "gaussian", "salt_and_pepper", "mask")
CONDITIONING = ("none", "conditional", "semi_supervised")


class _Config:
    """Shared strict (de)serialisation for the config dataclasses."""

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict (tuples become lists)."""
        out = {}
        for f in fields(self):  # type: ignore[arg-type]
            v = getattr(self, f.name)
            out[f.name] = _to_json(v)
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], *, where: str | None = None):
        """Build from a dict, rejecting unknown keys and naming the nearest valid one."""
        if not isinstance(data, Mapping):
            raise ConfigError(f"{cls.__name__} expects a mapping; got {type(data).__name__}.")
        data = cls._upgrade(dict(data))
        names = {f.name: f for f in fields(cls)}  # type: ignore[arg-type]
        for key in data:
            if key not in names:
                raise ConfigError(unknown_key_message(key, names, where or f"{cls.__name__}"))
        kwargs = {}
        for key, value in data.items():
            if isinstance(value, list):
                value = _to_tuple(value)
            kwargs[key] = value
        return cls(**kwargs)

    @classmethod
    def _upgrade(cls, data: dict) -> dict:
        """Translate keys of older config files (a no-op unless a config class overrides it)."""
        return data

    def replace(self, **changes):
        """Return a copy with ``changes`` applied (validated again)."""
        names = {f.name for f in fields(self)}  # type: ignore[arg-type]
        for key in changes:
            if key not in names:
                raise ConfigError(unknown_key_message(key, names, type(self).__name__))
        return dataclasses.replace(self, **changes)  # type: ignore[type-var]


def _to_json(v):
    if isinstance(v, tuple):
        return [_to_json(x) for x in v]
    if isinstance(v, _Config):
        return v.to_dict()
    return v


def _to_tuple(v):
    return tuple(_to_tuple(x) if isinstance(x, list) else x for x in v)


def _check_int_tuple(owner: str, name: str, value: Any, *, allow_empty: bool = True, low: int = 1) -> tuple:
    ok = isinstance(value, (tuple, list)) and all(
        isinstance(v, int) and not isinstance(v, bool) and v >= low for v in value
    )
    if not ok or (not allow_empty and len(value) == 0):
        raise ConfigError(
            f"The '{name}' parameter of {owner} must be a {'non-empty ' if not allow_empty else ''}"
            f"sequence of ints >= {low}. Got {value!r} instead."
        )
    return tuple(value)


@dataclass(frozen=True, kw_only=True)
class NoOptions(_Config):
    """The options record of a family member (net, prior) without options of its own."""


def sub_config(options_type: type, given: Any, field: str) -> _Config:
    """``given`` (None, a mapping or a record) as the ``options_type`` record of a config field such as
    ``net_options``: defaults filled, unknown keys refused with the nearest name. Another family's record
    (left by ``config.replace(net=...)``) gives the defaults."""
    if given is None or (isinstance(given, _Config) and not isinstance(given, options_type)):
        return options_type()
    if isinstance(given, options_type):
        return given
    if isinstance(given, Mapping):
        return options_type.from_dict(given, where=field)
    raise ConfigError(f"The '{field}' parameter of VAE must be a mapping of options. Got {given!r} instead.")


def fold_legacy_net_fields(options: dict, net: str | None = None) -> dict:
    """Move the flat ``conv_channels`` / ``residual_blocks`` of older configs and of the command line into
    ``net_options`` (where the conv family reads them); other nets never used them. ``net`` is the net
    when ``options`` does not name one.

    >>> fold_legacy_net_fields({"net": "conv", "conv_channels": (8,)})
    {'net': 'conv', 'net_options': {'channels': (8,)}}
    """
    legacy = {k: options.pop(k) for k in list(options) if k in ModelConfig._LEGACY_NET_FIELDS}
    legacy = {k: v for k, v in legacy.items() if v is not None}
    if legacy and options.get("net", net or "mlp") == "conv":
        merged = dict(options.get("net_options") or {})
        for k, v in legacy.items():
            merged.setdefault(ModelConfig._LEGACY_NET_FIELDS[k], v)
        options["net_options"] = merged
    return options


def _check_tuple_of(owner: str, name: str, value: Any, types, what: str) -> None:
    ok = isinstance(value, tuple) and all(isinstance(v, types) and not isinstance(v, bool) for v in value)
    if not ok:
        raise ConfigError(f"The '{name}' parameter of {owner} must be a sequence of {what}. Got {value!r} instead.")


@dataclass(frozen=True, kw_only=True)
class ModelConfig(_Config):
    """Architecture and objective of a VAE or autoencoder.

    Parameters
    ----------
    data_shape : tuple of int
        Shape of one example: ``(features,)`` for tables/vectors, ``(channels, height, width)`` for images.
    latent_dim : int
        Dimension of z.
    net : {"mlp", "conv"}
        Encoder/decoder network family.
    hidden_dims : tuple of int
        MLP hidden widths (encoder order; the decoder mirrors them). Empty means linear maps.
    net_options : mapping or None
        Options of the net family only (a sub-config, declared by the family in :mod:`vaekit.nets`), e.g.
        for ``net="conv"``: ``{"channels": (32, 64), "residual_blocks": 0}`` (channels of the stride-2
        conv stages in encoder order, the decoder mirrors them; residual blocks after each stage).
        Missing keys take the family's defaults; unknown keys are refused.
    activation : str
        Hidden activation.
    likelihood : {"bernoulli", "gaussian", "heteroscedastic_gaussian", "discretized_logistic", "beta_binomial", "categorical256", "mixed"}
        Family of p(x|z). ``"gaussian"`` learns one standard deviation per feature;
        ``"heteroscedastic_gaussian"`` has the decoder output it as a function of z. ``"mixed"`` (tables)
        is a Gaussian per numeric feature and a categorical per one-hot block.
    likelihood_options : mapping or None
        Options of the likelihood only (a sub-config declared by the family in :mod:`vaekit.likelihoods`),
        e.g. for ``"mixed"``: ``{"categorical": ((start, width), ...)}``, the one-hot blocks of the features.
    prior : {"standard_normal", "mixture", "vamp"}
        Family of p(z): N(0, I); a learned mixture of Gaussians; or the VampPrior (a mixture of the
        posteriors of learned pseudo-inputs, Tomczak & Welling 2018). The learned priors have no closed-form
        KL: the objective uses a one-sample Monte Carlo KL.
    prior_options : mapping or None
        Options of the prior only (a sub-config declared by the prior in :mod:`vaekit.priors`), e.g.
        ``{"components": 50}`` for ``"mixture"`` and ``"vamp"``.
    beta : float
        Weight of the KL term (Higgins et al. 2017); 1 gives the ELBO.
    free_bits : float
        Minimum KL in nats per latent dimension, averaged over a batch (Kingma et al. 2016).
    iwae_k : int
        Importance samples in the training objective; 1 is the ELBO, >1 the IWAE bound (Burda et al. 2016).
    iwae_gradient : {"iwae", "dreg"}
        Gradient estimator of the IWAE objective (``iwae_k > 1``). ``"iwae"``: the plain reparameterised
        gradient of the bound, whose signal-to-noise ratio for the encoder falls as k grows (Rainforth et
        al. 2018). ``"dreg"``: the doubly reparameterised estimator (Tucker et al. 2019), unbiased for the
        same gradient, with the encoder's score-function term removed: the encoder gets weights
        squared-normalised w_i^2, the decoder and prior the usual w_i. The bound's value is the same.
    logvar_min, logvar_max : float
        Clamp of the posterior log-variance, for numerical safety.
    missing : {"none", "ignore"}
        ``"ignore"``: NaN entries of x are missing values. The encoder sees x with them set to 0 next to
        the observed-entry mask, and the likelihood scores observed entries only, so the (IWAE) bound is
        one on log p(x_observed) (MIWAE, Mattei & Frellsen 2019). ``"none"``: every entry is observed.
    corruption : {"none", "gaussian", "salt_and_pepper", "mask"}
        Denoising criterion (Im et al. 2017): the objective encodes a corrupted copy of x and scores the
        clean x. ``"gaussian"`` adds N(0, level^2) noise, ``"salt_and_pepper"`` sets a ``level`` fraction
        of entries to 0 or 1, ``"mask"`` sets a ``level`` fraction to 0 (Vincent et al. 2010). For
        likelihoods on [0, 1] the corrupted input is clipped to [0, 1]. It lives here, not in
        TrainConfig, because it defines the objective (and the run must remember the noise it learned).
    corruption_level : float
        Noise standard deviation (``"gaussian"``) or fraction of entries (``"salt_and_pepper"``, ``"mask"``).
    conditioning : {"none", "conditional", "semi_supervised"}
        How a class label y enters the model (Kingma et al. 2014; Sohn et al. 2015). ``"conditional"``
        (a CVAE): the encoder is q(z|x,y), the decoder p(x|z,y), and every training example needs a label.
        ``"semi_supervised"`` (M2): y is a partly observed latent variable with a uniform prior p(y) and a
        classifier q(y|x); labelled examples train q(z|x,y), p(x|z,y) and (weighted by
        ``classifier_weight``) q(y|x); unlabelled ones sum the bound over y under q(y|x).
    num_classes : int
        Number of classes of y (0 without conditioning).
    classifier_weight : float
        alpha of Kingma et al. 2014, eq. 9: weight of the classification loss -log q(y|x) on labelled
        examples, relative to the per-example bound (``"semi_supervised"`` only).
    auxiliary_dim : int
        Size of the auxiliary latent a of an auxiliary deep generative model (ADGM, Maaloe et al. 2016;
        ``"semi_supervised"`` only; 0 = none, plain M2). The classifier becomes q(y|a,x) with
        a ~ q(a|x), and the generative side gains p(a|x,y,z); the bound stays a bound on log p(x), and
        q(z|x,y) does not read a (the paper's q(z|a,x,y) does). Predictions use a at the mean of q(a|x).
    """

    data_shape: tuple[int, ...]
    latent_dim: int = 16
    net: str = "mlp"
    hidden_dims: tuple[int, ...] = (512, 256)
    net_options: Any = None
    activation: str = "elu"
    likelihood: str = "bernoulli"
    likelihood_options: Any = None
    prior: str = "standard_normal"
    prior_options: Any = None
    beta: float = 1.0
    free_bits: float = 0.0
    iwae_k: int = 1
    iwae_gradient: str = "iwae"
    logvar_min: float = -12.0
    logvar_max: float = 8.0
    missing: str = "none"
    corruption: str = "none"
    corruption_level: float = 0.0
    conditioning: str = "none"
    num_classes: int = 0
    classifier_weight: float = 1.0
    auxiliary_dim: int = 0

    #: flat fields of format_version 1, now in ``net_options`` of the conv family
    _LEGACY_NET_FIELDS = {"conv_channels": "channels", "residual_blocks": "residual_blocks"}

    @classmethod
    def _upgrade(cls, data: dict) -> dict:
        return fold_legacy_net_fields(data)

    def __post_init__(self):
        o = "VAE"
        object.__setattr__(self, "data_shape", _check_int_tuple(o, "data_shape", self.data_shape, allow_empty=False))
        check_param(o, "latent_dim", self.latent_dim, Interval("int", 1, None))
        check_param(o, "net", self.net, Options(NETS.names()))
        object.__setattr__(self, "hidden_dims", _check_int_tuple(o, "hidden_dims", self.hidden_dims))
        check_param(o, "activation", self.activation, Options(ACTIVATIONS))
        check_param(o, "likelihood", self.likelihood, Options(LIKELIHOODS.names()))
        object.__setattr__(self, "likelihood_options", LIKELIHOODS.get(self.likelihood).options(self.likelihood_options))
        check_param(o, "prior", self.prior, Options(PRIORS.names()))
        object.__setattr__(self, "prior_options", PRIORS.get(self.prior).options(self.prior_options))
        check_param(o, "beta", self.beta, Interval("float", 0, None))
        check_param(o, "free_bits", self.free_bits, Interval("float", 0, None))
        check_param(o, "iwae_k", self.iwae_k, Interval("int", 1, None))
        check_param(o, "iwae_gradient", self.iwae_gradient, Options(("iwae", "dreg")))
        check_param(o, "logvar_min", self.logvar_min, Interval("float"))
        check_param(o, "logvar_max", self.logvar_max, Interval("float", self.logvar_min, None, closed="neither"))
        check_param(o, "missing", self.missing, Options(MISSING))
        check_param(o, "corruption", self.corruption, Options(CORRUPTIONS))
        check_param(o, "corruption_level", self.corruption_level, Interval("float", 0, None))
        if self.corruption in ("salt_and_pepper", "mask") and self.corruption_level > 1:
            raise ConfigError(
                f"The 'corruption_level' parameter of VAE must be a fraction in [0, 1] for "
                f"corruption={self.corruption!r}. Got {self.corruption_level!r} instead."
            )
        check_param(o, "conditioning", self.conditioning, Options(CONDITIONING))
        check_param(o, "num_classes", self.num_classes, Interval("int", 0, None))
        check_param(o, "classifier_weight", self.classifier_weight, Interval("float", 0, None))
        if (self.conditioning == "none") != (self.num_classes == 0):
            raise ConfigError(
                f"The 'num_classes' parameter of VAE must be >= 2 with conditioning={self.conditioning!r} "
                f"and 0 without conditioning. Got num_classes={self.num_classes!r} instead."
            )
        if self.conditioning != "none" and self.num_classes < 2:
            raise ConfigError(f"The 'num_classes' parameter of VAE must be >= 2 with conditioning="
                              f"{self.conditioning!r}. Got {self.num_classes!r} instead.")
        check_param(o, "auxiliary_dim", self.auxiliary_dim, Interval("int", 0, None))
        if self.auxiliary_dim and self.conditioning != "semi_supervised":
            raise ConfigError(f"An auxiliary latent (auxiliary_dim={self.auxiliary_dim!r}, ADGM) extends the "
                              f"semi-supervised M2; it needs conditioning='semi_supervised', got "
                              f"{self.conditioning!r}.")
        if self.conditioning != "none" and self.iwae_k > 1:
            raise ConfigError(f"conditioning={self.conditioning!r} trains on the ELBO; iwae_k must be 1 "
                              f"(got {self.iwae_k!r}). IWAE bounds are still available for evaluation.")
        family = NETS.get(self.net)()
        object.__setattr__(self, "net_options", family.options(self.net_options))
        family.check_shape(self)  # each net family says which example shapes it reads


@dataclass(frozen=True, kw_only=True)
class TrainConfig(_Config):
    """How :func:`vaekit.fit` trains.

    Parameters
    ----------
    epochs : int
        Maximum number of passes over the training data.
    batch_size : int
        Examples per optimiser step.
    lr : float
        Peak learning rate of AdamW.
    weight_decay : float
        AdamW decoupled weight decay.
    lr_schedule : {"constant", "cosine"}
        Learning-rate schedule over the whole run (after ``lr_warmup_steps`` linear warm-up). With
        ``max_time``, the cosine also follows elapsed time, reaching 0 when the budget is spent.
    lr_warmup_steps : int
        Steps of linear learning-rate warm-up.
    grad_clip : float or None
        Maximum global gradient norm; None disables clipping.
    val_fraction : float
        Fraction of the data held out for validation (0 disables validation and early stopping).
    early_stopping_patience : int or None
        Epochs without validation improvement before stopping; None disables early stopping.
    kl_warmup : int
        Length of the linear KL warm-up from 0 to ``beta`` (Bowman et al. 2016; Sønderby et al. 2016).
    kl_warmup_layers : tuple of int or None
        KL warm-up per latent layer of a hierarchical model (``prior="ladder"``), bottom layer first, in
        ``kl_warmup_unit``: each layer's KL weight rises from 0 to ``beta`` over its own length (e.g.
        ``(0, 20)`` lets the top layer's KL in later than the bottom's). None: every layer follows
        ``kl_warmup``.
    kl_warmup_unit : {"epochs", "steps"}
        Unit of ``kl_warmup`` and ``kl_warmup_layers``.
    kl_schedule : {"linear", "cyclical"}
        ``"linear"``: the KL weight rises over ``kl_warmup`` once, then stays at ``beta``. ``"cyclical"`` (Fu
        et al. 2019): it rises over ``kl_warmup``, stays at ``beta`` for another ``kl_warmup``, then starts
        again from 0, for the whole run.
    binarize : {"none", "dynamic"}
        ``"dynamic"`` redraws x ~ Bernoulli(x) for every batch (for [0, 1] images; Salakhutdinov & Murray 2008).
    seed : int
        Seed of the generator used for splits, shuffling, binarisation and reparameterisation noise.
    max_time : float or None
        Wall-clock budget in seconds; training stops at the first step after it runs out (that epoch, cut
        short, is still validated and logged).
    checkpoint_every : int
        Write ``checkpoint/`` every this many epochs (only when ``out`` is given).
    precision : {"fp32", "bf16", "fp16", "auto"}
        Arithmetic of the forward pass: ``"bf16"`` / ``"fp16"`` run the nets' layers under ``torch.autocast``
        (weights, optimiser, likelihood, KL and the loss reduction stay float32; fp16 uses a gradient scaler
        on GPU). ``"auto"``: bf16 where the device multiplies bfloat16 matrices natively (a CUDA GPU with
        bf16, a CPU with AMX), else fp32 (:func:`vaekit.training.resolve_precision`); ``fit`` resolves it
        and the run's ``train_config`` records the result. Scoring (``evaluate``) is always float32.
    compile : bool
        Compile the objective with ``torch.compile`` (faster steps after a one-off compilation).
    num_workers : int or None
        DataLoader worker processes that read batches of data that is not in memory; None: min(4, cores - 1)
        for image files decoded lazily, 0 otherwise (a memory map is read faster in the training process).
    labelled_per_batch : int or None
        Semi-supervised training (M2, M1+M2, ADGM) on partly labelled data: labelled examples appended to
        each batch of ``batch_size`` shuffled examples, cycled in reshuffled order. None: min(number
        labelled, ``batch_size``), every label in every batch when there are few (Kingma et al. 2014's
        implementation). Measured on MNIST with 100 labels (M1+M2, batch 256, one label draw, valid split):
        100, 50 and 20 labelled per batch gave 3.89%, 3.81% and 3.68% error, differences within the about
        0.2-point sampling error of 10,000 validation digits, so the default was kept (bench/RESULTS.md).
    """

    epochs: int = 50
    batch_size: int = 128
    lr: float = 1e-3
    weight_decay: float = 0.0
    lr_schedule: str = "constant"
    lr_warmup_steps: int = 0
    grad_clip: float | None = 100.0
    val_fraction: float = 0.1
    early_stopping_patience: int | None = 10
    kl_warmup: int = 0
    kl_warmup_layers: tuple[int, ...] | None = None
    kl_warmup_unit: str = "epochs"
    kl_schedule: str = "linear"
    binarize: str = "none"
    seed: int = 0
    max_time: float | None = None
    checkpoint_every: int = 1
    precision: str = "fp32"
    compile: bool = False
    num_workers: int | None = None
    labelled_per_batch: int | None = None

    def __post_init__(self):
        o = "fit"
        check_param(o, "epochs", self.epochs, Interval("int", 1, None))
        check_param(o, "batch_size", self.batch_size, Interval("int", 1, None))
        check_param(o, "lr", self.lr, Interval("float", 0, None, closed="neither"))
        check_param(o, "weight_decay", self.weight_decay, Interval("float", 0, None))
        check_param(o, "lr_schedule", self.lr_schedule, Options(("constant", "cosine")))
        check_param(o, "lr_warmup_steps", self.lr_warmup_steps, Interval("int", 0, None))
        check_param(o, "grad_clip", self.grad_clip, Interval("float", 0, None, closed="neither", optional=True))
        check_param(o, "val_fraction", self.val_fraction, Interval("float", 0, 1, closed="left"))
        check_param(o, "early_stopping_patience", self.early_stopping_patience, Interval("int", 1, None, optional=True))
        check_param(o, "kl_warmup", self.kl_warmup, Interval("int", 0, None))
        if self.kl_warmup_layers is not None:
            object.__setattr__(self, "kl_warmup_layers", _check_int_tuple(o, "kl_warmup_layers", self.kl_warmup_layers,
                                                                          allow_empty=False, low=0))
        check_param(o, "kl_warmup_unit", self.kl_warmup_unit, Options(("epochs", "steps")))
        check_param(o, "kl_schedule", self.kl_schedule, Options(("linear", "cyclical")))
        check_param(o, "binarize", self.binarize, Options(("none", "dynamic")))
        check_param(o, "seed", self.seed, Interval("int", 0, None))
        check_param(o, "max_time", self.max_time, Interval("float", 0, None, closed="neither", optional=True))
        check_param(o, "checkpoint_every", self.checkpoint_every, Interval("int", 1, None))
        check_param(o, "precision", self.precision, Options(("fp32", "bf16", "fp16", "auto")))
        if not isinstance(self.compile, bool):
            raise ConfigError(f"The 'compile' parameter of fit must be a bool. Got {self.compile!r} instead.")
        check_param(o, "num_workers", self.num_workers, Interval("int", 0, None, optional=True))
        check_param(o, "labelled_per_batch", self.labelled_per_batch, Interval("int", 1, None, optional=True))


@dataclass(frozen=True, kw_only=True)
class DataSpec(_Config):
    """What a model was trained on, and how raw inputs are turned into model inputs.

    Saved in the ``data`` section of ``config.json`` so that new files are preprocessed exactly as the
    training data was (same image size and mode, same column order, same standardisation).

    Parameters
    ----------
    kind : {"image", "table", "array"}
        ``"image"``: values in [0, 1], shape (channels, height, width). ``"table"``: a standardised
        feature vector built from named columns. ``"array"``: any other float vectors.
    shape : tuple of int
        Shape of one example as the model sees it.
    name : str
        Where the data came from (builtin name or path), for reports.
    levels : int or None
        Number of discrete values per entry in the original data (256 for 8-bit images, 2 for binary), if any.
    image_mode : {"L", "RGB"} or None
        Colour mode of image data.
    columns : tuple of str
        Table columns in model order (after one-hot encoding of categorical columns).
    numeric_columns : tuple of str
        Raw numeric columns, standardised with ``mean`` and ``std``.
    mean, std : tuple of float
        Standardisation statistics of ``numeric_columns`` (from the training data).
    categorical_columns : tuple of str
        Raw categorical columns, one-hot encoded.
    categories : tuple of tuple of str
        Categories of each categorical column, in encoding order.
    label_column : str or None
        Column holding labels, if any.
    label_names : tuple of str
        Names of the classes, indexed by integer label.
    integer_columns : tuple of str
        Numeric columns holding whole numbers (decoded values are rounded).
    bounds : tuple of tuple of float
        ``(low, high)`` per numeric column (``numeric_columns`` order): decoded values are clipped to it.
        Empty: no bounds.
    modes : tuple of tuple of float
        Mode-specific normalisation per numeric column (Xu et al. 2019, TVAE/CTGAN): the flat
        ``(mean_1, std_1, mean_2, std_2, ...)`` of the column's Gaussian-mixture modes. A column with modes is
        encoded as its value standardised within its most likely mode, followed by a one-hot block of the
        mode (named ``"column#mode=k"``). Empty (or an empty entry): plain standardisation.
    missing_rates : tuple of float
        Share of missing cells per feature column (numeric then categorical order) in the training data.
    table_columns : tuple of str
        The feature columns in the table's own order (synthetic tables are written in it).
    vocabulary : tuple of str
        Text data (``kind="text"``): the tokens by id, ``<pad>``, ``<bos>``, ``<eos>``, ``<unk>`` first;
        an example is up to ``max_length`` token ids, then ``<eos>``, then ``<pad>`` (shape ``(max_length + 1,)``).
    tokenizer : str or None
        Text data: ``"words"`` (lower-cased words and punctuation marks) or the JSON of a ``tokenizers``
        subword (BPE) tokenizer learned from the training text.
    """

    kind: str
    shape: tuple[int, ...]
    name: str = ""
    levels: int | None = None
    image_mode: str | None = None
    columns: tuple[str, ...] = ()
    numeric_columns: tuple[str, ...] = ()
    mean: tuple[float, ...] = ()
    std: tuple[float, ...] = ()
    categorical_columns: tuple[str, ...] = ()
    categories: tuple[tuple[str, ...], ...] = ()
    label_column: str | None = None
    label_names: tuple[str, ...] = ()
    integer_columns: tuple[str, ...] = ()
    bounds: tuple[tuple[float, ...], ...] = ()
    modes: tuple[tuple[float, ...], ...] = ()
    missing_rates: tuple[float, ...] = ()
    table_columns: tuple[str, ...] = ()
    vocabulary: tuple[str, ...] = ()
    tokenizer: str | None = None

    def __post_init__(self):
        check_param("DataSpec", "kind", self.kind, Options(DATA_KINDS.names()))
        object.__setattr__(self, "shape", _check_int_tuple("DataSpec", "shape", self.shape, allow_empty=False))
        check_param("DataSpec", "levels", self.levels, Interval("int", 2, None, optional=True))
        check_param("DataSpec", "image_mode", self.image_mode, Options(("L", "RGB"), optional=True))
        DATA_KINDS.get(self.kind)().check_shape(self.kind, self.shape)
        if not isinstance(self.name, str):
            raise ConfigError(f"The 'name' parameter of DataSpec must be a str. Got {self.name!r} instead.")
        for field_name in ("columns", "numeric_columns", "categorical_columns", "label_names", "vocabulary"):
            _check_tuple_of("DataSpec", field_name, getattr(self, field_name), str, "strings")
        for field_name in ("mean", "std", "missing_rates"):
            _check_tuple_of("DataSpec", field_name, getattr(self, field_name), (int, float), "numbers")
        _check_tuple_of("DataSpec", "integer_columns", self.integer_columns, str, "strings")
        _check_tuple_of("DataSpec", "table_columns", self.table_columns, str, "strings")
        for field_name in ("bounds", "modes"):
            values = getattr(self, field_name)
            _check_tuple_of("DataSpec", field_name, values, tuple, "sequences of numbers")
            for v in values:
                _check_tuple_of("DataSpec", field_name, v, (int, float), "sequences of numbers")
            if values and len(values) != len(self.numeric_columns):
                raise ConfigError(f"The '{field_name}' parameter of DataSpec must have one entry per numeric column "
                                  f"({len(self.numeric_columns)}). Got {len(values)} instead.")
        _check_tuple_of("DataSpec", "categories", self.categories, tuple, "sequences of strings")
        for cats in self.categories:
            _check_tuple_of("DataSpec", "categories", cats, str, "sequences of strings")
        if self.label_column is not None and not isinstance(self.label_column, str):
            raise ConfigError(f"The 'label_column' parameter of DataSpec must be a str or None. "
                              f"Got {self.label_column!r} instead.")
