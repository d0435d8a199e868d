"""``vaekit interpolate RUN --from I --to J``: decode the path between two examples' latent codes."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from . import _console
from ._options import DataOpt, OutputOpt, RunDirArg, StepsOpt, DeviceOpt

EPILOG = """\
[bold]Examples[/bold]

  vaekit interpolate runs/digits --from 0 --to 7 -o interp.png

  vaekit interpolate runs/digits --from 3 --to 12 --steps 16 --spherical -o slerp.png

  vaekit interpolate runs/photos --from cat.png --to dog.png -o morph.png

I and J are indices into the data (default: the run's own data, its test split when it has one) or \
paths to image files; for a text run, sentences (or indices), and the path is written one sentence per line \
\\[default: interp.txt]."""


def interpolate(
    run: RunDirArg,
    from_: Annotated[str, typer.Option("--from", help="Start: an index into the data or an image file.", metavar="I")],
    to: Annotated[str, typer.Option("--to", help="End: an index into the data or an image file.", metavar="J")],
    steps: StepsOpt = 10,
    spherical: Annotated[bool, typer.Option("--spherical", help="Spherical (slerp) instead of straight-line paths.")] = False,
    data: DataOpt = None,
    output: OutputOpt = Path("interp.png"),
    device: DeviceOpt = "auto",
) -> None:
    """Decode evenly spaced points between the posterior means of two examples."""
    from ..tasks import generate, visualize
    from ..tasks.runs import load_run, run_data

    model = load_run(run, device=device)
    from ..tasks import text as text_task

    if text_task.is_text_model(model):  # a homotopy between two sentences (or indices into the data)
        from ..data.text import decode_ids

        refs = [from_, to]
        if any(_is_index(r) for r in refs):
            dataset = run_data(model, data, split="test")
            refs = [decode_ids(dataset.x[int(r):int(r) + 1], model.data_spec)[0] if _is_index(r) else r for r in refs]
        lines = text_task.interpolate_text(model, refs[0], refs[1], steps=steps, spherical=spherical)
        path = output if output != Path("interp.png") else Path("interp.txt")
        _console.print_wrote(text_task.write_lines(path, lines))
        return
    needs_data = any(_is_index(ref) for ref in (from_, to))
    dataset = run_data(model, data, split="test") if needs_data else None
    a, label_a = generate.resolve_example(from_, model, dataset)
    b, label_b = generate.resolve_example(to, model, dataset)
    picture = visualize.interpolation_picture(model, [(a, b, f"{label_a} to {label_b}")], steps=steps,
                                              spherical=spherical)
    _console.print_wrote(visualize.save_picture(picture, output))


def _is_index(ref: str) -> bool:
    try:
        int(ref.strip())
    except ValueError:
        return False
    return True
