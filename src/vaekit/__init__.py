"""vaekit: variational autoencoders you can install, train, evaluate, save and load.

Examples
--------
>>> import vaekit
>>> data = vaekit.datasets.load("digits")
>>> model = vaekit.VAE.for_data(data, latent_dim=4)
>>> history = vaekit.fit(model, data, epochs=1, seed=0, progress=False)
>>> model.sample(2).shape
torch.Size([2, 1, 8, 8])
"""

from ._version import __version__ as __version__
from . import data as datasets
from .config import DataSpec as DataSpec
from .config import ModelConfig as ModelConfig
from .config import TrainConfig as TrainConfig
from .data import Dataset as Dataset
from .errors import CheckpointError as CheckpointError
from .errors import ConfigError as ConfigError
from .errors import DataError as DataError
from .errors import NotFittedError as NotFittedError
from .errors import TrainingError as TrainingError
from .errors import VaekitError as VaekitError
from .evaluation import evaluate as evaluate
from .io import load as load
from .model import VAE as VAE
from .model import Autoencoder as Autoencoder
from .model import Objective as Objective
from .model import StackedVAE as StackedVAE
from .training import Callback as Callback
from .training import History as History
from .training import fit as fit

__all__ = [
    "__version__",
    "datasets",
    "Dataset",
    "DataSpec",
    "ModelConfig",
    "TrainConfig",
    "VAE",
    "Autoencoder",
    "StackedVAE",
    "Objective",
    "fit",
    "History",
    "Callback",
    "evaluate",
    "load",
    "VaekitError",
    "ConfigError",
    "DataError",
    "CheckpointError",
    "NotFittedError",
    "TrainingError",
    "VAETransformer",
    "VAEImputer",
    "VAEOutlierDetector",
    "compress",
    "decompress",
    "read_label_file",
    "classify",
]


def __getattr__(name: str):
    # scikit-learn's estimator machinery is imported on first use, so `import vaekit` and the CLI stay quick.
    if name == "VAETransformer":
        from .tasks.embed import VAETransformer

        globals()["VAETransformer"] = VAETransformer
        return VAETransformer
    if name == "VAEOutlierDetector":
        from .tasks.anomaly import VAEOutlierDetector

        globals()["VAEOutlierDetector"] = VAEOutlierDetector
        return VAEOutlierDetector
    if name == "VAEImputer":
        from .tasks.impute import VAEImputer

        globals()["VAEImputer"] = VAEImputer
        return VAEImputer
    if name in ("compress", "decompress"):
        from .tasks import compress as _compress

        globals().update(compress=_compress.compress, decompress=_compress.decompress)
        return globals()[name]
    if name in ("read_label_file", "classify"):
        from .tasks import semisupervised as _semi

        globals().update(read_label_file=_semi.read_label_file, classify=_semi.classify)
        return globals()[name]
    raise AttributeError(f"module 'vaekit' has no attribute {name!r}")
