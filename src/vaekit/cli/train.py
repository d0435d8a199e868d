"""``vaekit train DATA --out RUN``: train a VAE (or an autoencoder) into a run directory."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from ..errors import ConfigError
from . import _console
from ._options import DataArg, LimitOpt, Likelihood, Net, OverwriteOpt, QuietOpt, ThreadsOpt, DeviceOpt, parse_duration

EPILOG = """\
[bold]Examples[/bold]

  vaekit train mnist5k --out runs/digits --latent-dim 16 --epochs 20

  vaekit train photos/ --out runs/photos --net conv --likelihood discretized_logistic

  vaekit train survey.csv --out runs/survey --schema zip=categorical

  vaekit train mnist5k --out runs/denoiser --corruption gaussian --corruption-level 0.3

  vaekit train data.csv --out runs/table --config vae.toml --label-column label

  vaekit train mnist5k --out runs/ae --autoencoder --epochs 20

  vaekit train mnist5k --out runs/digits --resume --epochs 40

  vaekit train mnist --out runs/m2 --semi-supervised --labelled-per-class 10

  vaekit train mnist --out runs/m1m2 --stack-on runs/digits --label-fraction 0.002

  vaekit train photos/ --out runs/m2 --semi-supervised --labels y.csv

  vaekit train mnist5k --out runs/cvae --conditional

  vaekit train corpus.txt --out runs/sentences --max-time 30m

Every flag is the config field of the same name (--latent-dim is latent_dim). A --config file (JSON or \
TOML) holds the same fields in \\[model] and \\[train] sections or as flat keys; flags given on the \
command line win over it.

--semi-supervised trains M2 of Kingma et al. 2014 (a classifier q(y|x) and a generator p(x|y,z)) on \
partly labelled data. On grey images it trains M1+M2, which measured far better on MNIST (3.9% test \
error with 100 labels, against 24.6% for M2 on the pixels after 10 epochs): first an unsupervised VAE (M1, latent 50) on \
every example, then M2 over its codes; the model flags configure M2, and --m2-on-pixels trains M2 on the \
pixels instead. --stack-on RUN trains M1+M2 over the latent codes of the VAE in RUN. A --labels \
file replaces the data's labels: one label per example in order (-1 or empty = unlabelled), or id,label \
rows (ids: file paths relative to an image folder, else 0-based row numbers). --label-fraction and \
--labelled-per-class keep a seeded share of the labels and hide the rest."""


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
    net: Annotated[
        Optional[Net], typer.Option("--net", help="Encoder/decoder family: mlp or conv (the 'net' field).",
                                    show_default=False)
    ] = None,
    model: Annotated[
        Optional[Net], typer.Option("--model", hidden=True, help="Deprecated name of --net.", show_default=False)
    ] = None,
    latent_dim: Annotated[Optional[int], typer.Option(min=1, help="Dimension of z.", show_default=False)] = None,
    hidden_dims: Annotated[
        Optional[str], typer.Option(help="MLP hidden widths, e.g. 512,256.", show_default=False, metavar="INTS")
    ] = None,
    conv_channels: Annotated[
        Optional[str], typer.Option(help="Channels of the conv stages, e.g. 32,64 (--net conv).", show_default=False,
                                    metavar="INTS")
    ] = None,
    activation: Annotated[
        Optional[str], typer.Option(help="Nonlinearity of the nets: relu, elu, silu, tanh or gelu \\[default: elu].",
                                    show_default=False)
    ] = None,
    missing: Annotated[
        Optional[str],
        typer.Option(help="'ignore': NaN / empty cells are missing, and the model learns from the observed entries "
                          "(MIWAE); 'none': missing cells are an error \\[default: ignore for a table with missing cells].",
                     show_default=False),
    ] = None,
    corruption: Annotated[
        Optional[str],
        typer.Option(help="Corrupt inputs while training a denoiser: gaussian, salt_and_pepper or mask (with "
                          "--corruption-level) \\[default: none].", show_default=False),
    ] = None,
    corruption_level: Annotated[
        Optional[float],
        typer.Option(min=0, help="Noise std (gaussian) or fraction of entries (salt_and_pepper, mask).",
                     show_default=False),
    ] = None,
    likelihood: Annotated[Optional[Likelihood], typer.Option(help="Family of p(x|z).", show_default=False)] = None,
    prior: Annotated[
        Optional[str], typer.Option(help="Family of p(z): standard_normal, mixture (learned Gaussians), vamp "
                                         "(VampPrior) or ladder (hierarchical latents, top-down inference).",
                                    show_default=False)
    ] = None,
    prior_components: Annotated[
        Optional[int], typer.Option("--prior-components", min=1, show_default=False,
                                    help="Components of a mixture or VampPrior (prior_options.components).")
    ] = None,
    latent_layers: Annotated[
        Optional[int], typer.Option("--latent-layers", min=2, show_default=False,
                                    help="Stochastic layers of a ladder prior (prior_options.layers); latent_dim is "
                                         "split between them \\[default: 2].")
    ] = None,
    beta: Annotated[Optional[float], typer.Option(min=0, help="Weight of the KL term (1 = ELBO).", show_default=False)] = None,
    kl_warmup: Annotated[
        Optional[int], typer.Option(min=0, help="Epochs of linear KL warm-up from 0 to beta.", show_default=False)
    ] = None,
    kl_warmup_layers: Annotated[
        Optional[str], typer.Option("--kl-warmup-layers", show_default=False,
                                    help="KL warm-up epochs per latent layer of a ladder model, bottom first, e.g. 0,20.")
    ] = None,
    free_bits: Annotated[
        Optional[float], typer.Option(min=0, help="Minimum KL in nats per latent dimension.", show_default=False)
    ] = None,
    iwae_k: Annotated[
        Optional[int], typer.Option(min=1, help="Importance samples in the training objective (1 = ELBO).", show_default=False)
    ] = None,
    preset: Annotated[
        str, typer.Option(help="Recipe to start from: default, or for grey-level images fast (a smaller MLP for "
                               "short budgets) or best (a learned mixture prior); flags given on top win. "
                               "Pair with --max-time for a budget the learning-rate schedule follows.")
    ] = "default",
    iwae_gradient: Annotated[
        Optional[str], typer.Option(help="Gradient estimator of the IWAE objective: iwae or dreg (doubly "
                                         "reparameterised, Tucker et al. 2019) \\[default: iwae].", show_default=False)
    ] = None,
    epochs: Annotated[Optional[int], typer.Option(min=1, help="Maximum epochs \\[default: 50].", show_default=False)] = None,
    batch_size: Annotated[Optional[int], typer.Option(
        min=1, help="Examples per step \\[default: the preset's: 128; 256 for --preset best on grey images].",
        show_default=False)] = None,
    lr: Annotated[Optional[float], typer.Option(
        min=0, help="Peak learning rate \\[default: the preset's: 0.001; 0.003 for images, 0.004 for --preset best "
                    "on grey images].", show_default=False)] = None,
    lr_schedule: Annotated[
        Optional[str], typer.Option(help="Learning-rate schedule: constant or cosine \\[default: cosine].",
                                    show_default=False)
    ] = None,
    val_fraction: Annotated[
        Optional[float],
        typer.Option(min=0, max=0.9, help="Share of the data held out for validation and early stopping; 0 "
                                         "turns both off \\[default: 0.1].", show_default=False),
    ] = None,
    kind: Annotated[
        Optional[str],
        typer.Option("--kind", help="'text': read sentences, one per line (.txt files and folders of them are text "
                                    "anyway; a CSV needs --text-column).", show_default=False, metavar="KIND"),
    ] = None,
    text_column: Annotated[
        Optional[str], typer.Option("--text-column", help="The CSV column holding the sentences (--kind text).",
                                    show_default=False, metavar="COLUMN"),
    ] = None,
    max_time: Annotated[
        Optional[str],
        typer.Option(help="Wall-clock budget: 10m (minutes), 1.5h, or seconds (600 or 600s); training stops when it "
                          "runs out, and without --epochs the budget alone sets the length (the cosine learning rate "
                          "anneals over it) \\[default: none].", show_default=False, metavar="TIME"),
    ] = None,
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
    schema: Annotated[
        Optional[list[str]],
        typer.Option("--schema", help="Column type of a table, COL=numeric|integer|categorical (repeatable); "
                                      "the others are inferred.", show_default=False, metavar="COL=TYPE"),
    ] = None,
    semi_supervised: Annotated[
        bool,
        typer.Option("--semi-supervised", help="Train M2: a classifier q(y|x) plus p(x|y,z), on partly labelled data."),
    ] = False,
    conditional: Annotated[
        bool, typer.Option("--conditional", help="Train a conditional VAE p(x|y,z) (every example labelled).")
    ] = False,
    labels: Annotated[
        Optional[Path],
        typer.Option("--labels", help="Label file (.csv or .npy) replacing the data's labels; -1/empty = unlabelled.",
                     show_default=False, metavar="FILE"),
    ] = None,
    label_fraction: Annotated[
        Optional[float], typer.Option(help="Keep this fraction of the labels (at least one per class), hide the rest.",
                                      show_default=False, metavar="F")
    ] = None,
    labelled_per_class: Annotated[
        Optional[int], typer.Option(help="Keep this many labels per class, hide the rest.", show_default=False,
                                    metavar="N")
    ] = None,
    label_seed: Annotated[int, typer.Option(min=0, help="Seed of which labels are kept.")] = 0,
    labelled_per_batch: Annotated[
        Optional[int], typer.Option(min=1, help="Labelled examples appended to each batch (--semi-supervised); "
                                                "default: every label, at most --batch-size.", show_default=False,
                                    metavar="N")
    ] = None,
    classifier_weight: Annotated[
        Optional[float], typer.Option(min=0, help="Weight alpha of the classification loss (--semi-supervised).",
                                      show_default=False)
    ] = None,
    auxiliary_dim: Annotated[
        Optional[int], typer.Option(min=0, help="Auxiliary latent size of an ADGM (Maaloe et al. 2016) on top of "
                                                "M2 (--semi-supervised); 0 = plain M2.", show_default=False)
    ] = None,
    stack_on: Annotated[
        Optional[Path],
        typer.Option("--stack-on", show_default=False, metavar="RUN",
                     help="Train M1+M2 over the codes of the VAE in this run (implies --semi-supervised)."),
    ] = None,
    m2_on_pixels: Annotated[
        bool, typer.Option("--m2-on-pixels", help="With --semi-supervised on grey images: train M2 on the pixels "
                                                   "instead of M1+M2 (the default there).")
    ] = False,
    limit: LimitOpt = None,
    resume: Annotated[bool, typer.Option("--resume", help="Continue the run in --out from its checkpoint.")] = False,
    overwrite: OverwriteOpt = False,
    threads: ThreadsOpt = None,
    quiet: QuietOpt = False,
    device: DeviceOpt = "auto",
    precision: Annotated[
        Optional[str], typer.Option("--precision", help="fp32, bf16, fp16 (autocast of the forward pass) or auto (bf16 where the device runs it natively).",
                                    show_default=False)
    ] = None,
    compile_objective: Annotated[
        bool, typer.Option("--compile", help="Compile the objective with torch.compile (a one-off compile, faster steps).")
    ] = False,
) -> None:
    """Train a VAE (or, with --autoencoder, a deterministic autoencoder) on DATA into the run directory --out."""
    from ..tasks.runs import collapse_warning, train_run, training_summary

    _console.seed_everything(0 if seed is None else seed)
    _console.set_threads(threads)
    from ..distributed import launched_by_torchrun, setup

    main_rank = True
    if launched_by_torchrun():  # `torchrun --nproc-per-node N -m vaekit train ...`: data-parallel (vaekit.distributed)
        main_rank = setup().is_main
        quiet = quiet or not main_rank
    if model is not None:
        if net is not None and net != model:
            raise ConfigError(f"--model is the old name of --net; got --net {net} and --model {model}. "
                              f"Give --net only.")
        _console.stderr().print("Warning: --model is deprecated; use --net (the 'net' field).", style="yellow",
                                markup=False)
        net = model
    if semi_supervised and conditional:
        raise ConfigError("--semi-supervised and --conditional are two different models; choose one "
                          "(--conditional needs every label, --semi-supervised also learns from unlabelled data).")
    conditioning = ("conditional" if conditional
                    else "semi_supervised" if semi_supervised or stack_on is not None else None)
    model_options = {
        "conditioning": conditioning,
        "classifier_weight": classifier_weight,
        "auxiliary_dim": auxiliary_dim,
        "net": net,
        "conv_channels": _int_tuple(conv_channels, "conv_channels"),
        "activation": activation,
        "missing": missing,
        "corruption": corruption,
        "corruption_level": corruption_level,
        "latent_dim": latent_dim,
        "hidden_dims": _int_tuple(hidden_dims, "hidden_dims"),
        "likelihood": likelihood,
        "prior": prior,
        "prior_options": {k: v for k, v in (("components", prior_components), ("layers", latent_layers))
                          if v is not None} or None,
        "beta": beta,
        "free_bits": free_bits,
        "iwae_k": iwae_k,
        "iwae_gradient": iwae_gradient,
    }
    train_options = {"epochs": epochs, "batch_size": batch_size, "lr": lr, "seed": seed, "kl_warmup": kl_warmup,
                     "kl_warmup_layers": _int_tuple(kl_warmup_layers, "kl_warmup_layers"),
                     "lr_schedule": lr_schedule, "val_fraction": val_fraction, "max_time": parse_duration(max_time),
                     "precision": precision, "compile": True if compile_objective else None,
                     "labelled_per_batch": labelled_per_batch}
    run, dataset = train_run(
        data, out, model_options=model_options, train_options=train_options, config_file=config,
        autoencoder=True if autoencoder else None, resume=resume, overwrite=overwrite, limit=limit,
        label_column=label_column, callbacks=_console.fit_callbacks(quiet, "training"),
        labels=labels, label_fraction=label_fraction, labelled_per_class=labelled_per_class, label_seed=label_seed,
        stack_on=stack_on, device=device, preset=preset, schema=_schema(schema), kind=_kind(kind, text_column),
        text_column=text_column, m1="none" if m2_on_pixels else "auto",
    )
    if not main_rank:
        return  # rank 0 reports
    summary = training_summary(run, dataset)
    _console.print_table("Trained", summary)
    from ..tasks.semisupervised import label_warning

    for warning in (collapse_warning(run.model, summary), label_warning(run.model)):
        if warning:
            _console.stderr().print(f"Warning: {warning}", style="yellow", markup=False)
    if getattr(run.model, "has_classifier", False):
        _console.stdout().print(f"Next: vaekit classify {out} {data} -o predictions.csv   |   "
                                f"vaekit sample {out} --label 0", markup=False)
    else:
        _console.stdout().print(f"Next: vaekit eval {out}   |   vaekit report {out}", markup=False)
    _console.print_wrote(out, what="Run directory")


def _kind(kind: Optional[str], text_column: Optional[str]) -> Optional[str]:
    if kind is not None and kind != "text":
        raise ConfigError(f"--kind takes 'text' (other kinds follow from the data). Got {kind!r} instead.")
    return "text" if kind or text_column else None


def _schema(items: list[str] | None) -> dict[str, str] | None:
    """``["zip=categorical", ...]`` -> ``{"zip": "categorical"}`` (types are checked against the table)."""
    if not items:
        return None
    out = {}
    for item in items:
        col, sep, kind = item.partition("=")
        if not sep or not col.strip():
            raise ConfigError(f"--schema takes COL=TYPE (e.g. zip=categorical); got {item!r}.")
        out[col.strip()] = kind.strip()
    return out
