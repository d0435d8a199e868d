"""Latent embeddings: the VAETransformer contract, `vaekit embed`, `vaekit latent --method/.html`, `vaekit neighbors`."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image
from sklearn.base import clone
from sklearn.neighbors import KNeighborsClassifier
from sklearn.pipeline import Pipeline
from sklearn.utils.estimator_checks import parametrize_with_checks

import vaekit
from vaekit import ConfigError, DataError, NotFittedError, VAETransformer

from ._cli import fails, ok

TINY = dict(epochs=3, hidden_dims=(16,), batch_size=32)


def clusters(n=150, d=6, k=3, seed=0):
    """k well-separated Gaussian clusters in d dimensions, with labels."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(scale=4.0, size=(k, d))
    y = np.arange(n) % k
    return centres[y] + rng.normal(size=(n, d)), y


# ============================================================================================ scikit-learn's checks
# Every check of sklearn.utils.estimator_checks runs at a tiny size; none is expected to fail.
@parametrize_with_checks([VAETransformer(epochs=2, hidden_dims=(8,), batch_size=32)])
def test_sklearn_estimator_checks(estimator, check):
    check(estimator)


# ============================================================================================ transformer contract
def test_shapes_dtype_and_learned_attributes():
    X, _ = clusters()
    vae = VAETransformer(latent_dim=3, **TINY)
    assert not hasattr(vae, "model_")  # __init__ stores parameters only
    Z = vae.fit_transform(X)
    assert Z.shape == (150, 3) and Z.dtype == np.float32
    assert vae.n_features_in_ == 6 and not hasattr(vae, "feature_names_in_")
    assert isinstance(vae.model_, vaekit.VAE) and vae.model_.latent_dim == 3
    assert len(vae.history_) == 3
    assert list(vae.get_feature_names_out()) == ["z0", "z1", "z2"]


def test_same_seed_same_embedding_other_seed_other_embedding():
    X, _ = clusters()
    a = VAETransformer(**TINY, seed=1).fit(X).transform(X)
    b = VAETransformer(**TINY, seed=1).fit(X).transform(X)
    c = VAETransformer(**TINY, seed=2).fit(X).transform(X)
    assert np.array_equal(a, b)
    assert not np.allclose(a, c)


def test_transform_is_deterministic_and_sample_draws_from_the_posterior():
    X, _ = clusters()
    vae = VAETransformer(**TINY).fit(X)
    means = vae.transform(X)
    assert np.array_equal(means, vae.transform(X))
    np.testing.assert_allclose(means, vae.model_.embed(torch.as_tensor(vae._model_input(X))).numpy(), rtol=1e-6)
    draws = vae.transform(X, sample=True)
    assert np.array_equal(draws, vae.transform(X, sample=True))  # the estimator's seed by default
    assert not np.allclose(draws, means)
    assert not np.allclose(draws, vae.transform(X, sample=True, seed=5))
    # draws scatter around the means by the posterior's standard deviation
    std = vae.model_.encode(torch.as_tensor(vae._model_input(X))).base_dist.scale.detach().numpy()
    assert 0.5 < float(np.std((draws - means) / std)) < 1.5


def test_pipeline_clone_and_params():
    X, y = clusters(n=240)
    pipe = Pipeline([("vae", VAETransformer(latent_dim=2, epochs=25, batch_size=16, hidden_dims=(32,))),
                     ("knn", KNeighborsClassifier(5))])
    pipe.fit(X[:180], y[:180])
    assert pipe.score(X[180:], y[180:]) > 0.9  # the 2-D embedding keeps the three clusters apart
    twin = clone(pipe.named_steps["vae"])
    assert twin.get_params() == pipe.named_steps["vae"].get_params() and not hasattr(twin, "model_")
    assert twin.set_params(latent_dim=4).latent_dim == 4


def test_set_output_pandas_names_columns_z():
    X, _ = clusters()
    out = VAETransformer(**TINY).set_output(transform="pandas").fit_transform(X)
    assert isinstance(out, pd.DataFrame) and list(out.columns) == ["z0", "z1"]


def test_inverse_transform_of_a_table_array_reconstructs_it():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(300, 2)) @ rng.normal(size=(2, 6)) * 10 + 50  # rank 2, far from standardised
    vae = VAETransformer(latent_dim=2, epochs=60, hidden_dims=(32,)).fit(X)
    back = vae.inverse_transform(vae.transform(X))
    assert back.shape == X.shape and back.dtype == np.float64
    # de-standardised: back in X's units, and much closer to X than the column means are
    assert np.mean((back - X) ** 2) < 0.2 * np.mean((X - X.mean(0)) ** 2)


def test_inverse_transform_keeps_the_layout_of_the_input():
    rng = np.random.default_rng(0)
    imgs = (rng.random((40, 8, 8)) * 255).astype(np.uint8)
    vae = VAETransformer(**TINY).fit(imgs)
    back = vae.inverse_transform(vae.transform(imgs[:5]))
    assert back.shape == (5, 8, 8) and back.max() <= 255 and back.max() > 1  # 8-bit units
    assert vae.model_.config.likelihood == "bernoulli" and vae.n_features_in_ == 64

    rgb = (rng.random((30, 6, 7, 3)) * 255).astype(np.uint8)  # channels last
    vae = VAETransformer(**TINY).fit(rgb)
    assert vae.model_.data_shape == (3, 6, 7)
    assert vae.inverse_transform(vae.transform(rgb[:2])).shape == (2, 6, 7, 3)

    unit = rng.random((50, 5))  # [0, 1] vectors: Bernoulli, used as they are
    vae = VAETransformer(**TINY).fit(unit)
    assert vae.model_.config.likelihood == "bernoulli"
    back = vae.inverse_transform(vae.transform(unit))
    assert back.shape == (50, 5) and 0 <= back.min() and back.max() <= 1

    flat = (unit * 255).astype(np.uint8) + 2  # 2-D uint8: flattened 8-bit intensities
    vae = VAETransformer(**TINY).fit(flat)
    assert vae.model_.config.likelihood == "bernoulli"
    assert float(vae._model_input(flat).max()) <= 1.0
    assert vae.inverse_transform(vae.transform(flat)).max() > 1


def test_dataframes_keep_feature_names_and_categories():
    df = vaekit.datasets.make_table(n=120, seed=0)
    vae = VAETransformer(**TINY).fit(df)
    assert list(vae.feature_names_in_) == list(df.columns) and vae.n_features_in_ == df.shape[1]
    back = vae.inverse_transform(vae.transform(df.iloc[:7]))
    assert isinstance(back, pd.DataFrame) and list(back.columns) == list(df.columns) and len(back) == 7
    # a plain array with the DataFrame's columns in the DataFrame's order works too
    np.testing.assert_allclose(vae.transform(df.to_numpy(dtype=object)), vae.transform(df), atol=1e-6)
    categorical = [c for c in df.columns if not pd.api.types.is_numeric_dtype(df[c])]
    assert categorical and set(back[categorical[0]]) <= set(df[categorical[0]])
    with pytest.raises(DataError, match=r"Column '.*' is missing from X; the model was trained on columns"):
        vae.transform(df.drop(columns=[df.columns[0]]))


def test_dataset_input_and_from_run(tmp_path, image_data):
    vae = VAETransformer(**TINY).fit(image_data)
    assert vae.transform(image_data).shape == (len(image_data), 2)
    back = vae.inverse_transform(np.zeros((3, 2)))
    assert back.shape == (3, 1, 8, 8)

    model = vaekit.VAE.for_data(image_data, latent_dim=3, hidden_dims=(16,))
    vaekit.fit(model, image_data, epochs=1, out=tmp_path / "run", progress=False)
    loaded = VAETransformer.from_run(tmp_path / "run")
    assert loaded.latent_dim == 3 and loaded.hidden_dims == (16,) and loaded.history_ is None
    raw = (image_data.x.numpy()[:, 0] * 255).round().astype(np.uint8)  # what the data looked like: (n, 8, 8) uint8
    np.testing.assert_allclose(loaded.transform(raw), model.embed(image_data.x).numpy(), atol=1e-5)
    with pytest.raises(DataError, match="X has 10 features, but VAETransformer is expecting 64 features as input"):
        loaded.transform(np.zeros((2, 10)))


def test_autoencoder_codes_ignore_sample():
    X, _ = clusters()
    ae = VAETransformer(autoencoder=True, **TINY).fit(X)
    assert type(ae.model_) is vaekit.Autoencoder
    assert np.array_equal(ae.transform(X), ae.transform(X, sample=True))


def test_embedding_quality_floor_on_separated_clusters():
    X, y = clusters(n=600, d=10, k=4, seed=3)
    Z = VAETransformer(latent_dim=2, hidden_dims=(32,), epochs=40).fit(X[:450]).transform(X)
    acc = KNeighborsClassifier(5).fit(Z[:450], y[:450]).score(Z[450:], y[450:])
    assert acc > 0.95


# ============================================================================================ errors
def test_not_fitted_error_in_sklearn_words():
    with pytest.raises(NotFittedError, match=r"This VAETransformer instance is not fitted yet\. Call 'fit'"):
        VAETransformer().transform(np.zeros((2, 3)))
    with pytest.raises(AttributeError):  # NotFittedError is also an AttributeError, as scikit-learn's is
        VAETransformer().inverse_transform(np.zeros((2, 2)))


def test_wrong_feature_counts():
    X, _ = clusters(d=4)
    vae = VAETransformer(**TINY).fit(X)
    with pytest.raises(DataError, match=r"^X has 3 features, but VAETransformer is expecting 4 features as input\.$"):
        vae.transform(X[:, :3])
    with pytest.raises(DataError, match=r"X has 3 features, but VAETransformer\.inverse_transform is expecting 2"):
        vae.inverse_transform(np.zeros((5, 3)))


@pytest.mark.parametrize(
    "params, match",
    [
        ({"latent_dim": 0}, r"The 'latent_dim' parameter of VAETransformer must be an int >= 1\. Got 0 instead\."),
        ({"epochs": "many"}, r"The 'epochs' parameter of VAETransformer must be an int >= 1 or 'auto'\. Got 'many' instead\."),
        ({"binarize": "yes"}, r"The 'binarize' parameter of VAETransformer must be 'auto' or a bool"),
        ({"likelihood": "poisson"}, r"The 'likelihood' parameter of VAETransformer must be one of 'bernoulli'"),
        ({"hidden_dims": (8, 0)}, r"The 'hidden_dims' parameter of VAETransformer must be a sequence of ints >= 1"),
        ({"binarize": True}, r"'binarize' parameter of VAETransformer can be True only with the Bernoulli likelihood"),
    ],
)
def test_bad_parameters(params, match):
    X, _ = clusters()
    with pytest.raises(ConfigError, match=match):
        VAETransformer(**{**TINY, **params}).fit(X)


@pytest.mark.parametrize(
    "X, match",
    [
        (np.zeros(5), r"Reshape your data"),
        (np.array([[0.0, np.nan], [1.0, 2.0]]), r"X contains NaN or infinity \(first at index \(0, 1\)\)"),
        (np.zeros((0, 3)), r"0 sample\(s\)"),
        (np.array([["a", "b"], ["c", "d"]], dtype=object), r"X must hold numbers"),
        (np.zeros((1, 3)), r"X has 1 sample, but VAETransformer needs at least 2"),
    ],
)
def test_bad_input(X, match):
    with pytest.raises(DataError, match=match):
        VAETransformer(**TINY).fit(X)


# ============================================================================================ CLI
@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> dict[str, Path]:
    """A latent-3 image run (mnist5k, 150 digits) and a latent-2 table run trained on a labelled CSV."""
    root = tmp_path_factory.mktemp("embed")
    images = root / "img"
    ok("train", "mnist5k", "--out", images, "--limit", "150", "--latent-dim", "3", "--epochs", "1",
       "--hidden-dims", "32", "--quiet")
    df = vaekit.datasets.make_table(n=90, seed=1)
    df["label"] = np.where(np.arange(90) % 3 == 0, "a", "b")
    df.to_csv(root / "t.csv", index=False)
    table = root / "tab"
    ok("train", root / "t.csv", "--out", table, "--label-column", "label", "--latent-dim", "2", "--epochs", "2",
       "--hidden-dims", "16", "--quiet")
    return {"img": images, "tab": table, "csv": root / "t.csv", "root": root}


def _means(run: Path, source: str, split: str = "all") -> np.ndarray:
    from vaekit.tasks.runs import run_data

    model = vaekit.load(run)
    data = vaekit.datasets.load(source, split=split, data_spec=model.data_spec) if split else run_data(model, source)
    return model.embed(data.x).numpy()


def test_embed_writes_each_format_with_the_same_numbers(runs, tmp_path):
    expected = _means(runs["img"], "mnist5k", "test")
    for name in ("z.npy", "z.csv", "z.parquet"):
        result = ok("embed", runs["img"], "mnist5k", "--split", "test", "-o", tmp_path / name, "--batch-size", "64",
                    "--with-labels", "--quiet")
        assert str(tmp_path / name) in result.output
    z = np.load(tmp_path / "z.npy")
    assert z.shape == (500, 3) and z.dtype == np.float32
    np.testing.assert_allclose(z, expected, atol=1e-5)
    labels = np.load(tmp_path / "z_labels.npy")
    assert labels.dtype == np.int64 and np.array_equal(labels, vaekit.datasets.load("mnist5k", split="test").y.numpy())
    for frame in (pd.read_csv(tmp_path / "z.csv"), pd.read_parquet(tmp_path / "z.parquet")):
        assert list(frame.columns) == ["z0", "z1", "z2", "label"] and len(frame) == 500
        np.testing.assert_allclose(frame[["z0", "z1", "z2"]].to_numpy(), expected, atol=1e-5)
        assert [str(v) for v in frame["label"][:5]] == [str(v) for v in labels[:5]]
    import pyarrow.parquet as pq

    assert pq.ParquetFile(tmp_path / "z.parquet").num_row_groups == 8  # ceil(500 / 64) chunks, one row group each
    assert sorted(p.name for p in tmp_path.iterdir()) == ["z.csv", "z.npy", "z.parquet", "z_labels.npy"]  # no temp files


def test_embed_streams_a_csv_in_chunks(runs, tmp_path):
    ok("embed", runs["tab"], runs["csv"], "-o", tmp_path / "small.npy", "--batch-size", "7", "--quiet")
    ok("embed", runs["tab"], runs["csv"], "-o", tmp_path / "big.npy", "--batch-size", "1000", "--quiet")
    a, b = np.load(tmp_path / "small.npy"), np.load(tmp_path / "big.npy")
    assert a.shape == (90, 2)
    np.testing.assert_allclose(a, b, atol=1e-6)  # chunk sizes change only float rounding
    np.testing.assert_allclose(a, _means(runs["tab"], str(runs["csv"]), ""), atol=1e-5)
    ok("embed", runs["tab"], runs["csv"], "-o", tmp_path / "l.parquet", "--with-labels", "--batch-size", "20", "--quiet")
    assert set(pd.read_parquet(tmp_path / "l.parquet")["label"]) == {"a", "b"}  # class names, not codes


def test_embed_streams_a_npy_source(runs, tmp_path):
    raw = (vaekit.datasets.load("mnist5k", split="test").x.numpy()[:70, 0] * 255).round().astype(np.uint8)
    np.save(tmp_path / "digits.npy", raw)
    ok("embed", runs["img"], tmp_path / "digits.npy", "-o", tmp_path / "z.csv", "--batch-size", "16", "--quiet")
    z = pd.read_csv(tmp_path / "z.csv").to_numpy()
    np.testing.assert_allclose(z, _means(runs["img"], "mnist5k", "test")[:70], atol=1e-5)


def test_embed_sample_draws_reproducibly(runs, tmp_path):
    for name, seed in (("a.npy", 1), ("b.npy", 1), ("c.npy", 2)):
        ok("embed", runs["tab"], runs["csv"], "-o", tmp_path / name, "--sample", "--seed", seed, "--quiet")
    ok("embed", runs["tab"], runs["csv"], "-o", tmp_path / "m.npy", "--quiet")
    a, b, c, m = (np.load(tmp_path / n) for n in ("a.npy", "b.npy", "c.npy", "m.npy"))
    assert np.array_equal(a, b) and not np.allclose(a, c) and not np.allclose(a, m)


def test_embed_errors_leave_no_file(runs, tmp_path):
    bad = pd.read_csv(runs["csv"])
    bad[bad.columns[0]] = bad[bad.columns[0]].astype(object)
    bad.loc[40, bad.columns[0]] = "oops"  # row 41 of the file (rows count from 1 under the header)
    bad.to_csv(tmp_path / "bad.csv", index=False)
    fails("embed", runs["tab"], tmp_path / "bad.csv", "-o", tmp_path / "z.parquet", "--batch-size", "16", "-q",
          match=rf"Column '{bad.columns[0]}' of .*bad\.csv must be numeric; found 'oops' in row 41\.")
    fails("embed", runs["tab"], runs["csv"], "-o", tmp_path / "z.txt", match=r"must end in \.npy, \.csv or \.parquet")
    np.save(tmp_path / "x.npy", np.zeros((4, 5), dtype=np.float32))
    fails("embed", runs["img"], tmp_path / "x.npy", "-o", tmp_path / "z.npy", match=r"expects images of shape \(1, 28, 28\)")
    fails("embed", runs["img"], tmp_path / "x.npy", "-o", tmp_path / "z.npy", "--with-labels", match=r"without labels")
    fails("embed", runs["tab"], runs["csv"], "-o", tmp_path / "z.npy", "--split", "test", match=r"no separate test split")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.csv", "x.npy"]


def test_latent_methods_and_self_contained_html(runs, tmp_path):
    for method in ("pca", "tsne", "umap"):
        ok("latent", runs["img"], "mnist5k", "--method", method, "--max-points", "60", "-o", tmp_path / f"{method}.png")
        assert Image.open(tmp_path / f"{method}.png").size[0] > 300
    ok("latent", runs["img"], "mnist5k", "--method", "umap", "--max-points", "80", "-o", tmp_path / "l.html")
    page = (tmp_path / "l.html").read_text(encoding="utf-8")
    assert not re.search(r"https?:", page) and "<svg" in page and "<script>" in page
    assert page.count("<circle ") == 80
    data = json.loads(re.search(r'<script id="vaekit-data" type="application/json">(.*?)</script>', page, re.S).group(1))
    assert len(data["thumbnails"]) == 80 and data["thumbnails"][0].startswith("data:image/png;base64,")
    assert "UMAP of 3-D posterior means" in page

    ok("latent", runs["tab"], runs["csv"], "-o", tmp_path / "t.html", "--max-points", "30")
    page = (tmp_path / "t.html").read_text(encoding="utf-8")
    data = json.loads(re.search(r'<script id="vaekit-data" type="application/json">(.*?)</script>', page, re.S).group(1))
    table = pd.read_csv(runs["csv"])
    assert data["columns"][0] == table.columns[0] and len(data["rows"]) == 30
    assert data["rows"][0][0] == pytest.approx(table.iloc[0, 0], rel=1e-3)  # raw units, not standardised
    assert (tmp_path / "t_manifold.png").is_file()  # latent_dim 2: the decoded grid as before


def test_umap_missing_names_the_extra(runs, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "umap", None)  # import umap -> ImportError
    fails("latent", runs["img"], "mnist5k", "--method", "umap", "-o", tmp_path / "l.png",
          match=r"needs umap-learn: pip install 'vaekit\[umap\]'")
    from vaekit.tasks.embed import reduce_2d

    with pytest.raises(ImportError, match=r"pip install 'vaekit\[umap\]'"):
        reduce_2d(np.zeros((10, 3)), "umap")


def test_neighbors_picture_and_distances(runs, tmp_path):
    result = ok("neighbors", runs["img"], "mnist5k", "--query", "3", "-k", "5", "-o", tmp_path / "nn.png")
    image = Image.open(tmp_path / "nn.png")
    assert image.width > 6 * 28 * 2 and image.height > 28 * 2
    from vaekit.tasks.embed import nearest_neighbors

    model = vaekit.load(runs["img"])
    data = vaekit.datasets.load("mnist5k", split="test", data_spec=model.data_spec)
    nn = nearest_neighbors(model, data, "3", k=5)
    z = model.embed(data.x).numpy()
    brute = np.argsort(np.linalg.norm(z - z[3], axis=1))
    assert 3 not in nn.indices and list(nn.indices) == [i for i in brute if i != 3][:5]
    assert np.all(np.diff(nn.distances) >= 0)
    for label in nn.labels:
        assert label in result.output
    ok("neighbors", runs["tab"], runs["csv"], "--query", "0", "-k", "3", "-o", tmp_path / "t.png")
    assert Image.open(tmp_path / "t.png").size[0] > 200


def test_neighbors_of_an_image_file(runs, tmp_path):
    Image.fromarray((np.eye(28) * 255).astype(np.uint8)).save(tmp_path / "q.png")
    ok("neighbors", runs["img"], "mnist5k", "--query", tmp_path / "q.png", "-k", "2", "-o", tmp_path / "nn.png")


def test_neighbors_errors(runs, tmp_path):
    fails("neighbors", runs["img"], "mnist5k", "--query", "500", "-o", tmp_path / "nn.png",
          match=r"Index 500 is out of range for data 'mnist5k' with 500 examples")
    fails("neighbors", runs["tab"], runs["csv"], "--query", "0", "-k", "90", "-o", tmp_path / "nn.png",
          match=r"Asked for 90 neighbours, but data .* has only 89 other examples")


@pytest.mark.parametrize("command", ["embed", "neighbors", "latent"])
def test_help_has_examples(command):
    result = ok(command, "--help")
    assert "Examples" in result.output and f"vaekit {command}" in result.output


def test_split_modules_keep_the_public_imports():
    """Issue 14 item 7: embed.py holds the estimator; the stream, the page and the neighbours live apart."""
    import vaekit.tasks.embed as embed
    from vaekit.tasks import embed_stream, latent_page, neighbors

    assert embed.embed_file is embed_stream.embed_file and embed.latent_html is latent_page.latent_html
    assert embed.nearest_neighbors is neighbors.nearest_neighbors and embed.reduce_2d is latent_page.reduce_2d
    assert all(hasattr(embed, name) for name in embed.__all__)
    src = Path(embed.__file__).read_text()
    assert "<svg" not in src and "ParquetWriter" not in src and len(src.splitlines()) < 400


def test_label_files_are_read_in_data():
    from vaekit.data.labels import read_label_file
    from vaekit.tasks import semisupervised

    assert vaekit.read_label_file is read_label_file is semisupervised.read_label_file
    assert "def read_label_file" not in Path(semisupervised.__file__).read_text()
