"""Exception types raised by vaekit.

Every error a user can cause is a :class:`VaekitError`, which is a ``ValueError`` so that
``except ValueError`` keeps working for code that does not know vaekit.
"""

from __future__ import annotations

__all__ = [
    "VaekitError",
    "ConfigError",
    "DataError",
    "CheckpointError",
    "NotFittedError",
    "TrainingError",
]


class VaekitError(ValueError):
    """Base class of every error vaekit raises for bad input or bad state."""


class ConfigError(VaekitError, TypeError):
    """A parameter or configuration value is invalid (wrong type, out of range, unknown key)."""


class DataError(VaekitError):
    """Input data is missing, malformed, or does not match what a model expects."""


class CheckpointError(VaekitError):
    """A run directory or weight file is missing, corrupt, or does not match its config."""


class NotFittedError(VaekitError, AttributeError):
    """An estimator method was called before ``fit``."""


class TrainingError(VaekitError):
    """Training cannot continue (for example a non-finite loss)."""
