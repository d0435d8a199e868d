"""``vaekit train DATA --out RUN``: train a VAE (or an autoencoder) into a run directory."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from ..errors import ConfigError
from . import _console
from ._options import DataArg, LimitOpt, Likelihood, Net, OverwriteOpt, QuietOpt, ThreadsOpt

EPILOG = """\
[bold]Examples[/bold]

  vaekit train mnist5k --out runs/digits --latent-dim 16 --epochs 20

  vaekit train photos/ --out runs/photos --model conv --likelihood discretized_logistic

  vaekit train data.csv --out runs/table --config vae.toml --label-column label

  vaekit train mnist5k --out runs/ae --autoencoder --epochs 20

  vaekit train mnist5k --out runs/digits --resume --epochs 40

A --config file (JSON or TOML) holds the same fields in \\[model] and \\[train] sections or as flat keys; \
flags given on the command line win over it."""


def _int_tuple(text: Optional[str], name: str) -> Optional[tuple[int, ...]]:
    if text is None:
        return None
    try:
        values = tuple(int(p) for p in text.split(",") if p.strip())
    except ValueError as e:
        raise ConfigError(
            f"The '{name}' parameter must be comma-separated ints like 512,256. Got {text!r} instead."
        ) from e
    return values


def train(
    data: DataArg,
    out: Annotated[Path, typer.Option("--out", help="Run directory to write.", show_default=False)],
    model: Annotated[
        Optional[Net], typer.Option("--model", help="Encoder/decoder family (the 'net' field).", show_default=False)
    ] = None,
    latent_dim: Annotated[Optional[int], typer.Option(min=1, help="Dimension of z.", show_default=False)] = None,
    hidden_dims: Annotated[
        Optional[str], typer.Option(help="MLP hidden widths, e.g. 512,256.", show_default=False, metavar="INTS")
    ] = None,
    likelihood: Annotated[Optional[Likelihood], typer.Option(help="Family of p(x|z).", show_default=False)] = None,
    beta: Annotated[Optional[float], typer.Option(min=0, help="Weight of the KL term (1 = ELBO).", show_default=False)] = None,
    kl_warmup: Annotated[
        Optional[int], typer.Option(min=0, help="Epochs of linear KL warm-up from 0 to beta.", show_default=False)
    ] = None,
    free_bits: Annotated[
        Optional[float], typer.Option(min=0, help="Minimum KL in nats per latent dimension.", show_default=False)
    ] = None,
    iwae_k: Annotated[
        Optional[int], typer.Option(min=1, help="Importance samples in the training objective (1 = ELBO).", show_default=False)
    ] = None,
    epochs: Annotated[Optional[int], typer.Option(min=1, help="Maximum epochs \\[default: 50].", show_default=False)] = None,
    batch_size: Annotated[Optional[int], typer.Option(min=1, help="Examples per step \\[default: 128].", show_default=False)] = None,
    lr: Annotated[Optional[float], typer.Option(min=0, help="Learning rate \\[default: 0.001].", show_default=False)] = None,
    seed: Annotated[
        Optional[int], typer.Option(min=0, help="Seed of training and of torch's global RNG \\[default: 0].", show_default=False)
    ] = None,
    autoencoder: Annotated[bool, typer.Option("--autoencoder", help="Train the deterministic autoencoder baseline.")] = False,
    config: Annotated[
        Optional[Path],
        typer.Option(help="JSON or TOML file with model/train fields.", exists=True, dir_okay=False, show_default=False),
    ] = None,
    label_column: Annotated[
        Optional[str], typer.Option(help="Label column of a table (not a feature).", show_default=False)
    ] = None,
    limit: LimitOpt = None,
    resume: Annotated[bool, typer.Option("--resume", help="Continue the run in --out from its checkpoint.")] = False,
    overwrite: OverwriteOpt = False,
    threads: ThreadsOpt = None,
    quiet: QuietOpt = False,
) -> None:
    """Train a VAE (or, with --autoencoder, a deterministic autoencoder) on DATA into the run directory --out."""
    from ..tasks.runs import train_run, training_summary

    _console.seed_everything(0 if seed is None else seed)
    _console.set_threads(threads)
    model_options = {
        "net": None if model is None else model.value,
        "latent_dim": latent_dim,
        "hidden_dims": _int_tuple(hidden_dims, "hidden_dims"),
        "likelihood": None if likelihood is None else likelihood.value,
        "beta": beta,
        "free_bits": free_bits,
        "iwae_k": iwae_k,
    }
    train_options = {"epochs": epochs, "batch_size": batch_size, "lr": lr, "seed": seed, "kl_warmup": kl_warmup}
    trained, dataset = train_run(
        data, out, model_options=model_options, train_options=train_options, config_file=config,
        autoencoder=True if autoencoder else None, resume=resume, overwrite=overwrite, limit=limit,
        label_column=label_column, callbacks=_console.fit_callbacks(quiet, "training"),
    )
    _console.print_table("Trained", training_summary(trained, dataset))
    _console.stdout().print(f"Next: vaekit eval {out}   |   vaekit report {out}", markup=False)
    _console.print_wrote(out, what="Run directory")
