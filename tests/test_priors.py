"""Learned priors (issue 17, first part): a mixture of Gaussians and the VampPrior, checked against
torch.distributions and closed forms, through IWAE, sampling, free bits, save/load and compression."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
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
def test_learned_priors_train_save_load_and_compress(prior, tmp_path):
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
    binary = (x > 0.5).float()
    assert torch.equal(vaekit.decompress(loaded, vaekit.compress(loaded, binary)), binary)  # a loaded prior codes


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


# ------------------------------------------------------------------ hierarchical latents (ladder prior)
def _two_layer_linear_gaussian(var_scale: float = 1.0):
    """A two-layer linear-Gaussian VAE set to z2 ~ N(0, 1), z1 | z2 ~ N(A z2 + c, s1^2 I), x | z1 ~
    N(W z1 + b, sigma^2 I) (D = 5, z1 in R^2, z2 in R^1), whose marginal p(x) is Gaussian in closed form.

    W has orthogonal columns, so the ladder's merge of the bottom-up estimate of z1 with p(z1 | z2) is
    exactly p(z1 | z2, x); the encoder's top-layer estimate is the exact p(z2 | x) (its variance times
    ``var_scale``). With var_scale = 1, q(z|x) = p(z|x) and every importance weight equals p(x).
    """
    from torch.distributions import MultivariateNormal
    D, s1, sigma = 5, 0.6, 0.4
    Q, _ = torch.linalg.qr(torch.randn(D, 2, generator=torch.Generator().manual_seed(0)))
    w = torch.tensor([1.8, 0.9])
    W, b = Q * w, torch.linspace(-1, 1, D)
    A, c = torch.tensor([[1.2], [-0.7]]), torch.tensor([0.3, -0.2])
    model = vaekit.VAE(ModelConfig(data_shape=(D,), latent_dim=3, hidden_dims=(), likelihood="gaussian",
                                   prior="ladder", prior_options={"layers": 2, "cell_width": 0}))
    assert model.prior.dims == (2, 1)
    S = s1**2 * W @ W.T + sigma**2 * torch.eye(D)  # Cov(x | z2)
    cov2 = torch.linalg.inv(torch.eye(1) + A.T @ W.T @ torch.linalg.solve(S, W @ A))  # Cov(z2 | x), 1x1
    G = cov2 @ A.T @ W.T @ torch.linalg.inv(S)  # E[z2 | x] = G (x - b - W c)
    with torch.no_grad():
        enc = model.encoder.net[0]  # rows: mu_hat(z1: 2, z2: 1), logvar_hat(z1: 2, z2: 1)
        enc.weight.zero_()
        enc.bias.zero_()
        enc.weight[:2] = Q.T / w[:, None]
        enc.bias[:2] = -(Q.T / w[:, None]) @ b
        enc.weight[2:3] = G
        enc.bias[2:3] = -G @ (b + W @ c)
        enc.bias[3:5] = torch.log(sigma**2 / w**2)
        enc.bias[5] = torch.log(cov2[0, 0] * var_scale)
        dec = model.decoder.net[0]
        dec.weight.zero_()
        dec.weight[:, :2] = W  # p(x | z1, z2) reads z1 only
        dec.bias.copy_(b)
        model.likelihood.log_scale.fill_(math.log(sigma))
        cell = model.prior.cells[0].out  # p(z1 | z2): mean A z2 + c, log-variance log s1^2
        cell.weight.zero_()
        cell.weight[:2] = A
        cell.bias[:2] = c
        cell.bias[2:] = math.log(s1**2)
    marginal = MultivariateNormal(W @ c + b, W @ (A @ A.T + s1**2 * torch.eye(2)) @ W.T + sigma**2 * torch.eye(D))
    return model.eval(), marginal


def test_two_layer_linear_gaussian_ladder_is_exact_at_the_exact_posterior():
    model, marginal = _two_layer_linear_gaussian()
    x = marginal.sample(torch.Size([50]))
    exact = marginal.log_prob(x)
    q = model.encode(x)
    z = model.reparameterize(q, 7, torch.Generator().manual_seed(1))  # (7, 50, 3)
    log_px, log_ratio = model.log_weights(x, q, z)
    torch.testing.assert_close(log_px + log_ratio, exact.expand(7, -1), atol=1e-4, rtol=1e-5)
    with torch.no_grad():
        torch.testing.assert_close(model.elbo(x, generator=torch.Generator().manual_seed(2)), exact, atol=1e-4, rtol=1e-5)
    # the prior's draws have the hierarchy's moments: Cov(z1) = A A^T + s1^2 I
    draws = model.prior.sample(40000, generator=torch.Generator().manual_seed(3))
    cov = torch.cov(draws[:, :2].T)
    A = model.prior.cells[0].out.weight[:2].detach()
    torch.testing.assert_close(cov, A @ A.T + 0.36 * torch.eye(2), atol=0.04, rtol=0.0)


def test_two_layer_linear_gaussian_ladder_iwae_converges_to_the_exact_marginal():
    torch.manual_seed(0)
    model, marginal = _two_layer_linear_gaussian(var_scale=3.0)  # a wrong top-layer variance: q != p(z|x)
    x = marginal.sample(torch.Size([400]))
    exact = marginal.log_prob(x).mean()
    with torch.no_grad():
        bounds = [float(model.iwae(x, k, generator=torch.Generator().manual_seed(4)).mean()) for k in (1, 10, 100, 2000)]
    # non-decreasing in k (up to the Monte Carlo error of the mean over 400 examples, ~1e-3 near the top)
    assert all(a <= b + 3e-3 for a, b in zip(bounds, bounds[1:]))
    assert bounds[0] < float(exact) - 0.02  # the ELBO is loose here ...
    assert abs(bounds[-1] - float(exact)) < 0.01  # ... and IWAE_2000 closes on the exact log p(x)
    assert bounds[-1] <= float(exact) + 0.005


def test_ladder_vae_trains_samples_embeds_saves_and_refuses_what_it_cannot_do(tmp_path):
    data = vaekit.datasets.load("digits")
    model = vaekit.VAE.for_data(data, latent_dim=6, hidden_dims=(32,), prior="ladder",
                                prior_options={"layers": 3, "cell_width": 16})
    assert model.prior.dims == (2, 2, 2)
    run = vaekit.fit(model, data, epochs=2, seed=0, out=tmp_path / "run", progress=False)
    assert math.isfinite(run["val_loss"][-1])
    loaded = vaekit.load(tmp_path / "run")
    x = data.x[:6]
    torch.testing.assert_close(loaded.embed(x), model.embed(x))
    assert loaded.sample(4, generator=torch.Generator().manual_seed(0)).shape == (4, *data.shape)
    assert loaded.reconstruct(x).shape == x.shape
    with torch.no_grad():
        k1, k50 = (float(loaded.iwae(x, k, generator=torch.Generator().manual_seed(1)).mean()) for k in (1, 50))
    assert k1 <= k50 + 1e-3
    with pytest.raises(vaekit.ConfigError, match="latent_dim >= 3"):
        vaekit.VAE(ModelConfig(data_shape=(4,), latent_dim=2, prior="ladder", prior_options={"layers": 3}))
    with pytest.raises(vaekit.ConfigError, match="dreg"):
        vaekit.VAE(ModelConfig(data_shape=(4,), latent_dim=4, prior="ladder", iwae_k=2, iwae_gradient="dreg"))
    with pytest.raises(vaekit.ConfigError, match="conditioning"):
        vaekit.VAE(ModelConfig(data_shape=(4,), latent_dim=4, prior="ladder", conditioning="conditional", num_classes=2))


def test_kl_warm_up_per_layer_weighs_each_layer_on_its_own():
    m = vaekit.VAE(ModelConfig(data_shape=(6,), latent_dim=4, hidden_dims=(8,), likelihood="gaussian",
                               prior="ladder", prior_options={"cell_width": 8})).initialize(0)
    x = torch.randn(10, 6, generator=torch.Generator().manual_seed(0))

    def loss(w):
        return float(m.objective(x, kl_weight=w, generator=torch.Generator().manual_seed(1)).loss.detach())

    obj = m.objective(x, kl_weight=(0.0, 0.0), generator=torch.Generator().manual_seed(1))
    assert loss((0.0, 0.0)) == pytest.approx(float(obj.reconstruction_nll.mean()))
    assert loss((1.0, 0.0)) + loss((0.0, 1.0)) == pytest.approx(loss((1.0, 1.0)) + loss((0.0, 0.0)), rel=1e-5)
    assert loss((1.0, 1.0)) == pytest.approx(loss(1.0), rel=1e-6)  # a scalar weighs every layer alike
    with torch.no_grad():  # IWAE objective and log_weights take per-layer weights too
        m.config = dataclasses.replace(m.config, iwae_k=3)
        assert math.isfinite(loss((0.5, 1.0)))
    data = vaekit.datasets.load("digits")
    ladder = vaekit.VAE.for_data(data, latent_dim=4, hidden_dims=(16,), prior="ladder", prior_options={"cell_width": 8})
    with pytest.warns(UserWarning, match="KL warm-up of 4 epochs outlasts training"):
        run = vaekit.fit(ladder, data, epochs=2, kl_warmup_layers=(0, 4), seed=0, progress=False)
    assert run["kl_weight"][0] < 1.0 and run["kl_weight"][0] > 0.5  # bottom at 1, top still warming: mean in (0.5, 1)
    with pytest.raises(vaekit.ConfigError, match="kl_warmup_layers"):
        vaekit.fit(ladder, data, epochs=1, kl_warmup_layers=(0, 1, 2), progress=False)
    plain = vaekit.VAE.for_data(data, latent_dim=4, hidden_dims=(16,))
    with pytest.raises(vaekit.ConfigError, match="one latent layer"):
        vaekit.fit(plain, data, epochs=1, kl_warmup_layers=(0, 1), progress=False)


def test_cli_trains_a_ladder_model_with_per_layer_warm_up_and_evaluates_it(tmp_path):
    from typer.testing import CliRunner

    from vaekit.cli import app

    r = CliRunner().invoke(app, ["train", "digits", "--out", str(tmp_path / "r"), "--epochs", "2", "--prior", "ladder",
                                 "--latent-layers", "3", "--latent-dim", "6", "--hidden-dims", "16",
                                 "--kl-warmup-layers", "0,1,2", "-q"])
    assert r.exit_code == 0, r.output
    cfg = vaekit.load(tmp_path / "r").config
    assert (cfg.prior, cfg.prior_options.layers) == ("ladder", 3)
    r = CliRunner().invoke(app, ["eval", str(tmp_path / "r"), "--iwae-k", "5", "--limit", "30", "-q"])
    assert r.exit_code == 0, r.output
    ev = __import__("json").loads((tmp_path / "r" / "eval.json").read_text())
    assert math.isfinite(ev["nll"])
    import numpy as np
    np.save(tmp_path / "x.npy", vaekit.datasets.load("digits").x[:4].numpy())
    r = CliRunner().invoke(app, ["compress", str(tmp_path / "r"), str(tmp_path / "x.npy"), "-o", str(tmp_path / "c.vkz")])
    assert r.exit_code != 0 and "hierarchical prior" in r.output, r.output


def test_a_ladder_run_scores_anomalies_and_embeds_through_the_estimators(tmp_path):
    from vaekit.tasks.anomaly import VAEOutlierDetector
    from vaekit.tasks.embed import VAETransformer

    data = vaekit.datasets.load("digits")
    model = vaekit.VAE.for_data(data, latent_dim=4, hidden_dims=(16,), prior="ladder", prior_options={"cell_width": 8})
    vaekit.fit(model, data, epochs=1, seed=0, out=tmp_path / "run", progress=False)
    x = data.x[:20].numpy()
    det = VAEOutlierDetector.from_run(tmp_path / "run")
    scores = det.score_samples(x)
    assert scores.shape == (20,) and bool(np.isfinite(scores).all())
    z = VAETransformer.from_run(tmp_path / "run").transform(x)
    assert z.shape == (20, 4)
