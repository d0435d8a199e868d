"""Issue 20: anomaly detection on data as users hold it -- flat image vectors (``image_shape``, the warning)
and tables (the table detector's scaling and scores, planted anomalies named by ``feature_scores``)."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from vaekit import ConfigError, DataError, VAEOutlierDetector
from vaekit.tasks.anomaly import looks_like_flat_images

from ._cli import fails, ok
from .conftest import make_images

pytestmark = pytest.mark.usefixtures("one_torch_thread")

TINY = dict(epochs=2, hidden_dims=(16,), batch_size=32, n_samples=2)


def flat_images(n=60, side=8, seed=0):
    """(n, side*side) float32 in [0, 1]: the synthetic images of conftest, flattened."""
    return make_images(n, shape=(1, side, side), seed=seed).numpy().reshape(n, -1).astype(np.float32)


# ============================================================================================ flat images
def test_image_shape_reads_flat_rows_as_images_with_the_image_score(tmp_path):
    x = flat_images(60)
    det = VAEOutlierDetector(image_shape=(8, 8), **TINY).fit(x)
    assert det.scoring_ == "complexity" and det.local_model_ is not None
    assert tuple(det.model_.data_shape) == (1, 8, 8)
    # the same detector on the same pixels given as images: identical scores
    img = VAEOutlierDetector(**TINY).fit(x.reshape(-1, 8, 8))
    np.testing.assert_allclose(det.score_samples(x), img.score_samples(x.reshape(-1, 8, 8)), rtol=1e-6)
    assert det.feature_scores(x[:3]).shape == (3, 8, 8)
    # (C, H, W) works too, and so does a saved run
    assert VAEOutlierDetector(image_shape=(1, 8, 8), **TINY).fit(x).scoring_ == "complexity"
    det.save(tmp_path / "run")
    back = VAEOutlierDetector.from_run(tmp_path / "run")
    assert tuple(back.image_shape) == (8, 8)
    np.testing.assert_allclose(back.score_samples(x[:5]), det.score_samples(x[:5]), rtol=1e-6)


def test_image_shape_errors_name_the_shapes():
    x = flat_images(20)
    with pytest.raises(DataError, match=r"64 features per row, but image_shape=\(9, 9\) needs 81"):
        VAEOutlierDetector(image_shape=(9, 9), **TINY).fit(x)
    with pytest.raises(ConfigError, match=r"\(H, W\) or \(C, H, W\)"):
        VAEOutlierDetector(image_shape=(2, 4, 8), **TINY).fit(x)
    det = VAEOutlierDetector(image_shape=(8, 8), **TINY).fit(x)
    with pytest.raises(DataError, match="needs 64"):
        det.score_samples(x[:, :63])


def test_flat_images_without_image_shape_warn():
    x = flat_images(40)
    with pytest.warns(UserWarning, match=r"flattened 8x8 images.*image_shape=\(8, 8\)"):
        det = VAEOutlierDetector(**TINY).fit(x)
    assert det.scoring_ != "complexity"  # it did take the vector path, as the warning says
    assert looks_like_flat_images((x * 255).astype(np.uint8)) == (8, 8)
    # no warning for a table that does not look like images: too few columns, negative values, not square
    for other in (x[:, :9], x - 0.5, x[:, :60]):
        assert looks_like_flat_images(other) is None
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        VAEOutlierDetector(**TINY).fit(x[:, :60])
        VAEOutlierDetector(image_shape=(8, 8), **TINY).fit(x)


def test_cli_image_shape(tmp_path):
    x = flat_images(40)
    pd.DataFrame((x * 255).round().astype(int), columns=[f"p{i}" for i in range(64)]).to_csv(
        tmp_path / "flat.csv", index=False)
    np.save(tmp_path / "flat.npy", x)
    run = tmp_path / "run"
    ok("anomaly", "fit", tmp_path / "flat.csv", "--out", run, "--image-shape", "8x8", "--epochs", "2",
       "--n-samples", "2", "-q")
    det = VAEOutlierDetector.from_run(run)
    assert det.scoring_ == "complexity" and tuple(det.model_.data_shape) == (1, 8, 8)
    ok("anomaly", "score", run, tmp_path / "flat.npy", "-o", tmp_path / "s.csv", "--top", "2")
    table = pd.read_csv(tmp_path / "s.csv")
    assert len(table) == 40 and table["score"].notna().all()
    np.testing.assert_allclose(table["score"], det.score_samples(x), rtol=1e-4)
    fails("anomaly", "fit", tmp_path / "flat.npy", "--out", tmp_path / "r2", "--image-shape", "8by8", "-q",
          match="--image-shape must be HxW")
    fails("anomaly", "fit", tmp_path / "flat.npy", "--out", tmp_path / "r3", "--image-shape", "7x7", "-q",
          match="needs 49")


# ============================================================================================ tables
def correlated_table(n=400, seed=0):
    """Six numeric columns of very different scales driven by two factors, and a text column."""
    rng = np.random.default_rng(seed)
    z = rng.normal(size=(n, 2))
    return pd.DataFrame({
        "age": 45 + 12 * z[:, 0] + 2 * rng.normal(size=n),
        "income": 40000 + 9000 * z[:, 0] + 2000 * rng.normal(size=n),
        "visits": 3 + 1.5 * z[:, 1] + 0.3 * rng.normal(size=n),
        "spend": 200 + 80 * z[:, 1] + 10 * rng.normal(size=n),
        "ratio": 0.5 + 0.1 * z[:, 0] - 0.1 * z[:, 1] + 0.02 * rng.normal(size=n),
        "noise": rng.normal(size=n),
        "city": np.where(z[:, 0] > 0, "Paris", "Lyon"),
    })


def test_feature_scores_name_the_planted_column_in_a_dataframe():
    df = correlated_table(500)
    train, test = df.iloc[:400], df.iloc[400:430].copy()
    det = VAEOutlierDetector(epochs=200, seed=0).fit(train)
    rng = np.random.default_rng(1)
    numeric = ["age", "income", "visits", "spend", "ratio", "noise"]
    truth = []
    for i in test.index:
        col = numeric[rng.integers(len(numeric))]
        test.loc[i, col] = train[col].mean() + rng.choice([-1, 1]) * rng.uniform(4, 6) * train[col].std()
        truth.append(col)
    fs = det.feature_scores(test)
    assert isinstance(fs, pd.DataFrame) and list(fs.columns) == list(df.columns) and list(fs.index) == list(test.index)
    named = fs.idxmax(axis=1).tolist()
    assert np.mean([a == b for a, b in zip(named, truth)]) >= 0.8, list(zip(named, truth))
    # the planted rows are the anomalous ones
    s = -det.score_samples(pd.concat([df.iloc[430:500], test]))
    assert roc_auc_score(np.r_[np.zeros(70), np.ones(30)], s) > 0.95


def test_combined_default_terms_and_the_tail_term_by_hand():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, 3)) @ rng.normal(size=(3, 5))
    det = VAEOutlierDetector(epochs=20, hidden_dims=(16,), seed=0).fit(X)
    assert det.scoring_ == "combined" and set(det.component_stats_) == {"nll", "tails"}
    # the tail term: per column the larger of -log P(X <= x) and -log P(X >= x) over the training rows, summed
    ref = det._as_tensor(X).numpy().astype(np.float64)
    rows = ref[:7]
    left = (ref[None, :, :] <= rows[:, None, :]).mean(axis=1)
    right = (ref[None, :, :] >= rows[:, None, :]).mean(axis=1)
    by_hand = np.maximum(-np.log(left), -np.log(right)).sum(axis=1)
    np.testing.assert_allclose(det._tail_surprise(rows), by_hand, rtol=1e-12)
    # one extreme value in one column: far more anomalous than any training row
    odd = X[:1].copy()
    odd[0, 2] = X[:, 2].max() + 5 * X[:, 2].std()
    assert det.score_samples(odd)[0] < det.train_scores_.min()
    # scores are in z units against the training rows: the training median of the sum is near 0
    assert abs(np.median(det.train_scores_)) < 1.0


def test_trim_leaves_the_planted_rows_out_of_the_second_fit():
    normal = np.random.default_rng(0).normal(size=(300, 2)) @ np.array([[1.0, 2.0, -1.0, 0.5], [0.5, -1.0, 1.0, 2.0]])
    planted = np.random.default_rng(1).normal(size=(15, 4)) * 4
    X = np.vstack([normal, planted])
    det = VAEOutlierDetector(epochs=30, hidden_dims=(16,), trim=0.1, seed=0).fit(X)
    assert len(det.trimmed_) == len(X) - int(np.ceil(0.9 * len(X)))
    assert np.isin(np.arange(300, 315), det.trimmed_).mean() >= 0.8  # the planted rows are the ones left out
    assert len(det.first_history_) == 30 and len(det.history_) == 30
    with pytest.raises(ConfigError, match="'trim' parameter"):
        VAEOutlierDetector(trim=0.7, **TINY).fit(normal)


def test_default_training_budget_is_bounded():
    det = VAEOutlierDetector()
    assert det.max_time == "auto" and det.epochs == "auto"
    assert det._budget(image=True) == 90.0 and det._budget(image=False) == 20.0
    assert VAEOutlierDetector(epochs=5)._budget(image=False) is None  # a number of epochs is its own bound
    assert VAEOutlierDetector(max_time=7)._budget(image=True) == 7.0
    assert VAEOutlierDetector(max_time=None)._budget(image=True) is None
