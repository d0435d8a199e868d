"""Task-level generation, pictures, config files and report composition (vaekit.tasks), on tiny untrained models."""

from __future__ import annotations

import re

import numpy as np
import pytest
import torch
from matplotlib.figure import Figure
from PIL import Image

import vaekit
from vaekit.config import DataSpec
from vaekit.errors import ConfigError, DataError
from vaekit.report import render_report
from vaekit.tasks import generate, visualize
from vaekit.tasks.report import SECTION_TITLES, comparison_sections, run_sections
from vaekit.tasks.runs import evaluation_data, read_config_file, resolve_source, run_data


def tiny(data, cls=vaekit.VAE, latent_dim=3, **options):
    return cls.for_data(data, latent_dim=latent_dim, hidden_dims=(16,), **options).initialize(0).eval()


# ----------------------------------------------------------------------------------------- data range
def test_to_data_range_puts_8bit_images_back_on_0_255():
    spec = DataSpec(kind="image", shape=(1, 2, 2), levels=256, image_mode="L")
    out = generate.to_data_range(torch.tensor([[[[0.0, 0.5], [1.0, 1.7]]]]), spec)
    assert out.dtype == np.uint8
    assert out.reshape(-1).tolist() == [0, 128, 255, 255]


def test_to_data_range_uses_the_levels_grid():
    spec = DataSpec(kind="image", shape=(1, 1, 2), levels=17, image_mode="L")
    assert generate.to_data_range(np.array([[[[0.5, 1.0]]]]), spec).reshape(-1).tolist() == [8, 16]
    no_levels = DataSpec(kind="image", shape=(1, 1, 2), image_mode="L")
    assert generate.to_data_range(np.array([[[[0.25, 2.0]]]]), no_levels).dtype == np.float32


def test_to_data_range_destandardises_numeric_table_columns_only():
    spec = DataSpec(kind="table", shape=(3,), columns=("age", "c=a", "c=b"), numeric_columns=("age",),
                    mean=(40.0,), std=(10.0,), categorical_columns=("c",), categories=(("a", "b"),))
    out = generate.to_data_range(np.array([[1.5, 0.2, 0.8]]), spec)
    assert out[0].tolist() == pytest.approx([55.0, 0.2, 0.8])


# ----------------------------------------------------------------------------------------- generation
def test_sample_is_seeded(image_data):
    model = tiny(image_data)
    a, b = generate.sample(model, 5, seed=1), generate.sample(model, 5, seed=1)
    assert a.shape == (5, 1, 8, 8) and torch.equal(a, b)
    assert not torch.equal(a, generate.sample(model, 5, seed=2))


def test_traverse_varies_one_dimension_per_row(image_data):
    model = tiny(image_data, latent_dim=4, prior="standard_normal")
    x, dims, values = generate.traverse(model, dims=[1, 3], steps=5)
    assert x.shape == (2, 5, 1, 8, 8) and dims == [1, 3] and values.shape == (2, 5)
    assert torch.equal(values[0], values[1])  # N(0, I): every dimension spans the same quantiles
    assert values[0, 0] == pytest.approx(-values[0, -1]) and values[0, 2] == pytest.approx(0.0, abs=1e-6)
    # the middle of every row is the decoded base point (all zeros)
    centre = model.decode(torch.zeros(1, 4)).mean[0]
    assert torch.allclose(x[0, 2], centre, atol=1e-6) and torch.allclose(x[1, 2], centre, atol=1e-6)
    assert not torch.allclose(x[0, 0], x[1, 0])


def test_manifold_grid_runs_over_prior_quantiles(image_data):
    model = tiny(image_data, latent_dim=2, prior="standard_normal")
    grid = generate.manifold(model, steps=4)
    assert grid.shape == (16, 1, 8, 8)
    q = generate.prior_quantiles(model, [0.05, 0.5, 0.95])
    assert q.shape == (2, 3) and q[0].tolist() == pytest.approx([-1.6449, 0.0, 1.6449], abs=1e-3)
    # top-left: z = (low, high)
    expected = model.decode(torch.tensor([[q[0, 0].item(), q[1, 2].item()]])).mean[0]
    assert torch.allclose(grid[0], expected, atol=1e-5)


@pytest.mark.parametrize("prior", ["mixture", "vamp", "ladder"])
def test_learned_priors_have_per_dimension_quantiles_for_traversals_and_grids(image_data, prior):
    extra = {"prior_options": {"components": 3}} if prior != "ladder" else {}
    model = tiny(image_data, latent_dim=4, prior=prior, **extra)
    if prior == "mixture":  # spread the components so the marginals differ per dimension
        with torch.no_grad():
            model.prior.loc.copy_(torch.tensor([[-2.0, 0, 1, 3], [0, 1, 1, 3], [2, 2, 1, 3]]))
            model.prior.log_scale.fill_(-1.0)
    probs = [0.05, 0.3, 0.5, 0.9]
    q = generate.prior_quantiles(model, probs)
    assert q.shape == (4, 4) and bool((q[:, 1:] > q[:, :-1]).all())
    draws = model.prior.sample(40000, generator=torch.Generator().manual_seed(1)).detach()
    # the quantile of each marginal leaves probability p below it, checked against draws of the prior
    below = (draws[:, :, None] <= q[None]).double().mean(0)  # (latent_dim, len(probs))
    assert below.numpy() == pytest.approx(np.tile(probs, (4, 1)), abs=0.015)
    if prior == "mixture":
        assert q[0, 2] == pytest.approx(0.0, abs=1e-4) and q[3, 2] == pytest.approx(3.0, abs=1e-4)
    x, _, values = generate.traverse(model, steps=3)
    assert x.shape == (4, 3, 1, 8, 8) and values.shape == (4, 3)
    assert generate.manifold(model, steps=3).shape == (9, 1, 8, 8)


def test_manifold_needs_two_latent_dimensions(image_data):
    with pytest.raises(ConfigError, match="latent_dim >= 2"):
        generate.manifold(tiny(image_data, latent_dim=1))


@pytest.mark.parametrize("text, expected", [("0,2", [0, 2]), ("1-3", [1, 2, 3]), ("3,0-1,3", [3, 0, 1])])
def test_parse_dims(text, expected):
    assert generate.parse_dims(text, 4) == expected


@pytest.mark.parametrize("text", ["0,4", "a", "", "-1"])
def test_parse_dims_rejects(text):
    with pytest.raises(ConfigError, match=r"latent dimensions"):
        generate.parse_dims(text, 4)


def test_resolve_example_by_index_and_by_image_file(image_data, tmp_path):
    model = tiny(image_data)
    x, label = generate.resolve_example("-1", model, image_data)
    assert torch.equal(x, image_data.x[-1]) and label.startswith("#95")
    Image.fromarray(np.full((16, 16), 255, dtype=np.uint8)).save(tmp_path / "white.png")
    x, label = generate.resolve_example(str(tmp_path / "white.png"), model, None)
    assert x.shape == (1, 8, 8) and label == "white.png" and torch.allclose(x, torch.ones_like(x))
    with pytest.raises(DataError, match=r"Index 96 is out of range for data 'blobs' with 96 examples"):
        generate.resolve_example(96, model, image_data)
    with pytest.raises(DataError, match="needs data to index into"):
        generate.resolve_example(0, model, None)
    (tmp_path / "bad.png").write_text("not an image")
    with pytest.raises(DataError, match=r"'.*bad\.png' could not be read"):
        generate.resolve_example(str(tmp_path / "bad.png"), model, None)


def test_image_files_need_an_image_model(table_data, tmp_path):
    with pytest.raises(DataError, match="only work for models trained on images"):
        generate.resolve_example(str(tmp_path / "x.png"), tiny(table_data), table_data)


def test_pick_pairs_joins_different_classes(image_data):
    y = image_data.y
    for i, j in generate.pick_pairs(image_data, 3):
        assert y[i] != y[j]


# ----------------------------------------------------------------------------------------- pictures
def test_image_pictures_are_pillow_images_in_colour_when_the_data_is(rgb_data, image_data):
    rgb, grey = tiny(rgb_data), tiny(image_data)
    assert visualize.samples_picture(rgb, 6).mode == "RGB"
    assert visualize.samples_picture(grey, 6).mode == "L"
    recon = visualize.reconstruction_picture(grey, image_data.x[:20])
    assert isinstance(recon, Image.Image) and recon.height > 3 * 8  # two pairs of rows (16 per row)
    trav = visualize.traversal_picture(grey, dims=[0, 2], steps=4, activity=np.array([0.5, 0.0, 1.0]))
    assert isinstance(trav, Image.Image)


def test_vector_pictures_are_heat_maps(table_data):
    model = tiny(table_data)
    fig = visualize.samples_picture(model, 5)
    assert isinstance(fig, Figure) and fig.axes[0].get_ylabel().startswith("5 samples")
    fig = visualize.reconstruction_picture(model, table_data.x[:4])
    assert [ax.get_ylabel() for ax in fig.axes[:2]] == ["input", "reconstruction"]
    assert fig.axes[-1].get_ylabel() == "value"  # the colour bar


def test_latent_figure_says_it_used_pca(image_data):
    fig = visualize.latent_figure(tiny(image_data, latent_dim=5), image_data)
    assert "PCA of 5-D posterior means" in fig.axes[0].get_title()
    assert [t.get_text() for t in fig.axes[0].get_legend().get_texts()] == ["0", "1", "2"]


def test_prior_comparison_figure_has_one_titled_panel_per_model(image_data):
    fig = visualize.prior_comparison_figure(
        [("VAE", tiny(image_data)), ("Autoencoder", tiny(image_data, vaekit.Autoencoder))], n=9)
    assert [ax.get_title() for ax in fig.axes] == ["VAE", "Autoencoder"]
    assert "N(0, I)" in fig.get_suptitle()


def test_save_picture_writes_png_and_refuses_other_suffixes(image_data, tmp_path):
    img = visualize.samples_picture(tiny(image_data), 4)
    visualize.save_picture(img, tmp_path / "a.png")
    assert (tmp_path / "a.png").read_bytes().startswith(b"\x89PNG")
    with pytest.raises(ConfigError, match=r"must end in \.png"):
        visualize.save_picture(img, tmp_path / "a.jpg")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.png"]  # no temporary files left behind


def test_save_array_writes_exactly_the_given_path(tmp_path):
    generate.save_array(np.arange(3, dtype=np.uint8), tmp_path / "out.bin")
    assert np.load(tmp_path / "out.bin").tolist() == [0, 1, 2]


# ----------------------------------------------------------------------------------------- config files
def test_config_file_flat_and_sections(tmp_path):
    p = tmp_path / "c.toml"
    p.write_text('model = "conv"\nbeta = 2.0\nepochs = 3\n[train]\nlr = 0.01\n')
    cfg = read_config_file(p)
    assert cfg.model == {"net": "conv", "beta": 2.0} and cfg.train == {"epochs": 3, "lr": 0.01}


def test_config_file_from_a_run(tmp_path, image_data):
    model = tiny(image_data, vaekit.Autoencoder)
    vaekit.fit(model, image_data, epochs=1, out=tmp_path / "run", progress=False, val_fraction=0.0)
    cfg = read_config_file(tmp_path / "run" / "config.json")
    assert cfg.class_name == "Autoencoder" and cfg.model["latent_dim"] == 3 and "data_shape" not in cfg.model
    assert cfg.train["epochs"] == 1


@pytest.mark.parametrize(
    "name, text, message",
    [
        ("a.toml", "latent_dims = 2\n", r"Unknown key 'latent_dims' in config file '.*a\.toml'\. Did you mean 'latent_dim'\?"),
        ("b.json", '{"train": {"batchsize": 2}}', r"Unknown key 'batchsize' .*\(train section\)\. Did you mean 'batch_size'\?"),
        ("c.json", '{"model": 3}', r"'model' section of config file .* must be a table"),
        ("d.json", "{oops", r"is not valid JSON"),
        ("e.toml", "x = = 1", r"is not valid TOML"),
        ("f.yaml", "a: 1", r"must end in \.json or \.toml"),
    ],
)
def test_config_file_errors(tmp_path, name, text, message):
    (tmp_path / name).write_text(text)
    with pytest.raises(ConfigError, match=message):
        read_config_file(tmp_path / name)


# ----------------------------------------------------------------------------------------- runs and data
def test_resolve_source_keeps_builtins_and_absolutises_existing_paths(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "d.csv").write_text("a\n1\n")
    assert resolve_source("mnist5k") == "mnist5k"
    assert resolve_source("d.csv") == str(tmp_path / "d.csv")
    assert resolve_source("missing.csv") == "missing.csv"


def test_run_data_falls_back_to_everything_without_a_test_split(tmp_path):
    np.savez(tmp_path / "d.npz", x=np.zeros((12, 4), dtype=np.float32))
    data = vaekit.datasets.load(str(tmp_path / "d.npz"))
    model = tiny(data)
    assert len(run_data(model, split="test")) == 12
    with pytest.raises(DataError, match="has no test split; pass the evaluation data with --data"):
        evaluation_data(model)
    assert len(evaluation_data(model, str(tmp_path / "d.npz"), limit=5)) == 5


# ----------------------------------------------------------------------------------------- report
def test_run_sections_have_every_title_and_no_external_references(image_data):
    model = tiny(image_data, latent_dim=2)
    sections = run_sections(model, image_data, metrics={"neg_elbo": 1.0, "n": 96}, seed=0)
    assert [s.title for s in sections] == list(SECTION_TITLES)
    html = render_report(title="t", sections=sections)
    assert not re.search(r"https?:", html)
    latent = next(s for s in sections if s.title == "Latent space")
    assert latent.body_html.count("<img") == 2  # scatter + decoded manifold for latent_dim = 2


def test_run_sections_without_data_say_what_is_missing(table_data):
    sections = run_sections(tiny(table_data), None)
    text = {s.title: s.body_html for s in sections}
    assert "Needs data" in text["Reconstructions"] and "No evaluation data" in text["Metrics"]


def test_comparison_sections(image_data):
    vae = tiny(image_data, prior="standard_normal")
    runs = [("VAE", vae, {"neg_elbo": 2.0, "n": 5}), ("AE", tiny(image_data, vaekit.Autoencoder), None)]
    sections = comparison_sections(runs, image_data)
    assert [s.title for s in sections] == [
        "VAE vs AE: decoding z ~ N(0, I)", "VAE vs AE: interpolations", "VAE vs AE: metrics"]
    assert "negative ELBO" in sections[2].body_html and "<td>AE</td>" in sections[2].body_html
    # the grey-image preset's mixture prior is not N(0, I): the captions say whose draws they decode
    mixture = tiny(image_data)
    assert mixture.config.prior == "mixture"
    first = comparison_sections([("VAE", mixture, None), runs[1]], image_data)[0]
    assert first.title == "VAE vs AE: decoding prior draws" and "own prior, decoded by it" in first.body_html
    from vaekit.tasks.report import run_sections

    samples = next(s for s in run_sections(mixture, image_data) if s.title == "Samples from the prior")
    assert "a learned mixture of 50 Gaussians" in samples.body_html


def _tiny_run(tmp_path, name="run", n=40, features=5, labels=False):
    rng = np.random.default_rng(0)
    arrays = {"x": rng.normal(size=(n, features)).astype(np.float32)}
    if labels:
        arrays["y"] = np.arange(n) % 2
    np.savez(tmp_path / f"{name}.npz", **arrays)
    data = vaekit.datasets.load(str(tmp_path / f"{name}.npz"))
    model = vaekit.VAE.for_data(data, latent_dim=3, hidden_dims=(8,))
    vaekit.fit(model, data, epochs=1, seed=0, progress=False, out=tmp_path / name)
    return tmp_path / name, data


def _captions(html: str) -> str:
    import html as html_module

    return html_module.unescape(re.sub(r"data:image/[a-z]+;base64,[A-Za-z0-9+/=]+", "", html))


def test_report_of_a_run_without_test_split_says_it_shows_training_examples(tmp_path):
    from vaekit.tasks.report import write_run_report

    run, _ = _tiny_run(tmp_path)
    html = _captions(write_run_report(run).read_text())
    assert "Held-out examples" not in html and "held-out examples" not in html
    assert "Training examples of 'run.npz'" in html and "has no test split" in html
    # unlabelled vectors: nothing is coloured by label
    assert "coloured by label" not in html


def test_autoencoder_sections_speak_of_codes_not_posterior_means(image_data):
    html = _captions(render_report(title="t", sections=run_sections(tiny(image_data, vaekit.Autoencoder), image_data)))
    assert "osterior mean" not in html and "codes" in html
    vae_html = _captions(render_report(title="t", sections=run_sections(tiny(image_data), image_data)))
    assert "posterior means" in vae_html and "coloured by label" in vae_html


def test_report_reuses_eval_json_only_when_it_was_computed_on_the_same_data(tmp_path):
    from vaekit.tasks.report import write_run_report
    from vaekit.tasks.runs import evaluate_run, load_run, run_data, write_eval

    run, _ = _tiny_run(tmp_path)
    _tiny_run(tmp_path, name="other", n=24)
    model = load_run(run)
    other = run_data(model, str(tmp_path / "other.npz"), split="test")
    write_eval(run, evaluate_run(model, other, k=2, split="all"))
    saved = vaekit.io.read_json(run / "eval.json")
    assert saved["data"].endswith("other.npz") and saved["split"] == "all" and saved["n"] == 24 and saved["fingerprint"]
    html = _captions(write_run_report(run, k=2).read_text())
    assert "was computed on 24 examples of 'other.npz'" in html and "not used" in html
    assert "<td>examples</td><td class=\"num\">40</td>" in html  # the report's own evaluation on the run's 40 examples
    html = _captions(write_run_report(run, data=str(tmp_path / "other.npz"), k=2).read_text())
    assert "From " in html and "eval.json" in html and "<td>examples</td><td class=\"num\">24</td>" in html


def test_traversal_over_the_datas_codes_stays_where_the_data_is(image_data):
    # Codes that fill only a corner of the prior: the traversal spans their range, not the prior's +-1.9.
    model = tiny(image_data, latent_dim=3)
    codes = np.random.default_rng(0).normal(loc=[2.0, -1.0, 0.0], scale=[0.1, 0.2, 0.3], size=(200, 3))
    x, dims, values = generate.traverse(model, dims=[0, 2], steps=5, codes=codes)
    assert x.shape == (2, 5, 1, 8, 8) and values.shape == (2, 5)
    np.testing.assert_allclose(values[0].numpy(), np.quantile(codes[:, 0], np.linspace(0.03, 0.97, 5)), rtol=1e-5)
    assert 1.5 < float(values[0].min()) and float(values[0].max()) < 2.5
    picture = visualize.traversal_picture(model, dims=[0, 2], steps=5, codes=codes)
    assert isinstance(picture, Image.Image)
    with pytest.raises(DataError, match=r"codes must be posterior means of shape \(n, 3\)"):
        generate.traverse(model, codes=codes[:, :2])
