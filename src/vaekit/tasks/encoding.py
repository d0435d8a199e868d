"""Latent codes of many examples: posterior means (or draws) batch by batch.

Shared by :class:`vaekit.VAETransformer`, ``vaekit embed`` (:mod:`vaekit.tasks.embed_stream`) and the
nearest-neighbour search (:mod:`vaekit.tasks.neighbors`).
"""

from __future__ import annotations

import numpy as np
import torch

from ..data import Dataset
from ..errors import DataError

__all__ = ["encode", "check_finite"]


@torch.inference_mode()
def encode(
    model,
    x: torch.Tensor | Dataset,
    *,
    sample: bool = False,
    generator: torch.Generator | None = None,
    batch_size: int = 1024,
) -> np.ndarray:
    """Posterior means E[z|x] (or draws z ~ q(z|x) with ``sample=True``), batch by batch.

    Parameters
    ----------
    model : VAE or Autoencoder
    x : Tensor of shape (n, *data_shape), or a Dataset (read batch by batch, so memory maps stream)
    sample : bool
        Draw z = mu + sigma * eps instead of returning mu (an autoencoder's code is the same either way).
    generator : torch.Generator or None
        Source of eps when ``sample``.
    batch_size : int

    Returns
    -------
    ndarray of shape (n, latent_dim), float32

    Raises
    ------
    DataError
        A code is not a finite number (the model's output overflowed): never passed on as NaN.
    """
    model.eval()
    batches = x.batches(batch_size) if isinstance(x, Dataset) else (x[i : i + batch_size] for i in range(0, len(x), batch_size))
    out = [_encode_batch(model, xb, sample, generator) for xb in batches]
    if not out:
        return np.zeros((0, model.latent_dim), dtype=np.float32)
    z = np.concatenate(out).astype(np.float32, copy=False)
    check_finite(z, "The latent code")
    return z


def check_finite(values: np.ndarray, what: str) -> None:
    """Refuse model outputs that are not finite numbers, naming the first row (counted from 1).

    Examples
    --------
    >>> check_finite(np.array([[0.0], [np.nan]]), "The latent code")
    Traceback (most recent call last):
    ...
    vaekit.errors.DataError: The latent code of row 2 (and 0 more) is not a finite number: the model's output overflowed (inputs far outside its training data, or damaged weights). Nothing was written.
    """
    bad = ~np.isfinite(values.reshape(len(values), -1)).all(axis=1)
    if bad.any():
        first = int(np.argmax(bad))
        raise DataError(f"{what} of row {first + 1} (and {int(bad.sum()) - 1:,} more) is not a finite number: the "
                        f"model's output overflowed (inputs far outside its training data, or damaged weights). "
                        f"Nothing was written.")


def _encode_batch(model, xb: torch.Tensor, sample: bool, generator: torch.Generator | None) -> np.ndarray:
    q = model.encode(xb.to(model.device))
    z = model.reparameterize(q, None, generator) if sample else q.mean  # (batch, latent_dim)
    return z.cpu().numpy()
