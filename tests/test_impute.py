"""Missing-data imputation: the MIWAE objective over observed entries, VAEImputer, and `vaekit impute`."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.utils.estimator_checks import parametrize_with_checks

import vaekit
from vaekit.cli import app
from vaekit.config import ModelConfig
from vaekit.errors import CheckpointError, ConfigError, DataError, NotFittedError
from vaekit.model import VAE
from vaekit.tasks.impute import VAEImputer

from ._cli import ok, runner


pytestmark = pytest.mark.usefixtures("one_torch_thread")


TINY = dict(epochs=3, n_samples=30, hidden_dims=(16,), batch_size=32)


def low_rank(n=300, d=6, rank=2, seed=0, noise=0.1):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, rank)) @ rng.normal(size=(rank, d)) + noise * rng.normal(size=(n, d))
    return x * np.arange(1, d + 1) + 10  # columns of different scale and offset


def drop(x, rate=0.3, seed=1):
    xm = np.array(x, dtype=np.float64, copy=True)
    mask = np.random.default_rng(seed).random(xm.shape) < rate
    xm[mask] = np.nan
    return xm, mask


# ------------------------------------------------------------------------------------------- scikit-learn's checks
# Every check of sklearn.utils.estimator_checks runs at a tiny size (NaN inputs allowed); none is expected to fail.
@parametrize_with_checks([VAEImputer(epochs=2, hidden_dims=(8,), batch_size=32, n_samples=4, k=2)])
def test_sklearn_estimator_checks(estimator, check):
    check(estimator)


# ------------------------------------------------------------------------------------------- the objective
def test_masked_likelihood_ignores_missing_entries():
    m = VAE(ModelConfig(data_shape=(4,), latent_dim=2, hidden_dims=(8,), likelihood="gaussian", missing="ignore"))
    x = torch.randn(5, 4)
    p = m.decode(torch.randn(5, 2))
    # no NaN: exactly the plain log-likelihood
    torch.testing.assert_close(m.log_px(p, x), p.log_prob(x))
    xm = x.clone()
    xm[:, 1] = float("nan")
    expected = p.base_dist.log_prob(x)[:, [0, 2, 3]].sum(-1)
    torch.testing.assert_close(m.log_px(p, xm), expected)


def test_objective_finite_and_independent_of_missing_values():
    m = VAE(ModelConfig(data_shape=(6,), latent_dim=2, hidden_dims=(8,), likelihood="gaussian", missing="ignore",
                        iwae_k=4))
    x = torch.randn(8, 6)
    x[torch.rand(8, 6, generator=torch.Generator().manual_seed(0)) < 0.4] = float("nan")
    obj = m.objective(x, generator=torch.Generator().manual_seed(1))
    assert torch.isfinite(obj.loss) and torch.isfinite(obj.extra["iwae_bound"]).all()
    obj.loss.backward()
    assert all(torch.isfinite(p.grad).all() for p in m.parameters() if p.grad is not None)
    # the encoder sees the mask, so a NaN is not the same input as an observed 0
    x0 = torch.nan_to_num(x, nan=0.0)
    assert not torch.allclose(m.encode(x).mean, m.encode(x0).mean)


def test_impute_needs_a_missing_data_model():
    m = VAE(ModelConfig(data_shape=(3,), latent_dim=2, hidden_dims=(), likelihood="gaussian"))
    with pytest.raises(ConfigError, match="missing='ignore'"):
        m.impute(torch.zeros(1, 3))


def test_config_round_trip_and_old_configs_load():
    c = ModelConfig(data_shape=(3,), missing="ignore", corruption="mask", corruption_level=0.25)
    assert ModelConfig.from_dict(c.to_dict()) == c
    old = {k: v for k, v in c.to_dict().items() if k not in ("missing", "corruption", "corruption_level")}
    restored = ModelConfig.from_dict(old)
    assert (restored.missing, restored.corruption, restored.corruption_level) == ("none", "none", 0.0)
    with pytest.raises(ConfigError, match="The 'missing' parameter of VAE must be one of 'none', 'ignore'"):
        ModelConfig(data_shape=(3,), missing="drop")


# ------------------------------------------------------------------------------------------- VAEImputer
@pytest.fixture(scope="module")
def fitted():
    x = low_rank()
    xm, mask = drop(x)
    imp = VAEImputer(epochs=25, k=10, n_samples=100, hidden_dims=(32,), batch_size=32, lr=3e-3, seed=0).fit(xm)
    return x, xm, mask, imp


def test_observed_entries_never_change_and_nothing_stays_missing(fitted):
    x, xm, mask, imp = fitted
    out = imp.transform(xm)
    assert out.shape == xm.shape and out.dtype == np.float64
    assert not np.isnan(out).any()
    assert np.array_equal(out[~mask], xm[~mask])  # bit for bit
    for draw in imp.multiple_imputations(xm, 3):
        assert np.array_equal(draw[~mask], xm[~mask]) and not np.isnan(draw).any()


def test_beats_mean_imputation_on_correlated_data(fitted):
    x, xm, mask, imp = fitted
    out = imp.transform(xm)
    col_mean = np.nanmean(xm, axis=0)
    rmse = lambda z: np.sqrt(np.mean(((z - x) / x.std(0))[mask] ** 2))  # noqa: E731
    mean_rmse = rmse(np.where(mask, col_mean, xm))
    assert rmse(out) < 0.7 * mean_rmse


def test_multiple_imputations_differ_and_average_to_the_single_one(fitted):
    x, xm, mask, imp = fitted
    single = imp.transform(xm)
    draws = np.stack(imp.multiple_imputations(xm, 40, seed=3))  # (40, n, d)
    assert not np.array_equal(draws[0][mask], draws[1][mask])
    spread = np.mean([np.abs(d - single)[mask].mean() for d in draws])
    avg_gap = np.abs(draws.mean(0) - single)[mask].mean()
    assert avg_gap < 0.4 * spread  # the average of 40 draws is much closer to the conditional mean than one draw


def test_same_seed_same_imputation(fitted):
    _, xm, _, imp = fitted
    np.testing.assert_array_equal(imp.transform(xm), imp.transform(xm))
    assert not np.array_equal(imp.transform(xm, seed=5), imp.transform(xm, seed=6))


def test_all_missing_column_is_a_clear_error():
    x = low_rank(n=20, d=3)
    x[:, 2] = np.nan
    with pytest.raises(DataError, match="Column 2 of X has no observed values"):
        VAEImputer(**TINY).fit(x)
    df = pd.DataFrame({"a": [1.0, 2.0, np.nan], "b": [np.nan] * 3})
    with pytest.raises(DataError, match="Column 'b' of X has no observed values"):
        VAEImputer(**TINY).fit(df)


def test_float32_and_images_keep_shape_and_dtype():
    rng = np.random.default_rng(0)
    imgs = (rng.random((40, 6, 5)) > 0.5).astype(np.float32)
    xm, mask = drop(imgs, 0.3)
    xm = xm.astype(np.float32)
    imp = VAEImputer(**TINY).fit(xm)
    out = imp.transform(xm)
    assert out.shape == (40, 6, 5) and out.dtype == np.float32
    assert np.array_equal(out[~mask], xm[~mask]) and ((out >= 0) & (out <= 1)).all()
    assert imp.model_.config.likelihood == "bernoulli" and imp.model_.data_shape == (1, 6, 5)
    rgb = rng.random((30, 4, 4, 3)).astype(np.float32)
    rgb[rng.random(rgb.shape) < 0.2] = np.nan
    out = VAEImputer(**TINY).fit_transform(rgb)
    assert out.shape == rgb.shape and not np.isnan(out).any()


def test_dataframe_numeric_and_categorical():
    rng = np.random.default_rng(0)
    n = 120
    colour = rng.choice(["red", "blue"], n)
    df = pd.DataFrame({"size": np.where(colour == "red", 10.0, -10.0) + rng.normal(size=n),
                       "weight": rng.normal(size=n), "colour": colour})
    dm = df.copy()
    dm.loc[rng.random(n) < 0.3, "size"] = np.nan
    dm.loc[rng.random(n) < 0.3, "colour"] = None
    imp = VAEImputer(epochs=60, k=5, n_samples=100, hidden_dims=(32,), batch_size=16, lr=5e-3).fit(dm)
    out = imp.transform(dm)
    assert list(out.columns) == ["size", "weight", "colour"] and out.shape == dm.shape
    assert not out.isna().any().any()
    obs = dm["colour"].notna()
    assert (out.loc[obs, "colour"] == dm.loc[obs, "colour"]).all()
    assert (out.loc[dm["size"].notna(), "size"] == dm.loc[dm["size"].notna(), "size"]).all()
    assert set(out["colour"]) <= {"red", "blue"}
    # the category is imputed from the numeric column it goes with (size > 0 <=> red)
    miss = dm["colour"].isna() & dm["size"].notna()
    agree = ((out.loc[miss, "size"] > 0) == (out.loc[miss, "colour"] == "red")).mean()
    assert agree > 0.8
    assert list(imp.feature_names_in_) == ["size", "weight", "colour"]


def test_errors_before_fit_and_wrong_features(fitted):
    with pytest.raises(NotFittedError, match="not fitted yet"):
        VAEImputer().transform(np.zeros((2, 3)))
    _, xm, _, imp = fitted
    with pytest.raises(DataError, match="X has 5 features, but VAEImputer is expecting 6 features as input"):
        imp.transform(xm[:, :5])
    with pytest.raises(ConfigError, match="The 'k' parameter of VAEImputer must be an int >= 1"):
        VAEImputer(k=0).fit(xm)
    with pytest.raises(DataError, match="infinity"):
        VAEImputer(**TINY).fit(np.array([[1.0, np.inf], [2.0, 3.0]]))


def test_save_and_from_run_give_the_same_imputations(fitted, tmp_path):
    _, xm, _, imp = fitted
    vaekit.save(imp.model_, tmp_path / "run")
    again = VAEImputer.from_run(tmp_path / "run", n_samples=imp.n_samples)
    np.testing.assert_allclose(again.transform(xm), imp.transform(xm), rtol=1e-5, atol=1e-5)
    plain = vaekit.VAE(ModelConfig(data_shape=(6,), hidden_dims=(8,), likelihood="gaussian"))
    vaekit.save(plain, tmp_path / "plain")
    with pytest.raises(CheckpointError, match="without missing-data support"):
        VAEImputer.from_run(tmp_path / "plain")


def test_sklearn_clone_and_pipeline(fitted):
    from sklearn.base import clone
    from sklearn.linear_model import LinearRegression
    from sklearn.pipeline import make_pipeline

    x, xm, _, _ = fitted
    est = clone(VAEImputer(**TINY))
    y = x[:, 0]
    pipe = make_pipeline(est, LinearRegression()).fit(xm[:, 1:], y)
    assert np.isfinite(pipe.predict(xm[:, 1:])).all()


# ------------------------------------------------------------------------------------------- CLI


def test_cli_table_single_and_multiple(tmp_path):
    rng = np.random.default_rng(0)
    df = pd.DataFrame({"a": rng.normal(size=40), "b": rng.normal(size=40), "c": rng.choice(["x", "y"], 40)})
    df.loc[::3, "a"] = np.nan
    df.loc[1::5, "c"] = None
    df.to_csv(tmp_path / "t.csv", index=False)
    ok("impute", tmp_path / "t.csv", "-o", tmp_path / "done.csv", "--epochs", "2", "--samples", "10", "--quiet",
       "--save", tmp_path / "run")
    done = pd.read_csv(tmp_path / "done.csv")
    assert done.shape == df.shape and not done.isna().any().any()
    np.testing.assert_allclose(done["b"], df["b"])
    assert (tmp_path / "run" / "config.json").is_file()
    ok("impute", tmp_path / "t.csv", "-o", tmp_path / "draws.csv", "--run", tmp_path / "run", "--multiple", "3",
       "--samples", "10")
    draws = pd.read_csv(tmp_path / "draws.csv")
    assert len(draws) == 3 * len(df) and sorted(draws["imputation"].unique()) == [1, 2, 3]


def test_cli_images_to_png_and_npz(tmp_path):
    rng = np.random.default_rng(0)
    truth = rng.random((30, 6, 6)).astype(np.float32)
    x = truth.copy()
    x[rng.random(x.shape) < 0.4] = np.nan
    np.savez(tmp_path / "m.npz", x=x, x_true=truth)
    ok("impute", tmp_path / "m.npz", "-o", tmp_path / "grid.png", "--epochs", "1", "--samples", "5", "--quiet")
    from PIL import Image

    with Image.open(tmp_path / "grid.png") as im:
        assert im.mode == "RGB" and im.height == 3 * (6 + 4) * 2  # three rows: masked, imputation, truth
    ok("impute", tmp_path / "m.npz", "-o", tmp_path / "done.npz", "--epochs", "1", "--samples", "5", "--quiet")
    with np.load(tmp_path / "done.npz") as f:
        done = f["x"]
    assert done.shape == x.shape and not np.isnan(done).any()
    assert np.array_equal(done[~np.isnan(x)], x[~np.isnan(x)])


def test_cli_errors_are_one_line(tmp_path):
    np.save(tmp_path / "a.npy", np.array([[1.0, np.nan], [2.0, np.nan]]))
    result = runner.invoke(app, ["impute", str(tmp_path / "a.npy"), "-o", str(tmp_path / "o.npy"), "--quiet"])
    assert result.exit_code == 2 and "Column 1 of X has no observed values" in result.output
    result = runner.invoke(app, ["impute", str(tmp_path / "a.npy"), "-o", str(tmp_path / "o.csv")])
    assert result.exit_code == 2 and "holds arrays" in result.output


# ------------------------------------------------------------------------------------------- issue 15
def _survey(n=60, seed=0):
    """A table whose categorical column sits between numeric ones, an integer count column, and gaps."""
    rng = np.random.default_rng(seed)
    city = rng.choice(["Paris", "Lyon", "Nice"], n)
    df = pd.DataFrame({"age": rng.integers(18, 80, n), "city": city, "income": rng.normal(40000, 8000, n).round(2),
                       "visits": rng.poisson(3, n), "member": rng.choice(["yes", "no"], n)})
    dm = df.astype(object)
    dm.loc[rng.random(n) < 0.2, "age"] = np.nan
    dm.loc[rng.random(n) < 0.2, "city"] = None
    dm.loc[rng.random(n) < 0.2, "visits"] = np.nan
    dm.loc[rng.random(n) < 0.2, "member"] = None
    return df, dm


def test_cli_run_writes_the_same_table_as_a_fresh_fit(tmp_path):
    """Issue 15.1: `impute --run RUN` put categories into numeric columns (columns matched by position)."""
    _, dm = _survey()
    dm.to_csv(tmp_path / "survey.csv", index=False)
    ok("impute", tmp_path / "survey.csv", "-o", tmp_path / "fresh.csv", "--epochs", "2", "--samples", "10", "--quiet",
       "--save", tmp_path / "run")
    ok("impute", tmp_path / "survey.csv", "-o", tmp_path / "again.csv", "--run", tmp_path / "run", "--samples", "10")
    raw = pd.read_csv(tmp_path / "survey.csv")
    fresh, again = pd.read_csv(tmp_path / "fresh.csv"), pd.read_csv(tmp_path / "again.csv")
    assert list(again.columns) == list(raw.columns) and not again.isna().any().any()
    pd.testing.assert_frame_equal(again, fresh)
    assert set(again["city"]) <= {"Paris", "Lyon", "Nice"} and set(again["member"]) <= {"yes", "no"}
    for col in ("age", "income", "visits"):
        assert pd.api.types.is_numeric_dtype(again[col]), col
        obs = raw[col].notna()
        np.testing.assert_allclose(again.loc[obs, col], raw.loc[obs, col])


def test_integer_columns_stay_integers():
    """Issue 15.15: imputed ages and counts are whole numbers, and the column stays an integer column."""
    df, dm = _survey(120)
    frame = pd.DataFrame({"age": pd.to_numeric(dm["age"]), "income": df["income"], "visits": pd.to_numeric(dm["visits"])})
    assert frame["age"].dtype == np.float64  # what pandas makes of an integer column with gaps
    out = VAEImputer(**TINY).fit(frame).transform(frame)
    for col in ("age", "visits"):
        assert pd.api.types.is_integer_dtype(out[col]), (col, out[col].dtype)
        assert (out.loc[frame[col].notna(), col] == frame.loc[frame[col].notna(), col]).all()
    assert out["income"].dtype == np.float64
    x = frame.to_numpy()
    done = VAEImputer(**TINY).fit(x).transform(x)
    assert np.array_equal(done[:, 0], np.round(done[:, 0])) and np.array_equal(done[:, 2], np.round(done[:, 2]))


def test_failed_save_leaves_no_folder_and_a_folder_input_is_named(tmp_path):
    """Issue 16.7: no empty run folder after a failed `impute --save`; a folder is not 'No such file'."""
    np.save(tmp_path / "a.npy", np.array([[1.0, np.nan], [2.0, np.nan]]))
    result = runner.invoke(app, ["impute", str(tmp_path / "a.npy"), "-o", str(tmp_path / "o.npy"), "--quiet",
                                 "--save", str(tmp_path / "RUN")])
    assert result.exit_code == 2 and "no observed values" in result.output
    assert not (tmp_path / "RUN").exists()
    (tmp_path / "folder").mkdir()
    result = runner.invoke(app, ["impute", str(tmp_path / "folder"), "-o", str(tmp_path / "o.npy")])
    assert result.exit_code == 2 and "is a folder" in result.output
