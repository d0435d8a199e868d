"""Generation with a trained model: samples, reconstructions, interpolations, traversals, manifold grids.

Everything here returns tensors in *model space* (images in [0, 1], tables standardised), ready for
:mod:`vaekit.tasks.visualize`; :func:`to_data_range` turns them into the data's own units (8-bit
pixels, de-standardised table columns) for files users keep.
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Sequence

import numpy as np
import torch

from .._validation import Interval, check_param
from ..config import DataSpec
from ..data import Dataset
from ..errors import ConfigError, DataError

__all__ = [
    "to_data_range",
    "sample",
    "reconstruct",
    "posterior_means",
    "latent_activity",
    "prior_quantiles",
    "traverse",
    "manifold",
    "interpolate",
    "resolve_example",
    "pick_pairs",
    "parse_dims",
    "save_array",
]


def _generator(seed: int | None) -> torch.Generator | None:
    return None if seed is None else torch.Generator().manual_seed(int(seed))


def to_data_range(x, spec: DataSpec | None) -> np.ndarray:
    """Model-space examples in the data's own units.

    Parameters
    ----------
    x : Tensor or ndarray of shape (n, *spec.shape)
    spec : DataSpec or None
        Images in [0, 1] with ``levels`` go back onto their original grid (``levels=256``: uint8
        0..255; ``levels=17``: 0..16); images without levels stay floats in [0, 1]. Tables get their
        numeric columns de-standardised with ``spec.mean`` / ``spec.std`` (one-hot blocks stay scores).
        Other arrays (and ``spec=None``) are returned as float32.

    Returns
    -------
    ndarray of shape (n, *spec.shape)

    Examples
    --------
    >>> spec = DataSpec(kind="image", shape=(1, 1, 2), levels=256, image_mode="L")
    >>> to_data_range(torch.tensor([[[[0.0, 1.2]]]]), spec)
    array([[[[  0, 255]]]], dtype=uint8)
    >>> spec = DataSpec(kind="table", shape=(1,), columns=("age",), numeric_columns=("age",), mean=(40.0,), std=(10.0,))
    >>> to_data_range(np.array([[1.0]]), spec)
    array([[50.]])
    """
    a = x.detach().cpu().numpy() if isinstance(x, torch.Tensor) else np.asarray(x)
    a = a.astype(np.float32, copy=True)
    if spec is None:
        return a
    if spec.kind == "image":
        a = np.clip(a, 0.0, 1.0)
        if spec.levels is None:
            return a
        top = spec.levels - 1
        dtype = np.uint8 if top <= 255 else np.uint16 if top <= 65535 else np.int64
        return np.rint(a * top).astype(dtype)
    if spec.kind == "table" and spec.numeric_columns:
        a = a.astype(np.float64)
        k = len(spec.numeric_columns)
        a[:, :k] = a[:, :k] * np.asarray(spec.std) + np.asarray(spec.mean)
    return a


def save_array(a: np.ndarray, path: str | os.PathLike) -> Path:
    """Write ``a`` to ``path`` as a ``.npy`` array, atomically, at exactly that path (no suffix added)."""
    from ..io import atomic_write

    path = Path(path)
    with atomic_write(path, "wb") as f:
        np.save(f, np.asarray(a), allow_pickle=False)
    return path


@torch.inference_mode()
def sample(model, n: int = 64, *, temperature: float = 1.0, seed: int | None = 0, y=None) -> torch.Tensor:
    """Decode ``n`` draws z ~ p(z) (spread scaled by ``temperature``): the decoder means, (n, *data_shape).

    ``y`` (a class index, or ``n`` of them) picks the class a label-conditioned model generates; without
    it such a model draws classes from the uniform p(y). An unconditioned model refuses ``y``.
    """
    check_param("sample", "n", n, Interval("int", 1, None))
    check_param("sample", "temperature", temperature, Interval("float", 0, None))
    model.eval()
    if y is None:
        return model.sample(n, generator=_generator(seed), temperature=float(temperature))
    return model.sample(n, generator=_generator(seed), temperature=float(temperature), y=y)


@torch.inference_mode()
def reconstruct(model, x: torch.Tensor, *, batch_size: int = 512) -> torch.Tensor:
    """Decoder means at the posterior means of ``x``: (n, *data_shape) -> (n, *data_shape)."""
    model.eval()
    parts = [model.reconstruct(x[i : i + batch_size].to(model.device)).cpu() for i in range(0, len(x), batch_size)]
    return torch.cat(parts)


@torch.inference_mode()
def posterior_means(model, data: Dataset, *, limit: int | None = None, batch_size: int = 1024) -> tuple[np.ndarray, np.ndarray | None]:
    """E[z|x] for (the first ``limit`` examples of) ``data``.

    Returns
    -------
    z : ndarray of shape (n, latent_dim)
    labels : ndarray of shape (n,) or None
    """
    model.eval()
    n = len(data) if limit is None else min(limit, len(data))
    chunks = []
    for start in range(0, n, batch_size):
        xb = data.get(slice(start, min(start + batch_size, n))).to(model.device)
        chunks.append(model.embed(xb).cpu())
    z = torch.cat(chunks).numpy()
    labels = None if data.y is None else data.y[:n].numpy()
    return z, labels


def latent_activity(model, data: Dataset, *, limit: int | None = 2000) -> np.ndarray:
    """Variance over the data of each posterior mean, Cov_x(E_q[z|x]) (Burda et al. 2016, sec. 5.2).

    A dimension with variance below 0.01 is an *inactive unit*: the decoder ignores it.

    Returns
    -------
    ndarray of shape (latent_dim,)
    """
    z, _ = posterior_means(model, data, limit=limit)
    if len(z) < 2:
        return np.zeros(z.shape[1])
    return z.var(axis=0, ddof=1)


def prior_quantiles(model, probs: Sequence[float] | np.ndarray) -> torch.Tensor:
    """Quantiles of each latent dimension's prior marginal at ``probs``: shape (latent_dim, len(probs)).

    For the standard normal prior every row is Phi^-1(p), the grid Kingma & Welling (2014, fig. 4) decode.
    A mixture prior (the learned mixture, the VampPrior) has a marginal per dimension, sum_k pi_k
    N(mu_kd, sigma_kd^2), inverted by bisection in float64; any other prior (a ladder's hierarchy) by the
    empirical quantiles of 20,000 seeded draws.
    """
    p = torch.as_tensor(np.asarray(probs, dtype=np.float64))
    d = model.latent_dim
    prior = model.prior
    if hasattr(prior, "distribution"):  # a factorised prior with a closed-form marginal
        dist = prior.distribution()
        base = getattr(dist, "base_dist", dist)
        loc = base.loc.detach().reshape(-1).cpu().double().expand(d)[:, None]
        scale = base.scale.detach().reshape(-1).cpu().double().expand(d)[:, None]
        return (loc + scale * torch.distributions.Normal(0.0, 1.0).icdf(p)[None, :]).float()
    with torch.no_grad():
        comps = prior.mixture_components()
        if comps is None:
            draws = prior.sample(20000, generator=torch.Generator(device=model.device).manual_seed(0))
            return torch.quantile(draws.detach().cpu().double(), p, dim=0).T.float()
        log_w, loc, scale = (t.detach().cpu().double() for t in comps)  # (K,), (K, D), (K, D)
    w = torch.softmax(log_w, 0)[:, None, None]
    loc, scale = loc[:, :, None], scale[:, :, None]  # (K, D, 1)
    lo = (loc - 12 * scale).min(0).values.expand(d, len(p)).clone()  # (D, steps): the cdf is ~0 here
    hi = (loc + 12 * scale).max(0).values.expand(d, len(p)).clone()  # and ~1 here
    for _ in range(60):  # halves the bracket each time: far below float32 resolution at the end
        mid = (lo + hi) / 2
        cdf = (w * 0.5 * torch.erfc(-(mid[None] - loc) / (scale * math.sqrt(2.0)))).sum(0)
        below = cdf < p[None, :]
        lo, hi = torch.where(below, mid, lo), torch.where(below, hi, mid)
    return ((lo + hi) / 2).float()


def parse_dims(text: str | Sequence[int] | None, latent_dim: int) -> list[int] | None:
    """Parse ``"0,3,5"`` or ``"0-3"`` (or a list) into latent dimensions, checked against ``latent_dim``.

    Examples
    --------
    >>> parse_dims("0,2-4", 8)
    [0, 2, 3, 4]
    >>> parse_dims(None, 8) is None
    True
    """
    if text is None:
        return None
    dims: list[int] = []
    if isinstance(text, str):
        try:
            for part in (p.strip() for p in text.split(",") if p.strip()):
                if "-" in part[1:]:
                    lo, hi = part.split("-", 1)
                    dims.extend(range(int(lo), int(hi) + 1))
                else:
                    dims.append(int(part))
        except ValueError as e:
            raise ConfigError(
                f"The 'dims' parameter must be latent dimensions like '0,3,5' or '0-7'. Got {text!r} instead."
            ) from e
    else:
        dims = [int(d) for d in text]
    bad = [d for d in dims if not 0 <= d < latent_dim]
    if not dims or bad:
        raise ConfigError(
            f"The 'dims' parameter must list latent dimensions in 0..{latent_dim - 1}. Got {text!r} instead."
        )
    return list(dict.fromkeys(dims))


@torch.inference_mode()
def traverse(
    model,
    *,
    dims: Sequence[int] | None = None,
    steps: int = 9,
    base: torch.Tensor | None = None,
    span: tuple[float, float] = (0.03, 0.97),
    y: int | None = None,
    codes: np.ndarray | torch.Tensor | None = None,
) -> tuple[torch.Tensor, list[int], torch.Tensor]:
    """Vary one latent dimension at a time across the prior's range (or the data's), the others fixed at ``base``.

    The beta-VAE picture (Higgins et al. 2017): each row shows what one dimension encodes.

    A trained VAE's codes rarely fill the prior: a dimension whose posterior means spread over
    [-0.5, 0.5] decodes off the data between 1 and 1.9 (flat or black tiles). With ``codes`` (the
    posterior means of some data, (n, latent_dim)) each dimension runs over the ``span`` quantiles of
    its own codes and the others sit at the codes' median, so every tile is a place the data reaches.

    Parameters
    ----------
    dims : sequence of int or None
        Dimensions to vary; default all (at most 32).
    steps : int
        Values per dimension: prior quantiles evenly spaced in probability over ``span``.
    base : Tensor of shape (latent_dim,) or None
        Where the other dimensions sit; default the prior's median (zeros for N(0, I)), or the codes' median.
    y : int or None
        The class a label-conditioned model decodes with (default 0); unconditioned models take None.
    codes : array of shape (n, latent_dim) or None
        Posterior means of data: take each dimension's range from them instead of from the prior.

    Returns
    -------
    images : Tensor of shape (len(dims), steps, *data_shape)
    dims : list of int
    values : Tensor of shape (len(dims), steps)
        The values each dimension takes.
    """
    check_param("traverse", "steps", steps, Interval("int", 2, None))
    d = model.latent_dim
    dims = list(range(min(d, 32))) if dims is None else parse_dims(list(dims), d)
    probs = np.linspace(span[0], span[1], steps)
    if codes is not None:
        c = codes.detach().cpu().numpy() if isinstance(codes, torch.Tensor) else np.asarray(codes)
        if c.ndim != 2 or c.shape[1] != d or len(c) == 0:
            raise DataError(f"codes must be posterior means of shape (n, {d}); got shape {c.shape}.")
        values = torch.as_tensor(np.quantile(c[:, dims], probs, axis=0).T, dtype=torch.float32)  # (len(dims), steps)
        z0 = torch.as_tensor(np.median(c, axis=0), dtype=torch.float32) if base is None else base.detach().reshape(d).cpu()
    else:
        q = prior_quantiles(model, [*probs, 0.5])  # (latent_dim, steps + 1): the steps, then the median
        values = q[dims, :-1]  # (len(dims), steps)
        z0 = q[:, -1] if base is None else base.detach().reshape(d).cpu()
    z = z0.repeat(len(dims), steps, 1)  # (len(dims), steps, latent_dim)
    for row, dim in enumerate(dims):
        z[row, :, dim] = values[row]
    model.eval()
    zs = z.reshape(-1, d).to(model.device)
    out = model.decode(zs, fixed_label(model, y, len(zs))).mean.cpu()  # (len(dims) * steps, *data_shape)
    return out.reshape(len(dims), steps, *model.data_shape), dims, values


@torch.inference_mode()
def manifold(
    model, *, steps: int = 15, dims: tuple[int, int] = (0, 1), span: tuple[float, float] = (0.05, 0.95),
    y: int | None = None,
) -> torch.Tensor:
    """Decode a ``steps`` x ``steps`` grid over the prior's quantiles in two latent dimensions.

    Kingma & Welling (2014, fig. 4): evenly spaced probabilities mapped through the prior's inverse
    CDF, so the grid covers the prior's mass evenly. Other dimensions sit at the prior's median. A label-conditioned
    model decodes the grid as class ``y`` (default 0).

    Returns
    -------
    Tensor of shape (steps * steps, *data_shape)
        Row-major: rows go down dimension ``dims[1]`` from high to low (y up), columns along ``dims[0]``.
    """
    check_param("manifold", "steps", steps, Interval("int", 2, None))
    d = model.latent_dim
    if d < 2:
        raise ConfigError(f"A manifold grid needs latent_dim >= 2; this model has latent_dim={d}.")
    q = prior_quantiles(model, [*np.linspace(span[0], span[1], steps), 0.5])  # (latent_dim, steps + 1)
    values = q[:, :-1]  # (latent_dim, steps)
    z = q[:, -1].repeat(steps, steps, 1)  # other dimensions at the prior's median
    z[:, :, dims[0]] = values[dims[0]][None, :]
    z[:, :, dims[1]] = values[dims[1]].flip(0)[:, None]
    model.eval()
    zs = z.reshape(-1, d).to(model.device)
    return model.decode(zs, fixed_label(model, y, len(zs))).mean.cpu()


def fixed_label(model, y: int | None, n: int) -> torch.Tensor | None:
    """``n`` copies of class ``y`` (default 0) for a label-conditioned model; None for any other.

    Examples
    --------
    >>> from vaekit.config import ModelConfig
    >>> from vaekit.model import VAE
    >>> m = VAE(ModelConfig(data_shape=(3,), conditioning="conditional", num_classes=4))
    >>> fixed_label(m, 2, 3).tolist()
    [2, 2, 2]
    """
    if not getattr(model, "conditional", False):
        return None
    return model.sample_labels(n, 0 if y is None else y)


@torch.inference_mode()
def interpolate(model, a: torch.Tensor, b: torch.Tensor, *, steps: int = 10, spherical: bool = False) -> torch.Tensor:
    """Decode ``steps`` points between the posterior means of ``a`` and ``b``: (steps, *data_shape)."""
    check_param("interpolate", "steps", steps, Interval("int", 2, None))
    model.eval()
    return model.interpolate(a.to(model.device), b.to(model.device), steps, spherical=spherical).cpu()


def resolve_example(ref: str | int, model, data: Dataset | None) -> tuple[torch.Tensor, str]:
    """One example from an index into ``data`` or an image file path, preprocessed like the training data.

    Parameters
    ----------
    ref : int or str
        An index (``"12"``; negative counts from the end) or a path to an image file.
    model : VAE or Autoencoder
        Supplies the data spec (image size and mode).
    data : Dataset or None
        What indices point into.

    Returns
    -------
    x : Tensor of shape data_shape
    label : str
        ``"#12"`` (with the class name when known) or the file name.

    Raises
    ------
    DataError
        Index out of range, missing or unreadable file, or a file for a model not trained on images.
    """
    text = str(ref).strip()
    try:
        index = int(text)
    except ValueError:
        index = None
    if index is not None:
        if data is None:
            raise DataError(f"Index {index} needs data to index into; pass --data DATA.")
        n = len(data)
        if not -n <= index < n:
            raise DataError(f"Index {index} is out of range for data '{data.name}' with {n:,} examples; use 0..{n - 1}.")
        i = index % n
        label = f"#{i}"
        if data.y is not None and data.spec.label_names:
            y = int(data.y[i])
            if 0 <= y < len(data.spec.label_names):
                label += f" ({data.spec.label_names[y]})"
        return data.get(slice(i, i + 1))[0], label
    return _image_file(Path(os.path.expanduser(text)), model), Path(text).name


def _image_file(path: Path, model) -> torch.Tensor:
    from ..data import apply_spec

    spec = model.data_spec
    if spec is None or spec.kind != "image":
        kind = "unknown" if spec is None else spec.kind
        raise DataError(f"'{path}' is not an index, and image files only work for models trained on images ({kind} data here); use an index.")
    if not path.is_file():
        raise DataError(f"'{path}' is neither an index nor an existing image file; expected an index into the data or a path to a .png/.jpg image.")
    from ..data.images import open_image

    try:
        with open_image(path) as im:  # refuses decompression bombs before decoding
            im.load()
            image = im.copy()
    except DataError:
        raise
    except Exception as e:  # Pillow raises many types (UnidentifiedImageError, OSError, SyntaxError, ...)
        raise DataError(f"Image file '{path}' could not be read: {e}") from e
    return apply_spec(image, spec, name=str(path))[0]


def pick_pairs(data: Dataset, n_pairs: int = 3, *, seed: int = 0) -> list[tuple[int, int]]:
    """Index pairs for interpolation figures: endpoints of different classes when labels exist.

    Examples
    --------
    >>> from vaekit.data import Dataset
    >>> d = Dataset(torch.rand(6, 2), torch.tensor([0, 0, 1, 1, 2, 2]), DataSpec(kind="array", shape=(2,)))
    >>> pick_pairs(d, 2)
    [(0, 2), (4, 0)]
    """
    n = len(data)
    if n < 2:
        raise DataError(f"Interpolation needs at least 2 examples; data '{data.name}' has {n}.")
    if data.y is None:
        rng = np.random.default_rng(seed)
        return [tuple(int(i) for i in rng.choice(n, 2, replace=False)) for _ in range(n_pairs)]
    y = data.y.numpy()
    classes = list(dict.fromkeys(y.tolist()))
    first = {c: int(np.flatnonzero(y == c)[0]) for c in classes}
    second = {c: int(np.flatnonzero(y == c)[-1]) for c in classes}
    pairs = []
    for k in range(n_pairs):
        if len(classes) >= 2:
            a, b = classes[(2 * k) % len(classes)], classes[(2 * k + 1) % len(classes)]
            pairs.append((first[a], second[b] if a == b else first[b]))
        else:
            pairs.append((first[classes[0]], second[classes[0]]))
    return pairs
