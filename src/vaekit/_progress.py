"""Training progress as a callback (the library never prints on its own): a rich bar on a terminal,
complete log lines elsewhere (a file, a pipe, CI), where a live bar would be cut to "━━ 96… 0:0…"."""

from __future__ import annotations

import time

from .callbacks import Callback

__all__ = ["RichProgress", "LOG_EVERY_S"]

#: Off a terminal, a line within an epoch at most this often (besides one line per epoch).
LOG_EVERY_S = 30.0


class RichProgress(Callback):
    """Shows epoch, step, loss terms, it/s and ETA while :func:`vaekit.fit` runs.

    On a terminal this is a live rich bar. Otherwise (output redirected to a file or a pipe) it writes
    plain lines: one when training starts, one per epoch with its loss terms and time, and one every
    :data:`LOG_EVERY_S` seconds inside a long epoch.

    Parameters
    ----------
    description : str
        Label shown before the bar (and at the start of each log line).
    console : rich.console.Console or None
        Where to draw (stderr by default).
    """

    def __init__(self, description: str = "training", console=None):
        self.description = description
        self.console = console
        self._progress = None
        self._task = None
        self._log = False
        self._start = self._last_line = 0.0

    def on_train_begin(self, state):
        from rich.console import Console

        console = self.console or Console(stderr=True)
        self.console = console
        total = state.steps_per_epoch * state.config.epochs
        if not console.is_terminal:
            self._log = True
            self._start = self._last_line = time.perf_counter()
            self._line(f"{self.description}: up to {state.config.epochs} epochs of {state.steps_per_epoch} steps"
                       + (f", from step {state.step}" if state.step else ""))
            return
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

        self._progress = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[info]}"),
            TextColumn("[cyan]{task.fields[rate]}"),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            console=console,
            transient=False,
        )
        self._progress.start()
        self._task = self._progress.add_task(self.description, total=total, completed=state.step, info="", rate="")

    def _line(self, text: str) -> None:
        self.console.print(text, markup=False, highlight=False, soft_wrap=True)

    def on_step_end(self, state, loss):
        if self._log:
            now = time.perf_counter()
            if now - self._last_line >= LOG_EVERY_S:
                self._last_line = now
                self._line(f"{self.description} epoch {state.epoch + 1}/{state.config.epochs} step "
                           f"{state.step}/{state.steps_per_epoch * state.config.epochs} loss {loss:.2f} "
                           f"({now - self._start:.0f} s)")
            return
        task = self._progress.tasks[0]
        speed = task.speed
        self._progress.update(
            self._task, completed=state.step,
            info=f"epoch {state.epoch + 1}/{state.config.epochs} loss {loss:.2f}",
            rate="" if not speed else f"{speed:.1f} it/s",
        )

    def on_epoch_end(self, state, row):
        val = "" if row.get("val_loss") is None else f" val {row['val_loss']:.2f}"
        info = (f"epoch {row['epoch']}/{state.config.epochs} rec {row['train_reconstruction_nll']:.2f} "
                f"kl {row['train_kl']:.2f}{val}")
        if self._log:
            self._last_line = now = time.perf_counter()
            self._line(f"{self.description} {info} ({now - self._start:.1f} s)")
            return
        self._progress.update(self._task, completed=state.step, info=info)

    def on_train_end(self, state, history):
        if self._log:
            reason = getattr(history, "stop_reason", "epochs")
            stopped = "" if reason in (None, "epochs") else f", stopped: {str(reason).replace('_', ' ')}"
            self._line(f"{self.description} done: {len(history)} epochs in {time.perf_counter() - self._start:.1f} s"
                       f"{stopped}")
        elif self._progress is not None:
            # early stopping ends before the planned total: show the bar as finished at the real step count
            self._progress.update(self._task, total=state.step, completed=state.step)
            self._progress.stop()
