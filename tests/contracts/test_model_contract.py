"""One contract suite over every net x likelihood (x prior), for the VAE and the Autoencoder, at tiny sizes."""

from __future__ import annotations

import itertools

import pytest
import torch

import vaekit
from vaekit import CheckpointError, DataError
from vaekit.config import DataSpec, ModelConfig
from vaekit.registry import LIKELIHOODS, NETS, PRIORS
from vaekit.data import Dataset

from ..conftest import make_images

SHAPES = {"mlp": (1, 7, 9), "conv": (3, 7, 9)}  # odd sizes on purpose: conv stages must round-trip them
# An Autoencoder is not trained against a prior: it takes the standard normal only (refusal tested below).
# The text pair (net "sequence" with likelihood "tokens": token ids, not images) has its own suite in tests/test_text.py.
TEXT = {"sequence", "tokens"}
COMBOS = [(net, lik, prior, cls) for net, lik, prior, cls in itertools.product(NETS, LIKELIHOODS, PRIORS, ("VAE", "Autoencoder"))
          if (cls == "VAE" or prior == "standard_normal") and net not in TEXT and lik not in TEXT]


def _ids(c):
    return "-".join(c)


def _build(net, lik, prior, cls, seed=0):
    shape = SHAPES[net]
    options = {"channels": (4, 8), "residual_blocks": 1} if net == "conv" else None
    cfg = ModelConfig(data_shape=shape, latent_dim=3, net=net, hidden_dims=(16,), net_options=options,
                      likelihood=lik, prior=prior)
    model = getattr(vaekit, cls)(cfg, data_spec=DataSpec(kind="image", shape=shape, levels=256, name="tiny"))
    return model.initialize(seed)


def _data(net, n=12):
    shape = SHAPES[net]
    return Dataset(make_images(n, shape, seed=3), None, DataSpec(kind="image", shape=shape, levels=256, name="tiny"))


@pytest.fixture(params=COMBOS, ids=_ids)
def combo(request):
    return request.param


@pytest.mark.parametrize("prior", [p for p in PRIORS if p != "standard_normal"])
def test_an_autoencoder_refuses_a_learned_prior(prior):
    with pytest.raises(vaekit.ConfigError, match="not trained against a prior"):
        _build("mlp", "bernoulli", prior, "Autoencoder")


def test_shapes(combo):
    net, lik, prior, cls = combo
    model = _build(*combo)
    x = _data(net).x[:5]
    q = model.encode(x)
    assert q.batch_shape == (5,) and q.event_shape == (3,)
    p = model.decode(q.mean)
    assert p.batch_shape == (5,) and p.event_shape == x.shape[1:]
    assert model.decode(torch.zeros(2, 5, 3)).batch_shape == (2, 5)
    assert p.log_prob(x).shape == (5,)
    assert model.sample(4, generator=torch.Generator().manual_seed(0)).shape == (4, *x.shape[1:])
    assert model.sample(2, mean=False, generator=torch.Generator().manual_seed(0)).shape == (2, *x.shape[1:])
    assert model.reconstruct(x).shape == x.shape
    assert model.embed(x).shape == (5, 3)
    assert model.interpolate(x[0], x[1], steps=6).shape == (6, *x.shape[1:])
    # flat input of the right size is accepted for any data shape
    assert model.embed(x.flatten(1)).shape == (5, 3)


def test_sampled_values_lie_in_support(combo):
    net, lik, prior, cls = combo
    model = _build(*combo)
    draws = model.sample(3, mean=False, generator=torch.Generator().manual_seed(1))
    if lik == "bernoulli":
        assert set(draws.unique().tolist()) <= {0.0, 1.0}
    if lik in ("discretized_logistic", "beta_binomial", "categorical256"):
        assert draws.min() >= 0 and draws.max() <= 1
        assert torch.allclose(draws * 255, torch.round(draws * 255), atol=1e-4)


def test_finite_loss_and_gradients(combo):
    net, lik, prior, cls = combo
    model = _build(*combo)
    obj = model.objective(_data(net).x, generator=torch.Generator().manual_seed(0))
    assert obj.loss.shape == () and torch.isfinite(obj.loss)
    assert obj.reconstruction_nll.shape == (12,) and obj.kl.shape == (12,)
    obj.loss.backward()
    grads = [p.grad for p in model.parameters() if p.requires_grad]
    assert all(g is not None and torch.isfinite(g).all() for g in grads)
    assert any(g.abs().sum() > 0 for g in grads)


def test_determinism(combo):
    net, lik, prior, cls = combo
    a, b = _build(*combo, seed=5), _build(*combo, seed=5)
    x = _data(net).x
    oa = a.objective(x, generator=torch.Generator().manual_seed(9))
    ob = b.objective(x, generator=torch.Generator().manual_seed(9))
    assert torch.equal(oa.loss, ob.loss)
    assert torch.equal(a.sample(3, generator=torch.Generator().manual_seed(2)),
                       b.sample(3, generator=torch.Generator().manual_seed(2)))
    c = _build(*combo, seed=6)
    assert not torch.equal(c.objective(x, generator=torch.Generator().manual_seed(9)).loss, oa.loss)


def test_save_load_identical(combo, tmp_path):
    net, lik, prior, cls = combo
    model = _build(*combo)
    with torch.no_grad():  # move the Gaussian log-scale off its init so saving it is really tested
        for p in model.parameters():
            p.add_(0.01)
    vaekit.save(model, tmp_path / "run")
    assert sorted(p.name for p in (tmp_path / "run").iterdir()) == ["config.json", "model.safetensors"]
    loaded = vaekit.load(tmp_path / "run")
    assert type(loaded) is type(model)
    assert loaded.config == model.config and loaded.data_spec == model.data_spec
    sd_a, sd_b = model.state_dict(), loaded.state_dict()
    assert sd_a.keys() == sd_b.keys() and all(torch.equal(sd_a[k], sd_b[k]) for k in sd_a)
    x = _data(net).x[:4]
    model.eval()
    assert torch.equal(model.reconstruct(x), loaded.reconstruct(x))


def test_corrupt_weights_raise_checkpoint_error(combo, tmp_path):
    model = _build(*combo)
    vaekit.save(model, tmp_path / "run")
    w = tmp_path / "run" / "model.safetensors"
    w.write_bytes(w.read_bytes()[: len(w.read_bytes()) // 2])
    with pytest.raises(CheckpointError, match="corrupt"):
        vaekit.load(tmp_path / "run")


def test_wrong_input_shape_is_a_data_error(combo):
    net, *_ = combo
    model = _build(*combo)
    with pytest.raises(DataError, match=r"x has shape \(2, 5\)"):
        model.encode(torch.zeros(2, 5))


def test_fit_run_directory_file_set(tmp_path):
    model = _build("mlp", "bernoulli", "standard_normal", "VAE")
    vaekit.fit(model, _data("mlp", 40), epochs=2, batch_size=8, out=tmp_path / "run", progress=False)
    files = sorted(str(p.relative_to(tmp_path / "run")) for p in (tmp_path / "run").rglob("*"))
    assert files == [
        "checkpoint", "checkpoint/best.safetensors", "checkpoint/model.safetensors",
        "checkpoint/optimizer.safetensors", "checkpoint/state.json",
        "config.json", "metrics.csv", "model.safetensors",
    ]
