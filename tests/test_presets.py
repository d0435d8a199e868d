"""Named presets (``--preset fast|default|best``): whole recipes of a data kind, in Python and on the CLI."""

from __future__ import annotations

import json

import pytest

import vaekit
from vaekit.config import DataSpec
from vaekit.tasks.runs import BUDGET_EPOCHS
from vaekit.training import default_train_config

from ._cli import invoke, ok

GREY = DataSpec(kind="image", shape=(1, 28, 28), levels=256)


def test_grey_image_presets_are_whole_recipes_and_flags_win():
    fast, default, best = (vaekit.VAE.for_data(GREY, preset=p).config for p in ("fast", "default", "best"))
    assert (fast.hidden_dims, fast.latent_dim, fast.prior) == ((256, 128), 16, "standard_normal")
    assert (default.hidden_dims, default.latent_dim, default.prior) == ((512, 256), 32, "mixture")
    assert default.prior_options.components == 50
    assert (best.prior, best.prior_options.components) == ("mixture", 50)
    assert vaekit.VAE.for_data(GREY).config == default  # "default" is what for_data always gave
    for p in ("fast", "default", "best"):  # every grey preset keeps the honest binary recipe
        t = default_train_config(GREY, preset=p)
        assert (t.binarize, t.lr_schedule) == ("dynamic", "cosine")
    # best takes larger, faster steps (chosen on MNIST's validation loss at 4 and 60 minutes)
    assert [(t.batch_size, t.lr) for t in (default_train_config(GREY, preset=p) for p in ("fast", "default", "best"))] \
        == [(128, 3e-3), (128, 3e-3), (256, 4e-3)]
    assert default_train_config(GREY, preset="best", batch_size=64).batch_size == 64  # an override still wins
    assert vaekit.VAE.for_data(GREY, preset="best", latent_dim=8).config.latent_dim == 8


def test_the_default_learned_prior_is_for_unconditioned_density_models():
    # another prior drops the preset's mixture options (a ladder has no 'components')
    ladder = vaekit.VAE.for_data(GREY, prior="ladder").config
    assert ladder.prior == "ladder" and ladder.prior_options.layers == 2
    assert vaekit.VAE.for_data(GREY, prior="vamp").config.prior_options.components == 50
    # a conditioned model keeps N(0, I): a mixture over z could carry the class and let the decoder ignore y
    for conditioning in ("conditional", "semi_supervised"):
        cfg = vaekit.VAE.for_data(GREY, conditioning=conditioning, num_classes=10).config
        assert cfg.prior == "standard_normal", conditioning
    assert vaekit.VAE.for_data(GREY, conditioning="conditional", num_classes=10, prior="mixture").config.prior \
        == "mixture"  # unless asked for
    # the autoencoder samples from N(0, I); the estimators keep the prior their figures were measured with
    assert vaekit.Autoencoder.for_data(GREY).config.prior == "standard_normal"
    from vaekit.tasks.embed import VAETransformer

    data = vaekit.datasets.load("digits")
    t = VAETransformer(latent_dim=2, epochs=1, hidden_dims=(8,), progress=False).fit(data.x[:64].numpy())
    assert t.model_.config.prior == "standard_normal"


def test_a_time_budget_turns_early_stopping_off_unless_asked_for():
    assert default_train_config(GREY).early_stopping_patience == 10
    assert default_train_config(GREY, preset="best", max_time=3600).early_stopping_patience is None
    assert default_train_config(GREY, max_time=60, early_stopping_patience=3).early_stopping_patience == 3
    assert default_train_config(GREY, max_time=None).early_stopping_patience == 10


def test_an_unknown_preset_names_the_kind_s_presets():
    with pytest.raises(vaekit.ConfigError, match=r"one of 'default', 'fast', 'best' for image data"):
        vaekit.VAE.for_data(GREY, preset="huge")
    with pytest.raises(vaekit.ConfigError, match=r"one of 'default' for image data of shape \(3, 8, 8\)"):
        default_train_config(DataSpec(kind="image", shape=(3, 8, 8), levels=256), preset="best")


def test_cli_preset_with_a_time_budget_trains_until_the_budget(tmp_path):
    ok("train", "digits", "--out", tmp_path / "r", "--preset", "fast", "--max-time", "2", "--quiet")
    doc = json.loads((tmp_path / "r" / "config.json").read_text())
    assert doc["model"]["hidden_dims"] == [256, 128] and doc["model"]["latent_dim"] == 16
    assert doc["train"]["epochs"] == BUDGET_EPOCHS and doc["train"]["max_time"] == 2
    assert doc["train"]["early_stopping_patience"] is None  # the budget, not a flat validation loss, ends it
    assert 1 <= len(vaekit.load_run(tmp_path / "r").history) < 1000  # the 2-second budget ended it
    bad = invoke("train", "digits", "--out", tmp_path / "r", "--resume", "--preset", "best", "--quiet")
    assert bad.exit_code != 0 and "preset" in bad.output
    bad = invoke("train", "digits", "--out", tmp_path / "s", "--preset", "huge", "--quiet")
    assert bad.exit_code != 0 and "'preset' parameter must be one of" in bad.output


@pytest.mark.parametrize("given, seconds", [("0.05m", 3.0), ("3s", 3.0), ("3", 3.0)])
def test_max_time_takes_minutes_hours_or_seconds(tmp_path, given, seconds):
    ok("train", "digits", "--out", tmp_path / "r", "--max-time", given, "--hidden-dims", "16", "--quiet")
    assert json.loads((tmp_path / "r" / "config.json").read_text())["train"]["max_time"] == pytest.approx(seconds)
    bad = invoke("train", "digits", "--out", tmp_path / "s", "--max-time", "ten minutes", "--quiet")
    assert bad.exit_code != 0 and "--max-time takes a positive time" in bad.output
