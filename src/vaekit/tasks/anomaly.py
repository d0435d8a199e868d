"""Anomaly detection with a VAE: a scikit-learn outlier detector, its run-directory form and its pictures.

* :class:`VAEOutlierDetector` -- ``fit`` / ``score_samples`` / ``decision_function`` / ``predict``
  exactly as scikit-learn's outlier detectors (:class:`sklearn.ensemble.IsolationForest`), plus
  ``feature_scores`` (per-pixel or per-column contributions) and ``from_run``.
* :func:`fit_run` / :func:`score_run` -- what ``vaekit anomaly fit`` and ``vaekit anomaly score`` do:
  a run directory that also holds the detector (``anomaly.json``, ``anomaly.safetensors``), and a
  scores table with its pictures (``scores.png``, ``top.png``).

Sign convention: ``score_samples`` is *higher for more normal* inputs, as in scikit-learn. PyOD's
``decision_function`` / ``decision_scores_`` have the opposite sign (higher = more anomalous): use
``-detector.score_samples(X)`` where PyOD scores are expected.

Scoring rules (``scoring=``), all per example, higher = more normal:

* ``"elbo"``: the evidence lower bound log p(x|z) - KL(q(z|x) || p(z)), averaged over ``n_samples`` z;
* ``"iwae"``: the importance-weighted estimate of log p(x) with ``n_samples`` samples (Burda et al. 2016);
* ``"reconstruction"``: minus the squared error between x and the decoder mean at the posterior mean
  (the score of PyOD's ``VAE`` and of most tutorials);
* ``"complexity"`` (images only): the IWAE log-likelihood *corrected for input complexity*: minus the
  log-likelihood of x under a small local pixel model (a one-layer causal 5x5 masked convolution, the
  first layer of a PixelCNN, trained on the same data with the same likelihood). Likelihoods of
  images are dominated by how simple an image is -- a model of 8s gives plain 1s a high likelihood
  (Nalisnick et al. 2019); Serra et al. (2020) subtract a generic compressor's code length, and a
  local model in the same units is such a compressor (the likelihood ratio of Schirrmeister et al. 2020).
  Measured best on one-class MNIST (``bench/anomaly.py``, ``bench/RESULTS.md``).
* ``"combined"`` (tables and vectors): three anomaly terms, each turned into a robust z-score against the
  training rows ((term - median) / IQR) and added up: the IWAE negative log-likelihood, the log distance to the
  5th nearest training row in model space (standardised columns; k-NN, the strongest simple detector of
  ADBench), and the sum over columns of -log of the smaller empirical tail probability of the value (ECOD,
  Li et al. 2022). The likelihood sees broken relations between columns, the k-NN term sees isolated rows,
  the tail term sees one extreme value that the likelihood spreads thin. Measured best on ADBench's tables
  (``bench/anomaly.py --tables adbench``; chosen on 10 of the 19 tables, see ``bench/RESULTS.md``);
  the scores are in z units, not nats.
* ``"auto"`` (default): ``"complexity"`` for images (also flat rows read with ``image_shape``), ``"combined"``
  for tables and vectors.

Flat vectors that are images (``fetch_openml("mnist_784")`` gives (n, 784) floats) are read as images with
``image_shape=(28, 28)``; without it, a 2-D array with a square number (>= 64) of columns, all in [0, 1] or
0..255, gets a UserWarning that suggests it.

Contamination-robust training (``trim``, tables and vectors): the data to fit usually holds some anomalies, so
the model is trained twice, each with half the budget -- on every row, then afresh without the ``trim`` share
of rows the first model found least likely.

Every stochastic score uses the same ``n_samples`` standard-normal draws for every example
(common random numbers, drawn from ``seed``): an example's score does not depend on the batch it is in
or on the order of ``X``, and repeated calls agree.
"""

from __future__ import annotations

import logging
import math
import os
from numbers import Real
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from sklearn.base import OutlierMixin
from sklearn.utils._param_validation import Interval as SklearnInterval
from torch import nn

from .. import io as vio
from .. import rundir
from .._validation import Interval, IntSequence, Options, check_param
from ..data import Dataset
from ..errors import CheckpointError, ConfigError, DataError
from ._estimator import InputFormat, VAEEstimator, is_frame
from ._estimator import check_int as _check_int

__all__ = ["VAEOutlierDetector", "SCORES", "fit_run", "score_run", "ScoreResult", "scores_figure", "top_picture"]

logger = logging.getLogger(__name__)

#: Scoring rules of :class:`VAEOutlierDetector` (``"auto"`` picks per data kind, see the module docstring).
SCORES = ("auto", "complexity", "combined", "iwae", "elbo", "reconstruction")
#: What ``scoring="combined"`` adds up (each as a robust z-score against the training data, higher = more anomalous):
#: "nll", minus the IWAE log-likelihood; "knn", the log distance to the KNN_K-th nearest training row in model space
#: (standardised columns); "latent_knn", the same between posterior means.
COMBINED = ("nll", "tails")
#: ``trim="auto"`` for tables and vectors: the share of highest-loss rows left out of the second half of training.
TABLE_TRIM = 0.0
#: ``scoring="auto"`` for tables and vectors (measured: bench/RESULTS.md, ADBench section).
TABLE_RULE = "combined"
#: Neighbours of the k-NN terms of ``scoring="combined"`` (PyOD's KNN default).
KNN_K = 5
#: Most training rows kept as the k-NN reference (a seeded subsample beyond).
MAX_REFERENCE = 50_000
#: The detector's files inside a run directory.
DETECTOR_FILE = "anomaly.json"
LOCAL_WEIGHTS_FILE = "anomaly.safetensors"
#: ``epochs="auto"`` trains for about AUTO_STEPS (10,000) optimiser steps, but at least / at most this many
#: epochs (more than VAETransformer allows: small tables need many passes for the likelihood's scales to settle).
AUTO_EPOCHS = (10, 1000)
#: Learning rate for tables and vectors when ``lr=None`` (3e-3 beat the preset's 1e-3 on the tabular tasks of
#: ``bench/anomaly.py``: mean AUROC 0.950 vs 0.940; the per-feature scales of the Gaussian settle sooner).
TABLE_LR = 3e-3
#: ``max_time="auto"`` with ``epochs="auto"``: the training budget in seconds for images (VAE and local pixel model
#: together) and for tables and vectors. The one-class MNIST figures of ``bench/anomaly.py`` use the image budget
#: (90 s per digit on 2 vCPUs); the ADBench figures use the table budget.
AUTO_BUDGET = (90.0, 20.0)
#: Share of the training epochs (and of ``max_time``) given to the local pixel model of ``scoring="complexity"``.
LOCAL_SHARE = 0.25


# ================================================================================================ flat images
#: Least side of a square image that ``warn_if_flat_images`` suspects (8 x 8 = 64 features).
MIN_IMAGE_SIDE = 8


def looks_like_flat_images(X) -> tuple[int, int] | None:
    """(H, W) when a 2-D array looks like flattened square grey images, else None.

    The rule: a square number of features, at least 8 x 8, with every value in [0, 1] (floats) or
    in 0..255 (integers). Only a hint -- a table of 64 probabilities fits it too.
    """
    from ._estimator import as_array

    if is_frame(X) or isinstance(X, Dataset):
        return None
    try:
        a = as_array(X)
    except DataError:
        return None
    if a.ndim != 2 or a.shape[0] == 0:
        return None
    side = math.isqrt(a.shape[1])
    if side < MIN_IMAGE_SIDE or side * side != a.shape[1]:
        return None
    if a.dtype.kind == "f":
        if not np.isfinite(a).all():
            return None
        lo, hi = float(a.min()), float(a.max())
        ok = lo >= 0 and hi <= 1
    elif a.dtype.kind in "iu":
        ok = int(a.min()) >= 0 and int(a.max()) <= 255
    else:
        ok = False
    return (side, side) if ok else None


def warn_if_flat_images(X, owner: str) -> None:
    """A UserWarning when ``X`` looks like flat images (:func:`looks_like_flat_images`) but is read as a table."""
    shape = looks_like_flat_images(X)
    if shape is not None:
        import warnings

        warnings.warn(
            f"X has {shape[0] * shape[1]} features per row, all in [0, 1] or 0..255: it looks like flattened "
            f"{shape[0]}x{shape[1]} images, which {owner} reads as a table of independent columns. If they are "
            f"images, pass image_shape={shape} (--image-shape {shape[0]}x{shape[1]} on the command line): the "
            f"image model and the complexity-corrected image score then apply (one-class MNIST as flat vectors: "
            f"mean AUROC 0.987 with it, see bench/RESULTS.md).",
            UserWarning, stacklevel=4,
        )


def images_from_rows(data: Dataset, shape: Sequence[int]) -> Dataset:
    """A Dataset of flat rows (a ``.npy`` array or a table file with one pixel per column) as images of
    ``shape`` ((H, W) or (C, H, W)), values in [0, 1] or 0..255 as they are in the file.

    Image datasets come back as they are (their shape must be ``shape``).

    Raises
    ------
    DataError
        The rows do not have prod(shape) values, or the values are neither in [0, 1] nor in 0..255.
    """
    from ..data import from_array

    shape = tuple(int(v) for v in shape)
    image = (1, *shape) if len(shape) == 2 else shape
    if data.kind == "image":
        if tuple(data.shape) != image:
            raise DataError(f"Dataset '{data.name}' holds images of shape {tuple(data.shape)}, not the image shape "
                            f"{shape} given.")
        return data
    if math.prod(data.shape) != math.prod(shape):
        raise DataError(f"Dataset '{data.name}' has {math.prod(data.shape)} values per row, but image shape {shape} "
                        f"needs {math.prod(shape)}.")
    x = data.x.numpy() if isinstance(data.x, torch.Tensor) else np.asarray(data.x)
    if data.spec.kind == "table":
        from ..data.tables import decode_table

        x = decode_table(x.reshape(len(x), -1), data.spec).to_numpy(dtype=np.float64)
    x = np.asarray(x, dtype=np.float64).reshape(len(x), *shape)
    lo, hi = float(x.min()), float(x.max())
    if lo >= 0 and hi <= 1:
        pixels = x.astype(np.float32)
    elif lo >= 0 and hi <= 255 and np.allclose(x, np.round(x), atol=1e-4):
        pixels = np.round(x).astype(np.uint8)
    else:
        raise DataError(f"Dataset '{data.name}' has values in [{lo:.4g}, {hi:.4g}]; image pixels must lie in [0, 1] "
                        f"or be integers 0..255.")
    y = None if data.y is None else data.y.numpy()
    return from_array(pixels, y=y, name=data.name)


# ================================================================================================ local model
class _MaskedConv2d(nn.Conv2d):
    """A k x k convolution that sees only pixels above and to the left (PixelCNN mask "A", van den Oord et al. 2016)."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int):
        super().__init__(in_channels, out_channels, kernel_size, padding=kernel_size // 2)
        mask = torch.ones_like(self.weight)  # (out, in, k, k)
        c = kernel_size // 2
        mask[:, :, c, c:] = 0  # the pixel itself and those right of it
        mask[:, :, c + 1 :] = 0  # rows below
        self.register_buffer("mask", mask)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.conv2d(x, self.weight * self.mask, self.bias, padding=self.padding)


class LocalPixelModel(nn.Module):
    """p(x) = prod_i p(x_i | the pixels of a causal k x k neighbourhood): a generic "compressor" of images.

    One masked convolution then two 1x1 layers, so each pixel sees only its local causal context; the
    output parameterises the same likelihood family as the VAE (a fresh copy of ``likelihood``).

    Parameters
    ----------
    data_shape : tuple (C, H, W)
    likelihood : vaekit Likelihood
        Module turning (batch, n_params, C, H, W) parameters into a distribution over (C, H, W).
    kernel_size : int
    hidden : int
    """

    def __init__(self, data_shape: Sequence[int], likelihood: nn.Module, kernel_size: int = 5, hidden: int = 32):
        super().__init__()
        c = int(data_shape[0])
        self.data_shape = tuple(int(v) for v in data_shape)
        self.n_params = int(likelihood.n_params)
        self.net = nn.Sequential(
            _MaskedConv2d(c, hidden, kernel_size), nn.ELU(), nn.Conv2d(hidden, hidden, 1), nn.ELU(),
            nn.Conv2d(hidden, self.n_params * c, 1),
        )
        self.likelihood = likelihood

    def log_prob(self, x: torch.Tensor, target: torch.Tensor | None = None) -> torch.Tensor:
        """log p(target) given the context in ``x`` (default ``target = x``): shape (batch,)."""
        h = self.net(x)  # (batch, n_params * C, H, W)
        params = h.view(x.shape[0], self.n_params, *self.data_shape)  # (batch, n_params, C, H, W)
        return self.likelihood(params).log_prob(x if target is None else target)


def _train_local(local: LocalPixelModel, data: Dataset, *, epochs: int, batch_size: int, lr: float, binarize: bool,
                 seed: int, max_time: float | None) -> None:
    """Maximum-likelihood training of the local model (Adam; a plain loop: it is small and unconditional)."""
    import time

    g = torch.Generator().manual_seed(seed)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        for m in local.modules():
            if m is not local and hasattr(m, "reset_parameters"):
                m.reset_parameters()
    opt = torch.optim.Adam(local.parameters(), lr=lr)
    device = next(local.parameters()).device
    start = time.perf_counter()
    local.train()
    for _ in range(epochs):
        for xb in data.batches(batch_size, shuffle=True, generator=g):
            xb = xb.to(device)
            if binarize:  # the same targets the VAE was trained on
                xb = (torch.rand(xb.shape, generator=g).to(device) < xb).to(xb.dtype)
            loss = -local.log_prob(xb).mean()
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        if max_time is not None and time.perf_counter() - start > max_time:
            break
    local.eval()


# ================================================================================================ the detector
class VAEOutlierDetector(OutlierMixin, VAEEstimator):
    """A VAE trained on normal data flags inputs it finds unlikely: scikit-learn's outlier-detector API.

    ``fit`` trains :class:`vaekit.VAE` (built with :meth:`vaekit.VAE.for_data` and trained with
    :func:`vaekit.fit` on the preset of :func:`vaekit.training.default_train_config`). Then

    * ``score_samples(X)``: higher = more normal (see ``score``);
    * ``offset_``: the threshold, from ``contamination``;
    * ``decision_function(X) = score_samples(X) - offset_`` (negative = outlier);
    * ``predict(X)``: +1 for inliers, -1 for outliers (``decision_function < 0``).

    PyOD's detectors use the opposite sign (higher = more anomalous): ``-score_samples(X)`` is the
    PyOD-style score.

    What the defaults measured (bench/RESULTS.md, 2 CPU cores): on the 19 ADBench tables of
    ``../shared/data/anomaly`` (fit on every row, score every row), ``VAEOutlierDetector()`` has mean AUROC
    0.754 against IsolationForest's 0.742, ECOD's 0.734, PCA's 0.716 and kNN's 0.699, better than
    IsolationForest on 12 of 19 (``bench/anomaly.py --tables adbench``). On one-class MNIST (fit on the
    ~6,000 training images of one digit, score the 10,000 test images) the defaults with ``max_time=90``
    have mean AUROC 0.987 on flat vectors with ``image_shape=(28, 28)`` (``bench/anomaly.py --mnist flat``).

    ``X`` is read as by :class:`vaekit.VAETransformer`: a :class:`vaekit.Dataset` as it is; a pandas
    DataFrame as a table (numeric columns standardised, text columns one-hot encoded; missing values are
    refused with the column and row named); arrays (n, H, W), (n, H, W, C) or (n, C, H, W) as images
    (integers are 8-bit); 2-D arrays in [0, 1] as they are; other 2-D arrays standardised per column.

    Parameters
    ----------
    latent_dim : int or None, default None
        Dimension of z; None keeps the preset for the data (32 for grey images, up to 16 for tables).
    scoring : {"auto", "complexity", "combined", "iwae", "elbo", "reconstruction"}, default "auto"
        Scoring rule (see :mod:`vaekit.tasks.anomaly`); ``"auto"``: ``"complexity"`` for images,
        ``"combined"`` otherwise.
    contamination : float in (0, 0.5] or "auto", default "auto"
        Expected share of outliers in the training data: ``offset_`` is that quantile of the training
        scores. ``"auto"``: Tukey's lower fence, Q1 - 1.5 IQR of the training scores.
    n_samples : int, default 16
        Importance samples (``"iwae"``, ``"complexity"``) or draws of z (``"elbo"``) per example.
    epochs : int or "auto", default "auto"
        Passes over the data; ``"auto"``: about 10,000 optimiser steps, between 10 and 1,000 epochs
        (a wall-clock budget, ``max_time``, may stop it sooner).
    batch_size : int, default 128
    lr : float or None, default None
        Learning rate of AdamW; None: 3e-3 for tables, vectors and grey images, the preset 1e-3 for colour images.
    beta : float, default 1.0
        Weight of the KL term.
    hidden_dims : tuple of int or None, default None
        MLP hidden widths; None keeps the preset.
    likelihood : str or None, default None
        Family of p(x|z); None: the preset (Bernoulli for grey images and [0, 1] vectors, Gaussian for tables).
    val_fraction : float, default 0.0
        Share of the data held out to pick the best epoch.
    image_shape : (H, W), (C, H, W) or None, default None
        Read 2-D input (n, H*W*C) as images of this shape (values in [0, 1], or integers 0..255): the
        image model and ``scoring="complexity"`` then apply. Without it, flat rows that look like square
        images raise a UserWarning.
    trim : float in [0, 0.5) or "auto", default "auto"
        Contamination-robust training: the share of least likely training rows left out of a second,
        fresh fit (each fit gets half the budget). ``"auto"``: TABLE_TRIM for tables and vectors, 0 for images.
    max_time : float, None or "auto", default "auto"
        Training budget in seconds (the local pixel model gets 25% of it). ``"auto"``: with ``epochs="auto"``,
        90 s for images and 60 s for tables and vectors (so a default fit ends in bounded time, whatever the
        data's size); with a number of epochs, no budget. None: no budget.
    seed : int, default 0
        Seed of initialisation, shuffling and the scoring draws.
    device : str, default "cpu"
    progress : bool, default False
        Show a progress bar while training.

    Attributes
    ----------
    model_ : VAE
        The trained model.
    n_features_in_, feature_names_in_, history_
        As for every vaekit estimator: see :class:`vaekit.tasks._estimator.VAEEstimator`.
    local_model_ : LocalPixelModel or None
        The complexity model (``scoring="complexity"`` only).
    scoring_ : str
        The rule in use (``"auto"`` resolved).
    offset_ : float
        Threshold on ``score_samples``.
    train_scores_ : ndarray of shape (n_train,)
        ``score_samples`` of the training data (for histograms).
    component_stats_ : dict or None
        ``scoring="combined"``: {term: (median, IQR) on the training rows}.
    reference_ : ndarray
        ``scoring="combined"``: the training rows in model space (at most 50,000), for the k-NN and tail terms.
    trimmed_ : ndarray of int
        With ``trim``: the training rows left out of the second fit (the likeliest anomalies).

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(200, 4)) @ rng.normal(size=(4, 6))
    >>> det = VAEOutlierDetector(epochs=5, hidden_dims=(16,), contamination=0.05).fit(X)
    >>> float((det.predict(X) == -1).mean())  # contamination=0.05 of the training data flagged
    0.05
    >>> bool(det.score_samples(np.full((1, 6), 50.0))[0] < det.offset_)  # far from the data
    True
    """

    def __init__(
        self,
        latent_dim: int | None = None,
        *,
        scoring: str = "auto",
        contamination: float | str = "auto",
        n_samples: int = 16,
        epochs: int | str = "auto",
        batch_size: int = 128,
        lr: float | None = None,
        beta: float = 1.0,
        hidden_dims: Sequence[int] | None = None,
        likelihood: str | None = None,
        val_fraction: float = 0.0,
        image_shape: Sequence[int] | None = None,
        trim: float | str = "auto",
        # run control, shared by every vaekit estimator:
        max_time: float | str | None = "auto", seed: int = 0, device: str = "cpu", progress: bool = False,
    ):
        self._store_params(locals())

    _parameter_constraints = {
        **VAEEstimator._parameter_constraints,
        "latent_dim": [Interval("int", 1, None), None],
        "scoring": [Options(SCORES)],
        # scikit-learn's own Interval: its check_outlier_contamination reads this constraint
        "contamination": [SklearnInterval(Real, 0, 0.5, closed="right"), "auto"],
        "n_samples": [Interval("int", 1, None)],
        "lr": [Interval("float", 0, None, closed="neither"), None],
        "image_shape": [IntSequence(1), None],
        "trim": [Interval("float", 0, 0.5, closed="left"), "auto"],
        "max_time": [Interval("float", 0, None, closed="neither"), None, "auto"],
    }
    _auto_epochs = (10_000, *AUTO_EPOCHS)

    def _adopt(self, model, fmt: InputFormat, names, rule: str | None = None, local=None) -> None:
        super()._adopt(model, fmt, names)
        self.scoring_ = rule or self._resolve_score(model)
        self.local_model_ = local

    # ------------------------------------------------------------------ flat images
    def _image_shape(self) -> tuple[int, ...] | None:
        """``image_shape`` checked: None, (H, W) or (C, H, W) with C = 1 or 3."""
        shape = self.image_shape
        if shape is None:
            return None
        shape = tuple(int(v) for v in shape)
        if len(shape) not in (2, 3) or (len(shape) == 3 and shape[0] not in (1, 3)):
            raise ConfigError(f"The 'image_shape' parameter of {type(self).__name__} must be (H, W) or (C, H, W) with "
                              f"C = 1 or 3. Got {tuple(self.image_shape)!r} instead.")
        return shape

    def _as_images(self, X):
        """Flat rows (n, prod(image_shape)) reshaped to images (n, [C,] H, W) when ``image_shape`` is set;
        anything else as it is (image arrays, Datasets)."""
        shape = self._image_shape()
        if shape is None or isinstance(X, Dataset):
            return X
        from ._estimator import as_array

        a = as_array(X.to_numpy() if is_frame(X) else X)
        if a.ndim != 2:
            return a  # already images: InputFormat reads their layout
        if a.shape[1] != math.prod(shape):
            raise DataError(f"X has {a.shape[1]} features per row, but image_shape={shape} needs "
                            f"{math.prod(shape)} ({' x '.join(map(str, shape))}).")
        return a.reshape(len(a), *shape)

    def _fit_data(self, X):
        self._check_params()
        if self.image_shape is None and not isinstance(X, Dataset):
            warn_if_flat_images(X, type(self).__name__)
        return super()._fit_data(self._as_images(X))

    def _model_input(self, X):
        return super()._model_input(self._as_images(X))

    def _resolve_score(self, model) -> str:
        spec = model.data_spec
        is_image = len(model.data_shape) == 3 and (spec is None or spec.kind == "image")
        rule = self.scoring if self.scoring != "auto" else ("complexity" if is_image else TABLE_RULE)
        if rule == "combined" and len(model.data_shape) != 1:
            raise ConfigError(
                f"The 'scoring' parameter of {type(self).__name__} can be 'combined' only for tables and vectors (it "
                f"adds a k-NN distance between rows); the data has shape {tuple(model.data_shape)}. Use 'complexity', "
                f"'iwae', 'elbo' or 'reconstruction'."
            )
        if rule == "complexity" and not is_image:
            raise ConfigError(
                f"The 'scoring' parameter of {type(self).__name__} can be 'complexity' only for images (it corrects "
                f"for image complexity with a local pixel model); the data has shape {tuple(model.data_shape)}. "
                f"Use 'iwae', 'elbo' or 'reconstruction'."
            )
        return rule

    def _budget(self, image: bool) -> float | None:
        """The training budget in seconds: ``max_time``, or for ``"auto"`` the default budget when ``epochs="auto"``."""
        if self.max_time == "auto":
            if self.epochs != "auto":
                return None
            return float(AUTO_BUDGET[0] if image else AUTO_BUDGET[1])
        return None if self.max_time is None else float(self.max_time)

    def _train_config(self, data: Dataset, model):
        from ..training import default_train_config

        epochs, _ = self._n_epochs(len(data) - int(round(self.val_fraction * len(data))), model)
        over: dict[str, Any] = dict(epochs=epochs, batch_size=int(self.batch_size), val_fraction=float(self.val_fraction),
                                    seed=int(self.seed))
        spec = model.data_spec
        budget = self._budget(spec.kind == "image")
        if budget is not None:
            over["max_time"] = budget
        if self.lr is not None:
            over["lr"] = float(self.lr)
        elif spec.kind != "image":
            over["lr"] = TABLE_LR
        if model.config.likelihood != "bernoulli":
            over["binarize"] = "none"  # the preset binarises grey images for the Bernoulli likelihood only
        if self.val_fraction == 0:
            over["early_stopping_patience"] = None
        return default_train_config(spec, **over)

    # ------------------------------------------------------------------ fit
    def fit(self, X, y=None) -> "VAEOutlierDetector":
        """Train the VAE (and, for ``scoring="complexity"``, the local pixel model) on ``X``; set ``offset_``.

        Parameters
        ----------
        X : ndarray, Tensor, DataFrame or Dataset
            Normal examples (or mostly normal: see ``contamination``).
        y : ignored

        Returns
        -------
        self
        """
        from ..model import VAE
        from ..training import fit

        data, fmt, names = self._fit_data(X)
        latent = {} if self.latent_dim is None else {"latent_dim": int(self.latent_dim)}
        model = VAE.for_data(data, **self._model_overrides(fmt, beta=float(self.beta), **latent)).to(self._torch_device())
        rule = self._resolve_score(model)
        config = self._train_config(data, model)
        budget = self._budget(model.data_spec.kind == "image")
        share = LOCAL_SHARE if rule == "complexity" else 0.0
        if share and config.max_time is not None:
            import dataclasses

            config = dataclasses.replace(config, max_time=config.max_time * (1 - share))
        trim = self._trim(model)
        for stale in ("trimmed_", "first_history_"):
            self.__dict__.pop(stale, None)
        if trim > 0 and len(data) >= 20:
            model, data_kept = self._trimmed_fit(model, data, config, fmt, names, trim)
        else:
            self.history_ = fit(model, data, config, progress=bool(self.progress)).history
        local = None
        if rule == "complexity":
            local = self._new_local(model)
            _train_local(local, data, epochs=max(1, int(round(share * config.epochs))), batch_size=config.batch_size,
                         lr=config.lr, binarize=config.binarize == "dynamic", seed=int(self.seed),
                         max_time=None if budget is None else share * budget)
        self._adopt(model, fmt, names, rule, local)
        if rule == "combined":  # the training rows' terms are computed once, for the statistics and the threshold
            train_scores = self._fit_combined(data)
        else:
            train_scores = self.score_samples(X)
        self._set_offset(train_scores, self._feature_nll(X, mean=True))
        return self

    def _trim(self, model) -> float:
        if self.trim != "auto":
            return float(self.trim)
        return 0.0 if model.data_spec.kind == "image" else TABLE_TRIM

    def _trimmed_fit(self, model, data: Dataset, config, fmt, names, trim: float):
        """Contamination-robust training: a first model on every row (half the budget), then a fresh model
        (same seed, the other half) on the rows the first one finds likeliest -- the ``trim`` share with the
        highest loss (lowest IWAE log-likelihood), likely the anomalies in the data, is left out."""
        import dataclasses

        from ..model import VAE
        from ..training import fit

        half = config if config.max_time is None else dataclasses.replace(config, max_time=config.max_time / 2)
        first = fit(model, data, half, progress=bool(self.progress)).history
        self._adopt(model, fmt, names, "iwae", None)
        ll = self._rule_scores(data, "iwae")
        ll = np.where(np.isfinite(ll), ll, -np.inf)
        keep = np.sort(np.argsort(-ll, kind="stable")[: max(2, int(math.ceil((1 - trim) * len(data))))])
        kept = Dataset(data.get(torch.as_tensor(keep, dtype=torch.int64)), None, data.spec)
        fresh = VAE.for_data(data, **self._model_overrides(fmt, beta=float(self.beta), **(
            {} if self.latent_dim is None else {"latent_dim": int(self.latent_dim)}))).to(self._torch_device())
        second = fit(fresh, kept, half, progress=bool(self.progress)).history
        self.history_ = second
        self.first_history_ = first
        self.trimmed_ = np.setdiff1d(np.arange(len(data)), keep)  # rows left out of the second fit
        return fresh, kept

    def _new_local(self, model) -> LocalPixelModel:
        from ..likelihoods import build_likelihood

        return LocalPixelModel(model.data_shape, build_likelihood(model.config)).to(model.device)

    def _set_offset(self, scores: np.ndarray, feature_baseline: np.ndarray | None = None) -> None:
        scores = np.asarray(scores, dtype=np.float64)
        bad = int((~np.isfinite(scores)).sum())
        if bad:
            raise CheckpointError(f"{bad:,} of the {len(scores):,} training scores are not finite numbers, so no "
                                  f"threshold can be set: the model's output overflows (damaged weights, or training "
                                  f"data far outside what the model can represent).")
        self.train_scores_ = scores
        if self.contamination == "auto":
            q1, q3 = np.percentile(self.train_scores_, [25, 75])
            self.offset_ = float(q1 - 1.5 * (q3 - q1))  # Tukey's lower fence
        else:
            self.offset_ = float(np.percentile(self.train_scores_, 100.0 * float(self.contamination)))
        if feature_baseline is not None:
            self.feature_baseline_ = feature_baseline  # (*data_shape,): mean per-entry NLL of the training data

    # ------------------------------------------------------------------ run directories
    @classmethod
    def from_run(cls, run: str | os.PathLike, X=None, **params) -> "VAEOutlierDetector":
        """A fitted detector around the model of a run directory.

        A run written by ``vaekit anomaly fit`` (or :func:`fit_run`) carries the detector itself
        (threshold, local pixel model, parameters). For any other run (``vaekit train ... --out RUN``)
        the threshold is set from ``X``, by default the run's own training data; ``scoring="complexity"``
        then needs the local model trained, on the same data, for ``epochs`` // 4 passes.

        Parameters
        ----------
        run : path
        X : array-like, DataFrame, Dataset or None
            Normal data to set ``offset_`` from (default: the data the run was trained on).
        **params
            Detector parameters (``scoring``, ``contamination``, ``n_samples``, ...).

        Raises
        ------
        CheckpointError
            ``run`` is not a run directory, or its detector files are corrupt.

        Examples
        --------
        >>> det = VAEOutlierDetector.from_run("runs/digits", contamination=0.05)  # doctest: +SKIP
        """
        from ..rundir import load_run

        run = Path(run)
        loaded = load_run(run)
        model, tc, saved = loaded.model, loaded.train_config, _read_detector(run)
        est = cls._from_loaded(loaded, run, params)
        rule = est.scoring_
        tensors = rundir.load_tensors(run / LOCAL_WEIGHTS_FILE) if saved is not None and (run / LOCAL_WEIGHTS_FILE).is_file() else {}
        if rule == "complexity" and any(k.startswith("local.") for k in tensors):
            local = est._new_local(model)
            _load_prefixed(local, tensors, "local.", run / LOCAL_WEIGHTS_FILE)
            est.local_model_ = local.eval()
        same_rule = saved is not None and all(getattr(est, k) == saved["params"].get(k) for k in ("scoring", "n_samples", "seed"))
        if X is None and same_rule and (rule != "complexity" or est.local_model_ is not None):
            # the saved threshold and training scores belong to exactly this scoring rule
            est.train_scores_ = np.asarray(saved["train_scores"], dtype=np.float64)
            if "feature_baseline" in tensors:
                est.feature_baseline_ = tensors["feature_baseline"].numpy().astype(np.float64)
            if rule == "combined":
                est._load_combined(saved, tensors, run)
            if est.contamination == saved["params"].get("contamination"):
                est.offset_ = float(saved["offset"])
            else:
                est._set_offset(est.train_scores_)
            return est
        from .runs import run_data

        data = run_data(model, split="train") if X is None else X
        if rule == "complexity" and est.local_model_ is None:
            local = est._new_local(model)
            epochs = max(1, int(round(LOCAL_SHARE * (tc.epochs if tc is not None else 20))))
            train = data if isinstance(data, Dataset) else InputFormat.fit(data, cls.__name__)[0]
            _train_local(local, train, epochs=epochs, batch_size=int(est.batch_size), lr=tc.lr if tc else 1e-3,
                         binarize=tc is not None and tc.binarize == "dynamic", seed=int(est.seed), max_time=None)
            est.local_model_ = local
        if rule == "combined":
            est._fit_combined(data if isinstance(data, Dataset) else InputFormat.fit(data, cls.__name__)[0])
        est._set_offset(est.score_samples(data), est._feature_nll(data, mean=True))
        return est

    def _load_combined(self, saved: dict, tensors: dict, run: Path) -> None:
        stats = saved.get("component_stats")
        if not isinstance(stats, dict) or "reference" not in tensors or set(stats) != set(COMBINED):
            raise CheckpointError(f"Detector files in '{run}' lack what scoring='combined' needs (the k-NN reference "
                                  f"and the statistics of {', '.join(COMBINED)}): fit the detector again.")
        self.component_stats_ = {c: (float(stats[c][0]), float(stats[c][1])) for c in COMBINED}
        self.reference_ = tensors["reference"].numpy().astype(np.float64)
        self._sorted_cache = None
        lat = tensors.get("latent_reference")
        self.latent_reference_ = None if lat is None else lat.numpy().astype(np.float64)
        self._nn_cache = None

    @classmethod
    def _accept_model(cls, model, run) -> None:
        if not model.has_density:
            raise ConfigError(f"Run '{run}' holds a {type(model).__name__}, which has no likelihood; "
                              f"{cls.__name__} needs a VAE run.")

    @classmethod
    def _run_params(cls, model, train_config, run) -> dict[str, Any]:
        saved = _read_detector(Path(run))
        return {**super()._run_params(model, train_config, run), **(saved["params"] if saved is not None else {})}

    def save(self, run: str | os.PathLike, *, overwrite: bool = False) -> Path:
        """Write the detector as a run directory: the model's files plus ``anomaly.json`` (parameters,
        threshold, training scores) and ``anomaly.safetensors`` (local pixel model, per-feature baseline).

        :meth:`from_run` reads it back with the same scores and threshold.

        Parameters
        ----------
        run : path
            Folder to write; a non-empty folder needs ``overwrite``.

        Returns
        -------
        Path
        """
        self._check_fitted()
        run = rundir.save(self.model_, run, overwrite=overwrite)
        tensors: dict[str, torch.Tensor] = {}
        if self.local_model_ is not None:
            tensors.update({f"local.{k}": v.detach().cpu().contiguous() for k, v in self.local_model_.state_dict().items()})
        if getattr(self, "feature_baseline_", None) is not None:
            tensors["feature_baseline"] = torch.as_tensor(np.asarray(self.feature_baseline_, dtype=np.float32))
        if self.scoring_ == "combined":
            tensors["reference"] = torch.as_tensor(np.ascontiguousarray(self.reference_, dtype=np.float64))
            if getattr(self, "latent_reference_", None) is not None:
                tensors["latent_reference"] = torch.as_tensor(np.ascontiguousarray(self.latent_reference_,
                                                                                   dtype=np.float64))
        if tensors:
            from safetensors.torch import save_file

            vio.atomic_save(run / LOCAL_WEIGHTS_FILE, lambda tmp: save_file(tensors, tmp, metadata={"format": "pt"}))
        params = {k: getattr(self, k) for k in ("scoring", "contamination", "n_samples", "seed", "batch_size")}
        shape = self._image_shape()
        if shape is not None:
            params["image_shape"] = list(shape)
        extra = {"component_stats": {c: list(v) for c, v in self.component_stats_.items()}} \
            if self.scoring_ == "combined" else {}
        vio.write_json(run / DETECTOR_FILE, {
            **extra, "params": params, "scoring": self.scoring_, "offset": self.offset_,
            "train_scores": [float(f"{v:.7g}") for v in self.train_scores_.tolist()],
        })
        if self.history_ is not None and len(self.history_):

            rundir.write_metrics(run / rundir.METRICS_FILE, self.history_.rows)
        return run

    # ------------------------------------------------------------------ scoring
    def _eps(self) -> torch.Tensor:
        """The n_samples shared standard-normal draws: (n_samples, latent_dim)."""
        g = torch.Generator().manual_seed(int(self.seed))
        return torch.randn((int(self.n_samples), self.model_.latent_dim), generator=g).to(self.model_.device)

    def _batches(self, X):
        x = self._model_input(X)
        model = self.model_
        per = max(1, int(self.n_samples) * math.prod(model.data_shape) * model.likelihood.n_params)
        step = int(max(1, min(8 * int(self.batch_size), 2**24 // per)))
        if isinstance(x, Dataset):
            yield from x.batches(step)
        else:
            for i in range(0, len(x), step):
                yield x[i : i + step]

    @torch.inference_mode()
    def _score_batch(self, model, local, xb: torch.Tensor, eps: torch.Tensor, rule: str | None = None) -> torch.Tensor:
        rule = rule or self.scoring_
        xb = model.check_input(xb.to(model.device))
        q = model.encode(xb)
        mu = q.mean  # (b, latent_dim): the posterior mean (a ladder model's mean path)
        if rule == "reconstruction":
            diff = model.decode(mu).mean - xb  # (b, *data_shape)
            return -diff.pow(2).flatten(1).sum(1)
        z = model.reparameterize(q, eps=eps)  # (k, b, latent_dim): the same eps for every example
        log_px, log_ratio = model.log_weights(xb, q, z)  # (k, b) each
        if rule == "elbo":
            kl_dims = model.prior.kl_per_dim(q)
            kl = kl_dims.sum(-1) if kl_dims is not None else -log_ratio.mean(0)
            return log_px.mean(0) - kl  # Kingma & Welling 2014, eq. 3
        # Burda et al. 2016, eq. 8: log (1/k) sum_i p(x, z_i) / q(z_i|x)
        ll = torch.logsumexp(log_px + log_ratio, dim=0) - math.log(eps.shape[0])  # (b,)
        if rule == "iwae":
            return ll
        # Serra et al. 2020, eq. 2, with the local model as the compressor: log p(x) + L(x), L = -log p_local(x).
        # L is capped by the uniform code (ln 2 per entry for Bernoulli, ln 256 for 8-bit likelihoods), as any
        # compressor may store x as it is: a learned model can be confidently wrong on noise, and an uncapped L
        # would then make noise look "normal".
        code = -local.log_prob(xb)  # (b,)
        cap = model.likelihood.uniform_code_length()
        return ll + (code if cap is None else torch.clamp(code, max=cap))

    def score_samples(self, X) -> np.ndarray:
        """How normal each example is under the trained model (``score_``): higher = more normal.

        The opposite of PyOD's ``decision_function`` sign.

        Parameters
        ----------
        X : ndarray, Tensor, DataFrame or Dataset
            Read like the training data.

        Returns
        -------
        ndarray of shape (n_samples,), float64

        Raises
        ------
        NotFittedError, DataError
            Before ``fit``; for ``X`` unlike the training data (``X has 3 features, but VAEOutlierDetector
            is expecting 4 features as input.``).
        """
        self._check_fitted()
        if self.scoring_ == "complexity" and getattr(self, "local_model_", None) is None:
            raise ConfigError("This detector has no local pixel model for scoring='complexity'; refit it.")
        if self.scoring_ == "combined":
            if getattr(self, "component_stats_", None) is None:
                raise ConfigError("This detector has no training statistics for scoring='combined'; refit it.")
            parts = self._components(X)
            z = sum((parts[c] - med) / scale for c, (med, scale) in self.component_stats_.items())
            return -np.asarray(z, dtype=np.float64)
        return self._rule_scores(X, self.scoring_)

    def _rule_scores(self, X, rule: str) -> np.ndarray:
        """score_samples under one of the model's own rules (``iwae``, ``elbo``, ...)."""
        model, local = self._float64_copies()
        eps = self._eps().double()
        out = [self._score_batch(model, local, xb.double(), eps, rule).cpu() for xb in self._batches(X)]
        return torch.cat(out).numpy() if out else np.zeros(0)

    # ------------------------------------------------------------------ scoring="combined"
    def _components(self, X) -> dict[str, np.ndarray]:
        """The anomaly terms of ``scoring="combined"`` (higher = more anomalous), raw (not yet standardised)."""
        out: dict[str, np.ndarray] = {}
        for c in COMBINED:
            if c == "nll":
                out[c] = -self._rule_scores(X, "iwae")
            elif c == "knn":
                out[c] = self._knn_log_distance(self._as_tensor(X).numpy(), self.reference_)
            elif c == "latent_knn":
                out[c] = self._knn_log_distance(self._latent_means(X), self.latent_reference_)
            elif c == "tails":
                out[c] = self._tail_surprise(self._as_tensor(X).numpy())
        return out

    def _tail_surprise(self, x: np.ndarray) -> np.ndarray:
        """How far out in its own column's tails each value of a row lies, summed over columns: per column
        -log of the smaller empirical tail probability, P(X <= x) or P(X >= x) over the training rows, as
        ECOD (Li et al. 2022; PyOD's version) -- what the joint likelihood misses when one value is extreme but
        the model spreads its surprise over the rest of the row. Tail probabilities are floored at 1/(2n)."""
        x = np.asarray(x, dtype=np.float64).reshape(len(x), -1)
        ref = self._sorted_reference()
        n = ref.shape[0]
        ok = np.isfinite(x).all(axis=1)
        out = np.full(len(x), np.inf)
        if not ok.any():
            return out
        xs = x[ok]
        left = np.empty_like(xs)
        right = np.empty_like(xs)
        for j in range(xs.shape[1]):
            col = ref[:, j]
            left[:, j] = np.searchsorted(col, xs[:, j], side="right") / n  # P(X <= x)
            right[:, j] = (n - np.searchsorted(col, xs[:, j], side="left")) / n  # P(X >= x)
        floor = 0.5 / n
        u_l, u_r = -np.log(np.maximum(left, floor)), -np.log(np.maximum(right, floor))
        out[ok] = np.maximum(u_l, u_r).sum(axis=1)
        return out

    def _sorted_reference(self) -> np.ndarray:
        cache = getattr(self, "_sorted_cache", None)
        if cache is None or cache[0] != id(self.reference_):
            cache = (id(self.reference_), np.sort(self.reference_, axis=0))
            self._sorted_cache = cache
        return cache[1]


    def _latent_means(self, X) -> np.ndarray:
        model = self.model_
        with torch.inference_mode():
            parts = [model.encode(model.check_input(xb.to(model.device))).mean.double().cpu() for xb in self._batches(X)]
        return torch.cat(parts).numpy() if parts else np.zeros((0, model.latent_dim))

    def _knn_log_distance(self, x: np.ndarray, reference: np.ndarray) -> np.ndarray:
        """log(distance to the KNN_K-th nearest reference row + a small floor); a row of the reference counts
        itself (so scoring the training data is scoring it against itself, as any later data would be)."""
        from sklearn.neighbors import NearestNeighbors

        x = np.asarray(x, dtype=np.float64).reshape(len(x), -1)
        if len(x) == 0:
            return np.zeros(0)
        key = id(reference)
        cache = getattr(self, "_nn_cache", None)
        if cache is None or cache[0] != key:
            cache = (key, NearestNeighbors(n_neighbors=min(KNN_K, len(reference))).fit(reference))
            self._nn_cache = cache
        ok = np.isfinite(x).all(axis=1)
        out = np.full(len(x), np.inf)  # a row that cannot be placed is as far as it gets (never normal)
        if ok.any():
            d, _ = cache[1].kneighbors(x[ok])
            out[ok] = np.log(d[:, -1] + 1e-6)
        return out

    def _fit_combined(self, data) -> np.ndarray:
        """The k-NN reference (training rows in model space, and their posterior means) and each term's median
        and spread on the training data, for ``scoring="combined"``."""
        x = self._as_tensor(data).numpy().astype(np.float64)
        x = x.reshape(len(x), -1)
        if len(x) > MAX_REFERENCE:
            keep = np.sort(np.random.default_rng(int(self.seed)).choice(len(x), MAX_REFERENCE, replace=False))
            x = x[keep]
        self.reference_ = x
        self._sorted_cache = None
        self.latent_reference_ = self._latent_means(Dataset(torch.as_tensor(x, dtype=torch.float32), None,
                                                            self.model_.data_spec)) if "latent_knn" in COMBINED else None
        self._nn_cache = None
        self.component_stats_ = {}
        parts = self._components(data)
        for c, v in parts.items():
            v = v[np.isfinite(v)]
            med = float(np.median(v)) if len(v) else 0.0
            q1, q3 = np.percentile(v, [25, 75]) if len(v) else (0.0, 1.0)
            scale = float(q3 - q1)
            if not scale > 1e-12:
                scale = float(np.std(v)) if len(v) and np.std(v) > 1e-12 else 1.0
            self.component_stats_[c] = (med, scale)
        z = sum((parts[c] - med) / scale for c, (med, scale) in self.component_stats_.items())
        return -np.asarray(z, dtype=np.float64)  # score_samples of the training rows

    def _float64_copies(self):
        """float64 copies of the model (and local model) for scoring: float32 sums depend on the batch's shape
        (BLAS blocking), so an example's score would differ in the 7th digit between batches; in float64 it does not."""
        import copy

        model = copy.deepcopy(self.model_).double().eval()
        local = None if self.local_model_ is None else copy.deepcopy(self.local_model_).double().eval()
        return model, local

    def decision_function(self, X) -> np.ndarray:
        """``score_samples(X) - offset_``: negative for outliers, positive for inliers.

        Returns
        -------
        ndarray of shape (n_samples,)
        """
        return self.score_samples(X) - self.offset_

    def predict(self, X) -> np.ndarray:
        """+1 for inliers, -1 for outliers (``decision_function(X) < 0``).

        A score that is not a finite number (an input far outside anything the model has seen can make
        the model's output overflow) is never "normal": such an example is an outlier.

        Returns
        -------
        ndarray of shape (n_samples,), int
        """
        d = self.decision_function(X)
        return np.where((d < 0) | ~np.isfinite(d), -1, 1)

    # ------------------------------------------------------------------ explanations
    @torch.inference_mode()
    def _feature_nll(self, X, *, mean: bool = False) -> np.ndarray:
        """-log p(x_d | z = E[z|x]) per entry in model space: (n, *data_shape), or its mean over examples."""
        model = self.model_
        out, total, n = [], None, 0
        for xb in self._batches(X):
            xb = model.check_input(xb.to(model.device))
            p = model.decode(model.encode(xb).mean)
            base = p.base_dist if hasattr(p, "base_dist") else p
            nll = (-base.log_prob(xb)).double().cpu()  # (b, *data_shape)
            if mean:
                total = nll.sum(0) if total is None else total + nll.sum(0)
                n += len(nll)
            else:
                out.append(nll)
        if mean:
            return (total / max(n, 1)).numpy() if total is not None else np.zeros(model.data_shape)
        return torch.cat(out).numpy() if out else np.zeros((0, *model.data_shape))

    def feature_scores(self, X):
        """Each feature's contribution to how anomalous an example is: higher = more anomalous.

        * Tables (DataFrames and 2-D arrays read as tables): :meth:`column_scores` -- how much more normal
          the row would score with that column at its typical value, in the units of ``score_samples``.
          For a DataFrame the answer is a DataFrame with its column names (and its index), so
          ``det.feature_scores(df).idxmax(axis=1)`` names the column that made each row anomalous.
        * Images and [0, 1] vectors: the negative log-likelihood of each entry under the decoder at the
          posterior mean, minus its average over the training data, so 0 is "as usual" and a large positive
          value marks the pixel the model finds surprising.

        Parameters
        ----------
        X : ndarray, Tensor, DataFrame or Dataset

        Returns
        -------
        pandas.DataFrame or ndarray
            DataFrame input: a DataFrame (n, n_features_in_) with the input's columns and index, a text
            column's one-hot block counted as one column. Images (also flat rows read with ``image_shape``):
            (n, H, W), summed over channels (a heat map per example). Other 2-D arrays: (n, n_features_in_).
            Datasets: (n, *data_shape), or (n, n_columns) for tables.

        Examples
        --------
        >>> import numpy as np
        >>> X = np.random.default_rng(0).normal(size=(100, 3))
        >>> det = VAEOutlierDetector(epochs=3, hidden_dims=(8,)).fit(X)
        >>> s = det.feature_scores(np.array([[0.0, 0.0, 25.0]]))
        >>> s.shape, int(s.argmax())
        ((1, 3), 2)
        """
        self._check_fitted()
        fmt, spec = self._input_format, self.model_.data_spec
        if spec is not None and spec.kind == "table":
            gains = self.column_scores(X)
            if fmt.kind == "frame" and is_frame(X):
                import pandas as pd

                return pd.DataFrame(gains, columns=self.column_names(), index=X.index)
            return gains
        nll = self._feature_nll(X)
        base = getattr(self, "feature_baseline_", None)
        if base is not None:
            nll = nll - base
        if fmt.kind == "image":
            return nll.sum(axis=1)  # (n, H, W)
        if fmt.kind in ("table", "vector"):
            return nll.reshape(len(nll), -1)
        return nll

    def _blocks(self) -> list[tuple[str, list[int]]]:
        """(column, its entries in model space) for a table model: one entry per numeric column, a one-hot block
        per categorical column."""
        spec = self.model_.data_spec
        blocks = [(name, [j]) for j, name in enumerate(spec.numeric_columns)]
        start = len(spec.numeric_columns)
        for name, cats in zip(spec.categorical_columns, spec.categories):
            blocks.append((name, list(range(start, start + len(cats)))))
            start += len(cats)
        return blocks

    def column_names(self) -> list[str]:
        """The names :meth:`column_scores` answers for, in its column order."""
        self._check_fitted()
        fmt, spec = self._input_format, self.model_.data_spec
        if fmt.kind == "frame":
            return list(fmt.columns)
        if spec is not None and spec.kind == "table":
            return [name for name, _ in self._blocks()]
        return [f"x{j}" for j in range(math.prod(self.model_.data_shape))]

    def _in_column_order(self, cols: dict[str, np.ndarray], n: int) -> np.ndarray:
        names = self.column_names()
        return np.stack([cols[c] for c in names], axis=1) if n else np.zeros((0, len(names)))

    def column_scores(self, X) -> np.ndarray:
        """Which column made each row anomalous: how much higher the row would score with that column at its
        typical value (a numeric column at its training mean; a categorical column at its best category).

        A planted error in one column gives that column by far the largest gain. Unlike
        :meth:`feature_scores` (each entry's own surprise), this is not misled by columns the model predicts
        very precisely, whose likelihood drops whenever any other column pulls the latent code away.
        For images and [0, 1] vectors it is :meth:`feature_scores`.

        Parameters
        ----------
        X : ndarray, Tensor, DataFrame or Dataset

        Returns
        -------
        ndarray of shape (n, n_columns)
            In nats (the units of ``score_samples``); columns as :meth:`column_names`. NaN where the
            row's score cannot be computed.

        Examples
        --------
        >>> import numpy as np
        >>> X = np.random.default_rng(0).normal(size=(100, 3))
        >>> det = VAEOutlierDetector(epochs=3, hidden_dims=(8,)).fit(X)
        >>> int(det.column_scores(np.array([[0.0, 0.0, 25.0]])).argmax())
        2
        """
        self._check_fitted()
        spec = self.model_.data_spec
        if spec is None or spec.kind != "table":
            return self.feature_scores(X).reshape(len(self._as_tensor(X)), -1)
        x = self._as_tensor(X)  # (n, n_features), standardised and one-hot

        def score(v: torch.Tensor) -> np.ndarray:
            return self.score_samples(Dataset(v, None, spec))

        base = score(x)
        gains = {}
        for name, idx in self._blocks():
            if name in spec.numeric_columns:
                v = x.clone()
                v[:, idx] = 0.0  # the training mean, standardised
                gains[name] = score(v) - base
                continue
            best = None
            for k in idx:
                v = x.clone()
                v[:, idx] = 0.0
                v[:, k] = 1.0
                s = score(v)
                best = s if best is None else np.fmax(best, s)
            gains[name] = best - base
        return self._in_column_order(gains, len(x))

    def _as_tensor(self, X) -> torch.Tensor:
        x = self._model_input(X)
        if isinstance(x, Dataset):
            x = x.x
        return torch.as_tensor(np.asarray(x, dtype=np.float32)) if not isinstance(x, torch.Tensor) else x.float()


def _load_prefixed(module: nn.Module, tensors: dict, prefix: str, path: Path) -> None:
    state = {k[len(prefix):]: v for k, v in tensors.items() if k.startswith(prefix)}
    try:
        module.load_state_dict(state, strict=True)
    except RuntimeError as e:
        raise CheckpointError(f"Weights in '{path}' do not match the local pixel model: {e}") from e


def _read_detector(run: Path) -> dict | None:
    path = run / DETECTOR_FILE
    if not path.is_file():
        return None
    try:
        doc = vio.read_json(path)
    except (ValueError, UnicodeDecodeError, OSError) as e:  # json.JSONDecodeError is a ValueError
        raise CheckpointError(f"Detector file '{path}' is corrupt: it is not valid JSON ({e}). Fit the detector "
                              f"again with `vaekit anomaly fit DATA --out {run} --overwrite`.") from e
    if not isinstance(doc, dict) or not {"params", "offset", "train_scores"} <= set(doc) or not isinstance(
            doc["params"], dict):
        raise CheckpointError(f"Detector file '{path}' is corrupt: expected keys params, offset, train_scores.")
    try:
        offset = float(doc["offset"])
        scores = np.asarray(doc["train_scores"], dtype=np.float64)
    except (TypeError, ValueError) as e:
        raise CheckpointError(f"Detector file '{path}' is corrupt: offset and train_scores must be numbers ({e}).") from e
    if not math.isfinite(offset) or scores.ndim != 1 or not np.isfinite(scores).all():
        raise CheckpointError(f"Detector file '{path}' is corrupt: offset and train_scores must be finite numbers.")
    return doc


# ================================================================================================ run directories, CLI
def fit_run(
    source: str | os.PathLike | Dataset,
    out: str | os.PathLike,
    *,
    split: str = "train",
    limit: int | None = None,
    label_column: str | None = None,
    overwrite: bool = False,
    **params: Any,
) -> tuple[VAEOutlierDetector, Dataset]:
    """Fit a detector on a data source and save it as a run directory (``vaekit anomaly fit``).

    Parameters
    ----------
    source : str, PathLike or Dataset
        Builtin name, folder of images or file (see :func:`vaekit.datasets.load`), or a Dataset.
    out : path
        Run directory to write (refused when non-empty, unless ``overwrite``).
    split : {"train", "test", "all"}
    limit : int or None
        Use only the first ``limit`` examples.
    label_column : str or None
        A table's label column (kept out of the features).
    overwrite : bool
    **params
        :class:`VAEOutlierDetector` parameters.

    Returns
    -------
    (VAEOutlierDetector, Dataset)

    Examples
    --------
    >>> det, data = fit_run("digits", "runs/digits-anomaly", epochs=5)  # doctest: +SKIP
    """
    from .runs import load_data

    target = rundir.RunDirectory(out, overwrite=overwrite)  # refuse a non-empty folder before training, not after
    try:
        data = source if isinstance(source, Dataset) else load_data(source, split=split, limit=limit,
                                                                    label_column=label_column)
        if params.get("image_shape") is not None:
            data = images_from_rows(data, params["image_shape"])
        elif data.kind == "array" and isinstance(data.x, torch.Tensor):
            warn_if_flat_images(data.x.numpy().reshape(len(data), -1), "vaekit anomaly fit")
        det = VAEOutlierDetector(**params).fit(data)
        det.save(out, overwrite=True)
        saved = VAEOutlierDetector.from_run(out)
    except BaseException:
        target.abort()  # no empty or half-written run left behind; a replaced run comes back
        raise
    target.commit()
    return saved, data


@dataclass(frozen=True)
class ScoreResult:
    """What :func:`score_run` computed and wrote.

    Attributes
    ----------
    table : pandas.DataFrame
        ``id``, ``score`` (higher = more normal), ``is_outlier`` (and ``label`` when the data has labels),
        one row per input in input order.
    offset : float
        The threshold on ``score``.
    n_outliers : int
    paths : list of Path
        The CSV file and the two pictures.
    """

    table: Any
    offset: float
    n_outliers: int
    paths: list


def score_run(
    run: str | os.PathLike,
    source: str | os.PathLike | Dataset,
    output: str | os.PathLike,
    *,
    split: str = "all",
    limit: int | None = None,
    top: int = 12,
    **params: Any,
) -> ScoreResult:
    """Score every input of a data source with a run's detector (``vaekit anomaly score``).

    Writes ``output`` (CSV: ``id``, ``score``, ``is_outlier``, ``reason``), and beside it ``scores.png``
    (histogram of the scores with the threshold, log counts) and ``top.png`` (the ``top`` most anomalous
    inputs: images beside their reconstruction and a per-pixel heat map; table rows with the columns that
    made them anomalous, see :meth:`VAEOutlierDetector.column_scores`).

    A row that cannot be scored is never "normal": a table row with a category the model was not
    trained on, a missing or infinite cell, or a value too large to encode, and any input whose score is
    not a finite number, is an outlier with an empty score and the reason in ``reason``. Table rows
    flagged by the threshold name their most anomalous column there.

    Parameters
    ----------
    run : path
        Run directory of ``vaekit anomaly fit`` (or of ``vaekit train``: the threshold is then set from
        its training data).
    source : str, PathLike or Dataset
    output : path
        ``.csv`` file.
    split : {"train", "test", "all"}
    limit : int or None
    top : int
        Inputs shown in ``top.png``.
    **params
        Detector parameters to change (e.g. ``contamination``).

    Returns
    -------
    ScoreResult
    """
    _check_int("score_run", "top", top, 1)
    output = Path(output)
    if output.suffix.lower() != ".csv":
        raise ConfigError(f"The 'output' parameter of score_run must be a .csv file. Got '{output}' instead.")
    det = VAEOutlierDetector.from_run(run, **params)
    data, rows, ids, labels, reasons = _scorable(det, source, split, limit)
    table, scores, outlier = _score_table(det, data, rows, ids, labels, reasons)
    output.parent.mkdir(parents=True, exist_ok=True)
    vio.atomic_write_text(output, table.to_csv(index=False, float_format="%.6g"))
    from .. import viz

    hist_path, top_path = output.parent / "scores.png", output.parent / "top.png"
    viz.save_figure(scores_figure(scores, det.offset_, train_scores=det.train_scores_, rule=det.scoring_), hist_path)
    by_row = np.full(len(ids), -1)
    by_row[rows] = np.arange(len(rows))
    finite = np.flatnonzero(np.isfinite(scores))
    order = finite[np.argsort(scores[finite], kind="stable")][:top]
    unscored = len(ids) - len(finite)
    viz.save_figure(top_picture(det, data, by_row[order], scores[order], [ids[i] for i in order], unscored=unscored),
                    top_path)
    return ScoreResult(table=table, offset=float(det.offset_), n_outliers=int(outlier.sum()),
                       paths=[output, hist_path, top_path])


def _score_table(det: VAEOutlierDetector, data, rows, ids, labels, reasons: dict):
    """The score table of ``score_run`` (``id``, ``score``, ``is_outlier``, ``reason``[, ``label``]),
    with the scores and outlier flags of every row; rows that cannot be scored are outliers."""
    import pandas as pd

    scores = np.full(len(ids), np.nan)
    if data is not None:
        scores[rows] = det.score_samples(data)
    for i in np.flatnonzero(~np.isfinite(scores)).tolist():
        reasons.setdefault(i, "the score is not a finite number (the model's output overflowed for this input)")
        scores[i] = np.nan
    outlier = ~np.isfinite(scores) | (scores < det.offset_)
    _explain_outliers(det, data, rows, scores, outlier, reasons)
    table = pd.DataFrame({"id": ids, "score": scores, "is_outlier": outlier,
                          "reason": [reasons.get(i, "") for i in range(len(ids))]})
    if labels is not None:
        table["label"] = labels
    return table, scores, outlier


def score_frame(det: VAEOutlierDetector, df, name: str = "the table", *, first_row: int = 0):
    """Score the rows of a DataFrame with a table detector: the table ``score_run`` writes, ids counted
    from ``first_row`` (a partition of a larger table keeps the row numbers of the whole)."""
    data, rows, _, labels, reasons = _scorable_frame(det, df, name)
    ids = [str(first_row + i) for i in range(len(df))]
    return _score_table(det, data, rows, ids, labels, reasons)[0]


def _scorable_frame(det: VAEOutlierDetector, df, name: str):
    """``_scorable`` for a DataFrame scored by a table model (rows it cannot encode get a reason)."""
    import pandas as pd

    from ..data.tables import row_problems, table_to_dataset

    spec = det.model_.data_spec
    reasons = row_problems(df, spec, name)
    rows = np.asarray([i for i in range(len(df)) if i not in reasons], dtype=np.int64)
    default_index = isinstance(df.index, pd.RangeIndex) and df.index.start == 0 and df.index.step == 1
    ids = [str(i) for i in range(len(df))] if default_index else [str(i) for i in df.index]
    labels = None
    if spec.label_column is not None and spec.label_column in df.columns:
        labels = df[spec.label_column].to_numpy()
    kept = df.iloc[rows].drop(columns=[spec.label_column], errors="ignore") if spec.label_column else df.iloc[rows]
    data = table_to_dataset(kept, source=name, name=Path(name).name, data_spec=spec) if len(rows) else None
    return data, rows, ids, labels, reasons


def _scorable(det: VAEOutlierDetector, source, split: str, limit: int | None):
    """What of ``source`` can be scored: (Dataset of those rows or None, their positions, ids of all rows,
    labels of all rows or None, {position: why it cannot be scored}).

    A table file scored by a table model is read here so that a row the model cannot encode (an unseen
    category, a missing cell, ...) is reported as that row's problem instead of refusing the file.
    """
    from .runs import run_data

    spec = det.model_.data_spec
    path = None if isinstance(source, Dataset) else Path(os.fspath(source))
    if path is not None and spec is not None and spec.kind == "table" and path.is_file() and \
            path.name.lower().endswith((".csv", ".tsv", ".parquet", ".pq")):
        from ..data.tables import read_table

        check_param("score_run", "limit", limit, Interval("int", 1, None, optional=True))
        df = read_table(path, str(source))
        if limit is not None:
            df = df.iloc[:limit]
        if len(df) == 0:
            raise DataError(f"File '{source}' has no rows to score.")
        return _scorable_frame(det, df, str(source))
    if isinstance(source, Dataset):
        data = source
    elif det.image_shape is not None:  # flat rows read as the images the detector was fitted on
        from .runs import load_data

        data = images_from_rows(load_data(source, split=split, limit=limit), det.image_shape)
        if tuple(data.shape) != tuple(det.model_.data_shape):
            raise DataError(f"'{source}' holds images of shape {tuple(data.shape)}; the detector was fitted on "
                            f"{tuple(det.model_.data_shape)}.")
    else:
        data = run_data(det.model_, source, split=split, limit=limit)
    if det.image_shape is not None and isinstance(source, Dataset) and source.kind != "image":
        data = images_from_rows(source, det.image_shape)
    ids = data.ids if data.ids is not None else [str(i) for i in range(len(data))]
    labels = None
    if data.y is not None:
        names = data.spec.label_names
        y = data.y.numpy()
        labels = [names[v] if 0 <= v < len(names) else str(v) for v in y.tolist()] if names else y
    return data, np.arange(len(data)), list(ids), labels, {}


def _explain_outliers(det: VAEOutlierDetector, data, rows, scores, outlier, reasons: dict) -> None:
    """Name the most anomalous column of each flagged table row in ``reasons`` (the rows with a score)."""
    spec = det.model_.data_spec
    if data is None or spec is None or spec.kind != "table":
        return
    flagged = [k for k, i in enumerate(rows.tolist()) if outlier[i] and np.isfinite(scores[i])]
    if not flagged:
        return
    idx = torch.as_tensor(flagged, dtype=torch.int64)
    gains = det.column_scores(Dataset(data.get(idx), None, data.spec))
    names = det.column_names()
    for k, g in zip(flagged, gains):
        if np.isfinite(g).any():
            j = int(np.nanargmax(g))
            reasons.setdefault(int(rows[k]), f"most anomalous column: '{names[j]}' (+{g[j]:.3g} if it were typical)")


def scores_figure(scores: np.ndarray, offset: float, *, train_scores: np.ndarray | None = None, rule: str = ""):
    """Histogram of ``scores`` (and of the training scores, faint, scaled to the same count) with the
    threshold as a red line, on a log count axis so the bulk of normal rows and a few far outliers both show.

    Scores that are not finite (rows that could not be scored) are left out and counted in the legend.

    Returns
    -------
    matplotlib.figure.Figure
    """
    from matplotlib.figure import Figure

    fig = Figure(figsize=(7, 4), layout="constrained")
    ax = fig.add_subplot()
    scores = np.asarray(scores, dtype=np.float64)
    finite = scores[np.isfinite(scores)]
    train = None if train_scores is None else np.asarray(train_scores, dtype=np.float64)
    train = None if train is None else train[np.isfinite(train)]
    both = finite if train is None else np.concatenate([finite, train])
    if len(both):
        hi = float(both.max())
        bulk = min(float(np.percentile(both, 1)), offset)  # far outliers would squash the bulk into one bar
        lo = max(float(both.min()), bulk - 0.25 * max(hi - bulk, 1e-9))
    else:
        lo, hi = offset - 1, offset + 1
    bins = np.linspace(lo, hi if hi > lo else lo + 1, 60)
    if train is not None and len(train):
        ax.hist(np.clip(train, lo, None), bins=bins, weights=np.full(len(train), max(len(finite), 1) / len(train)),
                alpha=0.35, color="grey", label="training data (scaled)")
    ax.hist(np.clip(finite, lo, None), bins=bins, alpha=0.75, color="tab:blue", label="scored data")
    n_out = int((finite < offset).sum())
    ax.axvline(offset, color="red", lw=2, label=f"threshold {offset:.4g} ({n_out:,} of {len(scores):,} below)")
    if len(finite) < len(scores):
        ax.plot([], [], " ", label=f"{len(scores) - len(finite):,} could not be scored (outliers)")
    ax.set_yscale("log")
    clipped = int((finite < lo).sum())
    what = f"score ({rule}; higher = more normal)" if rule else "score (higher = more normal)"
    ax.set_xlabel(what + (f"; {clipped:,} below {lo:.4g} drawn in the first bar" if clipped else ""))
    ax.set_ylabel("count (log scale)")
    ax.set_title("Anomaly scores")
    ax.legend(loc="upper left", fontsize=8)
    return fig


def top_picture(det: VAEOutlierDetector, data: Dataset | None, order: np.ndarray, scores: np.ndarray,
                ids: Sequence[str], *, unscored: int = 0):
    """The inputs ``order`` (positions in ``data``, most anomalous first) explained; ``scores[r]`` and
    ``ids[r]`` belong to ``order[r]``.

    Images: one row per input -- the input, its reconstruction, and the per-pixel heat map of
    :meth:`VAEOutlierDetector.feature_scores`. Tables and vectors: one bar chart per input of the eight
    columns that made it most anomalous (:meth:`VAEOutlierDetector.column_scores`).

    Parameters
    ----------
    unscored : int
        Inputs that could not be scored (named in the title; they have no picture).

    Returns
    -------
    matplotlib.figure.Figure
    """
    from matplotlib.figure import Figure

    model = det.model_
    n = len(order)
    note = f"; {unscored:,} more could not be scored (see the reason column)" if unscored else ""
    if n == 0 or data is None:
        fig = Figure(figsize=(6, 1.5), layout="constrained")
        fig.text(0.5, 0.5, f"No input could be scored{note}.", ha="center", va="center")
        return fig
    x = data.get(torch.as_tensor(np.asarray(order, dtype=np.int64)))  # (n, *data_shape)
    if model.data_spec is not None and model.data_spec.kind == "image":
        heat = det.feature_scores(Dataset(x, None, data.spec))  # (n, H, W)
        with torch.inference_mode():
            rec = model.reconstruct(x.to(model.device)).cpu()
        fig = Figure(figsize=(6.2, 2.0 * n + 0.4), layout="constrained")
        axes = fig.subplots(n, 3, squeeze=False)
        hm = heat if heat.ndim == 3 else heat.sum(axis=1)  # (n, H, W): image formats come summed over channels
        vmax = float(max(np.percentile(hm, 99), 1e-6))
        for r in range(n):
            for c, (img, title) in enumerate(((x[r], "input"), (rec[r], "reconstruction"))):
                a = img.clamp(0, 1).permute(1, 2, 0).numpy()
                axes[r, c].imshow(a[:, :, 0] if a.shape[2] == 1 else a, cmap="gray", vmin=0, vmax=1)
                axes[r, c].set_title(f"{ids[r]}  score {scores[r]:.4g}" if c == 0 else title, fontsize=8)
            im = axes[r, 2].imshow(hm[r], cmap="magma", vmin=0, vmax=vmax)
            axes[r, 2].set_title("per-pixel surprise", fontsize=8)
            for ax in axes[r]:
                ax.set_xticks([]), ax.set_yticks([])
        fig.colorbar(im, ax=axes[:, 2], shrink=0.6, label="excess NLL (nats)")
        fig.suptitle(f"{n} most anomalous inputs (lowest scores){note}")
        return fig
    table = model.data_spec is not None and model.data_spec.kind == "table"
    flat = np.asarray(det.column_scores(Dataset(x, None, data.spec))).reshape(n, -1)
    names = det.column_names()
    k = min(8, flat.shape[1])
    cols = 2 if n > 1 else 1
    rows = math.ceil(n / cols)
    fig = Figure(figsize=(5.5 * cols, 0.35 * k * rows + 0.9 * rows + 0.4), layout="constrained")
    axes = fig.subplots(rows, cols, squeeze=False).ravel()
    for r in range(n):
        best = np.argsort(-np.nan_to_num(flat[r], nan=-np.inf), kind="stable")[:k][::-1]
        axes[r].barh([names[j] for j in best], flat[r, best], color="tab:red")
        axes[r].set_title(f"{ids[r]}  score {scores[r]:.4g}", fontsize=9)
        axes[r].tick_params(labelsize=8)
    for ax in axes[n:]:
        ax.set_axis_off()
    fig.supxlabel("how much more normal the row would score with this column at its typical value (nats)" if table
                  else "excess negative log-likelihood of the entry (nats)")
    fig.suptitle(f"{n} most anomalous rows and the columns that make them so{note}")
    return fig
