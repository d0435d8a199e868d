"""The command line, through typer's CliRunner on tiny data (a few hundred digits, 1 epoch, small nets)."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

import vaekit
from vaekit.cli import main
from vaekit.tasks.report import SECTION_TITLES

from ._cli import invoke, ok

COMMANDS = ("demo", "train", "eval", "sample", "reconstruct", "interpolate", "latent", "traverse", "report", "embed",
            "neighbors", "compress", "decompress", "serve", "anomaly fit", "anomaly score", "classify", "analogy")
TINY = ["--epochs", "1", "--hidden-dims", "32", "--quiet"]


# ----------------------------------------------------------------------------------------- data sources
@pytest.fixture(scope="module")
def sources(tmp_path_factory) -> dict[str, str]:
    """One tiny source of each kind: builtin, image folder (colour, 2 classes), .npz, numeric CSV."""
    root = tmp_path_factory.mktemp("sources")
    rng = np.random.default_rng(0)
    for k, name in enumerate(("red", "blue")):
        (root / "imgs" / name).mkdir(parents=True)
        for i in range(10):
            a = (rng.random((10, 12, 3)) * 60).astype(np.uint8)
            a[..., 2 * k] += 180
            Image.fromarray(a).save(root / "imgs" / name / f"{i}.png")
    np.savez(root / "d.npz", x=(rng.random((40, 8, 8)) * 255).astype(np.uint8), y=rng.integers(0, 3, 40))
    df = pd.DataFrame(rng.normal(size=(60, 4)), columns=["a", "b", "c", "d"])
    df["label"] = rng.choice(["x", "y"], 60)
    df.to_csv(root / "t.csv", index=False)
    return {"mnist5k": "mnist5k", "folder": str(root / "imgs"), "npz": str(root / "d.npz"), "csv": str(root / "t.csv")}


@pytest.fixture(scope="module")
def digits_run(tmp_path_factory) -> Path:
    """A VAE with latent_dim 2 on 200 mnist5k digits."""
    run = tmp_path_factory.mktemp("runs") / "digits"
    ok("train", "mnist5k", "--out", run, "--limit", "200", "--latent-dim", "2", *TINY)
    return run


# ----------------------------------------------------------------------------------------- help, version
@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_has_help_with_examples(command):
    result = ok(*command.split(), "--help")
    assert "Examples" in result.output
    assert f"vaekit {command}" in result.output


def test_version_flag():
    assert ok("--version").output.strip() == f"vaekit {vaekit.__version__}"


def test_python_m_vaekit_help():
    proc = subprocess.run([sys.executable, "-m", "vaekit", "--help"], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    for command in {c.split()[0] for c in COMMANDS}:
        assert command in proc.stdout
    assert "Usage: vaekit" in proc.stdout


# ----------------------------------------------------------------------------------------- every command x every kind of data
@pytest.mark.parametrize("kind", ["mnist5k", "folder", "npz", "csv"])
def test_every_command_works_on_each_kind_of_data(kind, sources, tmp_path):
    data = sources[kind]
    run = tmp_path / "run"
    extra = ["--limit", "120"] if kind == "mnist5k" else (["--label-column", "label"] if kind == "csv" else [])
    ok("train", data, "--out", run, "--latent-dim", "3", *TINY, *extra)
    assert {p.name for p in run.iterdir()} >= {"config.json", "model.safetensors", "metrics.csv", "checkpoint"}

    result = ok("eval", run, "--data", data, "--iwae-k", "4", "--limit", "50", "--quiet")
    assert "negative ELBO" in result.output
    assert json.loads((run / "eval.json").read_text())["k"] == 4

    ok("sample", run, "-n", "6", "-o", tmp_path / "s.png")
    ok("sample", run, "-n", "5", "--npy", "-o", tmp_path / "s.npy")
    ok("reconstruct", run, data, "-n", "4", "-o", tmp_path / "r.png")
    ok("interpolate", run, "--from", "0", "--to", "2", "--steps", "4", "--data", data, "-o", tmp_path / "i.png")
    ok("latent", run, data, "-o", tmp_path / "l.png")
    ok("traverse", run, "--dims", "0,2", "--steps", "3", "-o", tmp_path / "t.png")
    ok("report", run, "--data", data, "--iwae-k", "2", "--limit", "30", "--quiet")
    for name in ("s.png", "r.png", "i.png", "l.png", "t.png"):
        assert (tmp_path / name).read_bytes().startswith(b"\x89PNG"), name
    assert (run / "report.html").is_file()

    samples = np.load(tmp_path / "s.npy")
    shape = tuple(json.loads((run / "config.json").read_text())["data"]["shape"])
    assert samples.shape == (5, *shape)
    if kind in ("mnist5k", "folder", "npz"):  # 8-bit images come back as uint8 pixels
        assert samples.dtype == np.uint8


def test_train_records_the_data_source_and_eval_defaults_to_its_test_split(digits_run):
    doc = json.loads((digits_run / "config.json").read_text())
    assert doc["data"]["name"] == "mnist5k"
    result = ok("eval", digits_run, "--iwae-k", "3", "--limit", "40", "--quiet")
    saved = json.loads((digits_run / "eval.json").read_text())
    assert saved["data"] == "mnist5k" and saved["n"] == 40
    assert set(saved) >= {"neg_elbo", "reconstruction_nll", "kl", "nll", "bits_per_dim", "active_units"}
    assert "(test)" in result.output


def test_sample_npy_is_in_the_datas_own_range(digits_run, tmp_path):
    ok("sample", digits_run, "-n", "7", "--npy", "-o", tmp_path / "x.npy", "--temperature", "0.5")
    x = np.load(tmp_path / "x.npy")
    assert x.shape == (7, 1, 28, 28) and x.dtype == np.uint8
    assert x.max() > 1  # 0..255, not [0, 1]


def test_latent_with_two_dims_also_writes_the_manifold(digits_run, tmp_path):
    result = ok("latent", digits_run, "mnist5k", "-o", tmp_path / "lat.png", "--max-points", "100", "--steps", "5")
    assert (tmp_path / "lat.png").is_file() and (tmp_path / "lat_manifold.png").is_file()
    assert "lat_manifold.png" in result.output
    grid = Image.open(tmp_path / "lat_manifold.png")
    assert grid.size[0] == grid.size[1] and grid.size[0] >= 5 * 28


def test_interpolate_between_image_files(sources, tmp_path):
    run = tmp_path / "run"
    ok("train", sources["folder"], "--out", run, *TINY)
    a = Path(sources["folder"]) / "red" / "0.png"
    b = Path(sources["folder"]) / "blue" / "3.png"
    ok("interpolate", run, "--from", a, "--to", b, "--steps", "5", "--spherical", "-o", tmp_path / "morph.png")
    assert Image.open(tmp_path / "morph.png").mode == "RGB"  # colour stays colour


def test_traverse_with_data_sorts_rows_by_activity(digits_run, tmp_path):
    ok("traverse", digits_run, "--data", "mnist5k", "--limit", "50", "-o", tmp_path / "t.png")
    assert Image.open(tmp_path / "t.png").height > 2 * 28


# ----------------------------------------------------------------------------------------- train options
def test_config_file_toml_with_flags_overriding(tmp_path):
    cfg = tmp_path / "vae.toml"
    cfg.write_text('latent_dim = 5\nhidden_dims = [16]\n[train]\nepochs = 1\nlr = 0.002\n')
    run = tmp_path / "run"
    ok("train", "mnist5k", "--out", run, "--limit", "100", "--config", cfg, "--latent-dim", "3", "--quiet")
    doc = json.loads((run / "config.json").read_text())
    assert doc["model"]["latent_dim"] == 3  # the flag wins
    assert doc["model"]["hidden_dims"] == [16] and doc["train"]["lr"] == 0.002  # the file fills the rest


def test_config_file_json_sections(tmp_path):
    cfg = tmp_path / "c.json"
    cfg.write_text(json.dumps({"model": {"latent_dim": 2, "hidden_dims": [8]}, "train": {"epochs": 1}}))
    ok("train", "mnist5k", "--out", tmp_path / "run", "--limit", "80", "--config", cfg, "--quiet")
    assert json.loads((tmp_path / "run" / "config.json").read_text())["model"]["latent_dim"] == 2


def test_resume_continues_and_autoencoder_flag(tmp_path):
    run = tmp_path / "ae"
    ok("train", "mnist5k", "--out", run, "--limit", "100", "--autoencoder", *TINY)
    assert json.loads((run / "config.json").read_text())["class_name"] == "Autoencoder"
    ok("train", "mnist5k", "--out", run, "--limit", "100", "--resume", "--epochs", "2", "--quiet")
    assert len((run / "metrics.csv").read_text().strip().splitlines()) == 1 + 2
    result = ok("eval", run, "--limit", "30", "--quiet")  # an autoencoder has no ELBO: reconstruction only
    assert "reconstruction NLL" in result.output and "negative ELBO" not in result.output


def test_global_seed_gives_identical_samples(digits_run, tmp_path):
    for name in ("a.npy", "b.npy"):
        ok("sample", digits_run, "-n", "4", "--npy", "--seed", "3", "-o", tmp_path / name)
    ok("sample", digits_run, "-n", "4", "--npy", "--seed", "4", "-o", tmp_path / "c.npy")
    a, b, c = (np.load(tmp_path / n) for n in ("a.npy", "b.npy", "c.npy"))
    assert np.array_equal(a, b) and not np.array_equal(a, c)


# ----------------------------------------------------------------------------------------- report and demo
def test_report_is_self_contained_and_has_every_section(digits_run):
    result = ok("report", digits_run, "--iwae-k", "2", "--limit", "40", "--quiet")
    html = (digits_run / "report.html").read_text(encoding="utf-8")
    assert str(digits_run / "report.html") in result.output
    assert not re.search(r"https?:", html)
    assert "<script" not in html
    for title in SECTION_TITLES:
        assert f"<h2>{title}</h2>" in html, title
    assert html.count('src="data:image/png;base64,') >= 7  # curves, samples, recon, interp, latent + manifold, traversals


def test_demo_writes_both_runs_and_the_comparison_report(tmp_path):
    out = tmp_path / "demo"
    result = ok("demo", "--out", out, "--limit", "150", "--epochs", "1", "--quiet")
    html = (out / "report.html").read_text(encoding="utf-8")
    assert "VAE vs Autoencoder: decoding z ~ N(0, I)" in html
    assert "VAE vs Autoencoder: interpolations" in html
    assert "VAE: Samples from the prior" in html and "Autoencoder: Samples from the prior" in html
    assert not re.search(r"https?:", html)
    for sub in ("vae", "ae"):
        assert {"config.json", "model.safetensors", "eval.json", "report.html"} <= {p.name for p in (out / sub).iterdir()}
    last = result.output.strip().splitlines()[-1]
    assert last.startswith("Report") and last.endswith(str(out / "report.html"))
    again = invoke("demo", "--out", out, "--limit", "150", "--epochs", "1", "--quiet")
    assert again.exit_code == 2 and "--overwrite" in again.output


# ----------------------------------------------------------------------------------------- errors
@pytest.fixture(scope="module")
def bad_inputs(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("bad")
    (root / "not_a_run").mkdir()
    (root / "imgs").mkdir()
    Image.new("L", (8, 8)).save(root / "imgs" / "ok.png")
    (root / "imgs" / "broken.png").write_text("this is not a PNG")
    pd.DataFrame({"a": np.arange(10.0), "b": [str(i) for i in range(9)] + ["unknown"]}).to_csv(root / "text.csv", index=False)
    (root / "typo.toml").write_text("latent_dims = 3\n")
    (root / "nonempty").mkdir()
    (root / "nonempty" / "x.txt").write_text("x")
    names = {"not_a_run": "not_a_run", "imgs": "imgs", "text_csv": "text.csv", "typo_toml": "typo.toml", "nonempty": "nonempty"}
    return {k: root / v for k, v in names.items()} | {"root": root}


@pytest.mark.parametrize(
    "args, message",
    [
        (["eval", "{not_a_run}"], r"is not a run directory: it has no config\.json"),
        (["train", "{root}/missing.csv", "--out", "{root}/r"], r"No such file or folder: '.*missing\.csv'"),
        (["train", "mnistt", "--out", "{root}/r"], r"Did you mean 'mnist'\?"),
        (["train", "{imgs}", "--out", "{root}/r"], r"Image file '.*broken\.png' could not be read"),
        (["train", "{text_csv}", "--out", "{root}/r"], r"Column 'b' of .*text\.csv must be numeric; found 'unknown' in row 10"),
        (["train", "mnist5k", "--out", "{root}/r", "--config", "{typo_toml}"], r"Unknown key 'latent_dims' .* Did you mean 'latent_dim'\?"),
        (["train", "mnist5k", "--out", "{nonempty}"], r"is not empty; .*--overwrite"),
        (["train", "mnist5k", "--out", "{root}/r", "--hidden-dims", "5x"], r"'hidden_dims' parameter must be comma-separated ints"),
    ],
)
def test_bad_input_is_one_red_line_and_exit_2(args, message, bad_inputs):
    result = invoke(*[a.format(**{k: str(v) for k, v in bad_inputs.items()}) for a in args])
    assert result.exit_code == 2, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), result.output
    assert re.search(message, lines[0]), lines[0]
    assert "Traceback" not in result.output


@pytest.mark.parametrize(
    "args, message",
    [
        (["interpolate", "{run}", "--from", "0", "--to", "9999"], r"Index 9999 is out of range for data 'mnist5k' with 500 examples"),
        (["interpolate", "{run}", "--from", "0", "--to", "nothere.png"], r"neither an index nor an existing image file"),
        (["traverse", "{run}", "--dims", "0,7"], r"latent dimensions in 0\.\.1"),
        (["sample", "{run}", "-o", "out.jpg"], r"must end in \.png"),
        (["reconstruct", "{run}", "{csv}"], r"trained on images"),
    ],
)
def test_bad_input_for_a_trained_run(args, message, digits_run, sources, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = invoke(*[a.format(run=digits_run, csv=sources["csv"]) for a in args])
    assert result.exit_code == 2, result.output
    assert re.search(message, result.output), result.output
    assert len(result.output.strip().splitlines()) == 1


def test_eval_of_a_source_without_test_split_needs_data(sources, tmp_path):
    run = tmp_path / "run"
    ok("train", sources["npz"], "--out", run, *TINY)
    result = invoke("eval", run, "--quiet")
    assert result.exit_code == 2 and "has no test split; pass the evaluation data with --data" in result.output
    ok("eval", run, "--data", sources["npz"], "--iwae-k", "2", "--quiet")


def test_usage_errors_stay_typers():
    result = invoke("train", "mnist5k", "--out", "x", "--model", "transformer")
    # the names come from vaekit.registry.NETS (the one list), checked by ModelConfig
    assert result.exit_code == 2 and "'net' parameter of VAE must be one of 'mlp', 'conv'" in result.output
    result = invoke("eval", "/definitely/not/here")
    assert result.exit_code == 2 and "does not exist" in result.output


def test_debug_shows_the_exception_instead(bad_inputs, monkeypatch):
    result = invoke("--debug", "eval", bad_inputs["not_a_run"])
    assert isinstance(result.exception, vaekit.CheckpointError)
    monkeypatch.setenv("VAEKIT_DEBUG", "1")
    result = invoke("eval", bad_inputs["not_a_run"])
    assert isinstance(result.exception, vaekit.CheckpointError)


def test_main_is_the_error_boundary(bad_inputs, capsys):
    with pytest.raises(SystemExit) as e:
        main(["eval", str(bad_inputs["not_a_run"])])
    assert e.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("Error: ") and "is not a run directory" in err


def test_a_bug_is_not_reported_as_bad_input(monkeypatch, digits_run):
    import vaekit.tasks.runs as runs

    def broken(run, **kwargs):
        raise RuntimeError("a bug")

    monkeypatch.setattr(runs, "load_run", broken)
    result = invoke("eval", digits_run)
    assert result.exit_code == 1 and isinstance(result.exception, RuntimeError)


def test_train_takes_the_dreg_estimator_and_the_run_remembers_it(tmp_path):
    np.save(tmp_path / "x.npy", np.random.default_rng(5).random((40, 6)).astype(np.float32))
    ok("train", tmp_path / "x.npy", "--out", tmp_path / "r", "--iwae-k", "3", "--iwae-gradient", "dreg", *TINY)
    model = json.loads((tmp_path / "r" / "config.json").read_text())["model"]
    assert (model["iwae_k"], model["iwae_gradient"]) == (3, "dreg")
    bad = invoke("train", tmp_path / "x.npy", "--out", tmp_path / "r2", "--iwae-gradient", "vimco", *TINY)
    assert bad.exit_code != 0 and "iwae_gradient" in bad.output
