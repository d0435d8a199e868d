"""``vaekit impute DATA -o completed.csv``: fill missing values with a MIWAE model."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from . import _console
from ._options import OverwriteOpt, QuietOpt, SeedOpt, ThreadsOpt, DeviceOpt

EPILOG = """\
[bold]Examples[/bold]

  vaekit impute survey.csv -o completed.csv

  vaekit impute survey.csv -o draws.csv --multiple 5

  vaekit impute masked_digits.npz -o grid.png --save runs/impute-digits

  vaekit impute more_digits.npz -o completed.npz --run runs/impute-digits

DATA is a .csv/.tsv/.parquet table (empty cells are missing; numeric and text columns) or an .npz \
(array 'x' with NaN for missing entries, optionally 'x_true' with the complete data) or .npy array. \
Without --run a VAE is trained on DATA itself, scoring only the observed entries (MIWAE, Mattei & \
Frellsen 2019). Missing entries get their conditional mean given the observed ones (importance sampling); \
--multiple N writes N draws instead (tables gain an 'imputation' column, arrays a leading axis). \
For images, -o grid.png draws the masked input (missing pixels red), the imputation and the truth when \
the .npz has 'x_true'."""


def impute(
    data: Annotated[str, typer.Argument(help="Incomplete data: .csv/.tsv/.parquet table or .npz/.npy array.",
                                        show_default=False, metavar="DATA")],
    output: Annotated[
        Path, typer.Option("--output", "-o", help="Output: .csv/.parquet (tables), .npz/.npy (arrays) or .png (image grid).",
                           metavar="FILE", show_default=False)
    ],
    run: Annotated[
        Optional[Path],
        typer.Option("--run", help="Use this saved imputation model instead of training one on DATA.",
                     exists=True, file_okay=False, dir_okay=True, show_default=False, metavar="RUN"),
    ] = None,
    multiple: Annotated[
        Optional[int], typer.Option("--multiple", min=1, help="Write N imputations drawn by importance resampling.",
                                    show_default=False, metavar="N")
    ] = None,
    save: Annotated[
        Optional[Path], typer.Option("--save", help="Save the model trained on DATA as a run directory.",
                                     show_default=False, metavar="RUN")
    ] = None,
    epochs: Annotated[Optional[int], typer.Option(min=1, help="Training epochs \\[default: about 3,000 steps].",
                                                  show_default=False)] = None,
    samples: Annotated[int, typer.Option("--samples", min=1, help="Importance samples per row when imputing.")] = 1000,
    seed: SeedOpt = 0,
    threads: ThreadsOpt = None,
    overwrite: OverwriteOpt = False,
    quiet: QuietOpt = False,
    device: DeviceOpt = "auto",
) -> None:
    """Fill the missing entries of DATA (conditional means, or --multiple draws) and write the result."""
    from ..tasks.impute import impute_file

    _console.setup(seed, threads)
    if run is not None and (save is not None or epochs is not None):
        raise typer.BadParameter("--save and --epochs train a new model; they cannot be combined with --run.")
    params = {"seed": seed, "n_samples": samples, "device": device}
    if run is None:
        params["progress"] = not quiet
        if epochs is not None:
            params["epochs"] = epochs
    with _console.missing_extra_is_one_line():
        result = impute_file(data, output, run=run, n_imputations=multiple, save=save, overwrite=overwrite, **params)
    _console.print_table("Imputed", {
        "rows": result.n_rows,
        "missing entries": result.n_missing,
        "imputations": result.n_imputations,
        "model": str(run) if run is not None else "trained on DATA",
    })
    _console.print_wrote(*([result.output] + ([save] if save is not None else [])))
