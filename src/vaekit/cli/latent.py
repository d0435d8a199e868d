"""``vaekit latent RUN DATA``: the latent space, posterior means coloured by label."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from . import _console
from ._options import DataArg, OutputOpt, RunDirArg

EPILOG = """\
[bold]Examples[/bold]

  vaekit latent runs/digits mnist5k -o latent.png

  vaekit latent runs/table data.csv --max-points 5000 -o latent.png

With latent_dim > 2 the means are projected with PCA (the plot says so). With latent_dim = 2 the \
decoded grid over the prior's quantiles is written too, beside -o as NAME_manifold.png."""


def latent(
    run: RunDirArg,
    data: DataArg,
    output: OutputOpt = Path("latent.png"),
    max_points: Annotated[int, typer.Option(min=2, help="Examples to plot (the first ones of DATA).")] = 2000,
    steps: Annotated[int, typer.Option(min=2, help="Rows and columns of the manifold grid (latent_dim = 2).")] = 15,
) -> None:
    """Scatter the posterior means of DATA's examples, coloured by label."""
    from ..tasks import visualize
    from ..tasks.runs import load_run, run_data

    model = load_run(run)
    dataset = run_data(model, data, split="test", limit=max_points)
    written = [visualize.save_picture(visualize.latent_figure(model, dataset, max_points=max_points), output)]
    if model.latent_dim == 2:
        manifold = output.with_name(f"{output.stem}_manifold.png")
        written.append(visualize.save_picture(visualize.manifold_picture(model, steps=steps), manifold))
    _console.print_wrote(*written)
