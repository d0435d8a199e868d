"""Semi-supervised (M2, M1+M2) and conditional (CVAE) models: objectives, sampling, label files, tasks, CLI.

Quality floors use well-separated Gaussian blobs in 8-D (3 classes), so a few seconds of training
decide them; the CLI runs on the embedded 8x8 digits.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image

import vaekit
from vaekit.config import DataSpec
from vaekit.data import Dataset
from vaekit.errors import ConfigError, DataError
from vaekit.model import VAE, StackedVAE
from vaekit.tasks import semisupervised as semi

from ._cli import fails, invoke, ok

pytestmark = pytest.mark.usefixtures("one_torch_thread")

CENTRES = 4.0 * torch.eye(3, 8)  # (3 classes, 8 features)


def blobs(n: int, seed: int, *, ids: list[str] | None = None, names: tuple[str, ...] = ()) -> Dataset:
    """n points, class i % 3 around CENTRES[i] with unit noise."""
    g = torch.Generator().manual_seed(seed)
    y = torch.arange(n) % 3
    x = CENTRES[y] + torch.randn(n, 8, generator=g)
    return Dataset(x, y, DataSpec(kind="array", shape=(8,), name="blobs", label_names=names), ids=ids)


def nearest_centre(x: torch.Tensor) -> torch.Tensor:
    return torch.cdist(x, CENTRES).argmin(1)


def tiny(data, conditioning, **kw):
    kw = {"latent_dim": 2, "hidden_dims": (32,), **kw}
    return VAE.for_data(data, conditioning=conditioning, num_classes=3, **kw)


@pytest.fixture(scope="module")
def train_test():
    return blobs(600, 0), blobs(300, 1)


@pytest.fixture(scope="module")
def m2(train_test):
    train, _ = train_test
    data = train.hide_labels(per_class=5, seed=0)
    model = tiny(data, "semi_supervised", classifier_weight=10.0)
    vaekit.fit(model, data, epochs=20, batch_size=64, seed=0, progress=False)
    return model.eval()


@pytest.fixture(scope="module")
def cvae(train_test):
    train, _ = train_test
    model = tiny(train, "conditional")
    vaekit.fit(model, train, epochs=40, batch_size=64, seed=0, progress=False)
    return model.eval()


# ================================================================================================ quality floors
def test_m2_with_15_labels_classifies_held_out_blobs_far_above_chance(m2, train_test):
    _, test = train_test
    acc = (m2.predict(test.x) == test.y).float().mean().item()
    assert acc > 0.85, acc  # chance is 1/3
    p = m2.predict_proba(test.x)
    assert p.shape == (300, 3) and torch.allclose(p.sum(1), torch.ones(300), atol=1e-5)


def test_cvae_samples_land_near_the_requested_blob(cvae):
    g = torch.Generator().manual_seed(0)
    for k in range(3):
        x = cvae.sample(200, y=k, generator=g)
        assert x.shape == (200, 8)
        assert (nearest_centre(x) == k).float().mean() > 0.8, k


def test_cvae_analogies_keep_z_and_move_to_the_new_class(cvae, train_test):
    _, test = train_test
    style = test.x[:4]  # classes 0, 1, 2, 0
    out = semi.analogies(cvae, style, [2, 0, 1], y_style=test.y[:4])
    assert out.shape == (4, 3, 8)
    assert torch.equal(nearest_centre(out.reshape(-1, 8)).reshape(4, 3), torch.tensor([[2, 0, 1]] * 4))
    # each row keeps its own image's z: decoded with its own class, it is that image's reconstruction
    for i, (y, col) in enumerate(zip(test.y[:4].tolist(), (1, 2, 0, 1))):
        own = cvae.reconstruct(style[i : i + 1], y=test.y[i : i + 1])[0]
        assert torch.allclose(out[i, col], own, atol=1e-5), (i, y)


def test_stacked_vae_trains_m2_only_predicts_and_round_trips(train_test, tmp_path):
    train, test = train_test
    m1 = VAE.for_data(train, latent_dim=4, hidden_dims=(32,))
    vaekit.fit(m1, train, epochs=10, batch_size=64, seed=0, progress=False)
    data = train.hide_labels(per_class=5, seed=0)
    stacked = StackedVAE.on(m1, num_classes=3, latent_dim=2, hidden_dims=(32,))
    before = {k: v.clone() for k, v in stacked.features.state_dict().items()}
    vaekit.fit(stacked, data, epochs=15, batch_size=64, seed=0, progress=False)
    assert all(torch.equal(before[k], v) for k, v in stacked.features.state_dict().items())
    assert all(torch.equal(m1.state_dict()[k], v) for k, v in stacked.features.state_dict().items())
    pred = stacked.predict(test.x)
    assert (pred == test.y).float().mean() > 0.7
    assert stacked.sample(5, y=1).shape == (5, 8)
    vaekit.save(stacked, tmp_path / "run")
    back = vaekit.load(tmp_path / "run")
    assert type(back) is StackedVAE
    assert json.loads((tmp_path / "run" / "config.json").read_text())["class_name"] == "StackedVAE"
    assert torch.equal(back.predict(test.x), pred)
    assert torch.allclose(back.predict_proba(test.x), stacked.predict_proba(test.x))


# ================================================================================================ objectives
@pytest.mark.parametrize("y", [[0, 1, 2, 0], [-1, -1, -1, -1], [0, -1, 2, -1]], ids=["labelled", "unlabelled", "mixed"])
def test_semi_supervised_objective_is_finite_with_finite_gradients(y):
    data = blobs(4, 0)
    model = tiny(data, "semi_supervised")
    obj = model.objective(data.x, y=torch.tensor(y), generator=torch.Generator().manual_seed(0))
    assert obj.reconstruction_nll.shape == (4,) and obj.kl.shape == (4,)
    assert torch.isfinite(obj.loss) and torch.isfinite(obj.neg_elbo).all()
    obj.loss.backward()
    grads = [p.grad for p in model.parameters() if p.grad is not None]
    assert grads and all(torch.isfinite(g).all() for g in grads)
    assert torch.equal(obj.extra["labelled"], torch.tensor(y) >= 0)


def test_unlabelled_bound_is_the_q_weighted_labelled_bounds_minus_entropy():
    """Kingma et al. 2014, eq. 7: -U(x) = sum_y q(y|x) (-L(x, y)) - H(q(y|x)), checked class by class.

    The posterior variance is pinned near zero (log-variance in [-30, -29.9]), so z = mu up to ~1e-7
    and the Monte Carlo draws of the two computations agree: the identity must hold to float precision.
    """
    data = blobs(5, 3)
    model = tiny(data, "semi_supervised", logvar_min=-30.0, logvar_max=-29.9).initialize(1)
    x, n, K = data.x, 5, 3
    with torch.no_grad():
        unl = model.objective(x, y=torch.full((n,), -1))
        per_class = torch.stack([model.objective(x, y=torch.full((n,), c)).neg_elbo for c in range(K)])  # (K, n)
        q = model.predict_proba(x).T  # (K, n)
    entropy = -(q * q.log()).sum(0)
    expected = (q * per_class).sum(0) - entropy
    assert torch.allclose(unl.neg_elbo, expected, rtol=1e-5, atol=1e-4)
    # the same with -log p(y) = log K taken out of the per-class terms: + KL(q(y|x) || uniform)
    kl_uniform = (q * (q.log() + math.log(K))).sum(0)
    assert torch.allclose(unl.neg_elbo, (q * (per_class - math.log(K))).sum(0) + kl_uniform, rtol=1e-5, atol=1e-4)
    assert not torch.allclose(unl.neg_elbo, per_class.min(0).values)  # the check can fail: not just one class


def test_conditional_objective_needs_every_label_in_range():
    data = blobs(4, 0)
    model = tiny(data, "conditional")
    with pytest.raises(DataError, match="objective needs y"):
        model.objective(data.x)
    with pytest.raises(DataError, match="Label -1 is out of range.*0..2"):
        model.objective(data.x, y=torch.tensor([0, -1, 1, 2]))
    with pytest.raises(DataError, match="Label 3 is out of range"):
        tiny(data, "semi_supervised").objective(data.x, y=torch.tensor([0, 3, 1, 2]))
    with pytest.raises(DataError, match=r"expected \(4,\)"):
        model.objective(data.x, y=torch.tensor([0, 1]))


# ================================================================================================ sampling
def test_conditional_sampling_shapes_and_label_checks():
    data = blobs(4, 0)
    model = tiny(data, "conditional")
    assert model.sample(6, y=2).shape == (6, 8)
    assert model.sample(3, y=torch.tensor([0, 1, 2])).shape == (3, 8)
    assert model.sample(4).shape == (4, 8)  # classes drawn from the uniform p(y)
    with pytest.raises(DataError, match=r"expected \(3,\)"):
        model.sample(3, y=torch.tensor([0, 1]))
    with pytest.raises(DataError, match="Label 5 is out of range"):
        model.sample(2, y=5)
    with pytest.raises(ConfigError, match="not conditioned on labels"):
        VAE.for_data(data, latent_dim=2, hidden_dims=(8,)).sample(2, y=1)
    with pytest.raises(ConfigError, match="pass y"):
        model.decode(torch.zeros(2, 2))


def test_label_index_and_parse_labels_read_indices_ranges_and_names():
    data = blobs(4, 0, names=("cat", "dog", "eel"))
    model = tiny(data, "conditional")
    assert semi.label_index(model, "dog") == 1 and semi.label_index(model, 2) == 2
    assert semi.parse_labels(model, "0-1,eel") == [0, 1, 2]
    assert semi.parse_labels(model, None) == [0, 1, 2]
    with pytest.raises(DataError, match="'cow' is not a class of the data.*'cat', 'dog', 'eel'"):
        semi.label_index(model, "cow")
    with pytest.raises(DataError, match="'3' is out of range"):
        semi.parse_labels(model, "1-3")
    # integer class names that are not 0..K-1 (a table labelled 3, 5, 9): integers are names
    model = tiny(blobs(4, 0, names=("3", "5", "9")), "conditional")
    assert semi.label_index(model, "5") == 1
    with pytest.raises(DataError, match="'1' is not a class of the data; expected one of the classes 3, 5, 9"):
        semi.label_index(model, "1")
    with pytest.raises(ConfigError, match="needs a model conditioned on labels"):
        semi.label_index(VAE.for_data(data, latent_dim=2, hidden_dims=(8,)), "1")


# ================================================================================================ label files
def test_one_column_label_file_round_trips_with_or_without_header(tmp_path):
    data = blobs(6, 0)
    y = [2, -1, 0, -1, 1, 1]
    (tmp_path / "a.csv").write_text("label\n2\n-1\n0\n\n1\n1\n")  # an empty line is an unlabelled example
    (tmp_path / "b.csv").write_text("2\n-1\n0\n-1\n1\n1\n")
    (tmp_path / "c.txt").write_text("2\n\n0\n-1\n1.0\n1\n")
    np.save(tmp_path / "d.npy", np.array([2, np.nan, 0, np.nan, 1, 1]))
    np.save(tmp_path / "e.npy", np.array(y))
    for name in ("a.csv", "b.csv", "c.txt", "d.npy", "e.npy"):
        got = semi.read_label_file(tmp_path / name, data)
        assert got.dtype == torch.int64 and got.tolist() == y, name


def test_id_label_files_match_row_numbers_or_data_ids(tmp_path):
    (tmp_path / "rows.csv").write_text("id,label\n4,1\n0,2\n")
    assert semi.read_label_file(tmp_path / "rows.csv", blobs(5, 0)).tolist() == [2, -1, -1, -1, 1]
    (tmp_path / "rows.tsv").write_text("3\t0\n1\t2\n")  # no header, tab-separated
    assert semi.read_label_file(tmp_path / "rows.tsv", blobs(5, 0)).tolist() == [-1, 2, -1, 0, -1]
    data = blobs(3, 0, ids=["a/1.png", "a/2.png", "b/1.png"])
    (tmp_path / "ids.csv").write_text("file,class\nb/1.png,1\n./a/1.png,0\n")
    assert semi.read_label_file(tmp_path / "ids.csv", data).tolist() == [0, -1, 1]


def test_label_file_reads_class_names_of_a_labelled_image_folder(tmp_path):
    folder = tmp_path / "imgs"
    for cls in ("cat", "dog"):
        (folder / cls).mkdir(parents=True)
        for i in range(3):
            Image.fromarray(np.full((6, 6), 40 * i, dtype=np.uint8)).save(folder / cls / f"{i}.png")
    data = vaekit.datasets.load(str(folder))
    assert data.ids[0] == "cat/0.png" and data.spec.label_names == ("cat", "dog")
    (tmp_path / "y.csv").write_text("id,label\ndog/2.png,cat\ncat/0.png,1\n")
    assert semi.read_label_file(tmp_path / "y.csv", data).tolist() == [1, -1, -1, -1, -1, 0]
    (tmp_path / "bad.csv").write_text("id,label\ndog/9.png,cat\ncat/0.png,dog\n")
    with pytest.raises(DataError, match=r"bad.csv' has 1 unknown id: 'dog/9.png' \(line 2\).*such as 'cat/0.png'"):
        semi.read_label_file(tmp_path / "bad.csv", data)
    (tmp_path / "cow.csv").write_text("id,label\ncat/0.png,cow\n")
    with pytest.raises(DataError, match=r"cow.csv', line 2: 'cow' is not a class of the data; expected a class name "
                                        r"\('cat', 'dog'\) or index 0..1"):
        semi.read_label_file(tmp_path / "cow.csv", data)


def test_classify_output_reads_back_as_a_label_file(m2, train_test, tmp_path):
    _, test = train_test
    pred = semi.classify(m2, test)
    semi.write_predictions(pred, tmp_path / "p.csv")
    assert torch.equal(semi.read_label_file(tmp_path / "p.csv", test), m2.predict(test.x))


BAD_FILES = [
    ("count.csv", "1\n2\n0\n", r"count.csv' has 3 labels but data 'blobs' has 4 examples"),
    ("float.csv", "label\n1\n0\n3.5\n2\n", r"float.csv', line 4: '3.5' is not an integer class index"),
    ("text.csv", "1\n0\ncat\n2\n",
     r"text.csv', line 3: 'cat' is not an integer class index; the data has no class names"),
    ("neg.csv", "1\n-2\n0\n2\n", r"neg.csv', line 2: '-2' is negative.*-1 is the only negative label"),
    ("range.csv", "1\n0\n2\n3\n", r"range.csv', line 4: '3' is out of range: there are 3 classes"),
    ("unknown.csv", "id,label\n0,1\n7,2\n9,0\nx,1\n3,0\n",
     r"unknown.csv' has 3 unknown ids: '7' \(line 3\), '9' \(line 4\), 'x' \(line 5\); ids of data 'blobs' are "
     r"0-based row numbers 0..3"),
    ("dup.csv", "id,label\n0,1\n2,2\n0,0\n", r"dup.csv', line 4: id '0' was already given on line 2"),
    ("wide.csv", "1,2,3\n4,5,6\n", r"wide.csv', line 1 has 3 columns and no header"),
    ("empty.csv", "", r"empty.csv' is empty"),
    ("labels.json", "[1, 2]", r"labels.json' must end in .csv, .tsv, .txt, .npy"),
]


@pytest.mark.parametrize("name, text, match", BAD_FILES, ids=[b[0] for b in BAD_FILES])
def test_bad_label_files_say_which_file_line_and_problem(tmp_path, name, text, match):
    (tmp_path / name).write_text(text)
    data = Dataset(blobs(4, 0).x, None, DataSpec(kind="array", shape=(8,), name="blobs"))
    with pytest.raises(DataError, match=match):
        semi.read_label_file(tmp_path / name, data, num_classes=3)


def test_bad_npy_label_files(tmp_path):
    data = blobs(3, 0)
    np.save(tmp_path / "frac.npy", np.array([0.0, 1.5, 2.0]))
    with pytest.raises(DataError, match=r"frac.npy', element 1: '1.5' is not an integer class index"):
        semi.read_label_file(tmp_path / "frac.npy", data)
    np.save(tmp_path / "two_d.npy", np.zeros((3, 2)))
    with pytest.raises(DataError, match=r"two_d.npy' holds an array of shape \(3, 2\); expected .* shape \(3,\)"):
        semi.read_label_file(tmp_path / "two_d.npy", data)
    with pytest.raises(DataError, match="missing.csv' does not exist"):
        semi.read_label_file(tmp_path / "missing.csv", data)


def test_apply_labels_replaces_then_hides_and_rejects_conflicts(tmp_path):
    data = blobs(30, 0)
    (tmp_path / "y.csv").write_text("\n".join(["2"] * 10 + ["1"] * 10 + ["-1"] * 10) + "\n")
    replaced = semi.apply_labels(data, labels=tmp_path / "y.csv")
    assert replaced.y.tolist() == [2] * 10 + [1] * 10 + [-1] * 10 and data.y[0] == 0  # the input is not changed
    kept = semi.apply_labels(data, labels=tmp_path / "y.csv", labelled_per_class=2, seed=0)
    assert kept.n_labelled == 4 and set(kept.y[kept.y >= 0].tolist()) == {1, 2}
    assert semi.apply_labels(data, labels=torch.tensor([1] * 30)).y.unique().tolist() == [1]
    assert semi.num_classes_of(kept) == 3  # the class names, not just the labels kept
    with pytest.raises(ConfigError, match="Give one of label_fraction .* and labelled_per_class"):
        semi.apply_labels(data, label_fraction=0.1, labelled_per_class=2)
    with pytest.raises(ConfigError, match="'label_fraction' parameter of apply_labels must be a float in the range"):
        semi.apply_labels(data, label_fraction=1.5)
    unlabelled = Dataset(data.x, None, data.spec)
    with pytest.raises(DataError, match="--labelled-per-class keeps some of the data's labels.*has no labels"):
        semi.apply_labels(unlabelled, labelled_per_class=2)
    with pytest.raises(DataError, match="labels has shape \\(2,\\)"):
        semi.apply_labels(data, labels=[0, 1])


# ================================================================================================ tasks
def test_classify_table_and_accuracy(m2, train_test):
    _, test = train_test
    pred = semi.classify(m2, test, batch_size=64)
    assert list(pred.columns) == ["id", "label", "p_0", "p_1", "p_2", "true_label"]
    assert len(pred) == 300 and pred["id"].tolist() == list(range(300))
    assert np.allclose(pred[["p_0", "p_1", "p_2"]].sum(axis=1), 1.0, atol=1e-5)
    assert semi.accuracy(pred) == pytest.approx((m2.predict(test.x) == test.y).float().mean().item())
    named = semi.classify(tiny(blobs(3, 0, names=("a", "b", "c")), "semi_supervised"), blobs(3, 0))
    assert list(named.columns[:6]) == ["id", "label", "label_name", "p_a", "p_b", "p_c"]
    with pytest.raises(ConfigError, match="has no classifier q\\(y\\|x\\).*--semi-supervised"):
        semi.classify(tiny(test, "conditional"), test)


def test_analogies_shapes_and_errors(m2):
    x = blobs(2, 5).x
    assert semi.analogies(m2, x, [0, 1, 2]).shape == (2, 3, 8)
    assert semi.analogies(m2, x[0], [1]).shape == (1, 1, 8)
    with pytest.raises(DataError, match="Label 3 is out of range"):
        semi.analogies(m2, x, [3])
    cvae = tiny(blobs(3, 0), "conditional")
    with pytest.raises(DataError, match="CVAE.*give the class of each one"):
        semi.analogies(cvae, x, [0])
    with pytest.raises(DataError, match="Got 1 style labels for 2 style images"):
        semi.analogies(cvae, x, [0], y_style=[1])
    with pytest.raises(ConfigError, match="Analogies needs a model conditioned on labels"):
        semi.analogies(VAE.for_data(blobs(3, 0), latent_dim=2, hidden_dims=(8,)), x, [0])


# ================================================================================================ command line
T = ["--epochs", "2", "--hidden-dims", "32", "--latent-dim", "3", "--limit", "400", "--quiet", "--threads", "1"]


@pytest.fixture(scope="module")
def cli_runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("semi_runs")
    ok("train", "digits", "--out", root / "m2", "--semi-supervised", "--labelled-per-class", "5", "--classifier-weight",
       "10", *T)
    ok("train", "digits", "--out", root / "m1", *T)
    return root


def test_cli_train_semi_supervised_records_its_labels(cli_runs):
    doc = json.loads((cli_runs / "m2" / "config.json").read_text())
    assert doc["model"]["conditioning"] == "semi_supervised" and doc["model"]["num_classes"] == 10
    assert doc["model"]["classifier_weight"] == 10.0
    record = json.loads((cli_runs / "m2" / "labels.json").read_text())
    assert record["labelled_per_class"] == 5 and record["n_labelled"] == 50 and record["n"] == 400


def test_cli_resume_reuses_the_recorded_labels(cli_runs, tmp_path):
    import shutil

    run = tmp_path / "m2"
    shutil.copytree(cli_runs / "m2", run)
    result = ok("train", "digits", "--out", run, "--resume", "--epochs", "3", "--limit", "400", "--threads", "1", "-q")
    assert "50 / 350" in result.output  # labelled / unlabelled, as when the run was started


def test_cli_semi_supervised_grey_images_train_m1_plus_m2_by_default(cli_runs, tmp_path):
    # grey images: an M1 VAE first (latent 50, every example, no labels), then M2 over its codes (issue 22)
    model = vaekit.load(cli_runs / "m2")
    assert type(model) is StackedVAE and model.features.config.latent_dim == 50
    assert model.config.latent_dim == 3 and model.config.classifier_weight == 10.0  # the flags configure M2
    doc = json.loads((cli_runs / "m2" / "config.json").read_text())
    assert doc["train"]["batch_size"] == semi.STACK_RECIPE["batch_size"] and doc["train"]["epochs"] == 2
    # --m2-on-pixels: the old model, M2 on the pixels
    ok("train", "digits", "--out", tmp_path / "pix", "--semi-supervised", "--labelled-per-class", "5",
       "--m2-on-pixels", *T)
    pix = vaekit.load(tmp_path / "pix")
    assert type(pix) is VAE and pix.config.conditioning == "semi_supervised"
    # other data (a table) keeps M2 on the data itself
    rng = np.random.default_rng(0)
    frame = pd.DataFrame(rng.normal(size=(120, 4)), columns=list("abcd"))
    frame["label"] = (frame["a"] > 0).astype(int)
    frame.to_csv(tmp_path / "t.csv", index=False)
    ok("train", tmp_path / "t.csv", "--out", tmp_path / "tab", "--semi-supervised", "--label-column", "label",
       "--labelled-per-class", "5", "--epochs", "2", "--hidden-dims", "16", "--latent-dim", "2", "-q", "--threads", "1")
    assert type(vaekit.load(tmp_path / "tab")) is VAE


def test_cli_classify_sample_and_analogy(cli_runs, tmp_path):
    run = cli_runs / "m2"
    result = ok("classify", run, "digits", "-o", tmp_path / "pred.csv", "--split", "test")
    pred = pd.read_csv(tmp_path / "pred.csv")
    assert list(pred.columns) == ["id", "label", "label_name", *[f"p_{k}" for k in range(10)], "true_label"]
    assert len(pred) == 180 and "accuracy (180 labelled examples)" in result.output
    ok("sample", run, "--label", "7", "-n", "16", "-o", tmp_path / "s.png")
    assert Image.open(tmp_path / "s.png").size[0] > 0
    ok("sample", run, "--label", "7", "-n", "5", "--npy", "-o", tmp_path / "s.npy")
    assert np.load(tmp_path / "s.npy").shape == (5, 1, 8, 8)
    ok("analogy", run, "--from", "0", "--from", "3", "--labels", "0-9", "-o", tmp_path / "a.png")
    with Image.open(tmp_path / "a.png") as im:
        assert im.width > 11 * 8 * 4 and im.height > 2 * 8 * 4  # 2 rows of input + 10 classes, 4x upscaled
    fails("sample", run, "--label", "10", "-o", tmp_path / "x.png", match="Label '10' is out of range")
    fails("sample", cli_runs / "m1", "--label", "1", "-o", tmp_path / "x.png", match="needs a model conditioned")
    fails("classify", cli_runs / "m1", "digits", "-o", tmp_path / "x.csv", match="has no classifier.*--semi-supervised")
    fails("analogy", run, "--from", "0", "--labels", "3-1", "-o", tmp_path / "x.png", match="range '3-1' is empty")
    fails("classify", run, "digits", "-o", tmp_path / "p.txt", match="must end in .csv or .parquet")


def test_cli_stack_on_and_label_file(cli_runs, tmp_path):
    ids = [0, 1, 2, 5, 8, 13, 21, 34, 55, 89, 144, 233]
    labels = vaekit.datasets.load("digits").y[ids].tolist()
    pd.DataFrame({"id": ids, "label": labels}).to_csv(tmp_path / "y.csv", index=False)
    result = ok("train", "digits", "--out", tmp_path / "st", "--stack-on", cli_runs / "m1", "--labels",
                tmp_path / "y.csv", *T)
    assert "StackedVAE" in result.output and "12 / 388" in result.output
    model = vaekit.load(tmp_path / "st")
    assert type(model) is StackedVAE and model.num_classes == 10
    ok("classify", tmp_path / "st", "digits", "-o", tmp_path / "p.parquet", "--limit", "20")
    assert len(pd.read_parquet(tmp_path / "p.parquet")) == 20


@pytest.mark.parametrize("flags, match", [
    (["--label-fraction", "0.1", "--labelled-per-class", "5", "--semi-supervised"], "Give one of label_fraction"),
    (["--labelled-per-class", "5"], "hides labels for semi-supervised training; add --semi-supervised"),
    (["--conditional", "--label-fraction", "0.1"], "needs the label of every example"),
    (["--semi-supervised", "--conditional"], "choose one"),
    (["--semi-supervised", "--autoencoder"], "autoencoder .* cannot be conditioned"),
])
def test_cli_conflicting_label_flags_fail_in_one_line(flags, match, tmp_path):
    fails("train", "digits", "--out", tmp_path / "r", *flags, *T, match=match)


def test_cli_bad_label_file_and_bad_stack_on(cli_runs, tmp_path):
    (tmp_path / "y.csv").write_text("id,label\n0,3.5\n")
    fails("train", "digits", "--out", tmp_path / "r", "--semi-supervised", "--labels", tmp_path / "y.csv", *T,
          match=r"y.csv', line 2: '3.5' is not an integer class index")
    fails("train", "digits", "--out", tmp_path / "r", "--stack-on", cli_runs / "m2", *T,
          match="--stack-on needs a run holding an unconditioned VAE")
    fails("train", "digits", "--out", tmp_path / "r", "--stack-on", cli_runs / "m1", "--conditional", *T,
          match="cannot be combined with conditioning='conditional'")
    assert invoke("analogy", "--help").exit_code == 0


def test_a_decoder_that_ignores_its_label_is_flagged_and_a_trained_one_is_not(tmp_path):
    from vaekit.tasks.semisupervised import LABEL_EFFECT_MIN, label_effect, label_warning

    data = vaekit.datasets.load("digits")
    early = vaekit.VAE.for_data(data, conditioning="conditional", num_classes=10)
    vaekit.fit(early, data, epochs=1, seed=0, progress=False)
    assert label_effect(early) < LABEL_EFFECT_MIN  # one epoch: every label decodes to the same image
    assert "barely uses the label" in label_warning(early)
    trained = vaekit.VAE.for_data(data, conditioning="conditional", num_classes=10)
    vaekit.fit(trained, data, epochs=15, seed=0, progress=False)
    assert label_effect(trained) > 4 * LABEL_EFFECT_MIN and label_warning(trained) is None
    assert label_effect(vaekit.VAE.for_data(data)) is None  # nothing to say about an unconditioned model
    result = invoke("train", "digits", "--out", tmp_path / "r", "--conditional", "--epochs", "1", "--quiet")
    assert result.exit_code == 0 and "barely uses the label" in result.output
