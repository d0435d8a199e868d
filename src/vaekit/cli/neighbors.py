"""``vaekit neighbors RUN DATA --query I``: the examples nearest to one example in latent space."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from . import _console
from ._options import DataArg, OutputOpt, RunDirArg, DeviceOpt

EPILOG = """\
[bold]Examples[/bold]

  vaekit neighbors runs/digits mnist5k --query 12 -k 8 -o nn.png

  vaekit neighbors runs/photos photos/ --query my_cat.png -o nn.png

  vaekit neighbors runs/table data.csv --query 0 -k 5 -o nn.png

Distances are Euclidean between posterior means (autoencoder codes for an autoencoder). The query \
is an index into DATA (its test split when it has one) or an image file; an index is left out of \
its own neighbours."""


def neighbors(
    run: RunDirArg,
    data: DataArg,
    query: Annotated[str, typer.Option("--query", help="An index into DATA or an image file.", metavar="I")],
    k: Annotated[int, typer.Option("-k", "--neighbors", min=1, help="Number of neighbours.")] = 8,
    output: OutputOpt = Path("nn.png"),
    device: DeviceOpt = "auto",
) -> None:
    """Show the k examples of DATA whose latent codes are closest to the query's."""
    from ..tasks.neighbors import nearest_neighbors, neighbors_picture
    from ..tasks.runs import load_run, run_data
    from ..tasks.visualize import save_picture

    model = load_run(run, device=device)
    dataset = run_data(model, data, split="test")
    result = nearest_neighbors(model, dataset, query, k)
    path = save_picture(neighbors_picture(model, result), output)
    _console.print_table(f"Nearest neighbours of {result.query_label} in latent space",
                         {label: float(d) for label, d in zip(result.labels, result.distances)})
    _console.print_wrote(path)
