"""The run directory: what users hold. Save, load, checkpoints, metrics and the one class registry.

A run directory holds ``config.json`` (format and library versions, ``class_name``, the ``model``,
``train`` and ``data`` sections and the SHA-256 of the weights), ``model.safetensors``,
``metrics.csv`` (a row per epoch) and ``checkpoint/`` (weights, optimiser and RNG state for
``--resume``). Nothing is ever unpickled.

Crash safety
------------
* Every file is written through :mod:`vaekit.io` (temp file + ``os.replace``).
* A checkpoint is one directory: it is written whole as ``.checkpoint.new/`` (its ``state.json``, the
  manifest with the SHA-256 of every other file, written last), then swapped in by two renames. A kill
  at any point leaves a complete checkpoint that :func:`recover_checkpoint` finds (the new one if it
  was complete, else the previous one) and temp files it removes.
* ``overwrite`` moves the old run aside and brings it back if the new one fails before its first
  complete checkpoint, so a failed overwrite destroys nothing; files of the old run never mix with the
  new one's.

This module sits above the model classes (it builds them) and below training, which calls it.
"""

from __future__ import annotations

import contextlib
import csv
import hashlib
import io as _stdio
import json
import math
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

from .callbacks import History
from .config import DataSpec, ModelConfig, TrainConfig
from .errors import CheckpointError, ConfigError
from .io import atomic_save, atomic_write_text, read_json, write_json
from .model import VAE, Autoencoder, StackedVAE
from .registry import Registry

__all__ = [
    "Run", "MODEL_CLASSES", "save", "load", "load_run", "read_config", "build_from_config", "config_document",
    "prepare_run_dir", "RunDirectory", "save_weights", "load_tensors", "load_state", "write_metrics", "read_metrics",
    "write_checkpoint", "read_checkpoint", "recover_checkpoint",
]

FORMAT_VERSION = 1
CONFIG_FILE = "config.json"
WEIGHTS_FILE = "model.safetensors"
METRICS_FILE = "metrics.csv"
CHECKPOINT_DIR = "checkpoint"
_STAGING = ".checkpoint.new"
_PREVIOUS = ".checkpoint.old"

#: the model classes a ``config.json`` may name (``class_name``); one list, read by save and load
MODEL_CLASSES = Registry("model class")
MODEL_CLASSES.register("VAE")(VAE)
MODEL_CLASSES.register("Autoencoder")(Autoencoder)
MODEL_CLASSES.register("StackedVAE")(StackedVAE)


# ---------------------------------------------------------------------------------------------- the run object
@dataclass
class Run:
    """A trained model together with what belongs to its run, not to the module.

    Attributes
    ----------
    model : VAE, Autoencoder or StackedVAE
    path : Path or None
        The run directory (None for a model trained without ``out``).
    train_config : TrainConfig or None
        How it was trained.
    history : History or None
        Per-epoch metrics (read back from ``metrics.csv`` when loaded).
    """

    model: Any
    path: Path | None = None
    train_config: TrainConfig | None = None
    history: History | None = None

    # The run reads as its history (``len(run)``, ``run["val_loss"]``, ``run.rows``, ``run.stop_reason``).
    def __getattr__(self, name: str):
        history = self.__dict__.get("history")
        if history is not None and name in ("rows", "best_epoch", "stopped_early", "stop_reason", "to_pandas"):
            return getattr(history, name)
        raise AttributeError(f"'Run' object has no attribute {name!r}")

    def __len__(self) -> int:
        return 0 if self.history is None else len(self.history)

    def __getitem__(self, key: str) -> list:
        if self.history is None:
            raise KeyError(key)
        return self.history[key]

    @property
    def metrics_path(self) -> Path | None:
        """``metrics.csv`` of the run, when it has one."""
        if self.path is None:
            return None
        p = self.path / METRICS_FILE
        return p if p.is_file() else None

    def save(self, path: str | os.PathLike | None = None, *, overwrite: bool = False) -> Path:
        """Write the model (and its training config) to ``path`` (default: the run's own directory)."""
        target = path if path is not None else self.path
        if target is None:
            raise CheckpointError("This run has no directory; pass the path to save it to.")
        return save(self.model, target, overwrite=overwrite, train_config=self.train_config)


# ---------------------------------------------------------------------------------------------- directories
class RunDirectory:
    """A run directory being written: created, or taken over with ``overwrite`` / ``resume``.

    With ``overwrite`` the old content is moved aside (one rename); :meth:`commit` deletes it once the
    new run holds something worth keeping, :meth:`abort` removes what the new run wrote and moves the
    old content back. A folder this object created is removed again by :meth:`abort`.
    """

    def __init__(self, path: str | os.PathLike, *, overwrite: bool = False, resume: bool = False):
        path = Path(path)
        self.path = path
        self._aside: Path | None = None
        if path.exists() and not path.is_dir():
            raise CheckpointError(f"Run directory '{path}' exists and is not a folder.")
        existing = path.is_dir() and any(path.iterdir())
        if existing and not (overwrite or resume):
            raise CheckpointError(
                f"Run directory '{path}' is not empty; pass overwrite=True (--overwrite) to replace it, "
                f"or resume=True (--resume) to continue its training."
            )
        self.created = not path.exists()
        if existing and overwrite and not resume and not _looks_like_a_run(path):
            raise CheckpointError(
                f"'{path}' is not empty and holds no vaekit run (no {CONFIG_FILE}); --overwrite replaces a run "
                f"directory as a whole, so it refuses to delete other files. Choose a new or empty folder."
            )
        if existing and overwrite and not resume:
            import tempfile

            # a fresh name each time: an aside folder left by a killed overwrite may hold the only copy of a run
            self._aside = Path(tempfile.mkdtemp(prefix=f".{path.name}.replaced-", dir=path.parent))
            os.replace(path, self._aside)  # onto the empty folder just made
            self.created = True
        path.mkdir(parents=True, exist_ok=True)
        if resume:
            remove_temp_files(path)

    def commit(self) -> None:
        """The new run stands: delete the replaced one."""
        if self._aside is not None:
            shutil.rmtree(self._aside, ignore_errors=True)
            self._aside = None

    def abort(self) -> None:
        """The new run failed before it held anything: remove it and bring back what it replaced."""
        if self.created:
            shutil.rmtree(self.path, ignore_errors=True)
        if self._aside is not None:
            with contextlib.suppress(OSError):
                os.replace(self._aside, self.path)
            self._aside = None


def _looks_like_a_run(path: Path) -> bool:
    """Whether ``path`` holds vaekit output: a run (its config, or the checkpoint of one that never
    finished), or a folder of runs (``vaekit demo`` writes one run per model)."""
    if (path / CONFIG_FILE).is_file() or (path / CHECKPOINT_DIR).is_dir() or (path / _STAGING).is_dir():
        return True
    return any(p.is_dir() and (p / CONFIG_FILE).is_file() for p in path.iterdir())


def prepare_run_dir(path: str | os.PathLike, *, overwrite: bool = False, resume: bool = False) -> Path:
    """Create ``path`` or check that it may be written; ``overwrite`` replaces its content as a whole."""
    d = RunDirectory(path, overwrite=overwrite, resume=resume)
    d.commit()
    return d.path


def remove_temp_files(path: Path) -> None:
    """Remove the hidden temp files a killed atomic write leaves (``.NAME.XXXX.tmp``), here and in checkpoint/."""
    for folder in (path, path / CHECKPOINT_DIR):
        if folder.is_dir():
            for p in folder.iterdir():
                if p.name.startswith(".") and p.is_file() and (p.name.endswith(".tmp") or ".tmp" in p.suffixes
                                                                or p.suffix == ".safetensors"):
                    with contextlib.suppress(OSError):
                        p.unlink()


# ---------------------------------------------------------------------------------------------- weights
def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def save_weights(module, path: str | os.PathLike) -> str:
    """Write a module's ``state_dict`` as safetensors, atomically; return the file's SHA-256."""
    from safetensors.torch import save_file

    tensors = {k: v.detach().contiguous().cpu() for k, v in module.state_dict().items()}
    digest = {}

    def write(tmp):
        save_file(tensors, tmp, metadata={"format": "pt"})
        digest["sha"] = _sha256(Path(tmp))

    atomic_save(path, write)
    return digest["sha"]


def load_tensors(path: str | os.PathLike, *, sha256: str | None = None) -> dict:
    """Read a safetensors file (never a pickle), checking its digest when one is given.

    Raises
    ------
    CheckpointError
        Missing, corrupt or truncated file, or a digest that does not match (flipped bytes).
    """
    from safetensors.torch import load as load_bytes

    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"Missing weight file '{path}'.")
    data = path.read_bytes()
    if sha256 is not None and hashlib.sha256(data).hexdigest() != sha256:
        raise CheckpointError(f"Weight file '{path}' is corrupt: it does not match the SHA-256 recorded for it "
                              f"(damaged or replaced). Retrain, or restore the file.")
    try:
        return load_bytes(data)
    except Exception as e:  # safetensors raises its own error types for truncated/corrupt headers
        raise CheckpointError(f"Weight file '{path}' is corrupt or not a safetensors file: {e}") from e


def _file_shapes(path: Path) -> dict[str, tuple[int, ...]] | None:
    """Tensor shapes from a safetensors header, without reading the tensors (None: unreadable header)."""
    try:
        from safetensors import safe_open

        with safe_open(str(path), "pt") as f:
            return {k: tuple(f.get_slice(k).get_shape()) for k in f.keys()}
    except Exception:  # a corrupt header is reported by load_tensors with the file name
        return None


def _check_shapes(own: dict[str, tuple[int, ...]], theirs: dict[str, tuple[int, ...]], path) -> None:
    missing = sorted(set(own) - set(theirs))
    unexpected = sorted(set(theirs) - set(own))
    if missing or unexpected:
        raise CheckpointError(
            f"Weights in '{path}' do not match the model built from its config: "
            f"missing keys {missing[:8]}{'...' if len(missing) > 8 else ''}, "
            f"unexpected keys {unexpected[:8]}{'...' if len(unexpected) > 8 else ''}."
        )
    for k in own:
        if tuple(own[k]) != tuple(theirs[k]):
            raise CheckpointError(
                f"Weights in '{path}' do not match the model built from its config: '{k}' has shape "
                f"{tuple(theirs[k])} in the file but {tuple(own[k])} in the model."
            )


def load_state(module, path: str | os.PathLike, *, sha256: str | None = None) -> None:
    """Load safetensors weights into ``module`` with ``strict=True``.

    Missing/unexpected keys and shape mismatches are named; non-finite weights are refused (a model
    holding NaN would score every input as 'normal' or produce NaN everywhere).
    """
    import torch

    tensors = load_tensors(path, sha256=sha256)
    _check_shapes({k: tuple(v.shape) for k, v in module.state_dict().items()},
                  {k: tuple(v.shape) for k, v in tensors.items()}, path)
    bad = [k for k, v in tensors.items() if v.is_floating_point() and not bool(torch.isfinite(v).all())]
    if bad:
        raise CheckpointError(f"Weights in '{path}' hold non-finite values (NaN or inf) in {bad[:4]}"
                              f"{'...' if len(bad) > 4 else ''}; the model cannot be used. Retrain it.")
    module.load_state_dict(tensors, strict=True)


# ---------------------------------------------------------------------------------------------- config.json
def config_document(model, *, train_config=None, weights_sha256: str | None = None, extra: dict | None = None) -> dict:
    """The ``config.json`` content for ``model``."""
    import torch

    from ._version import __version__

    doc = {
        "format_version": FORMAT_VERSION,
        "vaekit_version": __version__,
        "torch_version": torch.__version__,
        "class_name": MODEL_CLASSES.name_of(type(model)),
        "model": model.config.to_dict(),
        "train": None if train_config is None else train_config.to_dict(),
        "data": None if model.data_spec is None else model.data_spec.to_dict(),
    }
    features = getattr(model, "features", None)
    if features is not None:  # M1+M2: the frozen features model's config beside M2's
        doc["features"] = features.config.to_dict()
    if weights_sha256 is not None:
        doc["weights_sha256"] = weights_sha256
    if extra:
        doc.update(extra)
    return doc


def save(model, path: str | os.PathLike, *, overwrite: bool = False, train_config=None) -> Path:
    """Write ``config.json`` + ``model.safetensors`` to the run directory ``path``.

    Refuses a non-empty folder unless ``overwrite`` (which replaces it as a whole). The weights are
    written before the config, which records their digest, so a crash in between leaves no config
    pointing at other weights.

    Examples
    --------
    >>> import tempfile, torch, vaekit
    >>> from vaekit.config import ModelConfig
    >>> m = vaekit.VAE(ModelConfig(data_shape=(3,), latent_dim=2, hidden_dims=(4,), likelihood="gaussian"))
    >>> d = tempfile.mkdtemp()
    >>> _ = vaekit.save(m, d, overwrite=True)
    >>> torch.equal(vaekit.load(d).decoder.net[0].weight, m.decoder.net[0].weight)
    True
    """
    d = RunDirectory(path, overwrite=overwrite)
    try:
        sha = save_weights(model, d.path / WEIGHTS_FILE)
        write_json(d.path / CONFIG_FILE, config_document(model, train_config=train_config, weights_sha256=sha))
    except BaseException:
        d.abort()
        raise
    d.commit()
    return d.path


def _expect(cond: bool, where: str, what: str) -> None:
    if not cond:
        raise CheckpointError(f"'{where}' is not a valid vaekit config: {what}.")


def read_config(path: str | os.PathLike) -> dict:
    """Read and check a run's ``config.json`` (types of its top-level fields included)."""
    path = Path(path)
    if not path.is_dir():
        raise CheckpointError(f"'{path}' is not a run directory (no such folder). Train one with `vaekit train`.")
    cfg_path = path / CONFIG_FILE
    if not cfg_path.is_file():
        raise CheckpointError(
            f"'{path}' is not a run directory: it has no {CONFIG_FILE}. Train one with `vaekit train DATA --out {path}`."
        )
    try:
        doc = read_json(cfg_path)
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise CheckpointError(f"'{cfg_path}' is not valid JSON: {e}") from e
    _expect(isinstance(doc, dict), cfg_path, "expected a JSON object")
    _expect("model" in doc and "class_name" in doc, cfg_path, "missing 'class_name' or 'model'")
    _expect(isinstance(doc["class_name"], str), cfg_path,
            f"'class_name' must be a string such as 'VAE'; got {doc['class_name']!r}")
    version = doc.get("format_version", 0)
    _expect(isinstance(version, int) and not isinstance(version, bool), cfg_path,
            f"'format_version' must be an integer; got {version!r}")
    if version > FORMAT_VERSION:
        raise CheckpointError(
            f"'{cfg_path}' has format_version {version}, newer than this vaekit understands "
            f"({FORMAT_VERSION}); upgrade vaekit."
        )
    _expect(isinstance(doc["model"], dict), cfg_path, "the 'model' section must be a JSON object")
    for key in ("train", "data", "features"):
        _expect(doc.get(key) is None or isinstance(doc[key], dict), cfg_path,
                f"the '{key}' section must be a JSON object or null; got {type(doc.get(key)).__name__}")
    sha = doc.get("weights_sha256")
    _expect(sha is None or (isinstance(sha, str) and len(sha) == 64), cfg_path, "'weights_sha256' must be a hex digest")
    return doc


def _configs(doc: dict, where: str):
    try:
        model_cfg = ModelConfig.from_dict(doc["model"], where=f"{where} (model section)")
        spec = None if doc.get("data") is None else DataSpec.from_dict(doc["data"], where=f"{where} (data section)")
        train = None if doc.get("train") is None else TrainConfig.from_dict(doc["train"], where=f"{where} (train section)")
        features = None
        if doc["class_name"] == "StackedVAE":
            if not isinstance(doc.get("features"), dict):
                raise ConfigError(f"{where}: a StackedVAE config needs a 'features' section (the M1 model).")
            features = ModelConfig.from_dict(doc["features"], where=f"{where} (features section)")
    except (ConfigError, TypeError, ValueError) as e:
        raise CheckpointError(f"{where}: {e}" if where not in str(e) else str(e)) from e
    return model_cfg, spec, train, features


def _construct(doc: dict, where: str, device=None):
    try:
        cls = MODEL_CLASSES.get(doc["class_name"], where=f"{where}: class_name")
    except ConfigError as e:
        raise CheckpointError(str(e)) from e
    model_cfg, spec, train, features = _configs(doc, where)
    try:
        if device is not None:
            import torch

            with torch.device(device):
                model = cls(model_cfg, features, data_spec=spec) if features is not None else cls(model_cfg, data_spec=spec)
        else:
            model = cls(model_cfg, features, data_spec=spec) if features is not None else cls(model_cfg, data_spec=spec)
    except (ConfigError, TypeError, ValueError) as e:
        raise CheckpointError(f"{where}: {e}") from e
    return model, train


def build_from_config(doc: dict, where: str = "config.json"):
    """Rebuild an untrained model from a ``config.json`` document; return ``(model, train_config)``."""
    return _construct(doc, where)


def load_run(path: str | os.PathLike, *, weights: str = WEIGHTS_FILE) -> Run:
    """Load a run directory: the model (rebuilt from ``config.json``, weights loaded strictly and checked
    against their recorded digest) with its training config, history and path.

    The config's sizes are checked against the weight file's header on the ``meta`` device first, so an
    edited ``config.json`` (``latent_dim: 1e7``) is refused before any memory is allocated for it.

    Raises
    ------
    CheckpointError
        Not a run directory, corrupt or damaged files, weights that do not match the config, or
        non-finite weights.
    """
    path = Path(path)
    doc = read_config(path)
    where = str(path / CONFIG_FILE)
    weight_path = path / weights
    shapes = _file_shapes(weight_path) if weight_path.is_file() else None
    if shapes is not None:
        skeleton, _ = _construct(doc, where, device="meta")
        _check_shapes({k: tuple(v.shape) for k, v in skeleton.state_dict().items()}, shapes, weight_path)
    model, train = _construct(doc, where)
    load_state(model, weight_path, sha256=doc.get("weights_sha256") if weights == WEIGHTS_FILE else None)
    metrics = path / METRICS_FILE
    history = None
    if metrics.is_file():
        rows = read_metrics(metrics)
        history = History(rows=rows, best_epoch=-1, stopped_early=False, stop_reason="unknown")
    return Run(model=model.eval(), path=path, train_config=train, history=history)


def load(path: str | os.PathLike, *, weights: str = WEIGHTS_FILE):
    """Load a trained model from a run directory (see :func:`load_run` for the model with its run).

    Parameters
    ----------
    path : str or PathLike
        The run directory written by :func:`vaekit.fit` (with ``out=``) or :func:`vaekit.save`.
    weights : str
        Weight file inside the run (``checkpoint/model.safetensors`` for the latest epoch).

    Returns
    -------
    VAE, Autoencoder or StackedVAE, in eval mode.
    """
    return load_run(path, weights=weights).model


# ---------------------------------------------------------------------------------------------- metrics
METRIC_COLUMNS = (
    "epoch", "step", "lr", "kl_weight",
    "train_loss", "train_reconstruction_nll", "train_kl",
    "val_loss", "val_reconstruction_nll", "val_kl", "seconds",
)


def metrics_csv(rows: Sequence[dict]) -> str:
    """Rows of per-epoch metrics as the text of ``metrics.csv``."""
    buf = _stdio.StringIO()
    w = csv.DictWriter(buf, fieldnames=METRIC_COLUMNS, extrasaction="ignore", lineterminator="\n")
    w.writeheader()
    for r in rows:
        w.writerow({k: ("" if r.get(k) is None else r.get(k)) for k in METRIC_COLUMNS})
    return buf.getvalue()


def write_metrics(path: str | os.PathLike, rows: Sequence[dict]) -> None:
    """Write ``metrics.csv`` atomically."""
    atomic_write_text(path, metrics_csv(rows))


def read_metrics(path: str | os.PathLike) -> list[dict]:
    """Read a run's ``metrics.csv`` back into rows of floats (ints for epoch/step)."""
    rows = []
    try:
        with open(path, newline="", encoding="utf-8") as f:
            for r in csv.DictReader(f):
                rows.append({k: (None if v in ("", None) else (int(v) if k in ("epoch", "step") else float(v)))
                             for k, v in r.items() if k is not None})
    except (ValueError, UnicodeDecodeError, csv.Error) as e:
        raise CheckpointError(f"'{path}' is not a valid metrics file: {e}") from e
    return rows


# ---------------------------------------------------------------------------------------------- checkpoints
def _optimizer_tensors(opt) -> tuple[dict, dict]:
    """Flatten an optimiser state_dict into safetensors-ready tensors + JSON metadata (no pickle)."""
    import torch

    sd = opt.state_dict()
    tensors, scalars = {}, {}
    for idx, st in sd["state"].items():
        for name, v in st.items():
            if isinstance(v, torch.Tensor):
                tensors[f"state.{idx}.{name}"] = v.detach().contiguous().cpu()
            else:
                scalars[f"{idx}.{name}"] = v
    return tensors, {"param_groups": sd["param_groups"], "scalars": scalars}


def _restore_optimizer(opt, tensors: dict, meta: dict) -> None:
    state: dict[int, dict] = {}
    for key, v in tensors.items():
        if key.startswith("state."):
            _, idx, name = key.split(".", 2)
            state.setdefault(int(idx), {})[name] = v
    for key, v in meta.get("scalars", {}).items():
        idx, name = key.split(".", 1)
        state.setdefault(int(idx), {})[name] = v
    opt.load_state_dict({"state": state, "param_groups": meta["param_groups"]})


def _fsync_dir(path: Path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _write_file(path: Path, write) -> str:
    """Write a new file (inside a staging folder nobody reads yet), fsync it, return its SHA-256."""
    write(str(path))
    with open(path, "rb") as f:
        os.fsync(f.fileno())
    return _sha256(path)


def _checkpoint_complete(folder: Path) -> bool:
    """Whether ``folder`` holds a whole checkpoint: a readable state.json whose digests match every file."""
    try:
        meta = read_json(folder / "state.json")
        files = meta["files"]
        return isinstance(files, dict) and all(
            (folder / name).is_file() and _sha256(folder / name) == sha for name, sha in files.items()
        )
    except (OSError, ValueError, KeyError, TypeError):
        return False


def recover_checkpoint(run: str | os.PathLike) -> Path | None:
    """Settle the checkpoint of ``run`` after a crash; return ``run/checkpoint`` if a complete one exists.

    A kill during :func:`write_checkpoint` leaves one of: the old checkpoint and a partial
    ``.checkpoint.new`` (the partial one is dropped), a complete ``.checkpoint.new`` with the old one
    moved to ``.checkpoint.old`` (the new one is promoted), or both renames done with the old one not yet
    deleted. Hidden temp files of killed atomic writes are removed too.
    """
    run = Path(run)
    final, staging, previous = run / CHECKPOINT_DIR, run / _STAGING, run / _PREVIOUS
    if not final.is_dir():
        for candidate in (staging, previous):
            if candidate.is_dir() and _checkpoint_complete(candidate):
                os.replace(candidate, final)
                _fsync_dir(run)
                break
    for leftover in (staging, previous):
        if leftover.exists():
            shutil.rmtree(leftover, ignore_errors=True)
    remove_temp_files(run)
    return final if final.is_dir() else None


def write_checkpoint(run: Path, model, opt, generator, state, best_state) -> None:
    """Write ``run/checkpoint/`` as one unit: staged whole, then swapped in by renames."""
    from safetensors.torch import save_file

    run = Path(run)
    staging, final, previous = run / _STAGING, run / CHECKPOINT_DIR, run / _PREVIOUS
    if staging.exists():
        shutil.rmtree(staging)
    staging.mkdir()
    opt_tensors, opt_meta = _optimizer_tensors(opt)
    opt_tensors["rng_state"] = generator.get_state()
    weights = {k: v.detach().contiguous().cpu() for k, v in model.state_dict().items()}
    files = {
        WEIGHTS_FILE: _write_file(staging / WEIGHTS_FILE, lambda p: save_file(weights, p, metadata={"format": "pt"})),
        "optimizer.safetensors": _write_file(staging / "optimizer.safetensors", lambda p: save_file(opt_tensors, p)),
    }
    if best_state is not None:
        files["best.safetensors"] = _write_file(staging / "best.safetensors", lambda p: save_file(best_state, p))
    doc = {
        "epoch": state.epoch, "step": state.step,
        "best_value": state.best_value if math.isfinite(state.best_value) else None,
        "best_epoch": state.best_epoch, "epochs_without_improvement": state.epochs_without_improvement,
        "elapsed": state.elapsed, "optimizer": opt_meta, "rows": state.rows, "files": files,
    }
    # state.json last: with the digests of the files above it is the mark that the checkpoint is whole.
    _write_file(staging / "state.json", lambda p: Path(p).write_text(json.dumps(doc, indent=1) + "\n", encoding="utf-8"))
    _fsync_dir(staging)
    if previous.exists():
        shutil.rmtree(previous)
    if final.exists():
        os.replace(final, previous)
    os.replace(staging, final)
    _fsync_dir(run)
    shutil.rmtree(previous, ignore_errors=True)


def read_checkpoint(run: Path, model, opt, generator, state) -> dict | None:
    """Restore model, optimiser, RNG and loop state from ``run/checkpoint/``; return the best weights (or None)."""
    run = Path(run)
    ckpt = recover_checkpoint(run)
    if ckpt is None or not (ckpt / "state.json").is_file():
        raise CheckpointError(f"Cannot resume: '{run / CHECKPOINT_DIR}' holds no complete checkpoint "
                              f"(no epoch finished before the run stopped). Train without --resume.")
    try:
        meta = read_json(ckpt / "state.json")
    except (OSError, ValueError) as e:
        raise CheckpointError(f"Cannot resume: '{ckpt / 'state.json'}' is corrupt: {e}") from e
    files = meta.get("files") if isinstance(meta, dict) else None
    if not isinstance(files, dict):
        raise CheckpointError(f"Cannot resume: '{ckpt / 'state.json'}' is not a vaekit checkpoint state (no file digests).")
    load_state(model, ckpt / WEIGHTS_FILE, sha256=files.get(WEIGHTS_FILE))
    tensors = load_tensors(ckpt / "optimizer.safetensors", sha256=files.get("optimizer.safetensors"))
    try:
        generator.set_state(tensors.pop("rng_state"))
        _restore_optimizer(opt, tensors, meta["optimizer"])
        state.epoch = state.start_epoch = int(meta["epoch"])
        state.step = int(meta["step"])
        state.best_value = math.inf if meta["best_value"] is None else float(meta["best_value"])
        state.best_epoch = int(meta["best_epoch"])
        state.epochs_without_improvement = int(meta["epochs_without_improvement"])
        state.elapsed = float(meta.get("elapsed", 0.0))
        state.rows = list(meta["rows"])
    except (KeyError, ValueError, TypeError, RuntimeError, IndexError) as e:
        raise CheckpointError(f"Cannot resume: the checkpoint in '{ckpt}' is damaged or does not match the model "
                              f"({type(e).__name__}: {e}).") from e
    if "best.safetensors" in files:
        return load_tensors(ckpt / "best.safetensors", sha256=files["best.safetensors"])
    return None


def has_checkpoint(run: str | os.PathLike) -> bool:
    """Whether ``run`` holds a checkpoint (``checkpoint/state.json``; :func:`recover_checkpoint` settles a crash first)."""
    return (Path(run) / CHECKPOINT_DIR / "state.json").is_file()
