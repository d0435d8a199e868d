"""Parquet tables larger than memory: statistics in one streaming pass, rows read one row group at a time.

``vaekit.datasets.load("big.parquet", lazy=True)`` (automatic above 1 GiB of encoded values) gives a
Dataset whose ``x`` is a :class:`ParquetRows`: the table spec (numeric means and standard deviations,
categories) is fitted by reading the feature columns row group by row group, and examples are encoded
exactly as :func:`vaekit.data.tables.encode_table` encodes an in-memory table, a row group at a time
(the last few stay decoded). Training shuffles row groups, then rows within windows of row groups
(:meth:`ParquetRows.chunk_ids`), so a batch reads from row groups already decoded.
"""

from __future__ import annotations

import collections
from pathlib import Path
from typing import Sequence

import numpy as np

from ..config import DataSpec
from ..errors import DataError
from ._common import encode_labels, make_dataset
from ._dataset import Dataset
from .sources import positions
from .tables import encode_table

__all__ = ["ParquetRows", "parquet_spec", "load_parquet_lazily", "LAZY_TABLE_BYTES"]

#: encoded size above which a parquet table is read lazily
LAZY_TABLE_BYTES = 1 << 30


def _parquet_file(path: Path, name: str):
    try:
        import pyarrow.parquet as pq
    except ImportError as e:
        raise ImportError("Reading .parquet files needs pyarrow: pip install 'vaekit[parquet]'") from e
    try:
        return pq.ParquetFile(path)
    except (OSError, ValueError) as e:
        raise DataError(f"File '{name}' could not be read as parquet: {e}") from e


def _is_numeric(field) -> bool:
    import pyarrow as pa

    t = field.type
    return (pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_decimal(t)) and not pa.types.is_boolean(t)


def parquet_spec(path: Path, *, name: str, columns: Sequence[str] | None = None, label_column: str | None = None,
                 allow_missing: bool = False) -> tuple[DataSpec, int]:
    """Fit a table spec by streaming over the row groups; return it with the number of rows.

    Numeric columns (integer, float, decimal types) get the mean and standard deviation of their
    observed values (float64 sums); every other column is categorical, with its sorted distinct values.
    """
    f = _parquet_file(path, name)
    schema = f.schema_arrow
    names = list(schema.names)
    features = list(columns) if columns is not None else [c for c in names if c != label_column]
    missing = [c for c in features + ([label_column] if label_column else []) if c not in names]
    if missing:
        raise DataError(f"File '{name}' has no column(s) {', '.join(map(repr, missing))}; it has {', '.join(names)}.")
    numeric = [c for c in features if _is_numeric(schema.field(c))]
    categorical = [c for c in features if c not in numeric]
    count = np.zeros(len(numeric))
    mean = np.zeros(len(numeric))
    m2 = np.zeros(len(numeric))  # sum of squared deviations from the mean (Chan et al. merge, no cancellation)
    lo, hi = np.full(len(numeric), np.inf), np.full(len(numeric), -np.inf)
    seen: list[set] = [set() for _ in categorical]
    for g in range(f.num_row_groups):
        df = f.read_row_group(g, columns=features).to_pandas()
        for j, c in enumerate(numeric):
            v = df[c].to_numpy(dtype=np.float64, na_value=np.nan)
            if not allow_missing and np.isnan(v).any():
                row = int(np.argmax(np.isnan(v)))
                raise DataError(f"Column '{c}' of {name} has missing values (row group {g}, row {row + 1}); fill "
                                f"them (`vaekit impute`) or train with them left missing (--missing ignore).")
            ok = ~np.isnan(v)
            k = int(ok.sum())
            if k:
                g_mean = v[ok].mean()
                g_m2 = np.square(v[ok] - g_mean).sum()
                n_all = count[j] + k
                delta = g_mean - mean[j]
                mean[j] += delta * k / n_all
                m2[j] += g_m2 + delta**2 * count[j] * k / n_all
                count[j] = n_all
            if ok.any():
                lo[j], hi[j] = min(lo[j], v[ok].min()), max(hi[j], v[ok].max())
        for j, c in enumerate(categorical):
            seen[j].update(str(v) for v in df[c].dropna().unique())
    if (count == 0).any():
        c = numeric[int(np.argmax(count == 0))]
        raise DataError(f"Column '{c}' of {name} has no observed value.")
    std = np.sqrt(m2 / np.maximum(count, 1))
    std[hi == lo] = 1.0  # constant columns: centre, never divide by 0
    std[std == 0] = 1.0
    categories = tuple(tuple(sorted(s)) for s in seen)
    label_names: tuple[str, ...] = ()
    if label_column is not None:
        labels = f.read(columns=[label_column]).column(0).to_pandas()
        _, label_names = encode_labels(labels.to_numpy(), f"Column '{label_column}' of {name}")
    names_out = list(numeric) + [f"{c}={v}" for c, cats in zip(categorical, categories) for v in cats]
    spec = DataSpec(kind="table", shape=(len(names_out),), name=name, columns=tuple(names_out),
                    numeric_columns=tuple(numeric), mean=tuple(float(m) for m in mean),
                    std=tuple(float(s) for s in std), categorical_columns=tuple(categorical), categories=categories,
                    label_column=label_column, label_names=label_names)
    return spec, f.metadata.num_rows


class ParquetRows:
    """Rows of a parquet file encoded with a table ``spec``, read one row group at a time.

    Parameters
    ----------
    path : path
    spec : DataSpec
        A ``kind="table"`` spec (fitted by :func:`parquet_spec`, or a run's).
    cache : int
        Decoded row groups kept (training shuffles within windows of half this many).
    """

    decodes = False  # read in the training process: row groups are cached there

    def __init__(self, path: str | Path, spec: DataSpec, *, name: str = "", allow_missing: bool = False,
                 cache: int = 8):
        self.path, self.spec, self.name = Path(path), spec, name or str(path)
        self.allow_missing = allow_missing
        f = _parquet_file(self.path, self.name)
        sizes = [f.metadata.row_group(g).num_rows for g in range(f.num_row_groups)]
        self.starts = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)  # (groups + 1,)
        self.shape = (int(self.starts[-1]), int(spec.shape[0]))
        self.dtype = np.dtype(np.float32)
        self.cache_size = max(1, int(cache))
        self._cache: collections.OrderedDict[int, np.ndarray] = collections.OrderedDict()
        self._file = None

    def __len__(self) -> int:
        return self.shape[0]

    def __getstate__(self):  # the open file and the cache stay behind when copied to a worker
        return {**self.__dict__, "_file": None, "_cache": collections.OrderedDict()}

    def chunk_ids(self) -> np.ndarray:
        """The row group of every row, shape (n,)."""
        return np.repeat(np.arange(len(self.starts) - 1), np.diff(self.starts))

    def _group(self, g: int) -> np.ndarray:
        if g in self._cache:
            self._cache.move_to_end(g)
            return self._cache[g]
        if self._file is None:
            self._file = _parquet_file(self.path, self.name)
        cols = list(self.spec.numeric_columns + self.spec.categorical_columns)
        df = self._file.read_row_group(g, columns=cols).to_pandas()
        x, _ = encode_table(df, self.spec, f"row group {g} of {self.name}", allow_missing=self.allow_missing)
        self._cache[g] = x
        if len(self._cache) > self.cache_size:
            self._cache.popitem(last=False)
        return x

    def __getitem__(self, index) -> np.ndarray:
        pos = positions(index, len(self))
        groups = np.searchsorted(self.starts, pos, side="right") - 1
        out = np.empty((len(pos), self.shape[1]), dtype=np.float32)
        for g in np.unique(groups):
            sel = groups == g
            out[sel] = self._group(int(g))[pos[sel] - self.starts[g]]
        return out

    def __repr__(self) -> str:
        return f"ParquetRows('{self.name}', {len(self):,} rows in {len(self.starts) - 1} row groups)"


def load_parquet_lazily(path: Path, *, name: str, label_column: str | None = None,
                        columns: Sequence[str] | None = None, data_spec: DataSpec | None = None,
                        allow_missing: bool = False) -> Dataset:
    """A Dataset over a parquet file read row group by row group (see the module docstring)."""
    if data_spec is not None and data_spec.kind != "table":
        raise DataError(f"{name} is a table, but the model was trained on {data_spec.kind} data of shape "
                        f"{tuple(data_spec.shape)}.")
    if data_spec is None:
        spec, n = parquet_spec(path, name=name, columns=columns, label_column=label_column, allow_missing=allow_missing)
    else:
        spec = data_spec.replace(label_column=label_column) if label_column else data_spec
    x = ParquetRows(path, spec, name=name, allow_missing=allow_missing)
    y = None
    if spec.label_column is not None:
        f = _parquet_file(path, name)
        if spec.label_column in f.schema_arrow.names:
            labels = f.read(columns=[spec.label_column]).column(0).to_pandas().to_numpy()
            y, _ = encode_labels(labels, f"Column '{spec.label_column}' of {name}", known=spec.label_names)
    description = (f"{name}: {len(x):,} rows read lazily in {len(x.starts) - 1} row groups, "
                   f"{len(spec.numeric_columns)} numeric + {len(spec.categorical_columns)} categorical columns "
                   f"-> {spec.shape[0]} features")
    return make_dataset(x, y, fields={}, name=name, data_spec=spec, description=description)
