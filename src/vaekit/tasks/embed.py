"""Latent embeddings: a scikit-learn transformer, streaming ``vaekit embed``, 2-D maps and nearest neighbours.

* :class:`VAETransformer` -- ``fit`` / ``transform`` (posterior means) / ``inverse_transform`` (decoder
  means), usable inside a :class:`sklearn.pipeline.Pipeline`.
* :func:`embed_file` -- posterior means (or draws) of a whole data source written to ``.npy``, ``.csv``
  or ``.parquet`` in bounded memory: ``.npy``, ``.csv`` and ``.parquet`` inputs are read chunk by
  chunk, and every output is written to a temporary file that replaces the target at the end.
* :func:`reduce_2d` -- PCA, t-SNE or UMAP (an optional extra) of latent codes to two dimensions.
* :func:`latent_html` -- a self-contained interactive scatter (inline SVG and a few lines of inline
  JavaScript; hovering a point shows the example's image or table row).
* :func:`nearest_neighbors` / :func:`neighbors_picture` -- examples closest to a query in latent space.
"""

from __future__ import annotations

import base64
import html
import json
import math
import os
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

import numpy as np
import torch
from sklearn.base import TransformerMixin

from .. import io as vio
from .._validation import Boolean, Interval, Options, check_param
from ..config import DataSpec, TrainConfig
from ..data import Dataset
from ..errors import ConfigError, DataError
from ._estimator import VAEEstimator, as_array
from ._estimator import check_int as _check_int

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

#: ``epochs="auto"`` trains for about this many optimiser steps ...
AUTO_STEPS = 10_000
#: ... but at least / at most this many epochs.
AUTO_EPOCHS = (10, 100)
#: ``kl_warmup="auto"`` raises the KL weight linearly over this share of the training steps.
AUTO_WARMUP_SHARE = 0.2


# ================================================================================================ encoding
@torch.inference_mode()
def encode(
    model,
    x: torch.Tensor | Dataset,
    *,
    sample: bool = False,
    generator: torch.Generator | None = None,
    batch_size: int = 1024,
) -> np.ndarray:
    """Posterior means E[z|x] (or draws z ~ q(z|x) with ``sample=True``), batch by batch.

    Parameters
    ----------
    model : VAE or Autoencoder
    x : Tensor of shape (n, *data_shape), or a Dataset (read batch by batch, so memory maps stream)
    sample : bool
        Draw z = mu + sigma * eps instead of returning mu (an autoencoder's code is the same either way).
    generator : torch.Generator or None
        Source of eps when ``sample``.
    batch_size : int

    Returns
    -------
    ndarray of shape (n, latent_dim), float32
    """
    model.eval()
    batches = x.batches(batch_size) if isinstance(x, Dataset) else (x[i : i + batch_size] for i in range(0, len(x), batch_size))
    out = [_encode_batch(model, xb, sample, generator) for xb in batches]
    if not out:
        return np.zeros((0, model.latent_dim), dtype=np.float32)
    return np.concatenate(out).astype(np.float32, copy=False)


def _encode_batch(model, xb: torch.Tensor, sample: bool, generator: torch.Generator | None) -> np.ndarray:
    q = model.encode(xb.to(model.device))
    z = model.reparameterize(q, None, generator) if sample else q.mean  # (batch, latent_dim)
    return z.cpu().numpy()


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
    Parameters
    ----------
    latent_dim : int, default 2
        Dimension of the embedding.
    epochs : int or "auto", default "auto"
        Passes over the data. ``"auto"``: enough for about 10,000 optimiser steps, between 10 and
        100 epochs (22 epochs for 60,000 examples in batches of 128; 100 for a few thousand rows or fewer).
    batch_size : int, default 128
        Examples per optimiser step (and per batch in ``transform``, times 8).
    lr : float, default 1e-3
        Learning rate of AdamW.
    beta : float, default 1.0
        Weight of the KL term (1 gives the ELBO; smaller values trade prior matching for reconstruction).
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
        Training budget in seconds (stops after the epoch in which it runs out).
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
        beta: float = 1.0,
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

    def _train_config(self, data: Dataset, likelihood: str) -> TrainConfig:
        epochs, steps_per_epoch = self._n_epochs(len(data) - int(round(self.val_fraction * len(data))))
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
        model = cls.for_data(data, **overrides).to(self.device)
        config = self._train_config(data, model.config.likelihood)
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



# ================================================================================================ streaming
EMBED_FORMATS = (".npy", ".csv", ".parquet")


@dataclass(frozen=True)
class EmbedResult:
    """What :func:`embed_file` wrote.

    Attributes
    ----------
    path : Path
        The embedding file.
    n : int
        Rows written.
    latent_dim : int
    labels_path : Path or None
        ``NAME_labels.npy`` beside a ``.npy`` output written with ``with_labels``.
    sample : bool
        Whether rows are posterior draws rather than means.
    seconds : float
    """

    path: Path
    n: int
    latent_dim: int
    labels_path: Path | None
    sample: bool
    seconds: float


_ROW = re.compile(r"\brow (\d+)\b")


def _shift_rows(error: DataError, offset: int) -> DataError:
    """The same message with chunk-relative row numbers made file-relative."""
    text = _ROW.sub(lambda m: f"row {int(m.group(1)) + offset}", str(error))
    return DataError(text)


def _table_chunks(model, frames: Iterator, name: str, want_labels: bool):
    """Encode DataFrame chunks with the run's spec: yields (x tensor, labels or None)."""
    from ..data.tables import encode_table, table_to_dataset

    spec = model.data_spec
    start = 0
    for df in frames:
        try:
            if spec.kind == "table":
                x, y = encode_table(df, spec, name)
                x = torch.from_numpy(x)
                if want_labels and y is None:
                    raise DataError(
                        f"'{name}' has no label column '{spec.label_column}'; drop --with-labels or add the column."
                        if spec.label_column else
                        f"The run was trained without a label column, so '{name}' has no labels; drop --with-labels."
                    )
            else:
                data = table_to_dataset(df, source=name, name=name, data_spec=spec)
                x, y = data.x, None
                if want_labels:
                    raise DataError(f"'{name}' has no labels for a model trained on {spec.kind} data; drop --with-labels.")
        except DataError as e:
            raise _shift_rows(e, start) from e
        start += len(df)
        yield x, y


def _source_chunks(model, source: str, *, chunk_rows: int, split: str, want_labels: bool):
    """(total rows, iterator of (x, labels)) over a data source, streaming .npy/.csv/.parquet files."""
    from ..data import apply_spec
    from .runs import resolve_source, run_data

    spec = model.data_spec
    if spec is None:
        raise DataError("The run records no data spec, so new data cannot be preprocessed like its training data.")
    path = Path(resolve_source(source))
    lower = path.name.lower()
    streamable = path.is_file() and lower.endswith((".npy", ".csv", ".tsv", ".parquet", ".pq"))
    if streamable and split == "test":
        raise DataError(f"'{source}' has no separate test split; use --split all.")
    if streamable and lower.endswith(".npy"):
        try:
            arr = np.load(path, mmap_mode="r", allow_pickle=False)
        except (ValueError, OSError) as e:
            raise DataError(f"'{source}' could not be read as a .npy array: {e}") from e
        if want_labels:
            raise DataError(f"'{source}' is a bare array without labels; drop --with-labels.")
        if arr.ndim < 2:
            raise DataError(f"Array '{source}' has shape {arr.shape}; expected one example per row.")

        def npy():
            for s in range(0, arr.shape[0], chunk_rows):
                yield apply_spec(np.asarray(arr[s : s + chunk_rows]), spec, name=f"rows {s}.. of '{source}'"), None

        return int(arr.shape[0]), npy()
    if streamable and lower.endswith((".csv", ".tsv")):
        import pandas as pd

        sep = "\t" if lower.endswith(".tsv") else ","
        try:
            header = pd.read_csv(path, sep=sep, nrows=0)
            total = sum(len(c) for c in pd.read_csv(path, sep=sep, usecols=[0], chunksize=1 << 18))
        except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError, ValueError) as e:
            raise DataError(f"File '{source}' could not be read as CSV: {e}") from e
        if len(header.columns) == 0:
            raise DataError(f"File '{source}' is empty; expected a header row and data rows.")

        def frames():
            try:
                yield from pd.read_csv(path, sep=sep, chunksize=chunk_rows)
            except (pd.errors.ParserError, UnicodeDecodeError) as e:
                raise DataError(f"File '{source}' could not be read as CSV: {e}") from e

        return total, _table_chunks(model, frames(), str(source), want_labels)
    if streamable:
        try:
            import pyarrow.parquet as pq
        except ImportError as e:
            raise ImportError("Reading .parquet files needs pyarrow: pip install 'vaekit[parquet]'") from e
        try:
            pf = pq.ParquetFile(path)
        except (OSError, ValueError) as e:
            raise DataError(f"File '{source}' could not be read as parquet: {e}") from e
        frames = (b.to_pandas() for b in pf.iter_batches(batch_size=chunk_rows))
        return int(pf.metadata.num_rows), _table_chunks(model, frames, str(source), want_labels)

    data = run_data(model, source, split=split)  # builtins, folders, .npz: loaded by vaekit's loaders
    if want_labels and data.y is None:
        raise DataError(f"Data '{data.name}' has no labels; drop --with-labels.")

    def batches():
        for s in range(0, len(data), chunk_rows):
            yield data.get(slice(s, s + chunk_rows)), None if data.y is None else data.y[s : s + chunk_rows].numpy()

    return len(data), batches()


def _label_values(y: np.ndarray, names: Sequence[str]) -> np.ndarray:
    """Class names for integer labels when the names are known, else the integers."""
    if names and len(names) > int(y.max(initial=0)):
        return np.asarray(names, dtype=object)[y]
    return y


def embed_file(
    model,
    source: str | os.PathLike,
    output: str | os.PathLike,
    *,
    split: str = "all",
    with_labels: bool = False,
    sample: bool = False,
    seed: int = 0,
    batch_size: int = 4096,
    progress: Callable[[int, int], None] | None = None,
) -> EmbedResult:
    """Write the posterior means (or draws) of every example of ``source`` to ``output``, in bounded memory.

    ``.npy``, ``.csv``/``.tsv`` and ``.parquet`` sources are read ``batch_size`` rows at a time;
    builtins, folders and ``.npz`` archives go through :func:`vaekit.datasets.load`. Outputs are
    written to a temporary file beside ``output`` and moved into place at the end (``.npy`` through
    :func:`numpy.lib.format.open_memmap`, ``.csv`` chunk by chunk, ``.parquet`` one row group per
    chunk with :class:`pyarrow.parquet.ParquetWriter`), so a failure never leaves a partial file.

    Parameters
    ----------
    model : VAE or Autoencoder
        With a ``data_spec`` (every trained model has one).
    source : str or PathLike
        Builtin name, folder or file.
    output : str or PathLike
        ``.npy`` (float32 array (n, latent_dim)), ``.csv`` or ``.parquet`` (columns ``z0`` ..).
    split : {"all", "train", "test"}
        Split of sources that have one (builtins, IDX folders, ``.npz`` with ``x_test``).
    with_labels : bool
        Add a ``label`` column (class names); for ``.npy``, write ``NAME_labels.npy`` (int64) beside it.
    sample : bool
        Draw z ~ q(z|x) instead of writing E[z|x].
    seed : int
        Seed of those draws.
    batch_size : int
        Rows read and encoded at a time.
    progress : callable or None
        ``progress(n_done, n_total)`` after each chunk.

    Returns
    -------
    EmbedResult

    Raises
    ------
    ConfigError
        An output suffix other than .npy, .csv, .parquet.
    DataError
        Data that does not fit the model (row numbers count from the top of the file), or
        ``with_labels`` for data without labels.
    """
    from ..data._common import check_split

    output = Path(output)
    suffix = output.suffix.lower()
    if suffix not in EMBED_FORMATS:
        raise ConfigError(f"The output file must end in .npy, .csv or .parquet. Got '{output}' instead.")
    check_split(split)
    _check_int("embed_file", "batch_size", batch_size, 1)
    _check_int("embed_file", "seed", seed, 0)
    if suffix == ".parquet":
        try:
            import pyarrow  # noqa: F401
        except ImportError as e:
            raise ImportError("Writing .parquet files needs pyarrow: pip install 'vaekit[parquet]'") from e
    t0 = time.perf_counter()
    total, chunks = _source_chunks(model, os.fspath(source), chunk_rows=batch_size, split=split, want_labels=with_labels)
    d = model.latent_dim
    columns = [f"z{i}" for i in range(d)]
    g = torch.Generator().manual_seed(seed) if sample else None
    names = model.data_spec.label_names if model.data_spec is not None else ()

    def encoded():
        done = 0
        for x, y in chunks:
            z = encode(model, x, sample=sample, generator=g, batch_size=1024)
            done += len(z)
            if done > total:
                raise DataError(f"'{source}' changed while it was read (more than the {total:,} rows counted).")
            yield z, y
            if progress is not None:
                progress(done, total)

    labels_path = None
    if suffix == ".npy":
        labels_path = output.with_name(f"{output.stem}_labels.npy") if with_labels else None
        written = _write_npy(output, labels_path, encoded(), total, d)
    elif suffix == ".csv":
        written = _write_csv(output, encoded(), columns, names)
    else:
        written = _write_parquet(output, encoded(), columns, names)
    if total == 0 and progress is not None:
        progress(0, 0)
    return EmbedResult(output, written, d, labels_path, bool(sample), time.perf_counter() - t0)


def _write_npy(path: Path, labels_path: Path | None, chunks, total: int, d: int) -> int:
    """Fill a memory-mapped .npy of known shape chunk by chunk (and the labels beside it)."""
    from numpy.lib.format import open_memmap

    written = {"n": 0}

    def fill(tmp: str, tmp_labels: str | None) -> None:
        out = open_memmap(tmp, mode="w+", dtype=np.float32, shape=(total, d))
        lab = None if tmp_labels is None else open_memmap(tmp_labels, mode="w+", dtype=np.int64, shape=(total,))
        n = 0
        for z, y in chunks:
            out[n : n + len(z)] = z
            if lab is not None:
                lab[n : n + len(z)] = y
            n += len(z)
        if n != total:
            raise DataError(f"Expected {total:,} rows but read {n:,}; the data changed while it was read.")
        for m in (out, lab):
            if m is not None:
                m.flush()
        del out, lab
        written["n"] = n

    if labels_path is None:
        vio.atomic_save(path, lambda tmp: fill(tmp, None))
    else:
        # Both files go to temporary names; the embedding is moved into place first, then the labels.
        vio.atomic_save(labels_path, lambda tmp_labels: vio.atomic_save(path, lambda tmp: fill(tmp, tmp_labels)))
    return written["n"]


def _frame_chunk(z: np.ndarray, y, columns: list[str], names: Sequence[str]):
    import pandas as pd

    frame = pd.DataFrame(z, columns=columns)
    if y is not None:
        frame["label"] = _label_values(np.asarray(y), names)
    return frame


def _write_csv(path: Path, chunks, columns: list[str], names: Sequence[str]) -> int:
    n = 0
    with vio.atomic_write(path, "w") as f:
        for i, (z, y) in enumerate(chunks):
            _frame_chunk(z, y, columns, names).to_csv(f, header=i == 0, index=False, lineterminator="\n")
            n += len(z)
        if n == 0:
            f.write(",".join(columns) + "\n")
    return n


def _write_parquet(path: Path, chunks, columns: list[str], names: Sequence[str]) -> int:
    import pyarrow as pa
    import pyarrow.parquet as pq

    n = 0
    with vio.atomic_write(path, "wb") as f:
        writer = None
        try:
            for z, y in chunks:
                table = pa.Table.from_pandas(_frame_chunk(z, y, columns, names), preserve_index=False)
                if writer is None:
                    writer = pq.ParquetWriter(f, table.schema)
                writer.write_table(table)  # one row group per chunk
                n += len(z)
            if writer is None:
                empty = pa.table({c: pa.array([], pa.float32()) for c in columns})
                writer = pq.ParquetWriter(f, empty.schema)
        finally:
            if writer is not None:
                writer.close()
    return n


# ================================================================================================ 2-D maps
REDUCTIONS = ("pca", "tsne", "umap")


def reduce_2d(z: np.ndarray, method: str = "pca", *, seed: int = 0, what: str = "posterior means"):
    """Project latent codes to 2-D with PCA, t-SNE or UMAP (UMAP needs ``pip install 'vaekit[umap]'``).

    Parameters
    ----------
    z : ndarray of shape (n, d)
    method : {"pca", "tsne", "umap"}
        Ignored for ``d <= 2`` (the codes are shown as they are).
    seed : int
    what : str
        What the points are, for the note.

    Returns
    -------
    z2 : ndarray of shape (n, 2)
    note : str or None
        How ``z2`` was made (None when ``d == 2``).
    axes : (str, str)
        Axis labels.

    Raises
    ------
    ConfigError
        An unknown method.
    ImportError
        ``method="umap"`` without umap-learn installed.

    Examples
    --------
    >>> z2, note, axes = reduce_2d(np.random.default_rng(0).normal(size=(30, 5)), "pca")
    >>> z2.shape, axes
    ((30, 2), ('PC 1', 'PC 2'))
    """
    from .. import viz

    check_param("reduce_2d", "method", method, Options(REDUCTIONS))
    z = np.asarray(z, dtype=np.float64)
    n, d = z.shape
    if d <= 2:
        z2, note = viz.reduce_2d(z, "pca", seed, what=what)
        return z2, note, ("z[0]", "z[1]" if d == 2 else "")
    if method in ("pca", "tsne"):
        z2, note = viz.reduce_2d(z, method, seed, what=what)
        return z2, note, ("PC 1", "PC 2") if method == "pca" else ("t-SNE 1", "t-SNE 2")
    umap = _import_umap()
    if n < 4:
        raise DataError(f"UMAP needs at least 4 points; got {n}.")
    neighbours = int(min(15, n - 1))
    reducer = umap.UMAP(n_components=2, n_neighbors=neighbours, random_state=seed, n_jobs=1)
    z2 = np.asarray(reducer.fit_transform(z), dtype=np.float64)
    note = f"UMAP of {d}-D {what} ({neighbours} neighbours); distances between clusters are not meaningful"
    return z2, note, ("UMAP 1", "UMAP 2")


def _import_umap():
    try:
        import umap  # umap-learn
    except ImportError as e:
        raise ImportError("The 'umap' method needs umap-learn: pip install 'vaekit[umap]'") from e
    return umap


def latent_scatter_figure(model, data: Dataset, *, method: str = "pca", seed: int = 0, max_points: int = 2000,
                          title: str | None = None):
    """Matplotlib scatter of posterior means of (the first ``max_points`` of) ``data``, reduced with ``method``."""
    from .. import viz
    from . import generate

    z, labels = generate.posterior_means(model, data, limit=max_points)
    what = _what(model)
    z2, note, (xlabel, ylabel) = reduce_2d(z, method, seed=seed, what=what)
    names = list(data.spec.label_names) if labels is not None and data.spec.label_names else None
    fig = viz.plot_latent_scatter(
        z2, labels, label_names=names, method_note=note or "", what=what,
        title=title or f"Latent space: {what} of {len(z):,} examples of {Path(data.name).name or data.name}",
        legend_title=data.spec.label_column or "label",
    )
    fig.axes[0].set_xlabel(xlabel)
    fig.axes[0].set_ylabel(ylabel)
    return fig


def _what(model) -> str:
    from ..model import Autoencoder

    return "autoencoder codes" if isinstance(model, Autoencoder) else "posterior means"


def _hex_colours(k: int) -> list[str]:
    from matplotlib import colormaps
    from matplotlib.colors import to_hex

    if k <= 10:
        cmap = colormaps["tab10"]
        return [to_hex(cmap(i)) for i in range(k)]
    cmap = colormaps["tab20" if k <= 20 else "turbo"]
    return [to_hex(cmap(i if k <= 20 else i / max(k - 1, 1))) for i in range(k)]


def _thumbnails(model, x: torch.Tensor) -> list[str]:
    """``data:image/png;base64,...`` for each image example (upscaled so small images stay visible)."""
    from PIL import Image

    from .. import viz

    imgs = viz.to_uint8_images(np.clip(x.numpy(), 0, 1))  # (n, H, W, C)
    scale = int(max(1, min(4, math.ceil(56 / imgs.shape[1]))))
    out = []
    for a in imgs:
        im = Image.fromarray(a[:, :, 0] if a.shape[2] == 1 else a)
        if scale > 1:
            im = im.resize((im.width * scale, im.height * scale), Image.Resampling.NEAREST)
        out.append("data:image/png;base64," + base64.b64encode(viz.image_to_png_bytes(im)).decode("ascii"))
    return out


def _table_rows(model, x: torch.Tensor, max_columns: int = 24) -> tuple[list[str], list[list]]:
    """Column names and raw values (de-standardised tables; vectors as they are) for the hover table."""
    from ..data import decode_table

    spec = model.data_spec
    if spec is not None and spec.kind == "table":
        frame = decode_table(x.numpy(), spec)
        cols = list(frame.columns)[:max_columns]
        rows = [[_cell(v) for v in r] for r in frame[cols].itertuples(index=False, name=None)]
        return cols, rows
    a = x.reshape(len(x), -1).numpy()[:, :max_columns]
    return [f"x{j}" for j in range(a.shape[1])], [[_cell(v) for v in r] for r in a.tolist()]


def _cell(v):
    if isinstance(v, (float, np.floating)):
        return float(f"{float(v):.4g}")
    if isinstance(v, (np.integer,)):
        return int(v)
    return str(v)


_HTML_STYLE = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:24px;color:#222}
h1{font-size:1.3em;margin:0 0 4px}p.note{color:#555;margin:0 0 12px;font-size:.9em}
#wrap{display:flex;gap:20px;align-items:flex-start}#plot{position:relative}
svg{border:1px solid #ccc;background:#fff}circle{stroke:none;opacity:.78}circle:hover{stroke:#000;stroke-width:1.5;opacity:1}
circle.off{display:none}text{font-size:12px;fill:#444}
#legend{list-style:none;padding:0;margin:0;font-size:.9em}#legend li{cursor:pointer;margin:2px 0;user-select:none}
#legend li.off{opacity:.35}#legend span{display:inline-block;width:11px;height:11px;border-radius:50%;margin-right:6px}
#tip{position:absolute;pointer-events:none;background:#fff;border:1px solid #888;border-radius:4px;padding:6px;
box-shadow:0 2px 6px rgba(0,0,0,.2);font-size:12px;max-width:360px}#tip img{display:block;image-rendering:pixelated}
#tip table{border-collapse:collapse}#tip td,#tip th{padding:1px 6px;text-align:left;border-bottom:1px solid #eee}
"""

# Builds the tooltip from DOM nodes (textContent), so no value from the data is ever parsed as HTML.
_HTML_SCRIPT = """
(function () {
  var data = JSON.parse(document.getElementById("vaekit-data").textContent);
  var svg = document.getElementById("scatter"), tip = document.getElementById("tip");
  function cell(tag, text) { var c = document.createElement(tag); c.textContent = text; return c; }
  function show(i, ev) {
    var p = data.points[i];
    tip.replaceChildren(cell("b", p.title));
    if (data.thumbnails) {
      var img = document.createElement("img"); img.src = data.thumbnails[i]; tip.appendChild(img);
    } else if (data.rows) {
      var t = document.createElement("table");
      data.columns.forEach(function (name, j) {
        var tr = document.createElement("tr"); tr.appendChild(cell("th", name)); tr.appendChild(cell("td", data.rows[i][j]));
        t.appendChild(tr);
      });
      tip.appendChild(t);
    }
    var box = svg.getBoundingClientRect();
    tip.style.left = (ev.clientX - box.left + 14) + "px"; tip.style.top = (ev.clientY - box.top + 14) + "px";
    tip.hidden = false;
  }
  svg.addEventListener("mousemove", function (ev) {
    var t = ev.target;
    if (t.tagName.toLowerCase() === "circle") { show(+t.getAttribute("data-i"), ev); } else { tip.hidden = true; }
  });
  svg.addEventListener("mouseleave", function () { tip.hidden = true; });
  document.querySelectorAll("#legend li").forEach(function (li) {
    li.addEventListener("click", function () {
      li.classList.toggle("off");
      svg.querySelectorAll("circle.c" + li.getAttribute("data-c")).forEach(function (c) { c.classList.toggle("off"); });
    });
  });
})();
"""


def latent_html(
    model,
    data: Dataset,
    *,
    method: str = "pca",
    seed: int = 0,
    max_points: int = 2000,
    title: str | None = None,
) -> str:
    """A self-contained interactive scatter of posterior means as one HTML page.

    Inline SVG (one circle per example, coloured by label; click a legend entry to hide a class)
    and a few lines of inline JavaScript: hovering a point shows the example as an embedded PNG
    (images) or as a table of its raw values (tables, vectors). Nothing is loaded from the network.

    Parameters
    ----------
    model : VAE or Autoencoder
    data : Dataset
        Its first ``max_points`` examples are shown.
    method : {"pca", "tsne", "umap"}
        Reduction to 2-D when latent_dim > 2.
    seed : int
    max_points : int
    title : str or None

    Returns
    -------
    str
    """
    from . import generate

    _check_int("latent_html", "max_points", max_points, 1)
    z, labels = generate.posterior_means(model, data, limit=max_points)
    n = len(z)
    what = _what(model)
    z2, note, (xlabel, ylabel) = reduce_2d(z, method, seed=seed, what=what)
    x = data.get(slice(0, n))
    names = list(data.spec.label_names)
    if labels is not None:
        classes = sorted(set(labels.tolist()))
        class_names = [names[c] if 0 <= c < len(names) else str(c) for c in classes]
        code = {c: i for i, c in enumerate(classes)}
        codes = np.array([code[c] for c in labels.tolist()], dtype=np.int64)
    else:
        class_names, codes = ["all"], np.zeros(n, dtype=np.int64)
    colours = _hex_colours(len(class_names))

    width, height, pad = 720, 600, 44
    lo, hi = z2.min(axis=0), z2.max(axis=0)
    span = np.where(hi - lo > 0, hi - lo, 1.0)
    px = pad + (z2[:, 0] - lo[0]) / span[0] * (width - 2 * pad)
    py = height - pad - (z2[:, 1] - lo[1]) / span[1] * (height - 2 * pad)
    radius = float(np.clip(600 / math.sqrt(max(n, 1)), 2.0, 6.0))
    order = np.random.default_rng(seed).permutation(n)  # no class is always drawn on top
    circles = "\n".join(
        f'<circle class="c{codes[i]}" cx="{px[i]:.1f}" cy="{py[i]:.1f}" r="{radius:.1f}" '
        f'fill="{colours[codes[i]]}" data-i="{i}"></circle>'
        for i in order
    )
    points = []
    for i in range(n):
        t = f"#{i}"
        if labels is not None:
            t += f" ({class_names[codes[i]]})"
        points.append({"title": t})
    payload: dict[str, Any] = {"points": points}
    if model.data_spec is not None and model.data_spec.kind == "image":
        payload["thumbnails"] = _thumbnails(model, x)
    else:
        payload["columns"], payload["rows"] = _table_rows(model, x)
    blob = json.dumps(payload, separators=(",", ":")).replace("</", "<\\/")
    counts = np.bincount(codes, minlength=len(class_names))
    legend = "\n".join(
        f'<li data-c="{k}"><span style="background:{colours[k]}"></span>{html.escape(name)} ({counts[k]:,})</li>'
        for k, name in enumerate(class_names)
    )
    source = Path(data.name).name or data.name
    title = title or f"Latent space: {what} of {n:,} examples of {source}"
    note = note or f"{model.latent_dim}-D {what}, shown as they are"
    axes = (
        f'<text x="{width / 2:.0f}" y="{height - 12}" text-anchor="middle">{html.escape(xlabel)}</text>'
        f'<text x="14" y="{height / 2:.0f}" text-anchor="middle" transform="rotate(-90 14 {height / 2:.0f})">'
        f"{html.escape(ylabel)}</text>"
    )
    legend_title = html.escape(data.spec.label_column or "label") if labels is not None else ""
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>{html.escape(title)}</title>
<style>{_HTML_STYLE}</style>
</head>
<body>
<h1>{html.escape(title)}</h1>
<p class="note">{html.escape(note)}. Hover a point to see the example; click a legend entry to hide or show a class.</p>
<div id="wrap">
<div id="plot">
<svg id="scatter" width="{width}" height="{height}" viewBox="0 0 {width} {height}" role="img" aria-label="{html.escape(title)}">
{axes}
{circles}
</svg>
<div id="tip" hidden></div>
</div>
<div><b>{legend_title}</b><ul id="legend">
{legend}
</ul></div>
</div>
<script id="vaekit-data" type="application/json">{blob}</script>
<script>{_HTML_SCRIPT}</script>
</body>
</html>
"""


def write_latent_html(path: str | os.PathLike, model, data: Dataset, **kwargs) -> Path:
    """Write :func:`latent_html` to ``path`` atomically; return the path."""
    path = Path(path)
    vio.atomic_write_text(path, latent_html(model, data, **kwargs))
    return path


# ================================================================================================ neighbours
@dataclass(frozen=True)
class Neighbors:
    """The examples closest to a query in latent space (Euclidean distance between posterior means).

    Attributes
    ----------
    query : Tensor of shape data_shape
    query_label : str
        ``"#12 (7)"`` for an index (with its class name), or the image file's name.
    query_index : int or None
        Index of the query in the data (excluded from its own neighbours), None for a file.
    indices : ndarray of shape (k,)
        Indices into the data, nearest first.
    distances : ndarray of shape (k,)
    examples : Tensor of shape (k, *data_shape)
    labels : list of str
        ``"#i (class)"`` for each neighbour.
    """

    query: torch.Tensor
    query_label: str
    query_index: int | None
    indices: np.ndarray
    distances: np.ndarray
    examples: torch.Tensor
    labels: list[str]


def _example_label(data: Dataset, i: int) -> str:
    label = f"#{i}"
    if data.y is not None and data.spec.label_names:
        y = int(data.y[i])
        if 0 <= y < len(data.spec.label_names):
            label += f" ({data.spec.label_names[y]})"
    return label


def nearest_neighbors(model, data: Dataset, query: str | int, k: int = 8, *, batch_size: int = 1024) -> Neighbors:
    """The ``k`` examples of ``data`` whose posterior means are closest to the query's.

    Parameters
    ----------
    model : VAE or Autoencoder
    data : Dataset
    query : int or str
        An index into ``data`` (negative counts from the end) or a path to an image file.
    k : int
    batch_size : int

    Returns
    -------
    Neighbors

    Raises
    ------
    DataError
        Index out of range, unreadable file, or fewer than ``k`` other examples.
    """
    from sklearn.neighbors import NearestNeighbors

    from .generate import resolve_example

    _check_int("nearest_neighbors", "k", k, 1)
    x_query, query_label = resolve_example(query, model, data)
    try:
        index = int(str(query).strip()) % len(data)
    except ValueError:
        index = None
    available = len(data) - (index is not None)
    if k > available:
        raise DataError(f"Asked for {k} neighbours, but data '{data.name}' has only {available:,} other examples; "
                        f"use -k {max(available, 1)} or more data.")
    z = encode(model, data, batch_size=batch_size)  # (n, latent_dim)
    zq = encode(model, x_query[None])
    nn = NearestNeighbors(n_neighbors=min(len(data), k + 1)).fit(z)
    dist, idx = nn.kneighbors(zq)
    keep = idx[0] != index if index is not None else np.ones(idx.shape[1], dtype=bool)
    idx, dist = idx[0][keep][:k], dist[0][keep][:k]
    return Neighbors(
        query=x_query, query_label=query_label, query_index=index, indices=idx, distances=dist,
        examples=data.get(torch.as_tensor(idx)), labels=[_example_label(data, int(i)) for i in idx],
    )


def neighbors_picture(model, result: Neighbors):
    """The query then its neighbours, each captioned with its index, class and distance.

    Images give one captioned strip (Pillow); vectors and tables give stacked heat maps.
    """
    from . import visualize

    spec = visualize.spec_of(model)
    captions = [[result.query_label, "query"]] + [
        [label, f"d = {d:.3g}"] for label, d in zip(result.labels, result.distances)
    ]
    if spec.kind != "image":
        rows = [result.query[None]] + [e[None] for e in result.examples]
        return visualize.rows_picture(rows, [" ".join(c) for c in captions], spec,
                                      title=f"{len(result.indices)} nearest neighbours in latent space")
    return _captioned_strip(torch.cat([result.query[None], result.examples]), captions, spec)


def _captioned_strip(x: torch.Tensor, captions: list[list[str]], spec: DataSpec):
    from PIL import Image, ImageDraw, ImageFont

    from .. import viz

    imgs = viz.to_uint8_images(np.clip(x.numpy(), 0, 1))  # (n, H, W, C)
    n, h, w, c = imgs.shape
    scale = int(max(1, min(4, math.ceil(84 / h))))
    mode = "L" if c == 1 else "RGB"
    try:
        font = ImageFont.load_default(size=12)
    except (TypeError, OSError):  # Pillow without FreeType
        font = ImageFont.load_default()
    probe = ImageDraw.Draw(Image.new(mode, (1, 1)))
    text_w = max(probe.textbbox((0, 0), line, font=font)[2] for cap in captions for line in cap)
    line_h = probe.textbbox((0, 0), "Ag", font=font)[3] + 3
    gap = 8
    cell_w = max(w * scale, text_w) + gap
    canvas = Image.new(mode, (n * cell_w + gap + gap, h * scale + 2 * line_h + 3 * gap), "white")
    draw = ImageDraw.Draw(canvas)
    for i in range(n):
        a = imgs[i]
        im = Image.fromarray(a[:, :, 0] if c == 1 else a).convert(mode)
        im = im.resize((w * scale, h * scale), Image.Resampling.NEAREST)
        left = gap + i * cell_w + (i > 0) * gap  # a wider gap after the query
        canvas.paste(im, (left + (cell_w - gap - im.width) // 2, gap))
        for j, line in enumerate(captions[i]):
            tw = probe.textbbox((0, 0), line, font=font)[2]
            draw.text((left + (cell_w - gap - tw) // 2, gap + im.height + 4 + j * line_h), line, fill="black", font=font)
    if n > 1:  # a rule between the query and its neighbours
        xline = gap + cell_w + gap // 2 - 1
        draw.line([(xline, gap), (xline, canvas.height - gap)], fill=128 if mode == "L" else (128, 128, 128), width=1)
    return canvas
