"""Denoising: the corruption of the denoising criterion, training a denoiser, `denoise` and `vaekit denoise`."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image
from typer.testing import CliRunner

import vaekit
from vaekit.cli import app
from vaekit.config import ModelConfig
from vaekit.errors import ConfigError, DataError
from vaekit.model import VAE, corrupt
from vaekit.tasks.denoise import add_noise, denoise, denoise_files, fit_denoiser


pytestmark = pytest.mark.usefixtures("one_torch_thread")


# ------------------------------------------------------------------------------------------- corruption
def test_corrupt_noise_models():
    g = lambda: torch.Generator().manual_seed(0)  # noqa: E731
    x = torch.full((4, 5000), 0.5)
    gauss = corrupt(x, "gaussian", 0.2, generator=g())
    assert abs(float((gauss - x).std()) - 0.2) < 0.01
    sp = corrupt(x, "salt_and_pepper", 0.3, generator=g())
    hit = sp != 0.5
    assert abs(float(hit.float().mean()) - 0.3) < 0.02
    assert set(sp[hit].unique().tolist()) == {0.0, 1.0}
    masked = corrupt(x, "mask", 0.3, generator=g())
    assert set(masked.unique().tolist()) == {0.0, 0.5}
    assert float(corrupt(torch.full((1, 100), 0.9), "gaussian", 1.0, generator=g(), clip=True).max()) <= 1.0
    torch.testing.assert_close(corrupt(x, "gaussian", 0.2, generator=g()), gauss)  # same seed, same noise
    assert corrupt(x, "gaussian", 0.0) is x
    with pytest.raises(ConfigError, match="The 'kind' parameter of corrupt"):
        corrupt(x, "speckle", 0.1)


def test_config_validates_corruption():
    with pytest.raises(ConfigError, match="The 'corruption' parameter of VAE must be one of"):
        ModelConfig(data_shape=(3,), corruption="speckle")
    with pytest.raises(ConfigError, match="must be a fraction in \\[0, 1\\] for corruption='mask'"):
        ModelConfig(data_shape=(3,), corruption="mask", corruption_level=1.5)


def test_objective_encodes_corrupted_input_and_scores_clean_target():
    cfg = ModelConfig(data_shape=(1, 4, 4), latent_dim=2, hidden_dims=(8,), likelihood="bernoulli",
                      corruption="gaussian", corruption_level=0.4)
    m = VAE(cfg)
    x = torch.rand(6, 1, 4, 4)
    obj = m.objective(x, generator=torch.Generator().manual_seed(3))
    # the same draws by hand: corruption first, then the reparameterisation noise
    g = torch.Generator().manual_seed(3)
    noisy = corrupt(x, "gaussian", 0.4, generator=g, clip=True)
    by_hand = m.objective(noisy, target=x, generator=g)
    torch.testing.assert_close(obj.loss, by_hand.loss)
    plain = m.objective(x, target=x, generator=torch.Generator().manual_seed(3))
    assert not torch.allclose(obj.loss, plain.loss)


# ------------------------------------------------------------------------------------------- training and use
@pytest.fixture(scope="module")
def digits_denoiser():
    data = vaekit.datasets.load("digits")
    model = fit_denoiser(data, "gaussian", 0.4, epochs=15, seed=0, progress=False,
                         model_options={"hidden_dims": (128,), "latent_dim": 8})
    return data, model


def test_denoiser_beats_the_noisy_input(digits_denoiser):
    data, model = digits_denoiser
    test = vaekit.datasets.load("digits", split="test").x.numpy()
    noisy = add_noise(test, "gaussian", 0.4, seed=1)
    clean = denoise(model, torch.from_numpy(noisy))
    assert clean.shape == test.shape and clean.dtype == np.float32
    assert 0 <= clean.min() and clean.max() <= 1
    mse_noisy = np.mean((noisy - test) ** 2)
    mse_clean = np.mean((clean - test) ** 2)
    assert mse_clean < 0.75 * mse_noisy
    assert model.config.corruption == "gaussian"


def test_run_round_trips_corruption_and_cli_denoises_images_and_arrays(digits_denoiser, tmp_path):
    _, model = digits_denoiser
    vaekit.save(model, tmp_path / "run")
    loaded = vaekit.load(tmp_path / "run")
    assert (loaded.config.corruption, loaded.config.corruption_level) == ("gaussian", 0.4)
    test = vaekit.datasets.load("digits", split="test").x.numpy()[:5]
    noisy = add_noise(test, "gaussian", 0.4, seed=2)
    for i in range(3):
        Image.fromarray((noisy[i, 0] * 255).round().astype(np.uint8)).save(tmp_path / f"n{i}.png")
    np.save(tmp_path / "noisy.npy", noisy)
    runner = CliRunner()
    pngs = [str(tmp_path / f"n{i}.png") for i in range(3)]
    r = runner.invoke(app, ["denoise", str(tmp_path / "run"), *pngs, "-o", str(tmp_path / "out")])
    assert r.exit_code == 0, r.output
    for i in range(3):
        with Image.open(tmp_path / "out" / f"n{i}.png") as im:
            assert im.size == (8, 8) and im.mode == "L"
    r = runner.invoke(app, ["denoise", str(tmp_path / "run"), str(tmp_path / "noisy.npy"), "-o", str(tmp_path / "c.npy")])
    assert r.exit_code == 0, r.output
    np.testing.assert_allclose(np.load(tmp_path / "c.npy"), denoise(loaded, noisy), atol=1e-6)
    r = runner.invoke(app, ["denoise", str(tmp_path / "run"), str(tmp_path / "noisy.npy"), "-o", str(tmp_path / "c.png")])
    assert r.exit_code == 2 and ".npy or .npz" in r.output


def test_denoise_files_errors(digits_denoiser, tmp_path):
    _, model = digits_denoiser
    (tmp_path / "a.txt").write_text("x")
    with pytest.raises(DataError, match="expected image files"):
        denoise_files(model, [tmp_path / "a.txt"], tmp_path / "o")
    with pytest.raises(DataError, match="No such file"):
        denoise_files(model, [tmp_path / "missing.png"], tmp_path / "o")
