"""``vaekit report RUN``: a self-contained HTML report of a run."""

from __future__ import annotations

from typing import Annotated

import typer

from . import _console
from ._options import DataOpt, LimitOpt, QuietOpt, RunDirArg, SeedOpt, ThreadsOpt, DeviceOpt

EPILOG = """\
[bold]Examples[/bold]

  vaekit report runs/digits

  vaekit report runs/table --data holdout.csv

Writes RUN/report.html: configuration, training curves, metrics (from RUN/eval.json when `vaekit eval` \
wrote one on the same data, else computed here and said so), samples, reconstructions, interpolations, latent space and traversals. One file, images \
embedded: it opens offline and can be mailed."""


def report(
    run: RunDirArg,
    data: DataOpt = None,
    iwae_k: Annotated[
        int, typer.Option("--iwae-k", min=0, help="Importance samples when metrics are computed here (no eval.json).")
    ] = 100,
    limit: LimitOpt = 1000,
    seed: SeedOpt = 0,
    threads: ThreadsOpt = None,
    quiet: QuietOpt = False,
    device: DeviceOpt = "auto",
) -> None:
    """Write RUN/report.html with everything about a run in one self-contained file."""
    from ..tasks.report import write_run_report

    _console.setup(seed, threads)
    path = write_run_report(run, data=data, k=iwae_k, seed=seed, limit=limit, device=device,
                            progress=_console.eval_progress(quiet, "evaluating for the report"))
    _console.print_wrote(path, what="Report")
