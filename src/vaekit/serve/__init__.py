"""``vaekit serve``: a FastAPI app (JSON API + offline explorer page) over one trained model.

Needs the ``serve`` extra (``pip install 'vaekit[serve]'``: FastAPI, uvicorn, python-multipart);
FastAPI is imported on first use of :func:`create_app`, so ``import vaekit.serve`` is cheap.

Examples
--------
>>> from vaekit import serve
>>> callable(serve.create_app)
True
"""

from __future__ import annotations

__all__ = ["create_app", "LikelihoodScorer", "Scorer"]


def __getattr__(name: str):
    if name in __all__:
        try:
            from . import app as _app
        except ImportError as e:
            if "vaekit.serve needs FastAPI" in str(e):
                raise
            raise ImportError("vaekit.serve needs FastAPI: pip install 'vaekit[serve]'") from e
        value = getattr(_app, name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'vaekit.serve' has no attribute {name!r}")
