"""Shared pieces of the data sources: array checks, image layout and resizing, labels, splits.

Every source (builtin, IDX, npz/npy, image folder, table) ends in :func:`make_dataset`, so a given
``data_spec`` is applied the same way whatever the data came from.
"""

from __future__ import annotations

import dataclasses
import logging
import math
from typing import Any

import numpy as np
import torch

from .._validation import Interval, Options, check_param, param_error
from ..config import DataSpec
from ..errors import DataError
from ._dataset import Dataset

logger = logging.getLogger(__name__)

SPLITS = ("train", "test", "all")
MODES = ("L", "RGB")
# ITU-R 601-2 luma, the weights Pillow's convert("L") uses, so RGB -> L matches image folders.
_LUMA = np.array([0.299, 0.587, 0.114], dtype=np.float32)
# Rows per chunk when scanning arrays, so a memory-mapped file is checked without loading it whole.
_SCAN_ELEMENTS = 1 << 24


# ---------------------------------------------------------------------------- parameters
def check_split(split: str, owner: str = "load") -> str:
    check_param(owner, "split", split, Options(SPLITS))
    return split


def check_mode(mode: str | None, owner: str = "load") -> str | None:
    check_param(owner, "mode", mode, Options(MODES, optional=True))
    return mode


def check_image_size(image_size: Any, owner: str = "load") -> tuple[int, int] | None:
    """Normalise ``image_size`` (None, an int, or ``(height, width)``) to ``(height, width)``."""
    if image_size is None:
        return None
    if isinstance(image_size, int) and not isinstance(image_size, bool):
        image_size = (image_size, image_size)
    ok = (
        isinstance(image_size, (tuple, list))
        and len(image_size) == 2
        and all(isinstance(v, int) and not isinstance(v, bool) and v >= 1 for v in image_size)
    )
    if not ok:
        raise param_error(owner, "image_size", "an int >= 1, a (height, width) pair of ints >= 1, or None", image_size)
    return (int(image_size[0]), int(image_size[1]))


def check_fraction(value: float, name: str, owner: str) -> float:
    check_param(owner, name, value, Interval("float", 0, 1, closed="neither"))
    return float(value)


def image_target(
    image_size: tuple[int, int] | None, mode: str | None, data_spec: DataSpec | None
) -> tuple[int | None, tuple[int, int] | None]:
    """Channels and ``(height, width)`` images must end up with; None where the data decides."""
    channels = None if mode is None else (1 if mode == "L" else 3)
    if data_spec is None or data_spec.kind != "image":
        return channels, image_size
    spec_channels, spec_hw = data_spec.shape[0], tuple(data_spec.shape[1:])
    if image_size is not None and tuple(image_size) != spec_hw:
        raise param_error("load", "image_size", f"None or {spec_hw} (the size in data_spec)", image_size)
    if channels is not None and channels != spec_channels:
        raise param_error("load", "mode", f"None or {data_spec.image_mode!r} (the mode in data_spec)", mode)
    return spec_channels, spec_hw  # type: ignore[return-value]


# ---------------------------------------------------------------------------- arrays
def _scan(a: np.ndarray, what: str) -> tuple[float, float, bool]:
    """Return ``(min, max, two_valued)`` of ``a``; raise on NaN or infinity, naming the first bad index.

    ``two_valued``: every value is 0 or 1 (floats), or every value is 0 or the maximum with a maximum of
    1 or 255 (integers: binary images stored as 0/1 or 0/255).

    Works chunk by chunk over the first axis so that a memory-mapped array is never loaded whole.
    """
    n = a.shape[0]
    per_row = max(1, int(np.prod(a.shape[1:])))
    step = max(1, _SCAN_ELEMENTS // per_row)
    lo, hi, binary = math.inf, -math.inf, True
    check_nan = np.issubdtype(a.dtype, np.floating)
    integer = a.dtype.kind in "iu"
    zero_one = zero_255 = True
    for start in range(0, n, step):
        chunk = np.asarray(a[start : start + step])
        if check_nan:
            bad = ~np.isfinite(chunk)
            if bad.any():
                first = np.unravel_index(int(np.argmax(bad)), chunk.shape)
                index = tuple(int(i) for i in (first[0] + start, *first[1:]))
                raise DataError(
                    f"{what} contains NaN or infinite values (first: {chunk[first]} at index {index}); "
                    f"remove or fill them first."
                )
        lo = min(lo, float(chunk.min()))
        hi = max(hi, float(chunk.max()))
        if binary and check_nan:  # binary images stored as 0.0 / 1.0
            binary = bool(((chunk == 0) | (chunk == 1)).all())
        elif integer:  # binary images stored as 0/1 or 0/255 integers
            zero_one = zero_one and bool(((chunk == 0) | (chunk == 1)).all())
            zero_255 = zero_255 and bool(((chunk == 0) | (chunk == 255)).all())
    if integer:
        binary = (zero_one and hi == 1) or (zero_255 and hi == 255)
    elif not check_nan:
        binary = a.dtype == np.bool_
    return lo, hi, binary


def _integer_reading(lo: float, hi: float, binary: bool, what: str, levels: int | None) -> tuple[float, int, str]:
    """How integer images are read: ``(divide by, levels, description)``.

    Without a spec (``levels`` None): values that are all 0/1 or all 0/255 are binary images, anything
    else in 0..255 is 8-bit. With a spec, its ``levels`` decide, and binary data must be two-valued.
    """
    if lo < 0 or hi > 255:
        raise DataError(f"{what} holds integers in [{lo:g}, {hi:g}]; 8-bit images must lie in 0..255.")
    if levels == 2 or (levels is None and binary):
        if not binary and hi > 1:
            raise DataError(
                f"{what} holds integers in [{lo:g}, {hi:g}], but the model is for binary data (levels 2): "
                f"pass values that are all 0/1 or all 0/255, or bool."
            )
        scale = 255.0 if hi > 1 else 1.0
        return scale, 2, f"binary (integer values 0/{int(scale)})"
    return 255.0, 256, "8-bit (integer values 0..255)"


def _to_channels_first(a: np.ndarray, what: str) -> np.ndarray:
    """(n, H, W) / (n, H, W, C) / (n, C, H, W) with C in {1, 3} -> a (n, C, H, W) view."""
    if a.ndim == 3:
        return a.reshape(a.shape[0], 1, *a.shape[1:])
    first, last = a.shape[1] in (1, 3), a.shape[3] in (1, 3)
    if first:  # our own convention wins when both readings are possible, e.g. (n, 1, 5, 1)
        return a
    if last:
        return a.transpose(0, 3, 1, 2)
    raise DataError(
        f"{what} has shape {a.shape}; image arrays must be (n, H, W), (n, H, W, C) or (n, C, H, W) "
        f"with C = 1 (grayscale) or 3 (RGB)."
    )


def _float32(a: np.ndarray, scale: float = 1.0) -> np.ndarray:
    """Model-ready float32 copy, or ``a`` itself when it is a float32 memory map needing no change."""
    if isinstance(a, np.memmap) and a.dtype == np.float32 and scale == 1.0:
        return a
    if isinstance(a, np.memmap):
        logger.info("Loading a memory-mapped array of %.0f MiB into memory to convert it.", a.nbytes / 2**20)
    out = np.array(a, dtype=np.float32, order="C")  # one allocation (a copy: never alias the caller's array)
    if scale != 1.0:
        out /= np.float32(scale)  # in place: a second (n, ...) buffer costs more than the division
    return out


def resize_images(x: np.ndarray, channels: int | None, hw: tuple[int, int] | None, levels: int | None) -> np.ndarray:
    """Convert (n, C, H, W) images in [0, 1] to ``channels`` and ``hw`` (None: keep).

    RGB -> L uses Pillow's luma weights; resizing is bilinear with antialiasing. Resized values are
    rounded back onto the ``levels`` grid so that discrete likelihoods stay honest.
    """
    n, c, h, w = x.shape
    changed = False
    if channels is not None and channels != c:
        x = np.asarray(x, dtype=np.float32)
        if channels == 3:
            x = np.repeat(x, 3, axis=1)
        else:
            x = np.einsum("nchw,c->nhw", x, _LUMA)[:, None]
        changed = True
    if hw is not None and tuple(hw) != (h, w):
        t = torch.as_tensor(np.ascontiguousarray(x, dtype=np.float32))
        t = torch.nn.functional.interpolate(t, size=tuple(hw), mode="bilinear", antialias=True, align_corners=False)
        x = t.clamp_(0, 1).numpy()
        changed = True
    if changed:
        logger.info("Converted images of shape %s to %s.", (c, h, w), tuple(x.shape[1:]))
        if levels is not None:
            x = np.round(x * (levels - 1)) / np.float32(levels - 1)
        x = np.ascontiguousarray(x, dtype=np.float32)
    return x


#: Vector data with values beyond this magnitude is almost surely unscaled (raw counts, ids, timestamps).
UNSCALED_MAGNITUDE = 1e6


def _warn_unscaled(what: str, lo: float, hi: float, dtype: np.dtype, data_spec) -> None:
    """Warn, naming the data and its range, when new training vectors are far from unit scale."""
    big = max(abs(lo), abs(hi))
    if data_spec is not None or not big > UNSCALED_MAGNITUDE:
        return
    exact = ""
    if dtype.kind in "iu" and big > 2**24:
        exact = " Integers above 2**24 are not even exact in float32, the precision vaekit computes in."
    logger.warning(
        "%s has values in [%.4g, %.4g]; a VAE fitted to data of this scale reaches losses of order %.1e and learns "
        "little. Standardise the features first ((x - mean) / std), or load them as a table (.csv), which vaekit "
        "standardises.%s", what, lo, hi, big**2, exact,
    )


def prepare_array(
    raw: np.ndarray,
    what: str,
    *,
    kind: str | None = None,
    data_spec: DataSpec | None = None,
    channels: int | None = None,
    hw: tuple[int, int] | None = None,
) -> tuple[np.ndarray, dict]:
    """Turn a raw numeric array into model-ready float32 examples plus the spec fields they imply.

    Parameters
    ----------
    raw : ndarray of shape (n, d), (n, H, W), (n, H, W, C) or (n, C, H, W)
        Integer images are taken as 8-bit (0..255, divided by 255); float images must lie in [0, 1];
        2-D arrays are vectors taken as they are. May be a memory map: a float32 one that needs no
        change is returned as it is, so it streams.
    what : str
        How to name the array in error messages (``"Array 'x' of data.npz"``).
    kind : {"image", "array"} or None
        Force a reading; None picks "array" for 2-D and "image" for 3-D/4-D input.
    data_spec : DataSpec or None
        Make the examples match this spec (reshape flat input, convert channels, resize, check features).
    channels, hw : int or None, (int, int) or None
        Image channels / size to convert to (ignored when ``data_spec`` is given).

    Returns
    -------
    x : ndarray of shape (n, *shape), float32 (or a memory map)
    fields : dict
        ``kind``, ``shape``, ``levels`` and ``image_mode`` for a :class:`DataSpec`.
    """
    a = raw
    if not isinstance(a, np.ndarray):
        a = np.asarray(a)
    if a.dtype.kind not in "biuf":
        raise DataError(f"{what} has dtype {a.dtype}; expected numbers (uint8 or float images, float vectors).")
    if a.ndim < 2 or a.ndim > 4:
        raise DataError(
            f"{what} has shape {a.shape}; expected (n, features) vectors or images of shape (n, H, W), "
            f"(n, H, W, C) or (n, C, H, W) with C = 1 or 3."
        )
    if a.size == 0:
        raise DataError(f"{what} is empty (shape {a.shape}).")
    n = a.shape[0]
    if data_spec is not None:
        if data_spec.kind == "table":
            raise DataError(
                f"{what} is a plain array, but the model was trained on a table with columns "
                f"{', '.join(data_spec.numeric_columns + data_spec.categorical_columns)}; pass a pandas "
                f"DataFrame or a .csv/.parquet file with those columns."
            )
        kind = data_spec.kind
        expected = int(np.prod(data_spec.shape))
        if kind == "array":
            a = a.reshape(n, -1)
            if a.shape[1] != expected:
                raise DataError(f"{what} has {a.shape[1]} features, but the model expects {expected}.")
        elif a.ndim == 2:
            if a.shape[1] != expected:
                raise DataError(
                    f"{what} has {a.shape[1]} features, but the model expects images of shape "
                    f"{tuple(data_spec.shape)} ({expected} values)."
                )
            a = a.reshape(n, *data_spec.shape)
        channels, hw = data_spec.shape[0], tuple(data_spec.shape[1:])
    if kind is None:
        kind = "array" if a.ndim == 2 else "image"

    if kind == "array":
        if data_spec is None and (channels is not None or hw is not None):
            raise DataError(f"{what} holds vectors of shape {a.shape}; image_size and mode apply to images only.")
        a = a.reshape(n, -1)
        lo, hi, binary = _scan(a, what)
        _warn_unscaled(what, lo, hi, a.dtype, data_spec)
        spec_levels = data_spec.levels if data_spec is not None else None
        fields = {"kind": "array", "shape": (a.shape[1],), "levels": None, "image_mode": None}
        if a.dtype == np.bool_:
            fields |= {"levels": 2, "reading": "binary (bool)"}
        elif a.dtype.kind in "iu" and binary and hi == 1 and spec_levels in (None, 2):
            fields |= {"levels": 2, "reading": "binary (integer values 0/1)"}
        return _float32(a), fields

    if a.ndim == 2:
        raise DataError(f"{what} has shape {a.shape}; images need (n, H, W), (n, H, W, C) or (n, C, H, W).")
    a = _to_channels_first(a, what)
    lo, hi, binary = _scan(a, what)
    if a.dtype == np.bool_:
        x, levels, reading = _float32(a), 2, "binary (bool)"
    elif a.dtype.kind in "iu":
        scale, levels, reading = _integer_reading(lo, hi, binary, what, data_spec.levels if data_spec else None)
        x = _float32(a, scale)
    else:
        if lo < 0 or hi > 1:
            raise DataError(
                f"{what} holds floats in [{lo:.4g}, {hi:.4g}]; image arrays must be uint8 in 0..255 or floats "
                f"in [0, 1]. Divide by 255 first, or reshape to (n, features) to use them as plain vectors."
            )
        x, levels = _float32(a), (2 if binary else None)
        reading = "binary (float values 0/1)" if binary else "floats in [0, 1]"
    x = resize_images(x, channels, hw, levels)
    c = x.shape[1]
    return x, {"kind": "image", "shape": tuple(x.shape[1:]), "levels": levels, "image_mode": "L" if c == 1 else "RGB",
               "reading": reading}


def as_numpy(x: Any) -> np.ndarray:
    """numpy view of a numpy array, torch tensor or nested list (tensors are detached and moved to CPU)."""
    if isinstance(x, torch.Tensor):
        return x.detach().cpu().numpy()
    if isinstance(x, np.ndarray):
        return x
    return np.asarray(x)


# ---------------------------------------------------------------------------- labels
def encode_labels(
    values: Any, what: str, *, known: tuple[str, ...] = (), keep_ints: bool = False
) -> tuple[np.ndarray, tuple[str, ...]]:
    """Map raw labels to ``int64`` class indices and return them with the class names.

    Parameters
    ----------
    values : array-like of shape (n,)
    what : str
        How to name the labels in error messages.
    known : tuple of str
        Class names a model was trained with; values are matched by their text and unknown ones rejected.
    keep_ints : bool
        Keep non-negative integer labels as they are (names ``"0"`` .. ``str(max)``) instead of
        numbering the distinct values in sorted order.
    """
    v = as_numpy(values)
    if v.ndim != 1:
        raise DataError(f"{what} must be one label per example (shape (n,)); got shape {v.shape}.")
    if v.dtype.kind == "f" and not np.isfinite(v).all():
        first = int(np.argmax(~np.isfinite(v)))
        raise DataError(f"{what} has a missing or infinite label in row {first + 1}.")
    if known:
        lookup = {name: i for i, name in enumerate(known)}
        text = [_label_text(u) for u in v.tolist()]
        out = np.empty(len(text), dtype=np.int64)
        for i, t in enumerate(text):
            j = lookup.get(t)
            if j is None:
                raise DataError(
                    f"{what} has label {t!r} in row {i + 1}, which the model was not trained on; "
                    f"known labels: {', '.join(known)}."
                )
            out[i] = j
        return out, tuple(known)
    is_int = v.dtype.kind in "iu" or (v.dtype.kind == "f" and bool(np.all(v == np.round(v))))
    if keep_ints and is_int and v.size and v.min() >= 0:
        y = v.astype(np.int64)
        return y, tuple(str(i) for i in range(int(y.max()) + 1))
    if v.dtype.kind in "biuf":
        uniq, y = np.unique(v, return_inverse=True)
        return y.astype(np.int64), tuple(_label_text(u) for u in uniq.tolist())
    text = np.array([str(u) for u in v.tolist()], dtype=object)
    uniq, y = np.unique(text, return_inverse=True)
    return y.astype(np.int64), tuple(str(u) for u in uniq.tolist())


def _label_text(u: Any) -> str:
    # 3.0 read back from a float column is the class "3", as it was written.
    if isinstance(u, float) and u.is_integer():
        return str(int(u))
    return str(u)


# ---------------------------------------------------------------------------- splits and results
def builtin_split(n: int, split: str) -> np.ndarray:
    """Indices of ``split`` for a builtin without an official test set (already in a seeded shuffled order).

    "train" is the first 90%, "test" the last ``round(0.1 * n)``, "all" everything.

    >>> builtin_split(10, "train"), builtin_split(10, "test")
    (array([0, 1, 2, 3, 4, 5, 6, 7, 8]), array([9]))
    """
    n_test = int(round(0.1 * n))
    bounds = {"train": (0, n - n_test), "test": (n - n_test, n), "all": (0, n)}[split]
    return np.arange(*bounds)


def no_split_check(split: str, name: str) -> None:
    """Sources without an official split give all their examples for "train" and "all"."""
    if split == "test":
        raise DataError(
            f"{name} has no separate test split; load it whole (split='train' or 'all') and hold out "
            f"examples with vaekit.datasets.train_test_split."
        )


def make_dataset(
    x: np.ndarray | torch.Tensor,
    y: np.ndarray | None,
    *,
    fields: dict,
    name: str,
    description: str = "",
    ids: list[str] | None = None,
    label_names: tuple[str, ...] = (),
    data_spec: DataSpec | None = None,
) -> Dataset:
    """Wrap model-ready examples in a :class:`Dataset` with an inferred spec, or with ``data_spec``."""
    fields = dict(fields)
    reading = fields.pop("reading", None)  # how raw values were read (binary? 8-bit?): stated, never silent
    if data_spec is not None:
        spec = dataclasses.replace(data_spec, name=name)
        if y is not None and label_names and not data_spec.label_names:
            spec = dataclasses.replace(spec, label_names=tuple(label_names))  # the data's own classes
    else:
        spec = DataSpec(name=name, label_names=tuple(label_names), **fields)
    if isinstance(x, np.ndarray) and not isinstance(x, np.memmap):
        x = torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32))
    if not description:
        classes = f", {len(spec.label_names)} classes" if y is not None and spec.label_names else ""
        values = f", read as {reading}" if reading else ""
        description = f"{name}: {len(x):,} {spec.kind} examples of shape {tuple(spec.shape)}{classes}{values}"
    if y is not None:
        y = torch.from_numpy(np.ascontiguousarray(y, dtype=np.int64))
    return Dataset(x, y, spec, description, ids)
