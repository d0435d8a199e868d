"""Console output of the command line: short summaries on stdout; progress bars and errors on stderr.

Consoles are created when used, never at import, so that test runners that swap ``sys.stdout`` and
``sys.stderr`` capture everything.
"""

from __future__ import annotations

import contextlib
import errno
import os
import random
from pathlib import Path
from typing import Any, Iterator, Mapping

import typer

__all__ = [
    "stdout",
    "stderr",
    "debug_enabled",
    "enable_debug",
    "print_error",
    "is_environment_error",
    "print_table",
    "print_wrote",
    "seed_everything",
    "set_threads",
    "fit_callbacks",
    "EvalProgress",
    "eval_progress",
    "status",
    "CliHooks",
    "missing_extra_is_one_line",
]

_STATE = {"debug": False}


def stdout():
    from rich.console import Console

    return Console(soft_wrap=True, highlight=False)


def stderr():
    from rich.console import Console

    return Console(stderr=True, soft_wrap=True, highlight=False)


def enable_debug(on: bool = True) -> None:
    """Show tracebacks instead of one-line errors (``--debug``)."""
    _STATE["debug"] = bool(on)


def debug_enabled() -> bool:
    """``--debug`` was given or ``VAEKIT_DEBUG`` is set to a true value."""
    env = os.environ.get("VAEKIT_DEBUG", "").strip().lower()
    return _STATE["debug"] or env not in ("", "0", "false", "no", "off")


#: OSErrors that mean the machine refused a file operation (a read-only or full disk, permissions), not a
#: bug: the error boundary reports them in one line, with the path and what to do.
_ENVIRONMENT_ERRNOS = {
    errno.EROFS: "write the output to a writable folder",
    errno.ENOSPC: "free some space, or write the output to another disk",
    errno.EDQUOT: "free some space within your quota, or write the output elsewhere",
    errno.EACCES: "check the permissions, or write the output elsewhere",
    errno.EPERM: "check the permissions, or write the output elsewhere",
    errno.ENOTDIR: "a part of the path is a file, not a folder",
    errno.EISDIR: "give a file name, not a folder",
    errno.ENAMETOOLONG: "use a shorter path",
    errno.EFBIG: "the file is too large for this file system; write it elsewhere",
    errno.EMFILE: "too many open files; raise the limit (ulimit -n)",
}


def is_environment_error(error: BaseException) -> bool:
    """Whether ``error`` is a refused file operation (read-only or full file system, permissions, ...)."""
    return isinstance(error, OSError) and error.errno in _ENVIRONMENT_ERRNOS


def _target(name) -> str:
    """The file a write was for: vaekit's atomic writers name their temporary files ``.NAME.XXXXXXXX.tmp``."""
    import re

    path = Path(os.fsdecode(name))
    m = re.match(r"^\.(.+)\.[a-z0-9_]{8}(\.[A-Za-z0-9]+)$", path.name)
    if m and (m.group(2) == ".tmp" or m.group(1).endswith(m.group(2))):
        return str(path.with_name(m.group(1)))
    return str(path)


def _environment_message(error: OSError) -> str:
    reason = error.strerror or os.strerror(error.errno)
    code = errno.errorcode.get(error.errno, str(error.errno))
    head = f"Cannot write '{_target(error.filename)}'" if error.filename is not None else "A file operation failed"
    if error.filename2 is not None:
        head += f" (to '{_target(error.filename2)}')"
    return f"{head}: {reason} ({code}); {_ENVIRONMENT_ERRNOS[error.errno]}."


def print_error(error: BaseException) -> None:
    """One red line on stderr: the message (what, where, expected, next step) on a single line."""
    from rich.text import Text

    if is_environment_error(error):
        message = _environment_message(error)
    else:
        message = " ".join(str(error).split()) or type(error).__name__
    if isinstance(error, FileNotFoundError) and error.filename and str(error.filename) not in message:
        message = f"{message}: '{error.filename}'"
    line = Text("Error: ", style="bold red")
    line.append(message, style="red")
    stderr().print(line)


def print_table(title: str, rows: Mapping[str, Any]) -> None:
    """A two-column summary table on stdout."""
    from rich.table import Table

    table = Table(title=title, show_header=False, title_justify="left", title_style="bold")
    table.add_column(style="cyan", no_wrap=True)
    table.add_column(overflow="fold")  # long paths wrap whole, never cut to "…"
    for key, value in rows.items():
        if isinstance(value, float):
            text = f"{value:.4g}" if abs(value) < 1e4 else f"{value:,.1f}"
        elif isinstance(value, int) and not isinstance(value, bool):
            text = f"{value:,}"
        else:
            text = str(value)
        table.add_row(str(key), text)
    stdout().print(table)


def print_wrote(*paths: str | os.PathLike, what: str = "Wrote") -> None:
    """``Wrote PATH`` lines on stdout (the last thing a command prints)."""
    from rich.text import Text

    console = stdout()
    for p in paths:
        line = Text(f"{what} ", style="green")
        line.append(str(Path(p)), style="bold")
        console.print(line)


def setup(seed: int | None, threads: int | None) -> None:
    """What a command that runs a model does first: seed torch's global RNG and set its thread count."""
    seed_everything(0 if seed is None else seed)
    set_threads(threads)


def seed_everything(seed: int) -> None:
    """Seed the global RNGs (torch, numpy, random). Only the CLI does this; library code takes generators."""
    import numpy as np
    import torch

    torch.manual_seed(seed)
    np.random.seed(seed % 2**32)
    random.seed(seed)


def set_threads(n: int | None) -> None:
    """Let torch use ``n`` CPU threads (None: leave torch's default)."""
    if n is not None:
        import torch

        torch.set_num_threads(n)


def fit_callbacks(quiet: bool, description: str = "training") -> list:
    """A rich progress bar for :func:`vaekit.fit` (epoch, step, loss terms, it/s, ETA), unless ``quiet``."""
    if quiet:
        return []
    from .._progress import RichProgress

    return [RichProgress(description, console=stderr())]


class EvalProgress:
    """``progress(n_done, n_total)`` callable drawing a rich bar on stderr; it finishes itself at n_total.

    Off a terminal (a file, a pipe) it writes plain lines instead: the start, then at most one every
    ``every_s`` seconds, and the end, each complete (a live bar there would be cut short).
    """

    def __init__(self, description: str, every_s: float = 30.0):
        self.description = description
        self.every_s = every_s
        self._progress = None
        self._task = None
        self._console = None
        self._start = self._last = 0.0

    def _line(self, done: int, total: int) -> None:
        import time

        elapsed = time.perf_counter() - self._start
        self._console.print(f"{self.description}: {done:,}/{total:,} ({elapsed:.1f} s)", markup=False,
                            highlight=False, soft_wrap=True)

    def __call__(self, done: int, total: int) -> None:
        import time

        if self._console is None:
            self._console = stderr()
            self._start = self._last = time.perf_counter()
            if not self._console.is_terminal:
                self._line(done, total)
        if not self._console.is_terminal:
            now = time.perf_counter()
            if done >= total or now - self._last >= self.every_s:
                self._last = now
                self._line(done, total)
            return
        if self._progress is None:
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

            self._progress = Progress(
                TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                TimeElapsedColumn(), TimeRemainingColumn(), console=self._console,
            )
            self._progress.start()
            self._task = self._progress.add_task(self.description, total=total)
        self._progress.update(self._task, completed=done)
        if done >= total:
            self._progress.stop()


def eval_progress(quiet: bool, description: str = "evaluating"):
    """An :class:`EvalProgress`, or None when ``quiet``."""
    return None if quiet else EvalProgress(description)


@contextlib.contextmanager
def status(message: str, quiet: bool = False) -> Iterator[None]:
    """Say what a long step without progress of its own is doing: a spinner on a terminal, else a line
    before and one after (with the time it took)."""
    import time

    if quiet:
        yield
        return
    console = stderr()
    if console.is_terminal:
        with console.status(message):
            yield
        return
    start = time.perf_counter()
    console.print(f"{message} ...", markup=False, highlight=False, soft_wrap=True)
    yield
    console.print(f"{message}: done in {time.perf_counter() - start:.1f} s", markup=False, highlight=False,
                  soft_wrap=True)


class CliHooks:
    """Progress display for :func:`vaekit.tasks.demo.run_demo` (see :class:`vaekit.tasks.demo.DemoHooks`)."""

    def __init__(self, quiet: bool):
        self.quiet = quiet

    def fit_callbacks(self, name: str) -> list:
        return fit_callbacks(self.quiet, f"training {name}")

    def progress(self, name: str):
        return eval_progress(self.quiet, name)


@contextlib.contextmanager
def missing_extra_is_one_line() -> Iterator[None]:
    """A missing optional extra (its ImportError names the pip command) is reported like bad input."""
    try:
        yield
    except ImportError as e:
        if debug_enabled():
            raise
        print_error(e)
        raise typer.Exit(2) from e
