"""The HTML report of a run, and of the demo's VAE-versus-autoencoder comparison.

One function builds the sections of a run's report (:func:`run_sections`); ``vaekit report`` writes
them for one run and ``vaekit demo`` puts the comparison sections in front of both runs' sections.
Pictures come from :mod:`vaekit.tasks.visualize`, the page from :func:`vaekit.report.render_report`:
one self-contained file, images embedded, nothing fetched.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Callable, Sequence

from .. import io as vio
from .. import rundir
from ..data import Dataset
from ..errors import DataError
from ..report import Section, render_report, write_report
from . import generate, visualize
from .runs import data_fingerprint, evaluate_run, load_run, metric_rows, read_eval, run_data, split_of

__all__ = [
    "REPORT_FILE",
    "SECTION_TITLES",
    "report_metrics",
    "run_sections",
    "comparison_sections",
    "write_run_report",
]

REPORT_FILE = "report.html"

#: Titles of a run report's sections, in order (the latent-space section is present only with data).
SECTION_TITLES = (
    "Run",
    "Configuration",
    "Training curves",
    "Metrics",
    "Samples from the prior",
    "Reconstructions",
    "Interpolations",
    "Latent space",
    "Latent traversals",
)


def _is_vae(model) -> bool:
    return bool(getattr(model, "has_density", False))


def _config_doc(model, run) -> dict:
    if run is not None and (Path(run) / rundir.CONFIG_FILE).is_file():
        return vio.read_json(Path(run) / rundir.CONFIG_FILE)
    return rundir.config_document(model)


def _metrics_rows(run) -> list[dict] | None:
    if run is not None and (Path(run) / rundir.METRICS_FILE).is_file():
        return rundir.read_metrics(Path(run) / rundir.METRICS_FILE)
    return None


def report_metrics(
    model,
    data: Dataset,
    *,
    k: int = 100,
    seed: int = 0,
    progress: Callable[[int, int], None] | None = None,
    run: str | os.PathLike | None = None,
    split: str = "all",
) -> tuple[dict, str]:
    """Metrics for a report: the ``eval.json`` of the run directory ``run`` when ``vaekit eval`` wrote one
    on this same data (name, split and :func:`~vaekit.tasks.runs.data_fingerprint` agree), else computed now.

    Returns
    -------
    metrics : dict
        As :func:`~vaekit.tasks.runs.evaluate_run` returns.
    note : str
        Where the numbers come from (and why an ``eval.json`` on other data was not used).
    """
    saved = read_eval(run) if run is not None else None
    other = ""
    if saved is not None:
        where = f"{saved.get('n', '?'):,} examples of '{_short(str(saved.get('data', '?')))}'" if isinstance(
            saved.get("n"), int) else f"'{_short(str(saved.get('data', '?')))}'"
        if saved.get("split"):
            where += f" ({_split_words(saved['split'])})"
        same = (saved.get("data") == data.name and saved.get("split") == split
                and saved.get("fingerprint") == data_fingerprint(data))
        if same:
            return saved, f"From {Path(run) / 'eval.json'} (vaekit eval on {where})."
        other = (f" {Path(run) / 'eval.json'} was computed on {where}, not on this report's data, so it was not "
                 f"used.")
    result = evaluate_run(model, data, k=k if _is_vae(model) else 0, seed=seed, progress=progress, split=split)
    note = f"Computed for this report on {len(data):,} examples of '{_short(data.name)}' ({_split_words(split)})"
    note += f" with k={k} importance samples; `vaekit eval RUN` gives the k=1000 estimate." if _is_vae(model) else "."
    return result, note + other


def _split_words(split: str) -> str:
    return {"test": "its test split", "train": "its training split", "all": "all of it"}.get(split, split)


def _short(name: str) -> str:
    return Path(name).name if os.sep in name or "/" in name else name


def run_sections(
    model,
    data: Dataset | None,
    *,
    metrics: dict | None = None,
    metrics_note: str | None = None,
    seed: int = 0,
    prefix: str = "",
    n_samples: int = 64,
    run: str | os.PathLike | None = None,
    data_role: str | None = "held-out",
) -> list[Section]:
    """The sections of a run's report.

    Parameters
    ----------
    model : VAE or Autoencoder
        Usually from :func:`vaekit.load`.
    data : Dataset or None
        Examples for reconstructions, interpolations and the latent plot (those sections say they
        need data when it is None).
    data_role : {"held-out", "training"} or None
        What ``data`` is, as the captions say it: held-out examples, the training examples (a source
        without a test split), or None: just "examples".
    metrics : dict or None
        Evaluation result (see :func:`report_metrics`).
    seed : int
        Seed of the prior draws.
    prefix : str
        Put in front of every section title (the demo report holds two runs).
    run : path or None
        The run directory (its ``config.json`` and ``metrics.csv`` go into the report).

    Returns
    -------
    list of Section
        Titled as :data:`SECTION_TITLES`.
    """
    name = type(model).__name__
    doc = _config_doc(model, run)
    rows = _metrics_rows(run)
    spec = model.data_spec
    t = lambda title: f"{prefix}{title}"  # noqa: E731
    sections: list[Section] = []

    summary = {
        "model": name,
        "run directory": str(run or "(not saved)"),
        "data": "" if spec is None else spec.name,
        "example shape": "x".join(map(str, model.data_shape)),
        "latent_dim": model.latent_dim,
        "likelihood": model.config.likelihood,
        "net": model.config.net,
        "parameters": sum(p.numel() for p in model.parameters()),
    }
    if rows:
        summary["epochs trained"] = rows[-1].get("epoch")
        summary["training time (s)"] = round(sum(r.get("seconds") or 0.0 for r in rows), 1)
    sections.append(Section.table(t("Run"), summary))
    sections.append(Section.json(t("Configuration"), doc, note="The run's config.json."))

    if rows:
        from ..viz import plot_training_curves

        sections.append(Section.image(t("Training curves"), plot_training_curves(rows),
                                      caption="Per-epoch loss terms (train solid, validation dashed) and schedules."))
    else:
        sections.append(Section.text(t("Training curves"), "This run has no metrics.csv."))

    if metrics is not None:
        sections.append(Section.table(t("Metrics"), metric_rows(metrics, model.latent_dim), note=metrics_note))
    else:
        sections.append(Section.text(t("Metrics"), "No evaluation data; run `vaekit eval RUN --data DATA`."))

    what = "samples of the model" if _is_vae(model) else (
        "an autoencoder never shaped its codes like N(0, I), so these are not samples of anything")
    sections.append(Section.image(
        t("Samples from the prior"), visualize.samples_picture(model, n_samples, seed=seed),
        caption=f"Decoder means at {n_samples} draws z ~ {visualize.prior_text(model)}: {what}.",
    ))

    if data is None or len(data) == 0:
        for title in ("Reconstructions", "Interpolations", "Latent space"):
            sections.append(Section.text(t(title), "Needs data; pass --data DATA."))
    else:
        x = data.get(slice(0, min(16, len(data))))
        examples = {"held-out": "Held-out examples", "training": "Training examples"}.get(data_role, "Examples")
        codes = "posterior means" if _is_vae(model) else "codes"
        outputs = "decoder means" if _is_vae(model) else "decoder outputs"
        role_note = (f"'{_short(data.name)}' has no test split, so these are training examples; pass --data DATA "
                     f"for held-out ones." if data_role == "training" else None)
        sections.append(Section.image(
            t("Reconstructions"), visualize.reconstruction_picture(model, x),
            caption=f"{examples} of '{_short(data.name)}' (input) and {outputs} at their {codes}.", note=role_note,
        ))
        endpoints = _endpoints(data, seed=seed)
        pair = {"held-out": "two held-out examples", "training": "two training examples"}.get(data_role, "two examples")
        sections.append(Section.image(
            t("Interpolations"), visualize.interpolation_picture(model, endpoints, steps=10),
            caption=f"Decoded straight lines between the {codes} of {pair}.",
        ))
        latent = visualize.latent_figure(model, data)
        labelled = data.y is not None  # latent_figure colours the points by label exactly then
        what = codes[0].upper() + codes[1:]
        if model.latent_dim == 2:
            sections.append(Section.images(t("Latent space"), [
                (f"{what} by label" if labelled else what, latent),
                ("Decoded grid over the prior's quantiles", visualize.manifold_picture(model)),
            ]))
        else:
            sections.append(Section.image(t("Latent space"), latent,
                                          caption=f"{what}, coloured by label." if labelled else f"{what}."))

    codes = generate.posterior_means(model, data, limit=2000)[0] if data is not None and len(data) > 1 else None
    activity = None if codes is None else codes.var(axis=0, ddof=1)
    dims = None
    if activity is not None:
        # Most informative dimensions first; at most 12 rows keep the picture readable.
        dims = [int(d) for d in (-activity).argsort(kind="stable")[: min(12, model.latent_dim)]]
    else:
        dims = list(range(min(12, model.latent_dim)))
    note = None
    code = "posterior mean" if _is_vae(model) else "code"
    if activity is not None:
        n_active = int((activity > 0.01).sum())
        note = (f"{n_active} of {model.latent_dim} dimensions are active (variance of the {code} over the "
                f"data > 0.01); rows sorted by that variance.")
    if codes is not None:
        caption = (f"Each row varies one latent dimension over the 3%-97% range of the data's {code}s (row label), "
                   f"the others at their median: the places the data reaches.")
    else:
        caption = ("Each row varies one latent dimension over the prior's 3%-97% quantiles, the others at the "
                   "prior's median.")
    sections.append(Section.image(
        t("Latent traversals"), visualize.traversal_picture(model, dims=dims, activity=activity, codes=codes),
        caption=caption, note=note,
    ))
    return sections


def _endpoints(data: Dataset, *, seed: int = 0, n_pairs: int = 3):
    out = []
    for i, j in generate.pick_pairs(data, n_pairs, seed=seed):
        a, la = generate.resolve_example(i, None, data)
        b, lb = generate.resolve_example(j, None, data)
        out.append((a, b, f"{la} to {lb}"))
    return out


def write_run_report(
    run: str | os.PathLike,
    *,
    data: str | os.PathLike | None = None,
    k: int = 100,
    seed: int = 0,
    limit: int | None = 1000,
    progress: Callable[[int, int], None] | None = None,
    device: str | None = None,
) -> Path:
    """Write ``RUN/report.html`` for a trained run; return its path (the model runs on ``device``).

    Parameters
    ----------
    run : path
        Run directory.
    data : str, path or None
        Evaluation data; default the run's own source (its test split when it has one).
    k : int
        Importance samples when the metrics are computed here (no ``eval.json`` in the run).
    seed : int
    limit : int or None
        Examples of the data used for metrics and the latent plot.
    progress : callable or None
        ``progress(n_done, n_total)`` while metrics are computed.
    """
    model = load_run(run, device=device)
    eval_data = run_data(model, data, split="test", limit=limit)
    split = split_of(model, data, split="test")
    from .text import is_text_model

    if is_text_model(model):  # sentences: samples, reconstructions and a homotopy as text
        from .text import report_sections

        sections = report_sections(model, eval_data, config_doc=_config_doc(model, run), rows=_metrics_rows(run),
                                   run=run, k=k, seed=seed, saved=read_eval(run))
        path = Path(run) / REPORT_FILE
        write_report(path, render_report(title=f"vaekit run: {Path(run).name}", sections=sections))
        return path
    # The run's own source without a test split: the examples shown are the training examples.
    role = "held-out" if split == "test" else "training" if data is None else None
    metrics, note = report_metrics(model, eval_data, k=k, seed=seed, progress=progress, run=run, split=split)
    sections = run_sections(model, eval_data, metrics=metrics, metrics_note=note, seed=seed, run=run,
                            data_role=role)
    path = Path(run) / REPORT_FILE
    write_report(path, render_report(title=f"vaekit run: {Path(run).name}", sections=sections))
    return path


def comparison_sections(
    runs: Sequence[tuple[str, Any, dict | None]],
    data: Dataset,
    *,
    seed: int = 0,
) -> list[Section]:
    """Sections comparing models trained on the same data (the demo: a VAE and an autoencoder).

    Parameters
    ----------
    runs : sequence of (name, model, metrics or None)
    data : Dataset
        Held-out data both models accept.
    seed : int
        The same prior draws and the same interpolation endpoints go to every model.
    """
    if not runs:
        raise DataError("comparison_sections needs at least one (name, model, metrics) run.")
    names = [n for n, *_ in runs]
    priors = {visualize.prior_text(m) for _, m, *_ in runs}
    same = len(priors) == 1
    sections = [Section.image(
        f"{' vs '.join(names)}: decoding z ~ {next(iter(priors))}" if same else f"{' vs '.join(names)}: decoding prior draws",
        visualize.prior_comparison_figure([(n, m) for n, m, *_ in runs], n=64, seed=seed),
        caption=("The same 64 draws from the prior, decoded by each model. " if same else
                 "64 seeded draws of each model's own prior, decoded by it. ")
        + "A VAE was trained to make its prior's codes decode to data, so these are samples; an autoencoder was not.",
    )]
    endpoints = _endpoints(data, seed=seed)
    rows, labels = [], []
    for a, b, lab in endpoints:
        for name, model, *_ in runs:
            rows.append(generate.interpolate(model, a, b, steps=10))
            labels.append(f"{name}: {lab}")
    sections.append(Section.image(
        f"{' vs '.join(names)}: interpolations",
        visualize.rows_picture(rows, labels, visualize.spec_of(runs[0][1]), title="Interpolations"),
        caption="Straight lines between the codes of the same two held-out examples in each model's latent "
                "space. The VAE's smooth latent space keeps every point on the way digit-like; an autoencoder "
                "can do well near its training codes too, but not between arbitrary points of the prior (above).",
    ))
    table = []
    for name, model, metrics, *where in runs:
        row = {"model": name}
        row.update(metric_rows(metrics or {}, model.latent_dim))
        hist = _metrics_rows(where[0] if where else None)
        if hist:
            row["training time (s)"] = round(sum(r.get("seconds") or 0.0 for r in hist), 1)
        table.append(row)
    sections.append(Section.table(f"{' vs '.join(names)}: metrics", table,
                                  note=f"On {len(data):,} held-out examples of '{_short(data.name)}'."))
    return sections
