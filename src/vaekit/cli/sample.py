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

  vaekit sample runs/sentences -n 20 -o samples.txt --temperature 0.8

  vaekit sample runs/sentences -n 20 --decode beam -o samples.txt

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
    decode: Annotated[
        str, typer.Option("--decode", help="Text runs: how tokens are chosen: sample (at --temperature), greedy or beam.",
                          metavar="METHOD")] = "sample",
    beam_width: Annotated[int, typer.Option(min=1, help="Text runs: beam width of --decode beam.")] = 5,
    seed: SeedOpt = 0,
    device: DeviceOpt = "auto",
) -> None:
    """Decode n draws of the model's prior p(z) (times --temperature) and write them as a picture or an array."""
    from ..tasks import generate, visualize
    from ..tasks import text as text_task
    from ..tasks.runs import load_run

    _console.seed_everything(seed)
    model = load_run(run, device=device)
    if text_task.is_text_model(model):  # sentences, one per line; --temperature is the tokens' softmax temperature
        if temperature <= 0:
            raise ConfigError("--temperature must be > 0 for text (use --decode greedy for the most likely tokens).")
        lines = text_task.sample_text(model, n, method=decode, temperature=temperature, beam_width=beam_width, seed=seed)
        path = text_task.write_lines(output or Path("samples.txt"), lines)
        _console.stdout().print(f"{n} sentences ({decode})")
        _console.print_wrote(path)
        return
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
