"""Example sources that are not in memory: read batch by batch, so data larger than RAM streams.

A source is what a :class:`~vaekit.data.Dataset` holds as ``x`` when the examples are not one tensor:
an object with ``shape`` (n, *example_shape), ``len()`` and ``source[index]`` (an int array or a slice)
returning float32 numpy examples. A numpy memory map is one; :class:`ImageFiles` decodes image files
on demand; :class:`Rows` is a view of some rows of another source (a split keeps data out of memory).
Training reads them through DataLoader worker processes (``TrainConfig.num_workers``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np

__all__ = ["ImageFiles", "Rows", "take_rows"]


def _positions(index, n: int) -> np.ndarray:
    if isinstance(index, slice):
        return np.arange(n)[index]
    a = np.asarray(index)
    if a.ndim == 0:
        return a.reshape(1)
    return a.astype(np.int64)


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

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, index) -> np.ndarray:
        from .images import open_image, pil_to_array

        pos = _positions(index, len(self))
        out = np.empty((len(pos), self.hw[0], self.hw[1], self.shape[1]), dtype=np.uint8)
        for i, p in enumerate(pos):
            with open_image(self.paths[int(p)]) as im:
                out[i] = pil_to_array(im, self.mode, self.hw)
        return out.transpose(0, 3, 1, 2).astype(np.float32) / np.float32(255)

    def __repr__(self) -> str:
        return f"ImageFiles({len(self)} files, {self.mode} {self.hw[0]}x{self.hw[1]})"


class Rows:
    """Rows ``index`` of another source, without reading them (a lazy subset)."""

    def __init__(self, base, index: np.ndarray):
        self.base = base
        self.index = np.asarray(index, dtype=np.int64)
        self.shape = (len(self.index), *base.shape[1:])
        self.dtype = np.dtype(np.float32)

    def __len__(self) -> int:
        return len(self.index)

    def __getitem__(self, index) -> np.ndarray:
        wanted = self.index[_positions(index, len(self))]
        order = np.argsort(wanted, kind="stable")  # memory maps read fastest in file order
        out = np.empty((len(wanted), *self.shape[1:]), dtype=np.float32)
        out[order] = np.asarray(self.base[wanted[order]], dtype=np.float32)
        return out


def take_rows(source, index) -> Rows:
    """A lazy view of rows ``index`` of ``source`` (a view of a view reads the original directly)."""
    index = np.asarray(index, dtype=np.int64)
    if isinstance(source, Rows):
        return Rows(source.base, source.index[index])
    return Rows(source, index)
