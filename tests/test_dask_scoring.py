"""Embedding and anomaly scoring of a partitioned parquet dataset with Dask give the one-process numbers (issue 21)."""

from __future__ import annotations

import numpy as np
import pytest

pd = pytest.importorskip("pandas")
pytest.importorskip("pyarrow")
pytest.importorskip("dask.dataframe", reason="the dask extra is not installed: pip install 'vaekit[dask]'")

import vaekit  # noqa: E402
from vaekit.tasks import dask_scoring  # noqa: E402


@pytest.fixture(scope="module")
def table_runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("dask")
    rng = np.random.default_rng(0)
    df = pd.DataFrame({"a": rng.normal(size=240), "b": rng.normal(size=240) * 3 + 1,
                       "c": rng.choice(["x", "y", "z"], 240)})
    df.to_csv(root / "train.csv", index=False)
    data = vaekit.datasets.load(str(root / "train.csv"))
    model = vaekit.VAE.for_data(data, latent_dim=2, hidden_dims=(16,))
    vaekit.fit(model, data, epochs=3, seed=0, out=root / "run", progress=False)
    from vaekit.tasks.anomaly import fit_run

    fit_run(str(root / "train.csv"), root / "det", epochs=3, seed=0)
    test = df.copy()
    test.loc[5, "a"] = 40.0  # a planted outlier
    test.loc[17, "c"] = "never seen"  # a row the model cannot encode
    (root / "parts").mkdir()
    (root / "clean").mkdir()
    for i, (lo, hi) in enumerate(((0, 90), (90, 160), (160, 240))):
        test.iloc[lo:hi].to_parquet(root / "parts" / f"part.{i}.parquet", index=False)
        df.iloc[lo:hi].to_parquet(root / "clean" / f"part.{i}.parquet", index=False)
    test.to_parquet(root / "whole.parquet", index=False)
    return root, test


def test_dask_embedding_equals_one_process(table_runs):
    root, test = table_runs
    result = dask_scoring.embed_parquet(root / "run", root / "clean", root / "z", workers=2)
    assert result.n == 240 and result.partitions == 3 and (root / "z").is_dir()
    z = dask_scoring.dd_read(root / "z").sort_index()
    assert list(z.index) == list(range(240))
    model = vaekit.load(root / "run")
    ref = model.embed(vaekit.datasets.apply_spec(pd.read_csv(root / "train.csv"), model.data_spec)).numpy()
    np.testing.assert_allclose(z.to_numpy(), ref, rtol=1e-5, atol=1e-6)
    with pytest.raises(vaekit.ConfigError, match="already exists"):
        dask_scoring.embed_parquet(root / "run", root / "clean", root / "z")
    # a row the model cannot encode is named by its row in the whole dataset; nothing is left behind
    with pytest.raises(vaekit.DataError, match=r"partition 0 \(rows 0\.\.89 of the dataset\) has category 'never seen' in row 18"):
        dask_scoring.embed_parquet(root / "run", root / "parts", root / "z2", workers=2)
    assert not (root / "z2").exists() and not list(root.glob(".z2.*"))
    # the output may never be (or hold) the input, even with overwrite
    with pytest.raises(vaekit.ConfigError, match="holds\) the input"):
        dask_scoring.embed_parquet(root / "run", root / "clean", root / "clean", overwrite=True)
    with pytest.raises(vaekit.ConfigError, match="holds\) the input"):
        dask_scoring.embed_parquet(root / "run", root / "clean", root, overwrite=True)
    assert len(list((root / "clean").iterdir())) == 3


def test_dask_scores_equal_score_run(table_runs):
    root, _ = table_runs
    from vaekit.tasks.anomaly import score_run

    single = score_run(root / "det", str(root / "whole.parquet"), root / "single" / "scores.csv").table
    result = dask_scoring.score_parquet(root / "det", root / "parts", root / "scores", workers=2)
    many = dask_scoring.dd_read(root / "scores").sort_index()
    assert result.n == 240 and list(many["id"]) == list(single["id"])
    np.testing.assert_allclose(many["score"].to_numpy(), single["score"].to_numpy(), rtol=1e-5, equal_nan=True)
    assert (many["is_outlier"].to_numpy() == single["is_outlier"].to_numpy()).all()
    assert bool(many.loc[17, "is_outlier"]) and "never seen" in many.loc[17, "reason"]
    assert result.n_outliers == int(single["is_outlier"].sum())


def test_cli_dask_flags(table_runs):
    from typer.testing import CliRunner

    from vaekit.cli import app

    root, _ = table_runs
    r = CliRunner().invoke(app, ["embed", str(root / "run"), str(root / "clean"), "-o", str(root / "cz"), "--dask",
                                 "--workers", "1", "-q"])
    assert r.exit_code == 0, r.output
    assert len(dask_scoring.dd_read(root / "cz")) == 240
    r = CliRunner().invoke(app, ["anomaly", "score", str(root / "det"), str(root / "parts"), "-o", str(root / "cs"),
                                 "--dask", "--workers", "1"])
    assert r.exit_code == 0, r.output
    assert "Scored with Dask" in r.output and dask_scoring.dd_read(root / "cs")["is_outlier"].any()
    r = CliRunner().invoke(app, ["embed", str(root / "run"), str(root / "clean"), "-o", str(root / "z.csv"), "--dask"])
    assert r.exit_code == 2 and "folder of parquet parts" in r.output
