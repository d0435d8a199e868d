"""Synthetic tables: the mixed likelihood, table schemas, `vaekit synth` and `sample` on a table run."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import torch

import vaekit
from vaekit.config import DataSpec, ModelConfig
from vaekit.data.tables import decode_table, mixed_blocks, table_schema, table_to_dataset
from vaekit.errors import ConfigError, DataError
from vaekit.likelihoods import MixedLikelihood
from vaekit.model import VAE
from vaekit.tasks.synth import distance_to_closest, synth_report, synthesize

from ._cli import fails, ok

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _table(n=400, seed=0) -> pd.DataFrame:
    """Correlated mixed columns: a bimodal number, an integer count, two categories (one tied to the
    number), and gaps in the number and in a category."""
    rng = np.random.default_rng(seed)
    group = rng.choice(["low", "high"], size=n, p=[0.7, 0.3])
    value = np.where(group == "low", rng.normal(10, 1, n), rng.normal(50, 3, n))
    count = rng.poisson(3, n)
    colour = rng.choice(["red", "green", "blue"], size=n)
    df = pd.DataFrame({"value": value, "group": group, "count": count, "colour": colour})
    df.loc[rng.random(n) < 0.2, "value"] = np.nan
    df.loc[rng.random(n) < 0.1, "colour"] = None
    return df


@pytest.fixture(scope="module")
def table_run(tmp_path_factory):
    folder = tmp_path_factory.mktemp("synth")
    path = folder / "table.csv"
    _table().to_csv(path, index=False)
    run = folder / "run"
    ok("train", path, "--out", run, "--epochs", "150", "--quiet")
    return path, run


# ------------------------------------------------------------------------------------------ likelihood
def test_mixed_log_prob_is_gaussian_plus_categorical_log_probability():
    lik = MixedLikelihood((4,), {"categorical": ((1, 3),)})
    params = torch.tensor([[[0.5, 1.0, 2.0, 0.0]]])  # (batch 1, n_params 1, features 4)
    p = lik(params)
    x = torch.tensor([[0.2, 0.0, 1.0, 0.0]])  # number 0.2, level 1 of the block
    expected = torch.distributions.Normal(0.5, 1.0).log_prob(torch.tensor(0.2)) + torch.log_softmax(
        torch.tensor([1.0, 2.0, 0.0]), 0)[1]
    assert torch.allclose(p.log_prob(x), expected.reshape(1))
    assert torch.allclose(p.mean[0, 1:], torch.softmax(torch.tensor([1.0, 2.0, 0.0]), 0))
    probs = lik.level_probabilities(p)
    assert len(probs) == 1 and torch.allclose(probs[0].sum(-1), torch.ones(1, dtype=torch.float64))
    draws = lik.sample(lik(params.expand(500, 1, 4)), torch.Generator().manual_seed(0))
    block = draws[:, 1:]
    assert set(block.unique().tolist()) <= {0.0, 1.0} and torch.all(block.sum(1) == 1)
    share = block.detach().mean(0)
    assert abs(float(share[1]) - float(torch.softmax(torch.tensor([1.0, 2.0, 0.0]), 0)[1])) < 0.07


def test_mixed_options_are_checked():
    with pytest.raises(ConfigError, match="overlap"):
        ModelConfig(data_shape=(5,), likelihood="mixed", likelihood_options={"categorical": ((0, 3), (2, 2))})
    with pytest.raises(ConfigError, match="ends past"):
        VAE(ModelConfig(data_shape=(3,), likelihood="mixed", likelihood_options={"categorical": ((1, 3),)}))
    with pytest.raises(ConfigError, match="nearest|categorical"):
        ModelConfig(data_shape=(3,), likelihood="mixed", likelihood_options={"categoricals": ()})


def test_missing_category_is_masked_whole_block():
    m = VAE(ModelConfig(data_shape=(3,), latent_dim=2, hidden_dims=(8,), likelihood="mixed",
                        likelihood_options={"categorical": ((1, 2),)}, missing="ignore")).initialize(0)
    p = m.decode(torch.zeros(1, 2))
    full = m.log_px(p, torch.tensor([[0.3, 1.0, 0.0]]))
    only_number = m.log_px(p, torch.tensor([[0.3, float("nan"), float("nan")]]))
    gauss = p.base_dist.log_prob(torch.tensor([[0.3, 0.0, 0.0]]))[0, 0]
    assert torch.allclose(only_number, gauss.reshape(1)) and not torch.allclose(full, only_number)


# ------------------------------------------------------------------------------------------ schema
def test_schema_inference_overrides_modes_and_decoding():
    df = _table()
    data = table_to_dataset(df, source="t.csv", name="t", allow_missing=True, normalization="mode",
                            schema={"count": "integer"})
    spec = data.spec
    assert spec.integer_columns == ("count",) and spec.categorical_columns == ("group", "colour")
    schema = table_schema(spec)
    assert schema["value"]["modes"] >= 2 and abs(schema["value"]["missing_rate"] - df.value.isna().mean()) < 1e-9
    assert schema["colour"]["levels"] == ["blue", "green", "red"]
    # mode blocks come after the categorical ones and are one-hot (NaN where the value is missing)
    blocks = mixed_blocks(spec)
    start, width = blocks[-1]
    assert spec.columns[start] == "value#mode=0" and start + width == spec.shape[0]
    x = data.x.numpy()
    observed = ~np.isnan(x[:, 0])
    assert np.all(x[observed, start : start + width].sum(1) == 1)
    # decoding the encoding gives the table back (observed cells)
    back = decode_table(np.nan_to_num(x), spec)
    assert np.allclose(back.value[observed], df.value[observed]) and (back["count"] == df["count"]).all()
    as_categories = table_to_dataset(df, source="t.csv", name="t", allow_missing=True, schema={"count": "categorical"})
    assert "count" in as_categories.spec.categorical_columns
    with pytest.raises(DataError, match="schema names column 'nope'"):
        table_to_dataset(df, source="t.csv", name="t", allow_missing=True, schema={"nope": "numeric"})
    with pytest.raises(DataError, match="type 'date'"):
        table_to_dataset(df, source="t.csv", name="t", allow_missing=True, schema={"value": "date"})
    # the spec (with its schema) survives config.json
    assert DataSpec.from_dict(json.loads(json.dumps(spec.to_dict()))) == spec


def test_decoding_rounds_integers_and_clips_to_bounds():
    df = pd.DataFrame({"n": [1, 2, 3, 4], "v": [0.5, 1.5, 2.5, 3.5]})
    spec = table_to_dataset(df, source="t", name="t").spec
    x = np.array([[(10.0 - spec.mean[0]) / spec.std[0], 0.1], [0.13, -100.0]])
    out = decode_table(x, spec)
    assert out.n.tolist()[0] == 4 and out.n.tolist()[1] == round(out.n.tolist()[1]) and out.v.min() == 0.5


# ------------------------------------------------------------------------------------------ synthesis
def test_train_preset_and_synthesis(table_run):
    path, run = table_run
    model = vaekit.load(run)
    assert model.config.likelihood == "mixed" and model.config.missing == "ignore"
    config = json.loads((run / "config.json").read_text())
    assert config["data"]["integer_columns"] == ["count"]  # the schema is in the run's JSON
    rows = synthesize(model, 2000, seed=1)
    assert list(rows.columns) == ["value", "group", "count", "colour"]
    assert rows["count"].dtype == np.int64 and (rows["count"] >= 0).all()
    assert set(rows.group.unique()) <= {"low", "high"}
    # missing rates reproduced (20% and 10% in the training table)
    assert abs(rows.value.isna().mean() - 0.2) < 0.04 and abs(rows.colour.isna().mean() - 0.1) < 0.03
    # the learned dependence: "high" rows have large values
    high = rows[rows.group == "high"].value.dropna()
    low = rows[rows.group == "low"].value.dropna()
    assert high.median() > 30 > 20 > low.median()
    assert abs((rows.group == "high").mean() - 0.3) < 0.08
    # seeded
    pd.testing.assert_frame_equal(synthesize(model, 50, seed=3), synthesize(model, 50, seed=3))
    assert not synthesize(model, 50, seed=3).equals(synthesize(model, 50, seed=4))
    # conditioned rows keep the dependence
    ideal = synthesize(model, 200, seed=0, where=["group=high"])
    assert (ideal.group == "high").all() and ideal.value.dropna().median() > 30
    with pytest.raises(DataError, match="no level 'medium'; its levels are: high, low"):
        synthesize(model, 5, where=["group=medium"])
    with pytest.raises(DataError, match="Unknown column 'size'"):
        synthesize(model, 5, where={"size": "big"})
    with pytest.raises(DataError, match="continuous"):
        synthesize(model, 5, where=["value=3"])
    # vaekit.sample on a table model is a DataFrame
    assert isinstance(vaekit.sample(model, 5), pd.DataFrame)


def test_synth_cli_writes_tables_atomically_and_a_report(table_run, tmp_path):
    path, run = table_run
    out = tmp_path / "s.csv"
    ok("synth", run, "-n", "300", "-o", out, "--seed", "2", "--where", "group=low")
    rows = pd.read_csv(out)
    assert len(rows) == 300 and (rows.group == "low").all()
    fails("synth", run, "-n", "10", "-o", out, match="exists; pass --overwrite")
    fails("synth", run, "-n", "10", "-o", tmp_path / "s.json", match=r"must end in \.csv or \.parquet")
    fails("synth", run, "-n", "10", "-o", tmp_path / "t.csv", "--where", "colour=pink", match="no level 'pink'")
    report = tmp_path / "r.html"
    ok("synth", run, "-n", "300", "-o", out, "--overwrite", "--report", report, "--real", path)
    html = report.read_text()
    assert "Column shapes" in html and "Distance to the closest real record" in html and "://" not in html
    pq = tmp_path / "s.parquet"
    ok("synth", run, "-n", "20", "-o", pq)
    assert len(pd.read_parquet(pq)) == 20
    # `vaekit sample` on a table run writes rows, not a picture
    ok("sample", run, "-n", "7", "-o", tmp_path / "rows.csv")
    assert list(pd.read_csv(tmp_path / "rows.csv").columns) == ["value", "group", "count", "colour"]


def test_report_and_distance_to_closest():
    df = _table(200).dropna()
    spec = table_to_dataset(df, source="t", name="t").spec
    d = distance_to_closest(df.iloc[:5], df, spec)
    assert np.allclose(d, 0, atol=1e-6)
    shifted = df.iloc[:5].copy()
    shifted["value"] = shifted["value"] + spec.std[0]
    assert np.allclose(distance_to_closest(shifted.iloc[:1], df.iloc[:1], spec), 1.0)
    html = synth_report(df, df.sample(frac=1, random_state=0), spec)
    assert "Pairwise associations" in html


def test_synthesis_refuses_a_model_of_other_data():
    spec = DataSpec(kind="image", shape=(1, 4, 4), levels=256, name="tiny")
    model = VAE(ModelConfig(data_shape=(1, 4, 4), latent_dim=2, hidden_dims=(8,)), data_spec=spec)
    with pytest.raises(ConfigError, match="needs a model trained on a table"):
        synthesize(model, 5)
    assert vaekit.sample(model, 3).shape == (3, 1, 4, 4)  # other models: decoder means, as before
    with pytest.raises(ConfigError, match="conditions rows of a table"):
        vaekit.sample(model, 3, where={"a": 1})
