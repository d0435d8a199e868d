"""``vaekit embed RUN DATA -o z.parquet``: the latent code of every example, written in bounded memory."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ..errors import ConfigError
from . import _console
from ._options import BatchSizeOpt, DaskOpt, DataArg, QuietOpt, RunDirArg, SeedOpt, Split, SplitOpt, WorkersOpt, DeviceOpt

EPILOG = """\
[bold]Examples[/bold]

  vaekit embed runs/digits mnist -o z.parquet --with-labels

  vaekit embed runs/table big.csv -o z.npy

  vaekit embed runs/table big.csv -o z.csv --sample --seed 1

  vaekit embed runs/table parts/ -o z/ --dask --workers 8

Columns are z0, z1, ... (plus label with --with-labels; for .npy the labels go to NAME_labels.npy). \
.npy, .csv and .parquet inputs are read --batch-size rows at a time, so data larger than memory \
works; the output is written to a temporary file and renamed when complete. With --dask, a parquet dataset is embedded partition by partition in parallel, into a folder with one part per partition (indexed by row number), the same numbers as one process."""


def embed(
    run: RunDirArg,
    data: DataArg,
    output: Annotated[
        Path, typer.Option("--output", "-o", help="Output file: .npy, .csv or .parquet (written atomically).",
                           metavar="FILE", show_default=False)
    ],
    with_labels: Annotated[bool, typer.Option("--with-labels", help="Add a label column (class names).")] = False,
    sample: Annotated[
        bool, typer.Option("--sample", help="Write draws z ~ q(z|x) instead of the posterior means.")
    ] = False,
    split: SplitOpt = Split.all,
    batch_size: BatchSizeOpt = 4096,
    seed: SeedOpt = 0,
    dask: DaskOpt = False,
    workers: WorkersOpt = None,
    quiet: QuietOpt = False,
    device: DeviceOpt = "auto",
) -> None:
    """Write the posterior mean (or, with --sample, a draw) of every example of DATA to a file."""
    from ..tasks.embed_stream import embed_file
    from ..tasks.runs import load_run

    _console.seed_everything(seed)
    if dask:
        if sample or with_labels:
            raise ConfigError("--dask writes posterior means without labels; drop --sample / --with-labels.")
        from ..tasks.dask_scoring import embed_parquet

        with _console.missing_extra_is_one_line():
            done = embed_parquet(run, data, output, batch_size=batch_size, workers=workers)
        _console.print_table("Embedded with Dask", {"rows": done.n, "partitions": done.partitions,
                                                    "seconds": round(done.seconds, 1)})
        _console.print_wrote(done.path)
        return
    model = load_run(run, device=device)
    with _console.missing_extra_is_one_line():
        result = embed_file(
            model, data, output, split=split.value, with_labels=with_labels, sample=sample, seed=seed,
            batch_size=batch_size, progress=_console.eval_progress(quiet, "embedding"),
        )
    _console.print_table("Embedded", {
        "examples": result.n,
        "latent_dim": result.latent_dim,
        "values": "draws z ~ q(z|x)" if result.sample else "posterior means E[z|x]",
        "seconds": round(result.seconds, 1),
    })
    _console.print_wrote(*[p for p in (result.path, result.labels_path) if p is not None])
