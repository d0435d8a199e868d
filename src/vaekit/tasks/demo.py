"""``vaekit demo``: a VAE and a deterministic autoencoder, trained side by side on real digits.

The point to make visible: both reconstruct well, but only the VAE turns random codes z ~ N(0, I)
into digits, and only its latent space is smooth enough that straight lines between two digits stay
digit-like. Both models share nets, data, seed and training settings; the only difference is the
KL term (Kingma & Welling 2014) that shapes the VAE's codes like the prior.
"""

from __future__ import annotations

import dataclasses
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from .. import rundir
from ..report import Section, render_report, write_report
from .report import REPORT_FILE, comparison_sections, run_sections
from .runs import evaluate_run, load_data, write_eval

__all__ = ["DEMO_DATA", "DemoSettings", "DemoHooks", "DemoResult", "run_demo"]

#: The embedded data set the demo trains on (5,000 real MNIST digits; no network).
DEMO_DATA = "mnist5k"


@dataclass(frozen=True, kw_only=True)
class DemoSettings:
    """What the demo trains. Chosen to make the point in about a minute per model on 2 CPU cores.

    Bernoulli likelihood on dynamically binarised digits (Salakhutdinov & Murray 2008) with a
    16-dimensional latent space and an MLP 784-512-256-16: enough for recognisable samples after
    ~25 epochs on 4,500 digits (30 by default). ``max_time`` caps the training of both models together so the demo
    stays within its budget on a slow machine: the VAE gets two thirds of it, the autoencoder (which
    needs fewer epochs to reconstruct well) one third; training stops at the first step after its
    share runs out.
    """

    latent_dim: int = 16
    hidden_dims: tuple[int, ...] = (512, 256)
    epochs: int = 30
    batch_size: int = 128
    lr: float = 2e-3
    binarize: str = "dynamic"
    max_time: float | None = 120.0
    k: int = 100
    seed: int = 0
    limit: int | None = None


_INTRO = """\
A variational autoencoder (VAE) and a deterministic autoencoder with the same networks, likelihood, data \
({n_train:,} MNIST digits; {n_test:,} held out), seed and training settings. The only difference is the KL term \
in the VAE's objective, which pulls the codes of the training digits towards the prior N(0, I).

Both reconstruct digits. But decode random codes z ~ N(0, I) and only the VAE gives digits: the autoencoder \
never had a reason to put its codes where the prior puts its mass, so most of those points decode to blurry \
blots. Walk a straight line from one digit's code to another's and the VAE stays on digit-like images all the \
way, because its latent space is smooth; the autoencoder's path passes through regions it never decodes well.

Below: the side-by-side comparisons, then each run's full report (configuration, training curves, metrics, \
samples, reconstructions, interpolations, latent space and traversals). Each run also has its own report.html."""


class DemoHooks:
    """Where a user interface plugs in progress display; the defaults show nothing."""

    def fit_callbacks(self, name: str) -> list:
        """Callbacks for :func:`vaekit.fit` while model ``name`` trains."""
        return []

    def progress(self, name: str) -> Callable[[int, int], None] | None:
        """``progress(n_done, n_total)`` while ``name`` is evaluated."""
        return None


@dataclass
class DemoResult:
    """What the demo wrote.

    Attributes
    ----------
    report : Path
        The combined HTML report.
    runs : dict of str to Path
        Run directory of each model (``"VAE"``, ``"Autoencoder"``), each with its own report.html.
    metrics : dict of str to dict
        Held-out evaluation of each model.
    seconds : float
        Wall time of the whole demo.
    """

    report: Path
    runs: dict[str, Path] = field(default_factory=dict)
    metrics: dict[str, dict] = field(default_factory=dict)
    seconds: float = 0.0


def run_demo(
    out: str | os.PathLike,
    *,
    settings: DemoSettings | None = None,
    overwrite: bool = False,
    hooks: DemoHooks | None = None,
) -> DemoResult:
    """Train a VAE and an autoencoder on :data:`DEMO_DATA` into ``out/vae`` and ``out/ae``; write ``out/report.html``.

    Parameters
    ----------
    out : path
        Folder for both runs and the report (refused when non-empty unless ``overwrite``).
    settings : DemoSettings or None
    overwrite : bool
    hooks : DemoHooks or None
        Progress display.

    Returns
    -------
    DemoResult
    """
    from ..model import VAE, Autoencoder
    from ..training import fit

    s = settings or DemoSettings()
    hooks = hooks or DemoHooks()
    started = time.perf_counter()
    folder_of_runs = rundir.RunDirectory(out, overwrite=overwrite)  # the old demo comes back if this one fails
    out = folder_of_runs.path
    try:
        train = load_data(DEMO_DATA, split="train", limit=s.limit)
        test = load_data(DEMO_DATA, split="test", limit=s.limit)
        result = DemoResult(report=out / REPORT_FILE)
        trained: list[tuple[str, Any, dict, Path]] = []
        for name, cls, folder, share in (("VAE", VAE, "vae", 2 / 3), ("Autoencoder", Autoencoder, "ae", 1 / 3)):
            # both with N(0, I): the comparison decodes the same prior draws with each model
            model = cls.for_data(train, latent_dim=s.latent_dim, hidden_dims=s.hidden_dims, prior="standard_normal")
            run = out / folder
            fit(model, train, out=run, overwrite=True, callbacks=hooks.fit_callbacks(name), progress=False,
                epochs=s.epochs, batch_size=s.batch_size, lr=s.lr, binarize=s.binarize, seed=s.seed,
                max_time=None if s.max_time is None else s.max_time * share)
            metrics = evaluate_run(model, test, k=s.k if name == "VAE" else 0, seed=s.seed,
                                   progress=hooks.progress(f"evaluating {name}"))
            write_eval(run, metrics)
            result.runs[name] = run
            result.metrics[name] = metrics
            trained.append((name, model, metrics, run))

        per_run = {}
        for name, model, metrics, run in trained:
            note = f"On the {len(test):,} held-out digits of '{DEMO_DATA}'" + (
                f", IWAE with k={s.k}." if name == "VAE" else ".")
            per_run[name] = run_sections(model, test, metrics=metrics, metrics_note=note, seed=s.seed, run=run)
            write_report(result.runs[name] / REPORT_FILE,
                         render_report(title=f"vaekit demo: {name}", sections=per_run[name]))
        sections = [Section.text("What this demo shows", _INTRO.format(n_train=len(train), n_test=len(test)))]
        sections += comparison_sections(trained, test, seed=s.seed)
        for name, *_ in trained:
            sections += [dataclasses.replace(sec, title=f"{name}: {sec.title}") for sec in per_run[name]]
        write_report(result.report, render_report(title="vaekit demo: VAE vs autoencoder on MNIST digits", sections=sections))
    except BaseException:
        folder_of_runs.abort()
        raise
    folder_of_runs.commit()
    result.seconds = time.perf_counter() - started
    return result
