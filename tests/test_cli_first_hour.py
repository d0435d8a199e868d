"""What a new user meets in the first hour (issue 15): guesses stated, flags for every field, data that differs."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from ._cli import invoke, ok

TINY = ["--epochs", "1", "--hidden-dims", "16", "--quiet"]


def _config(run: Path) -> dict:
    return json.loads((run / "config.json").read_text())


def test_a_table_with_missing_cells_trains_as_it_is_unless_missing_none(tmp_path):
    rng = np.random.default_rng(0)
    df = pd.DataFrame(rng.normal(size=(40, 3)), columns=["a", "b", "c"])
    df.loc[[3, 7], "b"] = np.nan
    df.to_csv(tmp_path / "t.csv", index=False)
    # asked to refuse gaps, it names the column and the ways out
    result = invoke("train", tmp_path / "t.csv", "--out", tmp_path / "r", "--missing", "none", *TINY)
    assert result.exit_code == 2
    message = " ".join(result.output.split())
    assert "Column 'b'" in message and "2 missing values" in message
    assert "vaekit impute" in message and "--missing ignore" in message
    # by default the missing cells are masked (the table preset's missing="ignore")
    ok("train", tmp_path / "t.csv", "--out", tmp_path / "r", *TINY)
    assert _config(tmp_path / "r")["model"]["missing"] == "ignore"
    # the run reads its own (incomplete) data again, e.g. for eval
    ok("eval", tmp_path / "r", "--data", tmp_path / "t.csv", "--iwae-k", "2", "--quiet")


def test_every_config_field_has_a_flag_of_the_same_name(tmp_path):
    rng = np.random.default_rng(1)
    np.save(tmp_path / "x.npy", rng.random((40, 1, 8, 8)).astype(np.float32))
    ok("train", tmp_path / "x.npy", "--out", tmp_path / "r", "--net", "conv", "--conv-channels", "4,8",
       "--activation", "tanh", "--missing", "ignore", "--corruption", "mask", "--corruption-level", "0.25",
       "--lr-schedule", "cosine", "--val-fraction", "0.2", "--max-time", "600", "--latent-dim", "2", "--epochs", "1",
       "--quiet")
    config = _config(tmp_path / "r")
    assert {k: config["model"][k] for k in ("net", "activation", "missing", "corruption", "corruption_level")} == {
        "net": "conv", "activation": "tanh", "missing": "ignore", "corruption": "mask", "corruption_level": 0.25}
    # conv_channels is the conv family's 'channels' option (ModelConfig.net_options)
    assert config["model"]["net_options"]["channels"] == [4, 8]
    assert {k: config["train"][k] for k in ("lr_schedule", "val_fraction", "max_time")} == {
        "lr_schedule": "cosine", "val_fraction": 0.2, "max_time": 600.0}


def test_model_flag_is_a_deprecated_alias_of_net(tmp_path):
    np.save(tmp_path / "x.npy", np.random.default_rng(2).random((30, 6)).astype(np.float32))
    result = ok("train", tmp_path / "x.npy", "--out", tmp_path / "r", "--model", "mlp", *TINY)
    assert "--model is deprecated; use --net" in result.output
    assert _config(tmp_path / "r")["model"]["net"] == "mlp"
    assert "--model" not in ok("train", "--help").output
    bad = invoke("train", tmp_path / "x.npy", "--out", tmp_path / "r2", "--model", "mlp", "--net", "conv", *TINY)
    assert bad.exit_code == 2 and "Give --net only" in bad.output


@pytest.mark.parametrize("command", ["eval", "report"])
def test_eval_and_report_take_threads(command, tmp_path):
    np.save(tmp_path / "x.npy", np.random.default_rng(3).random((30, 6)).astype(np.float32))
    ok("train", tmp_path / "x.npy", "--out", tmp_path / "r", *TINY)
    ok(command, tmp_path / "r", "--data", tmp_path / "x.npy", "--iwae-k", "2", "--threads", "1", "--quiet")


@pytest.mark.parametrize("high", [1, 255])
def test_uint8_binary_images_train_a_bernoulli_model_that_compresses_them(tmp_path, high):
    # compress --help: binary images may be "0/1, 0/255 or bool"; that holds from training on.
    bits = (np.random.default_rng(4).random((40, 8, 8)) < 0.3).astype(np.uint8) * high
    np.save(tmp_path / "b.npy", bits)
    result = ok("train", tmp_path / "b.npy", "--out", tmp_path / "r", "--latent-dim", "2", *TINY)
    assert re.search(r"values\s*│\s*binary \(0/1\)", result.output), result.output
    assert _config(tmp_path / "r")["model"]["likelihood"] == "bernoulli"
    ok("compress", tmp_path / "r", tmp_path / "b.npy", "-o", tmp_path / "b.vkz")
    ok("decompress", tmp_path / "r", tmp_path / "b.vkz", "-o", tmp_path / "back.npy")
    np.testing.assert_array_equal(np.load(tmp_path / "back.npy"), bits)


def _folder(root: Path, classes, n=6, seed=0):
    from PIL import Image

    rng = np.random.default_rng(seed)
    for c in classes:
        (root / c).mkdir(parents=True)
        for i in range(n):
            Image.fromarray((rng.random((8, 8)) * 255).astype(np.uint8)).save(root / c / f"{i}.png")
    return root


def test_reconstruct_and_embed_a_folder_whose_class_names_the_model_never_saw(tmp_path):
    train = _folder(tmp_path / "train", ["cats", "dogs"])
    new = _folder(tmp_path / "new", ["incoming"], seed=1)
    ok("train", train, "--out", tmp_path / "r", "--latent-dim", "2", *TINY)
    ok("reconstruct", tmp_path / "r", new, "-o", tmp_path / "recon.png")
    ok("embed", tmp_path / "r", new, "-o", tmp_path / "z.csv", "--with-labels", "--quiet")
    z = pd.read_csv(tmp_path / "z.csv")
    assert len(z) == 6 and set(z["label"]) == {"incoming"}  # the folder's own class names
    ok("latent", tmp_path / "r", new, "-o", tmp_path / "latent.png")
    # classify still needs the model's classes
    bad = invoke("eval", tmp_path / "r", "--data", new, "--iwae-k", "2", "--quiet")
    assert bad.exit_code == 0


def test_progress_off_a_terminal_is_one_complete_line_per_epoch(tmp_path):
    np.save(tmp_path / "x.npy", np.random.default_rng(5).random((40, 6)).astype(np.float32))
    result = ok("train", tmp_path / "x.npy", "--out", tmp_path / "r", "--epochs", "3", "--hidden-dims", "8")
    lines = [line for line in result.output.splitlines() if line.startswith("training ")]
    assert [line.split(" epoch ")[1].split()[0] for line in lines if " epoch " in line] == ["1/3", "2/3", "3/3"]
    assert "…" not in result.output and "━" not in result.output
    assert any("rec " in line and "kl " in line for line in lines)
    evaluated = ok("eval", tmp_path / "r", "--data", tmp_path / "x.npy", "--iwae-k", "2")
    assert "…" not in evaluated.output and "━" not in evaluated.output
    assert re.search(r"evaluating on 40 examples: 40/40", evaluated.output)


def test_slow_2d_projections_say_what_they_are_doing(tmp_path):
    np.save(tmp_path / "x.npy", np.random.default_rng(6).random((30, 6)).astype(np.float32))
    ok("train", tmp_path / "x.npy", "--out", tmp_path / "r", "--latent-dim", "3", *TINY)
    result = ok("latent", tmp_path / "r", tmp_path / "x.npy", "--method", "tsne", "-o", tmp_path / "l.png")
    assert re.search(r"Projecting 30 posterior means to 2-D with t-SNE", result.output)


def test_a_collapsed_posterior_is_reported_with_what_to_try():
    # A VAE whose posterior means do not depend on x uses none of its latent dimensions and reconstructs the
    # data's average (the grey reconstructions of issue 15 item 3): the training summary says so.
    import torch

    import vaekit
    from vaekit.tasks.runs import active_dimensions, collapse_warning

    data = vaekit.datasets.from_array(np.random.default_rng(7).normal(size=(60, 5)).astype(np.float32))
    model = vaekit.VAE.for_data(data, latent_dim=8, hidden_dims=(8,)).initialize(0).eval()
    assert active_dimensions(model, data) > 0
    with torch.no_grad():
        for p in model.encoder.parameters():
            p.zero_()  # q(z|x) = N(0, 1) for every x: the collapsed posterior
    assert active_dimensions(model, data) == 0
    warning = collapse_warning(model, {"active latent dimensions": "0 of 8"})
    assert "posterior collapse" in warning and "--beta 0.1" in warning and "--free-bits" in warning
    assert collapse_warning(model, {"active latent dimensions": "5 of 8"}) is None


def test_train_summary_counts_active_latent_dimensions(tmp_path):
    np.save(tmp_path / "x.npy", np.random.default_rng(7).normal(size=(60, 5)).astype(np.float32))
    result = ok("train", tmp_path / "x.npy", "--out", tmp_path / "r", "--latent-dim", "8", *TINY)
    assert re.search(r"active latent dimensions │ \d of 8", " ".join(result.output.split()))
