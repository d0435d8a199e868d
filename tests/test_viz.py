"""Tests for vaekit.viz (image grids, figures) and vaekit.report (self-contained HTML)."""

from __future__ import annotations

import base64
import errno
import io
import re
from datetime import datetime, timezone

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from vaekit import report, viz
from vaekit._version import __version__
from vaekit.errors import ConfigError, DataError
from vaekit.report import Section, render_report, write_report

PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture
def rng():
    return np.random.default_rng(0)


def _png_image(data: bytes) -> Image.Image:
    img = Image.open(io.BytesIO(data))
    img.load()
    return img


# ----------------------------------------------------------------------------- to_uint8_images


def test_to_uint8_float_clips_and_rounds():
    x = np.array([[[[-0.5, 0.0], [0.5, 1.7]]]])  # (1, 1, 2, 2)
    out = viz.to_uint8_images(x)
    assert out.shape == (1, 2, 2, 1)
    assert out.dtype == np.uint8
    np.testing.assert_array_equal(out[0, :, :, 0], [[0, 0], [128, 255]])


def test_to_uint8_layouts():
    gray = viz.to_uint8_images(np.zeros((3, 5, 7)))
    assert gray.shape == (3, 5, 7, 1)
    chw = np.arange(2 * 3 * 6 * 5, dtype=np.uint8).reshape(2, 3, 6, 5)
    hwc = viz.to_uint8_images(chw)
    assert hwc.shape == (2, 6, 5, 3)
    np.testing.assert_array_equal(hwc[1, 2, 3], chw[1, :, 2, 3])
    # The output (channels-last) is accepted again unchanged.
    np.testing.assert_array_equal(viz.to_uint8_images(hwc), hwc)
    flat = viz.to_uint8_images(np.ones((4, 12)), shape=(3, 2, 2))
    assert flat.shape == (4, 2, 2, 3)
    assert viz.to_uint8_images(np.ones((2, 6)) > 0, shape=(2, 3)).max() == 255


@pytest.mark.parametrize(
    "x, shape, match",
    [
        (np.zeros((4, 10)), None, "pass shape"),
        (np.zeros((4, 10)), (3, 3), "cannot be reshaped"),
        (np.zeros((2, 5, 6, 7)), None, "1, 3 or 4 channels"),
        (np.full((1, 2, 2), np.nan), None, "NaN"),
        (np.full((1, 2, 2), 300), None, r"\[0, 255\]"),
        (np.zeros((0, 2, 2)), None, "at least one"),
    ],
)
def test_to_uint8_errors(x, shape, match):
    with pytest.raises(DataError, match=match):
        viz.to_uint8_images(x, shape=shape)


# ----------------------------------------------------------------------------- image_grid


def test_grid_gray_padding_arithmetic_and_placement(rng):
    x = rng.random((5, 28, 28))
    img = viz.image_grid(x, padding=2)
    assert img.mode == "L"
    # ceil(sqrt(5)) = 3 columns, 2 rows: 3 * (28 + 2) + 2 = 92 wide, 2 * 30 + 2 = 62 high.
    assert img.size == (92, 62)
    a = np.asarray(img)
    u8 = viz.to_uint8_images(x)[..., 0]
    np.testing.assert_array_equal(a[2:30, 2:30], u8[0])
    np.testing.assert_array_equal(a[2:30, 32:60], u8[1])
    np.testing.assert_array_equal(a[32:60, 32:60], u8[4])  # row 1, column 1
    assert (a[:2] == 255).all() and (a[:, 30:32] == 255).all() and (a[-2:] == 255).all()
    assert (a[32:60, 62:90] == 255).all()  # the unused sixth cell is padding


def test_grid_colour_nrow_pad_value(rng):
    x = rng.random((7, 3, 8, 10))
    img = viz.image_grid(x, nrow=4, padding=1, pad_value=0.0)
    assert img.mode == "RGB"
    assert img.size == (4 * (10 + 1) + 1, 2 * (8 + 1) + 1)
    a = np.asarray(img)
    assert a.shape == (19, 45, 3)
    assert (a[0] == 0).all()
    np.testing.assert_array_equal(a[1:9, 1:11], viz.to_uint8_images(x)[0])
    # nrow larger than n is capped at n.
    assert viz.image_grid(x, nrow=50, padding=0).size == (70, 8)


def test_grid_no_padding_is_concatenation(rng):
    x = rng.random((2, 4, 4))
    a = np.asarray(viz.image_grid(x, nrow=2, padding=0))
    np.testing.assert_array_equal(a, np.concatenate(list(viz.to_uint8_images(x)[..., 0]), axis=1))


def test_grid_scale_is_nearest(rng):
    x = rng.random((4, 5, 5))
    small = np.asarray(viz.image_grid(x, padding=1))
    big = viz.image_grid(x, padding=1, scale=3)
    assert big.size == (small.shape[1] * 3, small.shape[0] * 3)
    np.testing.assert_array_equal(np.asarray(big), small.repeat(3, axis=0).repeat(3, axis=1))


@pytest.mark.parametrize("kwargs", [{"scale": 0}, {"padding": -1}, {"nrow": 0}, {"pad_value": 2.0}])
def test_grid_bad_params(kwargs):
    with pytest.raises(ConfigError, match=f"'{next(iter(kwargs))}' parameter of image_grid"):
        viz.image_grid(np.zeros((2, 4, 4)), **kwargs)


# ----------------------------------------------------------------------------- labeled_rows


def test_labeled_rows_size_and_label(rng):
    x = rng.random((6, 28, 28))
    img = viz.labeled_rows([x, x[:3]], ["input", "reconstruction"], scale=2)
    assert img.mode == "L"
    strip = viz.image_grid(x, nrow=6, scale=2)  # the widest row
    assert img.height == 2 * (28 + 2 * 2) * 2
    label_w = img.width - strip.width
    assert label_w > 20  # room for the labels
    a = np.asarray(img)
    assert (a[:, :label_w] < 128).any()  # the label text is drawn in the label column
    np.testing.assert_array_equal(a[:64, label_w:], np.asarray(strip))
    assert (a[64:, label_w + 3 * 64 :] == 255).all()  # the shorter row is padded with white


def test_labeled_rows_colour_and_errors(rng):
    img = viz.labeled_rows([rng.random((2, 8, 8)), rng.random((2, 3, 8, 8))], ["gray", "rgb"], scale=1)
    assert img.mode == "RGB"
    with pytest.raises(DataError, match="2 rows but 1 labels"):
        viz.labeled_rows([np.zeros((1, 4, 4))] * 2, ["a"])


# ----------------------------------------------------------------------------- figures


def test_training_curves_partial_columns():
    rows = [{"epoch": e, "train_loss": 10.0 / e, "val_loss": 12.0 / e, "train_kl": float(e)} for e in (1, 2, 3, 4)]
    fig = viz.plot_training_curves(rows)
    titles = [ax.get_title() for ax in fig.axes]
    assert titles == ["Loss", "KL divergence"]
    loss_ax = fig.axes[0]
    train, val = loss_ax.get_lines()
    assert train.get_linestyle() == "-" and val.get_linestyle() == "--"
    np.testing.assert_allclose(val.get_ydata(), [12.0, 6.0, 4.0, 3.0])
    np.testing.assert_allclose(train.get_xdata(), [1, 2, 3, 4])
    assert [t.get_text() for t in loss_ax.get_legend().get_texts()] == ["train", "val"]
    assert loss_ax.get_xlabel() == "epoch" and loss_ax.get_ylabel() == "loss"
    assert len(fig.axes[1].get_lines()) == 1  # no val_kl column


def test_training_curves_all_columns_dataframe():
    df = pd.DataFrame(
        {
            "train_loss": [3.0, 2.0], "val_loss": [3.5, 2.5],
            "train_reconstruction_nll": [2.5, 1.5], "val_reconstruction_nll": [3.0, 2.0],
            "train_kl": [0.5, 0.5], "val_kl": [0.5, 0.5], "kl_weight": [0.5, 1.0], "lr": [1e-3, 5e-4],
        }
    )
    fig = viz.plot_training_curves(df)
    titles = [ax.get_title() for ax in fig.axes]
    assert titles[:4] == ["Loss", "Reconstruction", "KL divergence", "Schedule"]
    assert len(fig.axes) == 5  # the learning rate sits on a twin axis of the schedule panel
    np.testing.assert_allclose(fig.axes[0].get_lines()[0].get_xdata(), [1, 2])  # no 'epoch': 1, 2, ...
    assert fig._suptitle.get_text() == "Training curves"


def test_training_curves_errors():
    with pytest.raises(DataError, match="no rows"):
        viz.plot_training_curves([])
    with pytest.raises(DataError, match="none of the columns"):
        viz.plot_training_curves([{"epoch": 1, "accuracy": 0.5}])
    with pytest.raises(DataError, match="'train_loss' of metrics must be numeric"):
        viz.plot_training_curves([{"train_loss": "high"}])


def test_latent_scatter_2d_is_not_reduced(rng):
    z = rng.normal(size=(40, 2))
    fig = viz.plot_latent_scatter(z, title="Posterior means")
    ax = fig.axes[0]
    np.testing.assert_allclose(ax.collections[0].get_offsets(), z)
    assert ax.get_title() == ""  # no reduction, no note
    assert ax.get_xlabel() == "z[0]" and ax.get_ylabel() == "z[1]"
    assert fig._suptitle.get_text() == "Posterior means"


def test_latent_scatter_16d_pca_note_and_legend(rng):
    z = rng.normal(size=(90, 16))
    labels = np.repeat([0, 1, 2], 30)
    fig = viz.plot_latent_scatter(z, labels, label_names=["zero", "one", "two"])
    ax = fig.axes[0]
    note = ax.get_title()
    assert re.fullmatch(r"PCA of 16-D latent codes \(explains \d+% of variance\)", note)
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["zero", "one", "two"]
    assert sum(len(c.get_offsets()) for c in ax.collections) == 90
    # The plotted points are the PCA projection, not the first two raw columns.
    z2, _ = viz.reduce_2d(z)
    np.testing.assert_allclose(ax.collections[0].get_offsets(), z2[:30])
    assert not np.allclose(z2[:30], z[:30, :2])
    custom = viz.plot_latent_scatter(z, method_note="my note")
    assert custom.axes[0].get_title() == "my note"


def test_latent_scatter_continuous_labels_colorbar(rng):
    z = rng.normal(size=(50, 2))
    fig = viz.plot_latent_scatter(z, rng.random(50))
    assert len(fig.axes) == 2  # scatter + colour bar
    assert fig.axes[0].get_legend() is None
    with pytest.raises(DataError, match="z has 50 rows"):
        viz.plot_latent_scatter(z, np.zeros(49))


def test_latent_scatter_many_string_classes_and_1d(rng):
    labels = np.array([f"c{i:02d}" for i in range(12)] * 3 + [None])
    fig = viz.plot_latent_scatter(rng.normal(size=(37, 2)), labels, label_names={"c00": "first"})
    texts = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert texts == ["first"] + [f"c{i:02d}" for i in range(1, 12)] + ["missing"]
    colours = {tuple(c.get_facecolor()[0][:3]) for c in fig.axes[0].collections}
    assert len(colours) == 13  # tab20 gives the 12 classes distinct colours; missing is grey
    with pytest.raises(DataError, match="no entry in label_names"):
        viz.plot_latent_scatter(rng.normal(size=(3, 2)), [0, 1, 5], label_names=["a", "b"])
    line = viz.plot_latent_scatter(rng.normal(size=(10, 1)))
    np.testing.assert_array_equal(line.axes[0].collections[0].get_offsets()[:, 1], np.zeros(10))
    assert line.axes[0].get_title() == "1-D latent codes, shown on a line"


def test_reduce_2d_pca_variance_share(rng):
    # Two strong directions carry almost all the variance.
    z = np.zeros((200, 6))
    z[:, 0] = rng.normal(size=200) * 10
    z[:, 3] = rng.normal(size=200) * 5
    z += rng.normal(size=z.shape) * 0.01
    z2, note = viz.reduce_2d(z, what="posterior means")
    assert z2.shape == (200, 2)
    assert note == "PCA of 6-D posterior means (explains 100% of variance)"
    np.testing.assert_allclose(z2.var(axis=0).sum(), z.var(axis=0).sum(), rtol=1e-4)


def test_reduce_2d_tsne_tiny(rng):
    z = rng.normal(size=(30, 5))
    z2, note = viz.reduce_2d(z, method="tsne", seed=1)
    assert z2.shape == (30, 2) and np.isfinite(z2).all()
    assert note.startswith("t-SNE of 5-D latent codes")
    again, _ = viz.reduce_2d(z, method="tsne", seed=1)
    np.testing.assert_allclose(z2, again)


def test_reduce_2d_unknown_method():
    with pytest.raises(ConfigError, match="'method' parameter of reduce_2d must be one of 'pca', 'tsne'. Got 'umap'"):
        viz.reduce_2d(np.zeros((5, 3)), method="umap")
    with pytest.raises(DataError, match="NaN"):
        viz.reduce_2d(np.full((5, 3), np.nan))


def test_histogram_threshold(rng):
    scores = rng.normal(size=500)
    fig = viz.plot_histogram(scores, threshold=0.0, xlabel="log p(x)", bins=25)
    ax = fig.axes[0]
    assert len(ax.patches) == 25
    assert sum(p.get_height() for p in ax.patches) == 500
    (line,) = ax.get_lines()
    assert list(line.get_xdata()) == [0.0, 0.0]
    texts = [t.get_text() for t in ax.get_legend().get_texts()]
    assert texts[0] == "500 scores"
    assert texts[1] == f"threshold = 0 ({np.mean(scores < 0):.1%} below)"
    assert ax.get_xlabel() == "log p(x)" and ax.get_ylabel() == "count"
    with pytest.raises(DataError, match="shape \\(n,\\)"):
        viz.plot_histogram(np.zeros((3, 2)))


def test_figure_and_image_png_bytes(rng):
    fig = viz.plot_histogram(rng.normal(size=50))
    data = viz.figure_to_png_bytes(fig, dpi=50)
    assert data.startswith(PNG)
    w, h = fig.get_size_inches()
    assert _png_image(data).size == (round(w * 50), round(h * 50))
    grid = viz.image_grid(rng.random((3, 6, 6)))
    back = _png_image(viz.image_to_png_bytes(grid))
    np.testing.assert_array_equal(np.asarray(back), np.asarray(grid))


# ----------------------------------------------------------------------------- atomic writes


def test_atomic_saves_leave_only_the_target(tmp_path, rng):
    grid = viz.image_grid(rng.random((4, 6, 6)))
    viz.save_image(grid, tmp_path / "grid.png")
    viz.save_image(grid, tmp_path / "grid.png")  # overwrite in place
    viz.plot_histogram(rng.normal(size=20), path=tmp_path / "hist.png")
    viz.plot_training_curves([{"train_loss": 1.0}], path=tmp_path / "curves.svg")
    write_report(tmp_path / "sub" / "report.html", render_report(title="t", sections=[]))
    files = sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*") if p.is_file())
    assert files == ["curves.svg", "grid.png", "hist.png", "sub/report.html"]
    assert (tmp_path / "grid.png").read_bytes().startswith(PNG)
    assert (tmp_path / "hist.png").read_bytes().startswith(PNG)
    assert b"<svg" in (tmp_path / "curves.svg").read_bytes()[:500]
    with pytest.raises(ConfigError, match=r"\.png, \.svg or \.pdf"):
        viz.save_figure(viz.plot_histogram([1.0]), tmp_path / "x.jpg")
    assert not (tmp_path / "x.jpg").exists()


@pytest.mark.parametrize(
    "write",
    [
        lambda p: write_report(p, "new"),
        lambda p: viz.save_image(Image.new("L", (2, 2)), p),
        lambda p: viz.save_figure(viz.plot_histogram([1.0, 2.0]), p),
        lambda p: viz.plot_histogram([1.0, 2.0], path=p),
    ],
    ids=["write_report", "save_image", "save_figure", "plot_path"],
)
def test_failed_write_keeps_old_file_and_no_temp(tmp_path, monkeypatch, write):
    target = tmp_path / "out.png"
    target.write_bytes(b"old")

    def fsync_fails(fd):
        raise OSError(errno.ENOSPC, "No space left on device")  # what a full disk raises

    monkeypatch.setattr("os.fsync", fsync_fails)
    with pytest.raises(OSError, match="No space left on device") as info:
        write(target)
    assert info.value.errno == errno.ENOSPC
    assert target.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["out.png"]


# ----------------------------------------------------------------------------- report


def _full_report(rng) -> tuple[str, list[Section]]:
    grid = viz.image_grid(rng.random((4, 8, 8)), scale=2)
    fig = viz.plot_histogram(rng.normal(size=30))
    sections = [
        Section.json("Config", {"latent_dim": 16, "source": "https://example.org/mnist.gz", "arr": np.arange(2)}),
        Section.text("Summary", "Trained for 3 epochs.\n\nSee http://localhost:8000 for the explorer."),
        Section.table("Metrics", [{"split": "val", "elbo": np.float32(-98.5)}, {"split": "<test>", "nll": 91.25}]),
        Section.table("Settings", {"beta": 1.0, "url": "https://x.y"}),
        Section.image("Samples", grid, caption="16 samples"),
        Section.image("Curves", viz.figure_to_png_bytes(fig)),
        Section.images("VAE vs AE", [("VAE", grid), ("AE", fig)]),
    ]
    when = datetime(2024, 5, 6, 7, 8, 9, tzinfo=timezone.utc)
    return render_report(title="Run mnist-16", sections=sections, generated_at=when), sections


def test_report_is_self_contained(rng):
    html, sections = _full_report(rng)
    assert "http://" not in html.lower() and "https://" not in html.lower()
    assert "<script" not in html.lower()
    assert "https&#58;//example.org/mnist.gz" in html  # URLs in text still read the same
    assert html.startswith("<!DOCTYPE html>") and html.rstrip().endswith("</html>")
    assert "<style>" in html


def test_report_has_every_title_toc_and_metadata(rng):
    html, sections = _full_report(rng)
    for s in sections:
        assert f"<h2>{s.title}</h2>" in html
    anchors = re.findall(r'<a href="#(s\d+-[a-z0-9-]+)">', html)
    assert len(anchors) == len(sections)
    for a in anchors:
        assert f'<section id="{a}">' in html
    assert "2024-05-06 07:08:09 UTC" in html
    assert f"vaekit {__version__}" in html
    assert '<td class="num">-98.5</td>' in html and "<td>&lt;test&gt;</td>" in html
    assert "&quot;latent_dim&quot;: 16" in html


def test_report_images_decode(rng):
    html, _ = _full_report(rng)
    payloads = re.findall(r'src="data:image/png;base64,([A-Za-z0-9+/=]+)"', html)
    assert len(payloads) == 4
    sizes = [_png_image(base64.b64decode(p)).size for p in payloads]
    assert sizes[0] == viz.image_grid(np.zeros((4, 8, 8)), scale=2).size
    for p, (w, h) in zip(payloads, sizes):
        assert f'src="data:image/png;base64,{p}" width="{w}" height="{h}"' in html


def test_report_escapes_user_text():
    evil = "<script>alert('x')</script>"
    html = render_report(
        title=evil,
        sections=[Section.text(evil, evil), Section.table(evil, {evil: evil}), Section.json(evil, {evil: evil})],
    )
    assert "<script" not in html
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;" in html
    assert "<title>&lt;script&gt;" in html


def test_section_rejects_external_references_and_bad_input():
    with pytest.raises(DataError, match="self-contained"):
        Section("Remote", '<img src="https://example.org/a.png">')
    for body in ['<img src="//cdn.example/a.png">', "<a href='grid.png'>grid</a>", '<p style="background:url(x.png)">']:
        with pytest.raises(DataError, match="self-contained"):
            Section("Linked", body)
    assert Section.text("Plain", "set src=x.png and href=y in url(z)").body_html.startswith("<p>")
    ok = Section("Local", '<a href="#s1-config">config</a> <img src="data:image/png;base64,AAAA">')
    assert ok.body_html.startswith("<a href")
    with pytest.raises(DataError, match="not a PNG"):
        Section.image("Bad", b"GIF89a....")
    with pytest.raises(DataError, match="Cannot embed"):
        Section.image("Bad", np.zeros((4, 4)))
    with pytest.raises(ConfigError, match="list of Section"):
        render_report(title="t", sections=["not a section"])
    with pytest.raises(ConfigError, match="'html' parameter of write_report"):
        report.write_report("unused.html", b"bytes")
