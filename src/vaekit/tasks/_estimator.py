"""What vaekit's scikit-learn estimators share: parameter constraints, reading ``X``, fitted state, runs.

:class:`VAEEstimator` is the base of :class:`~vaekit.VAETransformer`, :class:`~vaekit.VAEOutlierDetector`
and :class:`~vaekit.VAEImputer`:

* ``_parameter_constraints``: each parameter's alternatives (scikit-learn's convention), checked in
  one place (:func:`vaekit._validation.validate_params`);
* :class:`InputFormat`: how raw ``X`` (arrays, images, DataFrames with numeric and categorical
  columns, vaekit Datasets; NaN where the estimator allows it) becomes model input, and back;
* one auto-epochs rule (``_auto_epochs``), one not-fitted error that scikit-learn's
  ``check_is_fitted`` also recognises, one ``from_run``.
"""

from __future__ import annotations

import dataclasses
import math
import os
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from sklearn.base import BaseEstimator
from sklearn.exceptions import NotFittedError as _SklearnNotFittedError

from .._validation import Boolean, Interval, IntSequence, Registered, check_param, validate_params
from ..config import DataSpec
from ..data import Dataset
from ..errors import DataError, NotFittedError
from ..registry import LIKELIHOODS

__all__ = ["VAEEstimator", "InputFormat", "EstimatorNotFittedError", "ESTIMATOR_PRIOR"]

#: The prior of the models the estimators, the denoiser and M1+M2's M1 build: their figures were measured
#: with it. The grey-image default preset's learned mixture was chosen on likelihood alone.
ESTIMATOR_PRIOR = "standard_normal"


class EstimatorNotFittedError(NotFittedError, _SklearnNotFittedError):
    """vaekit's :class:`~vaekit.errors.NotFittedError` that is also scikit-learn's (and so an AttributeError)."""


# ================================================================================================ array helpers
def check_int(owner: str, name: str, value: Any, low: int, *, optional: bool = False) -> None:
    check_param(owner, name, value, Interval("int", low, None, optional=optional))


def is_frame(X: Any) -> bool:
    from ..data._load import _is_pandas_frame

    return _is_pandas_frame(X)


def as_array(X: Any, what: str = "X", *, numeric: bool = True) -> np.ndarray:
    """numpy view of array-likes; object arrays of numbers become float64 (unless ``numeric=False``, for
    tables with text columns); sparse, complex and text data are refused."""
    from ..data._common import as_numpy

    if hasattr(X, "toarray") and hasattr(X, "nnz"):  # scipy.sparse, without importing scipy
        raise DataError(f"{what} is a sparse matrix; vaekit's estimators need dense input. Pass {what}.toarray() instead.")
    a = as_numpy(X)
    if a.dtype == object and numeric:
        try:
            a = a.astype(np.float64)
        except ValueError as e:
            raise DataError(f"{what} must hold numbers; {e}.") from e
    if a.dtype.kind == "c":
        raise DataError(f"Complex data not supported: {what} holds complex numbers; expected real numbers.")
    if numeric and a.dtype.kind not in "biuf":
        raise DataError(f"{what} has dtype {a.dtype}; expected numbers (use a DataFrame for text columns).")
    return a


def nan_mask(a: np.ndarray) -> np.ndarray:
    return np.isnan(a) if a.dtype.kind == "f" else np.zeros(a.shape, dtype=bool)


def check_2d(a: np.ndarray, what: str = "X", *, allow_nan: bool = False) -> None:
    """Shape and finiteness checks with scikit-learn's wording (pipelines and its checks rely on it)."""
    if a.ndim < 2:
        raise DataError(
            f"{what} has shape {a.shape}; expected a 2-D array (n_samples, n_features) or a batch of images. "
            f"Reshape your data either using {what}.reshape(-1, 1) if your data has a single feature or "
            f"{what}.reshape(1, -1) if it contains a single sample."
        )
    if a.shape[0] == 0:
        raise DataError(f"Found array with 0 sample(s) (shape={a.shape}) while a minimum of 1 is required.")
    if math.prod(a.shape[1:]) == 0:
        raise DataError(f"Found array with 0 feature(s) (shape={a.shape}) while a minimum of 1 is required.")
    if a.dtype.kind == "f":
        bad = np.isinf(a) if allow_nan else ~np.isfinite(a)
        if bad.any():
            index = tuple(int(i) for i in np.unravel_index(int(np.argmax(bad)), a.shape))
            if allow_nan:
                raise DataError(f"{what} contains infinity (first at index {index}); use np.nan for missing values.")
            raise DataError(f"{what} contains NaN or infinity (first at index {index}); remove or fill those values first.")


def channels_last(a: np.ndarray) -> bool:
    # prepare_array's rule: (n, C, H, W) wins when both readings are possible.
    return a.ndim == 4 and a.shape[1] not in (1, 3) and a.shape[3] in (1, 3)


def image_layout(a: np.ndarray, last: bool | None = None) -> np.ndarray:
    """(n, H, W) / (n, H, W, C) / (n, C, H, W) -> (n, C, H, W)."""
    if a.ndim == 3:
        return a[:, None]
    if channels_last(a) if last is None else last:
        return a.transpose(0, 3, 1, 2)
    if a.shape[1] not in (1, 3):
        raise DataError(f"X has shape {a.shape}; images must be (n, H, W), (n, H, W, C) or (n, C, H, W) with C = 1 or 3.")
    return a


def check_unit(a: np.ndarray, what: str) -> None:
    """Observed (non-NaN) values of [0, 1] data must lie in [0, 1]."""
    obs = a[~nan_mask(a)]
    if obs.size and (obs.min() < 0 or obs.max() > 1):
        raise DataError(f"X holds {what} with values in [{obs.min():.4g}, {obs.max():.4g}]; they must lie in [0, 1] "
                        f"(divide 8-bit images by 255 first).")


def _check_observed(mask: np.ndarray, owner: str) -> None:
    """Every feature of an array needs at least one observed value (``mask`` True = missing, (n, ...))."""
    empty = mask.reshape(len(mask), -1).all(axis=0)
    if empty.any():
        j = int(np.argmax(empty))
        raise DataError(f"Column {j} of X has no observed values; {owner} cannot impute it from nothing. "
                        f"Drop it or give it at least one value.")


def _with_nan(data: Dataset, mask: np.ndarray | None) -> Dataset:
    """``data`` with NaN put back where ``mask`` (laid out as ``data.x``) is True."""
    if mask is None or not mask.any():
        return data
    x = data.x.clone() if isinstance(data.x, torch.Tensor) else torch.as_tensor(np.array(data.x, dtype=np.float32))
    x[torch.from_numpy(np.ascontiguousarray(mask.reshape(x.shape)))] = float("nan")
    return dataclasses.replace(data, x=x)


# ================================================================================================ input format
@dataclass(frozen=True)
class InputFormat:
    """How raw ``X`` was turned into model inputs, so later calls read ``X`` the same way and answer in its layout.

    kind : "dataset" (a vaekit Dataset, model space), "frame" (a DataFrame table: numeric columns
    standardised, categorical ones one-hot), "table" (a 2-D array, standardised per column), "vector"
    (a 2-D array used as it is, divided by ``scale``) or "image".
    """

    kind: str
    shape: tuple[int, ...]  # one example as the user gave it
    scale: float = 1.0  # 255 for 8-bit input
    channels_last: bool = False
    columns: tuple[str, ...] = ()  # a DataFrame's columns in the user's order
    allow_nan: bool = False  # NaN marks missing entries (kept as NaN in model space)

    @property
    def n_features(self) -> int:
        return int(self.shape[0]) if self.kind == "frame" else int(math.prod(self.shape))

    # ------------------------------------------------------------------ fit
    @classmethod
    def fit(cls, X: Any, owner: str, *, allow_nan: bool = False) -> tuple[Dataset, "InputFormat", np.ndarray | None]:
        """Training data as a Dataset (NaN = missing where allowed), its format and feature names (str columns)."""
        from ..data import from_array
        from ..data.tables import table_to_dataset

        if isinstance(X, Dataset):
            return X, cls("dataset", tuple(X.shape), allow_nan=allow_nan), None
        if is_frame(X):
            if X.shape[0] == 0 or X.shape[1] == 0:
                raise DataError(f"Found array with shape {X.shape} while {owner} needs at least 1 sample and 1 feature.")
            data = table_to_dataset(X, source="X", name="X", allow_missing=allow_nan)
            names = list(X.columns)
            feature_names = np.asarray(names, dtype=object) if all(isinstance(c, str) for c in names) else None
            fmt = cls("frame", (X.shape[1],), columns=tuple(str(c) for c in names), allow_nan=allow_nan)
            return data, fmt, feature_names
        a = as_array(X)
        check_2d(a, allow_nan=allow_nan)
        mask = nan_mask(a) if allow_nan else None
        if mask is not None:
            _check_observed(mask, owner)
        filled = a if mask is None or not mask.any() else np.where(mask, 0.0, a)
        if a.ndim in (3, 4):
            if allow_nan:
                check_unit(a, "images")
            last = channels_last(a)
            data = from_array(filled, name="X")
            data = _with_nan(data, None if mask is None else image_layout(mask, last))
            scale = 255.0 if a.dtype.kind in "iu" else 1.0
            return data, cls("image", tuple(a.shape[1:]), scale, last, allow_nan=allow_nan), None
        if a.ndim != 2:
            raise DataError(f"X has shape {a.shape}; expected a 2-D array (n_samples, n_features), images "
                            f"(n, H, W[, C]), a DataFrame or a vaekit Dataset.")
        obs = a if mask is None else a[~mask]
        if a.dtype.kind in "biuf" and obs.size and obs.min() >= 0 and obs.max() <= 1:
            data = from_array(np.array(filled, dtype=np.float32), kind="array", name="X")  # own copy, never a memmap
            return _with_nan(data, mask), cls("vector", (a.shape[1],), allow_nan=allow_nan), None
        if a.dtype == np.uint8:
            data = from_array(a.astype(np.float32) / np.float32(255), kind="array", name="X")
            return data, cls("vector", (a.shape[1],), 255.0, allow_nan=allow_nan), None
        import pandas as pd

        frame = pd.DataFrame(np.asarray(a, dtype=np.float64), columns=[f"x{i}" for i in range(a.shape[1])])
        data = table_to_dataset(frame, source="X", name="X", allow_missing=allow_nan)
        return data, cls("table", (a.shape[1],), allow_nan=allow_nan), None

    @classmethod
    def of_model(cls, model, *, allow_nan: bool = False) -> tuple["InputFormat", np.ndarray | None]:
        """How raw ``X`` is read for a saved model (what its training data looked like)."""
        spec = model.data_spec
        if spec is None:
            return cls("vector" if len(model.data_shape) == 1 else "image", tuple(model.data_shape), allow_nan=allow_nan), None
        if spec.kind == "table":
            cols = spec.numeric_columns + spec.categorical_columns
            if spec.name == "X" and not spec.categorical_columns and cols == tuple(f"x{j}" for j in range(len(cols))):
                return cls("table", tuple(spec.shape), allow_nan=allow_nan), None  # a 2-D array given to fit
            return cls("frame", (len(cols),), columns=cols, allow_nan=allow_nan), np.asarray(cols, dtype=object)
        return cls("image" if spec.kind == "image" else "vector", tuple(spec.shape), allow_nan=allow_nan), None

    # ------------------------------------------------------------------ later calls
    def to_model(self, X: Any, model, owner: str) -> torch.Tensor | Dataset:
        """``X`` preprocessed exactly as the training data: (n, *data_shape) float32 (NaN = missing), or a Dataset."""
        from ..data import apply_spec
        from ..data.tables import encode_table

        spec = model.data_spec
        if isinstance(X, Dataset):
            if tuple(X.shape) != tuple(model.data_shape):
                raise DataError(f"Dataset '{X.name}' has examples of shape {X.shape}, but {owner} was fitted on "
                                f"examples of shape {tuple(model.data_shape)}.")
            return X
        if self.kind == "frame":
            import pandas as pd

            if not is_frame(X):
                a = as_array(X, numeric=False)
                check_2d(a, allow_nan=self.allow_nan)
                if a.ndim != 2:
                    raise DataError(f"X has shape {a.shape}; expected a DataFrame or a 2-D array (n_samples, n_features).")
                self._check_features(a.shape[1], owner)
                X = pd.DataFrame(a, columns=list(self.columns))  # the order of the DataFrame seen in fit
            return torch.from_numpy(encode_table(X, spec, "X", allow_missing=self.allow_nan)[0])
        if is_frame(X):
            X = X.to_numpy()
        a = as_array(X)
        check_2d(a, allow_nan=self.allow_nan)
        self._check_features(int(math.prod(a.shape[1:])), owner)
        n = len(a)
        if self.kind == "table":
            import pandas as pd

            frame = pd.DataFrame(a.reshape(n, -1), columns=list(spec.numeric_columns))
            return torch.from_numpy(encode_table(frame, spec, "X", allow_missing=self.allow_nan)[0])
        if self.kind == "dataset":
            return torch.as_tensor(np.asarray(a, dtype=np.float32)).reshape(n, *model.data_shape)
        if self.allow_nan:  # [0, 1] values or images, NaN kept
            a = a.reshape(n, *self.shape)
            if self.kind == "image":
                a = image_layout(a, self.channels_last)
            a = np.asarray(a, dtype=np.float32) / np.float32(self.scale)
            check_unit(a, "images" if self.kind == "image" else "values")
            return torch.from_numpy(np.ascontiguousarray(a)).reshape(n, *model.data_shape)
        if self.kind == "vector":
            a = a.reshape(n, -1)
            if self.scale != 1.0:
                a = a.astype(np.float32) / np.float32(self.scale)
            return apply_spec(a, spec, name="X") if spec is not None else torch.as_tensor(a, dtype=torch.float32)
        return apply_spec(a, spec, name="X")  # images: 8-bit or [0, 1], any of the accepted layouts

    def to_user(self, x: np.ndarray, spec: DataSpec | None) -> Any:
        """Model-space examples (n, *data_shape) in the layout and units of the training ``X``."""
        from ..data import decode_table

        if self.kind in ("frame", "table"):
            frame = decode_table(x.reshape(len(x), -1), spec)
            return frame if self.kind == "frame" else frame.to_numpy(dtype=np.float64)
        if self.kind == "vector":
            return x.reshape(len(x), -1) * np.float32(self.scale)
        if self.kind == "image":
            if self.channels_last:
                x = x.transpose(0, 2, 3, 1)
            return np.ascontiguousarray(x.reshape(len(x), *self.shape)) * np.float32(self.scale)
        return x

    def _check_features(self, n: int, owner: str) -> None:
        if n != self.n_features:
            raise DataError(f"X has {n} features, but {owner} is expecting {self.n_features} features as input.")


# ================================================================================================ the base
class VAEEstimator(BaseEstimator):
    """Base of vaekit's scikit-learn estimators (see the module docstring).

    Subclasses declare ``_parameter_constraints`` (merged with the shared ones below), ``_auto_epochs``
    (optimiser steps, least and most epochs for ``epochs="auto"``), ``_allow_nan`` and which parameters
    :meth:`from_run` takes from a run's model and training configs.

    Attributes (after ``fit`` or ``from_run``)
    ------------------------------------------
    model_ : VAE or Autoencoder
        The trained model (``vaekit.save(model_, path)`` writes a run directory).
    n_features_in_ : int
        Features seen in ``fit`` (values per example for images; columns for tables).
    feature_names_in_ : ndarray of shape (n_features_in_,)
        Column names, when ``X`` was a DataFrame with string column names.
    history_ : vaekit.History or None
        Per-epoch training metrics (None for an estimator made with :meth:`from_run`).
    """

    #: Constraints shared by every estimator (a subclass adds its own with ``{**VAEEstimator._parameter_constraints, ...}``).
    _parameter_constraints: dict[str, list] = {
        "epochs": [Interval("int", 1, None), "auto"],
        "batch_size": [Interval("int", 1, None)],
        "hidden_dims": [IntSequence(1), None],
        "likelihood": [Registered(LIKELIHOODS), None],
        "beta": [Interval("float", 0, None)],
        "val_fraction": [Interval("float", 0, 1, closed="left")],
        "max_time": [Interval("float", 0, None, closed="neither"), None],
        "seed": [Interval("int", 0, None)],
        "progress": [Boolean()],
    }
    #: ``epochs="auto"``: about this many optimiser steps, clipped to [least, most] epochs ...
    _auto_epochs: tuple[int, int, int] = (10_000, 10, 100)
    #: ... and at most this much work, counted as training examples x trainable parameters x epochs (a
    #: proxy for the cost of an epoch; None: no cap), so a large model on large data trains fewer epochs.
    _auto_work: float | None = None
    #: Whether ``X`` may hold NaN (missing entries).
    _allow_nan: bool = False
    #: Likelihood of tables (DataFrames, 2-D arrays of numbers) unless ``likelihood`` is given: ``"mixed"``
    #: (a categorical per one-hot block) where an estimator measured better with it.
    _table_likelihood: str = "gaussian"
    #: Parameters :meth:`from_run` reads from the model config (estimator name -> config field) ...
    _run_model_params: dict[str, str] = {"latent_dim": "latent_dim", "hidden_dims": "hidden_dims",
                                         "likelihood": "likelihood", "beta": "beta"}
    #: ... and from the training config.
    _run_train_params: tuple[str, ...] = ("batch_size", "lr", "seed")

    # ------------------------------------------------------------------ parameters
    def _store_params(self, params: dict[str, Any]) -> None:
        """``__init__``'s job, as scikit-learn wants it: keep every parameter as given, check nothing."""
        for name, value in params.items():
            if name not in ("self", "__class__"):
                setattr(self, name, value)

    def _check_params(self) -> None:
        validate_params(type(self).__name__, self.get_params(deep=False), self._parameter_constraints)

    def _n_epochs(self, n_train: int, model=None) -> tuple[int, int]:
        """(epochs, optimiser steps per epoch) for ``n_train`` training examples of ``model``.

        ``epochs="auto"``: about ``_auto_epochs[0]`` optimiser steps, at most ``_auto_work`` examples x
        parameters (the per-epoch cost grows with both), clipped to ``_auto_epochs[1:]`` epochs.
        """
        steps_per_epoch = max(1, math.ceil(n_train / int(self.batch_size)))
        if self.epochs != "auto":
            return int(self.epochs), steps_per_epoch
        steps, least, most = self._auto_epochs
        epochs = math.ceil(steps / steps_per_epoch)
        if self._auto_work is not None and model is not None:
            params = sum(p.numel() for p in model.parameters() if p.requires_grad)
            epochs = min(epochs, math.floor(self._auto_work / max(1, n_train * params)))
        return int(np.clip(epochs, least, most)), steps_per_epoch

    def _model_overrides(self, fmt: InputFormat, **fixed: Any) -> dict[str, Any]:
        """Model config fields for :meth:`vaekit.VAE.for_data`: ``fixed``, the likelihood (Bernoulli for [0, 1]
        vectors, ``_table_likelihood`` for tables, unless ``likelihood`` says otherwise) and ``hidden_dims``
        when given."""
        over = dict(fixed)
        over.setdefault("prior", ESTIMATOR_PRIOR)  # the prior the estimators' figures were measured with
        if self.likelihood is not None:
            over["likelihood"] = self.likelihood
        elif fmt.kind == "vector":
            over["likelihood"] = "bernoulli"
        elif fmt.kind in ("frame", "table"):
            over["likelihood"] = self._table_likelihood
        if self.hidden_dims is not None:
            over["hidden_dims"] = tuple(int(v) for v in self.hidden_dims)
        return over

    def _fit_data(self, X) -> tuple[Dataset, InputFormat, np.ndarray | None]:
        """Check the parameters and read training ``X`` (at least 2 examples)."""
        self._check_params()
        data, fmt, names = InputFormat.fit(X, type(self).__name__, allow_nan=self._allow_nan)
        if len(data) < 2:
            raise DataError(f"X has {len(data)} sample, but {type(self).__name__} needs at least 2 samples to fit.")
        return data, fmt, names

    # ------------------------------------------------------------------ fitted state
    def __sklearn_is_fitted__(self) -> bool:
        return hasattr(self, "model_")

    def _torch_device(self):
        """``device`` as a torch device ("auto": a GPU when there is one)."""
        from ..training import resolve_device

        return resolve_device(self.device)

    def _check_fitted(self) -> None:
        if not hasattr(self, "model_"):
            raise EstimatorNotFittedError(
                f"This {type(self).__name__} instance is not fitted yet. Call 'fit' with appropriate arguments "
                f"before using this estimator."
            )

    def _adopt(self, model, fmt: InputFormat, names: np.ndarray | None) -> None:
        """Take ``model`` as the fitted model, reading later ``X`` as ``fmt`` says."""
        self.model_ = model.eval()
        self._input_format = fmt
        self.n_features_in_ = fmt.n_features
        if names is not None:
            self.feature_names_in_ = names
        elif hasattr(self, "feature_names_in_"):
            del self.feature_names_in_

    def _model_input(self, X) -> torch.Tensor | Dataset:
        """``X`` preprocessed exactly as the training data: (n, *data_shape) float32, or a Dataset."""
        return self._input_format.to_model(X, self.model_, type(self).__name__)

    # ------------------------------------------------------------------ run directories
    @classmethod
    def _accept_model(cls, model, run: str | os.PathLike) -> None:
        """Refuse a run whose model this estimator cannot use (CheckpointError / ConfigError)."""

    @classmethod
    def _run_params(cls, model, train_config, run: str | os.PathLike) -> dict[str, Any]:
        """The estimator parameters a run implies (a subclass adds its own)."""
        own = {name: getattr(model.config, field) for name, field in cls._run_model_params.items()}
        if train_config is not None:
            own.update({name: getattr(train_config, name) for name in cls._run_train_params})
        return own

    @classmethod
    def from_run(cls, run: str | os.PathLike, **params):
        """A fitted estimator around the model of a run directory (``vaekit train ... --out RUN``).

        Later calls then take what the run's data looked like: images as arrays, tables as
        DataFrames with the run's columns, vectors as 2-D arrays.

        Parameters
        ----------
        run : path
        **params
            Estimator parameters to set (for example ``batch_size``); the model's own (latent_dim,
            hidden_dims, likelihood, ...) come from the run.

        Raises
        ------
        CheckpointError
            ``run`` is not a run directory, its files are corrupt, or its model does not suit the estimator.
        """
        from ..rundir import load_run

        return cls._from_loaded(load_run(run), run, params)

    @classmethod
    def _from_loaded(cls, loaded, run: str | os.PathLike, params: dict[str, Any]):
        model = loaded.model
        cls._accept_model(model, run)
        est = cls(**{**cls._run_params(model, loaded.train_config, run), **params})
        est._check_params()
        fmt, names = InputFormat.of_model(model, allow_nan=cls._allow_nan)
        est._adopt(model.to(est._torch_device()), fmt, names)
        est.history_ = None
        return est

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = self._allow_nan
        return tags

