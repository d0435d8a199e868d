"""Nearest neighbours in latent space (``vaekit neighbors``): the examples whose posterior means are
closest to a query's, and a captioned picture of them."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from ..config import DataSpec
from ..data import Dataset
from ..errors import DataError
from ._estimator import check_int as _check_int
from .encoding import encode

__all__ = ["Neighbors", "nearest_neighbors", "neighbors_picture"]


@dataclass(frozen=True)
class Neighbors:
    """The examples closest to a query in latent space (Euclidean distance between posterior means).

    Attributes
    ----------
    query : Tensor of shape data_shape
    query_label : str
        ``"#12 (7)"`` for an index (with its class name), or the image file's name.
    query_index : int or None
        Index of the query in the data (excluded from its own neighbours), None for a file.
    indices : ndarray of shape (k,)
        Indices into the data, nearest first.
    distances : ndarray of shape (k,)
    examples : Tensor of shape (k, *data_shape)
    labels : list of str
        ``"#i (class)"`` for each neighbour.
    """

    query: torch.Tensor
    query_label: str
    query_index: int | None
    indices: np.ndarray
    distances: np.ndarray
    examples: torch.Tensor
    labels: list[str]


def _example_label(data: Dataset, i: int) -> str:
    label = f"#{i}"
    if data.y is not None and data.spec.label_names:
        y = int(data.y[i])
        if 0 <= y < len(data.spec.label_names):
            label += f" ({data.spec.label_names[y]})"
    return label


def nearest_neighbors(model, data: Dataset, query: str | int, k: int = 8, *, batch_size: int = 1024) -> Neighbors:
    """The ``k`` examples of ``data`` whose posterior means are closest to the query's.

    Parameters
    ----------
    model : VAE or Autoencoder
    data : Dataset
    query : int or str
        An index into ``data`` (negative counts from the end) or a path to an image file.
    k : int
    batch_size : int

    Returns
    -------
    Neighbors

    Raises
    ------
    DataError
        Index out of range, unreadable file, or fewer than ``k`` other examples.
    """
    from sklearn.neighbors import NearestNeighbors

    from .generate import resolve_example

    _check_int("nearest_neighbors", "k", k, 1)
    x_query, query_label = resolve_example(query, model, data)
    try:
        index = int(str(query).strip()) % len(data)
    except ValueError:
        index = None
    available = len(data) - (index is not None)
    if k > available:
        raise DataError(f"Asked for {k} neighbours, but data '{data.name}' has only {available:,} other examples; "
                        f"use -k {max(available, 1)} or more data.")
    z = encode(model, data, batch_size=batch_size)  # (n, latent_dim)
    zq = encode(model, x_query[None])
    nn = NearestNeighbors(n_neighbors=min(len(data), k + 1)).fit(z)
    dist, idx = nn.kneighbors(zq)
    keep = idx[0] != index if index is not None else np.ones(idx.shape[1], dtype=bool)
    idx, dist = idx[0][keep][:k], dist[0][keep][:k]
    return Neighbors(
        query=x_query, query_label=query_label, query_index=index, indices=idx, distances=dist,
        examples=data.get(torch.as_tensor(idx)), labels=[_example_label(data, int(i)) for i in idx],
    )


def neighbors_picture(model, result: Neighbors):
    """The query then its neighbours, each captioned with its index, class and distance.

    Images give one captioned strip (Pillow); vectors and tables give stacked heat maps.
    """
    from . import visualize

    spec = visualize.spec_of(model)
    captions = [[result.query_label, "query"]] + [
        [label, f"d = {d:.3g}"] for label, d in zip(result.labels, result.distances)
    ]
    if spec.kind != "image":
        rows = [result.query[None]] + [e[None] for e in result.examples]
        return visualize.rows_picture(rows, [" ".join(c) for c in captions], spec,
                                      title=f"{len(result.indices)} nearest neighbours in latent space")
    return _captioned_strip(torch.cat([result.query[None], result.examples]), captions, spec)


def _captioned_strip(x: torch.Tensor, captions: list[list[str]], spec: DataSpec):
    from PIL import Image, ImageDraw, ImageFont

    from .. import viz

    imgs = viz.to_uint8_images(np.clip(x.numpy(), 0, 1))  # (n, H, W, C)
    n, h, w, c = imgs.shape
    scale = int(max(1, min(4, math.ceil(84 / h))))
    mode = "L" if c == 1 else "RGB"
    try:
        font = ImageFont.load_default(size=12)
    except (TypeError, OSError):  # Pillow without FreeType
        font = ImageFont.load_default()
    probe = ImageDraw.Draw(Image.new(mode, (1, 1)))
    text_w = max(probe.textbbox((0, 0), line, font=font)[2] for cap in captions for line in cap)
    line_h = probe.textbbox((0, 0), "Ag", font=font)[3] + 3
    gap = 8
    cell_w = max(w * scale, text_w) + gap
    canvas = Image.new(mode, (n * cell_w + gap + gap, h * scale + 2 * line_h + 3 * gap), "white")
    draw = ImageDraw.Draw(canvas)
    for i in range(n):
        a = imgs[i]
        im = Image.fromarray(a[:, :, 0] if c == 1 else a).convert(mode)
        im = im.resize((w * scale, h * scale), Image.Resampling.NEAREST)
        left = gap + i * cell_w + (i > 0) * gap  # a wider gap after the query
        canvas.paste(im, (left + (cell_w - gap - im.width) // 2, gap))
        for j, line in enumerate(captions[i]):
            tw = probe.textbbox((0, 0), line, font=font)[2]
            draw.text((left + (cell_w - gap - tw) // 2, gap + im.height + 4 + j * line_h), line, fill="black", font=font)
    if n > 1:  # a rule between the query and its neighbours
        xline = gap + cell_w + gap // 2 - 1
        draw.line([(xline, gap), (xline, canvas.height - gap)], fill=128 if mode == "L" else (128, 128, 128), width=1)
    return canvas
