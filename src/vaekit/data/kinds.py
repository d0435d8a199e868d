"""Kinds of data: what an example looks like and which model and training preset suit it.

``DataSpec.kind`` is validated against this registry, and :func:`vaekit.model.default_config` and
:func:`vaekit.training.default_train_config` read a kind's presets from here. A new kind (token
sequences, say) is one registered :class:`DataKind` beside its loader; the config and the model do
not change.
"""

from __future__ import annotations

import math
from typing import Any

from ..errors import ConfigError
from ..registry import DATA_KINDS

__all__ = ["DataKind", "ImageKind", "TableKind", "ArrayKind", "TextKind", "kind_of"]


class DataKind:
    """One kind of data (see the module docstring)."""

    #: number of axes of one example (None: any)
    example_ndim: int | None = None
    #: how the shape is described in messages
    shape_text: str = "a shape"

    def check_shape(self, name: str, shape: tuple[int, ...]) -> None:
        if self.example_ndim is not None and len(shape) != self.example_ndim:
            raise ConfigError(f"The 'shape' parameter of DataSpec must be {self.shape_text} for {name} data. "
                              f"Got {shape!r} instead.")

    def model_defaults(self, spec) -> dict[str, Any]:
        """ModelConfig fields of the preset for data described by ``spec``."""
        return _vector_defaults(spec)

    def train_defaults(self, spec) -> dict[str, Any]:
        """TrainConfig fields of the preset (on top of the common ones)."""
        return {}

    def recipes(self, spec) -> dict[str, tuple[dict[str, Any], dict[str, Any]]]:
        """Named presets beyond ``"default"``: name -> (ModelConfig fields, TrainConfig fields), each a whole
        recipe on top of the default one. A kind without other presets returns ``{}``."""
        return {}

    def preset(self, name: str, spec) -> tuple[dict[str, Any], dict[str, Any]]:
        """(ModelConfig fields, TrainConfig fields) of the preset ``name`` for data described by ``spec``."""
        model, train = self.model_defaults(spec), self.train_defaults(spec)
        if name == "default":
            return model, train
        recipes = self.recipes(spec)
        if name not in recipes:
            have = ", ".join(repr(n) for n in ("default", *recipes))
            raise ConfigError(f"The 'preset' parameter must be one of {have} for {spec.kind} data of shape "
                              f"{tuple(spec.shape)}. Got {name!r} instead.")
        extra_model, extra_train = recipes[name]
        for field in ("net", "prior"):  # a recipe's own net or prior drops the default's options for it
            if field in extra_model and extra_model[field] != model.get(field):
                model.pop(f"{field}_options", None)
        return {**model, **extra_model}, {**train, **extra_train}


def _vector_defaults(spec) -> dict[str, Any]:
    # an MLP sized to the input, Gaussian with learned per-feature variance
    d = math.prod(spec.shape)
    width = int(min(512, max(64, 2 ** math.ceil(math.log2(max(d, 2) * 4)))))
    return dict(net="mlp", hidden_dims=(width, width // 2), latent_dim=int(min(16, max(2, d // 2))),
                likelihood="gaussian")


@DATA_KINDS.register("image")
class ImageKind(DataKind):
    """Images with values in [0, 1], shape (channels, height, width).

    * grey-level: MLP 512-256, latent 32, Bernoulli, a learned mixture of 50 Gaussians as the prior,
      trained with learning rate 3e-3 and dynamic binarisation (an honest binary likelihood; measured on
      MNIST in ``bench/mnist_nll.py``: 10 minutes on 2 CPU cores reach a test NLL of 84.80 nats with the
      mixture against 86.79 with N(0, I), one run after the other; bench/RESULTS.md). Conditioned models, the
      estimators and the ``Autoencoder`` keep N(0, I) (:func:`vaekit.model.default_config`);
    * colour: conv encoder/decoder, latent 64, discretized logistic (honest bits/dim on 8-bit data),
      trained with learning rate 3e-3: at 1e-3 the discretized logistic learns colour so slowly that
      reconstructions come out greyish (300 RGB 32x32 colour gradients, the full preset of 50 epochs:
      best validation loss 14,352 at 1e-3 vs 11,096 at 3e-3; mean absolute reconstruction error 0.128
      vs 0.053; colour spread of the reconstructions 0.79 vs 0.89 of the data's).
    """

    example_ndim = 3
    shape_text = "(channels, height, width)"

    def model_defaults(self, spec):
        if spec.shape[0] == 1:
            return dict(net="mlp", hidden_dims=(512, 256), latent_dim=32, likelihood="bernoulli",
                        prior="mixture", prior_options={"components": 50})
        return dict(net="conv", net_options={"channels": (32, 64, 128)}, latent_dim=64, likelihood="discretized_logistic")

    def train_defaults(self, spec):
        return dict(lr=3e-3, binarize="dynamic") if spec.shape[0] == 1 else dict(lr=3e-3)

    def recipes(self, spec):
        """Grey-level images: ``"fast"`` (a smaller MLP, 256-128 with latent 16, and the standard normal
        prior, for short budgets) and ``"best"`` (the default nets and the default's learned 50-component
        mixture prior, chosen on MNIST's validation loss at a 4-minute budget: 90.23 against the standard
        normal prior's 92.44, the VampPrior's 90.72 and, in a second run, 91.45 against the two-layer
        ladder prior's 93.36; bench/RESULTS.md).
        Both keep the default's Bernoulli likelihood, dynamic binarisation and the cosine schedule that
        follows the time budget; ``"fast"`` and the default train with batch 128 and peak lr 3e-3.
        ``"best"`` takes batch 256 and peak lr 4e-3 (on 2 CPU cores 1.5x the epochs per minute; MNIST
        validation loss 90.25 against 91.20 at 4 minutes and 87.62 against 88.01 at 60 minutes, where its
        test NLL is 83.97 nats against 84.20, IWAE k = 1000), and trains in ``precision="auto"``: bf16
        autocast of the nets where the device multiplies bf16 natively, fp32 elsewhere (on 2 cores of an
        AMX Xeon its epochs are 1.095x faster in bf16, interleaved in one process, and 60 minutes in bf16
        reach the same test NLL as in fp32, 84.20 against 84.17 at batch 128; bench/RESULTS.md). The other
        presets, and every task built on them, stay fp32, the arithmetic their figures were measured in.
        Colour images have the default preset only."""
        if spec.shape[0] != 1:
            return {}
        return {
            "fast": (dict(hidden_dims=(256, 128), latent_dim=16, prior="standard_normal"), dict(batch_size=128)),
            # precision "auto": bf16 autocast where the device multiplies bf16 natively (CUDA, AMX CPUs), else fp32
            "best": (dict(prior="mixture", prior_options={"components": 50}),
                     dict(batch_size=256, lr=4e-3, precision="auto")),
        }


@DATA_KINDS.register("table")
class TableKind(DataKind):
    """A standardised feature vector built from named numeric and one-hot categorical columns.

    The preset is the ``"mixed"`` likelihood (a Gaussian per numeric feature, a categorical per one-hot
    block; see :mod:`vaekit.data.tables` for the blocks), an MLP sized to the input, and
    ``missing="ignore"`` when the training table has missing cells (they are masked, not refused).
    Measured for synthesis in ``bench/synth.py`` (validation split of six real tables, RESULTS.md).
    """

    example_ndim = 1
    shape_text = "(features,)"
    #: how ``vaekit train`` encodes a table's numeric columns (see :mod:`vaekit.data.tables`)
    normalization = "mode"

    def model_defaults(self, spec):
        from .tables import mixed_blocks

        base = _vector_defaults(spec)
        base.update(likelihood="mixed", likelihood_options={"categorical": mixed_blocks(spec)})
        if any(r > 0 for r in spec.missing_rates):
            base["missing"] = "ignore"
        return base

    def train_defaults(self, spec):
        # up to 300 epochs, ended by early stopping on the validation split (10 epochs without improvement):
        # 50 epochs are a few hundred steps on a table of a thousand rows, too few to learn its dependences
        return dict(epochs=300)


@DATA_KINDS.register("array")
class ArrayKind(DataKind):
    """Any other float vectors (or arrays)."""


@DATA_KINDS.register("text")
class TextKind(DataKind):
    """Sentences as token ids, shape (max_length + 1,): the tokens, ``<eos>``, then ``<pad>``
    (:mod:`vaekit.data.text`; the vocabulary is ``DataSpec.vocabulary``).

    The preset (``net="sequence"``, ``likelihood="tokens"``): a bidirectional GRU encoder and a GRU decoder
    fed z at every step (embeddings 128, states 256: on one CPU core a step of the 512-wide net took 2.7x
    as long), latent 16 with free bits of 0.25 nats per dimension (so KL >= 4 nats and no dimension
    collapses) and a linear KL warm-up over 1,000 steps; word dropout off (it is there against collapse,
    which free bits already prevent, and it costs likelihood), learning rate 2e-3 with the cosine schedule.
    Chosen on the valid split of WordNet examples with ``bench/text.py``: with 30 minutes on one core it
    reached 36.30 nats per test sentence (IWAE k=100), KL 4.6, 16 of 16 units active, against 36.54 for
    the same decoder as a language model (``bench/RESULTS.md``).
    """

    example_ndim = 1
    shape_text = "(max_length + 1,)"

    #: the preset's settings (tuned on the validation split of WordNet examples, bench/text.py)
    MODEL = dict(latent_dim=16, free_bits=0.25)
    NET = dict(embed_dim=128, hidden_size=256, word_dropout=0.0)
    TRAIN = dict(lr=2e-3, batch_size=64, kl_warmup=1000, kl_warmup_unit="steps", kl_schedule="linear",
                 grad_clip=5.0, early_stopping_patience=5)

    def model_defaults(self, spec):
        if not spec.vocabulary:
            raise ConfigError(f"Text data {spec.name!r} has no vocabulary (DataSpec.vocabulary); load it with "
                              f"vaekit.datasets.load(PATH, kind='text').")
        return dict(net="sequence", likelihood="tokens", net_options={"vocab_size": len(spec.vocabulary), **self.NET},
                    **self.MODEL)

    def train_defaults(self, spec):
        return dict(self.TRAIN)


def kind_of(spec) -> DataKind:
    """The :class:`DataKind` of a DataSpec."""
    return DATA_KINDS.get(spec.kind)()
