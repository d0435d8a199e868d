"""What a running :func:`vaekit.fit` shows its callbacks: the live training state and the hook class.

Kept apart from the loop so that callbacks (the progress bar, a user's logger) import this module and
not ``training``: imports point down, and the loop imports its default callbacks without a cycle.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from .config import TrainConfig

__all__ = ["TrainingState", "Callback", "History"]


@dataclass
class TrainingState:
    """What callbacks see: the live state of a running ``fit``."""

    config: TrainConfig
    epoch: int = 0  # number of completed epochs
    step: int = 0  # optimiser steps taken
    steps_per_epoch: int = 0
    n_train: int = 0
    n_val: int = 0
    start_epoch: int = 0
    best_value: float = math.inf
    best_epoch: int = -1
    epochs_without_improvement: int = 0
    elapsed: float = 0.0  # training seconds so far (kept across resume so max_time means total time)
    rows: list = field(default_factory=list)


class Callback:
    """Hooks called by :func:`fit`; override the ones you need (e.g. progress bars)."""

    def on_train_begin(self, state: TrainingState) -> None: ...

    def on_step_end(self, state: TrainingState, loss: float) -> None: ...

    def on_epoch_end(self, state: TrainingState, row: dict) -> None: ...

    def on_train_end(self, state: TrainingState, history: "History") -> None: ...


@dataclass
class History:
    """Per-epoch metrics of a run.

    Attributes
    ----------
    rows : list of dict
        One dict per epoch (``epoch`` 1-based, ``step``, ``lr``, ``kl_weight``, ``train_*``, ``val_*``, ``seconds``).
    best_epoch : int
        1-based epoch whose weights the model holds (lowest validation loss; the last epoch without validation).
    stopped_early : bool
        Whether early stopping ended the run.
    stop_reason : str
        "epochs", "early_stopping" or "max_time".
    """

    rows: list[dict]
    best_epoch: int
    stopped_early: bool
    stop_reason: str

    def __getitem__(self, key: str) -> list:
        """Column ``key`` over epochs, e.g. ``history["val_loss"]``."""
        return [r.get(key) for r in self.rows]

    def __len__(self) -> int:
        return len(self.rows)

    def to_pandas(self):
        import pandas as pd

        return pd.DataFrame(self.rows)
