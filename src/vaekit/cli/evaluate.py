"""``vaekit eval RUN``: held-out negative ELBO, reconstruction, KL, NLL estimate, bits/dim, active units."""

from __future__ import annotations

from typing import Annotated

import typer

from . import _console
from ._options import DataOpt, LimitOpt, QuietOpt, RunDirArg, SeedOpt, ThreadsOpt, DeviceOpt

EPILOG = """\
[bold]Examples[/bold]

  vaekit eval runs/digits

  vaekit eval runs/digits --iwae-k 5000

  vaekit eval runs/table --data holdout.csv

  vaekit eval runs/sentences --data test.txt --iwae-k 100

Without --data the run's own data source is used, its test split (mnist5k: the last 500 digits). \
Sources without a test split (folders, .csv, .npy, .npz without x_test) need --data."""


def eval_(
    run: RunDirArg,
    data: DataOpt = None,
    iwae_k: Annotated[
        int, typer.Option("--iwae-k", min=0, help="Importance samples of the log-likelihood estimate (0 skips it).")
    ] = 1000,
    batch_size: Annotated[int, typer.Option(min=1, help="Examples per batch.")] = 256,
    limit: LimitOpt = None,
    seed: SeedOpt = 0,
    threads: ThreadsOpt = None,
    quiet: QuietOpt = False,
    device: DeviceOpt = "auto",
) -> None:
    """Evaluate a run on held-out data; print the metrics and write RUN/eval.json."""
    from ..tasks.runs import evaluate_run, evaluation_data, load_run, metric_rows, split_of, write_eval

    _console.setup(seed, threads)
    model = load_run(run, device=device)
    dataset = evaluation_data(model, data, limit=limit)
    from ..tasks import text as text_task

    if text_task.is_text_model(model):  # nats per sentence and token, perplexity, KL, MI, active units
        result = text_task.evaluate_text(model, dataset, iwae_k=max(1, iwae_k), batch_size=min(batch_size, 64),
                                         seed=seed)
        result["data"] = dataset.name  # what `vaekit report` compares with its own data
        _console.print_table(f"{type(model).__name__} on {dataset.description or dataset.name}",
                             text_task.evaluation_figures(result))
        _console.print_wrote(write_eval(run, result))
        return
    result = evaluate_run(model, dataset, k=iwae_k, batch_size=batch_size, seed=seed, split=split_of(model, data),
                          progress=_console.eval_progress(quiet, f"evaluating on {len(dataset):,} examples"))
    _console.print_table(f"{type(model).__name__} on {dataset.description or dataset.name}",
                         metric_rows(result, model.latent_dim))
    _console.print_wrote(write_eval(run, result))
