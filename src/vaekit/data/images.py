"""Folders of image files: flat (no labels) or one sub-folder per class (labels = sorted folder names)."""

from __future__ import annotations

import collections
import contextlib
import logging
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from ..config import DataSpec
from ..errors import DataError
from .sources import positions
from ._common import encode_labels, make_dataset
from ._dataset import Dataset

__all__ = ["IMAGE_SUFFIXES", "MAX_IMAGE_PIXELS", "LAZY_FOLDER_BYTES", "ImageFiles", "load_image_folder", "open_image", "pil_to_array"]

#: decoded size above which a folder is read lazily (batch by batch) rather than into memory
LAZY_FOLDER_BYTES = 1 << 30

logger = logging.getLogger(__name__)

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff")
_GRAY_MODES = {"1", "L", "LA", "I", "I;16", "I;16B", "I;16L", "I;16N", "F"}
#: Largest image (width x height) decoded from a file (64 Mpx). A few kilobytes of PNG can declare gigapixels;
#: the size is read from the header and checked before any pixel is decoded.
MAX_IMAGE_PIXELS = 1 << 26


@contextlib.contextmanager
def open_image(path: Path | str, max_pixels: int | None = None):
    """``PIL.Image.open(path)``, refusing images above ``max_pixels`` (default :data:`MAX_IMAGE_PIXELS`).

    Raises
    ------
    DataError
        Naming the file and its size, before decoding (decompression bombs included).
    """
    from PIL import Image

    limit = MAX_IMAGE_PIXELS if max_pixels is None else max_pixels
    try:
        im = Image.open(path)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as e:  # the warning, when made an error
        raise DataError(f"Image file '{path}' is too large to decode safely ({e}); vaekit reads images of at most "
                        f"{limit:,} pixels.") from e
    with im:
        w, h = im.size
        if w * h > limit:
            raise DataError(f"Image file '{path}' is {w}x{h} pixels ({w * h / 1e6:,.0f} Mpx); vaekit reads images of "
                            f"at most {limit:,} pixels ({limit / 2**20:g} Mpx). Shrink it first.")
        yield im


def _images_in(folder: Path) -> list[Path]:
    return sorted(
        p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES and not p.name.startswith(".")
    )


def _read_error(path: Path, e: Exception) -> DataError:
    return DataError(f"Image file '{path}' could not be read: {e}")


def pil_to_array(image: Any, mode: str, hw: tuple[int, int]) -> np.ndarray:
    """A Pillow image as uint8 ``(H, W, C)`` in ``mode`` ("L" or "RGB"), resized to ``hw`` = (height, width)."""
    from PIL import Image

    image = image.convert(mode)
    if image.size != (hw[1], hw[0]):  # Pillow sizes are (width, height)
        image = image.resize((hw[1], hw[0]), Image.Resampling.BILINEAR)
    arr = np.asarray(image, dtype=np.uint8)
    return arr[:, :, None] if arr.ndim == 2 else arr


def load_image_folder(
    folder: Path,
    *,
    name: str,
    mode: str | None = None,
    hw: tuple[int, int] | None = None,
    data_spec: DataSpec | None = None,
    lazy: bool | None = None,
) -> Dataset:
    """Read every image in ``folder`` (and its class sub-folders) as (C, H, W) values in [0, 1].

    ``lazy=True`` keeps the files on disk and decodes them batch by batch (:class:`vaekit.data.sources.ImageFiles`;
    training reads them in DataLoader workers); None decides by size: lazily above
    ``LAZY_FOLDER_BYTES`` (1 GiB of float32 values), so a folder larger than memory still trains.

    Size defaults to the most common one in the folder (others are resized, with a warning); mode to
    "L" when every image is grayscale, else "RGB". ``ids`` are the paths relative to ``folder``.
    """
    files: list[Path] = _images_in(folder)
    classes: list[str] = []
    labelled: list[tuple[Path, str]] = []
    for sub in sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith(".")):
        inside = _images_in(sub)
        if inside:
            classes.append(sub.name)
            labelled += [(p, sub.name) for p in inside]
    if files and labelled:
        raise DataError(
            f"Folder '{name}' has images both at its top level and in sub-folders ({', '.join(classes)}); "
            f"put every image in a class sub-folder, or none."
        )
    if not files and not labelled:
        raise DataError(
            f"Folder '{name}' contains no images ({', '.join(IMAGE_SUFFIXES)}) and no IDX files; expected "
            f"images at its top level or one sub-folder of images per class."
        )
    if labelled:
        files = [p for p, _ in labelled]

    # Pass 1: headers only (Pillow decodes lazily), to choose one size and mode for all.
    sizes, gray = [], True
    for p in files:
        try:
            with open_image(p) as im:
                sizes.append(im.size)
                gray = gray and im.mode in _GRAY_MODES
        except DataError:
            raise
        except Exception as e:  # Pillow raises many types (UnidentifiedImageError, OSError, SyntaxError, ...)
            raise _read_error(p, e) from e
    if data_spec is not None and data_spec.kind == "image":
        mode = data_spec.image_mode or ("L" if data_spec.shape[0] == 1 else "RGB")
        hw = (data_spec.shape[1], data_spec.shape[2])
    elif data_spec is not None:
        raise DataError(f"Folder '{name}' holds images, but the model was trained on {data_spec.kind} data of shape {data_spec.shape}.")
    if hw is None:
        counts = collections.Counter(sizes)
        (w, h), _ = counts.most_common(1)[0]
        hw = (h, w)
        if len(counts) > 1:
            logger.warning(
                "Images in %s have %d different sizes; resizing all to %dx%d (height x width), the most common. "
                "Pass image_size to choose another.", name, len(counts), h, w,
            )
    mode = mode or ("L" if gray else "RGB")

    channels = 1 if mode == "L" else 3
    if lazy or (lazy is None and len(files) * channels * hw[0] * hw[1] * 4 > LAZY_FOLDER_BYTES):
        x = ImageFiles(files, mode, hw)
        return _folder_dataset(x, folder, files, labelled, classes, name, mode, hw, data_spec)
    # Pass 2: decode, convert and resize each image into one preallocated array.
    out = np.empty((len(files), hw[0], hw[1], 1 if mode == "L" else 3), dtype=np.uint8)
    for i, p in enumerate(files):
        try:
            with open_image(p) as im:
                out[i] = pil_to_array(im, mode, hw)
        except DataError:
            raise
        except Exception as e:
            raise _read_error(p, e) from e
    x = out.transpose(0, 3, 1, 2).astype(np.float32) / np.float32(255)
    return _folder_dataset(x, folder, files, labelled, classes, name, mode, hw, data_spec)


class ImageFiles:
    """Image files decoded when read: examples (C, H, W) float32 in [0, 1] at one mode and size.

    Parameters
    ----------
    paths : sequence of path
    mode : {"L", "RGB"}
    hw : (height, width)
        Every image is converted to ``mode`` and resized to ``hw`` as :func:`vaekit.data.images.load_image_folder`
        does for folders it reads into memory.
    """

    def __init__(self, paths: Sequence[Path | str], mode: str, hw: tuple[int, int]):
        self.paths = [Path(p) for p in paths]
        self.mode, self.hw = mode, tuple(hw)
        self.shape = (len(self.paths), 1 if mode == "L" else 3, *self.hw)
        self.dtype = np.dtype(np.float32)
        self.decodes = True  # reading costs decoding: training reads it in DataLoader workers

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, index) -> np.ndarray:
        pos = positions(index, len(self))
        out = np.empty((len(pos), self.hw[0], self.hw[1], self.shape[1]), dtype=np.uint8)
        for i, p in enumerate(pos):
            path = self.paths[int(p)]
            try:
                with open_image(path) as im:
                    out[i] = pil_to_array(im, self.mode, self.hw)
            except DataError:
                raise
            except Exception as e:  # Pillow raises many types (truncated files: OSError)
                raise _read_error(path, e) from e
        return out.transpose(0, 3, 1, 2).astype(np.float32) / np.float32(255)

    def __repr__(self) -> str:
        return f"ImageFiles({len(self)} files, {self.mode} {self.hw[0]}x{self.hw[1]})"


def _folder_dataset(x, folder, files, labelled, classes, name, mode, hw, data_spec) -> Dataset:
    y, label_names = None, ()
    if labelled:
        known = data_spec.label_names if data_spec is not None else ()
        y, label_names = encode_labels(
            np.array([c for _, c in labelled], dtype=object), f"Class folders of '{name}'", known=known
        )
    fields = {"kind": "image", "shape": tuple(x.shape[1:]), "levels": 256, "image_mode": mode}
    return make_dataset(
        x, y, fields=fields, name=name, label_names=label_names, data_spec=data_spec,
        ids=[p.relative_to(folder).as_posix() for p in files],
        description=f"{name}: {len(x):,} images, {mode} {hw[0]}x{hw[1]}"
        + (f", {len(classes)} classes" if classes else ""),
    )
