"""Pictures of what a trained model does, for the CLI, the HTML report and the web explorer.

Image data gives Pillow images (grids and labelled rows from :mod:`vaekit.viz`, colour kept);
vector and table data give matplotlib heat maps (one row per example, one column per feature).
Either kind is a *picture*: :func:`save_picture` writes it as PNG atomically, and
:class:`vaekit.report.Section` embeds it as it is.
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any, Sequence, Union

import numpy as np
import torch
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from PIL import Image

from .. import viz
from ..config import DataSpec
from ..data import Dataset
from ..errors import ConfigError
from . import generate

__all__ = [
    "Picture",
    "is_image_data",
    "spec_of",
    "save_picture",
    "grid_picture",
    "rows_picture",
    "vectors_figure",
    "prior_text",
    "samples_picture",
    "reconstruction_picture",
    "interpolation_picture",
    "latent_figure",
    "manifold_picture",
    "traversal_picture",
    "prior_comparison_figure",
]

#: A Pillow image (image data) or a matplotlib figure (plots, vector data).
Picture = Union[Image.Image, Figure]


def is_image_data(spec_or_model: Any) -> bool:
    """Whether examples are images (C, H, W) that can be drawn as pictures."""
    spec = getattr(spec_or_model, "data_spec", spec_or_model)
    if isinstance(spec, DataSpec):
        return spec.kind == "image"
    shape = getattr(spec_or_model, "data_shape", None)
    return shape is not None and len(shape) == 3


def spec_of(model) -> DataSpec:
    """The model's data spec, or a minimal one from its data shape."""
    spec = model.data_spec
    if spec is None:
        kind = "image" if len(model.data_shape) == 3 else "array"
        spec = DataSpec(kind=kind, shape=model.data_shape)
    return spec


def _scale(spec: DataSpec) -> int:
    """Integer upscaling so that small images (8x8 digits) stay visible: at least ~56 px tall, at most 4x."""
    height = spec.shape[1] if len(spec.shape) == 3 else 28
    return int(min(4, max(1, math.ceil(56 / height))))


def save_picture(picture: Picture, path: str | os.PathLike) -> Path:
    """Write a picture atomically: Pillow images as PNG; figures as PNG, SVG or PDF by suffix.

    Raises
    ------
    ConfigError
        A Pillow image with a suffix other than ``.png``.
    """
    path = Path(path)
    if isinstance(picture, Image.Image):
        if path.suffix.lower() != ".png":
            raise ConfigError(f"The output path of an image must end in .png. Got '{path}' instead.")
        viz.save_image(picture, path)
    else:
        viz.save_figure(picture, path)
    return path


def _new_figure(width: float, height: float) -> Figure:
    # Own canvas, no pyplot: no global figure registry, safe in a web server's threads.
    fig = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def vectors_figure(blocks: Sequence[tuple[str, Any]], spec: DataSpec, *, title: str) -> Figure:
    """Heat maps of feature vectors: one panel per block, one row per example, one column per feature.

    Parameters
    ----------
    blocks : sequence of (label, array of shape (n_i, features))
        Model-space values (tables standardised), drawn on one shared, symmetric colour scale.
    spec : DataSpec
        Supplies column names for tables.
    title : str

    Returns
    -------
    matplotlib.figure.Figure
    """
    arrays = [np.asarray(generate.to_data_range(b, None), dtype=float).reshape(len(b), -1) for _, b in blocks]
    d = arrays[0].shape[1]
    finite = np.concatenate([a[np.isfinite(a)] for a in arrays]) if arrays else np.zeros(1)
    lim = float(np.percentile(np.abs(finite), 99)) if finite.size else 1.0
    lim = lim if lim > 0 else 1.0
    heights = [max(1.0, 0.18 * len(a) + 0.6) for a in arrays]
    fig = _new_figure(min(14.0, 3.0 + 0.28 * d), min(30.0, sum(heights) + 1.2))
    axes = fig.subplots(len(arrays), 1, squeeze=False, height_ratios=heights)[:, 0]
    columns = list(spec.columns) if spec.kind == "table" and len(spec.columns) == d else [f"x{j}" for j in range(d)]
    image = None
    for ax, (label, _), a in zip(axes, blocks, arrays):
        image = ax.imshow(a, aspect="auto", cmap="RdBu_r", vmin=-lim, vmax=lim, interpolation="nearest")
        ax.set_ylabel(label)
        ax.set_yticks(range(len(a)) if len(a) <= 20 else [])
        if d <= 40:
            ax.set_xticks(range(d), columns if ax is axes[-1] else [""] * d, rotation=60, ha="right", fontsize=8)
        else:
            ax.set_xticks([])
    axes[-1].set_xlabel("feature")
    unit = "standardised value" if spec.kind == "table" else "value"
    fig.colorbar(image, ax=list(axes), label=unit, shrink=0.8)
    fig.suptitle(title)
    return fig


def grid_picture(x: torch.Tensor, spec: DataSpec, *, title: str, nrow: int | None = None) -> Picture:
    """Many examples at once: an image grid, or a heat map for vectors."""
    if spec.kind == "image":
        return viz.image_grid(x, nrow=nrow, scale=_scale(spec))
    return vectors_figure([(title, x)], spec, title=title)


def rows_picture(rows: Sequence[torch.Tensor], labels: Sequence[str], spec: DataSpec, *, title: str) -> Picture:
    """Rows of examples, each with a label: labelled image strips, or stacked heat maps for vectors."""
    if spec.kind == "image":
        return viz.labeled_rows(list(rows), list(labels), scale=_scale(spec))
    return vectors_figure(list(zip(labels, rows)), spec, title=title)


def prior_text(model) -> str:
    """How a caption names the model's prior: "N(0, I)", or e.g. "p(z), a learned mixture of 50 Gaussians"."""
    name = getattr(getattr(model, "config", None), "prior", "standard_normal")
    if name == "standard_normal":
        return "N(0, I)"
    opts = getattr(model.config, "prior_options", None)
    what = {"mixture": f"a learned mixture of {getattr(opts, 'components', '?')} Gaussians",
            "vamp": f"the VampPrior ({getattr(opts, 'components', '?')} pseudo-inputs)",
            "ladder": f"the ladder prior ({getattr(opts, 'layers', '?')} latent layers)"}.get(name, f"the {name!r} prior")
    return f"p(z), {what}"


def samples_picture(model, n: int = 64, *, temperature: float = 1.0, seed: int | None = 0, y=None,
                    label: str | None = None) -> Picture:
    """Decoded draws z ~ p(z): a grid of ``n`` images (or a heat map of ``n`` vectors).

    ``y`` is the class a label-conditioned model generates (see :func:`generate.sample`); ``label``
    names it in the title of a heat map.
    """
    x = generate.sample(model, n, temperature=temperature, seed=seed, y=y)
    title = f"{n} samples, z ~ {prior_text(model)}" + (f" x {temperature:g}" if temperature != 1 else "")
    if y is not None:
        title += f", class {label if label is not None else y}"
    return grid_picture(x, spec_of(model), title=title)


def reconstruction_picture(model, x: torch.Tensor, *, per_row: int = 16) -> Picture:
    """Inputs above, reconstructions below (pairs of rows of at most ``per_row`` examples)."""
    r = generate.reconstruct(model, x)
    rows, labels = [], []
    for start in range(0, len(x), per_row):
        rows += [x[start : start + per_row], r[start : start + per_row]]
        labels += ["input", "reconstruction"]
    return rows_picture(rows, labels, spec_of(model), title="Inputs and reconstructions")


def interpolation_picture(
    model,
    endpoints: Sequence[tuple[torch.Tensor, torch.Tensor, str]],
    *,
    steps: int = 10,
    spherical: bool = False,
) -> Picture:
    """One row per (a, b, label): the decoded path between the posterior means of a and b."""
    rows = [generate.interpolate(model, a, b, steps=steps, spherical=spherical) for a, b, _ in endpoints]
    kind = "spherical" if spherical else "linear"
    return rows_picture(rows, [lab for _, _, lab in endpoints], spec_of(model), title=f"Interpolations ({kind} in z)")


def latent_figure(model, data: Dataset, *, max_points: int = 2000, title: str | None = None) -> Figure:
    """Posterior means coloured by label; PCA to 2-D (noted on the plot) when latent_dim > 2."""
    z, labels = generate.posterior_means(model, data, limit=max_points)
    names = list(data.spec.label_names) if labels is not None and data.spec.label_names else None
    is_vae = bool(getattr(model, "has_density", True))
    what = "posterior means" if is_vae else "autoencoder codes"
    return viz.plot_latent_scatter(
        z, labels, label_names=names, what=what,
        title=title or f"Latent space: {what} of {len(z):,} examples of {Path(data.name).name or data.name}",
        legend_title=data.spec.label_column or "label",
    )


def manifold_picture(model, *, steps: int = 15) -> Picture:
    """The decoded grid over the prior's quantiles in latent dimensions 0 and 1 (the learned manifold)."""
    x = generate.manifold(model, steps=steps)
    spec = spec_of(model)
    if spec.kind == "image":
        return viz.image_grid(x, nrow=steps, padding=0, scale=max(1, _scale(spec) // 2))
    return vectors_figure([("grid point", x)], spec, title=f"Decoded {steps}x{steps} grid over the prior's quantiles")


def traversal_picture(
    model,
    *,
    dims: Sequence[int] | None = None,
    steps: int = 9,
    base: torch.Tensor | None = None,
    activity: np.ndarray | None = None,
    codes: np.ndarray | None = None,
) -> Picture:
    """One row per latent dimension, varied across the prior's range (or, with ``codes``, the data's) with
    the others fixed.

    With ``activity`` (per-dimension variance of the posterior means, from
    :func:`~vaekit.tasks.generate.latent_activity`) the rows are labelled with it, so inactive
    dimensions (variance < 0.01, rows that do not change) are easy to tell apart. With ``codes``
    (posterior means of data) each row spans its dimension's 3%-97% range over the data, labelled.
    """
    x, dims, values = generate.traverse(model, dims=dims, steps=steps, base=base, codes=codes)
    labels = [f"z[{d}]" + ("" if activity is None else f" var {activity[d]:.2f}") for d in dims]
    if codes is not None or not bool((values == values[:1]).all()):  # a range per row: label each
        labels = [f"{lab} {float(v[0]):.2f}..{float(v[-1]):.2f}" for lab, v in zip(labels, values)]
        title = ("Latent traversals over the data's 3%-97% range of each z[i]" if codes is not None
                 else "Latent traversals over the prior's range of each z[i]")
    else:
        title = f"Latent traversals, z[i] from {float(values[0, 0]):.2f} to {float(values[0, -1]):.2f}"
    return rows_picture(list(x), labels, spec_of(model), title=title)


def prior_comparison_figure(models: Sequence[tuple[str, Any]], *, n: int = 64, seed: int = 0) -> Figure:
    """Side by side: each model decoding ``n`` seeded draws of its prior (the same draws z ~ N(0, I) for
    models with the standard normal prior).

    For a VAE these are samples of the model; an autoencoder was never asked to make N(0, I) codes
    decodable, so the same picture shows what it lacks.
    """
    spec = spec_of(models[0][1])
    fig = _new_figure(4.4 * len(models), 4.9)
    axes = fig.subplots(1, len(models), squeeze=False)[0]
    for ax, (name, model) in zip(axes, models):
        x = generate.sample(model, n, seed=seed)
        if spec.kind == "image":
            grid = np.asarray(viz.image_grid(x, nrow=int(math.ceil(math.sqrt(n))), padding=1))
            ax.imshow(grid, cmap="gray" if grid.ndim == 2 else None, vmin=0, vmax=255, interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
        else:
            a = np.asarray(x, dtype=float).reshape(n, -1)
            ax.imshow(a, aspect="auto", cmap="RdBu_r", interpolation="nearest")
            ax.set_xlabel("feature")
            ax.set_ylabel("sample")
        ax.set_title(name)
    fig.suptitle(f"Decoding {n} draws of each model's prior (N(0, I) for the autoencoder)")
    return fig
