"""How training reads a Dataset: batches, the validation split, and batch transforms.

The training loop asks the model what it needs (:class:`DataNeeds`) and takes batches from here; it
never branches on the kind of model. A rank-aware sampler for ``torch.distributed`` goes here too: it
is one more way of choosing the indices of :class:`TrainBatches`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Iterator

import numpy as np
import torch

from ..errors import DataError
from ..noise import ShardedGenerator, rand, shard_bounds
from ._dataset import Dataset

__all__ = ["Batch", "DataNeeds", "TrainBatches", "IterableBatches", "validation_split", "dynamic_binarization", "batches_of"]


@dataclass(frozen=True)
class Batch:
    """One batch: inputs and, for a label-conditioned model, labels (-1 = unknown).

    Missing entries of ``x`` are NaN (the mask is ``~x.isnan()``), so they travel with the values.
    Under ``torch.distributed`` a process holds rows ``offset : offset + len(x)`` of a global batch of
    ``total`` rows (one process: offset 0, total ``len(x)``).
    """

    x: torch.Tensor
    y: torch.Tensor | None = None
    offset: int = 0
    total: int | None = None

    def to(self, device) -> "Batch":
        return Batch(self.x.to(device, non_blocking=True), None if self.y is None else self.y.to(device),
                     self.offset, self.total)

    @property
    def global_size(self) -> int:
        return len(self) if self.total is None else self.total

    def noise(self, generator: torch.Generator):
        """The generator to draw this batch's per-example noise from (sharded when the batch is a slice)."""
        if self.total is None or self.total == len(self):
            return generator
        return ShardedGenerator(generator, self.offset, len(self), self.total)

    def __len__(self) -> int:
        return self.x.shape[0]

    @property
    def model_kwargs(self) -> dict:
        """Keyword arguments of ``model.objective`` carried by the batch (labels when present)."""
        return {} if self.y is None else {"y": self.y}


@dataclass(frozen=True)
class DataNeeds:
    """What a model needs from its training data (declared by the model, read by the loop).

    Attributes
    ----------
    labels : {"none", "all", "some"}
        Whether batches carry labels: not at all, for every example (a CVAE), or for some (semi-supervised).
    keep_labelled : bool
        Draw the validation split from unlabelled examples only (a few labels are never spent on it).
    top_up_labelled : bool
        Append labelled examples to every batch, cycled, so rare labels take part in every step.
    """

    labels: str = "none"
    keep_labelled: bool = False
    top_up_labelled: bool = False


def validation_split(data: Dataset, fraction: float, seed: int, keep_labelled: bool = False) -> tuple[Dataset, Dataset]:
    """The seeded validation split; with ``keep_labelled`` the held-out part is drawn from unlabelled
    examples only."""
    if not keep_labelled or data.y is None or data.n_labelled == len(data):
        return data.split(fraction, seed=seed)
    unl = torch.nonzero(data.y < 0)[:, 0]
    n_out = int(round(fraction * len(unl)))
    if n_out == 0:
        raise DataError(f"Cannot hold out {fraction:.0%} of the {len(unl)} unlabelled examples of '{data.name}'.")
    perm = unl[torch.randperm(len(unl), generator=torch.Generator().manual_seed(seed))]
    held = perm[:n_out].sort().values
    rest = torch.ones(len(data), dtype=torch.bool)
    rest[held] = False
    return data.subset(torch.nonzero(rest)[:, 0]), data.subset(held)


class TrainBatches:
    """One epoch of shuffled :class:`Batch` es per iteration, drawn with ``generator``.

    With ``needs.top_up_labelled`` (semi-supervised data, mostly unlabelled), every batch of
    ``batch_size`` shuffled examples gets ``labelled_per_batch`` labelled examples appended, cycled in
    reshuffled order, as in Kingma et al. 2014's implementation; None appends min(labelled, batch_size)
    of them (every label in every batch when there are few). A number above the labelled count repeats
    labelled examples within a batch.
    """

    def __init__(self, data: Dataset, batch_size: int, generator: torch.Generator, needs: DataNeeds = DataNeeds(),
                 *, rank: int = 0, world_size: int = 1, num_workers: int | None = None,
                 labelled_per_batch: int | None = None):
        self.data, self.batch_size, self.generator, self.needs = data, batch_size, generator, needs
        self.labelled_per_batch = labelled_per_batch
        if num_workers is None:  # workers help data that must be decoded (image files); a memory map reads faster inline
            import os

            decodes = not data.in_memory and getattr(data.x, "decodes", False)
            num_workers = min(4, max(1, (os.cpu_count() or 2) - 1)) if decodes else 0
        self.num_workers = num_workers
        # every rank draws the same order (same generator state) and reads only its slice of each batch
        self.rank, self.world_size = rank, world_size
        labels = needs.labels != "none"
        semi = labels and needs.top_up_labelled and data.n_labelled < len(data)
        self._labelled = torch.nonzero(data.y >= 0)[:, 0] if semi else None
        self._queue: list[torch.Tensor] = []

    def __len__(self) -> int:
        return -(-len(self.data) // self.batch_size)

    def __iter__(self) -> Iterator[Batch]:
        if not self.data.in_memory:
            yield from self._streamed()
            return
        n = len(self.data)
        order = torch.randperm(n, generator=self.generator)  # as Dataset.batches(shuffle=True) draws it
        labels = self.needs.labels != "none"
        per_batch = self._per_batch()
        # the labelled queue starts afresh each epoch: an epoch depends only on the generator's state, so a
        # run resumed from a checkpoint at an epoch boundary continues exactly
        self._queue = []
        for start in range(0, n, self.batch_size):
            index = order[start : start + self.batch_size]
            if per_batch:
                index = torch.cat([index, self._take(per_batch)])
            lo, hi = shard_bounds(len(index), self.rank, self.world_size)
            mine = index[lo:hi]
            yield Batch(self.data.get(mine), self.data.y[mine] if labels else None, lo, len(index))

    def plan(self) -> list[tuple[torch.Tensor, int, int]]:
        """This epoch's batches as (this rank's indices, offset, global batch size), drawn up front."""
        n = len(self.data)
        order = _chunked_order(self.data.x, self.generator)
        if order is None:
            order = torch.randperm(n, generator=self.generator)
        per_batch = self._per_batch()
        self._queue = []
        out = []
        for start in range(0, n, self.batch_size):
            index = order[start : start + self.batch_size]
            if per_batch:
                index = torch.cat([index, self._take(per_batch)])
            lo, hi = shard_bounds(len(index), self.rank, self.world_size)
            out.append((index[lo:hi], lo, len(index)))
        return out

    def _streamed(self) -> Iterator[Batch]:
        """Data not in memory: the epoch's batches are planned up front and read by DataLoader workers
        (``num_workers``), so decoding overlaps training; results do not depend on the worker count."""
        plan = self.plan()
        labels = self.needs.labels != "none"
        reader = _PlannedReads(self.data, plan)
        if self.num_workers > 0:
            from torch.utils.data import DataLoader

            batches = DataLoader(reader, batch_size=None, shuffle=False, num_workers=self.num_workers,
                                 prefetch_factor=2, persistent_workers=False)
        else:
            batches = (reader[i] for i in range(len(reader)))
        for (mine, lo, total), x in zip(plan, batches):
            yield Batch(x, self.data.y[mine] if labels else None, lo, total)

    def _per_batch(self) -> int:
        """Labelled examples appended to each batch (0 when the data is not semi-supervised)."""
        if self._labelled is None or not len(self._labelled):
            return 0
        if self.labelled_per_batch is not None:
            return self.labelled_per_batch
        return min(len(self._labelled), self.batch_size)

    def _take(self, n: int) -> torch.Tensor:
        while sum(len(q) for q in self._queue) < n:
            self._queue.append(self._labelled[torch.randperm(len(self._labelled), generator=self.generator)])
        flat = torch.cat(self._queue)
        take, rest = flat[:n], flat[n:]
        self._queue = [rest] if len(rest) else []
        return take


class IterableBatches:
    """Batches from any iterable a user passes to ``fit``: a DataLoader, a generator function's result, a list.

    Each item is a tensor (or array) of inputs, an ``(x, y)`` pair, or a mapping with ``"x"`` (and ``"y"``).
    The iterable is iterated once per epoch (a DataLoader reshuffles itself). Under torch.distributed it
    must give each rank its own examples (e.g. a ``DistributedSampler``).
    """

    def __init__(self, source, needs: DataNeeds = DataNeeds(), *, check=None):
        self.source, self.needs, self.check = source, needs, check

    def __len__(self) -> int:
        return len(self.source)

    def __iter__(self) -> Iterator[Batch]:
        for i, item in enumerate(self.source):
            if isinstance(item, Batch):
                x, y = item.x, item.y
            elif isinstance(item, dict):
                x, y = item.get("x"), item.get("y")
            elif isinstance(item, (tuple, list)):
                x, y = item[0], (item[1] if len(item) > 1 else None)
            else:
                x, y = item, None
            if x is None:
                raise DataError(f"Batch {i} of the training iterable has no inputs; yield x, (x, y) or {{'x': x, 'y': y}}.")
            x = torch.as_tensor(x)
            if not x.is_floating_point():
                raise DataError(f"Batch {i} of the training iterable holds {x.dtype} values; give model-ready float "
                                f"inputs (images in [0, 1], standardised tables).")
            x = x.float()
            if self.check is not None:
                x = self.check(x)
            if self.needs.labels == "none":
                y = None
            elif y is None:
                raise DataError(f"This model trains on labels, but batch {i} of the training iterable has none: "
                                f"yield (x, y) pairs (-1 for an unknown label).")
            else:
                y = torch.as_tensor(y).long()
            yield Batch(x, y)


def _chunked_order(x, generator: torch.Generator) -> torch.Tensor | None:
    """A shuffle for sources read in chunks (parquet row groups): chunks in random order, rows shuffled
    within windows of half as many chunks as the source keeps decoded (a batch that straddles two
    windows then still finds all its chunks decoded). None for other sources."""
    base, rows = (x.base, x.index) if hasattr(x, "base") and hasattr(x, "index") else (x, None)
    if not hasattr(base, "chunk_ids"):
        return None
    ids = base.chunk_ids() if rows is None else base.chunk_ids()[rows]  # chunk of each of this dataset's rows
    ids = torch.from_numpy(np.asarray(ids, dtype=np.int64))
    chunks, local = torch.unique(ids, return_inverse=True)  # local: the chunk's position among this dataset's chunks
    window = max(1, int(getattr(base, "cache_size", 8)) // 2)
    rank = torch.empty(len(chunks), dtype=torch.int64)
    rank[torch.randperm(len(chunks), generator=generator)] = torch.arange(len(chunks))  # chunk order
    key = torch.randperm(len(ids), generator=generator)  # row order within a window
    # sort by (window of the row's chunk, random key): one argsort instead of a pass per window
    return torch.argsort((rank[local] // window) * len(ids) + key, stable=True)


class _PlannedReads:
    """Batch ``i`` of a plan, read from the dataset (a map-style dataset for DataLoader workers)."""

    def __init__(self, data: Dataset, plan):
        self.data, self.plan = data, plan

    def __len__(self) -> int:
        return len(self.plan)

    def __getitem__(self, i: int) -> torch.Tensor:
        return self.data.get(self.plan[i][0].numpy())


def batches_of(data: Dataset, batch_size: int, needs: DataNeeds = DataNeeds(), *, rank: int = 0,
               world_size: int = 1) -> Iterator[Batch]:
    """Batches of ``data`` in order (evaluation), with labels when the model needs them; ``rank`` of
    ``world_size`` processes gets its slice of each batch."""
    labels = needs.labels != "none"
    if labels and data.y is None:
        raise DataError(f"Dataset '{data.name}' has no labels.")
    n = len(data)
    for start in range(0, n, batch_size):
        stop = min(start + batch_size, n)
        lo, hi = shard_bounds(stop - start, rank, world_size)
        index = slice(start + lo, start + hi)
        yield Batch(data.get(index), data.y[index] if labels else None, lo, stop - start)


def dynamic_binarization(generator: torch.Generator) -> Callable[[Batch], Batch]:
    """A batch transform redrawing x ~ Bernoulli(x) (Salakhutdinov & Murray 2008) with ``generator``."""

    def transform(batch: Batch) -> Batch:
        u = rand(batch.x.shape, batch.noise(generator), device=batch.x.device, dtype=batch.x.dtype)
        return Batch((u < batch.x).to(batch.x.dtype), batch.y, batch.offset, batch.total)

    return transform


class BinarizedRows:
    """A fixed binarisation x ~ Bernoulli(x) of a source that is not in memory, drawn row by row.

    Each row's draws come from a generator seeded by (``seed``, row), so the binary copy is the same
    whichever batches read it, and nothing is held in memory (the validation set of streamed data).
    """

    def __init__(self, base, seed: int):
        self.base, self.seed = base, int(seed)
        self.shape, self.dtype = base.shape, np.dtype(np.float32)
        self.decodes = getattr(base, "decodes", False)

    def __len__(self) -> int:
        return self.shape[0]

    def __getitem__(self, index) -> np.ndarray:
        from .sources import positions, read_rows

        pos = positions(index, len(self))
        pos = np.where(pos < 0, pos + len(self), pos)  # the row's own seed, whichever way it is named
        x = read_rows(self.base, pos)
        if x.size and (x.min() < 0 or x.max() > 1):
            raise DataError("binarize='dynamic' needs values in [0, 1]; the validation data has values outside it.")
        for i, row in enumerate(pos.tolist()):
            u = np.random.default_rng([self.seed, row]).random(x.shape[1:], dtype=np.float32)
            x[i] = (u < x[i]).astype(np.float32)
        return x


def check_unit_interval(data: Dataset, what: str) -> None:
    """Refuse values outside [0, 1] for a transform that reads them as probabilities."""
    if data.in_memory and len(data):
        lo, hi = float(data.x.min()), float(data.x.max())
        if lo < 0 or hi > 1:
            raise DataError(f"{what} needs values in [0, 1]; dataset '{data.name}' spans [{lo:.3g}, {hi:.3g}].")
