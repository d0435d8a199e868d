"""``vaekit synth RUN -n N -o synthetic.csv``: new rows of the table a run was trained on."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from . import _console
from ._options import DeviceOpt, RunDirArg, SeedOpt, ThreadsOpt

EPILOG = """\
[bold]Examples[/bold]

  vaekit train diamonds.csv --out runs/diamonds

  vaekit synth runs/diamonds -n 10000 -o synthetic.csv

  vaekit synth runs/diamonds -n 500 -o ideal.parquet --where cut=Ideal --seed 3

  vaekit synth runs/diamonds -n 5000 -o synthetic.csv --report report.html --overwrite

Rows are drawn from the model (z ~ p(z), then a draw of every column given z) and written in the \
table's column order and units: integer columns stay integers, numbers stay within the training range, \
and cells are left empty at each column's missing rate in the training table. --where column=value \
(repeatable) keeps only rows with that level of a categorical column (or whole number of an integer \
column). --report writes a self-contained HTML page comparing the synthetic rows with the training \
table (or --real FILE): column shapes, pairwise associations, distance to the closest real record."""


def synth(
    run: RunDirArg,
    n: Annotated[int, typer.Option("-n", "--num-rows", min=1, help="Number of rows to generate.")] = 1000,
    output: Annotated[
        Path, typer.Option("--output", "-o", help="Table to write: .csv or .parquet (written atomically).",
                           metavar="FILE")
    ] = Path("synthetic.csv"),
    where: Annotated[
        Optional[list[str]],
        typer.Option("--where", help="Keep rows with column=value (repeatable).", show_default=False,
                     metavar="COL=VALUE"),
    ] = None,
    report: Annotated[
        Optional[Path],
        typer.Option("--report", help="Also write an HTML page comparing real and synthetic rows.",
                     show_default=False, metavar="FILE.html"),
    ] = None,
    real: Annotated[
        Optional[Path],
        typer.Option("--real", help="Real table the report compares with \\[default: the run's training table].",
                     show_default=False, metavar="FILE"),
    ] = None,
    seed: SeedOpt = 0,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace existing output files.")] = False,
    threads: ThreadsOpt = None,
    device: DeviceOpt = "auto",
) -> None:
    """Generate N synthetic rows of the table RUN was trained on and write them as .csv or .parquet."""
    from ..errors import DataError
    from ..tasks import synth as synth_task
    from ..tasks.runs import load_run

    _console.setup(seed, threads)
    if output.suffix.lower() not in synth_task.SYNTH_SUFFIXES:
        raise DataError(f"Output file '{output}' must end in .csv or .parquet.")
    if output.exists() and not overwrite:
        raise DataError(f"Output file '{output}' exists; pass --overwrite to replace it.")
    if report is not None:
        if report.suffix.lower() not in (".html", ".htm"):
            raise DataError(f"Report file '{report}' must end in .html.")
        if report.exists() and not overwrite:
            raise DataError(f"Report file '{report}' exists; pass --overwrite to replace it.")
    model = load_run(run, device=device)
    frame = synth_task.synthesize(model, n, seed=seed, where=where)
    written = [synth_task.write_table(frame, output, overwrite=overwrite)]
    if report is not None:
        from ..data.tables import read_table
        from ..report import write_report

        source = real if real is not None else Path(model.data_spec.name)
        if not source.is_file():
            raise DataError(f"The report compares with the training table '{source}', which is not there; "
                            f"pass --real FILE.")
        html = synth_task.synth_report(read_table(source, str(source)), frame, model.data_spec,
                                       title=f"Synthetic rows of {run}", seed=seed)
        write_report(report, html)
        written.append(report)
    summary = {"rows": len(frame), "columns": len(frame.columns), "seed": seed}
    if where:
        summary["where"] = ", ".join(where)
    _console.print_table("Synthesised", summary)
    _console.print_wrote(*written)
