"""Text tasks over a trained sentence VAE (``DataSpec(kind="text")``): generate, reconstruct,
interpolate (a homotopy between two sentences), embed, and evaluate (NLL per sentence and per token,
the IWAE bound, perplexity, KL, mutual information, active units).

Also the same-run baseline: :func:`language_model_for` builds the same decoder without a latent (a VAE
whose encoder outputs the prior, so KL is exactly 0 and the ELBO is the language model's log p(x)).
"""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np
import torch

from ..config import DataSpec
from ..data._dataset import Dataset
from ..data.text import decode_ids, encode_texts, texts_to_dataset
from ..errors import ConfigError, DataError
from ..evaluation import active_units
from ..model import VAE, interpolate_latents

__all__ = ["language_model_for", "is_text_model", "sample_text", "reconstruct_text", "interpolate_text",
           "embed_text", "evaluate_text", "mutual_information", "as_text_data", "DECODING"]

DECODING = ("greedy", "sample", "beam")


def is_text_model(model) -> bool:
    """Whether ``model`` was trained on text (its data spec is of kind 'text')."""
    spec = getattr(model, "data_spec", None)
    return spec is not None and spec.kind == "text"


def _spec(model) -> DataSpec:
    if not is_text_model(model):
        kind = getattr(getattr(model, "data_spec", None), "kind", None)
        raise ConfigError(f"This is not a text model (its data kind is {kind!r}); the text verbs need a run "
                          f"trained on sentences (vaekit train corpus.txt).")
    return model.data_spec


def language_model_for(data, **overrides) -> VAE:
    """The same-run baseline: the text preset's decoder without a latent (``net_options["latent"] = False``)."""
    options = dict(overrides.pop("net_options", None) or {})
    options["latent"] = False
    return VAE.for_data(data, net_options=options, free_bits=0.0, **overrides)


def as_text_data(model, texts: Sequence[str] | Dataset, *, name: str = "input") -> Dataset:
    """Sentences (strings, or a text Dataset) as a Dataset in ``model``'s vocabulary (unknown words -> <unk>)."""
    spec = _spec(model)
    if isinstance(texts, Dataset):
        if texts.spec.kind != "text":
            raise DataError(f"Dataset {texts.name!r} is not text (kind={texts.spec.kind!r}).")
        if texts.spec.vocabulary == spec.vocabulary and texts.spec.shape == spec.shape:
            return texts
        texts = decode_ids(texts.x, texts.spec)
    if isinstance(texts, str):
        texts = [texts]
    return texts_to_dataset(list(texts), spec=spec, name=name)


def _decode(model, z: torch.Tensor, method: str, temperature: float, beam_width: int, generator) -> torch.Tensor:
    if method not in DECODING:
        raise ConfigError(f"The decoding method must be one of {', '.join(DECODING)}; got {method!r}.")
    if not (isinstance(temperature, (int, float)) and temperature > 0):
        raise ConfigError(f"The temperature must be a number > 0; got {temperature!r}.")
    params = model.decoder(z)
    if method == "greedy":
        return params.generate()
    if method == "beam":
        if not isinstance(beam_width, int) or beam_width < 1:
            raise ConfigError(f"The beam width must be an int >= 1; got {beam_width!r}.")
        return params.beam(beam_width)
    return params.generate(temperature=float(temperature), generator=generator)


@torch.no_grad()
def sample_text(model, n: int, *, method: str = "sample", temperature: float = 1.0, beam_width: int = 5,
                seed: int = 0, z_temperature: float = 1.0) -> list[str]:
    """``n`` new sentences: z ~ p(z) (scaled by ``z_temperature``), then decoded by ``method``: ``"sample"``
    (tokens drawn from softmax(logits / temperature)), ``"greedy"`` or ``"beam"``."""
    spec = _spec(model)
    if not isinstance(n, int) or isinstance(n, bool) or n < 1:
        raise ConfigError(f"n must be an int >= 1; got {n!r}.")
    model.eval()
    g = torch.Generator().manual_seed(seed)
    z = model.prior.sample(n, generator=g, temperature=float(z_temperature)).to(model.device)
    return decode_ids(_decode(model, z, method, temperature, beam_width, g), spec)


@torch.no_grad()
def reconstruct_text(model, texts, *, method: str = "greedy", beam_width: int = 5, temperature: float = 1.0,
                     seed: int = 0) -> list[str]:
    """Each sentence encoded to its posterior mean and decoded again."""
    data = as_text_data(model, texts)
    model.eval()
    z = model.embed(data.x.to(model.device))
    return decode_ids(_decode(model, z, method, temperature, beam_width, torch.Generator().manual_seed(seed)),
                      model.data_spec)


@torch.no_grad()
def embed_text(model, texts) -> np.ndarray:
    """Posterior means E[z|x] of sentences: (n, latent_dim) float32."""
    data = as_text_data(model, texts)
    model.eval()
    return model.embed(data.x.to(model.device)).cpu().numpy()


@torch.no_grad()
def interpolate_text(model, a: str, b: str, steps: int = 7, *, spherical: bool = False, method: str = "greedy",
                     beam_width: int = 5) -> list[str]:
    """A homotopy (Bowman et al. 2016): the sentences decoded at ``steps`` points from a's posterior mean
    to b's (both ends included)."""
    if not isinstance(steps, int) or isinstance(steps, bool) or steps < 2:
        raise ConfigError(f"steps must be an int >= 2; got {steps!r}.")
    data = as_text_data(model, [a, b])
    model.eval()
    za, zb = model.embed(data.x.to(model.device))
    path = interpolate_latents(za, zb, steps, spherical=spherical)
    return decode_ids(_decode(model, path, method, 1.0, beam_width, None), model.data_spec)


@torch.no_grad()
def mutual_information(model, data: Dataset, *, n: int = 2000, seed: int = 0) -> float:
    """I_q(x; z) under the aggregate posterior (Hoffman & Johnson 2016; as He et al. 2019 report it):
    E_x E_{z~q(z|x)} [log q(z|x) - log q(z)], with q(z) the mixture of the posteriors of up to ``n``
    examples (a Monte Carlo estimate; at most log n)."""
    x = data.get(slice(0, min(n, len(data)))) if hasattr(data, "get") else data.x[:n]
    x = torch.as_tensor(x).to(model.device)
    q = model.encode(x)
    base = q.base_dist
    z = model.reparameterize(q, None, torch.Generator().manual_seed(seed))  # (m, latent)
    mu, sd = base.loc, base.scale  # (m, latent)
    m = x.shape[0]
    post = torch.distributions.Normal(mu[None], sd[None])
    total = 0.0
    for i in range(0, m, 128):  # log q(z_i | x_j) for every pair, 128 rows of z at a time
        log_pair = post.log_prob(z[i:i + 128, None]).sum(-1)  # (rows, m)
        log_qz = torch.logsumexp(log_pair, dim=1) - math.log(m)
        own = log_pair.gather(1, torch.arange(i, i + log_pair.shape[0], device=z.device)[:, None])[:, 0]
        total += float((own - log_qz).sum())
    return total / m


@torch.no_grad()
def evaluate_text(model, data, *, iwae_k: int = 100, batch_size: int = 64, seed: int = 0,
                  mi_examples: int = 2000) -> dict:
    """Likelihood figures of a text model on ``data`` (a text Dataset, or sentences).

    Returns a dict: ``nll`` (the IWAE bound with ``iwae_k`` samples, nats per sentence), ``nll_per_token``
    (per token, ``<eos>`` counted), ``ppl`` (exp of ``nll_per_token``), ``neg_elbo``, ``reconstruction_nll``
    and ``kl`` (per sentence, at one posterior draw / closed form), ``mutual_info``, ``active_units``,
    ``n``, ``tokens``, ``iwae_k``.
    """
    data = as_text_data(model, data) if not (isinstance(data, Dataset) and data.spec == model.data_spec) else data
    if not isinstance(iwae_k, int) or isinstance(iwae_k, bool) or iwae_k < 1:
        raise ConfigError(f"iwae_k must be an int >= 1; got {iwae_k!r}.")
    model.eval()
    g = torch.Generator().manual_seed(seed)
    sums = dict(nll=0.0, neg_elbo=0.0, reconstruction_nll=0.0, kl=0.0)
    tokens = 0
    # batches of similar length (the decoder is trimmed to each batch's longest row); sums do not depend on order
    ids = np.asarray(data.x)
    order = np.argsort((ids != 0).sum(axis=1), kind="stable")
    for i in range(0, len(data), batch_size):
        x = torch.as_tensor(ids[order[i:i + batch_size]]).to(model.device)
        tokens += int((x != 0).sum())
        q = model.encode(x)
        z = model.reparameterize(q, None, g)
        rec = -model.log_px(model.decode(z), x)
        kl = model.prior.kl_per_dim(q)
        kl = kl.sum(-1) if kl is not None else q.log_prob(z) - model.prior.log_prob(z)
        sums["reconstruction_nll"] += float(rec.sum())
        sums["kl"] += float(kl.sum())
        sums["neg_elbo"] += float((rec + kl).sum())
        sums["nll"] += float(-model.iwae(x, iwae_k, generator=g).sum()) if iwae_k > 1 else float((rec + kl).sum())
    n = len(data)
    out = {k: v / n for k, v in sums.items()}
    out["nll_per_token"] = sums["nll"] / tokens
    out["ppl"] = math.exp(out["nll_per_token"])
    out["mutual_info"] = mutual_information(model, data, n=mi_examples, seed=seed)
    out["active_units"] = int(active_units(model, data)) if model.config.net_options.latent else 0
    out.update(n=n, tokens=tokens, iwae_k=iwae_k)
    return out


def encode_sentences(model, texts: Sequence[str]) -> torch.Tensor:
    """Sentences as the model's input tensor (n, max_length + 1)."""
    return torch.as_tensor(encode_texts(list(texts), _spec(model)))


def write_lines(path, lines: Sequence[str]) -> "Path":
    """Write one sentence per line (UTF-8) atomically; return the path."""
    from pathlib import Path

    from ..io import atomic_write_text

    path = Path(path)
    atomic_write_text(path, "".join(f"{s}\n" for s in lines))
    return path


def evaluation_figures(result: dict) -> dict[str, str]:
    """Rows for a table of :func:`evaluate_text`'s result."""
    return dict([("sentences", f"{result['n']:,} ({result['tokens']:,} tokens with <eos>)"),
            (f"NLL per sentence (IWAE k={result['iwae_k']})", f"{result['nll']:.3f} nats"),
            ("NLL per token", f"{result['nll_per_token']:.4f} nats"),
            ("perplexity", f"{result['ppl']:.2f}"),
            ("-ELBO", f"{result['neg_elbo']:.3f}"), ("reconstruction NLL", f"{result['reconstruction_nll']:.3f}"),
            ("KL", f"{result['kl']:.3f} nats"), ("mutual information", f"{result['mutual_info']:.3f} nats"),
            ("active units", str(result["active_units"]))])


def report_sections(model, data: Dataset, *, config_doc: dict, rows: list | None, run=None, k: int = 100,
                    seed: int = 0, saved: dict | None = None) -> list:
    """The sections of ``vaekit report`` for a text run: summary, configuration, training curves, metrics
    (``saved``, RUN/eval.json, when it was computed on the same data; else computed here with ``k``),
    samples (sampled, greedy, beam), reconstructions and a homotopy between two sentences of ``data``."""
    from ..report import Section

    spec = _spec(model)
    summary = {"model": type(model).__name__, "run directory": str(run or "(not saved)"), "data": spec.name,
               "vocabulary": len(spec.vocabulary), "max length": spec.shape[0] - 1, "latent_dim": model.latent_dim,
               "net": f"{model.config.net} ({model.config.net_options.decoder} decoder)",
               "parameters": sum(p.numel() for p in model.parameters())}
    if rows:
        summary["epochs trained"] = rows[-1].get("epoch")
        summary["training time (s)"] = round(sum(r.get("seconds") or 0.0 for r in rows), 1)
    sections = [Section.table("Run", summary), Section.json("Configuration", config_doc, note="The run's config.json.")]
    if rows:
        from ..viz import plot_training_curves

        sections.append(Section.image("Training curves", plot_training_curves(rows),
                                      caption="Per-epoch loss terms (train solid, validation dashed) and schedules."))
    if saved is not None and saved.get("data") == data.name and saved.get("n") == len(data) and "nll_per_token" in saved:
        metrics, note = saved, f"From {run}/eval.json (vaekit eval on {len(data):,} sentences of '{data.name}')."
    else:
        metrics = evaluate_text(model, data, iwae_k=k, seed=seed)
        note = (f"Computed for this report on {len(data):,} sentences of '{data.name}' with k={k} importance samples; "
                f"`vaekit eval RUN --data FILE --iwae-k K` writes eval.json.")
    sections.append(Section.table("Metrics", evaluation_figures(metrics), note=note))
    sections.append(Section.table("Samples", [
        {"z ~ p(z), tokens sampled (T=1)": a, "greedy": b, "beam 5": c}
        for a, b, c in zip(sample_text(model, 8, seed=seed), sample_text(model, 8, method="greedy", seed=seed + 1),
                           sample_text(model, 8, method="beam", seed=seed + 1))]))
    texts = decode_ids(data.x[:8], spec)
    sections.append(Section.table("Reconstructions", [
        {"input": a, "greedy": b, "beam 5": c}
        for a, b, c in zip(texts, reconstruct_text(model, texts),
                           reconstruct_text(model, texts, method="beam"))],
        note="Each sentence encoded to its posterior mean and decoded again (words outside the vocabulary are <unk>)."))
    if len(data) >= 2:
        a, b = decode_ids(data.x[[0, len(data) // 2]], spec)
        sections.append(Section.table("Homotopy", [{"step": i, "sentence": s} for i, s in
                                                   enumerate(interpolate_text(model, a, b, steps=7))],
                                      note=f"Greedy decodings along the line from '{a}' to '{b}' in latent space."))
    return sections
