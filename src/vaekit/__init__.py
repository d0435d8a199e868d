"""vaekit: variational autoencoders you can install, train, evaluate, save and load.

``import vaekit`` is cheap: every name below (and every submodule: ``vaekit.serve``, ``vaekit.tasks``,
``vaekit.viz`` ...) is imported on first use, so ``vaekit --version`` and ``--help`` never load torch.

Examples
--------
>>> import vaekit
>>> data = vaekit.datasets.load("digits")
>>> model = vaekit.VAE.for_data(data, latent_dim=4)
>>> run = vaekit.fit(model, data, epochs=1, seed=0, progress=False)
>>> model.sample(2).shape
torch.Size([2, 1, 8, 8])
"""

from __future__ import annotations

import importlib

from ._version import __version__ as __version__

#: Public name -> (module relative to this package, attribute in it; None = the module itself).
_LAZY = {
    "datasets": (".data", None),
    "Dataset": (".data", "Dataset"),
    "DataSpec": (".config", "DataSpec"),
    "ModelConfig": (".config", "ModelConfig"),
    "TrainConfig": (".config", "TrainConfig"),
    "VAE": (".model", "VAE"),
    "Autoencoder": (".model", "Autoencoder"),
    "StackedVAE": (".model", "StackedVAE"),
    "Objective": (".model", "Objective"),
    "fit": (".training", "fit"),
    "History": (".callbacks", "History"),
    "Callback": (".callbacks", "Callback"),
    "evaluate": (".evaluation", "evaluate"),
    "load": (".rundir", "load"),
    "load_run": (".rundir", "load_run"),
    "save": (".rundir", "save"),
    "Run": (".rundir", "Run"),
    "VaekitError": (".errors", "VaekitError"),
    "ConfigError": (".errors", "ConfigError"),
    "DataError": (".errors", "DataError"),
    "CheckpointError": (".errors", "CheckpointError"),
    "NotFittedError": (".errors", "NotFittedError"),
    "TrainingError": (".errors", "TrainingError"),
    "VAETransformer": (".tasks.embed", "VAETransformer"),
    "VAEImputer": (".tasks.impute", "VAEImputer"),
    "VAEOutlierDetector": (".tasks.anomaly", "VAEOutlierDetector"),
    "compress": (".tasks.compress", "compress"),
    "decompress": (".tasks.compress", "decompress"),
    "read_label_file": (".tasks.semisupervised", "read_label_file"),
    "classify": (".tasks.semisupervised", "classify"),
    "sample": (".tasks.synth", "sample"),
    "synthesize": (".tasks.synth", "synthesize"),
}

#: Submodules reachable as attributes without an explicit import (``vaekit.serve.create_app(...)``).
_SUBMODULES = frozenset({
    "callbacks", "cli", "config", "data", "errors", "evaluation", "io", "likelihoods", "model", "nets", "priors",
    "registry", "report", "rundir", "serve", "tasks", "training", "viz",
})

__all__ = ["__version__", *_LAZY]


def __getattr__(name: str):
    if name in _LAZY:
        module_name, attribute = _LAZY[name]
        module = importlib.import_module(module_name, __name__)
        value = module if attribute is None else getattr(module, attribute)
    elif name in _SUBMODULES:
        value = importlib.import_module(f".{name}", __name__)
    else:
        raise AttributeError(f"module 'vaekit' has no attribute {name!r}")
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(_LAZY) | _SUBMODULES)
