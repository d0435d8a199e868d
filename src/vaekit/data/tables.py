"""Tables (``.csv``, ``.parquet``, pandas DataFrames) -> standardised numeric + one-hot feature vectors.

Feature layout, recorded in the :class:`~vaekit.config.DataSpec` so new data is encoded identically:
first the numeric columns (in ``spec.numeric_columns`` order), each standardised with ``spec.mean`` and
``spec.std``; then one block per categorical column (``spec.categorical_columns`` order) with one 0/1
feature per category in ``spec.categories`` order, named ``"column=category"`` in ``spec.columns``.

Numeric columns are the numeric dtypes (and text columns whose values all parse as numbers);
categorical columns are text, ``category`` and ``bool`` columns. Constant numeric columns keep
``std = 1`` so nothing is divided by zero. The inferred types can be overridden with ``schema``
(``{"zip": "categorical", "age": "integer", "score": "numeric"}``); the result is recorded in the spec
(``config.json``'s ``data`` section of a run, see :func:`table_schema`): numeric columns whose observed
values are all whole numbers are ``integer_columns`` (decoded values are rounded), every numeric column is
bounded by its observed range (decoded values are clipped to it), and ``missing_rates`` keeps the share of
missing cells of each column.

With ``normalization="mode"`` (mode-specific normalisation, Xu et al. 2019) a numeric column with several
modes (a variational Bayesian Gaussian mixture, as TVAE and CTGAN fit) is encoded as its value
standardised within its most likely mode, and a one-hot block of that mode is added at the end of the
feature vector (after the categorical blocks), named ``"column#mode=k"``.

Row numbers in error messages count data rows from 1, the header not included: "row 1" is the first
line under the header of a CSV file (line 2 of the file), and the first row of a DataFrame.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping, Sequence

import numpy as np

from ..config import DataSpec
from ..errors import DataError
from ._common import as_numpy, encode_labels, make_dataset, prepare_array
from ._dataset import Dataset

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["read_table", "table_to_dataset", "encode_table", "decode_table", "row_problems", "TABLE_SUFFIXES",
           "mixed_blocks", "table_schema", "COLUMN_TYPES", "NORMALIZATIONS"]

logger = logging.getLogger(__name__)

TABLE_SUFFIXES = (".csv", ".tsv", ".parquet", ".pq")
_FLOAT32_MAX = float(np.finfo(np.float32).max)
#: column types a ``schema`` may name
COLUMN_TYPES = ("numeric", "integer", "categorical")
#: encodings of numeric columns
NORMALIZATIONS = ("standard", "mode")
_MAX_MODES = 10  # components of the Bayesian mixture per column (TVAE's max_clusters)
_MODE_WEIGHT = 0.005  # components lighter than this are dropped (TVAE's weight threshold)
_MODE_FIT_ROWS = 5000  # the mixture is fitted on at most this many observed values


def read_table(path: Path, name: str) -> "pd.DataFrame":
    """Read a ``.csv`` / ``.tsv`` / ``.parquet`` file into a DataFrame, translating reader errors."""
    import pandas as pd

    suffix = path.suffix.lower()
    if suffix in (".parquet", ".pq"):
        try:
            import pyarrow  # noqa: F401  (pandas' parquet engine)
        except ImportError as e:
            raise ImportError("Reading .parquet files needs pyarrow: pip install 'vaekit[parquet]'") from e
        try:
            return pd.read_parquet(path)
        except (ValueError, OSError) as e:  # pyarrow.ArrowInvalid is a ValueError
            raise DataError(f"File '{name}' could not be read as parquet: {e}") from e
    try:
        return pd.read_csv(path, sep="\t" if ".tsv" in path.name.lower() else ",")
    except pd.errors.EmptyDataError as e:
        raise DataError(f"File '{name}' is empty; expected a header row and data rows.") from e
    except (pd.errors.ParserError, UnicodeDecodeError, OSError, ValueError) as e:
        raise DataError(f"File '{name}' could not be read as CSV: {e}") from e


# ---------------------------------------------------------------------------- column checks
def _check_missing(s: "pd.Series", col: str, source: str, *, feature: bool = True) -> None:
    missing = s.isna().to_numpy()
    if missing.any():
        count = int(missing.sum())
        what = (f"fill them (`vaekit impute {source} -o filled.csv` fills them with a VAE), or train with them "
                f"left missing: `vaekit train ... --missing ignore` (ModelConfig(missing='ignore'))"
                if feature else "fill or drop those rows first")
        raise DataError(
            f"Column '{col}' of {source} has {count} missing value{'s' if count != 1 else ''} "
            f"(first in row {int(np.argmax(missing)) + 1}); {what}."
        )


def _first_non_number(s: "pd.Series") -> tuple[Any, int, float]:
    """First value of text column ``s`` that does not parse as a number, its row, and the parsed share."""
    import pandas as pd

    present = np.flatnonzero(s.notna().to_numpy())
    if len(present) == 0:
        return None, 0, 0.0
    values = s.iloc[present]
    parsed = pd.to_numeric(values.astype(str), errors="coerce").notna().to_numpy()
    if parsed.all():
        return None, 0, 1.0
    j = int(np.argmin(parsed))
    return values.iloc[j], int(present[j]) + 1, float(parsed.mean())


def _column_kind(s: "pd.Series", col: str, source: str) -> str:
    """"numeric" or "categorical"; a mostly-numeric text column with stray words is an error."""
    import pandas as pd

    dtype = s.dtype
    if isinstance(dtype, pd.CategoricalDtype) or pd.api.types.is_bool_dtype(dtype):
        return "categorical"
    if pd.api.types.is_numeric_dtype(dtype):
        return "numeric"
    if pd.api.types.is_datetime64_any_dtype(dtype) or pd.api.types.is_timedelta64_dtype(dtype):
        raise DataError(f"Column '{col}' of {source} holds dates or times ({dtype}); convert it to numbers or text first.")
    value, row, share = _first_non_number(s)
    if share == 1.0:
        return "numeric"  # numbers stored as text
    if share > 0.5:
        raise DataError(f"Column '{col}' of {source} must be numeric; found {value!r} in row {row}.")
    return "categorical"


def _numeric(s: "pd.Series", col: str, source: str, allow_missing: bool = False) -> np.ndarray:
    """Values of a numeric column as float64; stray text and infinite values are errors, and so are missing
    values unless ``allow_missing`` (then they are NaN)."""
    import pandas as pd

    if _column_kind(s, col, source) != "numeric":
        value, row, share = _first_non_number(s)
        if share < 1.0:
            raise DataError(f"Column '{col}' of {source} must be numeric; found {value!r} in row {row}.")
    if not allow_missing:
        _check_missing(s, col, source)
    if not pd.api.types.is_numeric_dtype(s.dtype) or pd.api.types.is_bool_dtype(s.dtype):
        s = pd.to_numeric(s.astype(str).where(s.notna(), "nan"))  # numbers stored as text (or as categories)
    v = np.asarray(s, dtype=np.float64)
    bad = np.isinf(v)
    if bad.any():
        raise DataError(f"Column '{col}' of {source} has an infinite value in row {int(np.argmax(bad)) + 1}.")
    return v


def _text(s: "pd.Series", col: str, source: str, allow_missing: bool = False) -> np.ndarray:
    """Values of a categorical column as text (None where missing, with ``allow_missing``)."""
    if not allow_missing:
        _check_missing(s, col, source)
    text = np.asarray(s.astype(object).astype(str).to_numpy(), dtype=object)
    text[s.isna().to_numpy()] = None
    return text


def _no_observed(col: str, source: str) -> DataError:
    return DataError(f"Column '{col}' of {source} has no observed values; it cannot be learned (or imputed) from "
                     f"nothing. Drop it or give it at least one value.")


def _one_hot(codes: np.ndarray, k: int) -> np.ndarray:
    """(n, k) one-hot rows; a row whose code is -1 (missing) is NaN throughout."""
    out = np.eye(k, dtype=np.float64)[np.maximum(codes, 0)]
    out[codes < 0] = np.nan
    return out


def _frame(df: Any, source: str) -> "pd.DataFrame":
    import pandas as pd

    if not isinstance(df, pd.DataFrame):
        raise DataError(f"{source} must be a pandas DataFrame; got {type(df).__name__}.")
    if len(df) == 0:
        raise DataError(f"{source} has no rows.")
    names = [str(c) for c in df.columns]
    if len(set(names)) != len(names):
        dup = next(c for c in names if names.count(c) > 1)
        raise DataError(f"{source} has two columns named '{dup}'; column names must be unique.")
    if names != list(df.columns):
        df = df.set_axis(names, axis=1)
    return df


def _require(df: "pd.DataFrame", cols: Sequence[str], source: str, trained: Sequence[str] | None = None) -> None:
    for col in cols:
        if col not in df.columns:
            if trained is not None:
                raise DataError(
                    f"Column '{col}' is missing from {source}; the model was trained on columns: {', '.join(trained)}."
                )
            raise DataError(f"Column '{col}' is missing from {source}; its columns are: {', '.join(df.columns)}.")


def _ids(df: "pd.DataFrame") -> list[str] | None:
    import pandas as pd

    if isinstance(df.index, pd.RangeIndex) and df.index.start == 0 and df.index.step == 1:
        return None
    return [str(i) for i in df.index]


# ---------------------------------------------------------------------------- encode / decode
def encode_table(
    df: "pd.DataFrame", spec: DataSpec, source: str = "the table", *, allow_missing: bool = False
) -> tuple[np.ndarray, np.ndarray | None]:
    """Encode ``df`` exactly as the data ``spec`` was fitted on.

    Parameters
    ----------
    df : DataFrame
        Raw columns; extra columns are ignored, the label column is optional.
    spec : DataSpec
        A ``kind="table"`` spec.
    source : str
        How to name ``df`` in error messages.
    allow_missing : bool
        Keep missing cells as NaN (a missing category makes its whole one-hot block NaN) instead of
        refusing them.

    Returns
    -------
    x : ndarray of shape (n, len(spec.columns)), float32
    y : ndarray of shape (n,), int64, or None when ``df`` has no label column

    Examples
    --------
    >>> import pandas as pd
    >>> from vaekit.config import DataSpec
    >>> spec = DataSpec(kind="table", shape=(3,), columns=("age", "color=blue", "color=red"),
    ...                 numeric_columns=("age",), mean=(40.0,), std=(10.0,),
    ...                 categorical_columns=("color",), categories=(("blue", "red"),))
    >>> x, y = encode_table(pd.DataFrame({"age": [50, 30], "color": ["red", "blue"]}), spec)
    >>> x.tolist()
    [[1.0, 0.0, 1.0], [-1.0, 1.0, 0.0]]
    """
    df = _frame(df, source)
    trained = spec.numeric_columns + spec.categorical_columns
    _require(df, trained, source, trained)
    n = len(df)
    blocks = []
    if spec.numeric_columns:
        num = np.empty((n, len(spec.numeric_columns)), dtype=np.float64)
        for j, col in enumerate(spec.numeric_columns):
            num[:, j] = _numeric(df[col], col, source, allow_missing)
        z, mode_blocks = _standardise(num, spec)
        huge = np.abs(z) > _FLOAT32_MAX
        if huge.any():
            i, j = (int(v[0]) for v in np.nonzero(huge))
            col = spec.numeric_columns[j]
            raise DataError(f"Column '{col}' of {source} has {num[i, j]:.4g} in row {i + 1}, too far outside the "
                            f"training data to represent (more than 3.4e38 standard deviations from its mean).")
        blocks.append(z)
    for col, cats in zip(spec.categorical_columns, spec.categories):
        values = _text(df[col], col, source, allow_missing)
        lookup = {c: i for i, c in enumerate(cats)}
        codes = np.fromiter((lookup.get(v, -1) if v is not None else -2 for v in values), dtype=np.int64, count=n)
        if (codes == -1).any():
            i = int(np.argmax(codes == -1))
            raise DataError(
                f"Column '{col}' of {source} has category {values[i]!r} in row {i + 1}, which the model was not "
                f"trained on; known categories: {', '.join(cats)}."
            )
        blocks.append(_one_hot(codes, len(cats)))
    if spec.numeric_columns:
        blocks += mode_blocks
    x = np.concatenate(blocks, axis=1).astype(np.float32)
    y = None
    if spec.label_column is not None and spec.label_column in df.columns:
        s = df[spec.label_column]
        _check_missing(s, spec.label_column, source, feature=False)
        y, _ = encode_labels(s.to_numpy(), f"Column '{spec.label_column}' of {source}", known=spec.label_names)
    return x, y


def _mode_posterior(v: np.ndarray, modes: Sequence[float]) -> np.ndarray:
    """Index of the most likely mode of each value (NaN rows get 0), ``modes`` flat (weight, mean, std)*."""
    m = np.asarray(modes, dtype=np.float64).reshape(-1, 3)
    w, mu, sd = m[:, 0], m[:, 1], m[:, 2]
    with np.errstate(invalid="ignore"):
        logp = np.log(w) - np.log(sd) - 0.5 * ((np.nan_to_num(v)[:, None] - mu) / sd) ** 2  # (n, modes)
    return logp.argmax(axis=1)


def _standardise(num: np.ndarray, spec: DataSpec) -> tuple[np.ndarray, list[np.ndarray]]:
    """Numeric values (n, k) -> standardised values and the one-hot mode blocks of moded columns."""
    z = (num - np.asarray(spec.mean)) / np.asarray(spec.std)
    blocks = []
    for j, modes in enumerate(spec.modes):
        if not modes:
            continue
        m = np.asarray(modes, dtype=np.float64).reshape(-1, 3)
        k = _mode_posterior(num[:, j], modes)
        z[:, j] = (num[:, j] - m[k, 1]) / m[k, 2]
        codes = np.where(np.isnan(num[:, j]), -1, k)
        blocks.append(_one_hot(codes, len(m)))
    return z, blocks


def _fit_modes(v: np.ndarray, seed: int = 0) -> tuple[float, ...]:
    """Modes of one column's observed values, flat (weight, mean, std)*: a variational Bayesian Gaussian
    mixture with a Dirichlet-process prior (TVAE's settings), components under 0.5% dropped; () when the
    column has fewer than two modes."""
    from sklearn.mixture import BayesianGaussianMixture

    obs = v[~np.isnan(v)]
    if len(np.unique(obs[:1000])) < 2 * _MAX_MODES:  # few distinct values: plain standardisation
        return ()
    rng = np.random.default_rng(seed)
    fit_on = obs if len(obs) <= _MODE_FIT_ROWS else rng.choice(obs, _MODE_FIT_ROWS, replace=False)
    import warnings

    gmm = BayesianGaussianMixture(n_components=_MAX_MODES, weight_concentration_prior_type="dirichlet_process",
                                  weight_concentration_prior=0.001, n_init=1, max_iter=100, random_state=seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # ConvergenceWarning: an approximate mixture is all that is needed
        gmm.fit(fit_on.reshape(-1, 1))
    keep = gmm.weights_ > _MODE_WEIGHT
    if keep.sum() < 2:
        return ()
    w = gmm.weights_[keep] / gmm.weights_[keep].sum()
    mu = gmm.means_[keep, 0]
    sd = np.sqrt(gmm.covariances_[keep].reshape(-1))
    sd = np.maximum(sd, 1e-6 * max(1.0, float(np.abs(obs).max())))
    return tuple(float(t) for t in np.stack([w, mu, sd], axis=1).reshape(-1))


def _schema_kinds(df: "pd.DataFrame", features: Sequence[str], source: str, schema: Mapping[str, str] | None,
                  allow_missing: bool) -> dict[str, str]:
    """Column -> "numeric" / "integer" / "categorical": inferred, then ``schema`` overrides."""
    schema = dict(schema or {})
    for col, kind in schema.items():
        if col not in features:
            known = ", ".join(features)
            raise DataError(f"The schema names column '{col}', which is not a feature column of {source}; "
                            f"its feature columns are: {known}.")
        if kind not in COLUMN_TYPES:
            raise DataError(f"The schema gives column '{col}' the type {kind!r}; column types are "
                            f"{', '.join(COLUMN_TYPES)}.")
    kinds = {}
    for col in features:
        if allow_missing and df[col].isna().all():
            raise _no_observed(col, source)
        given = schema.get(col)
        if given == "categorical":
            kinds[col] = "categorical"
            continue
        if given is None and _column_kind(df[col], col, source) == "categorical":
            kinds[col] = "categorical"
            continue
        v = _numeric(df[col], col, source, allow_missing)
        if given is not None:
            kinds[col] = given
        else:
            obs = v[~np.isnan(v)]
            kinds[col] = "integer" if obs.size and np.all(obs == np.round(obs)) else "numeric"
    return kinds


def _fit_table(
    df: "pd.DataFrame", source: str, name: str, features: Sequence[str], label_column: str | None,
    allow_missing: bool = False, schema: Mapping[str, str] | None = None, normalization: str = "standard",
) -> tuple[np.ndarray, np.ndarray | None, DataSpec]:
    kinds = _schema_kinds(df, features, source, schema, allow_missing)
    numeric = [c for c in features if kinds[c] != "categorical"]
    categorical = [c for c in features if kinds[c] == "categorical"]
    n = len(df)
    blocks, names = [], list(numeric)
    mean = std = np.zeros(0)
    bounds: list[tuple[float, ...]] = []
    modes: list[tuple[float, ...]] = []
    missing_rates = []
    if numeric:
        num = np.stack([_numeric(df[c], c, source, allow_missing) for c in numeric], axis=1)  # (n, n_numeric)
        # statistics of the observed values (filling gaps first would shrink the spread)
        mean, std = np.nanmean(num, axis=0), np.nanstd(num, axis=0)
        std[np.nanmax(num, axis=0) == np.nanmin(num, axis=0)] = 1.0  # constant columns: centre, never divide by 0
        bounds = [(float(lo), float(hi)) for lo, hi in zip(np.nanmin(num, axis=0), np.nanmax(num, axis=0))]
        missing_rates += [float(r) for r in np.isnan(num).mean(axis=0)]
        if normalization == "mode":
            modes = [_fit_modes(num[:, j], seed=j) for j in range(len(numeric))]
    categories = []
    cat_blocks = []
    for col in categorical:
        values = _text(df[col], col, source, allow_missing)
        present = np.asarray([v is not None for v in values])
        missing_rates.append(float(1.0 - present.mean()))
        cats, observed_codes = np.unique(values[present].astype(str), return_inverse=True)
        codes = np.full(n, -1, dtype=np.int64)
        codes[present] = observed_codes.reshape(-1)
        cats = tuple(str(c) for c in cats)
        if len(cats) > 50 and len(cats) > n // 2:
            logger.warning(
                "Column %r of %s has %d distinct values in %d rows; one-hot encoding adds that many features. "
                "Is it an id? Leave it out with columns=.", col, source, len(cats), n,
            )
        categories.append(cats)
        cat_blocks.append((col, cats, codes))
    spec = DataSpec(
        kind="table", shape=(1,), name=name, columns=(),
        numeric_columns=tuple(numeric), mean=tuple(float(m) for m in mean), std=tuple(float(s) for s in std),
        categorical_columns=tuple(categorical), categories=tuple(categories),
        label_column=label_column, integer_columns=tuple(c for c in numeric if kinds[c] == "integer"),
        bounds=tuple(bounds), modes=tuple(modes) if any(modes) else (), missing_rates=tuple(missing_rates),
        table_columns=tuple(features),
    )
    mode_blocks: list[np.ndarray] = []
    if numeric:
        z, mode_blocks = _standardise(num, spec)
        blocks.append(z)
    for col, cats, codes in cat_blocks:
        names += [f"{col}={c}" for c in cats]
        blocks.append(_one_hot(codes, len(cats)))
    for col, m in zip(numeric, spec.modes):
        names += [f"{col}#mode={k}" for k in range(len(m) // 3)]
    blocks += mode_blocks
    x = np.concatenate(blocks, axis=1).astype(np.float32)
    y, label_names = None, ()
    if label_column is not None:
        s = df[label_column]
        _check_missing(s, label_column, source, feature=False)
        y, label_names = encode_labels(s.to_numpy(), f"Column '{label_column}' of {source}")
    spec = spec.replace(shape=(x.shape[1],), columns=tuple(names), label_names=label_names)
    return x, y, spec


def mixed_blocks(spec: DataSpec) -> tuple[tuple[int, int], ...]:
    """``(start, width)`` of every one-hot block of a table spec's features (categorical columns, then the mode
    indicators of mode-normalised numeric columns): the ``categorical`` option of the ``"mixed"`` likelihood.

    Examples
    --------
    >>> spec = DataSpec(kind="table", shape=(3,), columns=("age", "color=blue", "color=red"),
    ...                 numeric_columns=("age",), mean=(40.0,), std=(10.0,),
    ...                 categorical_columns=("color",), categories=(("blue", "red"),))
    >>> mixed_blocks(spec)
    ((1, 2),)
    """
    out = []
    start = len(spec.numeric_columns)
    for cats in spec.categories:
        out.append((start, len(cats)))
        start += len(cats)
    for m in spec.modes:
        if m:
            out.append((start, len(m) // 3))
            start += len(m) // 3
    return tuple(out)


def table_schema(spec: DataSpec) -> dict[str, dict[str, Any]]:
    """The schema of a table spec, column by column (JSON-ready): type, levels or bounds, missing rate, modes.

    Examples
    --------
    >>> spec = DataSpec(kind="table", shape=(3,), columns=("age", "color=blue", "color=red"),
    ...                 numeric_columns=("age",), mean=(40.0,), std=(10.0,),
    ...                 categorical_columns=("color",), categories=(("blue", "red"),))
    >>> table_schema(spec)["color"]
    {'type': 'categorical', 'levels': ['blue', 'red'], 'missing_rate': 0.0}
    """
    rates = list(spec.missing_rates) or [0.0] * (len(spec.numeric_columns) + len(spec.categorical_columns))
    out: dict[str, dict[str, Any]] = {}
    for j, col in enumerate(spec.numeric_columns):
        entry: dict[str, Any] = {"type": "integer" if col in spec.integer_columns else "numeric",
                                 "mean": spec.mean[j], "std": spec.std[j]}
        if spec.bounds and spec.bounds[j]:
            entry["min"], entry["max"] = spec.bounds[j]
        entry["missing_rate"] = rates[j]
        if spec.modes and spec.modes[j]:
            entry["modes"] = len(spec.modes[j]) // 3
        out[col] = entry
    k = len(spec.numeric_columns)
    for i, (col, cats) in enumerate(zip(spec.categorical_columns, spec.categories)):
        out[col] = {"type": "categorical", "levels": list(cats), "missing_rate": rates[k + i]}
    return out


def table_to_dataset(
    df: Any,
    *,
    source: str,
    name: str,
    label_column: str | None = None,
    columns: Sequence[str] | None = None,
    data_spec: DataSpec | None = None,
    allow_missing: bool = False,
    schema: Mapping[str, str] | None = None,
    normalization: str = "standard",
) -> Dataset:
    """Build a ``kind="table"`` Dataset from a DataFrame, fitting a spec or applying ``data_spec``.

    Parameters
    ----------
    df : DataFrame
    source : str
        How to name the table in error messages (``"data.csv"``).
    name : str
        Name recorded in the spec.
    label_column : str or None
        Column holding labels (mapped to ints; names kept in ``spec.label_names``).
    columns : sequence of str or None
        Feature columns to use; default every column except the label column.
    data_spec : DataSpec or None
        Encode as this spec says (its columns, statistics and categories) instead of fitting.
    allow_missing : bool
        Keep missing feature cells as NaN (statistics from the observed values) instead of refusing them;
        a feature column with no observed value is still an error.
    schema : mapping or None
        Column types overriding the inferred ones: ``{"zip": "categorical", "age": "integer"}`` (types in
        :data:`COLUMN_TYPES`).
    normalization : {"standard", "mode"}
        How numeric columns are encoded when the spec is fitted: standardised, or with mode-specific
        normalisation (see the module docstring).
    """
    df = _frame(df, source)
    if normalization not in NORMALIZATIONS:
        raise DataError(f"The 'normalization' parameter must be one of {', '.join(NORMALIZATIONS)}. "
                        f"Got {normalization!r} instead.")
    if isinstance(columns, str):
        columns = [columns]
    if data_spec is not None:
        if data_spec.kind == "table":
            if label_column is not None and label_column != data_spec.label_column:
                data_spec = data_spec.replace(label_column=label_column)
            x, y = encode_table(df, data_spec, source, allow_missing=allow_missing)
            return make_dataset(x, y, fields={}, name=name, data_spec=data_spec, ids=_ids(df))
        if data_spec.kind == "array":
            feats = [c for c in (columns or df.columns) if c != label_column]
            _require(df, feats, source)
            arr = np.stack([_numeric(df[c], c, source) for c in feats], axis=1)  # (n, n_features)
            x, fields = prepare_array(arr, source, data_spec=data_spec)
            return make_dataset(x, None, fields=fields, name=name, data_spec=data_spec, ids=_ids(df))
        raise DataError(f"{source} is a table, but the model was trained on images of shape {tuple(data_spec.shape)}.")
    if label_column is not None:
        _require(df, [label_column], source)
    if columns is not None:
        _require(df, columns, source)
        if label_column in columns:
            raise DataError(f"Column '{label_column}' cannot be both a feature (in columns) and the label column.")
        features = list(columns)
    else:
        features = [c for c in df.columns if c != label_column]
    if not features:
        raise DataError(f"{source} has no feature columns besides the label column '{label_column}'.")
    x, y, spec = _fit_table(df, source, name, features, label_column, allow_missing, schema, normalization)
    description = f"{name}: {len(x):,} rows, {len(spec.numeric_columns)} numeric + {len(spec.categorical_columns)} categorical columns -> {x.shape[1]} features"
    return make_dataset(x, y, fields={}, name=name, data_spec=spec, ids=_ids(df), description=description)


def decode_table(x: Any, spec: DataSpec) -> "pd.DataFrame":
    """Turn model-space feature vectors back into a DataFrame of raw columns (inverse of the encoding).

    Numeric columns are un-standardised (within the decoded mode, for mode-normalised columns), clipped to
    their bounds and, for integer columns, rounded; each categorical column takes its highest-scoring category.

    Parameters
    ----------
    x : ndarray or Tensor of shape (n, len(spec.columns))
    spec : DataSpec
        The ``kind="table"`` spec the features were encoded with.

    Returns
    -------
    DataFrame with ``spec.numeric_columns`` then ``spec.categorical_columns``

    Examples
    --------
    >>> from vaekit.config import DataSpec
    >>> spec = DataSpec(kind="table", shape=(3,), columns=("age", "color=blue", "color=red"),
    ...                 numeric_columns=("age",), mean=(40.0,), std=(10.0,),
    ...                 categorical_columns=("color",), categories=(("blue", "red"),))
    >>> decode_table([[1.0, 0.2, 0.7]], spec).to_dict("records")
    [{'age': 50.0, 'color': 'red'}]
    """
    import pandas as pd

    x = np.asarray(as_numpy(x), dtype=np.float64)
    if x.ndim != 2 or x.shape[1] != len(spec.columns):
        raise DataError(f"Features of shape {x.shape} do not match the spec's {len(spec.columns)} columns.")
    k = len(spec.numeric_columns)
    values = x[:, :k] * np.asarray(spec.std) + np.asarray(spec.mean)  # (n, k)
    start = k
    cat_values = {}
    for col, cats in zip(spec.categorical_columns, spec.categories):
        block = x[:, start : start + len(cats)]
        cat_values[col] = np.asarray(cats, dtype=object)[block.argmax(axis=1)]
        start += len(cats)
    for j, modes in enumerate(spec.modes):
        if modes:
            m = np.asarray(modes, dtype=np.float64).reshape(-1, 3)
            mode = x[:, start : start + len(m)].argmax(axis=1)
            values[:, j] = x[:, j] * m[mode, 2] + m[mode, 1]
            start += len(m)
    out: dict[str, Any] = {}
    for j, col in enumerate(spec.numeric_columns):
        v = values[:, j]
        if spec.bounds and spec.bounds[j]:
            v = np.clip(v, *spec.bounds[j])
        out[col] = np.round(v) if col in spec.integer_columns else v
    out.update(cat_values)
    return pd.DataFrame(out)


def row_problems(df: "pd.DataFrame", spec: DataSpec, source: str = "the table") -> dict[int, str]:
    """Rows of ``df`` that cannot be encoded with ``spec``, each with the reason (row index from 0 -> text).

    A missing cell, text in a numeric column, an infinite number (or one too large to represent once
    standardised), or a category the model was not trained on.

    Raises
    ------
    DataError
        A column of the spec is missing from ``df`` altogether (not a problem of single rows).

    Examples
    --------
    >>> import pandas as pd
    >>> from vaekit.data import from_array
    >>> spec = from_array(pd.DataFrame({"age": [30, 50], "color": ["red", "blue"]})).spec
    >>> row_problems(pd.DataFrame({"age": [50, None], "color": ["green", "red"]}), spec)
    {0: "unseen category 'green' in column 'color'", 1: "missing value in column 'age'"}
    """
    import pandas as pd

    found: dict[int, str] = {}

    def note(rows: np.ndarray, text) -> None:
        for i in np.flatnonzero(rows).tolist():
            found.setdefault(i, text(i))

    df = _frame(df, source) if len(df) else df
    trained = spec.numeric_columns + spec.categorical_columns
    _require(df, trained, source, trained)
    for col in spec.numeric_columns:
        s = df[col]
        note(s.isna().to_numpy(), lambda i, col=col: f"missing value in column '{col}'")
        v = pd.to_numeric(s, errors="coerce").to_numpy(dtype=np.float64)
        note(np.isnan(v) & s.notna().to_numpy(), lambda i, s=s, col=col: f"non-numeric value {s.iloc[i]!r} in column '{col}'")
        note(np.isinf(v), lambda i, col=col: f"infinite value in column '{col}'")
        j = spec.numeric_columns.index(col)
        with np.errstate(over="ignore", invalid="ignore"):
            huge = np.abs((v - spec.mean[j]) / spec.std[j]) > _FLOAT32_MAX
        note(huge & np.isfinite(v), lambda i, v=v, col=col: f"value {v[i]:.4g} in column '{col}' is too far outside "
             f"the training data to score")
    for col, cats in zip(spec.categorical_columns, spec.categories):
        s = df[col]
        note(s.isna().to_numpy(), lambda i, col=col: f"missing value in column '{col}'")
        text = s.astype(object).astype(str).to_numpy()
        known = set(cats)
        unseen = np.asarray([t not in known for t in text]) & s.notna().to_numpy()
        note(unseen, lambda i, text=text, col=col: f"unseen category {text[i]!r} in column '{col}'")
    return dict(sorted(found.items()))
