"""Atomic file writes and the run directory: config.json + model.safetensors + metrics.csv + checkpoint/.

Every file is written to a temporary name in its destination folder and moved into place with
``os.replace``, so a crash never leaves a half-written file where a good one was. Nothing is ever
unpickled: weights and optimiser state are safetensors, everything else JSON or CSV.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from pathlib import Path
from typing import IO, Any, Callable, Iterator

__all__ = ["atomic_write", "atomic_write_bytes", "atomic_write_text", "write_json", "read_json"]


def _umask_mode() -> int:
    """The mode a plain ``open(path, "w")`` would give (mkstemp's files are 0600 otherwise)."""
    mask = os.umask(0)
    os.umask(mask)
    return 0o666 & ~mask


@contextlib.contextmanager
def atomic_write(path: str | os.PathLike, mode: str = "wb") -> Iterator[IO]:
    """Open a temporary file beside ``path``; on success move it over ``path``, on error delete it.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "a.txt"
    >>> with atomic_write(p, "w") as f:
    ...     _ = f.write("hello")
    >>> p.read_text()
    'hello'
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.chmod(tmp, _umask_mode())
        with os.fdopen(fd, mode, **({} if "b" in mode else {"encoding": "utf-8", "newline": ""})) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically."""
    with atomic_write(path, "wb") as f:
        f.write(data)


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    """Write ``text`` (UTF-8) to ``path`` atomically."""
    with atomic_write(path, "w") as f:
        f.write(text)


def atomic_save(path: str | os.PathLike, save: Callable[[str], Any]) -> None:
    """Call ``save(tmp_path)`` (a library writer that takes a file name) and move the result into place."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=path.suffix or ".tmp", dir=path.parent)
    os.close(fd)
    try:
        os.chmod(tmp, _umask_mode())
        save(tmp)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def write_json(path: str | os.PathLike, obj: Any) -> None:
    """Write ``obj`` as indented JSON atomically."""
    atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=False) + "\n")


def read_json(path: str | os.PathLike) -> Any:
    """Read JSON from ``path``."""
    with open(path, encoding="utf-8") as f:
        return json.load(f)


# ---------------------------------------------------------------------------------------------------
# Run directory
# ---------------------------------------------------------------------------------------------------
FORMAT_VERSION = 1
CONFIG_FILE = "config.json"
WEIGHTS_FILE = "model.safetensors"
METRICS_FILE = "metrics.csv"
CHECKPOINT_DIR = "checkpoint"


def _checkpoint_error(msg: str):
    from .errors import CheckpointError

    return CheckpointError(msg)


def prepare_run_dir(path: str | os.PathLike, *, overwrite: bool = False, resume: bool = False) -> Path:
    """Create ``path`` or check that it may be written: a non-empty folder needs ``overwrite`` (or ``resume``)."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise _checkpoint_error(f"Run directory '{path}' exists and is not a folder.")
    if path.is_dir() and any(path.iterdir()) and not (overwrite or resume):
        raise _checkpoint_error(
            f"Run directory '{path}' is not empty; pass overwrite=True (--overwrite) to replace it, "
            f"or resume=True (--resume) to continue its training."
        )
    path.mkdir(parents=True, exist_ok=True)
    return path


def config_document(model, *, train_config=None, extra: dict | None = None) -> dict:
    """The ``config.json`` content for ``model``."""
    import torch

    from ._version import __version__

    doc = {
        "format_version": FORMAT_VERSION,
        "vaekit_version": __version__,
        "torch_version": torch.__version__,
        "class_name": type(model).__name__,
        "model": model.config.to_dict(),
        "train": None if train_config is None else train_config.to_dict(),
        "data": None if model.data_spec is None else model.data_spec.to_dict(),
    }
    features = getattr(model, "features", None)
    if features is not None:  # M1+M2: the frozen features model's config beside M2's
        doc["features"] = features.config.to_dict()
    if extra:
        doc.update(extra)
    return doc


def save_weights(module, path: str | os.PathLike) -> None:
    """Write a module's ``state_dict`` as safetensors, atomically."""
    from safetensors.torch import save_file

    tensors = {k: v.detach().contiguous().cpu() for k, v in module.state_dict().items()}
    atomic_save(path, lambda tmp: save_file(tensors, tmp, metadata={"format": "pt"}))


def load_tensors(path: str | os.PathLike) -> dict:
    """Read a safetensors file, translating any failure into a CheckpointError naming the file."""
    from safetensors.torch import load_file

    path = Path(path)
    if not path.is_file():
        raise _checkpoint_error(f"Missing weight file '{path}'.")
    try:
        return load_file(str(path))
    except Exception as e:  # safetensors raises its own error types for truncated/corrupt headers
        raise _checkpoint_error(f"Weight file '{path}' is corrupt or not a safetensors file: {e}") from e


def load_state(module, path: str | os.PathLike) -> None:
    """Load safetensors weights into ``module`` with ``strict=True``, naming missing/unexpected keys."""
    tensors = load_tensors(path)
    own = module.state_dict()
    missing = sorted(set(own) - set(tensors))
    unexpected = sorted(set(tensors) - set(own))
    if missing or unexpected:
        raise _checkpoint_error(
            f"Weights in '{path}' do not match the model built from its config: "
            f"missing keys {missing[:8]}{'...' if len(missing) > 8 else ''}, "
            f"unexpected keys {unexpected[:8]}{'...' if len(unexpected) > 8 else ''}."
        )
    bad = [k for k in own if tuple(own[k].shape) != tuple(tensors[k].shape)]
    if bad:
        k = bad[0]
        raise _checkpoint_error(
            f"Weights in '{path}' do not match the model built from its config: '{k}' has shape "
            f"{tuple(tensors[k].shape)} in the file but {tuple(own[k].shape)} in the model."
        )
    module.load_state_dict(tensors, strict=True)


def save_model(model, path: str | os.PathLike, *, overwrite: bool = False, train_config=None) -> Path:
    """Write ``config.json`` + ``model.safetensors`` to the run directory ``path``.

    Refuses a non-empty folder unless ``overwrite``. The weights are written before the config, so a
    crash in between leaves no config pointing at missing weights.
    """
    path = prepare_run_dir(path, overwrite=overwrite)
    save_weights(model, path / WEIGHTS_FILE)
    write_json(path / CONFIG_FILE, config_document(model, train_config=train_config or model.train_config))
    return path


def read_config(path: str | os.PathLike) -> dict:
    """Read and check a run's ``config.json``."""
    path = Path(path)
    if not path.is_dir():
        raise _checkpoint_error(f"'{path}' is not a run directory (no such folder). Train one with `vaekit train`.")
    cfg_path = path / CONFIG_FILE
    if not cfg_path.is_file():
        raise _checkpoint_error(
            f"'{path}' is not a run directory: it has no {CONFIG_FILE}. Train one with `vaekit train DATA --out {path}`."
        )
    try:
        doc = read_json(cfg_path)
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise _checkpoint_error(f"'{cfg_path}' is not valid JSON: {e}") from e
    if not isinstance(doc, dict) or "model" not in doc or "class_name" not in doc:
        raise _checkpoint_error(f"'{cfg_path}' is not a vaekit config (missing 'class_name' or 'model').")
    if doc.get("format_version", 0) > FORMAT_VERSION:
        raise _checkpoint_error(
            f"'{cfg_path}' has format_version {doc.get('format_version')}, newer than this vaekit understands "
            f"({FORMAT_VERSION}); upgrade vaekit."
        )
    return doc


def build_from_config(doc: dict, where: str = "config.json"):
    """Rebuild an untrained model from a ``config.json`` document."""
    from .config import DataSpec, ModelConfig, TrainConfig
    from .errors import ConfigError
    from .model import VAE, Autoencoder, StackedVAE

    classes = {"VAE": VAE, "Autoencoder": Autoencoder, "StackedVAE": StackedVAE}
    name = doc["class_name"]
    if name not in classes:
        raise _checkpoint_error(f"{where}: unknown class_name '{name}'; expected one of {sorted(classes)}.")
    try:
        model_cfg = ModelConfig.from_dict(doc["model"], where=f"{where} (model section)")
        spec = None if doc.get("data") is None else DataSpec.from_dict(doc["data"], where=f"{where} (data section)")
        train = None if doc.get("train") is None else TrainConfig.from_dict(doc["train"], where=f"{where} (train section)")
        if name == "StackedVAE":
            if not isinstance(doc.get("features"), dict):
                raise ConfigError(f"{where}: a StackedVAE config needs a 'features' section (the M1 model).")
            features = ModelConfig.from_dict(doc["features"], where=f"{where} (features section)")
            model = StackedVAE(model_cfg, features, data_spec=spec)
        else:
            model = classes[name](model_cfg, data_spec=spec)
    except ConfigError as e:
        raise _checkpoint_error(str(e)) from e
    model.train_config = train
    return model


def load(path: str | os.PathLike, *, weights: str = WEIGHTS_FILE):
    """Load a trained model from a run directory: rebuild from ``config.json``, load weights strictly.

    Parameters
    ----------
    path : str or PathLike
        The run directory written by :func:`vaekit.fit` (with ``out=``) or ``model.save``.
    weights : str
        Weight file inside the run (``checkpoint/model.safetensors`` for the latest epoch).

    Returns
    -------
    VAE or Autoencoder, in eval mode.

    Raises
    ------
    CheckpointError
        Not a run directory, corrupt files, or weights that do not match the config.
    """
    path = Path(path)
    doc = read_config(path)
    model = build_from_config(doc, str(path / CONFIG_FILE))
    load_state(model, path / weights)
    metrics = path / METRICS_FILE
    model.run_dir = path
    model.metrics_path = metrics if metrics.is_file() else None
    return model.eval()
