"""One training loop for every model: it knows only ``model.objective(batch).loss``.

The loop reads top to bottom: schedule -> forward -> objective -> backward -> clip -> step -> log.
Schedules are pure functions of (epoch, step).
"""

from __future__ import annotations

import csv
import io
import logging
import math
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Sequence

import torch

from . import io as vio
from .callbacks import Callback, TrainingState
from .config import TrainConfig
from .data import Dataset
from .errors import CheckpointError, DataError, TrainingError

__all__ = ["fit", "History", "Callback", "kl_weight_at", "lr_at", "evaluate_objective", "default_train_config"]

logger = logging.getLogger(__name__)


# ------------------------------------------------------------------------------------------ schedules
def kl_weight_at(epoch: int, step: int, *, beta: float, warmup: int, unit: str, steps_per_epoch: int) -> float:
    """KL weight: linear warm-up from 0 to ``beta`` over ``warmup`` epochs or steps (Bowman et al. 2016).

    ``epoch`` is 0-based; with unit "epochs" the weight grows smoothly within epochs too.

    Examples
    --------
    >>> kl_weight_at(0, 0, beta=1.0, warmup=0, unit="epochs", steps_per_epoch=10)
    1.0
    >>> kl_weight_at(0, 5, beta=1.0, warmup=10, unit="steps", steps_per_epoch=10)
    0.5
    """
    if warmup <= 0:
        return beta
    progress = step / warmup if unit == "steps" else step / (warmup * steps_per_epoch)
    return beta * min(1.0, progress)


def lr_at(
    step: int, *, lr: float, schedule: str, warmup_steps: int, total_steps: int, time_fraction: float | None = None
) -> float:
    """Learning rate at ``step``: linear warm-up, then constant or cosine decay to 0 at ``total_steps``.

    With a wall-clock budget (``time_fraction`` = elapsed / ``max_time``), the cosine runs on whichever of
    step progress and time progress is further along, so a time-limited run still anneals to 0 when
    its time is up instead of stopping at a high learning rate.

    Examples
    --------
    >>> lr_at(0, lr=1e-3, schedule="constant", warmup_steps=0, total_steps=100)
    0.001
    >>> round(lr_at(50, lr=1e-3, schedule="cosine", warmup_steps=0, total_steps=100), 6)
    0.0005
    >>> round(lr_at(10, lr=1e-3, schedule="cosine", warmup_steps=0, total_steps=100, time_fraction=0.5), 6)
    0.0005
    """
    if warmup_steps > 0 and step < warmup_steps:
        return lr * (step + 1) / warmup_steps
    if schedule == "cosine":
        t = (step - warmup_steps) / max(1, total_steps - warmup_steps)
        if time_fraction is not None:
            t = max(t, time_fraction)
        return lr * 0.5 * (1 + math.cos(math.pi * min(1.0, t)))
    return lr


# ------------------------------------------------------------------------------------------ presets
def default_train_config(spec, **overrides: Any) -> TrainConfig:
    """The documented training preset for data described by ``spec`` (a DataSpec); ``overrides`` win.

    * every kind: AdamW, batch 128, cosine learning-rate decay (over ``epochs``, or over ``max_time``
      when a wall-clock budget is given), 10% validation split, early stopping after 10 flat epochs;
    * grey-level images (the Bernoulli preset of :func:`vaekit.model.default_config`): learning rate
      3e-3 and dynamic binarisation, so the Bernoulli likelihood is an honest probability of binary
      images (measured on MNIST in ``bench/mnist_nll.py``; see ``bench/RESULTS.md``);
    * everything else: learning rate 1e-3, no binarisation.

    Examples
    --------
    >>> from vaekit.config import DataSpec
    >>> default_train_config(DataSpec(kind="image", shape=(1, 28, 28), levels=256)).binarize
    'dynamic'
    >>> default_train_config(DataSpec(kind="table", shape=(5,)), epochs=3).lr
    0.001
    """
    base: dict[str, Any] = dict(lr_schedule="cosine", batch_size=128)
    if spec.kind == "image" and spec.shape[0] == 1:
        base.update(lr=3e-3, binarize="dynamic")
    else:
        base.update(lr=1e-3)
    base.update(overrides)
    return TrainConfig(**base)


# ------------------------------------------------------------------------------------------ history
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


METRIC_COLUMNS = (
    "epoch", "step", "lr", "kl_weight",
    "train_loss", "train_reconstruction_nll", "train_kl",
    "val_loss", "val_reconstruction_nll", "val_kl", "seconds",
)


def _metrics_csv(rows: Sequence[dict]) -> str:
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=METRIC_COLUMNS, extrasaction="ignore", lineterminator="\n")
    w.writeheader()
    for r in rows:
        w.writerow({k: ("" if r.get(k) is None else r.get(k)) for k in METRIC_COLUMNS})
    return buf.getvalue()


def read_metrics(path: str | Path) -> list[dict]:
    """Read a run's ``metrics.csv`` back into rows of floats (ints for epoch/step)."""
    rows = []
    with open(path, newline="", encoding="utf-8") as f:
        for r in csv.DictReader(f):
            rows.append({k: (None if v == "" else (int(v) if k in ("epoch", "step") else float(v))) for k, v in r.items()})
    return rows


# ------------------------------------------------------------------------------------------ evaluation
@torch.inference_mode()
def evaluate_objective(
    model, data: Dataset, *, batch_size: int = 512, generator: torch.Generator | None = None, kl_weight: float | None = None
) -> dict[str, float]:
    """Mean loss, reconstruction NLL and KL of ``model.objective`` over ``data`` (eval mode, no gradients)."""
    was_training = model.training
    model.eval()
    sums = torch.zeros(3, dtype=torch.float64)
    n = 0
    labelled = _uses_labels(model)
    for batch in data.batches(batch_size, labels=labelled):
        xb, yb = batch if labelled else (batch, None)
        obj = _objective(model, xb.to(model.device), yb, kl_weight=kl_weight, generator=generator)
        b = xb.shape[0]
        sums += torch.stack([obj.loss.double() * b, obj.reconstruction_nll.double().sum(), obj.kl.double().sum()]).cpu()
        n += b
    model.train(was_training)
    loss, rec, kl = (sums / max(n, 1)).tolist()
    return {"loss": loss, "reconstruction_nll": rec, "kl": kl}


# ------------------------------------------------------------------------------------------ labels
def _uses_labels(model) -> bool:
    """Whether ``model.objective`` takes labels (a CVAE or a semi-supervised model)."""
    return bool(getattr(model, "conditional", False))


def _objective(model, xb, yb, **kwargs):
    """``model.objective`` on a batch, with its labels for a label-conditioned model."""
    if yb is None:
        return model.objective(xb, **kwargs)
    return model.objective(xb, y=yb.to(xb.device), **kwargs)


def _check_labels(model, data: Dataset) -> None:
    """A conditioned model needs labels: all of them (CVAE) or some of every class (semi-supervised)."""
    if not _uses_labels(model):
        return
    what = "semi-supervised" if model.has_classifier else "conditional"
    if data.y is None:
        raise DataError(f"A {what} model trains on labels, but dataset '{data.name}' has none. Give labels "
                        f"(--labels FILE, a labelled folder or table) or train an unconditioned model.")
    known = data.y[data.y >= 0]
    if len(known) and int(known.max()) >= model.num_classes:
        raise DataError(f"Dataset '{data.name}' has label {int(known.max())}, but the model has "
                        f"{model.num_classes} classes (0..{model.num_classes - 1}).")
    if not model.has_classifier and len(known) < len(data):
        raise DataError(f"A conditional VAE (CVAE) needs the label of every example; {len(data) - len(known):,} of "
                        f"{len(data):,} examples of dataset '{data.name}' are unlabelled. Train with "
                        f"conditioning='semi_supervised' (--semi-supervised) to use unlabelled examples.")
    if model.has_classifier and len(known) == 0:
        raise DataError(f"Semi-supervised training needs some labelled examples; dataset '{data.name}' has none.")


def _split(data: Dataset, fraction: float, seed: int, keep_labelled: bool) -> tuple[Dataset, Dataset]:
    """The seeded validation split; with ``keep_labelled`` the held-out part is drawn from unlabelled
    examples only, so a handful of labels is never spent on validation."""
    if not keep_labelled or data.y is None or data.n_labelled == len(data):
        return data.split(fraction, seed=seed)
    unl = torch.nonzero(data.y < 0)[:, 0]
    n_out = int(round(fraction * len(unl)))
    if n_out == 0:
        raise DataError(f"Cannot hold out {fraction:.0%} of the {len(unl)} unlabelled examples of '{data.name}'.")
    perm = unl[torch.randperm(len(unl), generator=torch.Generator().manual_seed(seed))]
    held = perm[:n_out].sort().values
    rest = torch.ones(len(data), dtype=torch.bool)
    rest[held] = False
    return data.subset(torch.nonzero(rest)[:, 0]), data.subset(held)


def _train_batches(model, train: Dataset, batch_size: int, generator: torch.Generator):
    """One epoch of (x, y) batches (y None for an unconditioned model).

    Semi-supervised: every batch of ``batch_size`` shuffled examples (mostly unlabelled) gets up to
    ``batch_size`` labelled examples appended, cycled in reshuffled order, so a few labels take part
    in every step however rare they are (as in Kingma et al. 2014's implementation).
    """
    if not _uses_labels(model):
        for xb in train.batches(batch_size, shuffle=True, generator=generator):
            yield xb, None
        return
    semi = model.has_classifier and train.n_labelled < len(train)
    labelled_idx = torch.nonzero(train.y >= 0)[:, 0] if semi else None
    per_batch = 0 if labelled_idx is None else min(len(labelled_idx), batch_size)
    queue: list[torch.Tensor] = []
    for xb, yb in train.batches(batch_size, shuffle=True, generator=generator, labels=True):
        if per_batch:
            while sum(len(q) for q in queue) < per_batch:
                queue.append(labelled_idx[torch.randperm(len(labelled_idx), generator=generator)])
            flat = torch.cat(queue)
            take, rest = flat[:per_batch], flat[per_batch:]
            queue = [rest] if len(rest) else []
            xb = torch.cat([xb, train.get(take)])
            yb = torch.cat([yb, train.y[take]])
        yield xb, yb


# ------------------------------------------------------------------------------------------ checkpoints
def _optimizer_tensors(opt: torch.optim.Optimizer) -> tuple[dict, dict]:
    """Flatten an optimiser state_dict into safetensors-ready tensors + JSON metadata (no pickle)."""
    sd = opt.state_dict()
    tensors, scalars = {}, {}
    for idx, st in sd["state"].items():
        for name, v in st.items():
            if isinstance(v, torch.Tensor):
                tensors[f"state.{idx}.{name}"] = v.detach().contiguous().cpu()
            else:
                scalars[f"{idx}.{name}"] = v
    return tensors, {"param_groups": sd["param_groups"], "scalars": scalars}


def _restore_optimizer(opt: torch.optim.Optimizer, tensors: dict, meta: dict) -> None:
    state: dict[int, dict] = {}
    for key, v in tensors.items():
        if key.startswith("state."):
            _, idx, name = key.split(".", 2)
            state.setdefault(int(idx), {})[name] = v
    for key, v in meta.get("scalars", {}).items():
        idx, name = key.split(".", 1)
        state.setdefault(int(idx), {})[name] = v
    opt.load_state_dict({"state": state, "param_groups": meta["param_groups"]})


def _write_checkpoint(run: Path, model, opt, generator: torch.Generator, state: TrainingState, best_state) -> None:
    from safetensors.torch import save_file

    ckpt = run / vio.CHECKPOINT_DIR
    ckpt.mkdir(exist_ok=True)
    opt_tensors, opt_meta = _optimizer_tensors(opt)
    opt_tensors["rng_state"] = generator.get_state()
    vio.save_weights(model, ckpt / vio.WEIGHTS_FILE)
    vio.atomic_save(ckpt / "optimizer.safetensors", lambda tmp: save_file(opt_tensors, tmp))
    if best_state is not None:
        vio.atomic_save(ckpt / "best.safetensors", lambda tmp: save_file(best_state, tmp))
    # state.json last: it is the marker that the files above belong together.
    vio.write_json(ckpt / "state.json", {
        "epoch": state.epoch, "step": state.step, "best_value": state.best_value if math.isfinite(state.best_value) else None,
        "best_epoch": state.best_epoch, "epochs_without_improvement": state.epochs_without_improvement,
        "elapsed": state.elapsed, "optimizer": opt_meta, "rows": state.rows,
    })


def _read_checkpoint(run: Path, model, opt, generator: torch.Generator, state: TrainingState) -> dict | None:
    ckpt = run / vio.CHECKPOINT_DIR
    if not (ckpt / "state.json").is_file():
        raise CheckpointError(f"Cannot resume: '{ckpt}' has no state.json. Train without --resume first.")
    try:
        meta = vio.read_json(ckpt / "state.json")
    except Exception as e:
        raise CheckpointError(f"Cannot resume: '{ckpt / 'state.json'}' is corrupt: {e}") from e
    vio.load_state(model, ckpt / vio.WEIGHTS_FILE)
    tensors = vio.load_tensors(ckpt / "optimizer.safetensors")
    generator.set_state(tensors.pop("rng_state"))
    try:
        _restore_optimizer(opt, tensors, meta["optimizer"])
    except (KeyError, ValueError) as e:
        raise CheckpointError(f"Cannot resume: optimiser state in '{ckpt}' does not match the model: {e}") from e
    state.epoch = state.start_epoch = meta["epoch"]
    state.step = meta["step"]
    state.best_value = math.inf if meta["best_value"] is None else meta["best_value"]
    state.best_epoch = meta["best_epoch"]
    state.epochs_without_improvement = meta["epochs_without_improvement"]
    state.elapsed = float(meta.get("elapsed", 0.0))
    state.rows = list(meta["rows"])
    best_path = ckpt / "best.safetensors"
    return vio.load_tensors(best_path) if best_path.is_file() else None


# ------------------------------------------------------------------------------------------ fit
def fit(
    model,
    data: Dataset,
    config: TrainConfig | None = None,
    *,
    validation_data: Dataset | None = None,
    out: str | Path | None = None,
    resume: bool = False,
    overwrite: bool = False,
    callbacks: Iterable[Callback] = (),
    progress: bool | str = "auto",
    warm_start: bool = False,
    **overrides: Any,
) -> History:
    """Train ``model`` on ``data`` with AdamW; return per-epoch metrics.

    Parameters
    ----------
    model : VAE or Autoencoder
    data : Dataset
        Training data (``data.shape`` must equal the model's ``data_shape``).
    config : TrainConfig or None
        Training settings; keyword ``overrides`` (e.g. ``epochs=20, seed=0``) replace its fields.
    validation_data : Dataset or None
        Held-out data; when None, ``config.val_fraction`` of ``data`` is split off with ``config.seed``.
    out : path or None
        Run directory: ``config.json``, ``model.safetensors`` (best weights), ``metrics.csv`` and
        ``checkpoint/`` are written there atomically every ``checkpoint_every`` epochs.
    resume : bool
        Continue from ``out/checkpoint/`` (same data and config) with optimiser and RNG state restored, so a
        resumed run gives the same numbers as an uninterrupted one.
    overwrite : bool
        Replace a non-empty ``out``.
    callbacks : iterable of Callback
    progress : bool or "auto"
        Show a rich progress bar (``"auto"``: when stderr is a terminal).
    warm_start : bool
        Continue from the model's current weights. By default (as in scikit-learn) ``fit`` first
        re-initialises the weights from ``seed``, so the same seed gives the same model.

    Returns
    -------
    History

    Raises
    ------
    TrainingError
        On a non-finite loss; the last good checkpoint is kept.

    Examples
    --------
    >>> import vaekit
    >>> data = vaekit.datasets.from_array(torch.randn(64, 4))
    >>> model = vaekit.VAE.for_data(data, latent_dim=2)
    >>> h = vaekit.fit(model, data, epochs=2, seed=0, progress=False)
    >>> len(h)
    2
    """
    cfg = (config or TrainConfig()).replace(**overrides) if overrides else (config or TrainConfig())
    if not isinstance(data, Dataset):
        raise DataError(f"fit expects a vaekit Dataset; got {type(data).__name__}. Use vaekit.datasets.from_array(x).")
    if tuple(data.shape) != tuple(model.data_shape):
        raise DataError(f"Dataset '{data.name}' has examples of shape {data.shape}, "
                        f"but the model expects {tuple(model.data_shape)}.")
    if model.data_spec is None:
        model.data_spec = data.spec
    _check_labels(model, data)
    callbacks = list(callbacks)
    if progress is True or (progress == "auto" and _stderr_is_tty()):
        from ._progress import RichProgress

        callbacks.append(RichProgress())

    if cfg.binarize == "dynamic" and data.in_memory:
        lo, hi = float(data.x.min()), float(data.x.max())
        if lo < 0 or hi > 1:
            raise DataError(f"binarize='dynamic' needs values in [0, 1]; dataset '{data.name}' spans [{lo:.3g}, {hi:.3g}].")
    # ---- data: seeded validation split; a fixed binarisation of the validation set
    if validation_data is None and cfg.val_fraction > 0:
        train, val = _split(data, cfg.val_fraction, cfg.seed, keep_labelled=getattr(model, "has_classifier", False))
    else:
        train, val = data, validation_data
    if val is not None and cfg.binarize == "dynamic":
        g = torch.Generator().manual_seed(cfg.seed + 1)
        val = Dataset(torch.bernoulli(val.get(slice(None)), generator=g), val.y, val.spec, val.description)

    steps_per_epoch = math.ceil(len(train) / cfg.batch_size)
    total_steps = steps_per_epoch * cfg.epochs
    warm_steps = cfg.kl_warmup * (steps_per_epoch if cfg.kl_warmup_unit == "epochs" else 1)
    if warm_steps > total_steps:
        warnings.warn(
            f"KL warm-up of {cfg.kl_warmup} {cfg.kl_warmup_unit} outlasts training ({cfg.epochs} epochs, "
            f"{total_steps} steps): the KL weight never reaches beta={model.config.beta}.",
            UserWarning, stacklevel=2,
        )

    generator = torch.Generator().manual_seed(cfg.seed)
    device = model.device
    # Initialise deterministically from the seed unless resuming (weights then come from the checkpoint).
    if not (warm_start or resume):
        model.initialize(cfg.seed)
    opt = _adamw(model, cfg)
    state = TrainingState(config=cfg, steps_per_epoch=steps_per_epoch, n_train=len(train),
                          n_val=0 if val is None else len(val))
    run = None
    best_state = None
    if out is not None:
        run = vio.prepare_run_dir(out, overwrite=overwrite, resume=resume)
        if resume:
            best_state = _read_checkpoint(run, model, opt, generator, state)
        else:
            vio.write_json(run / vio.CONFIG_FILE, vio.config_document(model, train_config=cfg))
    elif resume:
        raise CheckpointError("resume=True needs out=RUN_DIR pointing at the run to continue.")

    for cb in callbacks:
        cb.on_train_begin(state)
    # A resumed run continues the clock, so max_time and the time-following cosine mean total training time.
    started = time.perf_counter() - state.elapsed
    stop_reason = "epochs"
    model.train()
    for epoch in range(state.start_epoch, cfg.epochs):
        t0 = time.perf_counter()
        sums = torch.zeros(3, dtype=torch.float64)
        n_seen = 0
        for xb, yb in _train_batches(model, train, cfg.batch_size, generator):
            # schedule
            time_fraction = None if cfg.max_time is None else (time.perf_counter() - started) / cfg.max_time
            lr = lr_at(state.step, lr=cfg.lr, schedule=cfg.lr_schedule, warmup_steps=cfg.lr_warmup_steps,
                       total_steps=total_steps, time_fraction=time_fraction)
            for group in opt.param_groups:
                group["lr"] = lr
            w = kl_weight_at(epoch, state.step, beta=model.config.beta, warmup=cfg.kl_warmup,
                             unit=cfg.kl_warmup_unit, steps_per_epoch=steps_per_epoch)
            if cfg.binarize == "dynamic":
                xb = torch.bernoulli(xb, generator=generator)
            xb = xb.to(device, non_blocking=True)
            # forward + objective
            obj = _objective(model, xb, yb, kl_weight=w, generator=generator)
            if not torch.isfinite(obj.loss):
                _raise_non_finite(obj, epoch, state.step, run)
            # backward, clip, step
            opt.zero_grad(set_to_none=True)
            obj.loss.backward()
            if cfg.grad_clip is not None:
                torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
            opt.step()
            state.step += 1
            # log (kept as tensors: no per-step host sync beyond the finiteness check)
            b = xb.shape[0]
            sums += torch.stack([obj.loss.detach().double() * b, obj.reconstruction_nll.detach().double().sum(),
                                 obj.kl.detach().double().sum()]).cpu()
            n_seen += b
            for cb in callbacks:
                cb.on_step_end(state, float(obj.loss.detach()))
        state.epoch = epoch + 1
        train_loss, train_rec, train_kl = (sums / max(n_seen, 1)).tolist()
        row = {"epoch": epoch + 1, "step": state.step, "lr": lr, "kl_weight": w,
               "train_loss": train_loss, "train_reconstruction_nll": train_rec, "train_kl": train_kl,
               "val_loss": None, "val_reconstruction_nll": None, "val_kl": None}
        if val is not None:
            # A fixed noise seed per evaluation so validation curves do not jitter with the training RNG.
            vm = evaluate_objective(model, val, batch_size=max(cfg.batch_size, 256),
                                    generator=torch.Generator().manual_seed(cfg.seed + 2), kl_weight=model.config.beta)
            row.update(val_loss=vm["loss"], val_reconstruction_nll=vm["reconstruction_nll"], val_kl=vm["kl"])
            monitored = vm["loss"]
        else:
            monitored = train_loss
        row["seconds"] = time.perf_counter() - t0
        state.elapsed = time.perf_counter() - started
        state.rows.append(row)
        if monitored < state.best_value:
            state.best_value, state.best_epoch, state.epochs_without_improvement = monitored, epoch + 1, 0
            if val is not None:
                best_state = {k: v.detach().clone().cpu() for k, v in model.state_dict().items()}
        else:
            state.epochs_without_improvement += 1
        early = (val is not None and cfg.early_stopping_patience is not None
                 and state.epochs_without_improvement >= cfg.early_stopping_patience)
        out_of_time = cfg.max_time is not None and time.perf_counter() - started >= cfg.max_time
        last = early or out_of_time or epoch + 1 == cfg.epochs
        if run is not None and ((epoch + 1) % cfg.checkpoint_every == 0 or last):
            _write_checkpoint(run, model, opt, generator, state, best_state)
            vio.atomic_write_text(run / vio.METRICS_FILE, _metrics_csv(state.rows))
        for cb in callbacks:
            cb.on_epoch_end(state, row)
        if early:
            stop_reason = "early_stopping"
            break
        if out_of_time:
            stop_reason = "max_time"
            break

    if best_state is not None:
        model.load_state_dict(best_state)
    else:
        state.best_epoch = state.epoch
    model.train_config = cfg
    model.eval()
    history = History(rows=state.rows, best_epoch=state.best_epoch, stopped_early=stop_reason == "early_stopping",
                      stop_reason=stop_reason)
    model.history = history
    if run is not None:
        vio.save_weights(model, run / vio.WEIGHTS_FILE)
        vio.write_json(run / vio.CONFIG_FILE, vio.config_document(model, train_config=cfg))
        vio.atomic_write_text(run / vio.METRICS_FILE, _metrics_csv(state.rows))
    for cb in callbacks:
        cb.on_train_end(state, history)
    logger.info("trained %s for %d epochs (%s); best epoch %d", type(model).__name__, state.epoch, stop_reason,
                state.best_epoch)
    return history


def _adamw(model, cfg: TrainConfig) -> torch.optim.Optimizer:
    """AdamW with the fused kernel where torch has one for these parameters (fewer passes over memory)."""
    params = [p for p in model.parameters() if p.requires_grad]
    try:
        return torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay, fused=True)
    except (RuntimeError, TypeError):  # older torch or an unsupported device/dtype
        return torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay)


def _raise_non_finite(obj, epoch: int, step: int, run: Path | None):
    rec = float(obj.reconstruction_nll.detach().mean())
    kl = float(obj.kl.detach().mean())
    if run is not None and (run / vio.CHECKPOINT_DIR / "state.json").is_file():
        where = f"last good checkpoint kept at {run / vio.CHECKPOINT_DIR}/"
    elif run is not None:
        where = "no checkpoint had been written yet"
    else:
        where = "no checkpoint was being written (pass out=RUN_DIR to keep one)"
    raise TrainingError(
        f"Non-finite loss at epoch {epoch + 1}, step {step} (reconstruction_nll={rec:.4g}, kl={kl:.4g}); {where}. "
        f"Try a lower lr, gradient clipping, or checking the data for extreme values."
    )


def _stderr_is_tty() -> bool:
    import sys

    try:
        return sys.stderr.isatty()
    except (AttributeError, ValueError):
        return False
