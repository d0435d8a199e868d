"""Plots and image grids from plain arrays: no model code, so the CLI, the web server and notebooks share them.

Everything here takes numpy arrays (or anything :func:`numpy.asarray` accepts, CPU tensors included)
and returns a :class:`PIL.Image.Image` or a :class:`matplotlib.figure.Figure`.

Figures are built with :class:`matplotlib.figure.Figure` and
:class:`~matplotlib.backends.backend_agg.FigureCanvasAgg` directly, never through ``pyplot``: no global figure registry, no GUI window, safe to call from
several threads (the web server renders plots per request). Files are written atomically through
:mod:`vaekit.io`.

Image conventions
-----------------
Images come in as ``(n, C, H, W)`` (the torch layout) or ``(n, H, W)`` floats in [0, 1], or as
uint8. Flat rows ``(n, D)`` need ``shape=(C, H, W)`` or ``shape=(H, W)``.
:func:`to_uint8_images` turns all of these into ``(n, H, W, C)`` uint8, the layout Pillow uses.
"""

from __future__ import annotations

import io as _io
import math
import os
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np
from matplotlib import colormaps
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from PIL import Image, ImageDraw, ImageFont

from ._validation import Interval, check_param
from .errors import ConfigError, DataError
from .io import atomic_write_bytes

__all__ = [
    "to_uint8_images",
    "image_grid",
    "labeled_rows",
    "save_image",
    "image_to_png_bytes",
    "plot_training_curves",
    "reduce_2d",
    "plot_latent_scatter",
    "plot_histogram",
    "figure_to_png_bytes",
    "save_figure",
]

_CHANNELS = (1, 3, 4)
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


# ----------------------------------------------------------------------------- images


def _as_numpy(x: Any) -> np.ndarray:
    # Tensors: detach and move to CPU without importing torch here.
    if hasattr(x, "detach") and hasattr(x, "cpu"):
        x = x.detach().cpu().numpy()
    return np.asarray(x)


def to_uint8_images(x: Any, shape: Sequence[int] | None = None) -> np.ndarray:
    """Convert a batch of images to ``(n, H, W, C)`` uint8.

    Parameters
    ----------
    x : array of shape (n, C, H, W), (n, H, W), (n, H, W, C) or (n, D)
        Floats are read as intensities in [0, 1] and clipped to that range (so outputs of a
        Gaussian decoder that overshoot do not wrap around); bool as 0 / 1; other integer
        dtypes as 8-bit intensities in [0, 255]. ``C`` must be 1, 3 or 4. A 4-D array whose
        second axis is not 1, 3 or 4 but whose last axis is, is taken as channels-last, so the
        output of this function is accepted again unchanged.
    shape : tuple of int, optional
        ``(C, H, W)`` or ``(H, W)`` of one image; required for flat ``(n, D)`` rows, where
        ``D`` must equal the product of ``shape``.

    Returns
    -------
    ndarray of shape (n, H, W, C), dtype uint8

    Raises
    ------
    DataError
        If the array has the wrong number of dimensions or channels, is empty, contains NaN or
        infinity, or holds integers outside [0, 255].

    Examples
    --------
    >>> import numpy as np
    >>> to_uint8_images(np.full((2, 1, 3, 4), 0.5)).shape
    (2, 3, 4, 1)
    >>> to_uint8_images(np.array([[0.0, 1.0, 2.0, -1.0]]), shape=(2, 2))[0, :, :, 0]
    array([[  0, 255],
           [255,   0]], dtype=uint8)
    """
    a = _as_numpy(x)
    if shape is not None:
        shape = tuple(int(s) for s in shape)
        if len(shape) not in (2, 3):
            raise ConfigError(
                f"The 'shape' parameter of to_uint8_images must be (C, H, W) or (H, W). Got {shape!r} instead."
            )
        if a.ndim < 1 or a.size != a.shape[0] * math.prod(shape):
            raise DataError(
                f"Images of shape {a.shape} cannot be reshaped to (n, *{shape}): each image needs "
                f"{math.prod(shape)} values."
            )
        a = a.reshape(a.shape[0], *shape)
    if a.ndim == 3:
        a = a[:, None]  # (n, 1, H, W)
    elif a.ndim == 4:
        if a.shape[1] not in _CHANNELS and a.shape[3] in _CHANNELS:
            a = a.transpose(0, 3, 1, 2)  # channels-last -> (n, C, H, W)
        if a.shape[1] not in _CHANNELS:
            raise DataError(
                f"Images must have 1, 3 or 4 channels as (n, C, H, W); got an array of shape {a.shape}."
            )
    elif a.ndim == 2:
        raise DataError(
            f"Images of shape {a.shape} are flat rows; pass shape=(C, H, W) or shape=(H, W) to say how to "
            "unflatten them."
        )
    else:
        raise DataError(
            f"Images must be an array of shape (n, C, H, W) or (n, H, W); got one of shape {a.shape}."
        )
    if a.shape[0] == 0 or a.size == 0:
        raise DataError(f"Images must contain at least one non-empty image; got an array of shape {a.shape}.")

    if a.dtype == np.uint8:
        out = a
    elif a.dtype == np.bool_:
        out = a.astype(np.uint8) * 255
    elif np.issubdtype(a.dtype, np.integer):
        lo, hi = int(a.min()), int(a.max())
        if lo < 0 or hi > 255:
            raise DataError(
                f"Integer images must hold 8-bit intensities in [0, 255]; found values from {lo} to {hi}. "
                "Pass floats in [0, 1] instead."
            )
        out = a.astype(np.uint8)
    elif np.issubdtype(a.dtype, np.floating):
        if not np.isfinite(a).all():
            bad = int(np.count_nonzero(~np.isfinite(a)))
            raise DataError(f"Images contain {bad} NaN or infinite values; expected floats in [0, 1].")
        out = np.rint(np.clip(a, 0.0, 1.0) * 255.0).astype(np.uint8)
    else:
        raise DataError(f"Images must be numeric (float in [0, 1] or uint8); got dtype {a.dtype}.")
    return np.ascontiguousarray(out.transpose(0, 2, 3, 1))  # (n, H, W, C)


def _from_hwc(a: np.ndarray) -> Image.Image:
    """(H, W, C) uint8 -> PIL image of mode L, RGB or RGBA."""
    return Image.fromarray(a[:, :, 0] if a.shape[2] == 1 else a)


def image_grid(
    x: Any,
    *,
    nrow: int | None = None,
    padding: int = 2,
    scale: int = 1,
    pad_value: float = 1.0,
    shape: Sequence[int] | None = None,
) -> Image.Image:
    """Tile a batch of images into one grid image.

    Parameters
    ----------
    x : array of shape (n, C, H, W), (n, H, W) or (n, D)
        Anything :func:`to_uint8_images` accepts.
    nrow : int, optional
        Number of images per row of the grid (as in ``torchvision.utils.make_grid``); default
        ``ceil(sqrt(n))``, capped at ``n``. The number of rows is ``ceil(n / nrow)``; unused
        cells of the last row are filled with ``pad_value``.
    padding : int, default 2
        Pixels between images and around the border, before scaling.
    scale : int, default 1
        Integer upscaling factor applied to the whole grid with nearest-neighbour resampling,
        so small images (28 x 28 digits) stay sharp.
    pad_value : float in [0, 1], default 1.0
        Intensity of the padding (1.0 = white). The alpha of RGBA padding is always opaque.
    shape : tuple of int, optional
        Image shape for flat ``(n, D)`` input; see :func:`to_uint8_images`.

    Returns
    -------
    PIL.Image.Image
        Mode ``"L"`` for single-channel images, ``"RGB"`` or ``"RGBA"`` otherwise, of width
        ``(ncol * (W + padding) + padding) * scale`` and height
        ``(nrows * (H + padding) + padding) * scale``.

    Examples
    --------
    >>> import numpy as np
    >>> img = image_grid(np.zeros((5, 28, 28)), padding=2)
    >>> img.mode, img.size  # 3 columns x 2 rows of 28 x 28 with 2 px padding
    ('L', (92, 62))
    >>> image_grid(np.zeros((4, 3, 8, 8)), nrow=4, padding=0, scale=2).size
    (64, 16)
    """
    check_param("image_grid", "nrow", nrow, Interval("int", 1, None, optional=True))
    check_param("image_grid", "padding", padding, Interval("int", 0, None))
    check_param("image_grid", "scale", scale, Interval("int", 1, None))
    check_param("image_grid", "pad_value", pad_value, Interval("float", 0, 1))
    imgs = to_uint8_images(x, shape)  # (n, H, W, C)
    n, h, w, c = imgs.shape
    ncol = min(nrow if nrow is not None else math.ceil(math.sqrt(n)), n)
    nrows = math.ceil(n / ncol)
    p = padding
    fill = np.full(c, round(pad_value * 255), dtype=np.uint8)
    if c == 4:
        fill[3] = 255

    # Each tile holds its image at the bottom-right of a (H + p, W + p) cell; the cells are laid out
    # row-major and one more strip of padding closes the right and bottom borders.
    tiles = np.empty((nrows * ncol, h + p, w + p, c), dtype=np.uint8)
    tiles[...] = fill
    tiles[:n, p:, p:] = imgs
    body = tiles.reshape(nrows, ncol, h + p, w + p, c).transpose(0, 2, 1, 3, 4)
    body = body.reshape(nrows * (h + p), ncol * (w + p), c)
    grid = np.empty((body.shape[0] + p, body.shape[1] + p, c), dtype=np.uint8)
    grid[...] = fill
    grid[: body.shape[0], : body.shape[1]] = body

    img = _from_hwc(grid)
    if scale != 1:
        img = img.resize((img.width * scale, img.height * scale), Image.Resampling.NEAREST)
    return img


def _font(size: int) -> ImageFont.ImageFont | ImageFont.FreeTypeFont:
    """Pillow's built-in font at ``size`` px (needs FreeType; falls back to the fixed bitmap font)."""
    try:
        return ImageFont.load_default(size=size)
    except (TypeError, ImportError, OSError):  # Pillow < 10.1 or built without FreeType
        return ImageFont.load_default()


def labeled_rows(
    rows: Sequence[Any],
    labels: Sequence[str],
    *,
    scale: int = 2,
    padding: int = 2,
    pad_value: float = 1.0,
    shape: Sequence[int] | None = None,
    font_size: int | None = None,
) -> Image.Image:
    """Stack rows of images, each with a text label on the left.

    For reconstructions (``"input"`` / ``"reconstruction"``), interpolations, latent traversals
    (one row per latent dimension) and side-by-side comparisons.

    Parameters
    ----------
    rows : sequence of arrays, each of shape (n_i, C, H, W), (n_i, H, W) or (n_i, D)
        One array per row; rows may differ in length and image size. Each row is rendered with
        :func:`image_grid` as a single line of ``n_i`` images.
    labels : sequence of str
        One label per row, drawn in black with Pillow's default font.
    scale : int, default 2
        Integer nearest-neighbour upscaling of the images (and their padding).
    padding : int, default 2
        Pixels around each image, before scaling.
    pad_value : float in [0, 1], default 1.0
        Intensity of the padding.
    shape : tuple of int, optional
        Image shape for flat rows; see :func:`to_uint8_images`.
    font_size : int, optional
        Label size in pixels; default a quarter of the smallest row height, clamped to [10, 20].

    Returns
    -------
    PIL.Image.Image
        Mode ``"RGB"`` if any row is in colour, else ``"L"``. Height is the sum of the row
        heights ``(H_i + 2 * padding) * scale``; width is the label column plus the widest row.

    Raises
    ------
    DataError
        If ``rows`` is empty or ``rows`` and ``labels`` differ in length.

    Examples
    --------
    >>> import numpy as np
    >>> x = np.random.default_rng(0).random((6, 28, 28))
    >>> img = labeled_rows([x, 1 - x], ["input", "reconstruction"], scale=2)
    >>> img.mode, img.height  # 2 rows of (28 + 2 * 2) * 2 px
    ('L', 128)
    """
    check_param("labeled_rows", "scale", scale, Interval("int", 1, None))
    check_param("labeled_rows", "font_size", font_size, Interval("int", 1, None, optional=True))
    rows = list(rows)
    labels = [str(s) for s in labels]
    if not rows:
        raise DataError("labeled_rows needs at least one row of images; got none.")
    if len(rows) != len(labels):
        raise DataError(f"labeled_rows got {len(rows)} rows but {len(labels)} labels; pass one label per row.")
    arrays = [to_uint8_images(r, shape) for r in rows]
    strips = [
        image_grid(a, nrow=len(a), padding=padding, scale=scale, pad_value=pad_value) for a in arrays
    ]
    mode = "RGB" if any(a.shape[-1] != 1 for a in arrays) else "L"
    strips = [s.convert(mode) for s in strips]

    size = font_size if font_size is not None else int(np.clip(min(s.height for s in strips) // 4, 10, 20))
    font = _font(size)
    probe = ImageDraw.Draw(Image.new(mode, (1, 1)))
    boxes = [probe.textbbox((0, 0), text, font=font) for text in labels]
    margin = max(4, size // 2)
    label_w = max(b[2] for b in boxes) + 2 * margin if any(labels) else 0

    canvas = Image.new(mode, (label_w + max(s.width for s in strips), sum(s.height for s in strips)), "white")
    draw = ImageDraw.Draw(canvas)
    y = 0
    for strip, text, box in zip(strips, labels, boxes):
        canvas.paste(strip, (label_w, y))
        if text:
            # Centre the text's ink box vertically in the row (works for bitmap and FreeType fonts).
            ty = y + (strip.height - (box[3] - box[1])) / 2 - box[1]
            draw.text((margin, ty), text, fill="black", font=font)
        y += strip.height
    return canvas


def image_to_png_bytes(img: Image.Image) -> bytes:
    """Encode a Pillow image as PNG.

    Parameters
    ----------
    img : PIL.Image.Image

    Returns
    -------
    bytes
        The PNG file contents.

    Examples
    --------
    >>> from PIL import Image
    >>> image_to_png_bytes(Image.new("L", (2, 2)))[:4]
    b'\\x89PNG'
    """
    if not isinstance(img, Image.Image):
        raise DataError(f"Expected a PIL.Image.Image; got {type(img).__name__}. Build one with image_grid().")
    buf = _io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()


def save_image(img: Image.Image, path: str | os.PathLike) -> None:
    """Write ``img`` to ``path`` as PNG, atomically (temporary file + ``os.replace``).

    Parameters
    ----------
    img : PIL.Image.Image
    path : str or path-like
        Destination; parent folders are created.

    Examples
    --------
    >>> import tempfile, pathlib, numpy as np
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "grid.png"
    >>> save_image(image_grid(np.zeros((4, 8, 8))), p)
    >>> p.read_bytes()[:4]
    b'\\x89PNG'
    """
    atomic_write_bytes(path, image_to_png_bytes(img))


# ----------------------------------------------------------------------------- figures


def _new_figure(width: float, height: float) -> Figure:
    # A Figure with its own Agg canvas: no pyplot, no global state, no window.
    fig = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(fig)
    return fig


_FIGURE_FORMATS = ("png", "svg", "pdf")


def figure_to_png_bytes(fig: Figure, dpi: int = 100) -> bytes:
    """Render a matplotlib figure to PNG bytes.

    Parameters
    ----------
    fig : matplotlib.figure.Figure
    dpi : int, default 100
        Pixels per inch; the image is ``figsize * dpi`` pixels.

    Returns
    -------
    bytes
        The PNG file contents.

    Examples
    --------
    >>> fig = plot_histogram([1.0, 2.0, 2.5, 3.0])
    >>> figure_to_png_bytes(fig)[:4]
    b'\\x89PNG'
    """
    return _figure_bytes(fig, "png", dpi)


def _figure_bytes(fig: Figure, fmt: str, dpi: int) -> bytes:
    check_param("figure_to_png_bytes", "dpi", dpi, Interval("int", 1, None))
    if not hasattr(fig, "savefig"):
        raise DataError(f"Expected a matplotlib Figure; got {type(fig).__name__}.")
    buf = _io.BytesIO()
    fig.savefig(buf, format=fmt, dpi=dpi)
    return buf.getvalue()


def save_figure(fig: Figure, path: str | os.PathLike, dpi: int = 110) -> None:
    """Write a figure to ``path`` atomically.

    Parameters
    ----------
    fig : matplotlib.figure.Figure
    path : str or path-like
        Destination. The format follows the suffix: ``.png`` (also used when there is no
        suffix), ``.svg`` or ``.pdf``.
    dpi : int, default 110
        Pixels per inch for PNG output.

    Raises
    ------
    ConfigError
        If the suffix names another format.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "hist.png"
    >>> save_figure(plot_histogram([0.1, 0.2, 0.4]), p)
    >>> p.read_bytes()[:4]
    b'\\x89PNG'
    """
    fmt = Path(path).suffix.lstrip(".").lower() or "png"
    if fmt not in _FIGURE_FORMATS:
        raise ConfigError(
            f"The 'path' parameter of save_figure must end in .png, .svg or .pdf. Got {str(path)!r} instead."
        )
    atomic_write_bytes(path, _figure_bytes(fig, fmt, dpi))


def _finish(fig: Figure, path: str | os.PathLike | None) -> Figure:
    if path is not None:
        save_figure(fig, path)
    return fig


# (title, y-axis label, train column, val column)
_CURVE_PANELS = (
    ("Loss", "loss", "train_loss", "val_loss"),
    ("Reconstruction", "reconstruction NLL", "train_reconstruction_nll", "val_reconstruction_nll"),
    ("KL divergence", "KL(q(z|x) || p(z))", "train_kl", "val_kl"),
)
_SCHEDULE_COLUMNS = ("kl_weight", "lr")


def plot_training_curves(metrics: Any, path: str | os.PathLike | None = None) -> Figure:
    """Plot per-epoch training metrics: loss, reconstruction, KL and the schedules.

    Parameters
    ----------
    metrics : list of dict, dict of lists or pandas.DataFrame
        One row per epoch (the rows of ``metrics.csv``). Recognised columns, any subset:
        ``epoch`` (x axis; default 1, 2, ...), ``train_loss`` / ``val_loss``,
        ``train_reconstruction_nll`` / ``val_reconstruction_nll``, ``train_kl`` / ``val_kl``,
        ``kl_weight`` and ``lr``. Panels whose columns are all absent are left out; other
        columns are ignored. Train curves are solid, validation curves dashed.
    path : str or path-like, optional
        If given, the figure is also saved there atomically (see :func:`save_figure`).

    Returns
    -------
    matplotlib.figure.Figure
        One panel per group present, side by side (the schedule panel puts ``lr`` on a
        second y axis when both schedules are present).

    Raises
    ------
    DataError
        If there are no rows, none of the recognised columns, or a non-numeric value in one.

    Examples
    --------
    >>> rows = [{"epoch": e, "train_loss": 10 / e, "val_loss": 11 / e, "lr": 1e-3} for e in (1, 2, 3)]
    >>> fig = plot_training_curves(rows)
    >>> [ax.get_title() for ax in fig.axes]
    ['Loss', 'Schedule']
    """
    import pandas as pd

    try:
        df = metrics if isinstance(metrics, pd.DataFrame) else pd.DataFrame(metrics)
    except (TypeError, ValueError) as e:
        raise DataError(f"metrics must be a list of dicts or a DataFrame with one row per epoch: {e}") from e
    if len(df) == 0:
        raise DataError("metrics has no rows; expected one row per epoch.")
    known = [c for p in _CURVE_PANELS for c in p[2:]] + list(_SCHEDULE_COLUMNS)
    present = [c for c in known if c in df.columns]
    if not present:
        raise DataError(
            f"metrics has none of the columns {', '.join(known)}; found {', '.join(map(str, df.columns))}."
        )

    def column(name: str) -> np.ndarray:
        try:
            return pd.to_numeric(df[name], errors="raise").to_numpy(dtype=float)
        except (TypeError, ValueError) as e:
            raise DataError(f"Column '{name}' of metrics must be numeric: {e}") from e

    x = column("epoch") if "epoch" in df.columns else np.arange(1, len(df) + 1, dtype=float)
    marker = "o" if len(df) <= 30 else None  # a single epoch would otherwise draw nothing

    panels = [p for p in _CURVE_PANELS if p[2] in df.columns or p[3] in df.columns]
    schedules = [c for c in _SCHEDULE_COLUMNS if c in df.columns]
    n_panels = len(panels) + (1 if schedules else 0)
    fig = _new_figure(4.2 * n_panels, 3.6)
    axes = fig.subplots(1, n_panels, squeeze=False)[0]

    for ax, (title, ylabel, train_col, val_col) in zip(axes, panels):
        for col, split, style, colour in ((train_col, "train", "-", "C0"), (val_col, "val", "--", "C1")):
            if col in df.columns:
                ax.plot(x, column(col), linestyle=style, color=colour, marker=marker, markersize=3, label=split)
        ax.set_title(title)
        ax.set_xlabel("epoch")
        ax.set_ylabel(ylabel)
        ax.grid(alpha=0.3)
        ax.legend()

    if schedules:
        ax = axes[-1]
        ax.set_title("Schedule")
        ax.set_xlabel("epoch")
        handles = []
        names = {"kl_weight": "KL weight", "lr": "learning rate"}
        for i, col in enumerate(schedules):
            # Two schedules have unrelated scales: the second gets its own y axis on the right.
            target = ax if i == 0 else ax.twinx()
            (line,) = target.plot(
                x, column(col), color=f"C{2 + i}", linestyle="-", marker=marker, markersize=3, label=names[col]
            )
            target.set_ylabel(names[col])
            handles.append(line)
        ax.grid(alpha=0.3)
        ax.legend(handles=handles, loc="best")

    fig.suptitle("Training curves")
    return _finish(fig, path)


def _check_2d_numeric(z: Any, name: str) -> np.ndarray:
    a = _as_numpy(z)
    if a.ndim != 2 or a.shape[0] == 0 or a.shape[1] == 0:
        raise DataError(f"{name} must be a non-empty array of shape (n, d); got shape {a.shape}.")
    try:
        a = a.astype(float)
    except (TypeError, ValueError) as e:
        raise DataError(f"{name} must be numeric; got dtype {a.dtype}.") from e
    if not np.isfinite(a).all():
        raise DataError(f"{name} contains {int(np.count_nonzero(~np.isfinite(a)))} NaN or infinite values.")
    return a


_METHODS = ("pca", "tsne")


def _reduce(
    z: np.ndarray, method: str, seed: int, what: str
) -> tuple[np.ndarray, str | None, tuple[str, str]]:
    """Shared body of :func:`reduce_2d`; also returns axis labels for the scatter plot."""
    if method not in _METHODS:
        raise ConfigError(
            f"The 'method' parameter of reduce_2d must be one of 'pca', 'tsne'. Got {method!r} instead."
        )
    n, d = z.shape
    if d == 1:
        return np.column_stack([z[:, 0], np.zeros(n)]), f"1-D {what}, shown on a line", ("z[0]", "")
    if d == 2:
        return z.copy(), None, ("z[0]", "z[1]")
    if n < 2:
        raise DataError(f"Reducing {d}-D {what} to 2-D needs at least 2 rows; got {n}.")
    if method == "pca":
        from sklearn.decomposition import PCA

        z2 = PCA(n_components=2, svd_solver="full", random_state=seed).fit_transform(z)
        # Computed here rather than from explained_variance_ratio_, which divides by zero (and
        # warns) when every row is the same.
        total = float(z.var(axis=0).sum())
        share = float(z2.var(axis=0).sum()) / total if total > 0 else 0.0
        return z2, f"PCA of {d}-D {what} (explains {share:.0%} of variance)", ("PC 1", "PC 2")
    from sklearn.manifold import TSNE

    # Perplexity must be below the number of samples; 30 is sklearn's default for larger sets.
    perplexity = float(min(30.0, max(1.0, (n - 1) / 3)))
    z2 = TSNE(n_components=2, perplexity=perplexity, init="pca", random_state=seed).fit_transform(z)
    note = f"t-SNE of {d}-D {what} (perplexity {perplexity:g}); only neighbourhoods are meaningful, not distances"
    return z2, note, ("t-SNE 1", "t-SNE 2")


def reduce_2d(
    z: Any, method: str = "pca", seed: int = 0, *, what: str = "latent codes"
) -> tuple[np.ndarray, str | None]:
    """Project points to 2-D for plotting.

    Parameters
    ----------
    z : array of shape (n, d)
        Points, for example posterior means.
    method : {"pca", "tsne"}, default "pca"
        ``"pca"``: :class:`sklearn.decomposition.PCA` (linear, fast, axes comparable across runs).
        ``"tsne"``: :class:`sklearn.manifold.TSNE` (non-linear; slow beyond a few thousand points).
        Ignored when ``d <= 2``: the points are returned as they are (``d == 1`` gets a zero
        second column).
    seed : int, default 0
        Random state for the reduction.
    what : str, default "latent codes"
        What the points are, for the note (``"posterior means"``).

    Returns
    -------
    z2 : ndarray of shape (n, 2)
    note : str or None
        One line saying how ``z2`` was made, e.g. ``"PCA of 16-D latent codes (explains 41% of
        variance)"``; ``None`` when ``d == 2``.

    Raises
    ------
    DataError
        For an unknown ``method``, or ``z`` that is not a finite 2-D numeric array.

    Examples
    --------
    >>> import numpy as np
    >>> z = np.random.default_rng(0).normal(size=(50, 16))
    >>> z2, note = reduce_2d(z)
    >>> z2.shape, note.startswith("PCA of 16-D latent codes")
    ((50, 2), True)
    >>> reduce_2d(z[:, :2])[1] is None
    True
    """
    z2, note, _ = _reduce(_check_2d_numeric(z, "z"), method, seed, what)
    return z2, note


def _is_continuous(labels: np.ndarray) -> bool:
    """Numeric labels with more than 20 distinct values, or any non-integer value, get a colour bar."""
    if labels.dtype.kind not in "iuf":
        return False
    finite = labels[np.isfinite(labels)] if labels.dtype.kind == "f" else labels
    if finite.size == 0:
        return False
    return len(np.unique(finite)) > 20 or not np.all(np.equal(np.mod(finite, 1), 0))


def _label_name(value: Any, label_names: Sequence[str] | Mapping[Any, str] | None) -> str:
    if label_names is None:
        return str(value)
    if isinstance(label_names, Mapping):
        return str(label_names.get(value, value))
    try:
        index = int(value)
    except (TypeError, ValueError) as e:
        raise DataError(f"label_names is a list, so labels must be integers; found {value!r}.") from e
    if index != value or not 0 <= index < len(label_names):
        raise DataError(f"Label {value!r} has no entry in label_names ({len(label_names)} names).")
    return str(label_names[index])


def plot_latent_scatter(
    z: Any,
    labels: Any = None,
    *,
    label_names: Sequence[str] | Mapping[Any, str] | None = None,
    method_note: str | None = None,
    title: str | None = None,
    path: str | os.PathLike | None = None,
    method: str = "pca",
    seed: int = 0,
    what: str = "latent codes",
    legend_title: str = "label",
) -> Figure:
    """Scatter plot of latent codes, coloured by label.

    Parameters
    ----------
    z : array of shape (n, d)
        Latent codes. With ``d > 2`` they are reduced with :func:`reduce_2d` (``method``) and the
        reduction is noted on the plot.
    labels : array of shape (n,), optional
        Class labels (legend, ``tab10`` up to 10 classes, ``tab20`` up to 20) or a continuous
        quantity (colour bar); numeric labels with more than 20 distinct values or non-integer
        values count as continuous.
    label_names : list of str or dict, optional
        Legend names: a list indexed by integer label, or a mapping from label to name.
    method_note : str, optional
        A line shown under the title, e.g. ``"PCA of 16-D posterior means (explains 41% of
        variance)"``; default the note from :func:`reduce_2d`.
    title : str, optional
        Figure title; default ``"Latent space"``.
    path : str or path-like, optional
        If given, the figure is also saved there atomically.
    method : {"pca", "tsne"}, default "pca"
        Reduction used when ``d > 2``.
    seed : int, default 0
        Random state of the reduction.
    what : str, default "latent codes"
        What the points are, for the automatic note.
    legend_title : str, default "label"
        Title of the legend or colour bar.

    Returns
    -------
    matplotlib.figure.Figure

    Raises
    ------
    DataError
        If ``z`` is not a finite (n, d) array, ``labels`` has a different length, a label has no
        entry in a list ``label_names``, or ``method`` is unknown.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> fig = plot_latent_scatter(rng.normal(size=(60, 8)), rng.integers(0, 3, 60), label_names=["a", "b", "c"])
    >>> fig.axes[0].get_title().startswith("PCA of 8-D")
    True
    >>> [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    ['a', 'b', 'c']
    """
    z = _check_2d_numeric(z, "z")
    n = z.shape[0]
    z2, auto_note, (xlabel, ylabel) = _reduce(z, method, seed, what)
    note = method_note if method_note is not None else auto_note

    fig = _new_figure(6.6, 5.4)
    ax = fig.add_subplot()
    size = float(np.clip(4000.0 / n, 3.0, 30.0))

    if labels is None:
        ax.scatter(z2[:, 0], z2[:, 1], s=size, alpha=0.7, color="C0", linewidths=0)
    else:
        lab = _as_numpy(labels)
        if lab.ndim != 1 or len(lab) != n:
            raise DataError(f"labels has shape {lab.shape}, but z has {n} rows; expected shape ({n},).")
        if _is_continuous(lab):
            points = ax.scatter(
                z2[:, 0], z2[:, 1], c=lab.astype(float), cmap="viridis", s=size, alpha=0.8, linewidths=0
            )
            fig.colorbar(points, ax=ax, label=legend_title)
        else:
            import pandas as pd

            codes, uniques = pd.factorize(lab, sort=True)  # missing labels -> code -1
            k = len(uniques)
            if k <= 10:
                colours = [f"C{i}" for i in range(k)]
            else:
                cmap = colormaps["tab20" if k <= 20 else "turbo"]
                colours = [cmap(i if k <= 20 else i / max(k - 1, 1)) for i in range(k)]
            for i, value in enumerate(uniques):
                keep = codes == i
                ax.scatter(
                    z2[keep, 0], z2[keep, 1], s=size, alpha=0.75, color=colours[i], linewidths=0,
                    label=_label_name(value, label_names),
                )
            if (codes < 0).any():
                keep = codes < 0
                ax.scatter(
                    z2[keep, 0], z2[keep, 1], s=size, alpha=0.5, color="0.6", linewidths=0, label="missing"
                )
            ax.legend(
                title=legend_title,
                loc="center left",
                bbox_to_anchor=(1.01, 0.5),
                markerscale=max(1.0, 24 / size) ** 0.5,
                ncols=max(1, math.ceil((k + 1) / 16)),
                frameon=False,
            )

    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if not ylabel:
        ax.set_yticks([])
    if note:
        ax.set_title(note, fontsize=9)
    ax.grid(alpha=0.3)
    fig.suptitle(title if title is not None else "Latent space")
    return _finish(fig, path)


def plot_histogram(
    scores: Any,
    *,
    threshold: float | None = None,
    xlabel: str = "score",
    title: str | None = None,
    path: str | os.PathLike | None = None,
    bins: int | None = None,
) -> Figure:
    """Histogram of scores with an optional vertical threshold line (anomaly scores, NLL per sample).

    Parameters
    ----------
    scores : array of shape (n,)
        Finite values.
    threshold : float, optional
        Drawn as a dashed vertical line; the legend gives its value and the share of scores
        below it.
    xlabel : str, default "score"
        Label of the x axis.
    title : str, optional
        Figure title; default ``"Score distribution"``.
    path : str or path-like, optional
        If given, the figure is also saved there atomically.
    bins : int, optional
        Number of bins; default ``sqrt(n)`` clamped to [10, 100].

    Returns
    -------
    matplotlib.figure.Figure

    Raises
    ------
    DataError
        If ``scores`` is empty, not 1-D, or contains NaN or infinity.

    Examples
    --------
    >>> import numpy as np
    >>> fig = plot_histogram(np.random.default_rng(0).normal(size=200), threshold=1.5, bins=20)
    >>> len(fig.axes[0].patches)
    20
    """
    check_param("plot_histogram", "bins", bins, Interval("int", 1, None, optional=True))
    s = _as_numpy(scores)
    if s.ndim != 1 or s.size == 0:
        raise DataError(f"scores must be a non-empty array of shape (n,); got shape {s.shape}.")
    try:
        s = s.astype(float)
    except (TypeError, ValueError) as e:
        raise DataError(f"scores must be numeric; got dtype {s.dtype}.") from e
    if not np.isfinite(s).all():
        raise DataError(f"scores contains {int(np.count_nonzero(~np.isfinite(s)))} NaN or infinite values.")
    n = s.size
    nbins = bins if bins is not None else int(np.clip(round(math.sqrt(n)), 10, 100))

    fig = _new_figure(6.4, 4.0)
    ax = fig.add_subplot()
    ax.hist(s, bins=nbins, color="C0", alpha=0.85, edgecolor="white", linewidth=0.5, label=f"{n} scores")
    if threshold is not None:
        t = float(threshold)
        below = float(np.mean(s < t))
        ax.axvline(t, color="C3", linestyle="--", linewidth=1.5, label=f"threshold = {t:.4g} ({below:.1%} below)")
    ax.set_xlabel(xlabel)
    ax.set_ylabel("count")
    ax.set_title(title if title is not None else "Score distribution")
    ax.grid(alpha=0.3)
    ax.legend()
    return _finish(fig, path)
