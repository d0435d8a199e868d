"""2-D maps of a latent space: PCA, t-SNE or UMAP of latent codes, a matplotlib scatter, and a
self-contained interactive HTML page (inline SVG and a few lines of inline JavaScript; hovering a point
shows the example's image or table row).
"""

from __future__ import annotations

import base64
import html
import json
import math
import os
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .. import io as vio
from .._validation import Options, check_param
from ..data import Dataset
from ..errors import DataError
from ._estimator import check_int as _check_int

__all__ = ["REDUCTIONS", "reduce_2d", "import_umap", "latent_scatter_figure", "latent_html", "write_latent_html"]


REDUCTIONS = ("pca", "tsne", "umap")


def reduce_2d(z: np.ndarray, method: str = "pca", *, seed: int = 0, what: str = "posterior means"):
    """Project latent codes to 2-D with PCA, t-SNE or UMAP (UMAP needs ``pip install 'vaekit[umap]'``).

    Parameters
    ----------
    z : ndarray of shape (n, d)
    method : {"pca", "tsne", "umap"}
        Ignored for ``d <= 2`` (the codes are shown as they are).
    seed : int
    what : str
        What the points are, for the note.

    Returns
    -------
    z2 : ndarray of shape (n, 2)
    note : str or None
        How ``z2`` was made (None when ``d == 2``).
    axes : (str, str)
        Axis labels.

    Raises
    ------
    ConfigError
        An unknown method.
    ImportError
        ``method="umap"`` without umap-learn installed.

    Examples
    --------
    >>> z2, note, axes = reduce_2d(np.random.default_rng(0).normal(size=(30, 5)), "pca")
    >>> z2.shape, axes
    ((30, 2), ('PC 1', 'PC 2'))
    """
    from .. import viz

    check_param("reduce_2d", "method", method, Options(REDUCTIONS))
    z = np.asarray(z, dtype=np.float64)
    n, d = z.shape
    if d <= 2:
        z2, note = viz.reduce_2d(z, "pca", seed, what=what)
        return z2, note, ("z[0]", "z[1]" if d == 2 else "")
    if method in ("pca", "tsne"):
        z2, note = viz.reduce_2d(z, method, seed, what=what)
        return z2, note, ("PC 1", "PC 2") if method == "pca" else ("t-SNE 1", "t-SNE 2")
    umap = import_umap()
    if n < 4:
        raise DataError(f"UMAP needs at least 4 points; got {n}.")
    neighbours = int(min(15, n - 1))
    reducer = umap.UMAP(n_components=2, n_neighbors=neighbours, random_state=seed, n_jobs=1)
    z2 = np.asarray(reducer.fit_transform(z), dtype=np.float64)
    note = f"UMAP of {d}-D {what} ({neighbours} neighbours); distances between clusters are not meaningful"
    return z2, note, ("UMAP 1", "UMAP 2")


def import_umap():
    try:
        import umap  # umap-learn
    except ImportError as e:
        raise ImportError("The 'umap' method needs umap-learn: pip install 'vaekit[umap]'") from e
    return umap


def latent_scatter_figure(model, data: Dataset, *, method: str = "pca", seed: int = 0, max_points: int = 2000,
                          title: str | None = None):
    """Matplotlib scatter of posterior means of (the first ``max_points`` of) ``data``, reduced with ``method``."""
    from .. import viz
    from . import generate

    z, labels = generate.posterior_means(model, data, limit=max_points)
    what = _what(model)
    z2, note, (xlabel, ylabel) = reduce_2d(z, method, seed=seed, what=what)
    names = list(data.spec.label_names) if labels is not None and data.spec.label_names else None
    fig = viz.plot_latent_scatter(
        z2, labels, label_names=names, method_note=note or "", what=what,
        title=title or f"Latent space: {what} of {len(z):,} examples of {Path(data.name).name or data.name}",
        legend_title=data.spec.label_column or "label",
    )
    fig.axes[0].set_xlabel(xlabel)
    fig.axes[0].set_ylabel(ylabel)
    return fig


def _what(model) -> str:
    from ..model import Autoencoder

    return "autoencoder codes" if isinstance(model, Autoencoder) else "posterior means"


def _hex_colours(k: int) -> list[str]:
    from matplotlib import colormaps
    from matplotlib.colors import to_hex

    if k <= 10:
        cmap = colormaps["tab10"]
        return [to_hex(cmap(i)) for i in range(k)]
    cmap = colormaps["tab20" if k <= 20 else "turbo"]
    return [to_hex(cmap(i if k <= 20 else i / max(k - 1, 1))) for i in range(k)]


def _thumbnails(model, x: torch.Tensor) -> list[str]:
    """``data:image/png;base64,...`` for each image example (upscaled so small images stay visible)."""
    from PIL import Image

    from .. import viz

    imgs = viz.to_uint8_images(np.clip(x.numpy(), 0, 1))  # (n, H, W, C)
    scale = int(max(1, min(4, math.ceil(56 / imgs.shape[1]))))
    out = []
    for a in imgs:
        im = Image.fromarray(a[:, :, 0] if a.shape[2] == 1 else a)
        if scale > 1:
            im = im.resize((im.width * scale, im.height * scale), Image.Resampling.NEAREST)
        out.append("data:image/png;base64," + base64.b64encode(viz.image_to_png_bytes(im)).decode("ascii"))
    return out


def _table_rows(model, x: torch.Tensor, max_columns: int = 24) -> tuple[list[str], list[list]]:
    """Column names and raw values (de-standardised tables; vectors as they are) for the hover table."""
    from ..data import decode_table

    spec = model.data_spec
    if spec is not None and spec.kind == "table":
        frame = decode_table(x.numpy(), spec)
        cols = list(frame.columns)[:max_columns]
        rows = [[_cell(v) for v in r] for r in frame[cols].itertuples(index=False, name=None)]
        return cols, rows
    a = x.reshape(len(x), -1).numpy()[:, :max_columns]
    return [f"x{j}" for j in range(a.shape[1])], [[_cell(v) for v in r] for r in a.tolist()]


def _cell(v):
    if isinstance(v, (float, np.floating)):
        return float(f"{float(v):.4g}")
    if isinstance(v, (np.integer,)):
        return int(v)
    return str(v)


_HTML_STYLE = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:24px;color:#222}
h1{font-size:1.3em;margin:0 0 4px}p.note{color:#555;margin:0 0 12px;font-size:.9em}
#wrap{display:flex;gap:20px;align-items:flex-start}#plot{position:relative}
svg{border:1px solid #ccc;background:#fff}circle{stroke:none;opacity:.78}circle:hover{stroke:#000;stroke-width:1.5;opacity:1}
circle.off{display:none}text{font-size:12px;fill:#444}
#legend{list-style:none;padding:0;margin:0;font-size:.9em}#legend li{cursor:pointer;margin:2px 0;user-select:none}
#legend li.off{opacity:.35}#legend span{display:inline-block;width:11px;height:11px;border-radius:50%;margin-right:6px}
#tip{position:absolute;pointer-events:none;background:#fff;border:1px solid #888;border-radius:4px;padding:6px;
box-shadow:0 2px 6px rgba(0,0,0,.2);font-size:12px;max-width:360px}#tip img{display:block;image-rendering:pixelated}
#tip table{border-collapse:collapse}#tip td,#tip th{padding:1px 6px;text-align:left;border-bottom:1px solid #eee}
"""

# Builds the tooltip from DOM nodes (textContent), so no value from the data is ever parsed as HTML.
_HTML_SCRIPT = """
(function () {
  var data = JSON.parse(document.getElementById("vaekit-data").textContent);
  var svg = document.getElementById("scatter"), tip = document.getElementById("tip");
  function cell(tag, text) { var c = document.createElement(tag); c.textContent = text; return c; }
  function show(i, ev) {
    var p = data.points[i];
    tip.replaceChildren(cell("b", p.title));
    if (data.thumbnails) {
      var img = document.createElement("img"); img.src = data.thumbnails[i]; tip.appendChild(img);
    } else if (data.rows) {
      var t = document.createElement("table");
      data.columns.forEach(function (name, j) {
        var tr = document.createElement("tr"); tr.appendChild(cell("th", name)); tr.appendChild(cell("td", data.rows[i][j]));
        t.appendChild(tr);
      });
      tip.appendChild(t);
    }
    var box = svg.getBoundingClientRect();
    tip.style.left = (ev.clientX - box.left + 14) + "px"; tip.style.top = (ev.clientY - box.top + 14) + "px";
    tip.hidden = false;
  }
  svg.addEventListener("mousemove", function (ev) {
    var t = ev.target;
    if (t.tagName.toLowerCase() === "circle") { show(+t.getAttribute("data-i"), ev); } else { tip.hidden = true; }
  });
  svg.addEventListener("mouseleave", function () { tip.hidden = true; });
  document.querySelectorAll("#legend li").forEach(function (li) {
    li.addEventListener("click", function () {
      li.classList.toggle("off");
      svg.querySelectorAll("circle.c" + li.getAttribute("data-c")).forEach(function (c) { c.classList.toggle("off"); });
    });
  });
})();
"""


def latent_html(
    model,
    data: Dataset,
    *,
    method: str = "pca",
    seed: int = 0,
    max_points: int = 2000,
    title: str | None = None,
) -> str:
    """A self-contained interactive scatter of posterior means as one HTML page.

    Inline SVG (one circle per example, coloured by label; click a legend entry to hide a class)
    and a few lines of inline JavaScript: hovering a point shows the example as an embedded PNG
    (images) or as a table of its raw values (tables, vectors). Nothing is loaded from the network.

    Parameters
    ----------
    model : VAE or Autoencoder
    data : Dataset
        Its first ``max_points`` examples are shown.
    method : {"pca", "tsne", "umap"}
        Reduction to 2-D when latent_dim > 2.
    seed : int
    max_points : int
    title : str or None

    Returns
    -------
    str
    """
    from . import generate

    _check_int("latent_html", "max_points", max_points, 1)
    z, labels = generate.posterior_means(model, data, limit=max_points)
    n = len(z)
    what = _what(model)
    z2, note, (xlabel, ylabel) = reduce_2d(z, method, seed=seed, what=what)
    x = data.get(slice(0, n))
    names = list(data.spec.label_names)
    if labels is not None:
        classes = sorted(set(labels.tolist()))
        class_names = [names[c] if 0 <= c < len(names) else str(c) for c in classes]
        code = {c: i for i, c in enumerate(classes)}
        codes = np.array([code[c] for c in labels.tolist()], dtype=np.int64)
    else:
        class_names, codes = ["all"], np.zeros(n, dtype=np.int64)
    colours = _hex_colours(len(class_names))

    width, height, pad = 720, 600, 44
    lo, hi = z2.min(axis=0), z2.max(axis=0)
    span = np.where(hi - lo > 0, hi - lo, 1.0)
    px = pad + (z2[:, 0] - lo[0]) / span[0] * (width - 2 * pad)
    py = height - pad - (z2[:, 1] - lo[1]) / span[1] * (height - 2 * pad)
    radius = float(np.clip(600 / math.sqrt(max(n, 1)), 2.0, 6.0))
    order = np.random.default_rng(seed).permutation(n)  # no class is always drawn on top
    circles = "\n".join(
        f'<circle class="c{codes[i]}" cx="{px[i]:.1f}" cy="{py[i]:.1f}" r="{radius:.1f}" '
        f'fill="{colours[codes[i]]}" data-i="{i}"></circle>'
        for i in order
    )
    points = []
    for i in range(n):
        t = f"#{i}"
        if labels is not None:
            t += f" ({class_names[codes[i]]})"
        points.append({"title": t})
    payload: dict[str, Any] = {"points": points}
    if model.data_spec is not None and model.data_spec.kind == "image":
        payload["thumbnails"] = _thumbnails(model, x)
    else:
        payload["columns"], payload["rows"] = _table_rows(model, x)
    blob = json.dumps(payload, separators=(",", ":")).replace("</", "<\\/")
    counts = np.bincount(codes, minlength=len(class_names))
    legend = "\n".join(
        f'<li data-c="{k}"><span style="background:{colours[k]}"></span>{html.escape(name)} ({counts[k]:,})</li>'
        for k, name in enumerate(class_names)
    )
    source = Path(data.name).name or data.name
    title = title or f"Latent space: {what} of {n:,} examples of {source}"
    note = note or f"{model.latent_dim}-D {what}, shown as they are"
    axes = (
        f'<text x="{width / 2:.0f}" y="{height - 12}" text-anchor="middle">{html.escape(xlabel)}</text>'
        f'<text x="14" y="{height / 2:.0f}" text-anchor="middle" transform="rotate(-90 14 {height / 2:.0f})">'
        f"{html.escape(ylabel)}</text>"
    )
    legend_title = html.escape(data.spec.label_column or "label") if labels is not None else ""
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>{html.escape(title)}</title>
<style>{_HTML_STYLE}</style>
</head>
<body>
<h1>{html.escape(title)}</h1>
<p class="note">{html.escape(note)}. Hover a point to see the example; click a legend entry to hide or show a class.</p>
<div id="wrap">
<div id="plot">
<svg id="scatter" width="{width}" height="{height}" viewBox="0 0 {width} {height}" role="img" aria-label="{html.escape(title)}">
{axes}
{circles}
</svg>
<div id="tip" hidden></div>
</div>
<div><b>{legend_title}</b><ul id="legend">
{legend}
</ul></div>
</div>
<script id="vaekit-data" type="application/json">{blob}</script>
<script>{_HTML_SCRIPT}</script>
</body>
</html>
"""


def write_latent_html(path: str | os.PathLike, model, data: Dataset, **kwargs) -> Path:
    """Write :func:`latent_html` to ``path`` atomically; return the path."""
    path = Path(path)
    vio.atomic_write_text(path, latent_html(model, data, **kwargs))
    return path
