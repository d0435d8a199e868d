"""Closed-form checks of the objectives: a linear-Gaussian VAE (probabilistic PCA) whose exact
log p(x) is known, analytic vs Monte Carlo KL, IWAE_k >= ELBO and non-decreasing in k, and
normalisation of the discrete likelihoods."""

from __future__ import annotations

import dataclasses
import math

import numpy as np

import pytest
import torch
from torch.distributions import MultivariateNormal

import vaekit
from vaekit.config import ModelConfig
from vaekit.errors import ConfigError
from vaekit.likelihoods import BetaBinomial, DiscretizedLogistic, QuantizedCategorical

D, L, SIGMA = 5, 2, 0.5


def _linear_gaussian(W: torch.Tensor, b: torch.Tensor, sigma: float, var_scale: float = 1.0):
    """A VAE with linear encoder/decoder set to the model x = W z + b + sigma * e, z ~ N(0, I).

    The encoder mean is the exact posterior mean; its variance is the diagonal of the exact posterior
    covariance times ``var_scale`` (exact when W has orthogonal columns and var_scale = 1).
    """
    model = vaekit.VAE(ModelConfig(data_shape=(D,), latent_dim=L, hidden_dims=(), likelihood="gaussian"))
    M = W.T @ W + sigma**2 * torch.eye(L)  # (L, L)
    A = torch.linalg.solve(M, W.T)  # posterior mean map, (L, D)
    cov = sigma**2 * torch.linalg.inv(M)  # exact posterior covariance, (L, L)
    with torch.no_grad():
        enc = model.encoder.net[0]
        enc.weight.zero_()
        enc.weight[:L] = A
        enc.bias[:L] = -A @ b
        enc.bias[L:] = torch.log(torch.diagonal(cov) * var_scale)
        dec = model.decoder.net[0]
        dec.weight.copy_(W)
        dec.bias.copy_(b)
        model.likelihood.log_scale.fill_(math.log(sigma))
    marginal = MultivariateNormal(b, W @ W.T + sigma**2 * torch.eye(D))
    return model.eval(), marginal


def _data(marginal, n=200, seed=0):
    torch.manual_seed(seed)
    return marginal.sample((n,))


def test_exact_posterior_gives_exact_log_likelihood():
    # Orthogonal columns -> diagonal exact posterior, so q = p(z|x) and every bound is tight.
    Q, _ = torch.linalg.qr(torch.randn(D, L, generator=torch.Generator().manual_seed(0)))
    W = Q * torch.tensor([2.0, 0.7])
    b = torch.linspace(-1, 1, D)
    model, marginal = _linear_gaussian(W, b, SIGMA)
    x = _data(marginal)
    exact = marginal.log_prob(x)
    g = torch.Generator().manual_seed(1)
    # With q = p(z|x) the log importance weight log p(x, z) - log q(z|x) equals log p(x) for every z,
    # so even one sample is exact.
    torch.testing.assert_close(model.iwae(x, 1, generator=g).detach(), exact, atol=1e-4, rtol=0)
    torch.testing.assert_close(model.log_likelihood(x, k=7, generator=g), exact, atol=1e-4, rtol=0)
    # The ELBO with closed-form KL is a different estimator with the same mean.
    elbo = model.elbo(x, generator=g, n_samples=4000).detach()
    assert abs(elbo.mean() - exact.mean()) < 0.01
    torch.testing.assert_close(elbo, exact, atol=0.15, rtol=0)


def test_iwae_converges_to_exact_log_likelihood_for_large_k():
    # Generic W: the diagonal q is not the posterior, the ELBO is loose, IWAE with large k is not.
    W = torch.randn(D, L, generator=torch.Generator().manual_seed(3)) * 1.5
    b = torch.zeros(D)
    model, marginal = _linear_gaussian(W, b, SIGMA, var_scale=2.0)
    x = _data(marginal, n=100)
    exact = marginal.log_prob(x)
    g = torch.Generator().manual_seed(2)
    elbo_gap = (exact - model.elbo(x, generator=g, n_samples=64).detach()).mean()
    assert elbo_gap > 0.2  # the check below would be vacuous if the ELBO were already tight
    ll = model.log_likelihood(x, k=5000, generator=g, max_elements=50_000)  # forces many chunks
    per_sample_error = (ll - exact).abs().mean()
    assert per_sample_error < 0.05, f"mean |IWAE_5000 - log p(x)| = {per_sample_error:.4f} nats"


def test_iwae_bounds_are_ordered_and_non_decreasing_in_k():
    W = torch.randn(D, L, generator=torch.Generator().manual_seed(4))
    model, marginal = _linear_gaussian(W, torch.zeros(D), SIGMA, var_scale=3.0)
    x = _data(marginal, n=300)
    exact = marginal.log_prob(x).mean()
    g = torch.Generator().manual_seed(5)
    elbo = model.elbo(x, generator=g, n_samples=200).detach().mean()
    bounds = [model.iwae(x, k, generator=g).detach().mean() for k in (1, 4, 16, 64, 256)]
    assert abs(bounds[0] - elbo) < 0.1  # IWAE_1 is a Monte Carlo ELBO
    assert all(b2 >= b1 for b1, b2 in zip(bounds, bounds[1:])), bounds
    assert bounds[-1] > elbo + 0.3
    assert bounds[-1] <= exact + 0.02  # still a lower bound (up to Monte Carlo noise)


def test_analytic_kl_matches_monte_carlo():
    model = vaekit.VAE(ModelConfig(data_shape=(4,), latent_dim=3, hidden_dims=(8,), likelihood="gaussian")).initialize(0)
    x = torch.randn(6, 4, generator=torch.Generator().manual_seed(0))
    q = model.encode(x)
    analytic = model.prior.kl_per_dim(q).sum(-1).detach()
    z = model.reparameterize(q, 200_000, torch.Generator().manual_seed(1))  # (n, batch, latent)
    mc = (q.log_prob(z) - model.prior.log_prob(z)).mean(0).detach()
    torch.testing.assert_close(mc, analytic, atol=0.01, rtol=0.01)
    torch.testing.assert_close(analytic, torch.distributions.kl_divergence(q, model.prior.distribution()).detach())


def test_objective_terms_are_the_negative_elbo_at_beta_1():
    model = vaekit.VAE(ModelConfig(data_shape=(4,), latent_dim=2, hidden_dims=(8,), likelihood="gaussian")).initialize(0)
    x = torch.randn(16, 4, generator=torch.Generator().manual_seed(0))
    obj = model.objective(x, generator=torch.Generator().manual_seed(1))
    elbo = model.elbo(x, generator=torch.Generator().manual_seed(1))
    torch.testing.assert_close(obj.neg_elbo, -elbo)
    torch.testing.assert_close(obj.loss, obj.neg_elbo.mean())
    # beta scales only the KL term
    beta = model.objective(x, kl_weight=4.0, generator=torch.Generator().manual_seed(1))
    torch.testing.assert_close(beta.loss, (obj.reconstruction_nll + 4.0 * obj.kl).mean())


def test_free_bits_floor_per_dimension():
    cfg = ModelConfig(data_shape=(4,), latent_dim=3, hidden_dims=(8,), likelihood="gaussian", free_bits=5.0)
    model = vaekit.VAE(cfg).initialize(0)
    x = torch.randn(16, 4, generator=torch.Generator().manual_seed(0))
    obj = model.objective(x, generator=torch.Generator().manual_seed(1))
    # fresh model: KL per dim far below 5 nats, so the KL term is the floor 3 * 5 and carries no gradient
    torch.testing.assert_close(obj.loss, obj.reconstruction_nll.mean() + 15.0)


def test_iwae_training_objective_is_the_iwae_bound():
    cfg = ModelConfig(data_shape=(4,), latent_dim=2, hidden_dims=(8,), likelihood="gaussian", iwae_k=8)
    model = vaekit.VAE(cfg).initialize(0)
    x = torch.randn(10, 4, generator=torch.Generator().manual_seed(0))
    obj = model.objective(x, generator=torch.Generator().manual_seed(3))
    bound = model.iwae(x, 8, generator=torch.Generator().manual_seed(3))
    torch.testing.assert_close(obj.extra["iwae_bound"], bound)
    torch.testing.assert_close(obj.loss, -bound.mean())


@pytest.mark.parametrize("levels", [256, 17])
def test_discretized_logistic_is_normalised(levels):
    loc = torch.tensor([-1.2, -0.3, 0.0, 0.9])
    log_scale = torch.tensor([-3.0, -1.0, 0.5, -6.0])
    dist = DiscretizedLogistic(loc[:, None], log_scale[:, None], levels)
    grid = torch.linspace(0, 1, levels)[None, :].expand(4, levels)
    total = dist.log_prob(grid).exp().sum(-1)
    torch.testing.assert_close(total, torch.ones(4), atol=2e-3, rtol=0)


@pytest.mark.parametrize("levels", [256, 5])
def test_beta_binomial_matches_scipy_and_is_normalised(levels):
    stats = pytest.importorskip("scipy.stats")
    alpha = torch.tensor([0.05, 0.7, 3.0, 250.0], dtype=torch.float64)
    beta = torch.tensor([0.2, 0.7, 40.0, 1.5], dtype=torch.float64)
    dist = BetaBinomial(alpha[:, None], beta[:, None], levels)
    k = torch.arange(levels, dtype=torch.float64)
    lp = dist.log_prob(k[None, :] / (levels - 1))  # (4, levels)
    expected = stats.betabinom.logpmf(k.numpy()[None, :], levels - 1, alpha.numpy()[:, None], beta.numpy()[:, None])
    np.testing.assert_allclose(lp.numpy(), expected, rtol=0, atol=1e-8)
    torch.testing.assert_close(lp.exp().sum(-1), torch.ones(4, dtype=torch.float64))
    torch.testing.assert_close(BetaBinomial(alpha, beta, levels).log_prob_table(), lp)
    torch.testing.assert_close(dist.mean.squeeze(-1), alpha / (alpha + beta))


def test_beta_binomial_likelihood_expresses_bimodal_pixels():
    # A pixel that is black half the time and white half the time: the beta-binomial can put ~half its mass
    # on each end (alpha, beta -> 0); the best discretized logistic cannot.
    from vaekit.likelihoods import BetaBinomialLikelihood

    lik = BetaBinomialLikelihood((1,))
    dist = lik(torch.full((1, 2, 1), -8.0))  # softplus(-8) + 1e-3: alpha = beta ~ 0.0013
    ends = dist.base_dist.log_prob(torch.tensor([[0.0], [1.0]])).exp()
    assert ends.min() > 0.49
    draws = lik.sample(lik(torch.full((4000, 2, 1), -8.0)), torch.Generator().manual_seed(0))
    at_ends = (draws == 0) | (draws == 1)
    assert at_ends.float().mean() > 0.97 and 0.45 < draws.mean() < 0.55
    assert torch.allclose(draws * 255, torch.round(draws * 255), atol=1e-4)


def test_quantized_categorical_is_normalised_and_indexes_levels():
    logits = torch.randn(3, 256, generator=torch.Generator().manual_seed(0))
    dist = QuantizedCategorical(logits)
    grid = torch.linspace(0, 1, 256)
    lp = torch.stack([dist.log_prob(torch.full((3,), v)) for v in grid.tolist()], -1)
    torch.testing.assert_close(lp.exp().sum(-1), torch.ones(3))
    torch.testing.assert_close(lp, torch.log_softmax(logits, -1))


def test_bernoulli_log_prob_is_negative_cross_entropy():
    model = vaekit.VAE(ModelConfig(data_shape=(6,), latent_dim=2, hidden_dims=(4,))).initialize(0)
    z = torch.randn(5, 2, generator=torch.Generator().manual_seed(0))
    x = torch.rand(5, 6, generator=torch.Generator().manual_seed(1)).round()
    logits = model.decoder(z)[:, 0]
    expected = -torch.nn.functional.binary_cross_entropy_with_logits(logits, x, reduction="none").sum(-1)
    torch.testing.assert_close(model.decode(z).log_prob(x), expected)


def _encoder_grads(model, x, estimator: str, k: int, reps: int, seed: int = 0):
    """Encoder and decoder gradients of the IWAE-k objective, one per replicate (fresh noise each time)."""
    model.config = dataclasses.replace(model.config, iwae_k=k, iwae_gradient=estimator)
    model.train()
    g = torch.Generator().manual_seed(seed)
    enc, dec, losses = [], [], []
    for _ in range(reps):
        model.zero_grad()
        loss = model.objective(x, generator=g).loss
        loss.backward()
        enc.append(torch.cat([p.grad.flatten() for p in model.encoder.parameters()]))
        dec.append(torch.cat([p.grad.flatten() for p in model.decoder.parameters()]))
        losses.append(loss.item())
    return torch.stack(enc), torch.stack(dec), losses


def test_dreg_is_unbiased_has_lower_variance_and_keeps_the_bound():
    # Non-orthogonal W and a posterior variance off by 2x: q != p(z|x), so both estimators have work to do.
    W = torch.tensor([[1.5, 0.3], [0.2, -1.0], [0.7, 0.9], [-0.4, 0.5], [1.0, 0.0]])
    b = torch.linspace(-1, 1, D)
    model, marginal = _linear_gaussian(W, b, SIGMA, var_scale=2.0)
    x = _data(marginal, n=4)
    e_iwae, d_iwae, l_iwae = _encoder_grads(model, x, "iwae", k=8, reps=400)
    e_dreg, d_dreg, l_dreg = _encoder_grads(model, x, "dreg", k=8, reps=400)
    # Same noise stream: the reported loss (the bound) is the same number under either estimator.
    assert l_iwae == pytest.approx(l_dreg, rel=1e-5)
    # The decoder's gradient is the IWAE gradient in both cases, draw for draw.
    torch.testing.assert_close(d_iwae, d_dreg, rtol=1e-4, atol=1e-5)
    # Encoder: same expectation (within 4 standard errors of the difference), smaller variance.
    se = ((e_iwae.var(0) + e_dreg.var(0)) / e_iwae.shape[0]).sqrt()
    assert bool(((e_iwae.mean(0) - e_dreg.mean(0)).abs() <= 4 * se + 1e-6).all())
    assert e_dreg.var(0).sum() < 0.5 * e_iwae.var(0).sum()


def test_dreg_encoder_gradient_vanishes_at_the_exact_posterior():
    # q = p(z|x): every importance weight equals p(x), so DReG's encoder gradient is exactly 0 for every
    # draw, while the plain IWAE estimator's is noise around 0 (Tucker et al. 2019, sec. 5).
    Q, _ = torch.linalg.qr(torch.randn(D, L, generator=torch.Generator().manual_seed(0)))
    model, marginal = _linear_gaussian(Q * torch.tensor([2.0, 0.7]), torch.linspace(-1, 1, D), SIGMA)
    x = _data(marginal, n=4)
    e_dreg, _, _ = _encoder_grads(model, x, "dreg", k=4, reps=20)
    e_iwae, _, _ = _encoder_grads(model, x, "iwae", k=4, reps=20)
    assert float(e_dreg.abs().max()) < 1e-4
    assert float(e_iwae.abs().max()) > 1e-2


def test_iwae_gradient_is_validated():
    with pytest.raises(ConfigError, match="iwae_gradient"):
        ModelConfig(data_shape=(D,), iwae_gradient="reinforce")
