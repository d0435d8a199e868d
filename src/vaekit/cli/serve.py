"""``vaekit serve RUN``: the REST API and the explorer page for one trained model (FastAPI + uvicorn)."""

from __future__ import annotations

import ipaddress
from enum import Enum
from typing import Annotated, List, Optional

import typer

from . import _console
from ._options import RunDirArg, SeedOpt, ThreadsOpt, DeviceOpt

#: uvicorn's log levels.
LogLevel = Enum("LogLevel", [(n, n) for n in ("critical", "error", "warning", "info", "debug")], type=str)

EPILOG = """\
[bold]Examples[/bold]

  vaekit serve runs/digits

  vaekit serve runs/digits --port 8080 --max-batch 64

  vaekit serve runs/table --data data.csv --cors-origin http://localhost:3000

Open http://127.0.0.1:8000/ for the explorer page (latent canvas, sliders, interpolation, sampling, \
upload) and /docs for the API (GET /info, POST /sample, /encode, /decode, /reconstruct, /interpolate, \
/score). Needs the serve extra: pip install 'vaekit\\[serve]'. The server binds to 127.0.0.1 unless \
--host says otherwise, and sends no CORS headers unless --cors-origin is given."""


def serve(
    run: RunDirArg,
    host: Annotated[str, typer.Option(help="Address to bind (127.0.0.1: this machine only).")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=0, max=65535, help="Port to listen on.")] = 8000,
    data: Annotated[
        Optional[str],
        typer.Option("--data", help="Examples shown on the latent canvas \\[default: the run's training data, when "
                                    "it can be loaded].", show_default=False, metavar="DATA"),
    ] = None,
    max_batch: Annotated[int, typer.Option(min=1, help="Most examples, samples or steps per request (more: 413).")] = 256,
    max_body_mb: Annotated[float, typer.Option(min=0.001, help="Largest request body in MiB (more: 413).")] = 4.0,
    max_work: Annotated[
        int, typer.Option(min=1, help="Most likelihood evaluations per /score request: examples x k (iwae) or x "
                                      "n_samples (elbo); more: 413.")
    ] = 25600,
    body_timeout: Annotated[
        float, typer.Option(min=0.1, help="Seconds a request body may take to arrive (slower: 408, connection closed).")
    ] = 30.0,
    max_points: Annotated[int, typer.Option(min=0, help="Dots on the latent canvas (a seeded subset of the data).")] = 2000,
    cors_origin: Annotated[
        Optional[List[str]],
        typer.Option("--cors-origin", help="Origin allowed to call the API from another page (repeatable; "
                                           "default: none, CORS off).", show_default=False, metavar="URL"),
    ] = None,
    threads: ThreadsOpt = None,
    seed: SeedOpt = 0,
    log_level: Annotated[LogLevel, typer.Option(help="uvicorn's log level.")] = LogLevel.info,
    device: DeviceOpt = "auto",
) -> None:
    """Serve RUN over HTTP: a JSON API (docs at /docs) and the explorer page at /."""
    with _console.missing_extra_is_one_line():
        try:
            import uvicorn
        except ImportError as e:
            raise ImportError("vaekit serve needs uvicorn: pip install 'vaekit[serve]'") from e
        from ..serve import create_app

        _console.setup(seed, threads)
        app = create_app(run, data=data, max_batch=max_batch, max_body_bytes=int(max_body_mb * 2**20),
                         max_work=max_work, body_timeout=body_timeout, max_points=max_points,
                         cors_origins=tuple(cors_origin or ()), seed=seed, device=device)
    model = app.state.model
    _console.print_table(
        f"Serving {run}",
        {
            "model": f"{type(model).__name__} (latent_dim {model.latent_dim}, {model.config.likelihood})",
            "explorer": f"http://{_url_host(host)}:{port}/",
            "API docs": f"http://{_url_host(host)}:{port}/docs",
            "limits": f"{max_batch} examples, {max_body_mb:g} MiB, {max_work:,} likelihood evaluations per request",
            "CORS": ", ".join(cor for cor in cors_origin) if cors_origin else "off",
        },
    )
    if not _is_loopback(host):
        _console.stderr().print(f"[yellow]Warning: listening on {host}, reachable from other machines; the API has "
                                f"no authentication.[/yellow]")
    uvicorn.run(app, host=host, port=port, log_level=log_level.value)


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _url_host(host: str) -> str:
    return f"[{host}]" if ":" in host else host
