"""Learned priors (issue 17, first part): a mixture of Gaussians and the VampPrior, checked against
torch.distributions and closed forms, through IWAE, sampling, free bits, save/load and compression."""

from __future__ import annotations

import math

import pytest
import torch
from torch.distributions import Categorical, Independent, MixtureSameFamily, Normal

import vaekit
from vaekit.config import DataSpec, ModelConfig
from vaekit.priors import MixtureOfGaussians

SHAPE = (1, 4, 4)


def _vae(prior, k=5, **kw):
    cfg = ModelConfig(data_shape=SHAPE, latent_dim=3, hidden_dims=(8,), prior=prior, prior_options={"components": k},
                      **kw)
    return vaekit.VAE(cfg, data_spec=DataSpec(kind="image", shape=SHAPE, levels=256)).initialize(0)


def test_mixture_log_prob_matches_torch_distributions():
    p = MixtureOfGaussians(3, components=4)
    with torch.no_grad():
        p.logits.copy_(torch.tensor([0.1, -0.4, 1.0, 0.0]))
        p.log_scale.copy_(torch.randn(4, 3, generator=torch.Generator().manual_seed(0)) * 0.3)
    ref = MixtureSameFamily(Categorical(logits=p.logits), Independent(Normal(p.loc, p.log_scale.exp()), 1))
    z = torch.randn(7, 3)
    assert torch.allclose(p.log_prob(z), ref.log_prob(z), atol=1e-5)
    draws = p.sample(20000, generator=torch.Generator().manual_seed(1))
    assert torch.allclose(draws.mean(0), ref.mean, atol=0.05)


def test_vamp_prior_is_the_mean_of_the_pseudo_input_posteriors():
    m = _vae("vamp", k=3)
    z = torch.randn(5, 3)
    q = m.encode(m.prior.pseudo_inputs)  # batch (3,)
    per = torch.stack([q.log_prob(zz.expand(3, 3)) for zz in z])  # (5, 3)
    assert torch.allclose(m.prior.log_prob(z), torch.logsumexp(per, 1) - math.log(3), atol=1e-5)
    assert m.sample(4).shape == (4, *SHAPE)
    with pytest.raises(vaekit.ConfigError, match="cannot be used with conditioning"):
        _vae("vamp", conditioning="conditional", num_classes=2)


@pytest.mark.parametrize("prior", ["mixture", "vamp"])
def test_monte_carlo_kl_is_unbiased_and_iwae_bounds_order(prior):
    m = _vae(prior)
    x = torch.rand(6, *SHAPE, generator=torch.Generator().manual_seed(2))
    q = m.encode(x)
    z = m.reparameterize(q, 20000, torch.Generator().manual_seed(3))  # (n, 6, 3)
    mc = (q.log_prob(z) - m.prior.log_prob(z)).mean(0)
    one = torch.stack([m.objective(x, generator=torch.Generator().manual_seed(s)).kl for s in range(400)]).mean(0)
    assert torch.allclose(one, mc, rtol=0.05, atol=0.05)  # the objective's one-sample KL averages to the KL
    with torch.no_grad():
        bounds = [m.iwae(x, k, generator=torch.Generator().manual_seed(4)).mean() for k in (1, 10, 100, 1000)]
    assert all(a <= b + 0.02 for a, b in zip(bounds, bounds[1:]))  # IWAE_k non-decreasing in k
    assert float(m.elbo(x, n_samples=200, generator=torch.Generator().manual_seed(5)).mean()) <= float(bounds[-1]) + 0.05


def test_free_bits_hold_for_a_learned_prior():
    m = _vae("mixture", free_bits=2.0)
    x = torch.rand(8, *SHAPE)
    obj = m.objective(x, kl_weight=1.0, generator=torch.Generator().manual_seed(0))
    assert float(obj.loss) >= float(obj.reconstruction_nll.mean()) + 2.0 * 3 - 1e-4


@pytest.mark.parametrize("prior", ["mixture", "vamp"])
def test_learned_priors_train_save_load_and_refuse_compression(prior, tmp_path):
    data = vaekit.datasets.load("digits")
    model = vaekit.VAE.for_data(data, latent_dim=2, hidden_dims=(16,), prior=prior, prior_options={"components": 4})
    before = {k: v.clone() for k, v in model.state_dict().items() if k.startswith("prior")}
    vaekit.fit(model, data, epochs=2, seed=0, out=tmp_path / "run", progress=False)
    after = {k: v for k, v in model.state_dict().items() if k.startswith("prior")}
    assert any(not torch.equal(before[k], after[k]) for k in before)  # the prior is learned
    loaded = vaekit.load(tmp_path / "run")
    assert loaded.config.prior == prior and loaded.config.prior_options.components == 4
    x = data.x[:5]
    assert torch.allclose(loaded.prior.log_prob(loaded.embed(x)), model.prior.log_prob(model.embed(x)))
    with pytest.raises(vaekit.ConfigError, match="standard normal prior"):
        vaekit.compress(loaded, (x > 0.5).float())


def test_cli_trains_a_vamp_prior(tmp_path):
    from typer.testing import CliRunner

    from vaekit.cli import app

    r = CliRunner().invoke(app, ["train", "digits", "--out", str(tmp_path / "r"), "--epochs", "1", "--prior", "vamp",
                                 "--prior-components", "3", "--latent-dim", "2", "-q"])
    assert r.exit_code == 0, r.output
    cfg = vaekit.load(tmp_path / "r").config
    assert (cfg.prior, cfg.prior_options.components) == ("vamp", 3)
    r = CliRunner().invoke(app, ["train", "digits", "--out", str(tmp_path / "s"), "--prior", "vampp"])
    assert r.exit_code == 2 and "'prior' parameter of VAE must be one of" in r.output
