"""Options and arguments shared by several commands, defined once.

A config field keeps its name on the command line: ``latent_dim`` is ``--latent-dim``.
"""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Annotated, Optional

import typer


__all__ = [
    "Net",
    "Likelihood",
    "RunDirArg",
    "DataArg",
    "DataOpt",
    "OutputOpt",
    "SeedOpt",
    "QuietOpt",
    "LimitOpt",
    "OverwriteOpt",
    "StepsOpt",
    "ThreadsOpt",
    "DebugOpt",
    "VersionOpt",
    "Reduction",
    "Split",
    "SplitOpt",
    "BatchSizeOpt",
    "DaskOpt",
    "DeviceOpt",
    "WorkersOpt",
    "parse_duration",
]

#: Encoder/decoder family (the ``net`` field of ModelConfig). A plain name: ModelConfig checks it against
#: the one list of names, ``vaekit.registry.NETS``, and suggests the nearest (the CLI does not copy the list,
#: and ``--help`` does not import the families).
Net = str
#: Family of p(x|z) (the ``likelihood`` field of ModelConfig), checked against ``vaekit.registry.LIKELIHOODS``.
Likelihood = str
#: Reduction of latent codes to 2-D for plots (``umap`` needs the ``vaekit[umap]`` extra).
Reduction = Enum("Reduction", [(n, n) for n in ("pca", "tsne", "umap")], type=str)
#: Split of a data source that has one.
Split = Enum("Split", [(n, n) for n in ("train", "test", "all")], type=str)

RunDirArg = Annotated[
    Path,
    typer.Argument(
        help="Run directory written by `vaekit train` (holds config.json and model.safetensors).",
        exists=True, file_okay=False, dir_okay=True, show_default=False, metavar="RUN",
    ),
]

_DATA_HELP = (
    "Builtin name (mnist5k, digits, mnist, fashion-mnist, kmnist), a folder of images "
    "(class sub-folders give labels) or of .txt files, a .npz/.npy/.csv/.parquet file, or a .txt file of "
    "sentences (one per line)"
)

DataArg = Annotated[
    str,
    typer.Argument(help=f"{_DATA_HELP}. Its test split is used when it has one.", show_default=False, metavar="DATA"),
]

DataOpt = Annotated[
    Optional[str],
    typer.Option(
        "--data",
        help=f"{_DATA_HELP}. Default: the data the run was trained on. Its test split is used when it has one.",
        show_default=False, metavar="DATA",
    ),
]

OutputOpt = Annotated[Path, typer.Option("--output", "-o", help="File to write (written atomically).", metavar="FILE")]

SeedOpt = Annotated[
    int,
    typer.Option("--seed", min=0, help="Seed of torch's global RNG and of every generator the command uses."),
]

QuietOpt = Annotated[bool, typer.Option("--quiet", "-q", help="No progress bars.")]

LimitOpt = Annotated[
    Optional[int],
    typer.Option("--limit", min=1, help="Use only the first N examples of the data.", show_default=False, metavar="N"),
]

OverwriteOpt = Annotated[bool, typer.Option("--overwrite", help="Replace the contents of a non-empty output folder.")]

StepsOpt = Annotated[int, typer.Option("--steps", min=2, help="Images per row.")]

ThreadsOpt = Annotated[
    Optional[int],
    typer.Option("--threads", min=1, help="CPU threads torch may use \\[default: torch's choice].", show_default=False,
                 metavar="N"),
]

SplitOpt = Annotated[
    Split,
    typer.Option("--split", help="Split of DATA for sources that have one (builtins, IDX folders, .npz with x_test)."),
]

BatchSizeOpt = Annotated[int, typer.Option("--batch-size", min=1, help="Examples read and encoded at a time.")]

DebugOpt = Annotated[
    bool,
    typer.Option("--debug", help="Show the full traceback of errors (also VAEKIT_DEBUG=1).", envvar="VAEKIT_DEBUG"),
]



def _print_version(value: bool) -> None:
    if value:
        from .._version import __version__

        typer.echo(f"vaekit {__version__}")
        raise typer.Exit()


VersionOpt = Annotated[
    bool,
    typer.Option("--version", help="Show the vaekit version and exit.", is_eager=True, callback=_print_version),
]

DaskOpt = Annotated[
    bool,
    typer.Option("--dask", help="Read DATA (a parquet file or folder of parts) with Dask and score partitions in "
                                "parallel worker processes; OUTPUT is then a folder of parquet parts (needs "
                                "the dask extra: pip install 'vaekit[dask]')."),
]

WorkersOpt = Annotated[
    Optional[int],
    typer.Option("--workers", min=1, help="Dask worker processes \\[default: one per CPU].", show_default=False,
                 metavar="N"),
]

DeviceOpt = Annotated[
    str,
    typer.Option("--device", help="Where the model runs: cpu, cuda, cuda:N, or auto (a GPU when there is one).",
                 metavar="DEVICE"),
]



_DURATION = {"": 1.0, "s": 1.0, "sec": 1.0, "m": 60.0, "min": 60.0, "h": 3600.0}


def parse_duration(text: Optional[str], option: str = "--max-time") -> Optional[float]:
    """Seconds from what a user types for a time budget: ``600`` or ``600s`` (seconds), ``10m`` or
    ``10min`` (minutes), ``1.5h`` (hours).

    >>> parse_duration("10m"), parse_duration("90"), parse_duration("1.5h")
    (600.0, 90.0, 5400.0)
    """
    import re

    from ..errors import ConfigError

    if text is None:
        return None
    m = re.fullmatch(r"\s*([0-9]*\.?[0-9]+(?:e[+-]?[0-9]+)?)\s*([a-z]*)\s*", str(text).lower())
    if m is None or m.group(2) not in _DURATION or float(m.group(1)) <= 0:
        raise ConfigError(f"{option} takes a positive time: seconds (600 or 600s), minutes (10m) or hours (1.5h). "
                          f"Got {text!r} instead.")
    return float(m.group(1)) * _DURATION[m.group(2)]
