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
