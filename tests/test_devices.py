"""``--device`` on the commands that run a model, and device-independent noise (issue 21)."""

from __future__ import annotations

import pytest
import torch
from typer.testing import CliRunner

import vaekit
from vaekit.cli import app


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    path = tmp_path_factory.mktemp("dev") / "run"
    data = vaekit.datasets.load("digits")
    vaekit.fit(vaekit.VAE.for_data(data, latent_dim=2, hidden_dims=(8,)), data, epochs=1, out=path, progress=False)
    return path


@pytest.mark.parametrize("command", [
    ["sample", "{run}", "-n", "4", "-o", "{tmp}/s.png"],
    ["reconstruct", "{run}", "digits", "-o", "{tmp}/r.png"],
    ["eval", "{run}", "--iwae-k", "2", "-q"],
    ["embed", "{run}", "digits", "-o", "{tmp}/z.csv", "-q"],
])
def test_commands_take_a_device(run, tmp_path, command):
    args = [a.format(run=run, tmp=tmp_path) for a in command]
    ok = CliRunner().invoke(app, [*args, "--device", "cpu"])
    assert ok.exit_code == 0, ok.output
    bad = CliRunner().invoke(app, [*args, "--device", "gpu"])
    assert bad.exit_code == 2 and "'device' parameter must be 'cpu', 'cuda', 'cuda:N' or 'auto'" in bad.output
    if not torch.cuda.is_available():
        none = CliRunner().invoke(app, [*args, "--device", "cuda"])
        assert none.exit_code == 2 and "torch sees no GPU" in none.output


def test_train_takes_device_precision_and_compile_flags(tmp_path):
    r = CliRunner().invoke(app, ["train", "digits", "--out", str(tmp_path / "r"), "--epochs", "1", "--device", "auto",
                                 "--precision", "bf16", "--latent-dim", "2", "-q"])
    assert r.exit_code == 0, r.output
    assert vaekit.load_run(tmp_path / "r").train_config.precision == "bf16"


def test_noise_is_drawn_where_the_generator_lives():
    from vaekit import noise

    g = torch.Generator().manual_seed(0)
    a = noise.randn((3, 2), g, device="cpu")
    b = torch.randn((3, 2), generator=torch.Generator().manual_seed(0))
    assert torch.equal(a, b)
    p = torch.tensor([[0.1, 0.9], [1.0, 0.0]])
    assert noise.multinomial(p, torch.Generator().manual_seed(1)).shape == (2, 1)
