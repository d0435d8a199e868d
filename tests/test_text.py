"""Text: corpus reading, vocabularies, the sentence VAE (sequence nets + token likelihood) through the one
VAE and the one fit, its bounds and metrics, decoding, and the language-model baseline. Tiny grammar corpus."""

from __future__ import annotations

import json
import math

import pytest
import torch

import vaekit
from vaekit import ConfigError, DataError
from vaekit.config import DataSpec, ModelConfig
from vaekit.data.text import (EOS, PAD, UNK, SPECIAL_TOKENS, decode_ids, grammar_corpus, load_text, read_corpus,
                              texts_to_dataset)
from vaekit.tasks import text as tt
from vaekit.training import kl_weight_at

SMALL = {"embed_dim": 24, "hidden_size": 48}


@pytest.fixture(scope="module")
def corpus():
    return grammar_corpus(240, seed=0)


@pytest.fixture(scope="module")
def data(corpus):
    return texts_to_dataset(corpus, name="grammar", min_count=1)


@pytest.fixture(scope="module")
def trained(data):
    # free bits (0.5 nats per dimension) keep the latent in use: on this grammar the decoder could
    # otherwise read the mood from the first adjective and leave z unused (posterior collapse)
    model = vaekit.VAE.for_data(data, latent_dim=4, free_bits=0.5, net_options={**SMALL, "word_dropout": 0.25})
    run = vaekit.fit(model, data, epochs=14, lr=1e-2, batch_size=32, kl_warmup=0, early_stopping_patience=None,
                     seed=0, progress=False)
    return run.model.eval(), run


# ------------------------------------------------------------------------------------------ data
def test_vocabulary_and_encoding(data, corpus):
    spec = data.spec
    assert spec.kind == "text" and spec.vocabulary[:4] == SPECIAL_TOKENS and spec.tokenizer == "words"
    assert spec.shape == (max(len(s.split()) for s in corpus) + 1,)
    assert decode_ids(data.x[:3], spec) == [s.replace(" .", ".") for s in corpus[:3]]
    row = data.x[0].long()
    n = len(corpus[0].split())
    assert row[n] == EOS and bool((row[n + 1:] == PAD).all())
    # the spec (vocabulary, max length, tokenizer) survives JSON
    again = DataSpec.from_dict(json.loads(json.dumps(spec.to_dict())))
    assert again == spec
    # unknown words become <unk>; case and punctuation are tokenised
    other = texts_to_dataset(["The zebra hugs the cat!"], spec=spec)
    assert other.x[0, 1].item() == UNK and other.x[0, 0].item() == spec.vocabulary.index("the")


def test_min_count_maps_rare_words_to_unk():
    d = texts_to_dataset(["a b c", "a b", "a"], min_count=2)
    assert d.spec.vocabulary[4:] == ("a", "b")
    assert d.x[0, 2].item() == UNK


def test_reading_files_folders_and_csv(tmp_path):
    (tmp_path / "a.txt").write_text("one two\n\n three four \n", encoding="utf-8")
    (tmp_path / "b.txt").write_text("five\n", encoding="utf-8")
    texts, ids = read_corpus(tmp_path)
    assert texts == ["one two", "three four", "five"] and ids == ["a.txt:1", "a.txt:3", "b.txt:1"]
    (tmp_path / "t.csv").write_text("id,sentence\n1,hello world\n2,\n3,bye\n", encoding="utf-8")
    assert read_corpus(tmp_path / "t.csv", column="sentence")[0] == ["hello world", "bye"]
    with pytest.raises(DataError, match="no column 'text'.*id, sentence"):
        read_corpus(tmp_path / "t.csv", column="text")
    with pytest.raises(DataError, match="name the column"):
        read_corpus(tmp_path / "t.csv")


def test_bad_text_input_errors(tmp_path):
    empty = tmp_path / "empty.txt"
    empty.write_text("\n  \n", encoding="utf-8")
    with pytest.raises(DataError, match="empty"):
        load_text(empty)
    bad = tmp_path / "bad.txt"
    bad.write_bytes(b"fine line\nbad \xff\xfe bytes\n")
    with pytest.raises(DataError, match=r"bad\.txt, line 2: bytes that are not UTF-8"):
        load_text(bad)
    with pytest.warns(UserWarning, match=r"1 sentence\(s\) are longer than max_length=3 tokens \(first: long.txt:2\)"):
        (tmp_path / "long.txt").write_text("a b\na b c d e\n", encoding="utf-8")
        d = load_text(tmp_path / "long.txt", max_length=3, min_count=1)
    assert d.x.shape == (2, 4) and d.x[1, 3].item() == EOS
    with pytest.raises(DataError, match="longer than max_length"):
        texts_to_dataset(["a b c d e"], spec=d.spec, truncate=False)


def test_bpe_vocabulary_round_trips(corpus):
    pytest.importorskip("tokenizers")  # the text extra
    d = texts_to_dataset(corpus, tokenizer="bpe", vocab_size=60)
    assert d.spec.vocabulary[:4] == SPECIAL_TOKENS and d.spec.tokenizer.startswith("{")
    assert decode_ids(d.x[:2], d.spec) == corpus[:2]
    assert DataSpec.from_dict(json.loads(json.dumps(d.spec.to_dict()))) == d.spec


# ------------------------------------------------------------------------------------------ model
def test_config_pairs_sequence_nets_with_the_token_likelihood():
    with pytest.raises(ConfigError, match="likelihood='tokens' needs net='sequence'"):
        ModelConfig(data_shape=(8,), likelihood="tokens")
    with pytest.raises(ConfigError, match="cannot be paired with likelihood='gaussian'"):
        ModelConfig(data_shape=(8,), net="sequence", likelihood="gaussian", net_options={"vocab_size": 10})
    with pytest.raises(ConfigError, match="vocab_size"):
        ModelConfig(data_shape=(8,), net="sequence", likelihood="tokens")


@pytest.mark.parametrize("decoder", ["gru", "transformer"])
def test_shapes_gradients_and_determinism(data, decoder):
    model = vaekit.VAE.for_data(data, latent_dim=3, net_options={**SMALL, "decoder": decoder, "word_dropout": 0.3})
    model.initialize(0)
    x = data.x[:6]
    q = model.encode(x)
    assert q.batch_shape == (6,) and q.event_shape == (3,)
    p = model.decode(q.mean)
    assert p.batch_shape == (6,) and p.event_shape == x.shape[1:]
    assert model.decode(torch.zeros(2, 6, 3)).log_prob(x).shape == (2, 6)
    obj = model.objective(x, generator=torch.Generator().manual_seed(0))
    obj.loss.backward()
    assert torch.isfinite(obj.loss) and all(torch.isfinite(p.grad).all() for p in model.parameters() if p.grad is not None)
    again = model.objective(x, generator=torch.Generator().manual_seed(0))
    assert torch.equal(obj.loss, again.loss)  # word dropout comes from the generator
    model.eval()
    s = model.sample(4, generator=torch.Generator().manual_seed(1), mean=False)
    assert s.shape == (4, *x.shape[1:]) and bool(((s == EOS).sum(1) == 1).all())
    assert model.reconstruct(x).shape == x.shape and model.interpolate(x[0], x[1], steps=5).shape == (5, x.shape[1])


def test_word_dropout_only_while_training(data):
    model = vaekit.VAE.for_data(data, latent_dim=3, net_options={**SMALL, "word_dropout": 0.5}).initialize(0)
    x, z = data.x[:8], torch.zeros(8, 3)
    model.train()
    a = model.decode(z, noise=torch.Generator().manual_seed(0)).log_prob(x)
    b = model.decode(z, noise=torch.Generator().manual_seed(1)).log_prob(x)
    assert not torch.equal(a, b)
    model.eval()
    assert torch.equal(model.decode(z, noise=torch.Generator().manual_seed(0)).log_prob(x),
                       model.decode(z, noise=torch.Generator().manual_seed(1)).log_prob(x))


def test_log_prob_is_a_normalised_sequence_probability(data):
    # over all sequences of up to 2 tokens of a 6-token vocabulary, probabilities sum to <= 1, and the
    # chain rule of the teacher-forced score matches step-by-step decoding
    spec = DataSpec(kind="text", shape=(3,), vocabulary=SPECIAL_TOKENS + ("a", "b"), tokenizer="words")
    model = vaekit.VAE.for_data(spec, latent_dim=2, net_options=SMALL).initialize(0).eval()
    seqs = [[EOS, PAD, PAD]] + [[a, EOS, PAD] for a in range(3, 6)] + [[a, b, EOS] for a in range(3, 6) for b in range(3, 6)]
    x = torch.tensor(seqs, dtype=torch.float32)
    z = torch.randn(1, 2, generator=torch.Generator().manual_seed(0)).expand(len(seqs), 2)
    with torch.no_grad():
        total = model.decode(z).log_prob(x).exp().sum()
    assert 0.05 < float(total) <= 1.0 + 1e-5


def test_training_through_fit_learns_and_uses_the_latent(trained, data):
    model, run = trained
    assert run.history["train_loss"][-1] < 0.6 * run.history["train_loss"][0]
    m = tt.evaluate_text(model, data, iwae_k=20)
    assert m["kl"] > 0.5 and m["active_units"] >= 1 and m["mutual_info"] > 0.1
    assert m["ppl"] == pytest.approx(math.exp(m["nll"] * m["n"] / m["tokens"]))
    assert m["nll"] <= m["neg_elbo"] + 0.05


def test_iwae_is_at_least_the_elbo_and_grows_with_k(trained, data):
    model, _ = trained
    x = data.x[:60]
    elbo = model.elbo(x, n_samples=200, generator=torch.Generator().manual_seed(0)).mean().item()
    bounds = [model.iwae(x, k, generator=torch.Generator().manual_seed(k)).mean().item() for k in (1, 5, 50, 200)]
    assert bounds[0] == pytest.approx(elbo, abs=0.5)  # k=1 is a one-sample Monte Carlo ELBO
    assert all(b >= elbo - 1e-3 for b in bounds[1:])
    assert bounds[1] < bounds[2] < bounds[3] and bounds[3] - elbo > 0.05


def test_language_model_baseline_has_no_latent(data):
    lm = tt.language_model_for(data, net_options=SMALL)
    run = vaekit.fit(lm, data, epochs=3, lr=1e-2, seed=0, progress=False)
    lm = run.model.eval()
    x = data.x[:20]
    assert torch.equal(lm.encode(x).mean, torch.zeros(20, lm.latent_dim))
    m = tt.evaluate_text(lm, data, iwae_k=5)
    assert m["kl"] == 0 and m["active_units"] == 0
    assert m["nll"] == pytest.approx(m["neg_elbo"], abs=1e-4)  # z is unused: every bound is exact


def test_decoding_methods_and_text_verbs(trained):
    model, _ = trained
    z = torch.randn(5, model.latent_dim, generator=torch.Generator().manual_seed(3))
    params = model.decoder(z)
    assert torch.equal(params.beam(1), params.generate())  # a beam of one is greedy
    # a wider beam finds sentences at least as probable as greedy decoding, on the whole
    lp = lambda ids: model.decode(z).log_prob(ids.float())  # noqa: E731
    assert float(lp(params.beam(5)).sum()) >= float(lp(params.generate()).sum()) - 1e-4
    samples = tt.sample_text(model, 6, seed=0)
    assert len(samples) == 6 and samples == tt.sample_text(model, 6, seed=0)
    assert all(isinstance(s, str) for s in tt.sample_text(model, 3, method="beam"))
    src = ["the warm cat loves the kind dog today .", "the cold boy fears the lonely bird tonight ."]
    rec = tt.reconstruct_text(model, src)
    assert len(rec) == 2 and all(r.endswith(".") for r in rec)
    path = tt.interpolate_text(model, *src, steps=5)
    assert len(path) == 5
    assert tt.embed_text(model, src).shape == (2, model.latent_dim)
    with pytest.raises(ConfigError, match="decoding method"):
        tt.sample_text(model, 2, method="nucleus")


def test_save_load_keeps_vocabulary_and_outputs(trained, tmp_path):
    model, _ = trained
    vaekit.save(model, tmp_path / "run")
    config = json.loads((tmp_path / "run" / "config.json").read_text())
    assert config["data"]["vocabulary"][:4] == list(SPECIAL_TOKENS)
    loaded = vaekit.load(tmp_path / "run").eval()
    src = ["the warm cat loves the kind dog today ."]
    assert tt.reconstruct_text(loaded, src) == tt.reconstruct_text(model, src)


def test_kl_schedules_and_time_budget(data):
    w = [kl_weight_at(0, s, beta=1.0, warmup=10, unit="steps", steps_per_epoch=5, schedule="cyclical")
         for s in (0, 5, 10, 15, 20, 25)]
    assert w == [0.0, 0.5, 1.0, 1.0, 0.0, 0.5]
    assert kl_weight_at(0, 25, beta=1.0, warmup=10, unit="steps", steps_per_epoch=5) == 1.0
    model = vaekit.VAE.for_data(data, latent_dim=2, net_options=SMALL)
    run = vaekit.fit(model, data, epochs=5, max_time=1e-6, batch_size=16, seed=0, progress=False)
    assert len(run.history) == 1 and run.history.rows[0]["step"] == 1  # a spent budget stops within the epoch


def test_text_preset(data):
    model = vaekit.VAE.for_data(data)
    assert model.config.net == "sequence" and model.config.likelihood == "tokens"
    assert model.config.net_options.vocab_size == len(data.spec.vocabulary)
    cfg = vaekit.training.default_train_config(data.spec)
    assert cfg.kl_warmup_unit == "steps"


# ------------------------------------------------------------------------------------------ command line
@pytest.fixture(scope="module")
def cli_run(tmp_path_factory, corpus):
    from ._cli import ok

    d = tmp_path_factory.mktemp("text_cli")
    (d / "corpus.txt").write_text("\n".join(corpus[:120]) + "\n", encoding="utf-8")
    result = ok("train", d / "corpus.txt", "--out", d / "run", "--epochs", "2", "--latent-dim", "4", "--max-time", "60s")
    assert "sequence" in result.output and "tokens" in result.output
    return d


def test_cli_train_detects_text_and_the_verbs_write_sentences(cli_run):
    from ._cli import ok

    d = cli_run
    config = json.loads((d / "run" / "config.json").read_text())
    assert config["data"]["kind"] == "text" and config["model"]["net"] == "sequence"
    ok("sample", d / "run", "-n", "5", "-o", d / "s.txt", "--temperature", "0.8")
    assert len((d / "s.txt").read_text(encoding="utf-8").splitlines()) == 5
    ok("sample", d / "run", "-n", "2", "--decode", "beam", "-o", d / "b.txt")
    assert len((d / "b.txt").read_text(encoding="utf-8").splitlines()) == 2
    (d / "test.txt").write_text("the zebra loves the warm cat today .\nthe cold dog fears the boy again .\n",
                                encoding="utf-8")
    ok("eval", d / "run", "--data", d / "test.txt", "--iwae-k", "5")
    ev = json.loads((d / "run" / "eval.json").read_text())
    assert {"nll", "kl", "active_units", "ppl"} <= set(ev) and ev["n"] == 2 and ev["iwae_k"] == 5
    ok("reconstruct", d / "run", d / "test.txt", "-o", d / "r.txt")
    assert [len(l.split("\t")) for l in (d / "r.txt").read_text(encoding="utf-8").splitlines()] == [2, 2]
    ok("interpolate", d / "run", "--from", "the warm cat loves the dog today .", "--to", "0", "--data",
       d / "test.txt", "--steps", "4", "-o", d / "i.txt")
    assert len((d / "i.txt").read_text(encoding="utf-8").splitlines()) == 4
    ok("embed", d / "run", d / "test.txt", "-o", d / "e.csv")
    assert len((d / "e.csv").read_text().splitlines()) == 3
    ok("report", d / "run", "--data", d / "test.txt")
    html = (d / "run" / "report.html").read_text(encoding="utf-8")
    assert all(f">{t}</h2>" in html for t in ("Metrics", "Samples", "Reconstructions", "Homotopy"))
    assert "From " in html and "eval.json" in html  # the metrics of `vaekit eval` on the same data


def test_cli_text_errors(cli_run, tmp_path):
    from ._cli import fails

    bad = tmp_path / "bad.txt"
    bad.write_bytes(b"ok\n\xff\n")
    fails("train", bad, "--out", tmp_path / "r", "--epochs", "1", match=r"bad\.txt, line 2: bytes that are not UTF-8")
    (tmp_path / "t.csv").write_text("a,b\n1,2\n", encoding="utf-8")
    fails("train", tmp_path / "t.csv", "--out", tmp_path / "r", "--kind", "text", "--text-column", "s",
          match="no column 's'")
    fails("sample", cli_run / "run", "-n", "2", "--decode", "top", "-o", tmp_path / "x.txt", match="decoding method")


# ------------------------------------------------------------------------------------------ serve
def test_serve_text_endpoints_return_strings(trained):
    pytest.importorskip("fastapi")
    from fastapi.testclient import TestClient

    from vaekit.serve.app import create_app

    model, _ = trained
    client = TestClient(create_app(model, data=None, max_points=0))
    out = client.post("/sample", json={"n": 3, "seed": 0}).json()
    assert out["format"] == "text" and len(out["texts"]) == 3 and all(isinstance(t, str) for t in out["texts"])
    src = ["the warm cat loves the zebra today .", "the cold boy fears the bird tonight ."]
    rec = client.post("/reconstruct", json={"texts": src}).json()
    assert rec["texts"] == tt.reconstruct_text(model, src)
    path = client.post("/interpolate", json={"inputs": {"texts": src}, "steps": 4}).json()
    assert len(path["texts"]) == 4
    assert client.post("/encode", json={"texts": src}).status_code == 200
    bad = client.post("/reconstruct", json={"texts": []})
    assert bad.status_code == 422 and "empty" in bad.text
    assert "out.texts" in client.get("/static/app.js").text  # the page shows decoded sentences as text
