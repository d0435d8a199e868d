"""The ``vaekit`` command line (typer).

Each command lives in its own module and is a thin body: parse, call :mod:`vaekit.tasks`, print a
short summary. This module builds the app and holds the one error boundary: bad input (a
:class:`~vaekit.errors.VaekitError`, ``ValueError`` or ``FileNotFoundError``) becomes one red line on
stderr and exit code 2; usage errors stay typer's (also exit 2); anything else is a bug and
propagates (exit 1). ``--debug`` or ``VAEKIT_DEBUG=1`` shows the traceback instead.

Examples
--------
>>> from typer.testing import CliRunner
>>> CliRunner().invoke(app, ["--version"]).output.startswith("vaekit ")
True
"""

from __future__ import annotations

import functools
import sys
from typing import Callable, Sequence

import typer

from ..errors import DataError, VaekitError
from . import _console
from ._options import DebugOpt, VersionOpt
from .analogy import EPILOG as _ANALOGY_EPILOG, analogy
from .classify import EPILOG as _CLASSIFY_EPILOG, classify
from .compress import COMPRESS_EPILOG as _COMPRESS_EPILOG, DECOMPRESS_EPILOG as _DECOMPRESS_EPILOG
from .compress import compress, decompress
from .demo import EPILOG as _DEMO_EPILOG, demo
from .denoise import EPILOG as _DENOISE_EPILOG, denoise
from .embed import EPILOG as _EMBED_EPILOG, embed
from .evaluate import EPILOG as _EVAL_EPILOG, eval_
from .impute import EPILOG as _IMPUTE_EPILOG, impute
from .interpolate import EPILOG as _INTERPOLATE_EPILOG, interpolate
from .latent import EPILOG as _LATENT_EPILOG, latent
from .neighbors import EPILOG as _NEIGHBORS_EPILOG, neighbors
from .reconstruct import EPILOG as _RECONSTRUCT_EPILOG, reconstruct
from .report import EPILOG as _REPORT_EPILOG, report
from .sample import EPILOG as _SAMPLE_EPILOG, sample
from .serve import EPILOG as _SERVE_EPILOG, serve
from .synth import EPILOG as _SYNTH_EPILOG, synth
from .train import EPILOG as _TRAIN_EPILOG, train
from .traverse import EPILOG as _TRAVERSE_EPILOG, traverse
from .anomaly import anomaly_app

__all__ = ["app", "main", "USER_ERRORS"]

#: Exceptions that mean bad input, not a bug: one red line and exit code 2.
USER_ERRORS = (VaekitError, ValueError, FileNotFoundError)

app = typer.Typer(
    name="vaekit",
    help="Variational autoencoders: train, evaluate, sample and look at them. Start with `vaekit demo`.",
    epilog="[bold]Examples[/bold]\n\n  vaekit demo\n\n  vaekit train mnist5k --out runs/digits\n\n"
           "  vaekit report runs/digits\n\nEach command has its own --help with examples.",
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode="rich",
    pretty_exceptions_show_locals=False,
)


def _fail(error: BaseException) -> int:
    """Print the one-line message of a user error; return the exit code. Re-raises under --debug."""
    if _console.debug_enabled():
        raise error
    _console.print_error(error)
    return 2


def _guarded(command: Callable) -> Callable:
    """Run a command body inside the error boundary (so the CLI and test runners see the same result)."""

    @functools.wraps(command)
    def run(*args, **kwargs):
        try:
            return command(*args, **kwargs)
        except USER_ERRORS as e:
            raise typer.Exit(_fail(e)) from e
        except OSError as e:  # a read-only or full disk, permissions: the machine's answer, not a bug
            if not _console.is_environment_error(e):
                raise
            raise typer.Exit(_fail(e)) from e
        except EOFError as e:  # click would print a bare "Aborted." (exit 1), even under --debug
            raise typer.Exit(_fail(DataError(f"A file ended unexpectedly; it is empty or truncated ({e}).")))

    return run


@app.callback()
def _root(
    version: VersionOpt = False,
    debug: DebugOpt = False,
) -> None:
    """Variational autoencoders: train, evaluate, sample and look at them. Start with `vaekit demo`."""
    _console.enable_debug(debug)


for _name, _function, _epilog in (
    ("demo", demo, _DEMO_EPILOG),
    ("train", train, _TRAIN_EPILOG),
    ("eval", eval_, _EVAL_EPILOG),
    ("sample", sample, _SAMPLE_EPILOG),
    ("synth", synth, _SYNTH_EPILOG),
    ("reconstruct", reconstruct, _RECONSTRUCT_EPILOG),
    ("interpolate", interpolate, _INTERPOLATE_EPILOG),
    ("latent", latent, _LATENT_EPILOG),
    ("embed", embed, _EMBED_EPILOG),
    ("neighbors", neighbors, _NEIGHBORS_EPILOG),
    ("traverse", traverse, _TRAVERSE_EPILOG),
    ("report", report, _REPORT_EPILOG),
    ("serve", serve, _SERVE_EPILOG),
    ("compress", compress, _COMPRESS_EPILOG),
    ("decompress", decompress, _DECOMPRESS_EPILOG),
    ("impute", impute, _IMPUTE_EPILOG),
    ("denoise", denoise, _DENOISE_EPILOG),
    ("classify", classify, _CLASSIFY_EPILOG),
    ("analogy", analogy, _ANALOGY_EPILOG),
):
    app.command(_name, epilog=_epilog)(_guarded(_function))

# `vaekit anomaly fit|score`: a sub-app whose commands run inside _guarded too (see cli/anomaly.py).
app.add_typer(anomaly_app, name="anomaly")


def main(argv: Sequence[str] | None = None) -> None:
    """Entry point of the ``vaekit`` script and of ``python -m vaekit``.

    Parameters
    ----------
    argv : sequence of str or None
        Arguments without the program name; default ``sys.argv[1:]``.
    """
    try:
        app(args=None if argv is None else list(argv), prog_name="vaekit")
    except USER_ERRORS as e:  # raised outside a command body (e.g. while parsing)
        sys.exit(_fail(e))
