"""The in-memory (or memory-mapped) collection of examples every vaekit entry point consumes."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Iterator

import numpy as np
import torch

from ..config import DataSpec
from ..errors import DataError

__all__ = ["Dataset"]


@dataclass(eq=False)
class Dataset:
    """Examples plus what they are.

    Parameters
    ----------
    x : Tensor of shape (n, *shape), float32, or a numpy array / memmap of that shape
        Model-ready values (images in [0, 1]; tables standardised). A numpy memmap is read batch by
        batch, so data larger than RAM streams.
    y : Tensor of shape (n,), int64, or None
        Integer labels, if known.
    spec : DataSpec
        Kind, shape and preprocessing of the data (saved into every run trained on it).
    description : str
        One line for humans.
    ids : list of str or None
        A name per example (file path, row id) for outputs that point back to inputs.

    Examples
    --------
    >>> import torch, vaekit
    >>> from vaekit.config import DataSpec
    >>> d = Dataset(torch.rand(10, 3), None, DataSpec(kind="array", shape=(3,)))
    >>> len(d), d.shape
    (10, (3,))
    """

    x: torch.Tensor | np.ndarray
    y: torch.Tensor | None
    spec: DataSpec
    description: str = ""
    ids: list[str] | None = None

    def __post_init__(self):
        if isinstance(self.x, np.ndarray) and not isinstance(self.x, np.memmap):
            self.x = torch.as_tensor(np.ascontiguousarray(self.x, dtype=np.float32))
        if tuple(self.x.shape[1:]) != tuple(self.spec.shape):
            raise DataError(
                f"Dataset '{self.spec.name}' has examples of shape {tuple(self.x.shape[1:])}, "
                f"but its spec says {tuple(self.spec.shape)}."
            )
        if self.y is not None:
            self.y = torch.as_tensor(np.asarray(self.y), dtype=torch.int64)
            if self.y.shape != (len(self),):
                raise DataError(
                    f"Dataset '{self.spec.name}' has {len(self)} examples but {tuple(self.y.shape)} labels."
                )
        if self.ids is not None and len(self.ids) != len(self):
            raise DataError(f"Dataset '{self.spec.name}' has {len(self)} examples but {len(self.ids)} ids.")

    # ------------------------------------------------------------------ basics
    def __len__(self) -> int:
        return int(self.x.shape[0])

    def __repr__(self) -> str:
        labels = "" if self.y is None else f", {int(self.y.max()) + 1} classes"
        return f"Dataset(name={self.name!r}, kind={self.kind!r}, n={len(self)}, shape={self.shape}{labels})"

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def kind(self) -> str:
        return self.spec.kind

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(self.spec.shape)

    @property
    def in_memory(self) -> bool:
        """False when ``x`` is a memory map read batch by batch."""
        return isinstance(self.x, torch.Tensor)

    # ------------------------------------------------------------------ access
    def get(self, index) -> torch.Tensor:
        """Return examples ``index`` (int array, slice or tensor) as a float32 tensor."""
        if self.in_memory:
            return self.x[index]
        if isinstance(index, torch.Tensor):
            index = index.numpy()
        if isinstance(index, np.ndarray):
            # memmap fancy indexing is fastest on sorted indices; restore the requested order afterwards.
            order = np.argsort(index, kind="stable")
            out = np.empty((len(index), *self.shape), dtype=np.float32)
            out[order] = self.x[index[order]]
            return torch.from_numpy(out)
        return torch.from_numpy(np.asarray(self.x[index], dtype=np.float32))

    def batches(
        self,
        batch_size: int,
        *,
        shuffle: bool = False,
        generator: torch.Generator | None = None,
        drop_last: bool = False,
    ) -> Iterator[torch.Tensor]:
        """Yield batches of x by tensor indexing (no DataLoader overhead).

        Parameters
        ----------
        batch_size : int
        shuffle : bool
            Visit examples in a random order drawn from ``generator``.
        generator : torch.Generator or None
        drop_last : bool
            Skip a final partial batch.
        """
        n = len(self)
        order = torch.randperm(n, generator=generator) if shuffle else None
        stop = n - n % batch_size if drop_last else n
        for start in range(0, stop, batch_size):
            if order is None:
                yield self.get(slice(start, min(start + batch_size, n)))
            else:
                yield self.get(order[start : start + batch_size])

    def subset(self, index) -> "Dataset":
        """A new Dataset with examples ``index`` (loaded into memory)."""
        index = torch.as_tensor(np.asarray(index), dtype=torch.int64)
        return replace(
            self,
            x=self.get(index),
            y=None if self.y is None else self.y[index],
            ids=None if self.ids is None else [self.ids[i] for i in index.tolist()],
        )

    def split(self, fraction: float, *, seed: int = 0) -> tuple["Dataset", "Dataset"]:
        """Seeded random split into ``(rest, held_out)`` with ``round(fraction * n)`` held out.

        Examples
        --------
        >>> import torch
        >>> from vaekit.config import DataSpec
        >>> d = Dataset(torch.rand(10, 3), None, DataSpec(kind="array", shape=(3,)))
        >>> [len(p) for p in d.split(0.2, seed=0)]
        [8, 2]
        """
        n = len(self)
        n_out = int(round(fraction * n))
        if fraction > 0 and (n_out == 0 or n_out == n):
            raise DataError(f"Cannot hold out {fraction:.0%} of dataset '{self.name}' with {n} examples.")
        perm = torch.randperm(n, generator=torch.Generator().manual_seed(seed))
        return self.subset(perm[n_out:].sort().values), self.subset(perm[:n_out].sort().values)
