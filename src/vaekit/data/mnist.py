"""The MNIST family: an IDX file reader, folders of IDX files, and checksummed downloads into a cache.

``mnist``, ``fashion-mnist`` and ``kmnist`` are fetched once (urllib only) into
``$VAEKIT_DATA/<name>/`` (default ``~/.cache/vaekit/<name>/``) and verified against the MD5 checksums
published with them (the ones torchvision lists). Files a user puts there by hand, gzipped or not,
are used as they are.
"""

from __future__ import annotations

import gzip
import hashlib
import logging
import os
import shutil
import urllib.request
import zlib
from pathlib import Path

import numpy as np

from ..config import DataSpec
from ..errors import DataError
from ..io import atomic_write
from ._common import make_dataset, prepare_array
from ._dataset import Dataset

__all__ = ["read_idx", "cache_dir", "load_idx_folder", "load_mnist_family", "MNIST_FAMILY"]

logger = logging.getLogger(__name__)

_DIGITS = tuple(str(i) for i in range(10))
_FILES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")

#: name -> mirrors, {file: md5 of the published .gz}, class names, one line for humans.
MNIST_FAMILY: dict[str, dict] = {
    "mnist": {
        "mirrors": ("https://ossci-datasets.s3.amazonaws.com/mnist/", "http://yann.lecun.com/exdb/mnist/"),
        "md5": {
            "train-images-idx3-ubyte.gz": "f68b3c2dcbeaaa9fbdd348bbdeb94873",
            "train-labels-idx1-ubyte.gz": "d53e105ee54ea40749a09fcbcd1e9432",
            "t10k-images-idx3-ubyte.gz": "9fb629c4189551a2d022fa330f9573f3",
            "t10k-labels-idx1-ubyte.gz": "ec29112dd5afa0611ce80d1b7f02629c",
        },
        "label_names": _DIGITS,
        "about": "70,000 handwritten digits (LeCun et al. 1998)",
    },
    "fashion-mnist": {
        "mirrors": ("http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",),
        "md5": {
            "train-images-idx3-ubyte.gz": "8d4fb7e6c68d591d4c3dfef9ec88bf0d",
            "train-labels-idx1-ubyte.gz": "25c81989df183df01b3e8a0aad5dffbe",
            "t10k-images-idx3-ubyte.gz": "bef4ecab320f06d8554ea6380940ec79",
            "t10k-labels-idx1-ubyte.gz": "bb300cfdad3c16e7a12a480ee83cd310",
        },
        "label_names": (
            "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
        ),
        "about": "70,000 Zalando clothing images (Xiao et al. 2017)",
    },
    "kmnist": {
        "mirrors": ("http://codh.rois.ac.jp/kmnist/dataset/kmnist/",),
        "md5": {
            "train-images-idx3-ubyte.gz": "bdb82020997e1d708af4cf47b453dcf7",
            "train-labels-idx1-ubyte.gz": "e144d726b3acfaa3e44228e80efcd344",
            "t10k-images-idx3-ubyte.gz": "5c965bf0a639b31b8f53240b1b52f4d7",
            "t10k-labels-idx1-ubyte.gz": "7320c461ea6c1c855c0b718fb2a4b134",
        },
        "label_names": ("o", "ki", "su", "tsu", "na", "ha", "ma", "ya", "re", "wo"),
        "about": "70,000 Kuzushiji (cursive Japanese) characters (Clanuwat et al. 2018)",
    },
}

# IDX type codes (http://yann.lecun.com/exdb/mnist/, "THE IDX FILE FORMAT"); data are big-endian.
_IDX_DTYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def cache_dir() -> Path:
    """Folder where downloaded data sets live: ``$VAEKIT_DATA``, else ``~/.cache/vaekit``.

    Examples
    --------
    >>> from unittest import mock
    >>> with mock.patch.dict("os.environ", {"VAEKIT_DATA": "/tmp/vaekit-data"}):
    ...     print(cache_dir())
    /tmp/vaekit-data
    """
    return Path(os.environ.get("VAEKIT_DATA") or Path("~/.cache/vaekit")).expanduser()


def read_idx(path: str | os.PathLike) -> np.ndarray:
    """Read an IDX file (the MNIST format), gzipped or raw.

    Parameters
    ----------
    path : str or PathLike
        File to read; gzip is recognised by its magic bytes, whatever the name.

    Returns
    -------
    ndarray of shape given by the header, in native byte order

    Raises
    ------
    DataError
        The file is not IDX (bad magic number, unknown type code), or is truncated or corrupt.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "labels-idx1-ubyte"
    >>> _ = p.write_bytes(bytes([0, 0, 8, 1, 0, 0, 0, 3, 7, 2, 1]))
    >>> read_idx(p)
    array([7, 2, 1], dtype=uint8)
    """
    path = Path(path)
    try:
        with open(path, "rb") as f:
            data = f.read()
        if data[:2] == b"\x1f\x8b":
            data = gzip.decompress(data)
    except (OSError, EOFError, zlib.error) as e:
        raise DataError(f"IDX file '{path}' could not be read (corrupt or truncated gzip?): {e}") from e
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] not in _IDX_DTYPES or data[3] == 0:
        raise DataError(
            f"IDX file '{path}' has a bad header {data[:4].hex() or '(empty)'}: expected 00 00, a type code "
            f"(08 for uint8) and the number of dimensions. Is it really an IDX file?"
        )
    ndim = data[3]
    header = 4 + 4 * ndim
    if len(data) < header:
        raise DataError(f"IDX file '{path}' is truncated: its header promises {ndim} dimensions but the file ends.")
    dims = tuple(int(d) for d in np.frombuffer(data, dtype=">u4", count=ndim, offset=4))
    dtype = np.dtype(_IDX_DTYPES[data[2]])
    expected = int(np.prod(dims)) * dtype.itemsize
    if len(data) - header != expected:
        state = "truncated" if len(data) - header < expected else "longer than its header says"
        raise DataError(
            f"IDX file '{path}' is {state}: shape {dims} needs {expected:,} data bytes, found {len(data) - header:,}."
        )
    return np.frombuffer(data, dtype=dtype, offset=header).reshape(dims).astype(dtype.newbyteorder("="))


def _find(folder: Path, stem: str) -> Path | None:
    # Also accept the "train-images.idx3-ubyte" spelling some re-distributions use.
    for s in (stem, stem.replace("-idx", ".idx")):
        for name in (s, s + ".gz"):
            if (folder / name).is_file():
                return folder / name
    return None


def is_idx_folder(folder: Path) -> bool:
    """True if ``folder`` holds at least one of the four standard MNIST-style IDX files."""
    return any(_find(folder, stem) is not None for stem in _FILES)


def _needed(split: str) -> tuple[str, ...]:
    return {"train": _FILES[:2], "test": _FILES[2:], "all": _FILES}[split]


def _read_part(folder: Path, prefix: str) -> tuple[np.ndarray, np.ndarray]:
    images_path, labels_path = _find(folder, f"{prefix}-images-idx3-ubyte"), _find(folder, f"{prefix}-labels-idx1-ubyte")
    if images_path is None or labels_path is None:
        raise DataError(
            f"Folder '{folder}' lacks {prefix}-images-idx3-ubyte[.gz] or {prefix}-labels-idx1-ubyte[.gz]; "
            f"an IDX folder needs both for the '{'train' if prefix == 'train' else 'test'}' split."
        )
    images, labels = read_idx(images_path), read_idx(labels_path)
    if images.ndim != 3 or images.dtype != np.uint8:
        raise DataError(f"IDX file '{images_path}' holds {images.dtype} of shape {images.shape}; expected uint8 (n, H, W) images.")
    if labels.ndim != 1:
        raise DataError(f"IDX file '{labels_path}' holds shape {labels.shape}; expected one label per image.")
    if len(labels) != len(images):
        raise DataError(f"'{images_path}' has {len(images):,} images but '{labels_path}' has {len(labels):,} labels.")
    return images, labels


def load_idx_folder(
    folder: str | os.PathLike,
    *,
    split: str = "train",
    name: str | None = None,
    label_names: tuple[str, ...] = _DIGITS,
    data_spec: DataSpec | None = None,
    channels: int | None = None,
    hw: tuple[int, int] | None = None,
) -> Dataset:
    """Load a folder of IDX files (``train-images-idx3-ubyte[.gz]``, ``t10k-...``) as images in [0, 1].

    ``split`` "train" reads the ``train-*`` files, "test" the ``t10k-*`` files, "all" both.
    """
    folder = Path(folder)
    parts = [_read_part(folder, p) for p in {"train": ("train",), "test": ("t10k",), "all": ("train", "t10k")}[split]]
    images = parts[0][0] if len(parts) == 1 else np.concatenate([p[0] for p in parts])
    labels = parts[0][1] if len(parts) == 1 else np.concatenate([p[1] for p in parts])
    name = name or str(folder)
    x, fields = prepare_array(images, f"IDX images in '{folder}'", kind="image", data_spec=data_spec, channels=channels, hw=hw)
    y = labels.astype(np.int64)
    if y.min() < 0:
        raise DataError(f"IDX labels in '{folder}' must be >= 0; found {int(y.min())}.")
    if data_spec is None and int(y.max()) >= len(label_names):
        label_names = tuple(str(i) for i in range(int(y.max()) + 1))
    return make_dataset(
        x, y, fields=fields, name=name, label_names=label_names, data_spec=data_spec,
        description=f"{name} ({split}): {len(x):,} images of shape {tuple(x.shape[1:])}",
    )


def _fetch(url: str, dest: Path) -> None:
    """Download ``url`` to ``dest`` (atomically: a failed download leaves no partial file)."""
    logger.info("Downloading %s", url)
    with urllib.request.urlopen(url, timeout=60) as response, atomic_write(dest, "wb") as f:
        shutil.copyfileobj(response, f, 1 << 20)


def _md5(path: Path) -> str:
    h = hashlib.md5(usedforsecurity=False)  # the published checksums are MD5: integrity, not security
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _download(name: str, folder: Path, stems: tuple[str, ...]) -> None:
    """Fetch the missing ``stems`` of data set ``name`` into ``folder``, trying each mirror in turn."""
    info = MNIST_FAMILY[name]
    missing = [s + ".gz" for s in stems if _find(folder, s) is None]
    for file in missing:
        errors = []
        for mirror in info["mirrors"]:
            dest = folder / file
            try:
                folder.mkdir(parents=True, exist_ok=True)
                _fetch(mirror + file, dest)
            except OSError as e:
                errors.append(f"{mirror + file}: {e}")
                continue
            digest = _md5(dest)
            if digest == info["md5"][file]:
                break
            dest.unlink()
            errors.append(f"{mirror + file}: MD5 {digest} does not match the published {info['md5'][file]}")
        else:
            raise DataError(
                f"Could not download {name} ({'; '.join(errors)}). Download these files by hand from "
                f"{info['mirrors'][0]} and put them in {folder}{os.sep}: {', '.join(missing)}. "
                f"Gzipped or not, both work; VAEKIT_DATA sets another cache folder. Or load a local folder "
                f"of IDX files or an .npz file with x_train, y_train, x_test, y_test: "
                f"vaekit.datasets.load('path/to/{name}.npz')."
            )


def load_mnist_family(
    name: str,
    *,
    split: str = "train",
    data_spec: DataSpec | None = None,
    channels: int | None = None,
    hw: tuple[int, int] | None = None,
) -> Dataset:
    """Load ``mnist``, ``fashion-mnist`` or ``kmnist`` from the cache, downloading missing files first."""
    folder = cache_dir() / name
    _download(name, folder, _needed(split))
    return load_idx_folder(
        folder, split=split, name=name, label_names=MNIST_FAMILY[name]["label_names"],
        data_spec=data_spec, channels=channels, hw=hw,
    )
