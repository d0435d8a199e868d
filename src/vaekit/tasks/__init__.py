"""Task-level functions shared by the command line, the web server and notebooks.

They sit above the library core (models, ``fit``, ``evaluate``, data loaders, ``viz``/``report``) and
below the user surfaces: they take run directories, data sources and plain numbers, handle batching,
and return numpy arrays, pictures or written files. No printing and no global state here; the CLI adds
progress bars and messages on top.

Modules
-------
runs
    Load a run with its data (the source recorded in ``config.json``), train from a config file plus
    overrides, evaluate and write ``eval.json``.
generate
    Samples, reconstructions, interpolations, traversals and manifold grids, and conversion of model
    outputs back to the data's own range (uint8 pixels, de-standardised table columns).
visualize
    The pictures of those (Pillow image grids for images, matplotlib heat maps for vectors).
report
    The HTML run report and the demo (VAE vs deterministic autoencoder) report.
demo
    ``vaekit demo``: train both models on the embedded digits and write the report.
semisupervised
    Few labels: label hiding, ``classify`` (predictions with class probabilities) and analogies (keep z
    from an image, change y) for semi-supervised (M2, M1+M2) and conditional models; label files are
    read by :mod:`vaekit.data.labels`.
embed, anomaly, impute
    The scikit-learn estimators (``VAETransformer``, ``VAEOutlierDetector``, ``VAEImputer``), all on the one
    base of ``_estimator`` (parameter constraints, input formats, not-fitted error, ``from_run``), and what
    their commands do with run directories and files.
encoding, embed_stream, latent_page, neighbors
    Posterior means batch by batch; ``vaekit embed`` files in bounded memory; 2-D maps and the interactive
    latent page; nearest neighbours in latent space.
"""

import importlib as _importlib

_SUBMODULES = frozenset({"anomaly", "compress", "demo", "denoise", "embed", "embed_stream", "encoding", "generate",
                         "impute", "latent_page", "neighbors", "report", "runs", "semisupervised", "visualize"})


def __getattr__(name: str):
    # `vaekit.tasks.semisupervised.apply_labels(...)` works without importing the submodule first.
    if name in _SUBMODULES:
        module = _importlib.import_module(f".{name}", __name__)
        globals()[name] = module
        return module
    raise AttributeError(f"module 'vaekit.tasks' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | _SUBMODULES)
