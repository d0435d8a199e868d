"""``vaekit traverse RUN``: one row per latent dimension, varied across the prior's range."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from . import _console
from ._options import DataOpt, LimitOpt, OutputOpt, RunDirArg, StepsOpt, DeviceOpt

EPILOG = """\
[bold]Examples[/bold]

  vaekit traverse runs/digits -o traverse.png

  vaekit traverse runs/beta4 --dims 0,3,5-7 --steps 11 -o traverse.png

  vaekit traverse runs/digits --data mnist5k -o traverse.png

With --data the rows are sorted by how much each dimension varies over the data (its variance of \
posterior means; below 0.01 the dimension is inactive and its row does not change)."""


def traverse(
    run: RunDirArg,
    dims: Annotated[
        Optional[str],
        typer.Option(help="Latent dimensions, e.g. 0,3,5-7 \\[default: all, at most 32].", show_default=False,
                     metavar="DIMS"),
    ] = None,
    steps: StepsOpt = 9,
    data: DataOpt = None,
    limit: LimitOpt = 2000,
    output: OutputOpt = Path("traverse.png"),
    device: DeviceOpt = "auto",
) -> None:
    """Vary one latent dimension at a time over the prior's 3%-97% quantiles, the others at 0 (with --data:
    over the 3%-97% range of DATA's posterior means, the others at their median)."""
    import numpy as np

    from ..tasks import generate, visualize
    from ..tasks.runs import load_run, run_data

    model = load_run(run, device=device)
    chosen = generate.parse_dims(dims, model.latent_dim)
    activity = codes = None
    if data is not None:
        # the data's codes: rows sorted by activity, each spanning the range the data reaches
        codes, _ = generate.posterior_means(model, run_data(model, data, split="test", limit=limit))
        activity = codes.var(axis=0, ddof=1) if len(codes) > 1 else np.zeros(model.latent_dim)
        if chosen is None:
            chosen = [int(d) for d in (-activity).argsort(kind="stable")[:32]]
        else:
            chosen = sorted(chosen, key=lambda d: -activity[d])
    picture = visualize.traversal_picture(model, dims=chosen, steps=steps, activity=activity, codes=codes)
    _console.print_wrote(visualize.save_picture(picture, output))
