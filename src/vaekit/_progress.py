"""A rich progress bar as a training callback (the library never prints on its own)."""

from __future__ import annotations

from .callbacks import Callback

__all__ = ["RichProgress"]


class RichProgress(Callback):
    """Shows epoch, step, loss terms, it/s and ETA while :func:`vaekit.fit` runs.

    Parameters
    ----------
    description : str
        Label shown before the bar.
    console : rich.console.Console or None
        Where to draw (stderr by default).
    """

    def __init__(self, description: str = "training", console=None):
        self.description = description
        self.console = console
        self._progress = None
        self._task = None

    def on_train_begin(self, state):
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

        self._progress = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[info]}"),
            TextColumn("[cyan]{task.fields[rate]}"),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            console=self.console or Console(stderr=True),
            transient=False,
        )
        total = state.steps_per_epoch * state.config.epochs
        self._progress.start()
        self._task = self._progress.add_task(self.description, total=total, completed=state.step, info="", rate="")

    def on_step_end(self, state, loss):
        task = self._progress.tasks[0]
        speed = task.speed
        self._progress.update(
            self._task, completed=state.step,
            info=f"epoch {state.epoch + 1}/{state.config.epochs} loss {loss:.2f}",
            rate="" if not speed else f"{speed:.1f} it/s",
        )

    def on_epoch_end(self, state, row):
        val = "" if row.get("val_loss") is None else f" val {row['val_loss']:.2f}"
        self._progress.update(
            self._task, completed=state.step,
            info=f"epoch {row['epoch']}/{state.config.epochs} rec {row['train_reconstruction_nll']:.2f} "
                 f"kl {row['train_kl']:.2f}{val}",
        )

    def on_train_end(self, state, history):
        if self._progress is not None:
            # early stopping ends before the planned total: show the bar as finished at the real step count
            self._progress.update(self._task, total=state.step, completed=state.step)
            self._progress.stop()
