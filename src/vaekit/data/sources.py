"""Example sources that are not in memory: read batch by batch, so data larger than RAM streams.

A source is what a :class:`~vaekit.data.Dataset` holds as ``x`` when the examples are not one tensor:
an object with ``shape`` (n, *example_shape), ``len()`` and ``source[index]`` (an int array or a slice)
returning float32 numpy examples. A numpy memory map is one, :class:`vaekit.data.images.ImageFiles`
decodes image files on demand, and :class:`Rows` is a view of some rows of another source (a split
keeps data out of memory).
Training reads them through DataLoader worker processes (``TrainConfig.num_workers``).
"""

from __future__ import annotations

import os

import numpy as np

__all__ = ["Rows", "take_rows", "positions", "read_rows"]


def positions(index, n: int) -> np.ndarray:
    """Row positions of ``index`` (an int, int array or slice) among ``n`` rows."""
    if isinstance(index, slice):
        return np.arange(n)[index]
    a = np.asarray(index)
    if a.ndim == 0:
        return a.reshape(1)
    return a.astype(np.int64)


def read_rows(source, index) -> np.ndarray:
    """Rows ``index`` (an int array in any order; negative rows count from the end) of ``source`` as
    float32, in the order asked for.

    The rows are read in file order (memory maps read fastest so; parquet row groups are each decoded
    once). A C-ordered memory map is read with ``os.pread`` on its file, not through the mapping: pages
    read through a mapping stay in this process's resident memory, while ``pread`` leaves them in the
    page cache only, so streaming a file larger than RAM keeps memory bounded.
    """
    index = np.asarray(index, dtype=np.int64)
    start = _file_position(source)
    if start is not None and len(index):
        n = source.shape[0]
        if index.min() < -n or index.max() >= n:
            bad = int(index.min() if index.min() < -n else index.max())
            raise IndexError(f"Row {bad} is out of range for {n:,} rows.")
        index = np.where(index < 0, index + n, index)  # numpy's meaning of negative rows
    order = np.argsort(index, kind="stable")
    in_order = index[order]
    if start is not None and len(index):
        rows = _pread_rows(source, in_order, start)
    else:
        rows = np.asarray(source[in_order], dtype=np.float32)
    if np.array_equal(order, np.arange(len(order))):
        return rows  # asked in file order already: no second copy
    out = np.empty_like(rows)
    out[order] = rows
    return out


def _file_position(a) -> int | None:
    """Byte position in its file of the first element of a C-ordered memory map (None: not one)."""
    buf = getattr(a, "_mmap", None)
    if not isinstance(a, np.memmap) or buf is None or not a.filename or not a.flags.c_contiguous:
        return None
    import mmap

    # numpy maps the file from the offset rounded down to the allocation granularity; a slice of a memory
    # map keeps the parent's ``offset``, so the position comes from the data pointer
    base = np.frombuffer(buf, dtype=np.uint8).__array_interface__["data"][0]
    aligned = a.offset - a.offset % mmap.ALLOCATIONGRANULARITY
    return aligned + (a.__array_interface__["data"][0] - base)


def _pread_rows(mm: np.memmap, index: np.ndarray, start: int) -> np.ndarray:
    row = int(np.prod(mm.shape[1:], dtype=np.int64)) * mm.dtype.itemsize
    out = np.empty((len(index), *mm.shape[1:]), dtype=mm.dtype)
    flat = out.reshape(len(index), -1).view(np.uint8).reshape(len(index), row)
    fd = os.open(mm.filename, os.O_RDONLY)
    try:
        # runs of consecutive rows are one read each
        breaks = np.flatnonzero(np.diff(index) != 1) + 1
        for run in np.split(np.arange(len(index)), breaks):
            first, count = int(index[run[0]]), len(run)
            want = count * row
            buf = os.pread(fd, want, start + first * row)
            if len(buf) != want:
                raise OSError(f"Short read from '{mm.filename}': the file is shorter than its header says.")
            flat[run[0] : run[0] + count] = np.frombuffer(buf, dtype=np.uint8).reshape(count, row)
    finally:
        os.close(fd)
    return out.astype(np.float32, copy=False)


class Rows:
    """Rows ``index`` of another source, without reading them (a lazy subset)."""

    def __init__(self, base, index: np.ndarray):
        self.base = base
        self.index = np.asarray(index, dtype=np.int64)
        self.shape = (len(self.index), *base.shape[1:])
        self.dtype = np.dtype(np.float32)
        self.decodes = getattr(base, "decodes", False)

    def __len__(self) -> int:
        return len(self.index)

    def __getitem__(self, index) -> np.ndarray:
        return read_rows(self.base, self.index[positions(index, len(self))])


def take_rows(source, index) -> Rows:
    """A lazy view of rows ``index`` of ``source`` (a view of a view reads the original directly)."""
    index = np.asarray(index, dtype=np.int64)
    if isinstance(source, Rows):
        return Rows(source.base, source.index[index])
    return Rows(source, index)
