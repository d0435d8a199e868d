"""``vaekit latent RUN DATA``: the latent space, posterior means coloured by label (PNG or interactive HTML)."""

from __future__ import annotations

import contextlib

from pathlib import Path
from typing import Annotated

import typer

from . import _console
from ._options import DataArg, OutputOpt, Reduction, RunDirArg, SeedOpt, DeviceOpt

EPILOG = """\
[bold]Examples[/bold]

  vaekit latent runs/digits mnist5k -o latent.png

  vaekit latent runs/digits mnist5k --method umap -o latent.html

  vaekit latent runs/table data.csv --max-points 5000 --method tsne -o latent.png

With latent_dim > 2 the means are projected to 2-D with --method (pca, tsne, or umap with \
pip install 'vaekit\\[umap]'); the plot says which. An .html output is one self-contained page: hover a \
point to see its image or table row. With latent_dim = 2 the decoded grid over the prior's quantiles \
is written too, beside -o as NAME_manifold.png."""


def latent(
    run: RunDirArg,
    data: DataArg,
    output: OutputOpt = Path("latent.png"),
    max_points: Annotated[int, typer.Option(min=2, help="Examples to plot (the first ones of DATA).")] = 2000,
    steps: Annotated[int, typer.Option(min=2, help="Rows and columns of the manifold grid (latent_dim = 2).")] = 15,
    method: Annotated[
        Reduction, typer.Option(help="Projection to 2-D when latent_dim > 2.")
    ] = Reduction.pca,
    seed: SeedOpt = 0,
    device: DeviceOpt = "auto",
) -> None:
    """Scatter the posterior means of DATA's examples, coloured by label (.png/.svg/.pdf, or interactive .html)."""
    from ..tasks import visualize
    from ..tasks.latent_page import import_umap, latent_scatter_figure, write_latent_html
    from ..tasks.runs import load_run, run_data

    _console.seed_everything(seed)
    model = load_run(run, device=device)
    dataset = run_data(model, data, split="test", limit=max_points)
    slow = model.latent_dim > 2 and method.value in ("tsne", "umap")  # PCA is instant; these take a while
    what = {"tsne": "t-SNE", "umap": "UMAP"}.get(method.value, method.value)
    codes = "posterior means" if getattr(model, "has_density", True) else "codes"
    if slow and method.value == "umap":
        with _console.missing_extra_is_one_line():
            import_umap()  # a missing extra is said before anything is announced
    projecting = (_console.status(f"Projecting {min(len(dataset), max_points):,} {codes} to 2-D with {what}")
                  if slow else contextlib.nullcontext())
    with _console.missing_extra_is_one_line(), projecting:
        if output.suffix.lower() in (".html", ".htm"):
            first = write_latent_html(output, model, dataset, method=method.value, seed=seed, max_points=max_points)
        else:
            figure = latent_scatter_figure(model, dataset, method=method.value, seed=seed, max_points=max_points)
            first = visualize.save_picture(figure, output)
    written = [first]
    if model.latent_dim == 2:
        manifold = output.with_name(f"{output.stem}_manifold.png")
        written.append(visualize.save_picture(visualize.manifold_picture(model, steps=steps), manifold))
    _console.print_wrote(*written)
