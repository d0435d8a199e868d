"""Data-parallel training with ``torch.distributed``: the bootstrap and the few collectives ``fit`` uses.

Launch with ``torchrun --nproc-per-node N -m vaekit train DATA --out RUN ...`` (or call :func:`setup`
and then :func:`vaekit.fit` in a script started by torchrun). The bootstrap reads torchrun's
``RANK`` / ``WORLD_SIZE`` / ``LOCAL_RANK`` and starts the process group: gloo on CPU, nccl on GPU.

How a distributed ``fit`` works (the same loop as one process):

* every rank seeds the same generator from ``TrainConfig.seed``: the same shuffles, and each rank reads
  its contiguous slice of every global batch (``--batch-size`` is the global batch; each of N ranks
  takes about batch/N examples);
* per-example noise (reparameterisation, dynamic binarisation, corruption) is drawn at the global
  batch's size and sliced (:mod:`vaekit.noise`), so an unconditioned model trains to the same numbers
  with 1 or N processes, up to float summation order; label-conditioned models draw per-rank noise
  (statistically the same, not bitwise);
* gradients are all-reduced (the mean over the global batch), so every rank takes the same step;
  training sums, validation sums and stopping decisions are all-reduced too;
* rank 0 alone writes the run directory (config, checkpoints, metrics), atomically; a checkpoint holds
  no per-rank state, so a run resumes under any world size.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch

__all__ = ["Context", "context", "setup", "teardown", "launched_by_torchrun"]


@dataclass(frozen=True)
class Context:
    """Where this process stands: ``rank`` of ``world_size`` (0 of 1 without torch.distributed)."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1

    # ---------------------------------------------------------------- collectives (no-ops in one process)
    def all_reduce_sum(self, t: torch.Tensor) -> torch.Tensor:
        """Sum ``t`` over ranks in place (returned for chaining)."""
        if self.distributed:
            import torch.distributed as dist

            dist.all_reduce(t, op=dist.ReduceOp.SUM)
        return t

    def any(self, flag: bool) -> bool:
        """Whether ``flag`` holds on any rank."""
        if not self.distributed:
            return flag
        return bool(self.all_reduce_sum(torch.tensor([float(flag)], device=self._device())).item() > 0)

    def average_gradients(self, params) -> None:
        """Replace every gradient by its mean over ranks (one flat all-reduce)."""
        if not self.distributed:
            return
        grads = [p.grad for p in params if p.grad is not None]
        if not grads:
            return
        flat = torch.cat([g.reshape(-1) for g in grads])
        self.all_reduce_sum(flat).div_(self.world_size)
        offset = 0
        for g in grads:
            g.copy_(flat[offset : offset + g.numel()].view_as(g))
            offset += g.numel()

    def barrier(self) -> None:
        if self.distributed:
            import torch.distributed as dist

            dist.barrier()

    def _device(self) -> torch.device:
        import torch.distributed as dist

        return torch.device("cuda", torch.cuda.current_device()) if dist.get_backend() == "nccl" else torch.device("cpu")


def context() -> Context:
    """The current process's :class:`Context` (rank 0 of 1 unless a process group is running)."""
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        return Context(dist.get_rank(), dist.get_world_size(), int(os.environ.get("LOCAL_RANK", 0)))
    return Context()


def launched_by_torchrun() -> bool:
    """Whether torchrun (or another launcher setting ``RANK`` and ``WORLD_SIZE``) started this process."""
    return "RANK" in os.environ and "WORLD_SIZE" in os.environ


def setup(device: str = "auto") -> Context:
    """Start the process group from torchrun's environment (gloo on CPU, nccl on GPU); a no-op otherwise.

    Parameters
    ----------
    device : {"auto", "cpu", "cuda"}
        ``"cuda"`` (or ``"auto"`` with a GPU) uses nccl and binds this process to GPU ``LOCAL_RANK``.
    """
    import torch.distributed as dist

    if not launched_by_torchrun() or (dist.is_available() and dist.is_initialized()):
        return context()
    use_cuda = device == "cuda" or (device == "auto" and torch.cuda.is_available())
    if use_cuda:
        torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", 0)))
    dist.init_process_group(backend="nccl" if use_cuda else "gloo")
    return context()


def teardown() -> None:
    """End the process group started by :func:`setup`."""
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()
