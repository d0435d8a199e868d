"""The user-facing entry points: :func:`load`, :func:`apply_spec`, :func:`from_array`, :func:`train_test_split`."""

from __future__ import annotations

import dataclasses
import difflib
import os
import sys
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np
import torch

from .._validation import Interval, Options, check_param, param_error
from ..config import DataSpec
from ..errors import DataError
from ._common import (
    as_numpy,
    check_fraction,
    check_image_size,
    check_mode,
    check_split,
    encode_labels,
    image_target,
    make_dataset,
    no_split_check,
    prepare_array,
)
from ._dataset import Dataset
from .arrays import load_npy, load_npz
from .builtin import BUILTINS, builtin_key, load_builtin
from .images import load_image_folder, pil_to_array
from .mnist import is_idx_folder, load_idx_folder
from .tables import encode_table, read_table, table_to_dataset

__all__ = ["load", "apply_spec", "from_array", "train_test_split"]

_EXPECTED = f"Expected a builtin name ({', '.join(BUILTINS)}), a folder, a .npz/.npy/.csv/.parquet file, or a .txt text file (one sentence per line)."
_TABLE_ENDINGS = (".csv", ".tsv", ".csv.gz", ".tsv.gz", ".parquet", ".pq")


def _not_for(param: str, value: Any, what: str, applies_to: str) -> None:
    if value is not None:
        raise param_error("load", param, f"None for {what} (it applies to {applies_to} only)", value)


def load(
    spec: str | os.PathLike,
    *,
    split: str = "train",
    image_size: int | tuple[int, int] | None = None,
    mode: str | None = None,
    label_column: str | None = None,
    columns: Sequence[str] | None = None,
    data_spec: DataSpec | None = None,
    allow_missing: bool = False,
    labels: str = "model",
    lazy: bool | None = None,
    schema: Mapping[str, str] | None = None,
    normalization: str = "standard",
    kind: str | None = None,
    text_column: str | None = None,
) -> Dataset:
    """Load a builtin data set or a file / folder as a :class:`Dataset` of model-ready examples.

    Parameters
    ----------
    spec : str or PathLike
        A builtin name (:data:`BUILTINS`: ``"mnist5k"``, ``"digits"``, ``"mnist"``, ``"fashion-mnist"``,
        ``"kmnist"``) or a path: a folder of images (class sub-folders give labels), a folder of IDX
        files, an ``.npz`` (``x_train``/``y_train``/``x_test``/``y_test`` or ``x``/``y``), an ``.npy``,
        or a ``.csv``/``.parquet`` table. A bare builtin name wins over a same-named folder; write
        ``"./mnist"`` for the folder.
    split : {"train", "test", "all"}
        Builtins and files with an official split (IDX folders, ``.npz`` with ``x_test``) select it.
        ``mnist5k`` and ``digits`` come in a fixed seeded shuffled order: "train" is the first 90%
        (4,500 for mnist5k), "test" the last 10%. Other files have one split: "train" and "all" return
        everything, "test" is an error (use :func:`train_test_split`).
    image_size : int or (height, width) or None
        Resize images to this size. Image folders default to their most common size.
    mode : {"L", "RGB"} or None
        Colour mode of images. Image folders default to "L" when every image is grayscale.
    label_column : str or None
        Table column holding labels (mapped to ints; names kept in ``spec.label_names``).
    columns : sequence of str or None
        Table feature columns to use (default: all but the label column).
    data_spec : DataSpec or None
        The spec of the data a model was trained on: new data is preprocessed identically (image
        size and mode, table columns, statistics and categories) and must fit it.
    allow_missing : bool
        Tables: keep missing cells as NaN (for models with ``missing="ignore"``) instead of refusing them.
    labels : {"model", "own", "none"}
        With ``data_spec``: ``"model"`` maps the data's labels onto the classes the model was trained
        with (a class it never saw is an error: what classifying needs); ``"own"`` keeps the data's own
        class names (class folders named differently are fine: reconstructing or embedding does not use
        labels); ``"none"`` drops them.
    schema : mapping or None
        Tables: column types overriding the inferred ones (``{"zip": "categorical", "age": "integer"}``).
    normalization : {"standard", "mode"}
        Tables: how numeric columns are encoded when a spec is fitted (see :mod:`vaekit.data.tables`).
    lazy : bool or None
        Image folders and parquet tables: read batch by batch instead of into memory (image files
        decoded on demand; parquet row group by row group, see :mod:`vaekit.data.parquet`). None: lazily
        when the decoded data would exceed 1 GiB. A large ``.npy`` is memory-mapped either way.
    kind : {"text"} or None
        ``"text"``: read sentences (:mod:`vaekit.data.text`), one per line of a ``.txt`` file or of the
        ``.txt`` files of a folder, or the ``text_column`` of a CSV. A ``.txt`` file, or a folder of only
        ``.txt`` files, is text without it; so is any source read with the ``data_spec`` of text data
        (its vocabulary; unknown words become ``<unk>``).
    text_column : str or None
        The CSV column holding the sentences (``kind="text"``).

    Returns
    -------
    Dataset
        ``x`` of shape (n, *spec.shape), float32: images (C, H, W) in [0, 1]; tables standardised
        numeric columns followed by one-hot categories (see :mod:`vaekit.data.tables`); ``y`` (n,)
        int64 labels or None.

    Raises
    ------
    DataError
        Missing path, unsupported file type, unreadable or malformed data (naming the file, and for
        tables the column and the row, counting data rows from 1 below the header), or data that
        does not fit ``data_spec``. Downloads that fail say which files to put where.
    ConfigError
        An invalid parameter value.

    Examples
    --------
    >>> d = load("digits", split="test")
    >>> len(d), d.shape, d.spec.levels
    (180, (1, 8, 8), 17)
    >>> d.x.min().item() >= 0 and d.x.max().item() <= 1
    True
    """
    check_split(split)
    check_param("load", "labels", labels, Options(("model", "own", "none")))
    if labels != "model" and data_spec is not None and data_spec.label_names:
        # The data's own labels: the class names the model knows play no part.
        data = load(spec, split=split, image_size=image_size, mode=mode, label_column=label_column, columns=columns,
                    data_spec=data_spec.replace(label_names=()), allow_missing=allow_missing)
        if labels == "none" or data.y is None:
            return dataclasses.replace(data, y=None, spec=data.spec.replace(label_names=()))
        return data
    check_mode(mode)
    hw = check_image_size(image_size)
    if data_spec is not None and not isinstance(data_spec, DataSpec):
        raise param_error("load", "data_spec", "a DataSpec or None", data_spec)
    if not isinstance(spec, (str, os.PathLike)):
        raise param_error("load", "spec", "a builtin name or a path (use from_array for arrays and DataFrames)", spec)
    text = os.fspath(spec)
    bare = isinstance(spec, str) and "/" not in text and os.sep not in text
    key = builtin_key(text) if bare else None
    if key is not None:
        _not_for("label_column", label_column, f"builtin '{key}'", "tables")
        _not_for("columns", columns, f"builtin '{key}'", "tables")
        channels, hw = image_target(hw, mode, data_spec)
        return load_builtin(key, split=split, data_spec=data_spec, channels=channels, hw=hw)

    path = Path(text)
    if not path.exists():
        close = difflib.get_close_matches(text.lower(), BUILTINS, n=1) if bare and not path.suffix else []
        hint = f" Did you mean '{close[0]}'?" if close else ""
        raise DataError(f"No such file or folder: '{text}'. {_EXPECTED}{hint}")
    from .text import is_text_path, load_text

    if kind not in (None, "text"):
        raise param_error("load", "kind", "None or 'text' (other kinds follow from the source)", kind)
    if kind == "text" or (data_spec is not None and data_spec.kind == "text") or \
            (kind is None and data_spec is None and is_text_path(path)):
        no_split_check(split, text)
        return load_text(path, spec=data_spec, column=text_column)
    lower = path.name.lower()
    if path.is_dir() or not lower.endswith(_TABLE_ENDINGS):
        _not_for("label_column", label_column, f"'{text}'", ".csv/.parquet tables")
        _not_for("columns", columns, f"'{text}'", ".csv/.parquet tables")
    else:
        _not_for("image_size", image_size, f"'{text}'", "images")
        _not_for("mode", mode, f"'{text}'", "images")
        no_split_check(split, text)
        if lower.endswith((".parquet", ".pq")) and _lazy_table(path, text, lazy):
            from .parquet import load_parquet_lazily

            return load_parquet_lazily(path, name=text, label_column=label_column, columns=columns,
                                       data_spec=data_spec, allow_missing=allow_missing)
        return table_to_dataset(
            read_table(path, text), source=text, name=text, label_column=label_column, columns=columns,
            data_spec=data_spec, allow_missing=allow_missing, schema=schema, normalization=normalization,
        )
    channels, hw = image_target(hw, mode, data_spec)
    if path.is_dir():
        if is_idx_folder(path):
            return load_idx_folder(path, split=split, name=text, data_spec=data_spec, channels=channels, hw=hw)
        no_split_check(split, text)
        return load_image_folder(path, name=text, mode=mode, hw=hw, data_spec=data_spec, lazy=lazy)
    if lower.endswith(".npz"):
        return load_npz(path, name=text, split=split, data_spec=data_spec, channels=channels, hw=hw)
    if lower.endswith(".npy"):
        return load_npy(path, name=text, split=split, data_spec=data_spec, channels=channels, hw=hw)
    raise DataError(f"Cannot load '{text}': unsupported file type '{path.suffix or path.name}'. {_EXPECTED}")


def _lazy_table(path: Path, name: str, lazy: bool | None) -> bool:
    """Whether to read a parquet table row group by row group: asked for, or above 1 GiB of float32 values."""
    if lazy is not None:
        return lazy
    from .parquet import LAZY_TABLE_BYTES, _parquet_file

    meta = _parquet_file(path, name).metadata
    return meta.num_rows * meta.num_columns * 4 > LAZY_TABLE_BYTES


def _is_pandas_frame(x: Any) -> bool:
    pd = sys.modules.get("pandas")  # no DataFrame can exist unless pandas is imported
    return pd is not None and isinstance(x, pd.DataFrame)


def _pil_images(x: Any) -> list | None:
    image_mod = sys.modules.get("PIL.Image")
    if image_mod is None:
        return None
    if isinstance(x, image_mod.Image):
        return [x]
    if isinstance(x, (list, tuple)) and x and all(isinstance(i, image_mod.Image) for i in x):
        return list(x)
    return None


def apply_spec(data: Any, spec: DataSpec, *, name: str = "input") -> torch.Tensor:
    """Preprocess raw inputs exactly as the data a model was trained on (described by ``spec``).

    Parameters
    ----------
    data : ndarray, Tensor, DataFrame, PIL image or list of PIL images
        Raw examples: for image specs uint8 (0..255) or float ([0, 1]) arrays of shape (n, H, W),
        (n, H, W, C), (n, C, H, W) or flat (n, C*H*W), converted to the spec's mode and resized to its
        size; for array specs (n, features); for table specs a DataFrame with the spec's columns.
    spec : DataSpec
        ``dataset.spec`` of the training data (saved in a run's ``config.json``).
    name : str
        How to call ``data`` in error messages.

    Returns
    -------
    Tensor of shape (n, *spec.shape), float32

    Raises
    ------
    DataError
        When ``data`` cannot be made to fit (``input has 3 features, but the model expects 4.``).

    Examples
    --------
    >>> import numpy as np
    >>> from vaekit.config import DataSpec
    >>> spec = DataSpec(kind="image", shape=(1, 4, 4), image_mode="L", levels=256)
    >>> apply_spec(np.full((2, 8, 8, 3), 255, dtype=np.uint8), spec).shape
    torch.Size([2, 1, 4, 4])
    >>> apply_spec(np.zeros((2, 3)), DataSpec(kind="array", shape=(4,)))
    Traceback (most recent call last):
    ...
    vaekit.errors.DataError: input has 3 features, but the model expects 4.
    """
    if not isinstance(spec, DataSpec):
        raise param_error("apply_spec", "spec", "a DataSpec", spec)
    if spec.kind == "table":
        if not _is_pandas_frame(data):
            raise DataError(
                f"{name} is a {type(data).__name__}, but the model was trained on a table; pass a pandas "
                f"DataFrame with columns {', '.join(spec.numeric_columns + spec.categorical_columns)}."
            )
        x, _ = encode_table(data, spec, name)
        return torch.from_numpy(x)
    if _is_pandas_frame(data):
        x = table_to_dataset(data, source=name, name=name, data_spec=spec).x
        return x if isinstance(x, torch.Tensor) else torch.from_numpy(np.asarray(x, dtype=np.float32))
    images = _pil_images(data)
    if images is not None and spec.kind == "image":
        mode = spec.image_mode or ("L" if spec.shape[0] == 1 else "RGB")
        data = np.stack([pil_to_array(im, mode, (spec.shape[1], spec.shape[2])) for im in images])
    x, _ = prepare_array(as_numpy(data), name, data_spec=spec)
    if isinstance(x, np.memmap):
        x = np.array(x)  # a tensor must own its memory, not a file mapping
    return torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32))


def from_array(x: Any, y: Any = None, *, kind: str | None = None, name: str | None = None) -> Dataset:
    """Wrap in-memory data (numpy, torch or pandas) as a :class:`Dataset`.

    Parameters
    ----------
    x : ndarray, Tensor or DataFrame
        Arrays follow :func:`load`'s rules: uint8 (or other integer) images of shape (n, H, W),
        (n, H, W, C) or (n, C, H, W) are divided by 255; float images must lie in [0, 1]; 2-D arrays
        are vectors (kind "array"). A DataFrame goes through the table path (standardised numeric
        columns, one-hot categories).
    y : array-like of shape (n,), str, or None
        Labels; non-negative integers are kept, other values numbered in sorted order. For a
        DataFrame, a str names its label column.
    kind : {"image", "array", "table"} or None
        Force a reading: "array" flattens images to vectors, "table" treats a 2-D array as a table
        of numeric columns ``x0, x1, ...`` (standardised).
    name : str or None
        Name recorded in the spec and used in messages (default "array", or "DataFrame").

    Returns
    -------
    Dataset

    Examples
    --------
    >>> import numpy as np
    >>> d = from_array(np.zeros((4, 28, 28), dtype=np.uint8), y=[0, 1, 1, 0])
    >>> d.kind, d.shape, d.spec.label_names
    ('image', (1, 28, 28), ('0', '1'))
    >>> from_array(np.random.default_rng(0).normal(size=(6, 3)), kind="table").spec.columns
    ('x0', 'x1', 'x2')
    """
    check_param("from_array", "kind", kind, Options(("image", "array", "table"), optional=True))
    if _is_pandas_frame(x) or kind == "table":
        import pandas as pd

        if not _is_pandas_frame(x):
            arr = as_numpy(x)
            if arr.ndim != 2:
                raise DataError(f"{name or 'array'} has shape {arr.shape}; a table needs (n, columns).")
            x = pd.DataFrame(arr, columns=[f"x{i}" for i in range(arr.shape[1])])
        elif kind not in (None, "table"):
            raise param_error("from_array", "kind", "None or 'table' for a DataFrame", kind)
        source = name or "DataFrame"
        label_column = y if isinstance(y, str) else None
        data = table_to_dataset(x, source=source, name=source, label_column=label_column)
        if y is None or label_column is not None:
            return data
        labels, names = encode_labels(y, f"y of {source}", keep_ints=True)
        if len(labels) != len(data):
            raise DataError(f"{source} has {len(data):,} rows but y has {len(labels):,} labels.")
        return dataclasses.replace(data, y=torch.from_numpy(labels), spec=data.spec.replace(label_names=names))
    source = name or "array"
    arr, fields = prepare_array(as_numpy(x), source, kind=kind)
    labels, names = None, ()
    if y is not None:
        labels, names = encode_labels(y, f"y of {source}", keep_ints=True)
        if len(labels) != len(arr):
            raise DataError(f"{source} has {len(arr):,} examples but y has {len(labels):,} labels.")
    return make_dataset(arr, labels, fields=fields, name=source, label_names=names)


def train_test_split(data: Dataset, test_fraction: float = 0.1, seed: int = 0) -> tuple[Dataset, Dataset]:
    """Seeded random split of ``data`` into ``(train, test)`` with ``round(test_fraction * n)`` test examples.

    Parameters
    ----------
    data : Dataset
    test_fraction : float
        In (0, 1).
    seed : int
        Seed of the permutation; the same seed gives the same split.

    Returns
    -------
    train, test : Dataset
        Disjoint, in their original relative order.

    Examples
    --------
    >>> from vaekit.data import make_blobs_images
    >>> train, test = train_test_split(make_blobs_images(50), test_fraction=0.2, seed=1)
    >>> len(train), len(test)
    (40, 10)
    """
    if not isinstance(data, Dataset):
        raise param_error("train_test_split", "data", "a vaekit Dataset (see vaekit.datasets.load / from_array)", data)
    check_fraction(test_fraction, "test_fraction", "train_test_split")
    check_param("train_test_split", "seed", seed, Interval("int", 0, None))
    return data.split(test_fraction, seed=seed)

