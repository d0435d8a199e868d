"""Run directories as users hold them: train one from a data source, load it back with its data, evaluate it.

A run records where its data came from (``DataSpec.name`` in the ``data`` section of ``config.json``:
a builtin name or an absolute path), so every later step can reload the same source, preprocessed
exactly as in training, without the user naming it again.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import numpy as np

from .. import io as vio
from .. import rundir
from ..callbacks import Callback
from .._validation import Interval, check_param, unknown_key_message
from ..config import ModelConfig, TrainConfig
from ..data import Dataset
from ..errors import ConfigError, DataError

__all__ = [
    "EVAL_FILE",
    "ConfigFile",
    "read_config_file",
    "resolve_source",
    "load_data",
    "load_run",
    "run_data",
    "evaluation_data",
    "split_of",
    "data_fingerprint",
    "train_run",
    "training_summary",
    "active_dimensions",
    "collapse_warning",
    "evaluate_run",
    "write_eval",
    "read_eval",
]

EVAL_FILE = "eval.json"

_MODEL_FIELDS = tuple(f for f in ModelConfig.__dataclass_fields__)
_TRAIN_FIELDS = tuple(f for f in TrainConfig.__dataclass_fields__)
# Keys of a run's config.json besides the model/train sections, accepted so that a run's own
# config.json can seed a new run (``vaekit train DATA --config runs/a/config.json``).
_RUN_DOC_KEYS = ("format_version", "vaekit_version", "torch_version", "class_name", "data", "weights_sha256", "features")


# ---------------------------------------------------------------------------------------------- data
def resolve_source(source: str | os.PathLike) -> str:
    """The name to record for a data source: builtin names as given, paths made absolute.

    An absolute path lets ``vaekit eval RUN`` find the data again from any working directory.

    Examples
    --------
    >>> resolve_source("mnist5k")
    'mnist5k'
    >>> os.path.isabs(resolve_source("."))
    True
    """
    from ..data.builtin import builtin_key

    text = os.fspath(source)
    if "/" not in text and os.sep not in text and builtin_key(text) is not None:
        return text
    path = Path(text).expanduser()
    # A path that does not exist stays as typed, so the loader's message names what the user wrote.
    return str(path.absolute()) if path.exists() else text


def _limit(data: Dataset, limit: int | None) -> Dataset:
    check_param("load_data", "limit", limit, Interval("int", 1, None, optional=True))
    if limit is None or limit >= len(data):
        return data
    part = data.subset(np.arange(limit))
    part.description = f"{data.description or data.name} (first {limit:,} used)"
    return part


def load_data(
    source: str | os.PathLike,
    *,
    split: str = "train",
    limit: int | None = None,
    data_spec=None,
    label_column: str | None = None,
    allow_missing: bool = False,
    labels: str = "model",
    table_options: Mapping[str, Any] | None = None,
) -> Dataset:
    """Load a data source (builtin name, folder or file) with :func:`vaekit.datasets.load`.

    Parameters
    ----------
    source : str or PathLike
    split : {"train", "test", "all"}
    limit : int or None
        Keep only the first ``limit`` examples (builtins come in a seeded shuffled order, so a
        prefix covers every class).
    data_spec : DataSpec or None
        Preprocess as the data a model was trained on.
    label_column : str or None
        Label column of a table.
    allow_missing : bool
        Keep missing table cells as NaN (models with ``missing="ignore"``).
    labels : {"model", "own", "none"}
        How labels meet ``data_spec``'s classes (see :func:`vaekit.datasets.load`).
    table_options : mapping or None
        ``schema`` and ``normalization`` of a table whose spec is fitted (see :func:`vaekit.datasets.load`).

    Returns
    -------
    Dataset
    """
    from ..data import load

    kwargs: dict[str, Any] = {"split": split, "data_spec": data_spec, **(table_options or {})}
    if label_column is not None:
        kwargs["label_column"] = label_column
    if allow_missing:
        kwargs["allow_missing"] = True
    if labels != "model":
        kwargs["labels"] = labels
    return _limit(load(resolve_source(source), **kwargs), limit)


def _has_test_split(source: str) -> bool:
    """Whether ``source`` has an official test split (builtins, IDX folders, .npz with ``x_test``)."""
    from ..data.builtin import builtin_key
    from ..data.mnist import is_idx_folder

    if "/" not in source and os.sep not in source and builtin_key(source) is not None:
        return True
    path = Path(source)
    if path.is_dir():
        return is_idx_folder(path)
    if path.is_file() and path.name.lower().endswith(".npz"):
        try:
            with np.load(path, allow_pickle=False) as npz:
                return "x_test" in npz.files
        except (ValueError, OSError, EOFError):
            return False  # the loader reports what is wrong with the file
    return False


def split_of(model, data: str | os.PathLike | None = None, *, split: str = "test") -> str:
    """The split :func:`run_data` reads for ``split``: ``"test"`` becomes ``"all"`` for a source without one.

    ``data`` None means the run's own source. Reports and ``eval.json`` use it to say whether examples
    are held out.
    """
    source = _source_of(model) if data is None else os.fspath(data)
    if split == "test" and not _has_test_split(resolve_source(source)):
        return "all"
    return split


#: Examples that :func:`data_fingerprint` hashes.
FINGERPRINT_EXAMPLES = 1000


def data_fingerprint(data: Dataset, n: int = FINGERPRINT_EXAMPLES) -> str:
    """SHA-256 of the first ``n`` preprocessed examples (float32 bytes and shape): which data a result is on."""
    import hashlib

    part = data.get(slice(0, min(n, len(data))))
    h = hashlib.sha256(repr(tuple(part.shape)).encode())
    h.update(np.ascontiguousarray(part.detach().cpu().numpy(), dtype=np.float32).tobytes())
    return h.hexdigest()


# ---------------------------------------------------------------------------------------------- runs
def load_run(run: str | os.PathLike, *, device: str | None = None):
    """Load a trained model from a run directory (see :func:`vaekit.load`), on ``device`` when given
    (``"auto"``: a GPU when there is one; see :func:`vaekit.training.resolve_device`).

    Raises
    ------
    CheckpointError
        ``run`` is not a run directory, or its files are corrupt.
    """
    from ..rundir import load

    model = load(run)
    if device is not None:
        from ..training import resolve_device

        model = model.to(resolve_device(device))
    return model


def _source_of(model) -> str:
    spec = model.data_spec
    if spec is None or not spec.name:
        raise DataError("This run does not record its data source; pass the data explicitly (--data DATA).")
    return spec.name


def run_data(model, data: str | os.PathLike | None = None, *, split: str = "train", limit: int | None = None,
             labels: str = "own") -> Dataset:
    """Data for a trained model, preprocessed exactly as its training data.

    Labels keep the data's own class names (``labels="own"``): a folder whose class sub-folders the model
    never saw still reconstructs, embeds and evaluates. A label-conditioned model needs its own classes,
    so for it labels are matched against them (``"model"``) whatever ``labels`` says.

    Parameters
    ----------
    model : VAE or Autoencoder
        A model with a ``data_spec`` (every model trained by :func:`vaekit.fit` has one).
    data : str, PathLike or None
        A data source; default the source the model was trained on.
    split : {"train", "test", "all"}
        Split of the source. ``"test"`` falls back to the whole source when it has no test split.
    limit : int or None
        Keep the first ``limit`` examples.
    """
    source = _source_of(model) if data is None else os.fspath(data)
    if split == "test" and not _has_test_split(resolve_source(source)):
        split = "train"
    return load_data(source, split=split, limit=limit, data_spec=model.data_spec, allow_missing=_ignores_missing(model),
                     labels=_labels_for(model, labels))


def _labels_for(model, labels: str) -> str:
    return "model" if getattr(model, "conditional", False) else labels


def _ignores_missing(model) -> bool:
    """Whether the model scores observed entries only (``missing="ignore"``), so its data may have gaps."""
    config = getattr(model, "config", None)
    return getattr(config, "missing", "none") == "ignore"


def evaluation_data(model, data: str | os.PathLike | None = None, *, limit: int | None = None) -> Dataset:
    """The data ``vaekit eval`` uses: ``data``'s test split when it has one (else all of ``data``),
    or by default the test split of the run's own data source.

    Raises
    ------
    DataError
        No ``data`` given and the run's source has no test split (evaluating on the training data
        would flatter the model), or the data does not fit the model.
    """
    if data is not None:
        return run_data(model, data, split="test", limit=limit)
    source = _source_of(model)
    if not _has_test_split(resolve_source(source)):
        raise DataError(
            f"The run was trained on '{source}', which has no test split; pass the "
            f"evaluation data with --data DATA (a file or folder preprocessed like the training data)."
        )
    return load_data(source, split="test", limit=limit, data_spec=model.data_spec,
                     allow_missing=_ignores_missing(model), labels=_labels_for(model, "own"))


# ---------------------------------------------------------------------------------------------- config files
@dataclass(frozen=True)
class ConfigFile:
    """Model and training fields read from a JSON or TOML file.

    Attributes
    ----------
    model : dict
        :class:`~vaekit.config.ModelConfig` fields.
    train : dict
        :class:`~vaekit.config.TrainConfig` fields.
    class_name : str or None
        ``"VAE"`` or ``"Autoencoder"`` when the file is a run's ``config.json``.
    """

    model: dict = field(default_factory=dict)
    train: dict = field(default_factory=dict)
    class_name: str | None = None


def _parse_file(path: Path) -> Any:
    if not path.is_file():
        raise DataError(f"Config file '{path}' does not exist; expected a .json or .toml file.")
    suffix = path.suffix.lower()
    text = path.read_text(encoding="utf-8")
    if suffix == ".json":
        try:
            return json.loads(text)
        except json.JSONDecodeError as e:
            raise ConfigError(f"Config file '{path}' is not valid JSON: {e.msg} at line {e.lineno}, column {e.colno}.") from e
    if suffix == ".toml":
        try:
            import tomllib
        except ModuleNotFoundError:  # Python 3.10
            try:
                import tomli as tomllib  # type: ignore[no-redef]
            except ModuleNotFoundError as e:
                raise ImportError("Reading TOML config files on Python 3.10 needs tomli: pip install tomli") from e
        try:
            return tomllib.loads(text)
        except tomllib.TOMLDecodeError as e:
            raise ConfigError(f"Config file '{path}' is not valid TOML: {e}") from e
    raise ConfigError(f"Config file '{path}' must end in .json or .toml. Got '{suffix or path.name}' instead.")


def read_config_file(path: str | os.PathLike) -> ConfigFile:
    """Read model and training fields from a JSON or TOML file.

    The file holds ``model`` and ``train`` sections, or flat keys (each routed to the config that
    has the field), or both. A run's ``config.json`` works too (its ``data`` section is ignored: the
    data comes from the command line). A flat ``model = "conv"`` means ``net``, as ``--model`` does.

    Raises
    ------
    ConfigError
        Unknown keys (naming the nearest valid one), a section that is not a table, bad syntax.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "c.toml"
    >>> _ = p.write_text('latent_dim = 8\\n[train]\\nepochs = 3\\n')
    >>> read_config_file(p)
    ConfigFile(model={'latent_dim': 8}, train={'epochs': 3}, class_name=None)
    """
    path = Path(path)
    doc = _parse_file(path)
    if not isinstance(doc, dict):
        raise ConfigError(f"Config file '{path}' must hold a table of keys; got a {type(doc).__name__}.")
    model: dict = {}
    train: dict = {}
    valid = set(_MODEL_FIELDS) | set(_TRAIN_FIELDS) | {"model", "train"}
    for key, value in doc.items():
        if key == "model" and isinstance(value, str):
            model["net"] = value
        elif key in ("model", "train"):
            if not isinstance(value, dict):
                raise ConfigError(f"The '{key}' section of config file '{path}' must be a table of keys. Got {value!r} instead.")
            fields, target = (_MODEL_FIELDS, model) if key == "model" else (_TRAIN_FIELDS, train)
            for k, v in value.items():
                if k not in fields:
                    raise ConfigError(unknown_key_message(k, fields, f"config file '{path}' ({key} section)"))
                target[k] = v
        elif key in _RUN_DOC_KEYS and "class_name" in doc:
            continue
        elif key in _MODEL_FIELDS:
            model[key] = value
        elif key in _TRAIN_FIELDS:
            train[key] = value
        else:
            raise ConfigError(unknown_key_message(key, valid, f"config file '{path}'"))
    if "class_name" in doc:
        # A run's config.json: its data_shape came from its data; the new data decides.
        model.pop("data_shape", None)
    class_name = doc.get("class_name")
    if class_name is not None and class_name not in ("VAE", "Autoencoder"):
        raise ConfigError(f"The 'class_name' of config file '{path}' must be 'VAE' or 'Autoencoder'. Got {class_name!r} instead.")
    return ConfigFile(model=model, train=train, class_name=class_name)


# ---------------------------------------------------------------------------------------------- training
#: the epoch cap of a run given a time budget (max_time) and no epoch count: the budget ends it first
BUDGET_EPOCHS = 100_000


def train_run(
    source: str | os.PathLike,
    out: str | os.PathLike,
    *,
    model_options: Mapping[str, Any] | None = None,
    train_options: Mapping[str, Any] | None = None,
    config_file: str | os.PathLike | None = None,
    autoencoder: bool | None = None,
    resume: bool = False,
    overwrite: bool = False,
    limit: int | None = None,
    label_column: str | None = None,
    callbacks: Sequence = (),
    labels: str | os.PathLike | None = None,
    label_fraction: float | None = None,
    labelled_per_class: int | None = None,
    label_seed: int = 0,
    stack_on: str | os.PathLike | None = None,
    device: str | None = None,
    schema: Mapping[str, str] | None = None,
    preset: str = "default",
    kind: str | None = None,
    text_column: str | None = None,
    m1: str = "auto",
):
    """Train a model on a data source into the run directory ``out``.

    Precedence: the presets for the data (:func:`vaekit.model.default_config` and
    :func:`vaekit.training.default_train_config`: e.g. images train at learning rate 3e-3 with a cosine
    schedule, grey ones dynamically binarised), then ``config_file``, then ``model_options`` /
    ``train_options`` (the command-line flags).

    Parameters
    ----------
    source : str or PathLike
        Builtin name, folder, or ``.npz``/``.npy``/``.csv``/``.parquet`` file.
    out : str or PathLike
        Run directory to write (refused when non-empty unless ``overwrite`` or ``resume``).
    model_options, train_options : mapping
        :class:`~vaekit.config.ModelConfig` and :class:`~vaekit.config.TrainConfig` fields.
    config_file : path or None
        JSON or TOML file with the same fields (see :func:`read_config_file`).
    autoencoder : bool or None
        Train the deterministic :class:`~vaekit.Autoencoder`; None takes the file's ``class_name``
        (default a VAE).
    resume : bool
        Continue the run in ``out`` from its checkpoint: its model config is reused, training fields
        may be changed (for example more ``epochs``).
    overwrite : bool
    limit : int or None
        Train on the first ``limit`` examples only.
    label_column : str or None
        Label column of a table (kept for plots; not a feature).
    callbacks : sequence of Callback
        Passed to :func:`vaekit.fit` (progress bars).
    labels : path or None
        Label file replacing the data's labels (see
        :func:`~vaekit.data.labels.read_label_file`; -1 or empty = unlabelled).
    label_fraction, labelled_per_class : float or int or None
        Keep this fraction of the labels, or this many per class (seeded by ``label_seed``), and hide
        the rest: the semi-supervised setting (Kingma et al. 2014). Applied after ``limit``.
    label_seed : int
    stack_on : path or None
        A run holding a trained, unconditioned VAE: train M1+M2 (:class:`~vaekit.model.StackedVAE`), a
        semi-supervised model over its latent codes (implies ``conditioning="semi_supervised"``;
        ``model_options`` configure the new M2). The data is preprocessed as that run's data.

    schema : mapping or None
        Column types of a table overriding the inferred ones (``{"zip": "categorical"}``); recorded in the
        run's ``config.json`` (``data`` section). A table is encoded with the preset's normalisation
        (``TableKind.normalization``) and its missing cells are masked unless ``missing="none"`` is given.

    m1 : {"auto", "none"}
        What a semi-supervised model of grey images (``conditioning="semi_supervised"``, no ``stack_on``)
        is built on. ``"auto"``: M1+M2, as measured best on MNIST with 100 labels (bench/RESULTS.md:
        3.90% test error against 24.6% for M2 on the pixels after 10 epochs): an unsupervised M1 VAE (the data's preset
        with ``latent_dim`` :data:`M1_LATENT_DIM`, trained on every example, labels unused) is trained
        first, then M2 over its posterior means; ``model_options`` configure M2, ``epochs`` applies to each
        of the two and a time budget is split evenly between them. ``"none"``: M2 on the pixels. Other data always trains M2 on the data.
    preset : str
        The recipe of the data's kind to start from (``"default"``; grey images also ``"fast"`` and
        ``"best"``): its model half goes to ``VAE.for_data``, its training half to ``default_train_config``.

    A model with ``conditioning`` (in ``model_options`` or the config file) gets ``num_classes`` from
    the data's labels when not given. The label choice is recorded in ``RUN/labels.json`` so that
    ``resume`` reuses it when no label option is given again.

    Returns
    -------
    run : Run
        ``run.model`` trained, holding its best weights; ``run.history`` has the per-epoch metrics.
    data : Dataset
        The training data (with ``y`` -1 where a label is unknown).
    """
    from ..model import VAE, Autoencoder, StackedVAE
    from ..training import fit
    from . import semisupervised as semi

    if m1 not in ("auto", "none"):
        raise ConfigError(f"The 'm1' parameter of train_run must be 'auto' or 'none'. Got {m1!r} instead.")
    model_options = {k: v for k, v in (model_options or {}).items() if v is not None}
    train_options = {k: v for k, v in (train_options or {}).items() if v is not None}
    file = read_config_file(config_file) if config_file is not None else ConfigFile()
    choice = {"labels": None if labels is None else os.fspath(labels), "label_fraction": label_fraction,
              "labelled_per_class": labelled_per_class, "label_seed": label_seed}
    if resume:
        if preset != "default":
            model_options = {**model_options, "preset": preset}
        if model_options or file.model or autoencoder is not None or stack_on is not None:
            given = sorted(set(model_options) | set(file.model)) + (["autoencoder"] if autoencoder is not None else [])
            given += ["stack_on"] if stack_on is not None else []
            raise ConfigError(
                f"--resume continues the run in '{out}' with its saved model, so model options cannot change; "
                f"drop {', '.join(given)} (training options such as --epochs may change)."
            )
        doc = rundir.read_config(out)
        model, _ = rundir.build_from_config(doc, str(Path(out) / rundir.CONFIG_FILE))
        base = dict(doc.get("train") or {})
        train_cfg = TrainConfig.from_dict({**base, **file.train, **train_options}, where="the training options")
        if labels is None and label_fraction is None and labelled_per_class is None:
            choice = semi.read_label_record(out) or choice  # the labels the run was started with
        data = _labelled_data(source, model.data_spec, limit, label_column, choice, _ignores_missing(model))
    else:
        conditioning = model_options.get("conditioning", file.model.get("conditioning", "none"))
        _check_label_options(conditioning, autoencoder, choice, stack_on)
        if stack_on is not None:
            features = load_run(stack_on)
            data = _labelled_data(source, features.data_spec, limit, label_column, choice)
            if preset != "default":
                raise ConfigError(f"--preset {preset} is a recipe for a model of the data; with --stack-on the "
                                  f"model is an M2 over the codes of '{stack_on}'. Drop --preset.")
            model = _stacked(features, data, stack_on, {**file.model, **model_options})
        else:
            given = {**file.model, **model_options}.get("missing")
            table = is_table_source(source) and kind != "text"
            # a table trains as it is: missing cells are masked (the preset's missing="ignore") unless refused
            missing = given == "ignore" or (given is None and table)
            table_options = None
            if table:
                from ..data.kinds import TableKind

                table_options = {"normalization": TableKind.normalization, "schema": schema}
            elif schema is not None:
                raise ConfigError(f"A schema (--schema) gives the column types of a table; '{source}' is not a "
                                  f".csv or .parquet table.")
            if kind is not None or text_column is not None:  # sentences (vaekit.data.text)
                table_options = {"kind": "text", "text_column": text_column}
            data = _labelled_data(source, None, limit, label_column, choice, missing, table_options)
            is_ae = autoencoder if autoencoder is not None else file.class_name == "Autoencoder"
            cls = Autoencoder if is_ae else VAE
            options = {**file.model, **model_options}
            if conditioning != "none" and "num_classes" not in options:
                options["num_classes"] = semi.num_classes_of(data)
            if _stacks_by_default(conditioning, m1, data):
                budget = train_options.get("max_time")
                if budget is not None:  # half the budget for each of M1 and M2
                    train_options = {**train_options, "max_time": budget / 2}
                features = _train_m1(data, preset, train_options, callbacks, device)
                model = _stacked(features, data, "the M1 trained first", options)
            else:
                model = cls.for_data(data, preset=preset, **options)
        # the documented preset for the data (vaekit.training.default_train_config), then the file, then flags
        from ..training import default_train_config

        given = {**file.train, **train_options}
        recipe = default_train_config(data.spec, preset=preset, max_time=given.get("max_time")).to_dict()
        if isinstance(model, StackedVAE):  # M2 over M1's codes: its own measured recipe
            recipe = TrainConfig(**semi.STACK_RECIPE).to_dict()
        train_cfg = TrainConfig.from_dict({**_budgeted(recipe, given), **given}, where="the training options")
    callbacks = list(callbacks)
    if getattr(model, "conditional", False) or any(choice[k] is not None for k in ("labels", "label_fraction",
                                                                                  "labelled_per_class")):
        # the label file by absolute path, so that --resume finds it from any working directory
        where = None if choice["labels"] is None else str(Path(choice["labels"]).absolute())
        record = {**choice, "labels": where, "n_labelled": data.n_labelled, "n": len(data)}
        # written when training begins (the run directory exists then), so a run killed mid-training
        # resumes with the labels it started with; fit calls callbacks on rank 0 only
        callbacks.append(_LabelRecord(out, record))
    run = fit(model, data, train_cfg, out=out, resume=resume, overwrite=overwrite, callbacks=callbacks,
              progress=False, device=device)
    return run, data


class _LabelRecord(Callback):
    """Writes ``RUN/labels.json`` (which labels a semi-supervised run trains on) as training begins."""

    def __init__(self, out, record: dict):
        self.out, self.record = out, record

    def on_train_begin(self, state) -> None:
        from . import semisupervised as semi

        semi.write_label_record(self.out, self.record)


#: latent dimension of the M1 that ``train_run(m1="auto")`` trains under a semi-supervised M2 (as measured:
#: bench/semisupervised.py, M1 = the grey-image preset with latent 50)
M1_LATENT_DIM = 50


def _stacks_by_default(conditioning: str, m1: str, data: Dataset) -> bool:
    """Whether a semi-supervised model of ``data`` is M1+M2 by default: grey images, where it measured best."""
    spec = data.spec
    return (conditioning == "semi_supervised" and m1 == "auto" and spec.kind == "image"
            and len(spec.shape) == 3 and spec.shape[0] == 1)


def _budgeted(recipe: dict, given: Mapping[str, Any]) -> dict:
    """``recipe`` for the options ``given``: a time budget (``max_time``) without an epoch count makes the
    budget alone set the length of training."""
    if given.get("max_time") is not None and "epochs" not in given:
        return {**recipe, "epochs": BUDGET_EPOCHS}
    return recipe


def _train_m1(data: Dataset, preset: str, train_options: Mapping[str, Any], callbacks, device):
    """The unsupervised M1 of an M1+M2: the data's preset (latent :data:`M1_LATENT_DIM`) on every example,
    labels unused, with the preset's training recipe and the run's epochs, seed, budget and precision."""
    from ..model import VAE
    from ..training import default_train_config, fit
    from ._estimator import ESTIMATOR_PRIOR

    unlabelled = Dataset(data.x, None, data.spec)
    model = VAE.for_data(unlabelled, preset=preset, latent_dim=M1_LATENT_DIM, prior=ESTIMATOR_PRIOR)
    shared = {k: train_options[k] for k in ("epochs", "seed", "max_time", "precision", "compile") if k in train_options}
    recipe = default_train_config(data.spec, preset=preset, max_time=shared.get("max_time")).to_dict()
    cfg = TrainConfig.from_dict({**_budgeted(recipe, shared), **shared}, where="the M1 training options")
    return fit(model, unlabelled, cfg, callbacks=list(callbacks), progress=False, device=device).model


def _check_label_options(conditioning: str, autoencoder: bool | None, choice: Mapping[str, Any], stack_on) -> None:
    """Flags that cannot go together, each named as on the command line."""
    hides = "label_fraction (--label-fraction)" if choice["label_fraction"] is not None else (
        "labelled_per_class (--labelled-per-class)" if choice["labelled_per_class"] is not None else None)
    if stack_on is not None and conditioning == "conditional":
        raise ConfigError("stack_on (--stack-on) trains a semi-supervised M2 over another run's codes; it cannot be "
                          "combined with conditioning='conditional' (--conditional).")
    if conditioning != "none" and autoencoder:
        raise ConfigError(f"An autoencoder (--autoencoder) cannot be conditioned on labels "
                          f"(conditioning={conditioning!r}); drop one of them.")
    if hides is not None and conditioning == "conditional":
        raise ConfigError(f"A conditional VAE (--conditional) needs the label of every example, so {hides} cannot "
                          f"hide labels; use --semi-supervised to train on partly labelled data.")
    if hides is not None and conditioning == "none" and stack_on is None:
        raise ConfigError(f"{hides} hides labels for semi-supervised training; add --semi-supervised (or "
                          f"conditioning='semi_supervised').")


def is_table_source(source) -> bool:
    """Whether ``source`` names a table file (``.csv``, ``.tsv``, ``.parquet``)."""
    from ..data.tables import TABLE_SUFFIXES

    return isinstance(source, (str, os.PathLike)) and os.fspath(source).lower().endswith(TABLE_SUFFIXES)


def _labelled_data(source, data_spec, limit: int | None, label_column: str | None,
                   choice: Mapping[str, Any], allow_missing: bool = False,
                   table_options: Mapping[str, Any] | None = None) -> Dataset:
    """The training data with the user's labels: the label file matches the whole source; hiding
    labels comes after ``limit``, so the kept labels are among the examples trained on."""
    from . import semisupervised as semi

    data = load_data(source, data_spec=data_spec, label_column=label_column, allow_missing=allow_missing,
                     table_options=table_options)
    if choice["labels"] is not None:
        data = semi.apply_labels(data, labels=choice["labels"])
    data = _limit(data, limit)
    if choice["label_fraction"] is not None or choice["labelled_per_class"] is not None:
        data = semi.apply_labels(data, label_fraction=choice["label_fraction"],
                                 labelled_per_class=choice["labelled_per_class"], seed=int(choice["label_seed"] or 0))
    return data


def _stacked(features, data: Dataset, stack_on, options: Mapping[str, Any]):
    """M1+M2 over the trained VAE in run ``stack_on``; ``options`` configure M2."""
    from ..model import VAE, StackedVAE
    from . import semisupervised as semi

    if type(features) is not VAE or features.conditional:
        raise ConfigError(f"--stack-on needs a run holding an unconditioned VAE (the features model M1); "
                          f"'{stack_on}' holds a {type(features).__name__}"
                          f"{' conditioned on labels' if getattr(features, 'conditional', False) else ''}.")
    m2 = {k: v for k, v in options.items() if k not in ("conditioning", "data_shape")}
    m2.setdefault("num_classes", semi.num_classes_of(data))
    return StackedVAE.on(features, **m2)


def _values_reading(spec) -> str:
    """How the model reads the data's values (the guess a loader made, stated): binary, 8-bit, real."""
    if spec.kind == "table":
        return "table (standardised numbers, one-hot categories)"
    if spec.levels == 2:
        return "binary (0/1)"
    if spec.levels is not None:
        return f"{spec.levels} levels" + (" (8-bit)" if spec.levels == 256 else "")
    return "real-valued" if spec.kind != "image" else "real-valued in [0, 1]"


def training_summary(run, data: Dataset) -> dict[str, Any]:
    """What a finished training run (a :class:`~vaekit.rundir.Run`) did, for a short summary (labels -> values)."""
    model, history = run.model, run.history
    last = history.rows[-1] if history.rows else {}
    best = next((r for r in history.rows if r["epoch"] == history.best_epoch), last)
    stopped = "" if history.stop_reason == "epochs" else f" (stopped: {history.stop_reason.replace('_', ' ')})"
    summary: dict[str, Any] = {
        "model": f"{type(model).__name__} ({model.config.net}, latent_dim {model.latent_dim}, {model.config.likelihood})",
        "data": data.description or data.name,
        "values": _values_reading(data.spec),
    }
    if getattr(model, "conditional", False):
        kind = "M1+M2" if getattr(model, "features", None) is not None else model.config.conditioning.replace("_", "-")
        summary["conditioning"] = f"{kind}, {model.num_classes} classes"
    if data.y is not None and (getattr(model, "conditional", False) or data.n_labelled < len(data)):
        summary["labelled / unlabelled"] = f"{data.n_labelled:,} / {len(data) - data.n_labelled:,}"
    summary |= {
        "epochs": f"{len(history)}{stopped}",
        "best epoch": history.best_epoch,
    }
    for key in ("val_loss", "train_loss"):
        if best.get(key) is not None:
            summary[f"{key.replace('_', ' ')} (best epoch)"] = best[key]
            break
    summary["training time (s)"] = round(sum(r.get("seconds") or 0.0 for r in history.rows), 1)
    active = active_dimensions(model, data)
    if active is not None:
        summary["active latent dimensions"] = f"{active} of {model.latent_dim}"
    return summary


#: Variance over the data of a posterior mean above which a latent dimension is active (Burda et al. 2016).
ACTIVE_VARIANCE = 0.01


def active_dimensions(model, data: Dataset, limit: int = 1000) -> int | None:
    """How many latent dimensions a VAE uses on (the first ``limit`` examples of) ``data``; None for
    models without a posterior over z given x alone (autoencoders, label-conditioned models)."""
    if not getattr(model, "has_density", False) or getattr(model, "conditional", False) or len(data) < 2:
        return None
    from .generate import latent_activity

    return int((latent_activity(model, data, limit=limit) > ACTIVE_VARIANCE).sum())


def collapse_warning(model, summary: Mapping[str, Any]) -> str | None:
    """A hint when the posterior has collapsed (at most 1 in 8 latent dimensions active): reconstructions
    and samples then look like the data's average (grey images, lost colour)."""
    text = summary.get("active latent dimensions")
    if not text:
        return None
    active = int(str(text).split()[0])
    if active > model.latent_dim // 8:
        return None
    return (f"Only {active} of {model.latent_dim} latent dimensions are in use (posterior collapse), so "
            f"reconstructions will look like the data's average. Train longer (--epochs), or weaken the KL term: "
            f"--beta 0.1, --free-bits 0.5 or --kl-warmup 10.")


# ---------------------------------------------------------------------------------------------- evaluation
def evaluate_run(
    model,
    data: Dataset,
    *,
    k: int = 1000,
    batch_size: int = 256,
    seed: int = 0,
    progress: Callable[[int, int], None] | None = None,
    split: str = "all",
) -> dict[str, Any]:
    """Evaluate a model on ``data`` (see :func:`vaekit.evaluate`) and describe what was evaluated.

    ``split`` names the part of the source ``data`` is (``"test"``, ``"train"`` or ``"all"``; see
    :func:`split_of`).

    Returns
    -------
    dict
        The metrics (``neg_elbo``, ``reconstruction_nll``, ``kl``, ``nll``, ``bits_per_dim``,
        ``active_units``, ``n``, ``k``; an autoencoder has ``reconstruction_nll`` and ``n`` only) plus
        ``class_name``, ``data`` (the data's name), ``split``, ``fingerprint`` (:func:`data_fingerprint`)
        and ``seed``.

    Raises
    ------
    DataError
        A metric is not a finite number (nothing is reported as NaN or null).
    """
    from ..evaluation import evaluate

    check_param("evaluate_run", "k", k, Interval("int", 0, None))
    metrics = evaluate(model, data, k=k, batch_size=batch_size, seed=seed, progress=progress)
    out: dict[str, Any] = {"class_name": type(model).__name__, "data": data.name, "split": split,
                           "fingerprint": data_fingerprint(data), "seed": seed}
    bad = [key for key, value in metrics.items() if isinstance(value, float) and not math.isfinite(value)]
    if bad:  # never an eval.json of nulls, and never exit 0 with them
        raise DataError(f"Evaluating on data '{data.name}' gave results that are not finite ({', '.join(bad)}): the "
                        f"model's output overflows for some inputs (values far outside its training data, or damaged "
                        f"weights). Nothing was written.")
    out.update(metrics)
    return out


def write_eval(run: str | os.PathLike, result: Mapping[str, Any]) -> Path:
    """Write ``result`` to ``RUN/eval.json`` atomically; return the path."""
    path = Path(run) / EVAL_FILE
    vio.write_json(path, dict(result))
    return path


def read_eval(run: str | os.PathLike) -> dict | None:
    """``RUN/eval.json`` if it exists and is readable, else None."""
    path = Path(run) / EVAL_FILE
    if not path.is_file():
        return None
    try:
        doc = vio.read_json(path)
    except (json.JSONDecodeError, UnicodeDecodeError, OSError):
        return None
    return doc if isinstance(doc, dict) else None


def metric_rows(result: Mapping[str, Any], latent_dim: int | None = None) -> dict[str, Any]:
    """Human labels for an evaluation result, in reading order (for tables and the console).

    Examples
    --------
    >>> metric_rows({"neg_elbo": 101.0, "reconstruction_nll": 80.0, "kl": 21.0, "n": 500})
    {'negative ELBO (nats)': 101.0, 'reconstruction NLL (nats)': 80.0, 'KL (nats)': 21.0, 'examples': 500}
    """
    labels = {
        "neg_elbo": "negative ELBO (nats)",
        "reconstruction_nll": "reconstruction NLL (nats)",
        "kl": "KL (nats)",
        "nll": f"NLL estimate, IWAE k={result.get('k')} (nats)",
        "bits_per_dim": "bits/dim",
        "active_units": "active units" + (f" (of {latent_dim})" if latent_dim else ""),
        "n": "examples",
    }
    return {label: result[key] for key, label in labels.items() if result.get(key) is not None}
