"""vaekit: variational autoencoders you can install, train, evaluate, save and load."""

from ._version import __version__ as __version__
from . import data as datasets  # noqa: F401  (vaekit.datasets.load)
from .errors import CheckpointError, ConfigError, DataError, NotFittedError, TrainingError, VaekitError

__all__ = [
    "__version__",
    "datasets",
    "VaekitError",
    "ConfigError",
    "DataError",
    "CheckpointError",
    "NotFittedError",
    "TrainingError",
]
