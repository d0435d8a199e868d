"""Commands never exit 0 with NaN or null results (issue 16 item 3): eval, embed, denoise and anomaly score
on a model whose outputs overflow (finite weights, some absurdly large) refuse with one clear line."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

import vaekit

from ._cli import fails, ok

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def overflowing(tmp_path_factory):
    """A vector run whose encoder layers are scaled by 1e20: finite weights, non-finite outputs."""
    root = tmp_path_factory.mktemp("overflow")
    x = np.random.default_rng(0).normal(size=(60, 4))
    np.save(root / "v.npy", x)
    ok("train", root / "v.npy", "--out", root / "run", "--epochs", "1", "--hidden-dims", "8", "--quiet")
    model = vaekit.load(root / "run")
    with torch.no_grad():
        for layer in model.encoder.modules():
            if isinstance(layer, torch.nn.Linear):
                layer.weight.mul_(1e20)
    vaekit.save(model, root / "bad", overwrite=True)
    return root


def test_embed_refuses_non_finite_codes(overflowing, tmp_path):
    fails("embed", overflowing / "bad", overflowing / "v.npy", "-o", tmp_path / "z.csv", match=r"row 1 .*not a finite")
    assert not (tmp_path / "z.csv").exists()


def test_eval_refuses_non_finite_metrics(overflowing):
    fails("eval", overflowing / "bad", "--data", overflowing / "v.npy", "--quiet", match=r"not finite")
    assert not (overflowing / "bad" / "eval.json").exists()


def test_denoise_refuses_non_finite_outputs(overflowing, tmp_path):
    fails("denoise", overflowing / "bad", overflowing / "v.npy", "-o", tmp_path / "d.npy", match=r"not a finite")
    assert not (tmp_path / "d.npy").exists()


def test_no_threshold_from_non_finite_training_scores():
    det = vaekit.VAEOutlierDetector()
    with pytest.raises(vaekit.CheckpointError, match="1 of the 3 training scores are not finite"):
        det._set_offset(np.array([-1.0, np.nan, -2.0]))


def test_anomaly_score_flags_rows_whose_score_overflows(overflowing, tmp_path):
    """A sound detector, and one input whose score is not a number: that row is an outlier, with the reason."""
    from vaekit.tasks.anomaly import score_run
    from vaekit.tasks.runs import run_data

    model = vaekit.load(overflowing / "run")
    data = run_data(model, overflowing / "v.npy", split="all")
    data.x[3, 2] = float("inf")  # what an input beyond float32 becomes
    result = score_run(overflowing / "run", data, tmp_path / "s.csv")
    table = pd.read_csv(tmp_path / "s.csv", keep_default_na=False)
    assert table.loc[3, "is_outlier"] == True and "not a finite number" in table.loc[3, "reason"]  # noqa: E712
    assert table.loc[3, "score"] == "" and int(table["is_outlier"].sum()) == result.n_outliers


def test_transformer_refuses_non_finite_codes(overflowing):
    est = vaekit.VAETransformer.from_run(overflowing / "bad")
    with pytest.raises(vaekit.DataError, match="not a finite number"):
        est.transform(np.load(overflowing / "v.npy"))
