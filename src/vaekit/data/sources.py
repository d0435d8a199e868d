"""Example sources that are not in memory: read batch by batch, so data larger than RAM streams.

A source is what a :class:`~vaekit.data.Dataset` holds as ``x`` when the examples are not one tensor:
an object with ``shape`` (n, *example_shape), ``len()`` and ``source[index]`` (an int array or a slice)
returning float32 numpy examples. A numpy memory map is one, :class:`vaekit.data.images.ImageFiles`
decodes image files on demand, and :class:`Rows` is a view of some rows of another source (a split
keeps data out of memory).
Training reads them through DataLoader worker processes (``TrainConfig.num_workers``).
"""

from __future__ import annotations

import numpy as np

__all__ = ["Rows", "take_rows", "positions"]


def positions(index, n: int) -> np.ndarray:
    """Row positions of ``index`` (an int, int array or slice) among ``n`` rows."""
    if isinstance(index, slice):
        return np.arange(n)[index]
    a = np.asarray(index)
    if a.ndim == 0:
        return a.reshape(1)
    return a.astype(np.int64)


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
        wanted = self.index[positions(index, len(self))]
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
