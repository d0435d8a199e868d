"""``vaekit sample RUN``: decode draws z ~ p(z) to a picture, or to an array in the data's own units."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from ..errors import ConfigError
from . import _console
from ._options import RunDirArg, SeedOpt, DeviceOpt

EPILOG = """\
[bold]Examples[/bold]

  vaekit sample runs/digits -n 64 -o samples.png

  vaekit sample runs/digits -n 16 --temperature 0.7 -o cool.png

  vaekit sample runs/digits -n 1000 --npy -o samples.npy

  vaekit sample runs/semi -n 16 --label 7 -o sevens.png

  vaekit sample runs/table -n 1000 -o rows.csv

With --npy the samples are an array of shape (n, *data_shape) in the data's own range: 8-bit images \
as uint8 0..255, tables with their numeric columns de-standardised. --label (a class index or name) needs \
a run trained with --semi-supervised, --conditional or --stack-on; without it such a run draws the \
classes at random. A run trained on a table writes synthetic rows as .csv or .parquet \
[default: samples.csv] (see `vaekit synth` for conditions and a report)."""


def sample(
    run: RunDirArg,
    n: Annotated[int, typer.Option("-n", "--num-samples", min=1, help="Number of samples.")] = 64,
    temperature: Annotated[float, typer.Option(min=0, help="Scale of the prior draws (below 1: cleaner, less varied).")] = 1.0,
    output: Annotated[
        Optional[Path],
        typer.Option("--output", "-o", help="File to write \\[default: samples.png, or samples.npy with --npy].",
                     show_default=False, metavar="FILE"),
    ] = None,
    npy: Annotated[bool, typer.Option("--npy", help="Write the samples as a .npy array instead of a picture.")] = False,
    label: Annotated[
        Optional[str],
        typer.Option("--label", help="Generate this class (an index or a class name) with a label-conditioned run.",
                     show_default=False, metavar="LABEL"),
    ] = None,
    seed: SeedOpt = 0,
    device: DeviceOpt = "auto",
) -> None:
    """Decode n draws z ~ N(0, I) (times --temperature) and write them as a picture or an array."""
    from ..tasks import generate, visualize
    from ..tasks.runs import load_run

    _console.seed_everything(seed)
    model = load_run(run, device=device)
    y = None
    if label is not None:
        from ..tasks.semisupervised import check_conditional, label_index

        check_conditional(model, "Sampling a given class (--label)")
        y = label_index(model, label)
    from ..tasks import synth as synth_task

    table_out = output is not None and output.suffix.lower() in synth_task.SYNTH_SUFFIXES
    if not npy and synth_task.is_table_model(model) and (output is None or table_out):
        # a table run writes rows of named columns, in the table's units
        if y is not None:
            raise ConfigError("--label picks a class of a label-conditioned run; use `vaekit synth RUN --where "
                              "column=value` to condition table rows.")
        frame = synth_task.synthesize(model, n, seed=seed, temperature=temperature)
        path = synth_task.write_table(frame, output or Path("samples.csv"), overwrite=True)
        _console.stdout().print(f"{n} synthetic rows, {len(frame.columns)} columns")
        _console.print_wrote(path)
        return
    if table_out:
        raise ConfigError(f"'{output}' is a table file, but this run was not trained on a table; write a picture "
                          f"(.png, .svg, .pdf) or --npy.")
    if npy:
        path = output or Path("samples.npy")
        x = generate.sample(model, n, temperature=temperature, seed=seed, y=y)
        generate.save_array(generate.to_data_range(x, model.data_spec), path)
        _console.stdout().print(f"{n} samples, array of shape {tuple(x.shape)} in the data's own range")
    else:
        picture = visualize.samples_picture(model, n, temperature=temperature, seed=seed, y=y, label=label)
        path = visualize.save_picture(picture, output or Path("samples.png"))
    _console.print_wrote(path)
