"""``vaekit analogy RUN --from IMAGE --labels 0-9``: keep an image's style z, change its class y."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, List, Optional

import typer

from ..errors import DataError
from . import _console
from ._options import DataOpt, OutputOpt, RunDirArg, DeviceOpt

EPILOG = """\
[bold]Examples[/bold]

  vaekit analogy runs/m2 --from digit.png --labels 0-9 -o analogies.png

  vaekit analogy runs/m2 --from 0 --from 1 --from 2 -o analogies.png

  vaekit analogy runs/cvae --from cat.png --style-label cat --labels dog,cat -o swap.png

Each row is one --from image (an image file, or an index into --data, default the run's own data): \
the image itself, then its posterior mean z decoded as each class of --labels ("0-9", "1,3,5" or class \
names; default all): the style-transfer figure of Kingma et al. 2014. A semi-supervised run reads an \
image's class with its classifier; a conditional VAE needs it (--style-label, or the data's label for \
an index)."""


def analogy(
    run: RunDirArg,
    from_: Annotated[
        List[str],
        typer.Option("--from", help="A style image: an image file or an index into the data (repeatable).",
                     metavar="IMAGE", show_default=False),
    ],
    labels: Annotated[
        Optional[str],
        typer.Option("--labels", help="Classes to decode as: '0-9', '1,3,5' or names \\[default: all].",
                     show_default=False, metavar="LABELS"),
    ] = None,
    style_label: Annotated[
        Optional[List[str]],
        typer.Option("--style-label", help="The class of each --from image (one, or one per --from); "
                     "default: the classifier's guess, or the data's label for an index.",
                     show_default=False, metavar="LABEL"),
    ] = None,
    data: DataOpt = None,
    output: OutputOpt = Path("analogies.png"),
    device: DeviceOpt = "auto",
) -> None:
    """Decode each --from image's latent code z with every class of --labels."""
    import torch

    from ..tasks import generate, semisupervised as semi, visualize
    from ..tasks.runs import load_run, run_data

    model = load_run(run, device=device)
    semi.check_conditional(model, "An analogy")
    targets = semi.parse_labels(model, labels)
    needs_data = any(_index(ref) is not None for ref in from_)
    dataset = run_data(model, data, split="test") if needs_data else None
    xs, captions, known = [], [], []
    for ref in from_:
        x, caption = generate.resolve_example(ref, model, dataset)
        xs.append(x)
        captions.append(caption)
        i = _index(ref)
        y = None if i is None or dataset is None or dataset.y is None else int(dataset.y[i % len(dataset)])
        known.append(y if y is not None and y >= 0 else None)
    y_style = None
    if style_label:
        if len(style_label) not in (1, len(from_)):
            raise DataError(f"Got {len(style_label)} --style-label values for {len(from_)} --from images; give one "
                            f"for all or one per image.")
        given = [semi.label_index(model, s) for s in style_label]
        y_style = given * len(from_) if len(given) == 1 else given
    elif not model.has_classifier and all(y is not None for y in known):
        y_style = known
    picture = semi.analogy_picture(model, torch.stack(xs), targets, y_style=y_style, row_labels=captions)
    _console.print_wrote(visualize.save_picture(picture, output))


def _index(ref: str) -> int | None:
    try:
        return int(ref.strip())
    except ValueError:
        return None
