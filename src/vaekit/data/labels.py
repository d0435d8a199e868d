"""Label files: labels for a data source from a CSV (one label per example in order, or ``id,label``
pairs) or a ``.npy`` array, with -1 for "unknown" -- and the reading of what a user writes for a class
(an index, a class name, -1 or nothing).

Used by ``vaekit train --labels FILE`` (:func:`vaekit.tasks.semisupervised.apply_labels`) and by the
commands that take a class from the user (``sample --label``, ``analogy``).
"""

from __future__ import annotations

import csv
import math
import os
import re
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch

from ..errors import DataError
from ._dataset import Dataset

__all__ = ["LABEL_FILE_SUFFIXES", "read_label_file", "Classes", "label_text"]

#: File types :func:`read_label_file` reads (``.tsv`` is tab-separated; ``.txt`` is one label per line).
LABEL_FILE_SUFFIXES = (".csv", ".tsv", ".txt", ".npy")

# Header names recognised for the two columns of an ``id,label`` file (case-insensitive).
_LABEL_HEADERS = ("label", "labels", "y", "class", "target")
_ID_HEADERS = ("id", "ids", "file", "filename", "path", "name", "index")
_INT = re.compile(r"[+-]?\d+")


class Classes:
    """Turns what a user wrote (an index, a class name, -1 or nothing) into a class index.

    With class names that are all integers but not 0..K-1 (a table whose labels are 3 and 5), an
    integer is read as a name, never as an index, so ``5`` always means the class the user calls 5.
    """

    def __init__(self, names: Sequence[str], num_classes: int | None):
        self.names = tuple(str(n) for n in names)
        self.num_classes = num_classes if num_classes is not None else (len(self.names) or None)
        self.lookup = {n: i for i, n in enumerate(self.names)}
        identity = self.names == tuple(str(i) for i in range(len(self.names)))
        self.ints_are_names = bool(self.names) and not identity and all(_INT.fullmatch(n) for n in self.names)

    def expected(self) -> str:
        shown = self.names[:12]
        more = ", ..." if len(self.names) > 12 else ""
        if self.ints_are_names:
            return "one of the classes " + ", ".join(shown) + more
        if self.names and self.names != tuple(str(i) for i in range(len(self.names))):
            return f"a class name ({', '.join(repr(n) for n in shown)}{more}) or index 0..{len(self.names) - 1}"
        if self.num_classes:
            return f"an integer class index 0..{self.num_classes - 1}"
        return "an integer class index >= 0"

    def index(self, text: str, *, allow_unknown: bool) -> int:
        """The class index of ``text``; -1 for an empty cell or -1 when ``allow_unknown``.

        Raises ValueError with the reason (the caller adds where it happened).
        """
        t = text.strip()
        unknown_hint = ", or -1 / an empty cell for an unlabelled example" if allow_unknown else ""
        if t == "" or t == "-1":
            if allow_unknown:
                return -1
            raise ValueError(f"{t!r} is not a class; expected {self.expected()}")
        if t in self.lookup:
            return self.lookup[t]
        value: float | None = None
        if _INT.fullmatch(t):
            value = int(t)
        else:
            try:
                value = float(t)
            except ValueError:
                value = None
        if value is None:
            if self.names:
                raise ValueError(f"{t!r} is not a class of the data; expected {self.expected()}{unknown_hint}")
            raise ValueError(f"{t!r} is not an integer class index; the data has no class names, so labels must be "
                             f"{self.expected()}{unknown_hint}")
        if not math.isfinite(value) or value != int(value):
            raise ValueError(f"{t!r} is not an integer class index; expected {self.expected()}{unknown_hint}")
        value = int(value)
        if value == -1 and allow_unknown:
            return -1
        if value < 0:
            raise ValueError(f"{t!r} is negative; expected {self.expected()}{unknown_hint} (-1 is the only "
                             f"negative label)" if allow_unknown else f"{t!r} is negative; expected {self.expected()}")
        if self.ints_are_names:
            raise ValueError(f"{t!r} is not a class of the data; expected {self.expected()}{unknown_hint}")
        if self.num_classes is not None and value >= self.num_classes:
            raise ValueError(f"{t!r} is out of range: there are {self.num_classes} classes, so expected "
                             f"{self.expected()}{unknown_hint}")
        return value


def read_label_file(path: str | os.PathLike, data: Dataset, *, num_classes: int | None = None) -> torch.Tensor:
    """Read labels for ``data`` from a file; -1 marks an example without a label.

    Two layouts of CSV (``.csv``; ``.tsv`` tab-separated; ``.txt`` one label per line), each with an
    optional header row:

    * one column -- exactly one row per example of ``data``, in the data's order; an empty cell or -1
      means unlabelled;
    * two columns ``id,label`` -- only the examples named (the rest stay unlabelled). An id is what
      ``data.ids`` holds: for an image folder the file's path relative to the folder
      (``cat/001.png``); for a table with an index the index; for arrays, builtins and other tables
      the 0-based row number. With a header, more columns are fine: ``id`` and ``label`` are picked
      by name (so ``vaekit classify``'s predictions file reads back as labels).

    A ``.npy`` file holds a 1-D array with one label per example (int, or float with NaN for
    unlabelled). Labels are class indices 0..K-1; when the data has class names that are not
    integers (a folder of class sub-folders), the names work too.

    Parameters
    ----------
    path : str or PathLike
    data : Dataset
        The examples the labels belong to (its ``ids``, length and class names are checked).
    num_classes : int or None
        Reject labels >= this; default the data's number of class names, when it has them.

    Returns
    -------
    Tensor of shape (len(data),), int64

    Raises
    ------
    DataError
        Missing or unreadable file, wrong number of rows, unknown or duplicate ids, labels that are
        not integer class indices (or known class names), negative labels other than -1, labels out
        of range. The message names the file, the line and what was expected.

    Examples
    --------
    >>> import tempfile, pathlib, torch
    >>> from vaekit.config import DataSpec
    >>> d = Dataset(torch.zeros(4, 2), None, DataSpec(kind="array", shape=(2,), name="pts"))
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "y.csv"
    >>> _ = p.write_text("id,label\\n0,1\\n3,0\\n")
    >>> read_label_file(p, d).tolist()
    [1, -1, -1, 0]
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(f"Label file '{path}' does not exist; expected a .csv (one label per example, or "
                        f"id,label rows) or a .npy array.")
    suffix = path.suffix.lower()
    if suffix not in LABEL_FILE_SUFFIXES:
        raise DataError(f"Label file '{path}' must end in {', '.join(LABEL_FILE_SUFFIXES)}. "
                        f"Got '{suffix or path.name}' instead.")
    names = data.spec.label_names
    classes = Classes(names, num_classes if num_classes is not None else (len(names) or None))
    if suffix == ".npy":
        return _read_npy(path, data, classes)
    return _read_csv(path, data, classes, delimiter="\t" if suffix == ".tsv" else ",")


def _where(path: Path, line: int | None = None) -> str:
    return f"Label file '{path}'" + (f", line {line}" if line is not None else "")


def _read_npy(path: Path, data: Dataset, classes: Classes) -> torch.Tensor:
    try:
        a = np.load(path, allow_pickle=False)
    except (ValueError, OSError, EOFError) as e:
        raise DataError(f"{_where(path)} could not be read as a .npy array: {e}") from e
    if a.ndim != 1:
        raise DataError(f"{_where(path)} holds an array of shape {a.shape}; expected one label per example, "
                        f"shape ({len(data)},).")
    _check_count(path, len(a), data, blank=0)
    if a.dtype.kind not in "iufUO":
        raise DataError(f"{_where(path)} has dtype {a.dtype}; expected integer class indices (-1 for unlabelled).")
    text = [label_text(v) for v in a.tolist()]
    out = np.empty(len(text), dtype=np.int64)
    for i, t in enumerate(text):
        try:
            out[i] = classes.index(t, allow_unknown=True)
        except ValueError as e:
            raise DataError(f"{_where(path)}, element {i}: {e}.") from e
    return torch.from_numpy(out)


def label_text(v: Any) -> str:
    """A label value as a user would write it: NaN -> empty (unlabelled), 3.0 -> "3"."""
    if isinstance(v, float):
        if math.isnan(v):
            return ""
        return str(int(v)) if math.isfinite(v) and v == int(v) else repr(v)
    return str(v)


def _check_count(path: Path, n_rows: int, data: Dataset, *, blank: int) -> None:
    if n_rows == len(data):
        return
    note = f" ({blank} blank lines count as unlabelled examples)" if blank else ""
    raise DataError(
        f"{_where(path)} has {n_rows:,} labels{note} but data '{data.name}' has {len(data):,} examples; give one "
        f"label per example in the data's order (-1 or an empty cell for unlabelled), or two columns id,label.")


def _read_rows(path: Path, delimiter: str) -> list[tuple[int, list[str]]]:
    """(line number, cells) for every record of a CSV file; cells are stripped."""
    try:
        with open(path, newline="", encoding="utf-8-sig") as f:
            reader = csv.reader(f, delimiter=delimiter)
            rows, start = [], 1
            for cells in reader:
                rows.append((start, [c.strip() for c in cells]))
                start = reader.line_num + 1
    except (UnicodeDecodeError, csv.Error, OSError) as e:
        raise DataError(f"{_where(path)} could not be read as CSV text: {e}") from e
    return rows


def _is_value(cell: str, classes: Classes) -> bool:
    """Whether ``cell`` reads as a label (a number, a class name or empty) rather than a header."""
    if cell == "" or cell in classes.lookup:
        return True
    try:
        float(cell)
    except ValueError:
        return False
    return True


def _pick_column(header: list[str], wanted: tuple[str, ...]) -> int | None:
    lowered = [h.lower() for h in header]
    for name in wanted:
        if name in lowered:
            return lowered.index(name)
    return None


def _read_csv(path: Path, data: Dataset, classes: Classes, *, delimiter: str) -> torch.Tensor:
    rows = _read_rows(path, delimiter)
    if not rows:
        raise DataError(f"{_where(path)} is empty; expected one label per example of data '{data.name}' "
                        f"({len(data):,}), or id,label rows.")
    width = max(len(cells) for _, cells in rows)
    first = rows[0][1]
    if width == 1:
        # A header is a known name ("label") or, when the count says so, any non-label first line.
        has_header = len(first) == 1 and not _is_value(first[0], classes) and (
            first[0].lower() in _LABEL_HEADERS or len(rows) == len(data) + 1)
        label_col, id_col = 0, None
    else:
        label_at = _pick_column(first, _LABEL_HEADERS)
        has_header = label_at is not None or not _is_value(first[min(1, len(first) - 1)], classes)
        if has_header:
            label_col = label_at if label_at is not None else (1 if width == 2 else None)
            id_col = _pick_column(first, _ID_HEADERS)
            if id_col is None and width == 2 and label_col is not None:
                id_col = 1 - label_col
            if label_col is None:
                raise DataError(f"{_where(path, rows[0][0])}: the header {','.join(first)!r} names no label column; "
                                f"expected a column called one of {', '.join(_LABEL_HEADERS)}.")
        elif width == 2:
            id_col, label_col = 0, 1
        else:
            raise DataError(f"{_where(path, rows[0][0])} has {width} columns and no header; expected one column "
                            f"(a label per example) or two (id,label).")
    body = rows[1:] if has_header else rows
    if id_col is None:
        labels = _labels_in_order(path, body, data, classes, label_col)
    else:
        labels = _labels_by_id(path, body, data, classes, id_col, label_col)
    return torch.from_numpy(labels)


def _labels_in_order(path, body, data, classes, col) -> np.ndarray:
    blank = sum(1 for _, cells in body if not any(cells))
    _check_count(path, len(body), data, blank=blank)
    out = np.empty(len(body), dtype=np.int64)
    for i, (line, cells) in enumerate(body):
        try:
            out[i] = classes.index(cells[col] if len(cells) > col else "", allow_unknown=True)
        except ValueError as e:
            raise DataError(f"{_where(path, line)}: {e}.") from e
    return out


def _id_key(text: str) -> str:
    t = text.strip().replace("\\", "/")
    while t.startswith("./"):
        t = t[2:]
    return t


def _labels_by_id(path, body, data, classes, id_col, label_col) -> np.ndarray:
    if data.ids is not None:
        index = {_id_key(i): k for k, i in enumerate(data.ids)}
        what = ("file paths relative to the folder" if data.kind == "image" else "the table's index values")
        example = data.ids[0] if data.ids else ""
        id_hint = f"ids of data '{data.name}' are {what}, such as {example!r}"
    else:
        index = {str(k): k for k in range(len(data))}
        id_hint = f"ids of data '{data.name}' are 0-based row numbers 0..{len(data) - 1}"
    out = np.full(len(data), -1, dtype=np.int64)
    seen: dict[int, int] = {}
    unknown: list[tuple[int, str]] = []
    need = max(id_col, label_col) + 1
    for line, cells in body:
        if not any(cells):
            continue  # a blank line names no example
        if len(cells) < need:
            raise DataError(f"{_where(path, line)} has {len(cells)} field{'s' if len(cells) != 1 else ''}; "
                            f"expected id,label.")
        key = _id_key(cells[id_col])
        if data.ids is None and _INT.fullmatch(key):
            key = str(int(key))
        k = index.get(key)
        if k is None:
            unknown.append((line, cells[id_col]))
            continue
        if k in seen:
            raise DataError(f"{_where(path, line)}: id {cells[id_col]!r} was already given on line {seen[k]}; "
                            f"each example may be labelled once.")
        seen[k] = line
        try:
            out[k] = classes.index(cells[label_col], allow_unknown=True)
        except ValueError as e:
            raise DataError(f"{_where(path, line)}: {e}.") from e
    if unknown:
        shown = ", ".join(f"{t!r} (line {ln})" for ln, t in unknown[:3])
        more = f" and {len(unknown) - 3:,} more" if len(unknown) > 3 else ""
        raise DataError(f"{_where(path)} has {len(unknown):,} unknown id{'s' if len(unknown) != 1 else ''}: "
                        f"{shown}{more}; {id_hint}.")
    return out
