"""``vaekit reconstruct RUN DATA``: inputs above, reconstructions below."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from . import _console
from ._options import DataArg, OutputOpt, RunDirArg, DeviceOpt

EPILOG = """\
[bold]Examples[/bold]

  vaekit reconstruct runs/digits mnist5k -o recon.png

  vaekit reconstruct runs/photos new_photos/ -n 8 -o recon.png

DATA is preprocessed exactly like the run's training data (image size and mode, table columns and \
statistics)."""


def reconstruct(
    run: RunDirArg,
    data: DataArg,
    output: OutputOpt = Path("recon.png"),
    n: Annotated[int, typer.Option("-n", "--num-examples", min=1, help="Number of examples (16 per row).")] = 16,
    device: DeviceOpt = "auto",
) -> None:
    """Encode the first n examples of DATA and decode them: inputs above, reconstructions below."""
    from ..tasks import visualize
    from ..tasks.runs import load_run, run_data

    model = load_run(run, device=device)
    dataset = run_data(model, data, split="test", limit=n)
    from ..tasks import text as text_task

    if text_task.is_text_model(model):  # "input<TAB>reconstruction" per line
        from ..data.text import decode_ids

        inputs = decode_ids(dataset.x[:n], model.data_spec)
        outputs = text_task.reconstruct_text(model, dataset)
        path = output if output != Path("recon.png") else Path("recon.txt")
        _console.print_wrote(text_task.write_lines(path, [f"{a}\t{b}" for a, b in zip(inputs, outputs)]))
        return
    picture = visualize.reconstruction_picture(model, dataset.get(slice(0, n)))
    _console.print_wrote(visualize.save_picture(picture, output))
