"""Random draws that do not depend on how a batch is split between processes.

Under ``torch.distributed`` every rank holds the same :class:`torch.Generator` state (same seed, same
draws) and processes one contiguous slice of each global batch. A :class:`ShardedGenerator` wraps that
generator for one slice: a draw of the slice's shape is made at the global batch's size and the
slice is kept. Every rank therefore advances the generator identically, and each example gets the
same noise (reparameterisation, binarisation, corruption) whether the batch ran in one process or
in N: a run gives the same numbers with 1 or N processes. With a plain generator (one process) these
functions are ``torch.randn`` / ``torch.rand``.

Draws are made on the generator's device and moved to ``device``, so a CPU generator can feed a model
on a GPU.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import torch

__all__ = ["ShardedGenerator", "randn", "rand", "multinomial", "shard_bounds"]


@dataclass(frozen=True)
class ShardedGenerator:
    """``generator`` seen by the process that holds rows ``offset : offset + size`` of a batch of ``total``."""

    generator: torch.Generator
    offset: int
    size: int
    total: int


def shard_bounds(n: int, rank: int, world: int) -> tuple[int, int]:
    """Rows ``[lo, hi)`` of a batch of ``n`` that ``rank`` of ``world`` processes (contiguous, sizes differ by <= 1).

    >>> [shard_bounds(10, r, 3) for r in range(3)]
    [(0, 4), (4, 7), (7, 10)]
    """
    base, extra = divmod(n, world)
    lo = rank * base + min(rank, extra)
    return lo, lo + base + (1 if rank < extra else 0)


def _draw(fn, shape: Sequence[int], generator, batch_axis: int, device, dtype) -> torch.Tensor:
    shape = list(shape)
    if isinstance(generator, ShardedGenerator):
        if shape[batch_axis] != generator.size:
            raise RuntimeError(f"A sharded draw of shape {tuple(shape)} does not match this process's "
                               f"{generator.size} rows of the batch (axis {batch_axis}).")
        full = list(shape)
        full[batch_axis] = generator.total
        out = fn(full, generator=generator.generator, dtype=dtype, device=generator.generator.device)
        out = out.narrow(batch_axis, generator.offset, generator.size)
    else:
        gen_device = generator.device if generator is not None else device
        out = fn(shape, generator=generator, dtype=dtype, device=gen_device)
    return out if device is None else out.to(device)


def randn(shape: Sequence[int], generator=None, *, batch_axis: int = 0, device=None,
          dtype: torch.dtype | None = None) -> torch.Tensor:
    """Standard normal draws of ``shape`` (``batch_axis`` indexes the examples)."""
    return _draw(torch.randn, shape, generator, batch_axis, device, dtype)


def rand(shape: Sequence[int], generator=None, *, batch_axis: int = 0, device=None,
         dtype: torch.dtype | None = None) -> torch.Tensor:
    """Uniform [0, 1) draws of ``shape`` (``batch_axis`` indexes the examples)."""
    return _draw(torch.rand, shape, generator, batch_axis, device, dtype)


def multinomial(probs: torch.Tensor, generator=None, num_samples: int = 1, *, replacement: bool = False) -> torch.Tensor:
    """Category draws per row of ``probs`` (..., k) -> (..., num_samples) (``torch.multinomial``), made
    where the generator lives and returned on ``probs``' device."""
    g = generator.generator if isinstance(generator, ShardedGenerator) else generator
    flat = probs.reshape(-1, probs.shape[-1])
    if g is not None and g.device != probs.device:
        flat = flat.to(g.device)
    out = torch.multinomial(flat, num_samples, replacement=replacement, generator=g)
    return out.view(*probs.shape[:-1], num_samples).to(probs.device)

