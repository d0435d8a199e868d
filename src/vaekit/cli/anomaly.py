"""``vaekit anomaly fit DATA --out RUN`` and ``vaekit anomaly score RUN DATA -o scores.csv``: a VAE outlier detector."""

from __future__ import annotations

import functools
from enum import Enum
from pathlib import Path
from typing import Annotated, Callable, Optional

import typer

from . import _console
from ..errors import ConfigError
from ._options import (DaskOpt, DataArg, LimitOpt, OverwriteOpt, QuietOpt, RunDirArg, SeedOpt, Split, SplitOpt,
                       ThreadsOpt, WorkersOpt, DeviceOpt)

__all__ = ["anomaly_app", "fit", "score", "FIT_EPILOG", "SCORE_EPILOG"]

#: Scoring rules (``scoring`` of VAEOutlierDetector; kept in sync with vaekit.tasks.anomaly.SCORES).
Score = Enum("Score", [(n, n) for n in ("auto", "complexity", "combined", "iwae", "elbo", "reconstruction")], type=str)

FIT_EPILOG = """\
[bold]Examples[/bold]

  vaekit anomaly fit normal_images/ --out runs/detector

  vaekit anomaly fit transactions.csv --out runs/fraud --contamination 0.01 --label-column class

  vaekit anomaly fit mnist5k --out runs/digits --minutes 5 --scoring iwae

  vaekit anomaly fit digits_flat.npy --out runs/flat --image-shape 28x28

Train on normal data (or mostly normal: --contamination is the share of outliers you expect in it; \
'auto' uses Tukey's fence, Q1 - 1.5 IQR of the training scores). The run directory holds the model \
and the detector (anomaly.json, anomaly.safetensors); score new data with `vaekit anomaly score`. \
Without --epochs or --minutes, training stops after 90 s for images and 20 s for tables. Tables are \
scored with 'combined' (the VAE's likelihood plus per-column tail surprise); rows of flat pixels are \
read as images with --image-shape."""

SCORE_EPILOG = """\
[bold]Examples[/bold]

  vaekit anomaly score runs/detector new_images/ -o scores.csv

  vaekit anomaly score runs/fraud today.csv -o out/scores.csv --top 20

Writes one row per input (id = file path or row id, score, is_outlier, reason; higher score = more \
normal, the opposite of PyOD's sign), and beside the CSV scores.png (histogram with the threshold, log \
counts) and top.png (the most anomalous inputs: images with their reconstruction and a per-pixel heat map; \
table rows with the columns that make them anomalous). A row that cannot be scored (an unseen category, a \
missing cell, a value too large) is an outlier with an empty score and the reason; the rest are scored. RUN may also be a plain `vaekit train` run: the threshold is then set \
from its training data."""

anomaly_app = typer.Typer(
    name="anomaly",
    help="Flag inputs that do not look like the training data (a VAE outlier detector).",
    no_args_is_help=True,
    rich_markup_mode="rich",
)


def _guard(command: Callable) -> Callable:
    """The CLI's one error boundary (``vaekit.cli._guarded``), looked up at call time to avoid an import cycle."""

    @functools.wraps(command)
    def run(*args, **kwargs):
        from . import _guarded

        return _guarded(command)(*args, **kwargs)

    return run


def _contamination(text: str) -> float | str:
    """'auto' or a number; anything else goes on as text so the detector reports it in the one error format."""
    text = text.strip()
    if text.lower() == "auto":
        return "auto"
    try:
        return float(text)
    except ValueError:
        return text


def _image_shape(text: str) -> tuple[int, ...]:
    """'28x28', '28,28' or '1x28x28' -> a tuple of ints."""
    parts = [p for p in text.replace(",", "x").replace("X", "x").split("x") if p.strip()]
    try:
        shape = tuple(int(p) for p in parts)
    except ValueError:
        shape = ()
    if len(shape) not in (2, 3) or min(shape) < 1:
        raise ConfigError(f"--image-shape must be HxW or CxHxW with positive integers (e.g. 28x28 or 3x32x32). "
                          f"Got '{text}' instead.")
    return shape


ContaminationOpt = Annotated[
    str,
    typer.Option("--contamination", help="Expected share of outliers in the training data, in (0, 0.5], or 'auto'.",
                 metavar="FLOAT|auto"),
]


def fit(
    data: DataArg,
    out: Annotated[Path, typer.Option("--out", help="Run directory to write.", show_default=False)],
    contamination: ContaminationOpt = "auto",
    scoring: Annotated[Score, typer.Option("--scoring", help="Scoring rule ('auto': complexity for images, combined otherwise).")] = Score.auto,
    latent_dim: Annotated[Optional[int], typer.Option(min=1, help="Dimension of z \\[default: preset].", show_default=False)] = None,
    epochs: Annotated[Optional[int], typer.Option(min=1, help="Epochs \\[default: about 10,000 steps].", show_default=False)] = None,
    minutes: Annotated[Optional[float], typer.Option(min=0, help="Training budget in minutes \\[default: 1.5 for images, "
                                                     "1/3 for tables, with the default epochs].", show_default=False)] = None,
    n_samples: Annotated[int, typer.Option("--n-samples", min=1, help="Importance samples per example when scoring.")] = 16,
    label_column: Annotated[Optional[str], typer.Option(help="Label column of a table (not a feature).", show_default=False)] = None,
    image_shape: Annotated[Optional[str], typer.Option(
        "--image-shape", help="Read each flat row as an image of this shape: HxW or CxHxW (e.g. 28x28), so the image "
        "model and its complexity-corrected score apply.", metavar="HxW", show_default=False)] = None,
    split: SplitOpt = Split.train,
    limit: LimitOpt = None,
    seed: SeedOpt = 0,
    overwrite: OverwriteOpt = False,
    threads: ThreadsOpt = None,
    quiet: QuietOpt = False,
    device: DeviceOpt = "auto",
) -> None:
    """Train a VAE outlier detector on DATA and save it as a run directory."""
    from ..tasks.anomaly import fit_run

    _console.setup(seed, threads)
    params = dict(scoring=scoring.value, contamination=_contamination(contamination), n_samples=n_samples, seed=seed,
                  latent_dim=latent_dim, progress=not quiet, device=device)
    if epochs is not None:
        params["epochs"] = epochs
    if image_shape is not None:
        params["image_shape"] = _image_shape(image_shape)
    if minutes is not None and minutes > 0:
        params["max_time"] = 60.0 * minutes
    det, dataset = fit_run(data, out, split=split.value, limit=limit, label_column=label_column, overwrite=overwrite,
                           **params)
    n_out = int((det.train_scores_ < det.offset_).sum())
    _console.print_table("Anomaly detector", {
        "data": f"{dataset.name} ({len(dataset):,} examples)",
        "scoring": det.scoring_,
        "threshold": f"{det.offset_:.5g}",
        "flagged in training data": f"{n_out:,} ({n_out / max(len(dataset), 1):.1%})",
    })
    _console.print_wrote(out)


def score(
    run: RunDirArg,
    data: DataArg,
    output: Annotated[Path, typer.Option("--output", "-o", help="CSV file to write (atomically); pictures go beside it.",
                                         metavar="FILE")] = Path("scores.csv"),
    top: Annotated[int, typer.Option("--top", min=1, help="Inputs shown in top.png.")] = 12,
    contamination: Annotated[
        Optional[str], typer.Option("--contamination", help="Override the run's threshold: share in (0, 0.5] or 'auto'.",
                                    metavar="FLOAT|auto", show_default=False)
    ] = None,
    split: SplitOpt = Split.all,
    limit: LimitOpt = None,
    threads: ThreadsOpt = None,
    dask: DaskOpt = False,
    workers: WorkersOpt = None,
    device: DeviceOpt = "auto",
) -> None:
    """Score every input of DATA with the detector in RUN: a CSV plus scores.png and top.png."""
    from ..tasks.anomaly import score_run

    _console.set_threads(threads)
    if dask:
        if contamination is not None or limit is not None:
            raise ConfigError("--dask scores with the run's threshold and every row; drop --contamination / --limit.")
        from ..tasks.dask_scoring import score_parquet

        with _console.missing_extra_is_one_line():
            done = score_parquet(run, data, output, workers=workers)
        _console.print_table("Scored with Dask", {"rows": f"{done.n:,}", "partitions": done.partitions,
                                                  "outliers": f"{done.n_outliers:,}", "seconds": round(done.seconds, 1)})
        _console.print_wrote(done.path)
        return
    params = {"device": device} if contamination is None else {"contamination": _contamination(contamination),
                                                               "device": device}
    result = score_run(run, data, output, split=split.value, limit=limit, top=top, **params)
    n = len(result.table)
    rows = {
        "inputs": f"{n:,}",
        "outliers": f"{result.n_outliers:,} ({result.n_outliers / max(n, 1):.1%})",
        "threshold": f"{result.offset:.5g}",
    }
    unscored = int(result.table["score"].isna().sum())
    if unscored:
        rows["could not be scored"] = f"{unscored:,} (outliers; see the reason column)"
    _console.print_table("Scored", rows)
    _console.print_wrote(*result.paths)


anomaly_app.command("fit", epilog=FIT_EPILOG)(_guard(fit))
anomaly_app.command("score", epilog=SCORE_EPILOG)(_guard(score))
