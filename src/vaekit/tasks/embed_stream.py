"""``vaekit embed``: posterior means (or draws) of a whole data source written to ``.npy``, ``.csv`` or
``.parquet`` in bounded memory.

``.npy``, ``.csv`` and ``.parquet`` inputs are read chunk by chunk, and every output is written to a
temporary file that replaces the target at the end.
"""

from __future__ import annotations

import os
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator, Sequence

import numpy as np
import torch

from .. import io as vio
from ..errors import ConfigError, DataError
from ._estimator import check_int as _check_int
from .encoding import encode

__all__ = ["EmbedResult", "EMBED_FORMATS", "embed_file"]


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
    """(total rows, iterator of (x, labels), class names or None for the model's) over a data source,
    streaming .npy/.csv/.parquet files."""
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
        from ..data.arrays import check_numpy_file

        check_numpy_file(path, str(source))  # a text or empty file: say so, not "pickled data" or EOFError
        try:
            arr = np.load(path, mmap_mode="r", allow_pickle=False)
        except (ValueError, OSError, EOFError) as e:
            raise DataError(f"'{source}' could not be read as a .npy array: {e}") from e
        if want_labels:
            raise DataError(f"'{source}' is a bare array without labels; drop --with-labels.")
        if arr.ndim < 2:
            raise DataError(f"Array '{source}' has shape {arr.shape}; expected one example per row.")

        def npy():
            for s in range(0, arr.shape[0], chunk_rows):
                yield apply_spec(np.asarray(arr[s : s + chunk_rows]), spec, name=f"rows {s}.. of '{source}'"), None

        return int(arr.shape[0]), npy(), None
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

        return total, _table_chunks(model, frames(), str(source), want_labels), None
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
        return int(pf.metadata.num_rows), _table_chunks(model, frames, str(source), want_labels), None

    data = run_data(model, source, split=split)  # builtins, folders, .npz: loaded by vaekit's loaders
    if want_labels and data.y is None:
        raise DataError(f"Data '{data.name}' has no labels; drop --with-labels.")

    def batches():
        for s in range(0, len(data), chunk_rows):
            yield data.get(slice(s, s + chunk_rows)), None if data.y is None else data.y[s : s + chunk_rows].numpy()

    # the data's own class names (a folder may name its classes differently from the training data)
    return len(data), batches(), data.spec.label_names


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
    total, chunks, own_names = _source_chunks(model, os.fspath(source), chunk_rows=batch_size, split=split,
                                              want_labels=with_labels)
    d = model.latent_dim
    columns = [f"z{i}" for i in range(d)]
    g = torch.Generator().manual_seed(seed) if sample else None
    names = own_names if own_names is not None else model.data_spec.label_names if model.data_spec is not None else ()

    def encoded():
        done = 0
        for x, y in chunks:
            try:
                z = encode(model, x, sample=sample, generator=g, batch_size=1024)
            except DataError as e:
                raise _shift_rows(e, done) from e
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
