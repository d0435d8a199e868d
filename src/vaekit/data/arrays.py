"""NumPy files: ``.npz`` archives of named arrays and single ``.npy`` arrays (large float32 ones stream)."""

from __future__ import annotations

import logging
import zipfile
from pathlib import Path

import numpy as np

from ..config import DataSpec
from ..errors import DataError
from ._common import encode_labels, make_dataset, no_split_check, prepare_array
from ._dataset import Dataset

__all__ = ["load_npz", "load_npy", "check_numpy_file", "MMAP_THRESHOLD_BYTES"]

logger = logging.getLogger(__name__)

#: ``.npy`` files larger than this are memory-mapped; float32 ones then stream batch by batch.
MMAP_THRESHOLD_BYTES = 256 * 2**20


def check_numpy_file(path: str | Path, name: str | None = None) -> None:
    """Raise a clear DataError unless ``path`` starts like a NumPy file (``.npy`` magic or a ``.npz`` zip).

    NumPy reports any other file as "pickled (object) data" (its fallback reader is pickle), which
    misleads: a CSV renamed ``.npy`` is not pickled. vaekit never unpickles either way.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "t.npy"
    >>> _ = p.write_text("a,b\\n1,2\\n")
    >>> check_numpy_file(p)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    vaekit.errors.DataError: 't.npy' is not a NumPy .npy/.npz file: it starts with b'a,b\\n1,2\\n', which looks like text ...
    """
    name = str(name if name is not None else Path(path).name)
    with open(path, "rb") as f:
        head = f.read(16)
    if not head:
        raise DataError(f"'{name}' is empty (0 bytes); it is not a NumPy .npy/.npz file.")
    if head.startswith(b"\x93NUMPY") or head.startswith(b"PK"):
        return
    text = head.decode("utf-8", "ignore")  # a multi-byte character may be cut at byte 16
    is_text = len(text.encode()) >= len(head) - 3 and all(ch.isprintable() or ch in "\r\n\t" for ch in text)
    looks = "text (a CSV or text file renamed?)" if is_text else None
    raise DataError(f"'{name}' is not a NumPy .npy/.npz file: it starts with {head!r}, which looks like "
                    f"{looks or 'another kind of file'}. Save arrays with numpy.save / numpy.savez, or pass a table "
                    f"as .csv.")


def _read(npz, key: str, path: Path) -> np.ndarray:
    try:
        return npz[key]
    except (ValueError, OSError, EOFError, zipfile.BadZipFile) as e:
        raise DataError(
            f"Array '{key}' of {path} could not be read: {e}. vaekit never unpickles; save plain numeric arrays."
        ) from e


def load_npz(
    path: Path,
    *,
    name: str,
    split: str = "train",
    data_spec: DataSpec | None = None,
    channels: int | None = None,
    hw: tuple[int, int] | None = None,
) -> Dataset:
    """Load ``x_train``/``y_train``/``x_test``/``y_test`` (``split`` picks) or ``x`` and optional ``y``."""
    check_numpy_file(path, name)
    try:
        npz = np.load(path, allow_pickle=False)
    except (ValueError, OSError, EOFError, zipfile.BadZipFile) as e:
        raise DataError(f"File '{name}' could not be read as an .npz archive: {e}") from e
    with npz:
        keys = set(npz.files)
        if "x_train" in keys or "x_test" in keys:
            present = tuple(p for p in ("train", "test") if f"x_{p}" in keys)
            wanted = present if split == "all" else (split,)
            xs, ys = [], []
            for part in wanted:
                if f"x_{part}" not in keys:
                    raise DataError(f"{name} has no 'x_{part}' array for split '{split}'; it holds {', '.join(sorted(keys))}.")
                xs.append(_read(npz, f"x_{part}", path))
                ys.append(_read(npz, f"y_{part}", path) if f"y_{part}" in keys else None)
            key = "x_" + "+".join(wanted)
            if any(y is None for y in ys):
                ys = [None]
            if len(xs) > 1 and xs[0].shape[1:] != xs[1].shape[1:]:
                raise DataError(f"{name}: x_train has examples of shape {xs[0].shape[1:]} but x_test {xs[1].shape[1:]}.")
            raw = xs[0] if len(xs) == 1 else np.concatenate(xs)
            labels = ys[0] if len(ys) == 1 else np.concatenate(ys)
        elif "x" in keys:
            no_split_check(split, name)
            key, raw = "x", _read(npz, "x", path)
            labels = _read(npz, "y", path) if "y" in keys else None
        else:
            raise DataError(
                f"{name} holds arrays {', '.join(sorted(keys)) or '(none)'}; expected 'x_train', 'y_train', "
                f"'x_test', 'y_test' or 'x' (and optionally 'y')."
            )
    what = f"Array '{key}' of {name}"
    x, fields = prepare_array(raw, what, data_spec=data_spec, channels=channels, hw=hw)
    y, label_names = (None, ())
    if labels is not None:
        if len(labels) != len(x):
            raise DataError(f"{what} has {len(x):,} examples but its labels have {len(labels):,}.")
        known = data_spec.label_names if data_spec is not None else ()
        y, label_names = encode_labels(labels, f"Labels of {name}", known=known, keep_ints=True)
    return make_dataset(x, y, fields=fields, name=name, label_names=label_names, data_spec=data_spec)


def load_npy(
    path: Path,
    *,
    name: str,
    split: str = "train",
    data_spec: DataSpec | None = None,
    channels: int | None = None,
    hw: tuple[int, int] | None = None,
) -> Dataset:
    """Load one array; files over :data:`MMAP_THRESHOLD_BYTES` are memory-mapped and, when float32 and
    model-ready (vectors, or images in [0, 1]), stream from disk batch by batch."""
    no_split_check(split, name)
    check_numpy_file(path, name)
    big = path.stat().st_size > MMAP_THRESHOLD_BYTES
    try:
        # "c" (copy-on-write) rather than "r": batches come back as writable arrays, and a caller
        # changing one in place can never write to the file.
        raw = np.load(path, mmap_mode="c" if big else None, allow_pickle=False)
    except (ValueError, OSError, EOFError) as e:
        raise DataError(f"File '{name}' could not be read as a .npy array: {e}") from e
    x, fields = prepare_array(raw, name, data_spec=data_spec, channels=channels, hw=hw)
    if isinstance(x, np.memmap):
        logger.info("Streaming %s from disk (%.0f MiB).", name, x.nbytes / 2**20)
    return make_dataset(x, None, fields=fields, name=name, data_spec=data_spec)
