"""Missing-data imputation with a VAE trained on incomplete data (MIWAE, Mattei & Frellsen 2019).

The model is an ordinary :class:`vaekit.VAE` with ``missing="ignore"``: NaN entries are left out of
the likelihood, so training maximises an importance-weighted bound on log p(x_observed). Imputation
is importance sampling with the trained encoder as proposal (:meth:`vaekit.VAE.impute`): the
conditional mean for a single imputation, sampling-importance-resampling for multiple imputations.

:class:`VAEImputer` wraps this as a scikit-learn transformer that takes ``np.nan`` for missing entries,
a drop-in beside :class:`sklearn.impute.IterativeImputer`; :func:`impute_file` is the ``vaekit impute``
command's library side.
"""

from __future__ import annotations

import math
import os
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch
from sklearn.base import BaseEstimator, TransformerMixin

from .._validation import Interval, Options, check_param, param_error
from ..config import LIKELIHOODS, DataSpec, TrainConfig
from ..data import Dataset
from ..errors import CheckpointError, DataError, NotFittedError
from .embed import _as_array, _channels_last, _check_int, _is_frame

__all__ = ["VAEImputer", "ImputeResult", "impute_file", "read_incomplete", "imputation_picture", "IMPUTE_FORMATS"]

#: ``epochs="auto"`` trains for about this many optimiser steps ...
AUTO_STEPS = 3_000
#: ... but at least / at most this many epochs.
AUTO_EPOCHS = (20, 1000)
#: Output files ``vaekit impute`` can write.
IMPUTE_FORMATS = (".csv", ".parquet", ".npz", ".npy", ".png")


# ================================================================================================ input formats
@dataclass(frozen=True)
class _Format:
    """How raw ``X`` maps to model space, so ``transform`` can give results back in the same layout.

    kind : "frame" (DataFrame: standardised numeric + one-hot categorical columns), "table" (2-D array,
    standardised per column), "unit" (2-D array in [0, 1], used as it is) or "image" (n, [C,] H, W[, C]).
    """

    kind: str
    shape: tuple[int, ...]  # one example as the user gave it
    channels_last: bool = False
    columns: tuple[str, ...] = ()


def _missing_message(what: str, where: str, owner: str) -> DataError:
    return DataError(f"{where} of {what} has no observed values; {owner} cannot impute it from nothing. "
                     f"Drop it or give it at least one value.")


def _check_observed_columns(mask: np.ndarray, names: Sequence[str] | None, owner: str, what: str = "X") -> None:
    """Every feature needs at least one observed value (``mask`` True = missing, shape (n, d))."""
    empty = mask.all(axis=0)
    if empty.any():
        j = int(np.argmax(empty))
        where = f"Column '{names[j]}'" if names is not None else f"Column {j}"
        raise _missing_message(what, where, owner)


def _frame_spec(df, owner: str) -> DataSpec:
    """Fit the table encoding (standardisation on observed values, categories seen) of a DataFrame with NaN."""
    from ..data.tables import table_to_dataset

    cols = [str(c) for c in df.columns]
    df = df.set_axis(cols, axis=1)  # the spec names columns by their text
    missing = df.isna().to_numpy()
    _check_observed_columns(missing, cols, owner)
    filled = _fill_frame(df, None)
    spec = table_to_dataset(filled, source="X", name="X").spec
    # Statistics of the observed values only (filling would shrink the spread).
    mean = tuple(float(np.nanmean(_as_float(df[c]))) for c in spec.numeric_columns)
    std = tuple(float(s) if s > 0 else 1.0 for s in (np.nanstd(_as_float(df[c])) for c in spec.numeric_columns))
    return spec.replace(mean=mean, std=std)


def _as_float(s) -> np.ndarray:
    import pandas as pd

    return pd.to_numeric(s, errors="coerce").to_numpy(dtype=np.float64)


def _fill_frame(df, spec: DataSpec | None):
    """A copy of ``df`` with every gap filled by a placeholder (column mean or first mode), for encoding."""
    import pandas as pd

    from ..data.tables import _column_kind

    out = df.copy()
    for c in df.columns:
        s = df[c]
        if not s.isna().any():
            continue
        if spec is not None:
            numeric = c in spec.numeric_columns
        else:
            numeric = _column_kind(s, c, "X") == "numeric"
        if numeric:
            out[c] = pd.to_numeric(s, errors="coerce").fillna(float(np.nanmean(_as_float(s))))
        else:
            if isinstance(s.dtype, pd.CategoricalDtype):
                s = s.astype(object)
            out[c] = s.where(s.notna(), s.dropna().astype(str).mode().iloc[0])
    return out


def _encode_frame(df, spec: DataSpec) -> np.ndarray:
    """(n, len(spec.columns)) float32 in model space, NaN where the raw value is missing."""
    from ..data.tables import encode_table

    df = df.set_axis([str(c) for c in df.columns], axis=1)  # the spec names columns by their text
    x, _ = encode_table(_fill_frame(df, spec), spec, "X")
    j = 0
    for c in spec.numeric_columns:
        x[df[c].isna().to_numpy(), j] = np.nan
        j += 1
    for c, cats in zip(spec.categorical_columns, spec.categories):
        x[df[c].isna().to_numpy(), j : j + len(cats)] = np.nan
        j += len(cats)
    return x


def _image_layout(a: np.ndarray) -> tuple[np.ndarray, bool]:
    """(n, H, W) / (n, H, W, C) / (n, C, H, W) -> (n, C, H, W) and whether the input was channels-last."""
    if a.ndim == 3:
        return a[:, None], False
    if _channels_last(a):
        return a.transpose(0, 3, 1, 2), True
    if a.shape[1] not in (1, 3):
        raise DataError(f"X has shape {a.shape}; images must be (n, H, W), (n, H, W, C) or (n, C, H, W) with C = 1 or 3.")
    return a, False


# ================================================================================================ estimator
class VAEImputer(TransformerMixin, BaseEstimator):
    """Fill missing values (``np.nan``) with a VAE trained on the incomplete data itself (MIWAE).

    ``fit`` trains :class:`vaekit.VAE` with ``missing="ignore"`` and the importance-weighted bound of
    Mattei & Frellsen (2019) over the observed entries (``k`` importance samples); ``transform``
    replaces every NaN by the conditional mean E[x_mis | x_obs], estimated by self-normalised importance
    sampling with ``n_samples`` draws from the encoder. Observed entries are returned unchanged.
    :meth:`multiple_imputations` draws ``n_imputations`` plausible completions instead
    (sampling-importance-resampling).

    How ``X`` is read:

    * a pandas DataFrame is a table: numeric columns standardised (on their observed values), text or
      categorical columns one-hot encoded; a missing category leaves its whole one-hot block missing and
      is imputed as the category with the highest imputed score; the result is a DataFrame;
    * a 2-D array whose observed values lie in [0, 1] is used as it is (Bernoulli likelihood);
    * any other 2-D array is standardised per column (Gaussian likelihood);
    * arrays of shape (n, H, W), (n, H, W, C) or (n, C, H, W) are images with values in [0, 1].

    Parameters
    ----------
    latent_dim : int or "auto", default "auto"
        Dimension of z; ``"auto"``: ``min(16, max(2, n_features // 2))`` for tables, 32 for images.
    hidden_dims : tuple of int or None, default None
        MLP hidden widths; None: (128, 128) for tables, (512, 256) for images and [0, 1] vectors.
    k : int, default 20
        Importance samples in the training bound (MIWAE; 1 would be the ELBO over observed entries).
    n_samples : int, default 1000
        Importance samples per row when imputing.
    epochs : int or "auto", default "auto"
        Passes over the data; ``"auto"``: about 3,000 optimiser steps, between 20 and 1,000 epochs.
    batch_size : int, default 64
    lr : float, default 1e-3
    weight_decay : float, default 0.0
        AdamW weight decay.
    likelihood : str or None, default None
        Family of p(x|z); None: Bernoulli for [0, 1] data and images, Gaussian for tables.
    max_time : float or None, default None
        Training budget in seconds.
    seed : int, default 0
        Seed of initialisation, shuffling and the importance samples (same seed, same imputations).
    device : str, default "cpu"
    progress : bool, default False

    Attributes
    ----------
    model_ : VAE
        The trained model (``model_.save(path)`` writes a run directory; see :meth:`from_run`).
    n_features_in_ : int
    feature_names_in_ : ndarray of shape (n_features_in_,)
        Column names, when ``X`` was a DataFrame with string column names.
    history_ : vaekit.History or None

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(200, 4)) @ rng.normal(size=(4, 4))
    >>> X[rng.random(X.shape) < 0.2] = np.nan
    >>> imp = VAEImputer(epochs=5, n_samples=50, hidden_dims=(16,))
    >>> Xt = imp.fit_transform(X)
    >>> bool(np.isnan(Xt).any()), Xt.shape, Xt.dtype
    (False, (200, 4), dtype('float64'))
    >>> bool(np.all(Xt[~np.isnan(X)] == X[~np.isnan(X)]))
    True
    """

    def __init__(
        self,
        latent_dim: int | str = "auto",
        *,
        hidden_dims: Sequence[int] | None = None,
        k: int = 20,
        n_samples: int = 1000,
        epochs: int | str = "auto",
        batch_size: int = 64,
        lr: float = 1e-3,
        weight_decay: float = 0.0,
        likelihood: str | None = None,
        max_time: float | None = None,
        seed: int = 0,
        device: str = "cpu",
        progress: bool = False,
    ):
        self.latent_dim = latent_dim
        self.hidden_dims = hidden_dims
        self.k = k
        self.n_samples = n_samples
        self.epochs = epochs
        self.batch_size = batch_size
        self.lr = lr
        self.weight_decay = weight_decay
        self.likelihood = likelihood
        self.max_time = max_time
        self.seed = seed
        self.device = device
        self.progress = progress

    # ------------------------------------------------------------------ parameters
    def _check_params(self) -> None:
        o = type(self).__name__
        if self.latent_dim != "auto":
            _check_int(o, "latent_dim", self.latent_dim, 1)
        hd = self.hidden_dims
        if hd is not None and not (
            isinstance(hd, (tuple, list)) and all(isinstance(v, int) and not isinstance(v, bool) and v >= 1 for v in hd)
        ):
            raise param_error(o, "hidden_dims", "a sequence of ints >= 1 or None", hd)
        _check_int(o, "k", self.k, 1)
        _check_int(o, "n_samples", self.n_samples, 1)
        if self.epochs != "auto":
            check_param(o, "epochs", self.epochs, Interval("int", 1, None))
        _check_int(o, "batch_size", self.batch_size, 1)
        check_param(o, "lr", self.lr, Interval("float", 0, None, closed="neither"))
        check_param(o, "weight_decay", self.weight_decay, Interval("float", 0, None))
        check_param(o, "likelihood", self.likelihood, Options(LIKELIHOODS, optional=True))
        check_param(o, "max_time", self.max_time, Interval("float", 0, None, closed="neither", optional=True))
        _check_int(o, "seed", self.seed, 0)
        check_param(o, "progress", self.progress, Options((True, False)))

    # ------------------------------------------------------------------ reading X
    def _read_fit(self, X) -> tuple[np.ndarray, DataSpec, _Format, np.ndarray | None]:
        """Model-space array (NaN = missing), its spec, the input format and feature names."""
        o = type(self).__name__
        if isinstance(X, Dataset):
            raise DataError(f"{o} takes arrays or DataFrames with np.nan for missing values, not a vaekit Dataset "
                            f"(Datasets hold complete data).")
        if _is_frame(X):
            if X.shape[0] == 0 or X.shape[1] == 0:
                raise DataError(f"Found array with shape {X.shape} while {o} needs at least 1 sample and 1 feature.")
            spec = _frame_spec(X, o)
            names = [c for c in X.columns]
            feature_names = np.asarray(names, dtype=object) if all(isinstance(c, str) for c in names) else None
            fmt = _Format("frame", (X.shape[1],), columns=tuple(str(c) for c in names))
            return _encode_frame(X, spec), spec, fmt, feature_names
        a = self._numeric(X)
        if a.ndim in (3, 4):
            imgs, last = _image_layout(a)
            flat = imgs.reshape(len(imgs), -1)
            _check_observed_columns(np.isnan(flat), None, o)
            self._check_unit(flat, "images")
            c = imgs.shape[1]
            spec = DataSpec(kind="image", shape=tuple(imgs.shape[1:]), name="X", image_mode="L" if c == 1 else "RGB")
            return imgs.astype(np.float32), spec, _Format("image", tuple(a.shape[1:]), channels_last=last), None
        if a.ndim != 2:
            raise DataError(f"X has shape {a.shape}; expected (n_samples, n_features), images (n, H, W[, C]) or a DataFrame.")
        missing = np.isnan(a)
        _check_observed_columns(missing, None, o)
        obs = a[~missing]
        if obs.size and obs.min() >= 0 and obs.max() <= 1:
            spec = DataSpec(kind="array", shape=(a.shape[1],), name="X")
            return a.astype(np.float32), spec, _Format("unit", (a.shape[1],)), None
        mean = np.nanmean(a, axis=0)
        std = np.nanstd(a, axis=0)
        std[~(std > 0)] = 1.0
        cols = tuple(f"x{j}" for j in range(a.shape[1]))
        spec = DataSpec(kind="table", shape=(a.shape[1],), name="X", columns=cols, numeric_columns=cols,
                        mean=tuple(map(float, mean)), std=tuple(map(float, std)))
        return ((a - mean) / std).astype(np.float32), spec, _Format("table", (a.shape[1],)), None

    def _numeric(self, X) -> np.ndarray:
        a = _as_array(X)
        if a.dtype.kind not in "biuf":
            raise DataError(f"X has dtype {a.dtype}; expected numbers with np.nan for missing values "
                            f"(use a DataFrame for text columns).")
        a = np.asarray(a, dtype=np.float64)
        if a.ndim < 2:
            raise DataError(f"X has shape {a.shape}; expected a 2-D array (n_samples, n_features). Reshape your data "
                            f"either using X.reshape(-1, 1) if your data has a single feature or X.reshape(1, -1) "
                            f"if it contains a single sample.")
        if a.shape[0] == 0 or math.prod(a.shape[1:]) == 0:
            raise DataError(f"Found array with shape {a.shape} while {type(self).__name__} needs at least 1 sample and "
                            f"1 feature.")
        if np.isinf(a).any():
            index = tuple(int(i) for i in np.unravel_index(int(np.argmax(np.isinf(a))), a.shape))
            raise DataError(f"X contains infinity (first at index {index}); use np.nan for missing values.")
        return a

    @staticmethod
    def _check_unit(flat: np.ndarray, what: str) -> None:
        obs = flat[~np.isnan(flat)]
        if obs.size and (obs.min() < 0 or obs.max() > 1):
            raise DataError(f"X holds {what} with values in [{obs.min():.4g}, {obs.max():.4g}]; image values must lie "
                            f"in [0, 1] (divide 8-bit images by 255 first).")

    def _read_transform(self, X) -> np.ndarray:
        """``X`` in model space (n, *data_shape), NaN = missing, preprocessed exactly as in ``fit``."""
        fmt, spec = self._format, self.model_.data_spec
        if fmt.kind == "frame":
            import pandas as pd

            if not _is_frame(X):
                a = _as_array(X, numeric=False)
                if a.ndim != 2:
                    raise DataError(f"X has shape {a.shape}; expected a DataFrame or a 2-D array (n_samples, n_features).")
                if a.shape[1] != self.n_features_in_:
                    raise self._wrong_features(a.shape[1])
                X = pd.DataFrame(a, columns=list(fmt.columns))
            return _encode_frame(X, spec)
        a = self._numeric(X)
        n_features = int(math.prod(a.shape[1:]))
        if n_features != self.n_features_in_:
            raise self._wrong_features(n_features)
        if fmt.kind == "image":
            imgs = a.reshape(len(a), *fmt.shape)
            imgs = imgs.transpose(0, 3, 1, 2) if fmt.channels_last else imgs.reshape(len(a), *self.model_.data_shape)
            self._check_unit(imgs.reshape(len(a), -1), "images")
            return imgs.astype(np.float32)
        a = a.reshape(len(a), -1)
        if fmt.kind == "table":
            return ((a - np.asarray(spec.mean)) / np.asarray(spec.std)).astype(np.float32)
        self._check_unit(a, "values")
        return a.astype(np.float32)

    def _wrong_features(self, n: int) -> DataError:
        return DataError(f"X has {n} features, but {type(self).__name__} is expecting {self.n_features_in_} "
                         f"features as input.")

    # ------------------------------------------------------------------ fit
    def _model_overrides(self, spec: DataSpec, fmt: _Format) -> dict[str, Any]:
        d = math.prod(spec.shape)
        tabular = fmt.kind in ("frame", "table")
        if self.latent_dim == "auto":
            latent = int(min(16, max(2, d // 2))) if tabular else 32
        else:
            latent = int(self.latent_dim)
        if self.hidden_dims is not None:
            hidden = tuple(int(v) for v in self.hidden_dims)
        else:
            hidden = (128, 128) if tabular else (512, 256)
        likelihood = self.likelihood or ("gaussian" if tabular else "bernoulli")
        return dict(net="mlp", latent_dim=latent, hidden_dims=hidden, likelihood=likelihood, missing="ignore",
                    iwae_k=int(self.k))

    def _train_config(self, n: int) -> TrainConfig:
        steps_per_epoch = max(1, math.ceil(n / self.batch_size))
        if self.epochs == "auto":
            epochs = int(np.clip(math.ceil(AUTO_STEPS / steps_per_epoch), *AUTO_EPOCHS))
        else:
            epochs = int(self.epochs)
        # No validation split: every row's observed entries are training signal, as in MIWAE.
        return TrainConfig(epochs=epochs, batch_size=int(self.batch_size), lr=float(self.lr),
                           weight_decay=float(self.weight_decay), lr_schedule="cosine", val_fraction=0.0,
                           early_stopping_patience=None, max_time=self.max_time, seed=int(self.seed),
                           checkpoint_every=max(1, epochs))

    def fit(self, X, y=None) -> "VAEImputer":
        """Train the MIWAE model on the observed entries of ``X``.

        Parameters
        ----------
        X : ndarray or DataFrame
            ``np.nan`` (or a missing value in a DataFrame) marks missing entries.
        y : ignored

        Returns
        -------
        self

        Raises
        ------
        DataError
            A column with no observed value, infinite values, images outside [0, 1].
        """
        from ..model import VAE
        from ..training import fit

        self._check_params()
        x, spec, fmt, names = self._read_fit(X)
        if len(x) < 2:
            raise DataError(f"X has {len(x)} sample, but {type(self).__name__} needs at least 2 samples to fit.")
        data = Dataset(torch.from_numpy(np.ascontiguousarray(x)), None, spec)
        model = VAE.for_data(data, **self._model_overrides(spec, fmt)).to(self.device)
        self.history_ = fit(model, data, self._train_config(len(data)), progress=bool(self.progress))
        self._adopt(model, fmt, names)
        return self

    def _adopt(self, model, fmt: _Format, names: np.ndarray | None) -> None:
        self.model_ = model.eval()
        self._format = fmt
        self.n_features_in_ = int(fmt.shape[0]) if fmt.kind == "frame" else int(math.prod(fmt.shape))
        if names is not None:
            self.feature_names_in_ = names
        elif hasattr(self, "feature_names_in_"):
            del self.feature_names_in_

    @classmethod
    def from_run(cls, run: str | os.PathLike, **params) -> "VAEImputer":
        """A fitted imputer around a saved model trained with ``missing="ignore"``.

        ``transform`` then takes what the run's data looked like: DataFrames with its columns for
        tables, 2-D arrays for vectors, image arrays for images.

        Raises
        ------
        CheckpointError
            ``run`` is not a run directory, or its model was not trained for missing data.
        """
        from ..io import load

        model = load(run)
        if getattr(model.config, "missing", "none") != "ignore":
            raise CheckpointError(f"The model in '{run}' was trained without missing-data support (missing='none'); "
                                  f"train one with VAEImputer().fit(X) or `vaekit impute DATA --save RUN`.")
        c = model.config
        est = cls(**{"latent_dim": c.latent_dim, "hidden_dims": c.hidden_dims, "likelihood": c.likelihood,
                     "k": c.iwae_k, **params})
        est._check_params()
        spec = model.data_spec
        names = None
        if spec is None or spec.kind == "array":
            fmt = _Format("unit", tuple(model.data_shape))
        elif spec.kind == "image":
            fmt = _Format("image", tuple(spec.shape))
        elif spec.name == "X" and spec.numeric_columns == tuple(f"x{j}" for j in range(len(spec.columns))):
            fmt = _Format("table", tuple(spec.shape))
        else:
            cols = spec.numeric_columns + spec.categorical_columns
            fmt, names = _Format("frame", (len(cols),), columns=cols), np.asarray(cols, dtype=object)
        est._adopt(model.to(est.device), fmt, names)
        est.history_ = None
        return est

    # ------------------------------------------------------------------ transform
    def _check_fitted(self) -> None:
        if not hasattr(self, "model_"):
            raise NotFittedError(f"This {type(self).__name__} instance is not fitted yet. Call 'fit' with appropriate "
                                 f"arguments before using this estimator.")

    @torch.inference_mode()
    def _impute_model_space(self, x: np.ndarray, n_imputations: int | None, seed: int | None) -> np.ndarray:
        model = self.model_
        g = torch.Generator(device=model.device).manual_seed(int(self.seed if seed is None else seed))
        xt = torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32))
        # rows per call: bounded so the k importance samples of a batch stay near 2**25 decoder outputs
        step = max(1, min(1024, 2**25 // max(1, self.n_samples * math.prod(model.data_shape))))
        parts = []
        for i in range(0, len(xt), step):
            xb = xt[i : i + step].to(model.device)
            if not torch.isnan(xb).any():
                out = xb if n_imputations is None else xb.expand(n_imputations, *xb.shape)
            else:
                out = model.impute(xb, int(self.n_samples), n_imputations=n_imputations, generator=g)
            parts.append(out.cpu())
        return torch.cat(parts, dim=0 if n_imputations is None else 1).numpy()

    def _to_user(self, z: np.ndarray, X) -> Any:
        """Model-space completions back in the layout, units and dtype of ``X`` (observed entries exact)."""
        from ..data import decode_table

        fmt, spec = self._format, self.model_.data_spec
        if fmt.kind == "frame":
            import pandas as pd

            frame = X if _is_frame(X) else pd.DataFrame(_as_array(X, numeric=False), columns=list(fmt.columns))
            decoded = decode_table(z, spec)
            out = frame.copy()
            for j, col in enumerate(fmt.columns):
                c = frame.columns[j]
                miss = frame[c].isna().to_numpy()
                if not miss.any():
                    continue
                values = decoded[col].to_numpy()
                if col in spec.numeric_columns:
                    new = pd.to_numeric(frame[c], errors="coerce").to_numpy(dtype=np.float64).copy()
                    new[miss] = values[miss].astype(np.float64)
                    out[c] = new
                else:
                    s = frame[c]
                    if isinstance(s.dtype, pd.CategoricalDtype):
                        out[c] = pd.Categorical(np.where(miss, values, s.astype(object)), categories=s.cat.categories)
                    else:
                        out[c] = np.where(miss, values, s.to_numpy(dtype=object))
            return out
        a = _as_array(X)
        dtype = a.dtype if a.dtype.kind == "f" else np.float64
        if fmt.kind == "table":
            z = z * np.asarray(spec.std) + np.asarray(spec.mean)
        elif fmt.kind == "image":
            if fmt.channels_last:
                z = z.transpose(0, 2, 3, 1)
        z = z.reshape(a.shape).astype(dtype)
        a = np.asarray(a, dtype=dtype)
        return np.where(np.isnan(a), z, a)  # observed entries bit for bit as given

    def transform(self, X, *, seed: int | None = None) -> Any:
        """Replace every missing entry of ``X`` by its conditional mean given the observed entries.

        Parameters
        ----------
        X : ndarray or DataFrame
            Laid out like the training data; ``np.nan`` marks missing entries.
        seed : int or None
            Seed of the importance samples; None uses the estimator's ``seed``.

        Returns
        -------
        ndarray or DataFrame
            Same shape, layout and (floating) dtype as ``X``; observed entries unchanged.
        """
        self._check_fitted()
        check_param(type(self).__name__, "seed", seed, Interval("int", 0, None, optional=True))
        z = self._impute_model_space(self._read_transform(X), None, seed)
        return self._to_user(z, X)

    def multiple_imputations(self, X, n_imputations: int = 5, *, seed: int | None = None) -> list:
        """Draw ``n_imputations`` completions of ``X`` (sampling-importance-resampling).

        Each completion fills the missing entries with a draw from p(x_mis | x_obs); their average
        tends to :meth:`transform`'s conditional mean as ``n_imputations`` grows.

        Parameters
        ----------
        X : ndarray or DataFrame
        n_imputations : int, default 5
        seed : int or None

        Returns
        -------
        list of ndarray or DataFrame
            ``n_imputations`` completions, each like :meth:`transform`'s result.
        """
        self._check_fitted()
        _check_int(type(self).__name__, "n_imputations", n_imputations, 1)
        check_param(type(self).__name__, "seed", seed, Interval("int", 0, None, optional=True))
        z = self._impute_model_space(self._read_transform(X), int(n_imputations), seed)
        return [self._to_user(zi, X) for zi in z]

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = True
        return tags


# ================================================================================================ files
def _read_npz(path: Path, name: str) -> tuple[np.ndarray, np.ndarray | None]:
    """``x`` (with NaN for missing) and optional ``x_true`` from an .npz, or one array from an .npy."""
    try:
        if path.suffix.lower() == ".npy":
            return np.load(path, allow_pickle=False), None
        with np.load(path, allow_pickle=False) as npz:
            keys = set(npz.files)
            if "x" not in keys:
                raise DataError(f"{name} holds arrays {', '.join(sorted(keys)) or '(none)'}; expected 'x' (np.nan for "
                                f"missing entries) and optionally 'x_true' (the complete data, for the picture).")
            return npz["x"], (npz["x_true"] if "x_true" in keys else None)
    except (ValueError, OSError, EOFError, zipfile.BadZipFile) as e:
        raise DataError(f"File '{name}' could not be read: {e}. vaekit never unpickles; save plain numeric arrays.") from e


def read_incomplete(path: str | os.PathLike) -> tuple[Any, Any]:
    """Read incomplete data for imputation: a table (.csv/.tsv/.parquet) or arrays (.npz/.npy).

    Parameters
    ----------
    path : path
        A table with empty cells for missing values, an ``.npy`` array with NaN, or an ``.npz`` with
        ``x`` (NaN = missing) and optionally ``x_true`` (the complete data, shown in pictures).

    Returns
    -------
    x : DataFrame or ndarray
    truth : ndarray or None

    Examples
    --------
    >>> import numpy as np, tempfile, os
    >>> p = os.path.join(tempfile.mkdtemp(), "a.npy"); np.save(p, np.array([[1.0, np.nan]]))
    >>> x, truth = read_incomplete(p)
    >>> x.shape, truth is None
    ((1, 2), True)
    """
    from ..data.tables import read_table

    p = Path(path)
    if not p.is_file():
        raise DataError(f"No such file: '{path}'. Expected a .csv/.tsv/.parquet table or a .npz/.npy array.")
    lower = p.name.lower()
    if lower.endswith((".csv", ".tsv", ".csv.gz", ".tsv.gz", ".parquet", ".pq")):
        return read_table(p, str(path)), None
    if lower.endswith((".npz", ".npy")):
        x, truth = _read_npz(p, str(path))
        if truth is not None and truth.shape != x.shape:
            raise DataError(f"{path}: 'x_true' has shape {truth.shape} but 'x' has {x.shape}; they must match.")
        return x, truth
    raise DataError(f"Cannot impute '{path}': unsupported file type '{p.suffix or p.name}'. Expected a "
                    f".csv/.tsv/.parquet table or a .npz/.npy array.")


@dataclass(frozen=True)
class ImputeResult:
    """What :func:`impute_file` did.

    Attributes
    ----------
    output : Path
    n_rows : int
    n_missing : int
        Entries filled (per completion).
    n_imputations : int
        1 for a single imputation.
    """

    output: Path
    n_rows: int
    n_missing: int
    n_imputations: int


def imputation_picture(x: np.ndarray, completed: np.ndarray, truth: np.ndarray | None = None, *, n: int = 16):
    """Rows of images: masked input (missing pixels grey-checked), imputation, and the truth if known.

    Parameters
    ----------
    x : ndarray of shape (m, C, H, W), NaN = missing
    completed : ndarray of the same shape
    truth : ndarray of the same shape or None
    n : int
        Examples shown.

    Returns
    -------
    PIL.Image.Image

    Examples
    --------
    >>> x = np.full((2, 1, 4, 4), 0.5); x[:, :, :2] = np.nan
    >>> imputation_picture(x, np.nan_to_num(x), None).mode
    'RGB'
    """
    from ..viz import labeled_rows

    x, completed = x[:n], completed[:n]
    # missing pixels drawn red so they cannot be mistaken for any grey level
    rgb = np.repeat(np.nan_to_num(x, nan=0.0), 3 // x.shape[1], axis=1) if x.shape[1] == 1 else np.nan_to_num(x)
    miss = np.isnan(x).any(axis=1, keepdims=True).repeat(3, axis=1)
    red = np.zeros_like(rgb)
    red[:, 0] = 1.0
    rgb = np.where(miss, red, rgb)
    rows, labels = [rgb, completed], ["masked input", "imputation"]
    if truth is not None:
        rows.append(truth[:n])
        labels.append("truth")
    return labeled_rows(rows, labels, scale=2)


def impute_file(
    data: str | os.PathLike,
    output: str | os.PathLike,
    *,
    run: str | os.PathLike | None = None,
    n_imputations: int | None = None,
    save: str | os.PathLike | None = None,
    overwrite: bool = False,
    **params: Any,
) -> ImputeResult:
    """Complete the missing entries of a file and write the result (the library side of ``vaekit impute``).

    Parameters
    ----------
    data : path
        See :func:`read_incomplete`.
    output : path
        ``.csv`` / ``.parquet`` for tables; ``.npz`` / ``.npy`` for arrays; ``.png`` for images: a grid
        of masked inputs, imputations and (when ``data`` has ``x_true``) the truth. With
        ``n_imputations``, a table gets an ``imputation`` column (1..N) and rows repeated per
        completion; an ``.npz`` / ``.npy`` gets shape (N, *x.shape).
    run : path or None
        Use this saved model (trained with ``missing="ignore"``) instead of fitting one on ``data``.
    n_imputations : int or None
        Multiple imputation; None writes the single (conditional-mean) imputation.
    save : path or None
        Save the model fitted on ``data`` as a run directory (reuse it with ``run=``).
    overwrite : bool
        Replace a non-empty ``save`` directory.
    **params
        :class:`VAEImputer` parameters (``epochs``, ``seed``, ``n_samples``, ...).

    Returns
    -------
    ImputeResult
    """
    from ..io import atomic_write

    out = Path(output)
    suffix = out.suffix.lower()
    if suffix not in IMPUTE_FORMATS:
        raise DataError(f"Cannot write '{output}': expected one of {', '.join(IMPUTE_FORMATS)}.")
    if n_imputations is not None:
        _check_int("impute_file", "n_imputations", n_imputations, 1)
    x, truth = read_incomplete(data)
    table = _is_frame(x)
    if table and suffix not in (".csv", ".parquet"):
        raise DataError(f"{data} is a table; write it to a .csv or .parquet file, not '{out.suffix}'.")
    if not table and suffix in (".csv", ".parquet"):
        raise DataError(f"{data} holds arrays; write them to .npz, .npy or (images) .png, not '{out.suffix}'.")
    if suffix == ".png" and (table or np.asarray(x).ndim not in (3, 4)):
        raise DataError(f"A .png picture needs images (an array of shape (n, H, W[, C])); {data} has "
                        f"{'a table' if table else f'shape {np.asarray(x).shape}'}.")
    if run is not None:
        imputer = VAEImputer.from_run(run, **params)
    else:
        if save is not None:
            from ..io import prepare_run_dir

            prepare_run_dir(save, overwrite=overwrite)  # refuse early, before training
        imputer = VAEImputer(**params).fit(x)
        if save is not None:
            imputer.model_.save(save, overwrite=True)
    n_missing = int(x.isna().to_numpy().sum()) if table else int(np.isnan(np.asarray(x, dtype=np.float64)).sum())
    if n_imputations is None:
        completed = [imputer.transform(x)]
    else:
        completed = imputer.multiple_imputations(x, n_imputations)
    if table:
        import pandas as pd

        if n_imputations is None:
            frame = completed[0]
        else:
            frame = pd.concat([c.assign(imputation=i + 1) for i, c in enumerate(completed)], ignore_index=True)
        if suffix == ".csv":
            with atomic_write(out, "w") as f:
                frame.to_csv(f, index=False)
        else:
            with atomic_write(out, "wb") as f:
                frame.to_parquet(f, index=False)
    elif suffix == ".png":
        from ..viz import save_image

        a = np.asarray(x, dtype=np.float64)
        imgs, _ = _image_layout(a)
        done, _ = _image_layout(np.asarray(completed[0]))
        t = None if truth is None else _image_layout(np.asarray(truth, dtype=np.float64) / (255.0 if np.asarray(truth).dtype.kind in "iu" else 1.0))[0]
        save_image(imputation_picture(imgs, done, t), out)
    else:
        arr = completed[0] if n_imputations is None else np.stack(completed)
        with atomic_write(out, "wb") as f:
            if suffix == ".npz":
                np.savez(f, x=arr)
            else:
                np.save(f, arr, allow_pickle=False)
    return ImputeResult(output=out, n_rows=len(x), n_missing=n_missing,
                        n_imputations=1 if n_imputations is None else int(n_imputations))
