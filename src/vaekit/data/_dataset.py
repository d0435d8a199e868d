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
    x : Tensor of shape (n, *shape), float32, a numpy array / memmap of that shape, or a source
        Model-ready values (images in [0, 1]; tables standardised). A numpy memmap or a lazy source
        (:mod:`vaekit.data.sources`: image files decoded on demand) is read batch by batch, so data
        larger than RAM streams.
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
        if self.y is not None and self.n_labelled < len(self):
            labels += f", {self.n_labelled:,} labelled"
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
            from .sources import read_rows  # rows read in file order, returned in the order asked

            return torch.from_numpy(read_rows(self.x, index))
        return torch.from_numpy(np.asarray(self.x[index], dtype=np.float32))

    def batches(
        self,
        batch_size: int,
        *,
        shuffle: bool = False,
        generator: torch.Generator | None = None,
        drop_last: bool = False,
        labels: bool = False,
    ) -> Iterator[torch.Tensor]:
        """Yield batches of x (or of (x, y) pairs) by tensor indexing (no DataLoader overhead).

        Parameters
        ----------
        batch_size : int
        shuffle : bool
            Visit examples in a random order drawn from ``generator``.
        generator : torch.Generator or None
        drop_last : bool
            Skip a final partial batch.
        labels : bool
            Yield ``(x, y)`` pairs (``y`` int64; the dataset must have labels).
        """
        if labels and self.y is None:
            raise DataError(f"Dataset '{self.name}' has no labels.")
        n = len(self)
        order = torch.randperm(n, generator=generator) if shuffle else None
        stop = n - n % batch_size if drop_last else n
        for start in range(0, stop, batch_size):
            index = slice(start, min(start + batch_size, n)) if order is None else order[start : start + batch_size]
            yield (self.get(index), self.y[index]) if labels else self.get(index)

    @property
    def n_labelled(self) -> int:
        """Number of examples with a known label (``y >= 0``; -1 marks an unknown label)."""
        return 0 if self.y is None else int((self.y >= 0).sum())

    def hide_labels(
        self, *, per_class: int | None = None, fraction: float | None = None, seed: int = 0
    ) -> "Dataset":
        """A copy that keeps the labels of a seeded random subset and marks the rest unknown (-1).

        The semi-supervised setting of Kingma et al. 2014: e.g. ``per_class=10`` keeps 100 MNIST labels.

        Parameters
        ----------
        per_class : int or None
            Keep this many labels of every class (chosen uniformly within the class).
        fraction : float or None
            Keep this fraction of all labels, at least one per class (chosen per class, in proportion).
        seed : int

        Examples
        --------
        >>> import torch
        >>> from vaekit.config import DataSpec
        >>> d = Dataset(torch.rand(100, 3), torch.arange(100) % 4, DataSpec(kind="array", shape=(3,)))
        >>> d.hide_labels(per_class=2, seed=0).n_labelled
        8
        """
        if self.y is None:
            raise DataError(f"Dataset '{self.name}' has no labels to hide.")
        if (per_class is None) == (fraction is None):
            raise DataError("hide_labels needs exactly one of per_class and fraction.")
        known = self.y[self.y >= 0]
        if per_class is not None and (not isinstance(per_class, int) or isinstance(per_class, bool) or per_class < 1):
            raise DataError(f"per_class must be an int >= 1; got {per_class!r}.")
        if fraction is not None and not (isinstance(fraction, (int, float)) and 0 < fraction <= 1):
            raise DataError(f"fraction must be in (0, 1]; got {fraction!r}.")
        rng = np.random.default_rng(seed)
        y = self.y.numpy()
        keep = []
        for c in np.unique(known.numpy()):
            members = np.flatnonzero(y == c)
            n_keep = per_class if per_class is not None else max(1, int(round(fraction * len(members))))
            if n_keep > len(members):
                name = self.spec.label_names[c] if c < len(self.spec.label_names) else str(c)
                raise DataError(f"Cannot keep {n_keep} labels of class {name!r}: dataset '{self.name}' has only "
                                f"{len(members)} examples of it.")
            keep.append(rng.choice(members, n_keep, replace=False))
        new_y = torch.full_like(self.y, -1)
        idx = torch.from_numpy(np.sort(np.concatenate(keep)))
        new_y[idx] = self.y[idx]
        return replace(self, y=new_y)

    def subset(self, index) -> "Dataset":
        """A new Dataset with examples ``index`` (a lazy view when the data is not in memory)."""
        index = torch.as_tensor(np.asarray(index), dtype=torch.int64)
        if self.in_memory:
            x = self.get(index)
        else:
            from .sources import take_rows

            x = take_rows(self.x, index.numpy())
        return replace(
            self,
            x=x,
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
