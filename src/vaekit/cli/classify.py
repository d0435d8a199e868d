"""``vaekit classify RUN DATA -o predictions.csv``: q(y|x) of a semi-supervised run for every example."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from . import _console
from ._options import BatchSizeOpt, DataArg, LimitOpt, RunDirArg, Split, SplitOpt, DeviceOpt

EPILOG = """\
[bold]Examples[/bold]

  vaekit classify runs/m2 mnist -o predictions.csv --split test

  vaekit classify runs/m1m2 photos/ -o predictions.parquet

  vaekit classify runs/m2 table.csv -o predictions.csv --label-column label

Columns: id (file path, table index or row number), label (the most probable class index), label_name \
(when the classes have names), p_<class> (q(y|x) of each class) and, when DATA has labels, true_label; \
the accuracy on the labelled examples is printed. The run must have a classifier: trained with \
--semi-supervised or --stack-on."""


def classify(
    run: RunDirArg,
    data: DataArg,
    output: Annotated[
        Path, typer.Option("--output", "-o", help="Output file: .csv or .parquet (written atomically).",
                           metavar="FILE", show_default=False)
    ],
    label_column: Annotated[
        Optional[str], typer.Option(help="Label column of a table (default: the run's).", show_default=False)
    ] = None,
    split: SplitOpt = Split.all,
    limit: LimitOpt = None,
    batch_size: BatchSizeOpt = 1024,
    device: DeviceOpt = "auto",
) -> None:
    """Predict the class of every example of DATA with the run's classifier q(y|x)."""
    from ..tasks import semisupervised as semi
    from ..tasks.runs import load_data, load_run

    model = load_run(run, device=device)
    semi.check_classifier(model)  # before reading the data
    semi.check_predictions_path(output)
    dataset = load_data(data, split=split.value, limit=limit, data_spec=model.data_spec, label_column=label_column)
    predictions = semi.classify(model, dataset, batch_size=batch_size)
    path = semi.write_predictions(predictions, output)
    rows = {"examples": len(predictions), "classes": model.num_classes}
    acc = semi.accuracy(predictions)
    if acc is not None:
        known = int((predictions["true_label"] >= 0).sum())
        rows[f"accuracy ({known:,} labelled examples)"] = f"{acc:.2%}"
    _console.print_table("Classified", rows)
    _console.print_wrote(path)
