"""Latent embeddings: the scikit-learn transformer, and (re-exported here) the rest of the embedding tasks.

* :class:`VAETransformer` -- ``fit`` / ``transform`` (posterior means) / ``inverse_transform`` (decoder
  means), usable inside a :class:`sklearn.pipeline.Pipeline`.
* :func:`encode` (:mod:`vaekit.tasks.encoding`) -- posterior means or draws, batch by batch.
* :func:`embed_file` (:mod:`vaekit.tasks.embed_stream`) -- posterior means (or draws) of a whole data
  source written to ``.npy``, ``.csv`` or ``.parquet`` in bounded memory.
* :func:`reduce_2d`, :func:`latent_html` (:mod:`vaekit.tasks.latent_page`) -- PCA, t-SNE or UMAP of
  latent codes to two dimensions; a self-contained interactive scatter page.
* :func:`nearest_neighbors` / :func:`neighbors_picture` (:mod:`vaekit.tasks.neighbors`) -- examples
  closest to a query in latent space.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np
import torch
from sklearn.base import TransformerMixin

from .._validation import Boolean, Interval, check_param
from ..config import TrainConfig
from ..data import Dataset
from ..errors import ConfigError, DataError
from ._estimator import VAEEstimator, as_array
from .embed_stream import EMBED_FORMATS, EmbedResult, embed_file
from .encoding import encode
from .latent_page import REDUCTIONS, latent_html, latent_scatter_figure, reduce_2d, write_latent_html
from .neighbors import Neighbors, nearest_neighbors, neighbors_picture

__all__ = [
    "VAETransformer",
    "encode",
    "EmbedResult",
    "EMBED_FORMATS",
    "embed_file",
    "REDUCTIONS",
    "reduce_2d",
    "latent_scatter_figure",
    "latent_html",
    "write_latent_html",
    "Neighbors",
    "nearest_neighbors",
    "neighbors_picture",
]

#: ``epochs="auto"`` trains for about this many optimiser steps (60 epochs of MNIST's 60,000 digits in batches
#: of 128: on a validation split that gave better k-NN accuracy than 26 epochs, bench/RESULTS.md) ...
AUTO_STEPS = 28_000
#: ... but at least / at most this many epochs ...
AUTO_EPOCHS = (10, 100)
#: ... and at most this much work (examples x parameters x epochs): about 60 MNIST epochs of the
#: 1.07M-parameter 512-256 MLP, some 5 minutes on 2 CPU cores; larger data or nets train fewer epochs.
AUTO_WORK = 4e12
#: The KL weight by default: on held-out MNIST digits (fit on 50,000, k-NN on the next 10,000, 60 epochs)
#: beta 0.1 / 0.25 / 0.5 / 1 gave k-NN accuracy 0.9685 / 0.9669 / 0.9650 / 0.9632 (bench/RESULTS.md).
DEFAULT_BETA = 0.1
#: ``kl_warmup="auto"`` raises the KL weight linearly over this share of the training steps.
AUTO_WARMUP_SHARE = 0.2


# ================================================================================================ transformer
class VAETransformer(TransformerMixin, VAEEstimator):
    """A VAE (or deterministic autoencoder) as a scikit-learn transformer: data in, latent codes out.

    ``fit`` trains :class:`vaekit.VAE` (built with :meth:`vaekit.VAE.for_data`, so the network and
    likelihood suit the data) with :func:`vaekit.fit`; ``transform`` returns posterior means E[z|x];
    ``inverse_transform`` returns decoder means E[x|z] in the units of ``X``.

    How ``X`` is read (the same rules apply again in ``transform``; see :class:`vaekit.tasks._estimator.InputFormat`):

    * a :class:`vaekit.Dataset` is used as it is (model space);
    * a pandas DataFrame is a table: numeric columns standardised, text columns one-hot encoded;
    * arrays of shape (n, H, W), (n, H, W, C) or (n, C, H, W) are images (integers are 8-bit, 0..255);
    * 2-D arrays with every value in [0, 1] are used as they are (Bernoulli likelihood by default);
      2-D ``uint8`` arrays are divided by 255 first (flattened 8-bit images);
    * any other 2-D array is standardised per column (Gaussian likelihood by default).
    What the defaults measured (bench/embedding.py, bench/RESULTS.md): ``VAETransformer(latent_dim=10)``
    fitted on the 60,000 MNIST training digits gives a k-NN (k=5) test accuracy of 0.9716 on the 10,000
    test digits (2026-12-02; 60 epochs, 4.4 minutes on 2 CPU cores; PCA to 10-D: 0.928).

    Parameters
    ----------
    latent_dim : int, default 2
        Dimension of the embedding.
    epochs : int or "auto", default "auto"
        Passes over the data. ``"auto"``: enough for about 28,000 optimiser steps, between 10 and
        100 epochs (60 epochs for 60,000 examples in batches of 128; 100 for a few thousand rows or
        fewer), and fewer when examples x parameters x epochs would pass :data:`AUTO_WORK` (large data,
        large nets).
    batch_size : int, default 128
        Examples per optimiser step (and per batch in ``transform``, times 8).
    lr : float, default 1e-3
        Learning rate of AdamW.
    beta : float, default 0.1
        Weight of the KL term (1 gives the ELBO; smaller values trade prior matching for reconstruction
        and, for embeddings, class separation: the default 0.1 gave the best k-NN accuracy of 0.1, 0.25,
        0.5 and 1 on held-out MNIST digits). Use 1 for a model whose bound is log p(x).
    kl_warmup : int or "auto", default "auto"
        Epochs of linear KL warm-up from 0 to ``beta``; ``"auto"``: the first 20% of the training steps.
    hidden_dims : tuple of int or None, default None
        MLP hidden widths; None keeps vaekit's preset for the data (512-256 for grey images, sized to
        the input for tables).
    likelihood : str or None, default None
        Family of p(x|z); None chooses: the preset for images, ``"bernoulli"`` for [0, 1] arrays,
        ``"gaussian"`` for tables.
    binarize : "auto" or bool, default "auto"
        Train on fresh Bernoulli draws x ~ Bernoulli(x) of [0, 1] data every batch (dynamic
        binarisation). ``"auto"``: never; grey levels are kept as Bernoulli targets (in a short MNIST
        comparison they gave slightly better k-NN accuracy of the posterior means than dynamic binarisation).
    autoencoder : bool, default False
        Train the deterministic :class:`vaekit.Autoencoder` instead (codes instead of posterior means).
    val_fraction : float, default 0.0
        Share of the data held out to pick the best epoch (and stop early); 0 trains on everything.
    max_time : float or None, default None
        Training budget in seconds (training stops at the first step after it runs out).
    seed : int, default 0
        Seed of initialisation, shuffling and noise; the same seed gives the same embedding.
    device : str, default "cpu"
        Torch device for training and encoding.
    progress : bool, default False
        Show a progress bar while training.

    Attributes
    ----------
    model_ : VAE or Autoencoder
        The trained model (``vaekit.save(model_, path)`` writes a run directory).
    n_features_in_, feature_names_in_, history_
        As for every vaekit estimator: see :class:`vaekit.tasks._estimator.VAEEstimator`.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.pipeline import make_pipeline
    >>> from sklearn.linear_model import LogisticRegression
    >>> X = np.random.default_rng(0).normal(size=(60, 5)); y = (X[:, 0] > 0).astype(int)
    >>> vae = VAETransformer(latent_dim=2, epochs=3, hidden_dims=(16,))
    >>> vae.fit_transform(X).shape
    (60, 2)
    >>> vae.inverse_transform(vae.transform(X[:4])).shape
    (4, 5)
    >>> make_pipeline(VAETransformer(epochs=2, hidden_dims=(8,)), LogisticRegression()).fit(X, y).score(X, y) > 0
    True
    """

    def __init__(
        self,
        latent_dim: int = 2,
        *,
        epochs: int | str = "auto",
        batch_size: int = 128,
        lr: float = 1e-3,
        beta: float = DEFAULT_BETA,
        kl_warmup: int | str = "auto",
        hidden_dims: Sequence[int] | None = None,
        likelihood: str | None = None,
        binarize: bool | str = "auto",
        autoencoder: bool = False,
        val_fraction: float = 0.0,
        # run control, shared by every vaekit estimator:
        max_time: float | None = None, seed: int = 0, device: str = "cpu", progress: bool = False,
    ):
        self._store_params(locals())

    _parameter_constraints = {
        **VAEEstimator._parameter_constraints,
        "latent_dim": [Interval("int", 1, None)],
        "lr": [Interval("float", 0, None, closed="neither")],
        "kl_warmup": [Interval("int", 0, None), "auto"],
        "binarize": ["auto", Boolean()],
        "autoencoder": [Boolean()],
    }
    _auto_epochs = (AUTO_STEPS, *AUTO_EPOCHS)
    _auto_work = AUTO_WORK

    def _train_config(self, data: Dataset, model) -> TrainConfig:
        likelihood = model.config.likelihood
        epochs, steps_per_epoch = self._n_epochs(len(data) - int(round(self.val_fraction * len(data))), model)
        if self.autoencoder:
            warmup, unit = 0, "epochs"
        elif self.kl_warmup == "auto":
            warmup, unit = int(round(AUTO_WARMUP_SHARE * epochs * steps_per_epoch)), "steps"
        else:
            warmup, unit = int(self.kl_warmup), "epochs"
        binarize = "dynamic" if self.binarize is True else "none"
        if binarize == "dynamic" and likelihood != "bernoulli":
            raise ConfigError(
                f"The 'binarize' parameter of {type(self).__name__} can be True only with the Bernoulli likelihood; "
                f"the likelihood is {likelihood!r}."
            )
        return TrainConfig(
            epochs=epochs, batch_size=int(self.batch_size), lr=float(self.lr), kl_warmup=warmup, kl_warmup_unit=unit,
            binarize=binarize, val_fraction=float(self.val_fraction), max_time=self.max_time, seed=int(self.seed),
        )

    # ------------------------------------------------------------------ fit
    def fit(self, X, y=None) -> "VAETransformer":
        """Train the model on ``X``.

        Parameters
        ----------
        X : ndarray, Tensor, DataFrame or Dataset
            Examples, read as described in the class docstring.
        y : ignored
            Present for :class:`~sklearn.pipeline.Pipeline` compatibility.

        Returns
        -------
        self
        """
        from ..model import VAE, Autoencoder
        from ..training import fit

        data, fmt, names = self._fit_data(X)
        overrides = self._model_overrides(fmt, latent_dim=int(self.latent_dim), beta=float(self.beta))
        cls = Autoencoder if self.autoencoder else VAE
        model = cls.for_data(data, **overrides).to(self._torch_device())
        config = self._train_config(data, model)
        self.history_ = fit(model, data, config, progress=bool(self.progress)).history
        self._adopt(model, fmt, names)
        return self

    @classmethod
    def _run_params(cls, model, train_config, run) -> dict[str, Any]:
        from ..model import Autoencoder

        own = {**super()._run_params(model, train_config, run), "autoencoder": isinstance(model, Autoencoder)}
        if train_config is not None:
            own["binarize"] = train_config.binarize == "dynamic"
        return own

    # ------------------------------------------------------------------ transform
    def transform(self, X, *, sample: bool = False, seed: int | None = None) -> np.ndarray:
        """Embed ``X``: posterior means E[z|x], or draws z ~ q(z|x) with ``sample=True``.

        Parameters
        ----------
        X : ndarray, Tensor, DataFrame or Dataset
            Read like the training data.
        sample : bool, default False
            Draw from the posterior instead of taking its mean.
        seed : int or None
            Seed of the draws; None uses the estimator's ``seed`` (so repeated calls agree).

        Returns
        -------
        ndarray of shape (n_samples, latent_dim), float32

        Raises
        ------
        NotFittedError
            Before ``fit``.
        DataError
            ``X`` does not look like the training data (``X has 3 features, but VAETransformer is
            expecting 4 features as input.``).
        """
        self._check_fitted()
        check_param(type(self).__name__, "seed", seed, Interval("int", 0, None, optional=True))
        g = torch.Generator().manual_seed(self.seed if seed is None else seed) if sample else None
        return encode(self.model_, self._model_input(X), sample=bool(sample), generator=g,
                      batch_size=8 * int(self.batch_size))

    @torch.inference_mode()
    def inverse_transform(self, X) -> Any:
        """Decode latent codes: decoder means E[x|z] in the units of the training ``X``.

        Parameters
        ----------
        X : array-like of shape (n_samples, latent_dim)

        Returns
        -------
        ndarray or DataFrame
            Same layout as the training input: (n, n_features) for 2-D arrays (de-standardised for
            tables; times 255 for ``uint8`` input), a DataFrame with the original columns for
            DataFrames (categories by highest score), images in their original layout (times 255
            for 8-bit input), model space (n, *data_shape) for Datasets.
        """
        self._check_fitted()
        z = as_array(X)
        d = self.model_.latent_dim
        if z.ndim != 2 or z.shape[1] != d:
            got = z.shape[1] if z.ndim == 2 else z.shape
            raise DataError(f"X has {got} features, but {type(self).__name__}.inverse_transform is expecting "
                            f"{d} features (latent_dim) as input.")
        model = self.model_
        zt = torch.as_tensor(np.asarray(z, dtype=np.float32))
        step = 8 * int(self.batch_size)
        x = np.concatenate([model.decode(zt[i : i + step].to(model.device)).mean.cpu().numpy()
                            for i in range(0, len(zt), step)]) if len(zt) else np.zeros((0, *model.data_shape), np.float32)
        return self._input_format.to_user(x, model.data_spec)

    def get_feature_names_out(self, input_features=None) -> np.ndarray:
        """Names of the embedding's columns: ``z0``, ``z1``, ... (as in ``vaekit embed`` files)."""
        self._check_fitted()
        if input_features is not None:
            input_features = np.asarray(input_features, dtype=object)
            if len(input_features) != self.n_features_in_:
                raise ValueError(f"input_features should have length equal to number of features "
                                 f"({self.n_features_in_}), got {len(input_features)}")
            if hasattr(self, "feature_names_in_") and not np.array_equal(input_features, self.feature_names_in_):
                raise ValueError("input_features is not equal to feature_names_in_")
        return np.asarray([f"z{i}" for i in range(self.model_.latent_dim)], dtype=object)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.transformer_tags.preserves_dtype = []  # embeddings are float32 whatever the input dtype
        return tags
