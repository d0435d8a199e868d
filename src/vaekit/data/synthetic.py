"""Small seeded synthetic data for tests and docs; every generator takes ``seed`` and uses no global RNG."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from .._validation import Interval, check_param
from ._common import make_dataset
from ._dataset import Dataset

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["make_blobs_images", "make_linear_gaussian", "make_table", "make_oversized_png", "SHAPES"]

#: Class names of :func:`make_blobs_images`, in label order.
SHAPES = ("square", "hbar", "vbar", "cross", "diagonal")


def make_blobs_images(n: int = 500, size: int = 8, seed: int = 0) -> Dataset:
    """Binary ``size`` x ``size`` images of five shapes at random positions and scales, labelled by shape.

    Parameters
    ----------
    n : int
        Number of images; classes are balanced (up to one) and come in a shuffled order.
    size : int
        Height and width, >= 4.
    seed : int
        Seed of the numpy Generator.

    Returns
    -------
    Dataset
        ``x`` of shape (n, 1, size, size) with values in {0, 1} (``levels=2``); ``y`` in 0..4, named
        by :data:`SHAPES`.

    Examples
    --------
    >>> d = make_blobs_images(20, size=8, seed=0)
    >>> d.shape, d.spec.levels, d.spec.label_names[:2]
    ((1, 8, 8), 2, ('square', 'hbar'))
    >>> sorted(set(d.x.unique().tolist()))
    [0.0, 1.0]
    """
    check_param("make_blobs_images", "n", n, Interval("int", 1, None))
    check_param("make_blobs_images", "size", size, Interval("int", 4, None))
    rng = np.random.default_rng(seed)
    y = rng.permutation(np.arange(n) % len(SHAPES))
    r = rng.integers(1, max(1, size // 4) + 1, size=n)[:, None, None]  # half-extent, (n, 1, 1)
    cy = rng.integers(r[:, 0, 0], size - r[:, 0, 0])[:, None, None]  # centres keep shapes inside
    cx = rng.integers(r[:, 0, 0], size - r[:, 0, 0])[:, None, None]
    grid = np.arange(size)
    dy, dx = grid[None, :, None] - cy, grid[None, None, :] - cx  # (n, size, 1), (n, 1, size)
    inside_y, inside_x = np.abs(dy) <= r, np.abs(dx) <= r
    masks = np.stack(
        [
            inside_y & inside_x,  # square
            (dy == 0) & inside_x,  # horizontal bar
            inside_y & (dx == 0),  # vertical bar
            ((dy == 0) & inside_x) | (inside_y & (dx == 0)),  # cross
            (dy == dx) & inside_x,  # diagonal
        ]
    )  # (5, n, size, size)
    x = masks[y, np.arange(n)].astype(np.float32)[:, None]  # (n, 1, size, size)
    fields = {"kind": "image", "shape": (1, size, size), "levels": 2, "image_mode": "L"}
    return make_dataset(
        x, y, fields=fields, name="blobs", label_names=SHAPES,
        description=f"blobs: {n:,} binary {size}x{size} images of {len(SHAPES)} shapes",
    )


def make_linear_gaussian(
    n: int = 500, data_dim: int = 5, latent_dim: int = 2, noise_std: float = 0.5, seed: int = 0
) -> tuple[Dataset, dict]:
    """Data from the linear-Gaussian model of probabilistic PCA (Tipping & Bishop 1999).

    ``z ~ N(0, I_latent_dim)``, ``x = W z + b + noise_std * eps`` with ``eps ~ N(0, I_data_dim)``, so
    ``x ~ N(b, W W^T + noise_std^2 I)`` exactly: the closed-form log-likelihood to test bounds against.

    Parameters
    ----------
    n, data_dim, latent_dim : int
    noise_std : float
        Observation noise standard deviation (> 0).
    seed : int

    Returns
    -------
    data : Dataset
        ``x`` of shape (n, data_dim), kind "array".
    params : dict
        ``W`` (data_dim, latent_dim), ``b`` (data_dim,), both float64 arrays, and ``noise_std``.

    Examples
    --------
    >>> d, p = make_linear_gaussian(1000, data_dim=3, latent_dim=1, noise_std=0.1, seed=0)
    >>> d.shape, p["W"].shape
    ((3,), (3, 1))
    >>> import numpy as np
    >>> cov = p["W"] @ p["W"].T + 0.1**2 * np.eye(3)
    >>> bool(np.allclose(np.cov(d.x.numpy().T), cov, atol=0.25))
    True
    """
    owner = "make_linear_gaussian"
    for name, value in (("n", n), ("data_dim", data_dim), ("latent_dim", latent_dim)):
        check_param(owner, name, value, Interval("int", 1, None))
    check_param(owner, "noise_std", noise_std, Interval("float", 0, None, closed="neither"))
    rng = np.random.default_rng(seed)
    W = rng.normal(size=(data_dim, latent_dim))
    b = rng.normal(size=data_dim)
    z = rng.normal(size=(n, latent_dim))
    x = z @ W.T + b + noise_std * rng.normal(size=(n, data_dim))  # (n, data_dim)
    data = make_dataset(
        x.astype(np.float32), None, fields={"kind": "array", "shape": (data_dim,), "levels": None, "image_mode": None},
        name="linear_gaussian",
        description=f"linear_gaussian: {n:,} x {data_dim}-d from a {latent_dim}-d latent, noise_std={noise_std}",
    )
    return data, {"W": W, "b": b, "noise_std": float(noise_std)}


def make_table(n: int = 200, seed: int = 0, with_categorical: bool = True) -> "pd.DataFrame":
    """A small mixed-type table: numeric ``age``, ``income``, ``score`` (+ ``color``, ``member``) and ``label``.

    ``label`` ("high" / "low") depends on income and score, so labels are learnable from the features.

    Parameters
    ----------
    n : int
    seed : int
    with_categorical : bool
        Add the text column ``color`` (red / green / blue) and the bool column ``member``.

    Returns
    -------
    DataFrame with n rows

    Examples
    --------
    >>> df = make_table(5, seed=0)
    >>> list(df.columns)
    ['age', 'income', 'score', 'color', 'member', 'label']
    """
    import pandas as pd

    check_param("make_table", "n", n, Interval("int", 1, None))
    rng = np.random.default_rng(seed)
    age = rng.integers(18, 80, size=n)
    income = np.round(rng.lognormal(10.5, 0.5, size=n), 2)
    score = rng.normal(0.0, 1.0, size=n)
    cols: dict[str, object] = {"age": age, "income": income, "score": score}
    if with_categorical:
        cols["color"] = rng.choice(np.array(["red", "green", "blue"], dtype=object), size=n)
        cols["member"] = rng.random(n) < 0.3
    signal = (np.log(income) - 10.5) / 0.5 + score
    cols["label"] = np.where(signal + 0.3 * rng.normal(size=n) > 0, "high", "low")
    return pd.DataFrame(cols)


def make_oversized_png(width: int, height: int) -> bytes:
    """A PNG file whose header declares ``width`` x ``height`` pixels: a 1x1 image with its IHDR chunk
    rewritten (CRC recomputed). A decompression bomb when large, for testing pixel limits.

    Examples
    --------
    >>> import io
    >>> from PIL import Image
    >>> Image.open(io.BytesIO(make_oversized_png(300, 200))).size
    (300, 200)
    """
    import io
    import struct
    import zlib

    from PIL import Image

    buf = io.BytesIO()
    Image.new("L", (1, 1)).save(buf, format="PNG")
    raw = bytearray(buf.getvalue())
    at = raw.index(b"IHDR")
    raw[at + 4 : at + 12] = struct.pack(">II", width, height)
    raw[at + 17 : at + 21] = struct.pack(">I", zlib.crc32(bytes(raw[at : at + 17])) & 0xFFFFFFFF)
    return bytes(raw)

