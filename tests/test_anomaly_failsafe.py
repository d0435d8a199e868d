"""`vaekit anomaly` on rows it cannot score, planted anomalies it must explain, and failures it must clean up
(issue 15 items 5 and 16, issue 16 items 3 and 7)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import vaekit
from vaekit import CheckpointError, DataError, VAEOutlierDetector
from vaekit.tasks.anomaly import scores_figure

from ._cli import fails, ok

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def survey(n=400, seed=0, noise=0.02):
    """A mixed table: correlated numeric columns of different scales and a categorical column."""
    rng = np.random.default_rng(seed)
    z = rng.normal(size=(n, 2))
    return pd.DataFrame({
        "age": (45 + 12 * z[:, 0]).round(),
        "income": 40000 + 9000 * z[:, 0] + 3000 * rng.normal(size=n),
        "visits": np.clip(3 + 1.5 * z[:, 1] + 0.5 * rng.normal(size=n), 0, None).round(),
        "spend": 200 + 80 * z[:, 1] + 10 * rng.normal(size=n),
        "score": 0.5 + 0.1 * z[:, 0] - 0.1 * z[:, 1] + noise * rng.normal(size=n),
        "city": np.where(z[:, 0] > 0, "Paris", np.where(rng.random(n) < 0.5, "Lyon", "Nice")),
    })


@pytest.fixture(scope="module")
def table_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("anomaly")
    survey(300).to_csv(root / "train.csv", index=False)
    ok("anomaly", "fit", root / "train.csv", "--out", root / "run", "--epochs", "40", "--n-samples", "4", "-q")
    return root


def test_unseen_category_and_bad_cells_are_flagged_with_a_reason(table_run, tmp_path):
    """Issue 15.5: one row with an unseen category no longer refuses the file; issue 16.3: nor does 1e300."""
    rows = survey(12, seed=5)
    rows.loc[3, "city"] = "Tokyo"
    rows.loc[5, "income"] = 1e300
    rows.loc[7, "age"] = np.inf
    rows.loc[9, "spend"] = np.nan
    rows.to_csv(tmp_path / "new.csv", index=False)
    result = ok("anomaly", "score", table_run / "run", tmp_path / "new.csv", "-o", tmp_path / "s.csv", "--top", "3")
    assert "could not be scored" in result.output
    table = pd.read_csv(tmp_path / "s.csv", keep_default_na=False)
    assert len(table) == 12 and list(table.columns)[:4] == ["id", "score", "is_outlier", "reason"]
    flagged = table.set_index("id")
    for row, words in ((3, "unseen category 'Tokyo' in column 'city'"), (7, "column 'age'"), (9, "column 'spend'"),
                       (5, "income")):
        assert flagged.loc[row, "is_outlier"] == True, row  # noqa: E712 (numpy bool)
        assert words in flagged.loc[row, "reason"], (row, flagged.loc[row, "reason"])
    assert (tmp_path / "top.png").is_file() and (tmp_path / "scores.png").is_file()


def test_non_finite_scores_are_never_normal(table_run):
    """Issue 16.3: a score that cannot be computed is an outlier; a value too large to encode is refused."""
    det = VAEOutlierDetector.from_run(table_run / "run")
    rows = survey(4, seed=6)
    x = det._model_input(rows).clone()
    x[1, 0] = float("inf")  # what an overflowing input becomes
    data = vaekit.data.Dataset(x, None, det.model_.data_spec)
    assert not np.isfinite(det.score_samples(data)[1]) and det.predict(data).tolist() == [1, -1, 1, 1]
    rows.loc[2, "income"] = 1e300
    with pytest.raises(DataError, match=r"Column 'income' of X has 1e\+300 in row 3, too far outside"):
        det.score_samples(rows)


def test_histogram_uses_a_log_count_axis():
    """Issue 15.16: normal rows are no longer squashed into one bar."""
    rng = np.random.default_rng(0)
    scores = np.concatenate([rng.normal(size=2000), [-400.0, -900.0]])
    fig = scores_figure(scores, -3.0, train_scores=rng.normal(size=500), rule="iwae")
    ax = fig.axes[0]
    assert ax.get_yscale() == "log" and "2 below" in ax.get_xlabel()
    heights = [p.get_height() for p in ax.patches if p.get_facecolor()[2] > 0.5]  # the blue bars: scored data
    assert sorted(heights)[-2] > 100  # the 2,000 normal scores spread over several bars, not one


def test_top_columns_name_the_planted_column(tmp_path):
    """Issue 15.16: the most surprising column of a planted anomaly is the column that was changed."""
    df = survey(500, seed=0)
    train, test = df.iloc[:400], df.iloc[400:].reset_index(drop=True)
    det = VAEOutlierDetector(epochs=1500, seed=0).fit(train)
    rng = np.random.default_rng(0)
    planted, truth = test.iloc[:30].copy(), []
    numeric = ["age", "income", "visits", "spend", "score"]
    for i in range(len(planted)):
        col = numeric[rng.integers(len(numeric))]
        planted.loc[i, col] = train[col].mean() + rng.choice([-1, 1]) * rng.uniform(3, 5) * train[col].std()
        truth.append(list(df.columns).index(col))
    named = det.column_scores(planted).argmax(axis=1)
    assert (named == np.array(truth)).mean() >= 0.9


def test_failed_fit_leaves_no_folder_and_bad_detector_file_is_named(table_run, tmp_path):
    """Issue 16.7."""
    (tmp_path / "bad.csv").write_text("a,b\n1,2\n3,\n")
    fails("anomaly", "fit", tmp_path / "bad.csv", "--out", tmp_path / "D", "--epochs", "1", "-q", match="missing")
    assert not (tmp_path / "D").exists()
    fails("anomaly", "fit", tmp_path / "nothing.csv", "--out", tmp_path / "D", "-q", match="nothing.csv")
    assert not (tmp_path / "D").exists()
    import shutil

    shutil.copytree(table_run / "run", tmp_path / "run")
    (tmp_path / "run" / "anomaly.json").write_text("{not json")
    with pytest.raises(CheckpointError, match=r"anomaly\.json"):
        VAEOutlierDetector.from_run(tmp_path / "run")
    fails("anomaly", "score", tmp_path / "run", table_run / "train.csv", "-o", tmp_path / "s.csv", match=r"anomaly\.json")
