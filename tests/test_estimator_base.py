"""The one estimator base of VAETransformer, VAEOutlierDetector and VAEImputer (issue 14 item 3)."""

from __future__ import annotations

import inspect

import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.exceptions import NotFittedError as SklearnNotFittedError
from sklearn.utils.validation import check_is_fitted

import vaekit
from vaekit import ConfigError, NotFittedError, VAEImputer, VAEOutlierDetector, VAETransformer
from vaekit.tasks import _estimator
from vaekit.tasks._estimator import InputFormat, VAEEstimator

TRIO = (VAETransformer, VAEOutlierDetector, VAEImputer)
TINY = dict(epochs=2, hidden_dims=(8,), batch_size=32)


@pytest.mark.parametrize("cls", TRIO)
def test_one_base_one_not_fitted_error(cls):
    est = cls()
    assert isinstance(est, VAEEstimator)
    with pytest.raises(SklearnNotFittedError):  # scikit-learn's own helper agrees with vaekit
        check_is_fitted(est)
    for method in ("transform", "score_samples"):
        if hasattr(est, method):
            with pytest.raises(NotFittedError, match=rf"^This {cls.__name__} instance is not fitted yet\. Call 'fit'"
                                                     rf" with appropriate arguments before using this estimator\.$") as e:
                getattr(est, method)(np.zeros((2, 3)))
            assert isinstance(e.value, SklearnNotFittedError) and isinstance(e.value, AttributeError)


@pytest.mark.parametrize("cls", TRIO)
def test_constraints_cover_every_parameter_and_are_checked_in_one_place(cls):
    params = set(inspect.signature(cls.__init__).parameters) - {"self", "device"}
    assert params <= set(cls._parameter_constraints), params - set(cls._parameter_constraints)
    assert "_check_params" not in vars(cls) and "_check_fitted" not in vars(cls)
    assert ("from_run" in vars(cls)) == (cls is VAEOutlierDetector)  # only the detector adds a step (its threshold)
    X = np.random.default_rng(0).normal(size=(20, 3))
    for name, bad in (("hidden_dims", (8, 0)), ("epochs", 0), ("seed", -1), ("progress", 1)):
        with pytest.raises(ConfigError, match=rf"^The '{name}' parameter of {cls.__name__} must be .* Got .* instead\.$"):
            cls(**{**TINY, name: bad}).fit(X)


def test_auto_epochs_is_one_rule():
    # the rule: about N optimiser steps, clipped; each estimator only declares its numbers
    for cls, n, expected in ((VAETransformer, 60_000, 60), (VAETransformer, 100, 100), (VAEImputer, 6_400, 30),
                             (VAEOutlierDetector, 128, 1000)):
        est = cls()
        assert est._n_epochs(n)[0] == expected, cls


def test_auto_epochs_cap_the_work_of_a_large_model_on_large_data():
    # VAETransformer's AUTO_WORK: examples x parameters x epochs; MNIST's 512-256 MLP is under it at 60
    # epochs, ten times the data (or the net) trains a tenth of the epochs, never fewer than the least
    from torch import nn

    class Sized(nn.Module):
        def __init__(self, n):
            super().__init__()
            self.w = nn.Parameter(torch.zeros(n))

    est = VAETransformer()
    assert est._n_epochs(60_000, Sized(1_074_980))[0] == 60
    assert est._n_epochs(60_000, Sized(6_000_000))[0] == 11  # floor(4e12 / (60,000 x 6M))
    assert est._n_epochs(600_000, Sized(1_074_980))[0] == 10  # 6 by the cap, raised to the least, 10
    assert est._n_epochs(60_000)[0] == 60  # without a model: the steps rule alone


def test_input_format_reads_frames_with_gaps_through_data_tables():
    df = pd.DataFrame({"a": [1.0, np.nan, 3.0, 4.0], "c": ["x", None, "y", "x"]})
    data, fmt, names = InputFormat.fit(df, "VAEImputer", allow_nan=True)
    assert fmt.kind == "frame" and list(names) == ["a", "c"]
    x = data.x.numpy()
    assert np.isnan(x[1]).all() and not np.isnan(x[[0, 2, 3]]).any()  # missing number and category -> NaN
    assert data.spec.mean == (pytest.approx(8 / 3),)  # statistics of the observed values
    with pytest.raises(vaekit.DataError, match="Column 'a' of X has 1 missing value"):
        InputFormat.fit(df, "VAETransformer")  # NaN only where the estimator allows it
    assert not hasattr(_estimator, "_frame_spec")
