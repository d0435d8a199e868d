"""Label conditioning in the core: bounds over labels, label hiding, and how fit feeds labels to the model."""

from __future__ import annotations

import math

import pytest
import torch

import vaekit
from vaekit.config import DataSpec, ModelConfig
from vaekit.data import Dataset
from vaekit.errors import ConfigError, DataError
from vaekit.likelihoods import HeteroscedasticGaussianLikelihood
from vaekit.model import VAE
from vaekit.data.samplers import TrainBatches, validation_split
from torch.distributions import Normal

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _model(conditioning="semi_supervised", k=3, d=5):
    torch.manual_seed(0)
    return VAE(ModelConfig(data_shape=(d,), latent_dim=2, hidden_dims=(8,), likelihood="gaussian",
                           conditioning=conditioning, num_classes=k)).eval()


@pytest.mark.parametrize("conditioning", ["semi_supervised", "conditional"])
def test_bound_without_labels_sums_the_per_class_bounds_exactly(conditioning):
    m = _model(conditioning)
    x = torch.randn(4, 5)

    def per_class(c):
        return m.iwae(x, 20, y=torch.full((4,), c), generator=torch.Generator().manual_seed(c))

    bounds = torch.stack([per_class(c) for c in range(3)])
    # the same noise per class: iwae(x) == log sum_y p(y) p_hat(x|y) with uniform p(y)
    calls = iter(range(3))
    original = m._iwae

    def seeded(xx, yy, k, generator, max_elements):
        return original(xx, yy, k, torch.Generator().manual_seed(next(calls)), max_elements)

    m._iwae = seeded
    marginal = m.iwae(x, 20)
    torch.testing.assert_close(marginal, torch.logsumexp(bounds, 0) - math.log(3))
    assert (marginal <= bounds.max(0).values + 1e-5).all()


@torch.no_grad()
def test_iwae_with_labels_is_above_the_elbo_and_grows_with_k():
    m = _model("conditional")
    x, y = torch.randn(64, 5), torch.randint(3, (64,))
    torch.manual_seed(1)
    elbo = m.elbo(x, y=y, n_samples=200).mean()
    iw = [m.iwae(x, k, y=y, generator=torch.Generator().manual_seed(2)).mean() for k in (1, 10, 200)]
    assert iw[0] < iw[1] < iw[2]
    assert float(iw[2]) >= float(elbo) - 1e-3


def test_labels_out_of_range_or_fractional_are_clear_errors():
    m = _model()
    with pytest.raises(DataError, match="out of range"):
        m.objective(torch.randn(2, 5), y=torch.tensor([0, 3]))
    with pytest.raises(DataError, match="integers"):
        m.objective(torch.randn(2, 5), y=torch.tensor([0.5, 1.0]))
    with pytest.raises(DataError, match=r"expected \(2,\)"):
        m.objective(torch.randn(2, 5), y=torch.tensor([0, 1, 2]))
    with pytest.raises(ConfigError, match="pass y"):
        m.decode(torch.zeros(1, 2))
    with pytest.raises(ConfigError, match="conditioning"):
        ModelConfig(data_shape=(3,), conditioning="semi_supervised")  # no num_classes
    with pytest.raises(ConfigError, match="iwae_k"):
        ModelConfig(data_shape=(3,), conditioning="conditional", num_classes=2, iwae_k=5)
    with pytest.raises(ConfigError, match="Autoencoder"):
        vaekit.Autoencoder(ModelConfig(data_shape=(3,), conditioning="conditional", num_classes=2))


def test_hide_labels_keeps_a_seeded_per_class_subset():
    spec = DataSpec(kind="array", shape=(2,))
    d = Dataset(torch.randn(300, 2), torch.arange(300) % 3, spec)
    a, b = d.hide_labels(per_class=4, seed=1), d.hide_labels(per_class=4, seed=1)
    assert a.n_labelled == 12 and torch.equal(a.y, b.y)
    assert torch.equal(torch.bincount(a.y[a.y >= 0]), torch.tensor([4, 4, 4]))
    kept = a.y >= 0
    assert torch.equal(a.y[kept], d.y[kept])
    assert not torch.equal(a.y, d.hide_labels(per_class=4, seed=2).y)
    assert d.hide_labels(fraction=0.1).n_labelled == 30
    with pytest.raises(DataError, match="only 100"):
        d.hide_labels(per_class=101)
    with pytest.raises(DataError, match="exactly one"):
        d.hide_labels(per_class=1, fraction=0.5)


def test_semi_supervised_batches_carry_every_label_and_the_split_keeps_them():
    spec = DataSpec(kind="array", shape=(2,))
    d = Dataset(torch.randn(200, 2), torch.arange(200) % 2, spec).hide_labels(per_class=3, seed=0)
    m = VAE(ModelConfig(data_shape=(2,), latent_dim=2, hidden_dims=(4,), likelihood="gaussian",
                        conditioning="semi_supervised", num_classes=2))
    assert m.data_needs.keep_labelled and m.data_needs.top_up_labelled
    train, val = validation_split(d, 0.2, 0, keep_labelled=m.data_needs.keep_labelled)
    assert train.n_labelled == 6 and val.n_labelled == 0 and len(val) == round(0.2 * 194)
    batches = [(b.x, b.y) for b in TrainBatches(train, 32, torch.Generator().manual_seed(0), m.data_needs)]
    for xb, yb in batches:
        assert len(xb) == len(yb) and (yb >= 0).sum() >= 6  # the six labelled examples ride along
    seen = torch.cat([xb[:-6] for xb, _ in batches])
    assert len(seen) == len(train)  # one pass over the training examples per epoch


def test_labelled_per_batch_sets_the_mix_and_cycles_every_label():
    spec = DataSpec(kind="array", shape=(2,))
    d = Dataset(torch.randn(200, 2), torch.arange(200) % 2, spec).hide_labels(per_class=5, seed=0)
    m = VAE(ModelConfig(data_shape=(2,), latent_dim=2, hidden_dims=(4,), likelihood="gaussian",
                        conditioning="semi_supervised", num_classes=2))
    labelled = set(torch.nonzero(d.y >= 0)[:, 0].tolist())
    for per_batch in (3, 25):  # fewer than the 10 labels (cycled across batches), and more (repeated)
        batches = list(TrainBatches(d, 50, torch.Generator().manual_seed(0), m.data_needs,
                                    labelled_per_batch=per_batch))
        assert [len(b.x) for b in batches] == [50 + per_batch] * 4
        assert all((b.y[50:] >= 0).all() for b in batches)
        tops = torch.cat([b.x[50:] for b in batches])
        used = {i for i in range(len(d)) if d.y[i] >= 0 and (tops == d.x[i]).all(-1).any()}
        assert used == labelled  # 12 or 100 appended draws reach all ten labelled examples
    with pytest.raises(ConfigError, match="labelled_per_batch"):
        vaekit.TrainConfig(labelled_per_batch=0)
    run = vaekit.fit(m, d, epochs=1, batch_size=50, labelled_per_batch=4, seed=0, progress=False)
    assert run.train_config.labelled_per_batch == 4


def test_fit_refuses_unlabelled_data_for_conditioned_models():
    spec = DataSpec(kind="array", shape=(2,))
    cvae = VAE(ModelConfig(data_shape=(2,), latent_dim=2, hidden_dims=(4,), likelihood="gaussian",
                           conditioning="conditional", num_classes=2))
    with pytest.raises(DataError, match="has none"):
        vaekit.fit(cvae, Dataset(torch.randn(20, 2), None, spec), epochs=1, progress=False)
    partly = Dataset(torch.randn(20, 2), torch.arange(20) % 2, spec).hide_labels(per_class=2)
    with pytest.raises(DataError, match="needs the label of every example"):
        vaekit.fit(cvae, partly, epochs=1, progress=False)
    with pytest.raises(DataError, match="3 classes|has label 2"):
        vaekit.fit(cvae, Dataset(torch.randn(20, 2), torch.arange(20) % 3, spec), epochs=1, progress=False)


def test_heteroscedastic_gaussian_scores_like_a_normal_with_decoded_scale():
    lik = HeteroscedasticGaussianLikelihood((3,))
    params = torch.randn(4, 2, 3)
    x = torch.randn(4, 3)
    expected = torch.distributions.Normal(params[:, 0], params[:, 1].exp()).log_prob(x).sum(-1)
    torch.testing.assert_close(lik(params).log_prob(x), expected)
    assert lik.sample(lik(params), torch.Generator().manual_seed(0)).shape == (4, 3)


@torch.no_grad()
def test_a_cvae_without_labels_encodes_with_its_highest_elbo_class():
    m = _model("conditional")
    x = torch.randn(6, 5)
    scores = []
    for c in range(3):
        yc = torch.full((6,), c)
        q = m.encode(x, yc)
        scores.append(m.decode(q.mean, yc).log_prob(x) - m._kl_z(q, q.mean))
    best = torch.stack(scores).argmax(0)
    torch.testing.assert_close(m.embed(x), m.embed(x, best))
    torch.testing.assert_close(m.reconstruct(x), m.reconstruct(x, y=best))


def test_pictures_and_evaluation_of_conditioned_models():
    from vaekit.evaluation import evaluate
    from vaekit.model import StackedVAE
    from vaekit.tasks import generate

    spec = DataSpec(kind="array", shape=(5,))
    data = Dataset(torch.randn(40, 5), torch.arange(40) % 3, spec)
    for conditioning in ("semi_supervised", "conditional"):
        m = _model(conditioning)
        images, dims, _ = generate.traverse(m, steps=4)
        assert images.shape == (2, 4, 5)
        # a fixed class (default 0) decodes the grid; another class decodes it differently
        torch.testing.assert_close(generate.traverse(m, steps=4, y=0)[0], images)
        assert not torch.allclose(generate.manifold(m, steps=3, y=2), generate.manifold(m, steps=3, y=0))
        out = evaluate(m, data, k=5)
        assert math.isfinite(out["neg_elbo"]) and math.isfinite(out["nll"])
        assert out.get("conditional", False) == (conditioning == "conditional")
    m1 = VAE(ModelConfig(data_shape=(5,), latent_dim=3, hidden_dims=(8,), likelihood="gaussian"))
    with pytest.raises(ConfigError, match="no tractable bound"):
        evaluate(StackedVAE.on(m1, num_classes=3), data)


# ------------------------------------------------------------------ ADGM: an auxiliary latent (Maaloe et al. 2016)
def _adgm(aux=3):
    torch.manual_seed(0)
    return VAE(ModelConfig(data_shape=(5,), latent_dim=2, hidden_dims=(8,), likelihood="gaussian",
                           conditioning="semi_supervised", num_classes=3, auxiliary_dim=aux)).eval()


@torch.no_grad()
def test_adgm_bound_is_below_log_px_and_its_generative_model_is_m2s():
    """The auxiliary a only enters the bound: p(a|x,y,z) integrates out, so -ELBO (averaged over many
    draws of a, z) stays above -log p(x, y) and -log p(x), estimated by IWAE with many samples."""
    m = _adgm()
    x = torch.randn(6, 5)
    y = torch.tensor([0, 1, 2, 0, 1, 2])
    reps = 400
    xs, ys = x.repeat(reps, 1), y.repeat(reps)
    g = torch.Generator().manual_seed(0)
    lab = m.objective(xs, y=ys, generator=g)
    neg_elbo_lab = (lab.reconstruction_nll + lab.kl).view(reps, 6).mean(0)
    unl = m.objective(xs, y=torch.full_like(ys, -1), generator=g)
    neg_elbo_unl = (unl.reconstruction_nll + unl.kl).view(reps, 6).mean(0)
    log_pxy = m.iwae(x, 4000, y=y, generator=torch.Generator().manual_seed(1)) - math.log(3)  # + log p(y)
    log_px = m.iwae(x, 4000, generator=torch.Generator().manual_seed(2))
    assert (neg_elbo_lab >= -log_pxy - 0.05).all(), (neg_elbo_lab, -log_pxy)
    assert (neg_elbo_unl >= -log_px - 0.05).all(), (neg_elbo_unl, -log_px)
    # and the auxiliary costs something: the bound is looser than M2's would be with the same nets
    assert float(neg_elbo_unl.mean()) > float(-log_px.mean())


def test_adgm_trains_predicts_and_round_trips(tmp_path):
    from vaekit.tasks.semisupervised import apply_labels

    data = vaekit.datasets.load("digits").subset(range(600))
    semi = apply_labels(data, labelled_per_class=10, seed=0)
    model = VAE.for_data(semi, conditioning="semi_supervised", num_classes=10, hidden_dims=(32,), auxiliary_dim=8)
    run = vaekit.fit(model, semi, epochs=4, seed=0, val_fraction=0.0, progress=False)
    rows = run.history.rows
    assert rows[-1]["train_loss"] < rows[0]["train_loss"]
    probs = run.model.predict_proba(data.x[:50])
    torch.testing.assert_close(probs.sum(-1), torch.ones(50))
    assert float((run.model.predict(data.x[:300]) == data.y[:300]).float().mean()) > 0.3  # far above chance
    vaekit.save(run.model, tmp_path / "adgm")
    back = vaekit.load(tmp_path / "adgm")
    assert back.config.auxiliary_dim == 8
    torch.testing.assert_close(back.predict_proba(data.x[:50]), probs)
    assert back.sample(3, y=torch.tensor([1, 2, 3])).shape == (3, 1, 8, 8)


def test_auxiliary_dim_needs_semi_supervised_conditioning():
    with pytest.raises(ConfigError, match="auxiliary latent .* needs conditioning='semi_supervised'"):
        ModelConfig(data_shape=(5,), conditioning="conditional", num_classes=3, auxiliary_dim=4)


@torch.no_grad()
def test_adgm_auxiliary_terms_match_their_closed_form():
    """With p(a|x,y,z) = N(0, I) and q(a|x) = N(m, s^2) fixed, and q(y|a,x) not reading a, the ADGM bound is
    M2's plus log q(a|x) - log p(a) at the drawn a, for labelled and unlabelled examples alike."""
    m = _adgm(aux=2)
    width = m.classifier.head[0].in_features - 2
    m.classifier.head[0].weight[:, width:] = 0  # q(y|a,x) ignores a
    m.aux_prior.net[-1].weight.zero_()
    m.aux_prior.net[-1].bias.zero_()  # p(a|x,y,z) = N(0, I)
    m.classifier.q_a.weight.zero_()
    x, y = torch.randn(8, 5), torch.tensor([0, 1, 2, -1, -1, 0, -1, 2])

    def bound(bias):
        m.classifier.q_a.bias.copy_(torch.tensor(bias))
        o = m.objective(x, y=y, generator=torch.Generator().manual_seed(3))
        return o.reconstruction_nll + o.kl

    mean, logvar = torch.tensor([0.7, -1.2]), torch.tensor([-0.5, 0.4])
    neutral = bound([0.0, 0.0, 0.0, 0.0])  # q(a|x) = p(a): the auxiliary terms cancel draw by draw
    shifted = bound([*mean.tolist(), *logvar.tolist()])
    # the same noise: a = mean + s * eps where the neutral run had a = eps
    g = torch.Generator().manual_seed(3)
    m.classifier.q_a.bias.copy_(torch.tensor([*mean.tolist(), *logvar.tolist()]))
    lab = y >= 0
    # redraw eps in the objective's order: labelled z first, then a for every example
    _ = torch.randn(int(lab.sum()), 2, generator=g)
    eps = torch.randn(8, 2, generator=g)
    a = mean + torch.exp(0.5 * logvar) * eps
    log_q = Normal(mean, torch.exp(0.5 * logvar)).log_prob(a).sum(-1)
    log_p = Normal(0.0, 1.0).log_prob(a).sum(-1)
    torch.testing.assert_close(shifted - neutral, log_q - log_p, atol=1e-4, rtol=1e-4)
