"""Evaluation: negative ELBO, reconstruction, KL, IWAE log-likelihood, bits/dim, active units."""

from __future__ import annotations

import math

import torch

from .data import Dataset

__all__ = ["evaluate", "active_units", "bits_per_dim", "binarize_once"]


def bits_per_dim(nll_nats: float, data_shape) -> float:
    """Convert a negative log-likelihood in nats per example to bits per data dimension.

    Examples
    --------
    >>> round(bits_per_dim(784 * math.log(2), (1, 28, 28)), 6)
    1.0
    """
    return nll_nats / (math.prod(data_shape) * math.log(2))


def binarize_once(data: Dataset, seed: int = 0) -> Dataset:
    """A fixed Bernoulli draw of [0, 1] data (the usual stochastically binarised test set)."""
    g = torch.Generator().manual_seed(seed)
    return Dataset(torch.bernoulli(data.get(slice(None)), generator=g), data.y, data.spec, data.description, data.ids)


@torch.inference_mode()
def active_units(model, data: Dataset, *, threshold: float = 0.01, batch_size: int = 1024) -> int:
    """Number of latent dimensions with Cov_x(E_q[z|x]) > ``threshold`` (Burda et al. 2016, sec. 5.2)."""
    means = torch.cat([model.embed(xb.to(model.device)).cpu() for xb in data.batches(batch_size)])
    return int((means.var(0, unbiased=True) > threshold).sum())


@torch.inference_mode()
def evaluate(
    model,
    data: Dataset,
    *,
    k: int = 1000,
    batch_size: int = 256,
    seed: int = 0,
    progress=None,
) -> dict[str, float]:
    """Evaluate a trained model on ``data``.

    Parameters
    ----------
    model : VAE or Autoencoder
    data : Dataset
    k : int
        Importance samples for the log-likelihood estimate (0 skips it).
    batch_size : int
    seed : int
        Seed of the noise used by the ELBO and IWAE estimates.
    progress : callable or None
        Called as ``progress(n_done, n_total)`` after each batch.

    Returns
    -------
    dict
        ``neg_elbo``, ``reconstruction_nll``, ``kl`` (nats per example), ``nll`` (IWAE-k estimate of
        -log p(x)), ``bits_per_dim`` (from ``nll``, for discrete likelihoods only), ``active_units``, ``n``, ``k``.
        An Autoencoder gets ``reconstruction_nll`` only (it has no ELBO). A semi-supervised model is
        scored on log p(x) (labels summed out; ``kl`` includes KL(q(y|x) || p(y))); a conditional VAE
        on log p(x|y) with the data's labels (``"conditional": True`` in the result).
    """
    from .errors import ConfigError, DataError

    if getattr(model, "features", None) is not None:  # M1+M2: a model stacked on another has no bound of its own
        raise ConfigError("An M1+M2 StackedVAE has no tractable bound on log p(x); evaluate its classifier with "
                          "`vaekit classify RUN DATA`, and its features model (M1) for likelihoods.")
    model.eval()
    g = torch.Generator().manual_seed(seed)
    is_vae = model.has_density
    cvae = getattr(model, "conditional", False) and not model.has_classifier
    if cvae and data.n_labelled < len(data):
        raise DataError(f"A conditional VAE is evaluated on log p(x|y): dataset '{data.name}' needs a label for "
                        f"every example ({len(data) - data.n_labelled:,} are missing).")
    semi = getattr(model, "has_classifier", False)
    sums = torch.zeros(4, dtype=torch.float64)
    n = 0
    for batch in data.batches(batch_size, labels=cvae):
        xb, yb = batch if cvae else (batch, None)
        xb = xb.to(model.device)
        if semi:
            yb = torch.full((xb.shape[0],), -1, device=xb.device)  # unlabelled: the bound on log p(x)
        kw = {} if yb is None else {"y": yb.to(xb.device)}
        obj = model.objective(xb, kl_weight=1.0, generator=g, **kw)
        rec = obj.reconstruction_nll.double().sum()
        kl = obj.kl.double().sum()
        nll = (-model.log_likelihood(xb, k, generator=g, **({"y": kw["y"]} if cvae else {})).double().sum()
               if (is_vae and k > 0) else torch.zeros((), dtype=torch.float64))
        sums += torch.stack([rec, kl, rec + kl, nll]).cpu()
        n += xb.shape[0]
        if progress is not None:
            progress(n, len(data))
    rec, kl, neg_elbo, nll = (sums / max(n, 1)).tolist()
    out: dict[str, float] = {"n": n, "reconstruction_nll": rec}
    if is_vae:
        out.update(neg_elbo=neg_elbo, kl=kl)
        if k > 0:
            out.update(nll=nll, k=k)
            if model.likelihood.discrete:
                out["bits_per_dim"] = bits_per_dim(nll, model.data_shape)
    out["active_units"] = active_units(model, data) if (is_vae and not cvae) else None
    if cvae:
        out["conditional"] = True
    return out
