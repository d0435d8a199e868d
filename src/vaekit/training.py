"""One training loop for every model: it knows only ``model.objective(batch).loss``.

The loop reads top to bottom: schedule -> forward -> objective -> backward -> clip -> step -> log.
Schedules are pure functions of (epoch, step).
"""

from __future__ import annotations

import logging
import math
import time
import warnings
from pathlib import Path
from typing import Any, Iterable

import torch

from . import distributed, rundir
from .callbacks import Callback, History, TrainingState
from .config import TrainConfig
from .data import Dataset
from .data.samplers import BinarizedRows, IterableBatches, TrainBatches, batches_of, check_unit_interval, dynamic_binarization, validation_split
from .errors import CheckpointError, ConfigError, DataError, TrainingError

__all__ = ["fit", "History", "Callback", "kl_weight_at", "lr_at", "evaluate_objective", "default_train_config"]

logger = logging.getLogger(__name__)


# ------------------------------------------------------------------------------------------ schedules
def kl_weight_at(epoch: int, step: int, *, beta: float, warmup: int, unit: str, steps_per_epoch: int,
                 schedule: str = "linear") -> float:
    """KL weight: linear warm-up from 0 to ``beta`` over ``warmup`` epochs or steps (Bowman et al. 2016);
    with ``schedule="cyclical"`` the warm-up is followed by as long at ``beta``, then repeats (Fu et al. 2019).

    ``epoch`` is 0-based; with unit "epochs" the weight grows smoothly within epochs too.

    Examples
    --------
    >>> kl_weight_at(0, 0, beta=1.0, warmup=0, unit="epochs", steps_per_epoch=10)
    1.0
    >>> kl_weight_at(0, 5, beta=1.0, warmup=10, unit="steps", steps_per_epoch=10)
    0.5
    >>> kl_weight_at(0, 25, beta=1.0, warmup=10, unit="steps", steps_per_epoch=10, schedule="cyclical")
    0.5
    """
    if warmup <= 0:
        return beta
    progress = step / warmup if unit == "steps" else step / (warmup * steps_per_epoch)
    if schedule == "cyclical":
        progress = progress % 2.0
    return beta * min(1.0, progress)


def _layer_warmups(model, cfg) -> int | tuple[int, ...]:
    """``cfg.kl_warmup``, or ``cfg.kl_warmup_layers`` checked against the model's latent layers."""
    if cfg.kl_warmup_layers is None:
        return cfg.kl_warmup
    layers = len(getattr(getattr(model, "prior", None), "dims", ()))
    if layers < 2 or layers != len(cfg.kl_warmup_layers):
        have = f"{layers} latent layers" if layers >= 2 else "one latent layer (no hierarchical prior)"
        raise ConfigError(f"kl_warmup_layers={cfg.kl_warmup_layers} gives {len(cfg.kl_warmup_layers)} warm-up lengths; "
                          f"the model has {have}. Give one length per layer (bottom first) or use kl_warmup.")
    return cfg.kl_warmup_layers


def _kl_weights(warmups, epoch: int, step: int, **kw) -> float | tuple[float, ...]:
    """The KL weight at this step: one number, or one per latent layer (bottom first)."""
    if isinstance(warmups, tuple):
        return tuple(kl_weight_at(epoch, step, warmup=n, **kw) for n in warmups)
    return kl_weight_at(epoch, step, warmup=warmups, **kw)


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
def default_train_config(spec, *, preset: str = "default", **overrides: Any) -> TrainConfig:
    """The documented training preset for data described by ``spec`` (a DataSpec); ``overrides`` win.

    ``preset`` names a recipe of the data's kind, as in :func:`vaekit.model.default_config`.

    * every kind: AdamW, batch 128, cosine learning-rate decay (over ``epochs``, or over ``max_time``
      when a wall-clock budget is given), 10% validation split, early stopping after 10 flat epochs --
      except with a ``max_time`` budget, where the budget alone ends training (the weights of the best
      validation epoch are still kept): on a long budget the cosine stays near its peak rate for many
      epochs, the validation loss is flat and noisy there, and early stopping ended a 60-minute MNIST
      run after 15 minutes, before the decay that brings most of the gain (bench/RESULTS.md);
    * grey-level images (the Bernoulli preset of :func:`vaekit.model.default_config`): learning rate
      3e-3 and dynamic binarisation, so the Bernoulli likelihood is an honest probability of binary
      images (measured on MNIST in ``bench/mnist_nll.py``; see ``bench/RESULTS.md``); their ``best``
      preset trains in ``precision="auto"`` (bf16 autocast where the device runs it natively;
      :func:`resolve_precision`);
    * colour images (the conv + discretized-logistic preset): learning rate 3e-3 (at 1e-3 colour is learned
      so slowly that short runs reconstruct greyish images; see :class:`vaekit.data.kinds.ImageKind`);
    * everything else: learning rate 1e-3, no binarisation.

    ``vaekit train`` starts from this preset too (then a config file, then the flags).

    Examples
    --------
    >>> from vaekit.config import DataSpec
    >>> default_train_config(DataSpec(kind="image", shape=(1, 28, 28), levels=256)).binarize
    'dynamic'
    >>> default_train_config(DataSpec(kind="table", shape=(5,)), epochs=3).lr
    0.001
    """
    from .data.kinds import kind_of

    base: dict[str, Any] = dict(lr_schedule="cosine", batch_size=128, lr=1e-3)
    base.update(kind_of(spec).preset(preset, spec)[1])
    if overrides.get("max_time") is not None:
        base["early_stopping_patience"] = None  # the budget ends training (see above); an override still wins
    base.update(overrides)
    return TrainConfig(**base)


# ------------------------------------------------------------------------------------------ evaluation
@torch.inference_mode()
def evaluate_objective(
    model, data: Dataset, *, batch_size: int = 512, generator: torch.Generator | None = None,
    kl_weight: float | None = None, context=None,
) -> dict[str, float]:
    """Mean loss, reconstruction NLL and KL of ``model.objective`` over ``data`` (eval mode, no gradients).

    Under ``torch.distributed`` (``context``) each rank scores its slice of every batch and the sums are
    all-reduced, with the noise drawn as in one process.
    """
    ctx = context or distributed.Context()
    was_training = model.training
    model.eval()
    sums = torch.zeros(4, dtype=torch.float64)
    shared_noise = not ctx.distributed or model.data_needs.labels == "none"
    for batch in batches_of(data, batch_size, model.data_needs, rank=ctx.rank, world_size=ctx.world_size):
        if not len(batch):
            continue
        batch = batch.to(model.device)
        noise = batch.noise(generator) if (shared_noise and generator is not None) else generator
        obj = model.objective(batch.x, kl_weight=kl_weight, generator=noise, **batch.model_kwargs)
        b = len(batch)
        sums += torch.stack([obj.loss.double() * b, obj.reconstruction_nll.double().sum(), obj.kl.double().sum(),
                             torch.tensor(float(b), dtype=torch.float64)]).cpu()
    model.train(was_training)
    sums = ctx.all_reduce_sum(sums)
    loss, rec, kl = (sums[:3] / max(float(sums[3]), 1.0)).tolist()
    return {"loss": loss, "reconstruction_nll": rec, "kl": kl}


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
    device: str | torch.device | None = None,
    **overrides: Any,
) -> "rundir.Run":
    """Train ``model`` on ``data`` with AdamW; return the :class:`~vaekit.rundir.Run` (model, config, history, path).

    Parameters
    ----------
    model : VAE, Autoencoder or StackedVAE
    data : Dataset or iterable of batches
        Training data (``data.shape`` must equal the model's ``data_shape``), or any iterable a user
        brings (a DataLoader over their own dataset, a generator): each item a tensor x, an (x, y) pair
        or ``{"x": x, "y": y}`` of model-ready values, iterated once per epoch. An iterable has no
        validation split (pass ``validation_data``) and, without ``len()``, needs a schedule that does
        not count steps per epoch.
    config : TrainConfig or None
        Training settings; keyword ``overrides`` (e.g. ``epochs=20, seed=0``) replace its fields.
    validation_data : Dataset or None
        Held-out data; when None, ``config.val_fraction`` of ``data`` is split off with ``config.seed``.
    out : path or None
        Run directory: ``config.json``, ``model.safetensors`` (best weights), ``metrics.csv`` and
        ``checkpoint/`` are written there atomically every ``checkpoint_every`` epochs.
    resume : bool
        Continue from ``out/checkpoint/`` (same data and config) with optimiser and RNG state restored, so a
        resumed run gives the same numbers as an uninterrupted one, wherever the previous run was killed.
    overwrite : bool
        Replace a non-empty ``out`` as a whole (the old run comes back if this one fails before its
        first checkpoint).
    callbacks : iterable of Callback
    progress : bool or "auto"
        Show a rich progress bar (``"auto"``: when stderr is a terminal).
    warm_start : bool
        Continue from the model's current weights. By default (as in scikit-learn) ``fit`` first
        re-initialises the weights from ``seed``, so the same seed gives the same model.
    device : {"auto", "cpu", "cuda"}, torch.device or None
        Move the model there first (``"auto"``: a GPU when there is one); None keeps the model's device.
        Under torchrun each rank uses GPU ``LOCAL_RANK``.

    Returns
    -------
    Run
        ``run.model`` (holding its best weights), ``run.train_config``, ``run.history`` and ``run.path``.
        ``len(run)`` and ``run["val_loss"]`` read the history.

    Raises
    ------
    TrainingError
        On a non-finite loss; the last good checkpoint is kept.

    Examples
    --------
    >>> import vaekit
    >>> data = vaekit.datasets.from_array(torch.randn(64, 4))
    >>> model = vaekit.VAE.for_data(data, latent_dim=2)
    >>> run = vaekit.fit(model, data, epochs=2, seed=0, progress=False)
    >>> len(run.history), run.model is model
    (2, True)
    """
    cfg = (config or TrainConfig()).replace(**overrides) if overrides else (config or TrainConfig())
    streamed = not isinstance(data, Dataset)  # any iterable of batches (a DataLoader, ...)
    if streamed and (isinstance(data, (torch.Tensor, str, bytes)) or type(data).__module__.startswith("numpy")
                     or not hasattr(data, "__iter__")):
        raise DataError(f"fit expects a vaekit Dataset or an iterable of batches (a DataLoader); got "
                        f"{type(data).__name__}. Use vaekit.datasets.from_array(x) for an array.")
    if not streamed:
        model.check_data(data)
        if model.data_spec is None:
            model.data_spec = data.spec
    needs = model.data_needs
    ctx = distributed.context()  # rank 0 of 1 unless torch.distributed is running (see vaekit.distributed)
    callbacks = list(callbacks) if ctx.is_main else []  # one progress bar, one set of hooks: rank 0's
    if ctx.is_main and (progress is True or (progress == "auto" and _stderr_is_tty())):
        from ._progress import RichProgress

        callbacks.append(RichProgress())
    generator = torch.Generator().manual_seed(cfg.seed)
    transforms = []
    if cfg.binarize == "dynamic":
        if not streamed:
            check_unit_interval(data, "binarize='dynamic'")
        transforms.append(dynamic_binarization(generator))

    # ---- data: seeded validation split; a fixed binarisation of the validation set
    if streamed:
        # an iterable has no split: it is all training data; validation comes from validation_data only
        train, val = None, validation_data
        if validation_data is None and cfg.val_fraction > 0:
            logger.info("fit got an iterable of batches: no validation split (pass validation_data= for one)")
    elif validation_data is None and cfg.val_fraction > 0:
        train, val = validation_split(data, cfg.val_fraction, cfg.seed, keep_labelled=needs.keep_labelled)
    else:
        train, val = data, validation_data
    if val is not None and cfg.binarize == "dynamic":
        if val.in_memory:
            g = torch.Generator().manual_seed(cfg.seed + 1)
            val = Dataset(torch.bernoulli(val.get(slice(None)), generator=g), val.y, val.spec, val.description)
        else:  # streamed data: binarised row by row when read, never all at once
            val = Dataset(BinarizedRows(val.x, cfg.seed + 1), val.y, val.spec, val.description)
    if streamed:
        batches = IterableBatches(data, needs, check=model.check_input)
    else:
        batches = TrainBatches(train, cfg.batch_size, generator, needs, rank=ctx.rank, world_size=ctx.world_size,
                               num_workers=cfg.num_workers, labelled_per_batch=cfg.labelled_per_batch)
    try:
        steps_per_epoch = len(batches)
    except TypeError:  # an iterable without a length: schedules must not need one
        steps_per_epoch = 0
        if (cfg.lr_schedule == "cosine" and cfg.max_time is None) or (cfg.kl_warmup and cfg.kl_warmup_unit == "epochs"):
            raise ConfigError("fit got an iterable without len(): the cosine learning-rate schedule needs max_time "
                              "(or lr_schedule='constant'), and KL warm-up needs kl_warmup_unit='steps'.") from None
    total_steps = steps_per_epoch * cfg.epochs
    warmups = _layer_warmups(model, cfg)  # one warm-up length, or one per latent layer
    longest = max(warmups) if isinstance(warmups, tuple) else warmups
    warm_steps = longest * (steps_per_epoch if cfg.kl_warmup_unit == "epochs" else 1)
    if warm_steps > total_steps:
        warnings.warn(
            f"KL warm-up of {longest} {cfg.kl_warmup_unit} outlasts training ({cfg.epochs} epochs, "
            f"{total_steps} steps): the KL weight never reaches beta={model.config.beta}.",
            UserWarning, stacklevel=2,
        )

    if device is not None:
        model.to(resolve_device(device))
    device = model.device
    if cfg.precision == "auto":  # the arithmetic this device runs fastest; the run's train_config records it
        cfg = cfg.replace(precision=resolve_precision(device))
    # Initialise deterministically from the seed unless resuming (weights then come from the checkpoint).
    if not (warm_start or resume):
        model.initialize(cfg.seed)
    opt = _adamw(model, cfg)
    state = TrainingState(config=cfg, steps_per_epoch=steps_per_epoch, n_train=0 if train is None else len(train),
                          n_val=0 if val is None else len(val))
    # ---- the run directory: rank 0 alone writes it; every rank reads a checkpoint to resume
    run_dir = None
    best_state = None
    if resume and out is None:
        raise CheckpointError("resume=True needs out=RUN_DIR pointing at the run to continue.")
    if out is not None and ctx.is_main:
        run_dir = rundir.RunDirectory(out, overwrite=overwrite, resume=resume)
        if resume:
            rundir.recover_checkpoint(run_dir.path)
    ctx.barrier()
    writes = None if run_dir is None else run_dir.path
    try:
        if out is not None:
            if resume:
                best_state = rundir.read_checkpoint(Path(out), model, opt, generator, state)
            elif writes is not None:
                _write_config(writes, model, cfg)
        history = _loop(model, cfg, batches, transforms, val, opt, generator, state, best_state, callbacks, device,
                        total_steps, steps_per_epoch, writes, ctx,
                        on_checkpoint=None if run_dir is None else run_dir.commit)
    except BaseException:
        if run_dir is not None and not rundir.has_checkpoint(run_dir.path):
            run_dir.abort()  # nothing worth keeping: no empty or half-written run is left, the old one is back
        raise
    if run_dir is not None:
        run_dir.commit()
    ctx.barrier()  # the run directory is complete before any rank returns
    return rundir.Run(model=model, path=None if out is None else Path(out), train_config=cfg, history=history)


def _write_config(path: Path, model, cfg: TrainConfig, weights_sha256: str | None = None) -> None:
    """Write the run's ``config.json`` (atomically)."""
    from .io import write_json

    write_json(path / rundir.CONFIG_FILE, rundir.config_document(model, train_config=cfg, weights_sha256=weights_sha256))


def _loop(model, cfg, batches, transforms, val, opt, generator, state, best_state, callbacks, device, total_steps,
          steps_per_epoch, run: Path | None, ctx, on_checkpoint) -> History:
    """The training loop: schedule -> forward -> objective -> backward -> clip -> step -> log, per batch.

    ``run`` is where this process writes (None on ranks other than 0); ``ctx`` says its rank.
    """
    params = [p for p in model.parameters() if p.requires_grad]
    warmups = _layer_warmups(model, cfg)  # one KL warm-up length, or one per latent layer (checked by fit)
    objective = torch.compile(model.objective) if cfg.compile else model.objective
    low_precision = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(cfg.precision)
    # fp16 needs loss scaling on GPU; with it disabled the scaler is a pass-through to opt.step()
    scaler = torch.amp.GradScaler(device.type, enabled=cfg.precision == "fp16" and device.type == "cuda")
    # Per-example noise comes from the shared generator, sliced to this rank's rows (vaekit.noise). Models
    # that draw noise for subsets of a batch (label-conditioned ones) draw from a generator of their own rank.
    # (and so do batches from a user's iterable, which this loop does not slice)
    shared_noise = not ctx.distributed or (model.data_needs.labels == "none" and isinstance(batches, TrainBatches))
    rank_noise = None if shared_noise else torch.Generator().manual_seed(cfg.seed * 7919 + ctx.rank + 1)
    for cb in callbacks:
        cb.on_train_begin(state)
    # A resumed run continues the clock, so max_time and the time-following cosine mean total training time.
    started = time.perf_counter() - state.elapsed
    stop_reason = "epochs"
    lr = w = None
    # A run resumed after it had already stopped (early stopping, or its time budget spent under the same
    # settings) trains no further epoch: the numbers stay those of the run as it ended.
    first = state.start_epoch
    if first > 0 and val is not None and cfg.early_stopping_patience is not None and \
            state.epochs_without_improvement >= cfg.early_stopping_patience:
        first, stop_reason = cfg.epochs, "early_stopping"
    elif first > 0 and cfg.max_time is not None and state.elapsed >= cfg.max_time:
        first, stop_reason = cfg.epochs, "max_time"
    model.train()
    for epoch in range(first, cfg.epochs):
        t0 = time.perf_counter()
        sums = torch.zeros(3, dtype=torch.float64)
        n_seen = 0
        for batch in batches:
            # schedule
            time_fraction = None if cfg.max_time is None else (time.perf_counter() - started) / cfg.max_time
            lr = lr_at(state.step, lr=cfg.lr, schedule=cfg.lr_schedule, warmup_steps=cfg.lr_warmup_steps,
                       total_steps=total_steps, time_fraction=time_fraction)
            for group in opt.param_groups:
                group["lr"] = lr
            w = _kl_weights(warmups, epoch, state.step, beta=model.config.beta, unit=cfg.kl_warmup_unit,
                            steps_per_epoch=steps_per_epoch, schedule=cfg.kl_schedule)
            for transform in transforms:  # e.g. dynamic binarisation
                batch = transform(batch)
            batch = batch.to(device)
            noise = batch.noise(generator) if shared_noise else rank_noise
            opt.zero_grad(set_to_none=True)
            b = len(batch)
            if b:
                # forward + objective (under autocast for bf16/fp16)
                with torch.autocast(device.type, dtype=low_precision or torch.float32, enabled=low_precision is not None):
                    obj = objective(batch.x, kl_weight=w, generator=noise, **batch.model_kwargs)
                if ctx.any(not bool(torch.isfinite(obj.loss))):
                    _raise_non_finite(obj, epoch, state.step, run)
                # backward: this rank's share of the mean over the global batch
                loss = obj.loss if not ctx.distributed else obj.loss * (b * ctx.world_size / batch.global_size)
                scaler.scale(loss).backward()
                sums += torch.stack([obj.loss.detach().double() * b, obj.reconstruction_nll.detach().double().sum(),
                                     obj.kl.detach().double().sum()]).cpu()
            else:  # a rank without rows in a small last batch still takes part in the gradient mean
                ctx.any(False)
                for p in params:
                    p.grad = torch.zeros_like(p)
            ctx.average_gradients(params)
            # clip, step
            if cfg.grad_clip is not None:
                scaler.unscale_(opt)
                torch.nn.utils.clip_grad_norm_(params, cfg.grad_clip)
            scaler.step(opt)
            scaler.update()
            state.step += 1
            # log (kept as tensors: no per-step host sync beyond the finiteness check)
            n_seen += b
            for cb in callbacks:
                cb.on_step_end(state, float(obj.loss.detach()))
            # a spent wall-clock budget ends the epoch here (it is validated and logged as usual), so a
            # run overshoots its budget by one step, not by up to an epoch
            if cfg.max_time is not None and ctx.any(time.perf_counter() - started >= cfg.max_time):
                break
        state.epoch = epoch + 1
        totals = ctx.all_reduce_sum(torch.cat([sums, torch.tensor([float(n_seen)], dtype=torch.float64)]))
        train_loss, train_rec, train_kl = (totals[:3] / max(float(totals[3]), 1.0)).tolist()
        row = {"epoch": epoch + 1, "step": state.step, "lr": lr,
               "kl_weight": w if not isinstance(w, tuple) else sum(w) / len(w),  # the mean over layers
               "train_loss": train_loss, "train_reconstruction_nll": train_rec, "train_kl": train_kl,
               "val_loss": None, "val_reconstruction_nll": None, "val_kl": None}
        if val is not None:
            # A fixed noise seed per evaluation so validation curves do not jitter with the training RNG.
            vm = evaluate_objective(model, val, batch_size=max(cfg.batch_size, 256),
                                    generator=torch.Generator().manual_seed(cfg.seed + 2), kl_weight=model.config.beta,
                                    context=ctx)
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
        out_of_time = ctx.any(cfg.max_time is not None and time.perf_counter() - started >= cfg.max_time)
        last = early or out_of_time or epoch + 1 == cfg.epochs
        if run is not None and ((epoch + 1) % cfg.checkpoint_every == 0 or last):
            rundir.write_checkpoint(run, model, opt, generator, state, best_state)
            rundir.write_metrics(run / rundir.METRICS_FILE, state.rows)
            on_checkpoint()
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
    model.eval()
    history = History(rows=state.rows, best_epoch=state.best_epoch, stopped_early=stop_reason == "early_stopping",
                      stop_reason=stop_reason)
    if run is not None:
        sha = rundir.save_weights(model, run / rundir.WEIGHTS_FILE)
        _write_config(run, model, cfg, weights_sha256=sha)
        rundir.write_metrics(run / rundir.METRICS_FILE, state.rows)
    for cb in callbacks:
        cb.on_train_end(state, history)
    logger.info("trained %s for %d epochs (%s); best epoch %d", type(model).__name__, state.epoch, stop_reason,
                state.best_epoch)
    return history


def resolve_device(device: str | torch.device) -> torch.device:
    """``"auto"`` -> a GPU when there is one (this rank's under torchrun), else the CPU; anything else as given."""
    if isinstance(device, str) and device == "auto":
        return torch.device("cuda", torch.cuda.current_device()) if torch.cuda.is_available() else torch.device("cpu")
    try:
        device = torch.device(device)
    except (RuntimeError, TypeError) as e:
        raise ConfigError(f"The 'device' parameter must be 'cpu', 'cuda', 'cuda:N' or 'auto'. Got {device!r} instead.") from e
    if device.type == "cuda" and not torch.cuda.is_available():
        raise DataError("--device cuda was asked for, but torch sees no GPU here (use --device cpu or auto).")
    if device.type == "cuda" and device.index is None:
        device = torch.device("cuda", torch.cuda.current_device())
    return device


def resolve_precision(device: str | torch.device) -> str:
    """What ``precision="auto"`` trains in on ``device``: ``"bf16"`` where matrix products run natively in
    bfloat16 (a CUDA GPU that supports it, or a CPU with AMX tiles, e.g. Intel Xeon 4th generation and later),
    else ``"fp32"`` (on other CPUs bfloat16 autocast emulates the products and is slower).

    Measured on MNIST with the grey-image ``best`` preset on 2 cores of an AMX Xeon (bench/RESULTS.md):
    bf16 epochs are 1.095x faster than fp32 ones, interleaved in one process (``bench/precision_speed.py``),
    and 60 minutes of bf16 training reach the same test NLL (84.20 against 84.17, scored in float32).
    """
    device = torch.device(device)
    if device.type == "cuda":
        return "bf16" if torch.cuda.is_bf16_supported() else "fp32"
    # torch.cpu's feature query is private; a torch without it gets fp32
    amx = getattr(torch.cpu, "_is_amx_tile_supported", None)
    return "bf16" if device.type == "cpu" and amx is not None and amx() else "fp32"


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
    if run is not None and rundir.has_checkpoint(run):
        where = f"last good checkpoint kept at {run / rundir.CHECKPOINT_DIR}/"
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
