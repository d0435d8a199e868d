"""Numerics shared by the model's parts."""

from __future__ import annotations

import torch

_LOW = (torch.float16, torch.bfloat16)


def full_precision(t: torch.Tensor) -> torch.Tensor:
    """``t`` in float32 when it came out of a layer run under a bf16/fp16 autocast, else unchanged.

    Nets may run in low precision (``TrainConfig.precision``); the densities built on their outputs
    (likelihood, posterior, prior) take float32 inputs so that a per-pixel log-probability is not rounded
    to bfloat16's 8-bit mantissa before it is summed. Float64 models stay float64.
    """
    # (a decoder may return a structure of its own, e.g. the text decoder's TokenParams: left as it is)
    return t.float() if isinstance(t, torch.Tensor) and t.dtype in _LOW else t
