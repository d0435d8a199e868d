"""Embedding and anomaly scoring at scale: a partitioned parquet dataset, in parallel with Dask.

``vaekit embed RUN data/ -o z/ --dask`` and ``vaekit anomaly score RUN data/ -o scores/ --dask`` read a
parquet dataset (a file or a folder of part files) with ``dask.dataframe``, score each partition in
a worker process (each loads the run once, from its safetensors files) and write one parquet part per
input partition into the output folder, which appears whole (written beside it, then renamed). The
numbers are the ones a single process gives: posterior means and detector scores do not depend on
how the rows are grouped, and rows keep their global row numbers as ids.

Needs the ``dask`` extra: ``pip install 'vaekit[dask]'``.
"""

from __future__ import annotations

import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ConfigError, DataError

__all__ = ["embed_parquet", "score_parquet", "DaskResult"]

_CACHE: dict[tuple, Any] = {}  # per worker process: the loaded run


@dataclass
class DaskResult:
    """What a Dask job wrote: the output folder, rows, partitions and wall-clock seconds."""

    path: Path
    n: int
    partitions: int
    seconds: float
    n_outliers: int | None = None


def _dask():
    try:
        import dask
        import dask.dataframe as dd
    except ImportError as e:
        raise ImportError("Scoring with Dask needs the dask extra: pip install 'vaekit[dask]'") from e
    return dask, dd


def _loaded(kind: str, run: str):
    key = (kind, run, os.getpid())
    if key not in _CACHE:
        if kind == "model":
            from ..rundir import load

            _CACHE[key] = load(run)
        else:
            from .anomaly import VAEOutlierDetector

            _CACHE[key] = VAEOutlierDetector.from_run(run)
    return _CACHE[key]


def _embed_partition(df, run: str, latent_dim: int, batch_size: int, offsets, partition_info=None):
    import pandas as pd
    import torch

    from ..data import apply_spec

    model = _loaded("model", run)
    first = offsets[partition_info["number"]] if partition_info else 0
    columns = [f"z{j}" for j in range(latent_dim)]
    if len(df) == 0:
        return pd.DataFrame({c: pd.Series(dtype="float32") for c in columns}, index=pd.RangeIndex(first, first))
    x = apply_spec(df.reset_index(drop=True), model.data_spec, name=_where(partition_info, first, len(df)))
    with torch.inference_mode():
        z = torch.cat([model.embed(x[i : i + batch_size].to(model.device)).cpu() for i in range(0, len(x), batch_size)])
    z = z.numpy().astype(np.float32)
    if not np.isfinite(z).all():
        row = int(np.argmax(~np.isfinite(z).all(axis=1)))
        raise DataError(f"The latent code of row {first + row} is not a finite number; check the input values.")
    return pd.DataFrame(z, columns=columns, index=pd.RangeIndex(first, first + len(df)))


def _score_partition(df, run: str, offsets, partition_info=None):
    import pandas as pd

    from .anomaly import score_frame

    det = _loaded("detector", run)
    first = offsets[partition_info["number"]] if partition_info else 0
    table = score_frame(det, df.reset_index(drop=True), _where(partition_info, first, len(df)), first_row=first)
    table.index = pd.RangeIndex(first, first + len(df))
    return table


def _where(partition_info, first: int, n: int) -> str:
    number = partition_info["number"] if partition_info else 0
    return f"partition {number} (rows {first}..{first + n - 1} of the dataset)"


def _prepare(source, output, overwrite: bool, workers: int | None):
    dask, dd = _dask()
    output = Path(output)
    if output.exists() and not overwrite:
        raise ConfigError(f"'{output}' already exists; pass --overwrite to replace it.")
    if output.suffix.lower() in (".csv", ".npy"):
        raise ConfigError(f"With --dask the output is a folder of parquet parts; got '{output}'. Name a folder "
                          f"(e.g. {output.with_suffix('')}/).")
    src = Path(os.fspath(source))
    if not src.exists():
        raise DataError(f"No such file or folder: '{src}'. Expected a parquet file or a folder of parquet parts.")
    if output.exists() and not output.is_dir():
        raise ConfigError(f"'{output}' is a file; with --dask the output is a folder of parquet parts.")
    here, there = output.resolve(), src.resolve()
    if here == there or here in there.parents:
        raise ConfigError(f"The output '{output}' is (or holds) the input '{source}'; writing it would replace the "
                          f"data being read. Choose another folder.")
    try:
        ddf = dd.read_parquet(str(src))
    except (OSError, ValueError) as e:
        raise DataError(f"'{src}' could not be read as a parquet dataset: {e}") from e
    lengths = ddf.map_partitions(len).compute(scheduler="threads")
    offsets = np.concatenate([[0], np.cumsum(np.asarray(lengths))]).astype(int).tolist()
    return dask, ddf, output, offsets


def _write(ddf_out, output: Path, dask, workers: int | None) -> None:
    tmp = output.with_name(f".{output.name}.partial-{os.getpid()}")
    if tmp.exists():
        shutil.rmtree(tmp)
    try:
        with dask.config.set(scheduler="processes", num_workers=workers or max(1, (os.cpu_count() or 2))):
            ddf_out.to_parquet(str(tmp), write_index=True, schema=None)  # each part as pyarrow reads its data
        if output.exists():
            shutil.rmtree(output)
        os.replace(tmp, output)
    except DataError as e:  # a worker's error, re-raised by dask with its remote traceback appended
        shutil.rmtree(tmp, ignore_errors=True)
        raise DataError(str(e).split("\n\nTraceback")[0].strip()) from None
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def embed_parquet(run, source, output, *, batch_size: int = 4096, workers: int | None = None,
                  overwrite: bool = False) -> DaskResult:
    """Posterior means of every row of a parquet dataset, one output part per input partition.

    Columns ``z0 .. z{latent_dim - 1}``; the index is the global row number.
    """
    from ..rundir import load

    t0 = time.perf_counter()
    model = load(run)  # check the run here, before any worker starts
    if model.data_spec is None or model.data_spec.kind not in ("table", "array"):
        raise ConfigError("--dask scores tables (parquet rows); this run's model was trained on "
                          f"{'unknown' if model.data_spec is None else model.data_spec.kind} data.")
    dask, ddf, output, offsets = _prepare(source, output, overwrite, workers)
    import pandas as pd

    meta = pd.DataFrame({f"z{j}": pd.Series(dtype="float32") for j in range(model.latent_dim)})
    out = ddf.map_partitions(_embed_partition, str(run), model.latent_dim, batch_size, offsets, meta=meta)
    _write(out, output, dask, workers)
    return DaskResult(path=output, n=offsets[-1], partitions=len(offsets) - 1, seconds=time.perf_counter() - t0)


def score_parquet(run, source, output, *, workers: int | None = None, overwrite: bool = False) -> DaskResult:
    """Anomaly scores of every row of a parquet dataset with a run's detector (columns as ``score_run``'s CSV)."""
    from .anomaly import VAEOutlierDetector

    t0 = time.perf_counter()
    det = VAEOutlierDetector.from_run(run)
    spec = det.model_.data_spec
    if spec is None or spec.kind != "table":
        raise ConfigError("--dask scores tables (parquet rows); this detector's model was trained on "
                          f"{'unknown' if spec is None else spec.kind} data.")
    dask, ddf, output, offsets = _prepare(source, output, overwrite, workers)
    import pandas as pd

    meta = pd.DataFrame({"id": pd.Series(dtype="object"), "score": pd.Series(dtype="float64"),
                         "is_outlier": pd.Series(dtype="bool"), "reason": pd.Series(dtype="object")})
    if spec.label_column is not None and spec.label_column in ddf.columns:
        meta["label"] = pd.Series(dtype=ddf[spec.label_column].dtype)
    out = ddf.map_partitions(_score_partition, str(run), offsets, meta=meta)
    _write(out, output, dask, workers)
    flagged = int(dd_read(output)["is_outlier"].sum())
    return DaskResult(path=output, n=offsets[-1], partitions=len(offsets) - 1, seconds=time.perf_counter() - t0,
                      n_outliers=flagged)


def dd_read(path: Path):
    """The written output as one pandas DataFrame (for summaries and tests)."""
    import pandas as pd

    return pd.read_parquet(path)
