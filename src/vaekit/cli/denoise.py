"""``vaekit denoise RUN INPUT... -o OUT``: clean noisy images or arrays with a trained model."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from . import _console
from ._options import BatchSizeOpt, RunDirArg, DeviceOpt

EPILOG = """\
[bold]Examples[/bold]

  vaekit denoise runs/denoise-digits noisy.png -o clean.png

  vaekit denoise runs/denoise-digits scans/*.png -o cleaned/

  vaekit denoise runs/denoise-digits noisy.npy -o clean.npy

Denoising is reconstruction: the decoder mean at the posterior mean of each noisy input. It works best \
with a run trained with the denoising criterion on the same kind of noise, e.g. \
`vaekit train mnist --out runs/denoise-digits --config denoise.toml` with [model] corruption = "gaussian" \
and corruption_level = 0.3 (or "salt_and_pepper" / "mask"), or vaekit.tasks.denoise.fit_denoiser in \
Python. Image inputs are preprocessed like the run's training images (size and mode)."""


def denoise(
    run: RunDirArg,
    inputs: Annotated[list[Path], typer.Argument(help="Noisy image files, or one .npy/.npz array.",
                                                  show_default=False, metavar="INPUT...")],
    output: Annotated[
        Path, typer.Option("--output", "-o", help="A folder or .png for images; a .npy/.npz file for an array.",
                           metavar="OUT", show_default=False)
    ],
    batch_size: BatchSizeOpt = 512,
    device: DeviceOpt = "auto",
) -> None:
    """Denoise INPUT images or arrays with the model of RUN and write the results to OUT."""
    from ..tasks.denoise import denoise_files
    from ..tasks.runs import load_run

    model = load_run(run, device=device)
    result = denoise_files(model, inputs, output, batch_size=batch_size)
    c = model.config
    _console.print_table("Denoised", {
        "examples": result.n,
        "trained on noise": f"{c.corruption} {c.corruption_level:g}" if c.corruption != "none" else "none (plain VAE)",
    })
    _console.print_wrote(*(result.outputs if len(result.outputs) <= 4 else [Path(output)]))
