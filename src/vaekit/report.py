"""A self-contained HTML report: one file, inline CSS, images as ``data:`` URIs, no JavaScript.

The report knows nothing about models. A caller (the CLI, a notebook) builds a list of
:class:`Section` objects with the helpers — text, tables, images, JSON — and renders them::

    html = render_report(title="run mnist-16", sections=[
        Section.json("Config", config_dict),
        Section.image("Training curves", plot_training_curves(metrics)),
        Section.table("Test metrics", {"ELBO": -98.1, "IWAE-5000 NLL": 91.3}),
    ])
    write_report("runs/mnist-16/report.html", html)

Everything the caller passes as text is HTML-escaped. The output never contains ``://``: text that
holds a URL has its colon written as ``&#58;``, which reads the same in a browser, so a report can
be opened offline, attached to an e-mail or archived and never fetches anything.
"""

from __future__ import annotations

import base64
import dataclasses
import html as _html
import json
import math
import os
import re
from datetime import datetime, timezone
from typing import Any, Iterable, Mapping, Sequence

from ._version import __version__
from .errors import ConfigError, DataError
from .io import atomic_write_text

__all__ = ["Section", "escape", "render_report", "write_report"]

_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
# Inside a tag (escaped text holds no "<"), a src / href / url() that is neither an in-page anchor
# nor a data: URI would load another file.
_DATA_URI = re.compile(r"data:[\w/+.-]+;base64,[A-Za-z0-9+/=]*")
_LINKED_FILE = re.compile(
    r"""<[^>]*?(?:\b(?:src|href)\s*=|url\()\s*(?!["']?\s*(?:#|data:))""", re.IGNORECASE
)


def escape(text: Any) -> str:
    """HTML-escape ``str(text)`` for use in element content or attribute values.

    Besides ``& < > " '``, the colon of ``://`` is written as ``&#58;`` so that no URL appears
    literally in a report (browsers display it unchanged).

    Parameters
    ----------
    text : object
        Converted with ``str``.

    Returns
    -------
    str

    Examples
    --------
    >>> escape("<b> & 'x'")
    '&lt;b&gt; &amp; &#x27;x&#x27;'
    >>> escape("see https://example.org")
    'see https&#58;//example.org'
    """
    return _html.escape(str(text), quote=True).replace("://", "&#58;//")


def _png_bytes(image: Any) -> tuple[bytes, int, int]:
    """PNG bytes plus (width, height) from PNG bytes, a PIL image or a matplotlib figure."""
    from PIL import Image

    from .viz import figure_to_png_bytes, image_to_png_bytes

    if isinstance(image, (bytes, bytearray, memoryview)):
        data = bytes(image)
        if not data.startswith(_PNG_SIGNATURE):
            raise DataError(
                "Image bytes are not a PNG file (wrong signature); pass PNG bytes, a PIL image or a Figure."
            )
    elif isinstance(image, Image.Image):
        data = image_to_png_bytes(image)
    elif hasattr(image, "savefig"):
        data = figure_to_png_bytes(image, dpi=110)
    else:
        raise DataError(
            f"Cannot embed an object of type {type(image).__name__} as an image; pass PNG bytes, a "
            "PIL.Image.Image or a matplotlib Figure."
        )
    # Width and height live at fixed offsets of the IHDR chunk, which the PNG spec puts first.
    width = int.from_bytes(data[16:20], "big")
    height = int.from_bytes(data[20:24], "big")
    return data, width, height


def _img_tag(image: Any, alt: str) -> str:
    data, width, height = _png_bytes(image)
    uri = "data:image/png;base64," + base64.b64encode(data).decode("ascii")
    # Small images (digit grids) are shown pixelated rather than blurred when the page enlarges them.
    cls = ' class="pixel"' if max(width, height) < 400 else ""
    return f'<img src="{uri}" width="{width}" height="{height}" alt="{escape(alt)}"{cls}>'


def _cell(value: Any) -> tuple[str, bool]:
    """Format one table cell; returns (escaped text, is_number)."""
    if hasattr(value, "item") and callable(value.item) and getattr(value, "ndim", 1) == 0:
        value = value.item()  # numpy scalar -> Python scalar
    if value is None:
        return "", False
    if isinstance(value, bool):
        return escape(value), False
    if isinstance(value, int):
        return escape(value), True
    if isinstance(value, float):
        if math.isfinite(value):
            text = f"{value:.6g}" if abs(value) >= 1e-4 or value == 0 else f"{value:.3e}"
        else:
            text = str(value)
        return escape(text), True
    if isinstance(value, (dict, list, tuple)):
        return escape(json.dumps(value, default=_json_default)), False
    return escape(value), False


def _json_default(obj: Any) -> Any:
    if hasattr(obj, "tolist"):
        return obj.tolist()  # numpy arrays and scalars, tensors
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return dataclasses.asdict(obj)
    if isinstance(obj, (set, frozenset)):
        return sorted(obj, key=str)
    return str(obj)  # paths, enums, anything else: its string form


def _note_html(note: str | None) -> str:
    return f'<p class="note">{escape(note)}</p>\n' if note else ""


@dataclasses.dataclass(frozen=True)
class Section:
    """One titled part of a report.

    Build sections with the helpers (:meth:`text`, :meth:`table`, :meth:`image`,
    :meth:`images`, :meth:`json`), which escape everything they are given. Constructing a
    ``Section`` directly inserts ``body_html`` verbatim: use it only for markup you built
    yourself with :func:`escape`.

    Parameters
    ----------
    title : str
        Heading, also listed in the table of contents (escaped when rendered).
    body_html : str
        Trusted HTML for the section body. It must not contain ``://``, nor a ``src``, ``href``
        or ``url()`` other than an in-page ``#anchor`` or a ``data:`` URI.

    Raises
    ------
    DataError
        If ``body_html`` references anything outside the report.

    Examples
    --------
    >>> s = Section.text("Summary", "ELBO improved from -120 to -98 <nats>.")
    >>> s.title, s.body_html
    ('Summary', '<p>ELBO improved from -120 to -98 &lt;nats&gt;.</p>')
    """

    title: str
    body_html: str

    def __post_init__(self) -> None:
        if not isinstance(self.title, str):
            raise ConfigError(f"The 'title' parameter of Section must be a str. Got {self.title!r} instead.")
        if not isinstance(self.body_html, str):
            raise ConfigError(
                f"The 'body_html' parameter of Section must be a str. Got {type(self.body_html).__name__} instead."
            )
        # Drop base64 payloads first: they are most of the text and cannot hold a reference.
        markup = _DATA_URI.sub("data:", self.body_html)
        if "://" in markup or _LINKED_FILE.search(markup):
            raise DataError(
                f"Section '{self.title}' references something outside the report (a URL or a linked file); a "
                "report must be self-contained. Escape text with vaekit.report.escape and embed images as "
                "data: URIs."
            )

    @classmethod
    def text(cls, title: str, paragraph: str, *, note: str | None = None) -> "Section":
        """A section of plain text; blank lines separate paragraphs.

        Parameters
        ----------
        title : str
        paragraph : str
            Plain text (escaped). ``"\\n\\n"`` starts a new paragraph.
        note : str, optional
            A short remark shown first, in smaller type.

        Examples
        --------
        >>> Section.text("Notes", "one\\n\\ntwo").body_html
        '<p>one</p>\\n<p>two</p>'
        """
        parts = [p.strip() for p in re.split(r"\n\s*\n", str(paragraph)) if p.strip()]
        body = "\n".join(f"<p>{escape(p)}</p>" for p in parts)
        return cls(title, _note_html(note) + body)

    @classmethod
    def table(
        cls, title: str, rows: Sequence[Mapping[str, Any]] | Mapping[str, Any], *, note: str | None = None
    ) -> "Section":
        """A table from a list of dicts (one row each) or from one dict (a key / value table).

        Parameters
        ----------
        title : str
        rows : list of dict, dict or pandas.DataFrame
            For a list, columns are the union of the keys in first-seen order; missing cells are
            empty. Floats are shown with 6 significant digits; numbers are right-aligned. Nested
            lists and dicts are shown as compact JSON.
        note : str, optional
            A short remark shown above the table.

        Examples
        --------
        >>> s = Section.table("Metrics", {"elbo": -98.123456789, "<k>": 5})
        >>> "<td>elbo</td><td class=\\"num\\">-98.1235</td>" in s.body_html, "&lt;k&gt;" in s.body_html
        (True, True)
        """
        if hasattr(rows, "to_dict") and not isinstance(rows, Mapping):
            rows = rows.to_dict("records")  # pandas.DataFrame
        if isinstance(rows, Mapping):
            header = ["name", "value"]
            records = [{"name": k, "value": v} for k, v in rows.items()]
        else:
            records = list(rows)
            for i, r in enumerate(records):
                if not isinstance(r, Mapping):
                    raise DataError(f"Row {i} of table '{title}' is a {type(r).__name__}; expected a dict.")
            header = list(dict.fromkeys(k for r in records for k in r))
        if not records:
            return cls(title, _note_html(note) + '<p class="empty">(no rows)</p>')
        head = "".join(f"<th>{escape(h)}</th>" for h in header)
        lines = ["<table>", f"<thead><tr>{head}</tr></thead>", "<tbody>"]
        for r in records:
            cells = []
            for h in header:
                text, is_number = _cell(r.get(h))
                cells.append(f'<td class="num">{text}</td>' if is_number else f"<td>{text}</td>")
            lines.append("<tr>" + "".join(cells) + "</tr>")
        lines += ["</tbody>", "</table>"]
        return cls(title, _note_html(note) + "\n".join(lines))

    @classmethod
    def image(cls, title: str, image: Any, caption: str | None = None, *, note: str | None = None) -> "Section":
        """A section with one embedded PNG image.

        Parameters
        ----------
        title : str
        image : bytes, PIL.Image.Image or matplotlib.figure.Figure
            PNG file contents, a Pillow image (for example from :func:`vaekit.viz.image_grid`)
            or a figure (rendered at 110 dpi). Embedded as a ``data:image/png;base64`` URI.
        caption : str, optional
            Shown under the image; also its alt text.
        note : str, optional
            A short remark shown above the image.

        Examples
        --------
        >>> from PIL import Image
        >>> s = Section.image("Samples", Image.new("L", (8, 8)), caption="64 samples")
        >>> 'src="data:image/png;base64,' in s.body_html
        True
        """
        return cls(title, _note_html(note) + _figure_html(image, caption, alt=caption or title))

    @classmethod
    def images(
        cls, title: str, items: Iterable[tuple[str, Any]], *, note: str | None = None
    ) -> "Section":
        """A section with a row of captioned images (wrapping on narrow screens).

        Parameters
        ----------
        title : str
        items : iterable of (caption, image)
            Each image as accepted by :meth:`image`.
        note : str, optional
            A short remark shown above the images.

        Examples
        --------
        >>> from PIL import Image
        >>> s = Section.images("VAE vs AE", [("VAE", Image.new("L", (4, 4))), ("AE", Image.new("L", (4, 4)))])
        >>> s.body_html.count("<figure>")
        2
        """
        figures = []
        for i, item in enumerate(items):
            try:
                caption, image = item
            except (TypeError, ValueError) as e:
                raise DataError(f"Item {i} of images '{title}' must be a (caption, image) pair.") from e
            figures.append(_figure_html(image, caption, alt=caption or title))
        return cls(title, _note_html(note) + '<div class="row">\n' + "\n".join(figures) + "\n</div>")

    @classmethod
    def json(cls, title: str, obj: Any, *, note: str | None = None) -> "Section":
        """A section showing ``obj`` as indented JSON (a config, a summary).

        Parameters
        ----------
        title : str
        obj : JSON-serialisable object
            Numpy values become lists / numbers, dataclasses dicts, other objects their ``str``.
        note : str, optional
            A short remark shown above the JSON.

        Examples
        --------
        >>> print(Section.json("Config", {"latent_dim": 16, "name": "<run>"}).body_html)
        <pre class="json">{
          &quot;latent_dim&quot;: 16,
          &quot;name&quot;: &quot;&lt;run&gt;&quot;
        }</pre>
        """
        text = json.dumps(obj, indent=2, default=_json_default, ensure_ascii=False)
        return cls(title, _note_html(note) + f'<pre class="json">{escape(text)}</pre>')


def _figure_html(image: Any, caption: str | None, alt: str) -> str:
    cap = f"<figcaption>{escape(caption)}</figcaption>" if caption else ""
    return f"<figure>{_img_tag(image, alt)}{cap}</figure>"


_CSS = """
:root { color-scheme: light; }
* { box-sizing: border-box; }
body { margin: 0; background: #fcfcfc; color: #1d1d1f;
  font: 15px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif; }
header, nav, main, footer { max-width: 1120px; margin: 0 auto; padding: 0 24px; }
header { padding-top: 28px; }
h1 { font-size: 1.7em; margin: 0 0 4px; }
h2 { font-size: 1.3em; margin: 0 0 12px; padding-bottom: 4px; border-bottom: 1px solid #ddd; }
.meta, .note, figcaption, footer, .empty { color: #555; font-size: 0.9em; }
nav { margin-top: 12px; }
nav ol { margin: 4px 0 0; padding-left: 22px; columns: 2 220px; }
nav a, .top a { color: #0b57d0; text-decoration: none; }
nav a:hover, .top a:hover { text-decoration: underline; }
section { margin: 28px 0; }
.top { text-align: right; font-size: 0.85em; margin: 6px 0 0; }
table { border-collapse: collapse; margin: 6px 0; font-size: 0.95em; }
th, td { border: 1px solid #d6d6d6; padding: 4px 10px; text-align: left; vertical-align: top; }
th { background: #f0f0f0; }
tbody tr:nth-child(even) { background: #f7f7f7; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
pre { background: #f3f3f3; border: 1px solid #e0e0e0; border-radius: 4px; padding: 10px 12px;
  overflow-x: auto; font: 13px/1.45 ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; }
figure { margin: 8px 0; display: inline-block; vertical-align: top; max-width: 100%; }
figure img { max-width: 100%; height: auto; border: 1px solid #e4e4e4; background: #fff; }
img.pixel { image-rendering: pixelated; }
.row { display: flex; flex-wrap: wrap; gap: 16px; align-items: flex-start; }
footer { padding-top: 12px; padding-bottom: 28px; border-top: 1px solid #ddd; }
@media print { nav, .top { display: none; } section { break-inside: avoid; } }
"""


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:40] or "section"


def render_report(*, title: str, sections: Sequence[Section], generated_at: datetime | None = None) -> str:
    """Render sections into one self-contained HTML document.

    The page has the title, the generation time and vaekit version, a table of contents linking
    to each section, and the sections in order. CSS is inline; there is no JavaScript and no
    reference to anything outside the file.

    Parameters
    ----------
    title : str
        Page title and heading (escaped).
    sections : sequence of Section
        Rendered in order; each gets the anchor ``s<i>-<slug of title>``.
    generated_at : datetime, optional
        Timestamp shown on the page; default now (UTC). Pass a fixed value for reproducible output.

    Returns
    -------
    str
        The HTML document.

    Raises
    ------
    ConfigError
        If an element of ``sections`` is not a :class:`Section`.

    Examples
    --------
    >>> html = render_report(title="<demo>", sections=[Section.text("Intro", "hello")])
    >>> html.startswith("<!DOCTYPE html>"), "&lt;demo&gt;" in html, 'href="#s1-intro"' in html
    (True, True, True)
    """
    sections = list(sections)
    for i, s in enumerate(sections):
        if not isinstance(s, Section):
            raise ConfigError(
                f"The 'sections' parameter of render_report must be a list of Section. Got {type(s).__name__} "
                f"at position {i} instead."
            )
    when = generated_at if generated_at is not None else datetime.now(timezone.utc)
    if when.tzinfo is not None:
        when_text = when.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")
    else:
        when_text = when.strftime("%Y-%m-%d %H:%M:%S")
    anchors = [f"s{i}-{_slug(s.title)}" for i, s in enumerate(sections, start=1)]
    t = escape(title)

    out = [
        "<!DOCTYPE html>",
        '<html lang="en">',
        "<head>",
        '<meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f'<meta name="generator" content="vaekit {escape(__version__)}">',
        f"<title>{t}</title>",
        f"<style>{_CSS}</style>",
        "</head>",
        '<body id="top">',
        "<header>",
        f"<h1>{t}</h1>",
        f'<p class="meta">Generated {escape(when_text)} by vaekit {escape(__version__)}</p>',
        "</header>",
    ]
    if sections:
        out.append('<nav aria-label="Contents"><strong>Contents</strong><ol>')
        out += [f'<li><a href="#{a}">{escape(s.title)}</a></li>' for a, s in zip(anchors, sections)]
        out.append("</ol></nav>")
    out.append("<main>")
    for a, s in zip(anchors, sections):
        out += [
            f'<section id="{a}">',
            f"<h2>{escape(s.title)}</h2>",
            s.body_html,
            '<p class="top"><a href="#top">back to top</a></p>',
            "</section>",
        ]
    out += [
        "</main>",
        f"<footer>vaekit {escape(__version__)} &middot; {len(sections)} sections &middot; "
        f"{escape(when_text)}</footer>",
        "</body>",
        "</html>",
        "",
    ]
    return "\n".join(out)


def write_report(path: str | os.PathLike, html: str) -> None:
    """Write ``html`` to ``path`` (UTF-8) atomically: temporary file, then ``os.replace``.

    Parameters
    ----------
    path : str or path-like
        Destination, usually ``<run>/report.html``; parent folders are created.
    html : str
        The document, from :func:`render_report`.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "report.html"
    >>> write_report(p, render_report(title="t", sections=[]))
    >>> p.read_text(encoding="utf-8").startswith("<!DOCTYPE html>")
    True
    """
    if not isinstance(html, str):
        raise ConfigError(
            f"The 'html' parameter of write_report must be a str. Got {type(html).__name__} instead."
        )
    atomic_write_text(path, html)
