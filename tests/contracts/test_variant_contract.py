"""The contract suite over the config variants of the one VAE (and M1+M2), at tiny sizes.

Each variant is a config field, not a subclass: label conditioning (CVAE, semi-supervised M2), missing
values, the denoising criterion, the IWAE objective, free bits, the autoencoder, and the stacked M1+M2.
Every variant must give shapes, finite losses and gradients, seeded determinism, train through the one
``fit`` and come back identical from its run directory.
"""

from __future__ import annotations

import pytest
import torch

import vaekit
from vaekit.config import DataSpec, ModelConfig
from vaekit.data import Dataset

SHAPE = (1, 4, 4)
SPEC = DataSpec(kind="image", shape=SHAPE, levels=256, name="tiny", label_names=("a", "b", "c"))
BASE = dict(data_shape=SHAPE, latent_dim=2, hidden_dims=(12,), likelihood="bernoulli")

VARIANTS = {
    "plain": dict(),
    "conditional": dict(conditioning="conditional", num_classes=3),
    "semi_supervised": dict(conditioning="semi_supervised", num_classes=3, classifier_weight=2.0),
    "adgm": dict(conditioning="semi_supervised", num_classes=3, auxiliary_dim=2),
    "missing": dict(missing="ignore"),
    "corruption_gaussian": dict(corruption="gaussian", corruption_level=0.3),
    "corruption_mask": dict(corruption="mask", corruption_level=0.25),
    "iwae": dict(iwae_k=3),
    "free_bits": dict(free_bits=0.5),
    "conv_residual": dict(net="conv", net_options={"channels": (4,), "residual_blocks": 1}),
    "autoencoder": dict(),
    "stacked": dict(),
}


def _data(name: str, n: int = 24) -> Dataset:
    g = torch.Generator().manual_seed(3)
    x = torch.rand(n, *SHAPE, generator=g)
    if name == "missing":
        x[torch.rand(x.shape, generator=g) < 0.2] = float("nan")
    y = torch.arange(n) % 3
    if name in ("semi_supervised", "adgm", "stacked"):
        y = torch.where(torch.arange(n) < 9, y, torch.full_like(y, -1))  # 3 labels per class, the rest unknown
    return Dataset(x, y, SPEC)


def _build(name: str, seed: int = 0):
    if name == "autoencoder":
        return vaekit.Autoencoder(ModelConfig(**BASE), data_spec=SPEC).initialize(seed)
    if name == "stacked":
        m1 = vaekit.VAE(ModelConfig(**BASE), data_spec=SPEC).initialize(seed)
        return vaekit.StackedVAE.on(m1, hidden_dims=(8,), latent_dim=2).initialize(seed)
    return vaekit.VAE(ModelConfig(**{**BASE, **VARIANTS[name]}), data_spec=SPEC).initialize(seed)


def _labels(model, data: Dataset):
    return {"y": data.y} if model.conditional else {}


@pytest.fixture(params=sorted(VARIANTS))
def variant(request):
    return request.param


def test_shapes_and_verbs(variant):
    model, data = _build(variant), _data(variant)
    x = data.x[:5]
    q = model.encode(x)
    assert q.batch_shape == (5,) and q.event_shape == (2,)
    y = torch.tensor([0, 1, 2, 0, 1]) if model.conditional else None
    assert model.decode(q.mean, y).batch_shape == (5,)
    assert model.sample(4, generator=torch.Generator().manual_seed(0)).shape == (4, *SHAPE)
    assert model.reconstruct(x).shape == (5, *SHAPE)
    assert model.embed(x).shape == (5, 2)
    assert model.interpolate(x[0], x[1], steps=3).shape == (3, *SHAPE)
    if model.has_density:
        clean = torch.nan_to_num(x, nan=0.5)
        elbo, iw = model.elbo(clean), model.iwae(clean, 16, generator=torch.Generator().manual_seed(0))
        assert elbo.shape == iw.shape == (5,) and torch.isfinite(iw).all()
    else:
        with pytest.raises(vaekit.ConfigError):
            model.elbo(x)


def test_finite_loss_gradients_and_determinism(variant):
    data = _data(variant)
    a, b = _build(variant, seed=4), _build(variant, seed=4)
    oa = a.objective(data.x, generator=torch.Generator().manual_seed(1), **_labels(a, data))
    ob = b.objective(data.x, generator=torch.Generator().manual_seed(1), **_labels(b, data))
    assert torch.isfinite(oa.loss) and torch.equal(oa.loss, ob.loss)
    assert oa.reconstruction_nll.shape == oa.kl.shape == (len(data),)
    oa.loss.backward()
    grads = [p.grad for p in a.parameters() if p.requires_grad]
    assert grads and all(g is not None and torch.isfinite(g).all() for g in grads)
    assert any(float(g.abs().sum()) > 0 for g in grads)


def test_fits_resumes_and_round_trips(variant, tmp_path):
    data = _data(variant)
    model = _build(variant)
    kw = dict(epochs=2, batch_size=8, seed=0, progress=False, val_fraction=0.25)
    run = vaekit.fit(model, data, out=tmp_path / "run", **kw)
    assert len(run) == 2 and run.model is model and run.path == tmp_path / "run"
    loaded = vaekit.load_run(tmp_path / "run")
    assert type(loaded.model) is type(model) and loaded.train_config == run.train_config
    sd_a, sd_b = model.state_dict(), loaded.model.state_dict()
    assert sd_a.keys() == sd_b.keys() and all(torch.equal(sd_a[k], sd_b[k]) for k in sd_a)
    x = torch.nan_to_num(data.x[:4], nan=0.5)
    assert torch.equal(model.reconstruct(x), loaded.model.reconstruct(x))
    # one more epoch from the checkpoint equals three straight epochs
    resumed = _build(variant)
    vaekit.fit(resumed, data, out=tmp_path / "run", resume=True, **{**kw, "epochs": 3})
    straight = _build(variant)
    vaekit.fit(straight, data, **{**kw, "epochs": 3})
    assert all(torch.equal(v, straight.state_dict()[k]) for k, v in resumed.state_dict().items())
