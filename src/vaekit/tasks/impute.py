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
from sklearn.base import TransformerMixin

from .._validation import Interval, check_param
from ..config import DataSpec, TrainConfig
from ..data import Dataset
from .. import rundir
from ..errors import CheckpointError, DataError
from ._estimator import VAEEstimator, as_array, image_layout, is_frame
from ._estimator import check_int as _check_int

__all__ = ["VAEImputer", "ImputeResult", "impute_file", "read_incomplete", "imputation_picture", "IMPUTE_FORMATS"]

#: ``epochs="auto"`` trains for about this many optimiser steps ...
AUTO_STEPS = 3_000
#: ... but at least / at most this many epochs.
AUTO_EPOCHS = (20, 1000)
#: Output files ``vaekit impute`` can write.
IMPUTE_FORMATS = (".csv", ".parquet", ".npz", ".npy", ".png")


# ================================================================================================ estimator
class VAEImputer(TransformerMixin, VAEEstimator):
    """Fill missing values (``np.nan``) with a VAE trained on the incomplete data itself (MIWAE).

    ``fit`` trains :class:`vaekit.VAE` with ``missing="ignore"`` and the importance-weighted bound of
    Mattei & Frellsen (2019) over the observed entries (``k`` importance samples); ``transform``
    replaces every NaN by the conditional mean E[x_mis | x_obs], estimated by self-normalised importance
    sampling with ``n_samples`` draws from the encoder. Observed entries are returned unchanged.
    :meth:`multiple_imputations` draws ``n_imputations`` plausible completions instead
    (sampling-importance-resampling).

    What the defaults measured (``bench/impute.py``, bench/RESULTS.md; 50% of the entries missing completely
    at random, RMSE on standardised columns, mean of 3 seeds): ``VAEImputer()`` 0.576 on iris, 0.830 on wine,
    0.814 on diabetes and 0.521 on breast cancer, below mean, KNN, iterative and missForest-like imputation
    on all four. On 1,000 MNIST digits (grey values in [0, 1], 50% missing, 2 seeds) ``VAEImputer(seed=s)``
    gives 0.151 against KNN 0.181, iterative 0.174 and missForest-like 0.177 (2026-12-03; the hand-tuned
    settings of an earlier run gave 0.156).

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
        The trained model (``vaekit.save(model_, path)`` writes a run directory; see :meth:`from_run`).
    n_features_in_, feature_names_in_, history_
        As for every vaekit estimator: see :class:`vaekit.tasks._estimator.VAEEstimator`.

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
        # run control, shared by every vaekit estimator:
        max_time: float | None = None, seed: int = 0, device: str = "cpu", progress: bool = False,
    ):
        self._store_params(locals())

    _parameter_constraints = {
        **{k: v for k, v in VAEEstimator._parameter_constraints.items() if k not in ("beta", "val_fraction")},
        "latent_dim": [Interval("int", 1, None), "auto"],
        "k": [Interval("int", 1, None)],
        "n_samples": [Interval("int", 1, None)],
        "lr": [Interval("float", 0, None, closed="neither")],
        "weight_decay": [Interval("float", 0, None)],
    }
    _auto_epochs = (AUTO_STEPS, *AUTO_EPOCHS)
    _allow_nan = True
    _run_model_params = {"latent_dim": "latent_dim", "hidden_dims": "hidden_dims", "likelihood": "likelihood",
                         "k": "iwae_k"}
    _run_train_params = ()

    # ------------------------------------------------------------------ fit
    def _train_config(self, n: int) -> TrainConfig:
        epochs, _ = self._n_epochs(n)
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

        if isinstance(X, Dataset):
            raise DataError(f"{type(self).__name__} takes arrays or DataFrames with np.nan for missing values, not a "
                            f"vaekit Dataset (Datasets hold complete data).")
        data, fmt, names = self._fit_data(X)
        tabular = fmt.kind in ("frame", "table")
        if self.latent_dim == "auto":
            latent = int(min(16, max(2, math.prod(data.spec.shape) // 2))) if tabular else 32
        else:
            latent = int(self.latent_dim)
        over = self._model_overrides(fmt, net="mlp", latent_dim=latent, missing="ignore", iwae_k=int(self.k))
        over.setdefault("hidden_dims", (128, 128) if tabular else (512, 256))
        over.setdefault("likelihood", "gaussian" if tabular else "bernoulli")
        model = VAE.for_data(data, **over).to(self._torch_device())
        self.history_ = fit(model, data, self._train_config(len(data)), progress=bool(self.progress)).history
        self._adopt(model, fmt, names)
        return self

    @classmethod
    def _accept_model(cls, model, run) -> None:
        if getattr(model.config, "missing", "none") != "ignore":
            raise CheckpointError(f"The model in '{run}' was trained without missing-data support (missing='none'); "
                                  f"train one with VAEImputer().fit(X) or `vaekit impute DATA --save RUN`.")

    # ------------------------------------------------------------------ transform
    @torch.inference_mode()
    def _impute_model_space(self, xt: torch.Tensor, n_imputations: int | None, seed: int | None) -> np.ndarray:
        model = self.model_
        g = torch.Generator(device=model.device).manual_seed(int(self.seed if seed is None else seed))
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
        fmt = self._input_format
        completed = fmt.to_user(z, self.model_.data_spec)
        if fmt.kind == "frame":
            import pandas as pd

            frame = X if is_frame(X) else pd.DataFrame(as_array(X, numeric=False), columns=list(fmt.columns))
            return _fill_frame(frame, completed, self.model_.data_spec)
        a = as_array(X)
        dtype = a.dtype if a.dtype.kind == "f" else np.float64
        a = np.asarray(a, dtype=dtype)
        z = np.asarray(completed).reshape(a.shape).astype(dtype)
        whole = _whole_number_columns(a) if fmt.kind == "table" else np.zeros(0, dtype=bool)
        if whole.any():  # counts and other integer columns get whole numbers
            z = z.copy()
            z[:, whole] = np.round(z[:, whole])
        return np.where(np.isnan(a), z, a)  # observed entries bit for bit as given

    def transform(self, X, *, seed: int | None = None) -> Any:
        """Replace every missing entry of ``X`` by its conditional mean given the observed entries.

        Integer columns (every observed value a whole number: ages, counts) get the nearest whole
        number, and a DataFrame's such column comes back with an integer dtype.

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
        z = self._impute_model_space(self._model_input(X), None, seed)
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
        z = self._impute_model_space(self._model_input(X), int(n_imputations), seed)
        return [self._to_user(zi, X) for zi in z]


def _whole_number_columns(a: np.ndarray) -> np.ndarray:
    """(d,) bool: the columns of (n, d) ``a`` whose observed values are all whole numbers."""
    if a.ndim != 2:
        return np.zeros(0, dtype=bool)
    obs = ~np.isnan(a)
    whole = np.where(obs, a == np.round(np.where(obs, a, 0)), True).all(axis=0)
    return whole & obs.any(axis=0)


def _fill_frame(frame, completed, spec: DataSpec):
    """``frame`` with its missing cells taken from ``completed`` (decoded model output), column by column
    and matched by name; integer columns (whole observed values) rounded and given an integer dtype."""
    import pandas as pd

    out = frame.copy()
    for c in frame.columns:
        col = str(c)
        miss = frame[c].isna().to_numpy()
        if col not in completed.columns or not miss.any():
            continue
        values = completed[col].to_numpy()
        if col in spec.numeric_columns:
            new = pd.to_numeric(frame[c], errors="coerce").to_numpy(dtype=np.float64).copy()
            if _whole_number_columns(new[:, None])[0]:
                new[miss] = np.round(values[miss].astype(np.float64))
                out[c] = new.astype(np.int64)
            else:
                new[miss] = values[miss].astype(np.float64)
                out[c] = new
        else:
            s = frame[c]
            if isinstance(s.dtype, pd.CategoricalDtype):
                out[c] = pd.Categorical(np.where(miss, values, s.astype(object)), categories=s.cat.categories)
            else:
                out[c] = np.where(miss, values, s.to_numpy(dtype=object))
    return out


# ================================================================================================ files
def _read_npz(path: Path, name: str) -> tuple[np.ndarray, np.ndarray | None]:
    """``x`` (with NaN for missing) and optional ``x_true`` from an .npz, or one array from an .npy."""
    from ..data.arrays import check_numpy_file

    check_numpy_file(path, name)
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
    if p.is_dir():
        raise DataError(f"'{path}' is a folder; impute takes one table file (.csv/.tsv/.parquet) or a .npz/.npy array.")
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
    table = is_frame(x)
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
        target = None if save is None else rundir.RunDirectory(save, overwrite=overwrite)  # refuse early
        try:
            imputer = VAEImputer(**params).fit(x)
            if save is not None:
                rundir.save(imputer.model_, save, overwrite=True)
        except BaseException:
            if target is not None:
                target.abort()  # no empty run folder left; a replaced run comes back
            raise
        if target is not None:
            target.commit()
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
        imgs = image_layout(a)
        done = image_layout(np.asarray(completed[0]))
        t = None if truth is None else image_layout(np.asarray(truth, dtype=np.float64) / (255.0 if np.asarray(truth).dtype.kind in "iu" else 1.0))
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
