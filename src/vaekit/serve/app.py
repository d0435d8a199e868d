"""The FastAPI app behind ``vaekit serve``: a JSON API over one trained model and the explorer page.

Routes (OpenAPI docs at ``/docs``):

========================  ============================================================================
``GET /``                 the explorer page (static HTML/JS/CSS from ``vaekit/serve/static``; no CDN)
``GET /info``             model config, data kind and shape, metrics, limits, how ``/score`` scores
``GET /latent``           the training data's posterior means in 2-D (PCA when latent_dim > 2) for the page
``POST /sample``          decode draws z ~ p(z) (``n``, ``temperature``, ``seed``)
``POST /encode``          inputs -> posterior means and standard deviations
``POST /decode``          latent codes -> decoder means
``POST /reconstruct``     inputs -> decoder means at their posterior means
``POST /interpolate``     two latent codes (or two inputs) -> ``steps`` decoded points between them
``POST /score``           inputs -> anomaly scores (negative ELBO or negative IWAE bound, in nats)
``POST /{verb}/upload``   multipart upload (image files, or a CSV file of rows) for encode, reconstruct, score
========================  ============================================================================

Safety: the model is loaded once; inference runs under :func:`torch.inference_mode`; request bodies
above ``max_body_bytes``, batches above ``max_batch``, ``/score`` requests above ``max_work`` likelihood
evaluations and images above ``max_image_pixels`` (checked from the header, before decoding) get a 413
with a message that the client receives (an oversized body is read and discarded first); a body that
does not arrive within ``body_timeout`` gets a 408; bad input gets a 422 naming the field and the
expected shape, and so do inputs whose results are not finite (a score that cannot be computed is
refused, never reported as 0); requests never name files on the server; CORS is off unless
``cors_origins`` is given. ``/docs`` serves Swagger UI's files from this machine (``fastapi-offline``).
"""

import asyncio
import base64
import binascii
import csv
import io
import logging
import math
import os
import threading
from pathlib import Path
from typing import Any, Callable, Literal, Optional, Protocol, Sequence

import numpy as np
import torch

try:
    from fastapi import FastAPI, File, Form, HTTPException, Request, UploadFile
    from fastapi.exceptions import RequestValidationError
    from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
    from fastapi.responses import FileResponse, JSONResponse
    from fastapi.staticfiles import StaticFiles
except ImportError as e:  # pragma: no cover - exercised only without the extra installed
    raise ImportError("vaekit.serve needs FastAPI: pip install 'vaekit[serve]'") from e

from .._validation import Interval, check_param
from .._version import __version__
from ..errors import VaekitError
from .schemas import (
    DecodeRequest,
    EncodeRequest,
    Inputs,
    InterpolateRequest,
    OutputFormat,
    ReconstructRequest,
    SampleRequest,
    ScoreOptions,
    ScoreRequest,
)

__all__ = ["create_app", "LikelihoodScorer", "Scorer", "STATIC_DIR"]

logger = logging.getLogger(__name__)

#: The explorer page's files.
STATIC_DIR = Path(__file__).resolve().parent / "static"
#: Image formats accepted from requests (decoded with Pillow).
IMAGE_FORMATS = ("PNG", "JPEG", "GIF", "BMP", "WEBP")
#: Likelihood evaluations (examples x samples) per slice of a /score request; each slice holds the model
#: lock on its own, so a large request never keeps other requests waiting for long.
SLICE_WORK = 2048


# ================================================================================================ scoring
class Scorer(Protocol):
    """What ``POST /score`` calls: anomaly scores for model-space inputs, higher = more anomalous.

    The default is :class:`LikelihoodScorer`; a detector trained on the run (for example one stored in
    the run directory) plugs in through ``create_app(..., scorer=...)``.
    """

    def describe(self) -> dict:
        """JSON-ready description for ``GET /info`` (at least ``name`` and ``higher_is``)."""

    def score(self, x: torch.Tensor, request: ScoreOptions) -> tuple[np.ndarray, dict]:
        """Scores of shape (n,) for ``x`` of shape (n, *data_shape), and what was computed (for the response)."""


class LikelihoodScorer:
    """Anomaly scores from the model's own likelihood: -ELBO or -IWAE_k per example, in nats.

    An :class:`~vaekit.Autoencoder` has no likelihood of x; it is scored by its reconstruction
    negative log-likelihood -log p(x | z = encoder(x)) instead.

    Parameters
    ----------
    model : VAE or Autoencoder

    Examples
    --------
    >>> import torch, vaekit
    >>> from vaekit.config import ModelConfig
    >>> from vaekit.serve.schemas import ScoreOptions
    >>> model = vaekit.VAE(ModelConfig(data_shape=(4,), latent_dim=2, hidden_dims=(8,), likelihood="gaussian"))
    >>> scores, what = LikelihoodScorer(model).score(torch.zeros(3, 4), ScoreOptions(method="iwae", k=10))
    >>> scores.shape, what["score"]
    ((3,), 'neg_iwae')
    """

    def __init__(self, model):
        self.model = model
        self.has_likelihood = bool(getattr(model, "has_density", True))

    def describe(self) -> dict:
        if not self.has_likelihood:
            return {"name": "reconstruction_nll", "higher_is": "more anomalous", "unit": "nats",
                    "methods": ["reconstruction_nll"],
                    "note": "An autoencoder has no likelihood; scores are -log p(x | z = encoder(x))."}
        return {"name": "likelihood", "higher_is": "more anomalous", "unit": "nats", "methods": ["elbo", "iwae"],
                "note": "method='elbo': -ELBO (closed-form KL); method='iwae': -IWAE_k, a tighter estimate of -log p(x)."}

    @torch.inference_mode()
    def score(self, x: torch.Tensor, request: ScoreOptions) -> tuple[np.ndarray, dict]:
        model = self.model
        g = torch.Generator(device=model.device).manual_seed(int(request.seed))
        x = x.to(model.device)
        if not self.has_likelihood:
            # (n,)  -log p(x|z) at the autoencoder's code
            s = -model.decode(model.encode(x).mean).log_prob(x)
            return s.cpu().numpy(), {"score": "reconstruction_nll"}
        if request.method == "iwae":
            s = -model.iwae(x, int(request.k), generator=g)  # (n,)  Burda et al. 2016, eq. 8
            return s.cpu().numpy(), {"score": "neg_iwae", "k": int(request.k)}
        s = -model.elbo(x, generator=g, n_samples=int(request.n_samples))  # (n,)
        return s.cpu().numpy(), {"score": "neg_elbo", "n_samples": int(request.n_samples)}


# ================================================================================================ errors
class _BodyTooLarge(HTTPException):
    def __init__(self, limit: int, size: int | None = None):
        got = f"of {size:,} bytes " if size is not None else ""
        super().__init__(413, f"Request body {got}exceeds the limit of {limit:,} bytes; send fewer or smaller "
                              f"examples per request (the server's max_body_bytes).")


def _invalid(loc: Sequence[Any], msg: str) -> RequestValidationError:
    """A 422 in FastAPI's own format: ``{"detail": [{"loc": [...], "msg": ..., "type": "value_error"}]}``."""
    return RequestValidationError([{"type": "value_error", "loc": ("body", *loc), "msg": msg, "input": None}])


class _BodyTimeout(HTTPException):
    def __init__(self, seconds: float):
        super().__init__(408, f"The request body did not arrive within {seconds:g} s (a Content-Length larger than "
                              f"the body sent?); the server stops waiting.", headers={"Connection": "close"})


class _BodyLimit:
    """ASGI middleware: bounded request bodies, in size and in time.

    * A body above ``limit`` bytes (by Content-Length, or counted as it streams in) gets a 413. The rest
      of the body is read and discarded first (up to ``drain`` bytes), so that a client that sends the
      whole body before reading receives the 413 instead of a connection reset. A body without a
      Content-Length (chunked) is read up to the limit before the app sees it: otherwise a parser that
      fails on the first bytes (a multipart form that is not one) would answer 400 or 413 depending on
      how the bytes happened to arrive.
    * A body that is not complete ``timeout`` seconds after the request started (a Content-Length
      larger than what is sent, or a client trickling bytes) gets a 408 and the connection is closed.
    """

    def __init__(self, app, limit: int, timeout: float, drain: int | None = None):
        self.app, self.limit, self.timeout = app, limit, timeout
        self.drain = drain if drain is not None else max(64 * 2**20, 16 * limit)

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.timeout
        headers = dict(scope.get("headers") or [])
        declared = headers.get(b"content-length")
        if declared is not None:
            try:
                size = int(declared)
            except ValueError:
                size = None
            if size is None or size < 0:
                await JSONResponse({"detail": "Invalid Content-Length header."}, status_code=400)(scope, receive, send)
                return
            if size > self.limit:
                # A client that waits for "100 Continue" has sent nothing yet: answer at once. Others are
                # sending: read what they send (up to the drain limit) so that they can read the answer.
                if b"100-continue" not in headers.get(b"expect", b"").lower() and size <= self.drain:
                    await self._discard(receive, deadline, loop)
                await self._reject(scope, receive, send, size)
                return
        seen = 0
        body_done = False
        if declared is None:  # chunked: read (at most limit + one message) before the app parses anything
            buffered: list = []
            while True:
                try:
                    message = await asyncio.wait_for(receive(), timeout=max(deadline - loop.time(), 0.0))
                except asyncio.TimeoutError:
                    e = _BodyTimeout(self.timeout)
                    await JSONResponse({"detail": e.detail}, status_code=e.status_code, headers=e.headers)(
                        scope, receive, send)
                    return
                buffered.append(message)
                if message["type"] != "http.request":
                    break
                seen += len(message.get("body", b""))
                if seen > self.limit:
                    if message.get("more_body", False):
                        await self._discard(receive, deadline, loop, seen)
                    await self._reject(scope, receive, send, None)
                    return
                if not message.get("more_body", False):
                    break
            upstream, seen = receive, 0  # guarded_receive counts the replayed body again

            async def receive():  # the buffered messages, then the connection's own (disconnect)
                return buffered.pop(0) if buffered else await upstream()

        async def guarded_receive():
            nonlocal seen, body_done
            if body_done:  # after the body: disconnect listeners wait as long as they like
                return await receive()
            try:
                message = await asyncio.wait_for(receive(), timeout=max(deadline - loop.time(), 0.0))
            except asyncio.TimeoutError:
                raise _BodyTimeout(self.timeout) from None
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                body_done = not message.get("more_body", False)
                if seen > self.limit:
                    if not body_done:
                        body_done = await self._discard(receive, deadline, loop, seen)
                    raise _BodyTooLarge(self.limit)
            else:
                body_done = True
            return message

        started = False

        async def tracked_send(message):
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, guarded_receive, tracked_send)
        except (_BodyTooLarge, _BodyTimeout) as e:  # raised where no exception handler turned it into a response
            if started:
                raise
            await JSONResponse({"detail": e.detail}, status_code=e.status_code, headers=e.headers)(scope, receive, send)

    async def _discard(self, receive, deadline: float, loop, seen: int = 0) -> bool:
        """Read and drop the rest of the body (bounded in bytes and time); True when it was all read."""
        while seen <= self.drain:
            try:
                message = await asyncio.wait_for(receive(), timeout=max(deadline - loop.time(), 0.0))
            except asyncio.TimeoutError:
                return False
            if message["type"] != "http.request":
                return False
            seen += len(message.get("body", b""))
            if not message.get("more_body", False):
                return True
        return False

    async def _reject(self, scope, receive, send, size):
        error = _BodyTooLarge(self.limit, size)
        await JSONResponse({"detail": error.detail}, status_code=413)(scope, receive, send)


def _docs_assets() -> Path | None:
    """The folder with Swagger UI's and ReDoc's files, from the ``fastapi-offline`` package (None without it).

    Found without importing the package; FastAPI's own ``get_swagger_ui_html`` renders the page with them.
    """
    import importlib.util

    spec = importlib.util.find_spec("fastapi_offline")
    if spec is None or not spec.submodule_search_locations:
        return None
    folder = Path(list(spec.submodule_search_locations)[0]) / "static"
    need = ("swagger-ui-bundle.js", "swagger-ui.css", "redoc.standalone.js")
    return folder if all((folder / f).is_file() for f in need) else None


def _finite_rows(t: torch.Tensor) -> torch.Tensor:
    """(n,) True where every value of the example is finite."""
    return torch.isfinite(t.detach().reshape(len(t), -1)).all(1) if t.numel() else torch.ones(len(t), dtype=torch.bool)


def _refuse_non_finite(values: dict, loc: tuple = ()) -> None:
    """422 unless every example's results are finite: a score or code that cannot be computed is never 'normal'."""
    for what, t in values.items():
        ok = _finite_rows(torch.as_tensor(t))
        if not bool(ok.all()):
            bad = torch.nonzero(~ok).reshape(-1).tolist()
            rows = ", ".join(map(str, bad[:10])) + (", ..." if len(bad) > 10 else "")
            raise _invalid(loc, f"example{'s' if len(bad) > 1 else ''} {rows}: the {what} is not finite (the model "
                                f"overflowed on values far outside the range it was trained on); it cannot be "
                                f"computed, so it is refused rather than reported.")


# ================================================================================================ the service
class _Service:
    """The model, its data spec and the conversions between JSON and model space."""

    def __init__(self, model, *, max_batch: int, max_image_pixels: int):
        self.model = model.eval()
        self.spec = model.data_spec
        self.max_batch = max_batch
        self.max_image_pixels = max_image_pixels
        self.kind = self.spec.kind if self.spec is not None else ("image" if len(model.data_shape) == 3 else "array")

    @property
    def default_output(self) -> str:
        return {"image": "png", "table": "records", "text": "text"}.get(self.kind, "array")

    def check_batch(self, n: int, what: str) -> None:
        if n > self.max_batch:
            raise HTTPException(413, f"'{what}' holds {n:,} items; this server takes at most {self.max_batch:,} per "
                                     f"request (max_batch). Split the request.")

    # ------------------------------------------------------------------ inputs
    def inputs_to_tensor(self, inp: Inputs, loc: tuple = ()) -> torch.Tensor:
        """Model-space tensor (n, *data_shape) from the one form of ``inp`` that is given."""
        if inp.images is not None:
            self.check_batch(len(inp.images), "images")
            return self.images_to_tensor([self._b64(s, (*loc, "images", i)) for i, s in enumerate(inp.images)],
                                         (*loc, "images"))
        if inp.texts is not None:
            self.check_batch(len(inp.texts), "texts")
            if self.kind != "text":
                raise _invalid((*loc, "texts"), f"'texts' is for text models; this one was trained on {self.kind} "
                                                f"data. Send {self.expected_input()}.")
            if not inp.texts:
                raise _invalid((*loc, "texts"), "'texts' is empty; send at least one sentence.")
            from ..data.text import encode_texts

            texts = list(inp.texts)
            return self._apply(lambda: torch.as_tensor(encode_texts(texts, self.spec)), (*loc, "texts"), len(texts))
        if inp.arrays is not None:
            self.check_batch(len(inp.arrays), "arrays")
            a = self._numbers(inp.arrays, (*loc, "arrays"))
            return self._apply(lambda: self._array_input(a), (*loc, "arrays"), len(a))
        records = inp.records or []
        self.check_batch(len(records), "records")
        if not records:
            raise _invalid((*loc, "records"), "'records' is empty; send at least one row.")
        import pandas as pd

        frame = pd.DataFrame.from_records(records)
        return self._apply(lambda: self._frame_input(frame), (*loc, "records"), len(records))

    def images_to_tensor(self, files: list[bytes], loc: tuple) -> torch.Tensor:
        """Model-space tensor from image files (PNG, JPEG, ...), converted like the training images."""
        from ..data import apply_spec

        if not files:
            raise _invalid(loc, "is empty; send at least one image.")
        images = [self._open_image(raw, (*loc, i)) for i, raw in enumerate(files)]
        return self._apply(lambda: apply_spec(images, self.spec, name="images"), loc, len(images))

    def _apply(self, convert: Callable[[], torch.Tensor], loc: tuple, n: int) -> torch.Tensor:
        try:
            with np.errstate(over="ignore", invalid="ignore"):  # values beyond float32 become inf: refused below
                x = convert()
        except (VaekitError, ValueError, TypeError, KeyError) as e:
            raise _invalid(loc, f"{e} Expected {self.expected_input()}.") from e
        if len(x) != n or tuple(x.shape[1:]) != tuple(self.model.data_shape):  # pragma: no cover - apply_spec's contract
            raise _invalid(loc, f"got {n} examples of shape {tuple(x.shape[1:])}; expected {self.expected_input()}.")
        # NaN is a missing value for a model trained with missing="ignore"; infinity never is.
        allows_nan = getattr(self.model.config, "missing", "none") == "ignore"
        bad = torch.isinf(x) if allows_nan else ~torch.isfinite(x)
        if bool(bad.any()):
            rows = torch.nonzero(bad.reshape(len(x), -1).any(1)).reshape(-1).tolist()
            raise _invalid(loc, f"example{'s' if len(rows) > 1 else ''} {', '.join(map(str, rows[:10]))}: values are "
                                f"not finite after preprocessing (NaN, infinity, or beyond float32's range of "
                                f"3.4e38); expected {self.expected_input()}.")
        return x

    def expected_input(self) -> str:
        shape = tuple(self.model.data_shape)
        if self.kind == "image":
            return (f"images: base64 PNG/JPEG files, or 'arrays' of shape (n, {', '.join(map(str, shape))}), "
                    f"(n, H, W) or (n, {math.prod(shape)}) with integers 0..255 or floats in [0, 1]")
        if self.kind == "table":
            cols = self.spec.numeric_columns + self.spec.categorical_columns
            return f"'records' with the columns {', '.join(cols)}"
        if self.kind == "text":
            return "'texts': sentences as strings"
        return f"'arrays' of shape (n, {math.prod(shape)})"

    def _array_input(self, a: np.ndarray) -> torch.Tensor:
        from ..data import apply_spec

        if self.spec is not None:
            return apply_spec(a, self.spec, name="arrays")
        return self.model.check_input(torch.as_tensor(a, dtype=torch.float32))

    def _frame_input(self, frame) -> torch.Tensor:
        from ..data import apply_spec

        if self.spec is None:
            raise ValueError("this model records no data spec, so table rows cannot be mapped to its inputs.")
        return apply_spec(frame, self.spec, name="records")

    @staticmethod
    def _numbers(values: list, loc: tuple) -> np.ndarray:
        try:
            a = np.asarray(values)
        except ValueError as e:  # ragged nesting
            raise _invalid(loc, "must be a rectangular nested list of numbers (every row the same shape).") from e
        if a.dtype.kind not in "iuf" or a.size == 0:
            what = "is empty" if a.size == 0 else "holds values that are not numbers"
            raise _invalid(loc, f"{what}; expected a rectangular nested list of numbers.")
        return a

    @staticmethod
    def _b64(text: str, loc: tuple) -> bytes:
        if text.startswith("data:"):
            head, _, text = text.partition(",")
            if ";base64" not in head:
                raise _invalid(loc, "is a data URL without ';base64'; expected base64 PNG/JPEG bytes.")
        try:
            return base64.b64decode("".join(text.split()), validate=True)
        except (binascii.Error, ValueError) as e:
            raise _invalid(loc, f"is not valid base64 ({e}); expected a base64-encoded PNG or JPEG file.") from e

    def _open_image(self, raw: bytes, loc: tuple):
        from PIL import Image, UnidentifiedImageError

        if self.kind != "image":
            raise _invalid(loc, f"image files only work for models trained on images; this one was trained on "
                                f"{self.kind} data. Send {self.expected_input()}.")
        try:
            im = Image.open(io.BytesIO(raw))
        except (Image.DecompressionBombError, Image.DecompressionBombWarning) as e:  # the warning, when made an error
            raise HTTPException(413, f"Image at {'.'.join(map(str, loc))} is too large to decode ({e}); this server "
                                     f"takes at most {self.max_image_pixels:,} pixels per image.") from e
        except (UnidentifiedImageError, OSError, ValueError) as e:
            raise _invalid(loc, f"is not a readable image file; expected one of {', '.join(IMAGE_FORMATS)}.") from e
        if im.format not in IMAGE_FORMATS:
            raise _invalid(loc, f"is a {im.format} image; expected one of {', '.join(IMAGE_FORMATS)}.")
        # Checked before decoding: a small compressed file can unpack to gigabytes of pixels.
        if im.width * im.height > self.max_image_pixels:
            raise HTTPException(413, f"Image at {'.'.join(map(str, loc))} is {im.width}x{im.height} pixels; this "
                                     f"server takes at most {self.max_image_pixels:,} pixels per image.")
        try:
            im.load()
        except Exception as e:  # Pillow raises many types for corrupt data (OSError, SyntaxError, ...)
            raise _invalid(loc, f"could not be decoded ({e}); expected a valid PNG or JPEG file.") from e
        return im

    # ------------------------------------------------------------------ outputs
    def outputs(self, x: torch.Tensor, fmt: Optional[str], loc: tuple = ("output",)) -> dict:
        """JSON-ready decoder outputs: ``format``, ``n``, ``shape`` and ``images`` / ``arrays`` / ``records``."""
        from ..tasks.generate import to_data_range

        fmt = fmt or self.default_output
        x = torch.nan_to_num(x.detach().float().cpu(), nan=0.0, posinf=0.0, neginf=0.0)
        out: dict[str, Any] = {"format": fmt, "n": int(x.shape[0]), "shape": [int(s) for s in x.shape]}
        if fmt == "png":
            if self.kind != "image":
                raise _invalid(loc, f"'png' is for image models; this one was trained on {self.kind} data. "
                                    f"Use '{self.default_output}'.")
            out["images"] = [_png_b64(a) for a in _uint8_images(x)]
        elif fmt == "text":
            if self.kind != "text":
                raise _invalid(loc, f"'text' is for text models; this one was trained on {self.kind} data. "
                                    f"Use '{self.default_output}'.")
            from ..data.text import decode_ids

            out["texts"] = decode_ids(x, self.spec)
        elif fmt == "records":
            if self.kind != "table":
                raise _invalid(loc, f"'records' is for table models; this one was trained on {self.kind} data. "
                                    f"Use '{self.default_output}'.")
            from ..data import decode_table

            frame = decode_table(x.numpy(), self.spec)
            out["columns"] = [str(c) for c in frame.columns]
            out["records"] = [{str(k): _cell(v) for k, v in row.items()} for row in frame.to_dict(orient="records")]
        else:
            a = to_data_range(x, self.spec)
            out["arrays"] = np.nan_to_num(a.astype(np.float64) if a.dtype.kind == "f" else a).tolist()
            out["dtype"] = str(a.dtype)
        return out

    def latent_matrix(self, z: list, loc: tuple) -> torch.Tensor:
        d = self.model.latent_dim
        self.check_batch(len(z), loc[-1])
        if not z:
            raise _invalid(loc, f"is empty; expected shape (n, {d}) with n >= 1.")
        for i, row in enumerate(z):
            if len(row) != d:
                raise _invalid((*loc, i), f"has {len(row)} values; expected shape (n, {d}): latent_dim is {d}.")
        return torch.tensor(z, dtype=torch.float32)

    def latent_vector(self, z: list, loc: tuple) -> torch.Tensor:
        d = self.model.latent_dim
        if len(z) != d:
            raise _invalid(loc, f"has {len(z)} values; expected shape ({d},): latent_dim is {d}.")
        return torch.tensor(z, dtype=torch.float32)


def _uint8_images(x: torch.Tensor) -> np.ndarray:
    from .. import viz

    return viz.to_uint8_images(x.clamp(0, 1).numpy())  # (n, H, W, C)


def _png_b64(a: np.ndarray) -> str:
    from PIL import Image

    from .. import viz

    im = Image.fromarray(a[:, :, 0] if a.shape[2] == 1 else a)
    return base64.b64encode(viz.image_to_png_bytes(im)).decode("ascii")


def _cell(v):
    if isinstance(v, (float, np.floating)):
        f = float(v)
        return f if math.isfinite(f) else None
    if isinstance(v, np.integer):
        return int(v)
    if isinstance(v, (np.bool_, bool)):
        return bool(v)
    return v if isinstance(v, (int, str)) or v is None else str(v)


def _floats(a) -> list:
    """Finite float lists for JSON (NaN/inf become 0, which a finite model never produces)."""
    a = a.detach().cpu().numpy() if isinstance(a, torch.Tensor) else np.asarray(a)
    return np.nan_to_num(a.astype(np.float64), nan=0.0, posinf=0.0, neginf=0.0).tolist()


# ================================================================================================ the latent map
def _latent_map(model, data, max_points: int, seed: int) -> dict:
    """Posterior means of (up to ``max_points`` of) ``data``, projected to 2-D, and the projection itself."""
    from ..tasks.generate import posterior_means

    d = model.latent_dim
    out: dict[str, Any] = {"latent_dim": d, "points": [], "labels": None, "label_names": [], "n": 0,
                           "projection": None, "axes": ["z[0]", "z[1]" if d > 1 else ""], "note": ""}
    z = None
    if data is not None and len(data) > 0:
        n = min(len(data), max_points)
        # a seeded subset spread over the data (not just its first rows)
        idx = np.sort(np.random.default_rng(seed).permutation(len(data))[:n])
        sub = data.get(torch.as_tensor(idx))
        from ..data import Dataset

        ds = Dataset(sub, None if data.y is None else data.y[idx], data.spec)
        z, labels = posterior_means(model, ds)
        out["n"] = int(n)
        out["labels"] = None if labels is None else labels.astype(int).tolist()
        out["label_names"] = list(data.spec.label_names)
        out["note"] = f"{'posterior means' if getattr(model, 'has_density', True) else 'codes'} of {n:,} training examples"
    centre = np.zeros(d) if z is None else z.mean(0)
    if d > 2 and z is not None and len(z) >= 2:
        from sklearn.decomposition import PCA

        pca = PCA(n_components=2, random_state=seed).fit(z)
        p2 = pca.transform(z)
        out["projection"] = {"mean": _floats(pca.mean_), "components": _floats(pca.components_),
                             "explained_variance_ratio": _floats(pca.explained_variance_ratio_)}
        out["axes"] = ["PC 1", "PC 2"]
        out["note"] += f", PCA of {d}-D codes ({100 * pca.explained_variance_ratio_.sum():.0f}% of variance)"
    elif d > 2:
        comps = np.eye(2, d)
        out["projection"] = {"mean": [0.0] * d, "components": _floats(comps), "explained_variance_ratio": None}
        p2 = None
    else:
        p2 = None if z is None else (z if d == 2 else np.concatenate([z, np.zeros((len(z), 1))], 1))
    if p2 is not None:
        out["points"] = _floats(np.round(p2, 4))
        lo, hi = p2.min(0), p2.max(0)
    else:
        lo, hi = np.full(2, -3.0), np.full(2, 3.0)
    pad = np.maximum((hi - lo) * 0.08, 0.25)
    out["bounds"] = _floats(np.stack([lo - pad, hi + pad]))  # [[xmin, ymin], [xmax, ymax]]
    zlo = np.full(d, -3.0) if z is None else np.minimum(z.min(0), -3.0)
    zhi = np.full(d, 3.0) if z is None else np.maximum(z.max(0), 3.0)
    out["slider_range"] = _floats(np.stack([zlo, zhi]))  # (2, latent_dim)
    out["centre"] = _floats(centre)
    return out


def _metrics(run) -> dict:
    """The last row of ``metrics.csv`` and ``eval.json`` of the run (a Run, or None for a bare model)."""
    out: dict[str, Any] = {"last_epoch": None, "eval": None}
    path = None if run is None else run.metrics_path
    if path is not None:
        try:
            with open(path, encoding="utf-8", newline="") as f:
                rows = list(csv.DictReader(f))
            if rows:
                out["last_epoch"] = {k: _number(v) for k, v in rows[-1].items()}
        except (OSError, csv.Error, UnicodeDecodeError) as e:
            logger.warning("Could not read %s: %s", path, e)
    if run is not None and run.path is not None:
        from ..tasks.runs import read_eval

        out["eval"] = read_eval(run.path)
    return out


def _number(v: str):
    try:
        f = float(v)
    except (TypeError, ValueError):
        return v
    if not math.isfinite(f):
        return None
    return int(f) if f.is_integer() and "." not in v and "e" not in v.lower() else f


# ================================================================================================ the app
def create_app(
    run_or_model,
    *,
    data=None,
    max_batch: int = 256,
    max_body_bytes: int = 4 * 2**20,
    max_image_pixels: int = 2048 * 2048,
    max_work: int = 256 * 100,
    body_timeout: float = 30.0,
    max_points: int = 2000,
    cors_origins: Sequence[str] = (),
    scorer: Scorer | None = None,
    seed: int = 0,
    device: str | None = None,
) -> FastAPI:
    """Build the FastAPI app serving one model: the JSON API and the explorer page.

    Parameters
    ----------
    run_or_model : str, PathLike, VAE or Autoencoder
        A run directory (loaded once, here) or a model.
    data : Dataset, str or None
        Examples shown as dots on the page's latent canvas. None: the run's own training data when it
        can be loaded (a builtin or a file that still exists), else no dots. A string is a data source
        (builtin name or path) preprocessed like the training data.
    max_batch : int
        Most examples (or samples, or interpolation steps) per request; more gives a 413.
    max_body_bytes : int
        Largest request body; more gives a 413 before the body is read.
    max_image_pixels : int
        Largest image (width x height) accepted from a request; checked before it is decoded.
    max_work : int
        Most likelihood evaluations per ``/score`` request: examples times ``k`` (``method="iwae"``) or
        times ``n_samples`` (``"elbo"``); more gives a 413. The work runs in slices of ``SLICE_WORK``
        evaluations, each holding the model lock on its own, so other requests interleave.
    body_timeout : float
        Seconds a request body may take to arrive in full; a slower one (or a Content-Length larger than
        the body) gets a 408 and its connection is closed.
    max_points : int
        Dots on the latent canvas (a seeded subset of ``data``).
    cors_origins : sequence of str
        Origins allowed to call the API from a browser page served elsewhere; empty (default) means
        no CORS headers, so only same-origin pages (the explorer itself) can.
    scorer : Scorer or None
        What ``POST /score`` uses; default :class:`LikelihoodScorer` (the model's own likelihood).
    seed : int
        Seed of the subset of ``data`` shown and of the PCA.

    Returns
    -------
    fastapi.FastAPI

    Examples
    --------
    >>> import vaekit
    >>> from fastapi.testclient import TestClient
    >>> data = vaekit.datasets.load("digits")
    >>> model = vaekit.VAE.for_data(data, latent_dim=2, hidden_dims=(16,))
    >>> client = TestClient(create_app(model, data=data, max_points=100))
    >>> client.post("/decode", json={"z": [[0.0, 0.5]]}).json()["shape"]
    [1, 1, 8, 8]
    >>> client.post("/sample", json={"n": 100000}).status_code
    413
    """
    from ..rundir import load_run

    for name, value, low in (("max_batch", max_batch, 1), ("max_body_bytes", max_body_bytes, 1),
                             ("max_image_pixels", max_image_pixels, 1), ("max_points", max_points, 0),
                             ("max_work", max_work, 1), ("seed", seed, 0)):
        check_param("create_app", name, value, Interval("int", low, None))
    check_param("create_app", "body_timeout", body_timeout, Interval("float", 0, None, closed="neither"))
    run = load_run(run_or_model) if isinstance(run_or_model, (str, os.PathLike)) else None
    model = run_or_model if run is None else run.model
    if device is not None and isinstance(model, torch.nn.Module):
        from ..training import resolve_device

        model = model.to(resolve_device(device))
    if not isinstance(model, torch.nn.Module) or not hasattr(model, "latent_dim"):
        from .._validation import param_error

        raise param_error("create_app", "run_or_model", "a run directory or a vaekit VAE/Autoencoder", run_or_model)
    model.eval()
    service = _Service(model, max_batch=max_batch, max_image_pixels=max_image_pixels)
    scorer = scorer if scorer is not None else LikelihoodScorer(model)
    points = _latent_map(model, _map_data(model, data), max_points, seed) if max_points else _latent_map(model, None, 0, seed)
    # Torch ops run in FastAPI's worker threads; the lock keeps one forward pass at a time so that
    # concurrent requests do not oversubscribe the CPU threads torch already uses inside each op.
    lock = threading.Lock()

    docs_assets = _docs_assets()
    if docs_assets is None:
        logger.warning("fastapi-offline is not installed: /docs and /redoc load their scripts from a CDN "
                       "(pip install 'vaekit[serve]' serves them from this machine).")
    app = FastAPI(
        title="vaekit serve",
        version=__version__,
        description=f"A trained {type(model).__name__} (latent_dim {model.latent_dim}, {service.kind} data of shape "
                    f"{tuple(model.data_shape)}). The explorer page is at /.",
        **({"docs_url": None, "redoc_url": None} if docs_assets is not None else {}),
    )
    app.state.model = model
    app.state.service = service
    app.add_middleware(_BodyLimit, limit=max_body_bytes, timeout=float(body_timeout))
    if cors_origins:
        from fastapi.middleware.cors import CORSMiddleware

        app.add_middleware(CORSMiddleware, allow_origins=list(cors_origins), allow_methods=["GET", "POST"],
                           allow_headers=["content-type"])

    @app.exception_handler(RequestValidationError)
    async def _invalid_request(request: Request, exc: RequestValidationError):
        # FastAPI's own handler echoes the offending input, which may not be JSON-encodable (NaN, raw
        # bytes); a 422 must never turn into a 500, so only type, location and message go back.
        errors = [{"type": str(e.get("type", "value_error")),
                   "loc": [p if isinstance(p, int) else str(p) for p in e.get("loc", ())],
                   "msg": str(e.get("msg", ""))} for e in exc.errors()]
        return JSONResponse({"detail": errors}, status_code=422)

    @app.exception_handler(VaekitError)
    async def _vaekit_error(request: Request, exc: VaekitError):  # library checks that slipped past ours
        return JSONResponse({"detail": [{"type": "value_error", "loc": ["body"], "msg": str(exc)}]}, status_code=422)

    def locked(fn):
        with lock, torch.inference_mode():
            return fn()

    # ------------------------------------------------------------------ pages and metadata
    @app.get("/", include_in_schema=False)
    def index():
        return FileResponse(STATIC_DIR / "index.html", media_type="text/html")

    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")

    if docs_assets is not None:  # the API docs with Swagger UI / ReDoc served from this machine (works offline)
        app.mount("/docs-static", StaticFiles(directory=docs_assets), name="docs-static")

        @app.get("/docs", include_in_schema=False)
        def docs_page():
            return get_swagger_ui_html(openapi_url=app.openapi_url, title=f"{app.title} - API docs",
                                       swagger_js_url="/docs-static/swagger-ui-bundle.js",
                                       swagger_css_url="/docs-static/swagger-ui.css",
                                       swagger_favicon_url="/docs-static/favicon.png")

        @app.get("/redoc", include_in_schema=False)
        def redoc_page():
            return get_redoc_html(openapi_url=app.openapi_url, title=f"{app.title} - API docs",
                                  redoc_js_url="/docs-static/redoc.standalone.js",
                                  redoc_favicon_url="/docs-static/favicon.png", with_google_fonts=False)

    info = {
        "class_name": type(model).__name__,
        "vaekit_version": __version__,
        "latent_dim": int(model.latent_dim),
        "model": model.config.to_dict(),
        "data": _data_info(model, service.kind),
        "metrics": _metrics(run),
        "score": scorer.describe(),
        "output_formats": [service.default_output] + (["array"] if service.default_output != "array" else []),
        "default_output": service.default_output,
        "limits": {"max_batch": max_batch, "max_body_bytes": max_body_bytes, "max_image_pixels": max_image_pixels,
                   "max_work": max_work, "body_timeout": float(body_timeout)},
    }

    @app.get("/info", summary="Model config, data kind and shape, metrics, limits")
    def get_info() -> dict:
        return info

    @app.get("/latent", summary="Training data posterior means in 2-D (PCA when latent_dim > 2)")
    def get_latent() -> dict:
        return points

    # ------------------------------------------------------------------ verbs
    @app.post("/sample", summary="Decode n draws z ~ p(z)")
    def post_sample(req: SampleRequest) -> dict:
        service.check_batch(req.n, "n")
        g = None if req.seed is None else torch.Generator(device=model.device).manual_seed(int(req.seed))

        def go():
            z = model.prior.sample(req.n, generator=g, temperature=float(req.temperature)).to(model.device)
            return z, model.decode(z).mean

        z, x = locked(go)
        out = service.outputs(x, req.output)
        if req.return_z:
            out["z"] = _floats(z)
        return out

    @app.post("/encode", summary="Posterior means and standard deviations of q(z|x)")
    def post_encode(req: EncodeRequest) -> dict:
        return _encode(service.inputs_to_tensor(req))

    def _encode(x: torch.Tensor) -> dict:
        q = locked(lambda: model.encode(x.to(model.device)))
        mean, std = q.mean, q.stddev  # (n, latent_dim) each
        _refuse_non_finite({"posterior mean": mean, "posterior standard deviation": std})
        return {"n": int(mean.shape[0]), "shape": [int(s) for s in mean.shape], "mean": _floats(mean),
                "std": _floats(std), "projected": _project(points, mean)}

    @app.post("/decode", summary="Decoder means E[x|z] of latent codes")
    def post_decode(req: DecodeRequest) -> dict:
        z = service.latent_matrix(req.z, ("z",))
        x = locked(lambda: model.decode(z.to(model.device)).mean)
        return service.outputs(x, req.output)

    @app.post("/reconstruct", summary="Decoder means at the posterior means of the inputs")
    def post_reconstruct(req: ReconstructRequest) -> dict:
        return _reconstruct(service.inputs_to_tensor(req), req.output)

    def _reconstruct(x: torch.Tensor, output: Optional[str]) -> dict:
        def go():
            q = model.encode(x.to(model.device))
            return q.mean, model.decode(q.mean).mean

        z, rec = locked(go)
        _refuse_non_finite({"posterior mean": z, "reconstruction": rec})
        out = service.outputs(rec, output)
        out["z"] = _floats(z)
        return out

    @app.post("/interpolate", summary="Decode steps points between two latent codes or two inputs")
    def post_interpolate(req: InterpolateRequest) -> dict:
        from ..model import interpolate_latents

        service.check_batch(req.steps, "steps")
        if req.inputs is not None:
            x = service.inputs_to_tensor(req.inputs, ("inputs",))
            if len(x) != 2:
                raise _invalid(("inputs",), f"holds {len(x)} examples; expected exactly 2 (the two ends).")
            ends = locked(lambda: model.encode(x.to(model.device)).mean)
            _refuse_non_finite({"posterior mean": ends}, ("inputs",))
            za, zb = ends[0], ends[1]
        else:
            za, zb = service.latent_vector(req.z_a, ("z_a",)), service.latent_vector(req.z_b, ("z_b",))
        z = interpolate_latents(za.cpu(), zb.cpu(), int(req.steps), spherical=bool(req.spherical))  # (steps, d)
        x = locked(lambda: model.decode(z.to(model.device)).mean)
        out = service.outputs(x, req.output)
        out["z"] = _floats(z)
        return out

    @app.post("/score", summary="Anomaly scores (higher = more anomalous), from the model's likelihood")
    def post_score(req: ScoreRequest) -> dict:
        return _score(service.inputs_to_tensor(req), req)

    def _score(x: torch.Tensor, req: ScoreOptions) -> dict:
        per_example = int(req.k) if req.method == "iwae" else int(req.n_samples)
        work = len(x) * per_example
        if work > max_work:
            what = f"k={req.k:,}" if req.method == "iwae" else f"n_samples={req.n_samples:,}"
            raise HTTPException(413, f"This request asks for {len(x):,} examples x {what} = {work:,} likelihood "
                                     f"evaluations; this server does at most {max_work:,} per request (max_work). "
                                     f"Lower {what.split('=')[0]} or send fewer examples per request.")
        rows = max(1, SLICE_WORK // per_example)
        parts, what = [], {}
        for start in range(0, len(x), rows):  # each slice takes the lock on its own: other requests interleave
            s, w = locked(lambda: scorer.score(x[start:start + rows], req))
            parts.append(np.asarray(s, dtype=np.float64).reshape(-1))
            what = what or w
        scores = np.concatenate(parts)
        _refuse_non_finite({"score": torch.from_numpy(scores)})
        desc = scorer.describe()
        return {"n": int(len(scores)), "shape": [int(len(scores))], "scores": _floats(scores),
                "higher_is": desc.get("higher_is", "more anomalous"), "unit": desc.get("unit"), **what}

    # ------------------------------------------------------------------ multipart uploads
    # Upload endpoints are plain functions, so FastAPI runs them (decoding, preprocessing, inference) in its
    # worker threads rather than on the event loop; the spooled upload files are read synchronously.
    def _upload_tensor(files: list[UploadFile]) -> torch.Tensor:
        service.check_batch(len(files), "files")
        images, frames = [], []
        for i, f in enumerate(files):
            raw = f.file.read()
            name = (f.filename or "").lower()
            if name.endswith((".csv", ".tsv")) or (f.content_type or "").startswith("text/"):
                frames.append(_read_csv(raw, ("files", i), sep="\t" if name.endswith(".tsv") else ","))
            else:
                images.append(raw)
        if images and frames:
            raise _invalid(("files",), "mixes image files and CSV files; send one kind per request.")
        if images:
            return service.images_to_tensor(images, ("files",))
        import pandas as pd

        frame = pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]
        service.check_batch(len(frame), "rows")
        if service.kind == "table":
            return service._apply(lambda: service._frame_input(frame), ("files",), len(frame))
        a = frame.to_numpy()
        if a.dtype.kind not in "iuf":
            raise _invalid(("files",), f"CSV rows must hold numbers only for a model trained on {service.kind} data.")
        return service._apply(lambda: service._array_input(a), ("files",), len(a))

    @app.post("/encode/upload", summary="Encode uploaded image files or CSV rows")
    def upload_encode(files: list[UploadFile] = File(...)) -> dict:
        return _encode(_upload_tensor(files))

    @app.post("/reconstruct/upload", summary="Reconstruct uploaded image files or CSV rows")
    def upload_reconstruct(files: list[UploadFile] = File(...), output: Optional[OutputFormat] = Form(None)) -> dict:
        return _reconstruct(_upload_tensor(files), output)

    @app.post("/score/upload", summary="Anomaly scores of uploaded image files or CSV rows")
    def upload_score(
        files: list[UploadFile] = File(...),
        method: Literal["elbo", "iwae"] = Form("elbo"),
        k: int = Form(100, ge=1, le=5000),
        n_samples: int = Form(1, ge=1, le=1000),
        seed: int = Form(0, ge=0, le=2**63 - 1),
    ) -> dict:
        return _score(_upload_tensor(files), ScoreOptions(method=method, k=k, n_samples=n_samples, seed=seed))

    return app


def _read_csv(raw: bytes, loc: tuple, sep: str = ","):
    import pandas as pd

    try:
        return pd.read_csv(io.BytesIO(raw), sep=sep)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError, ValueError) as e:
        raise _invalid(loc, f"could not be read as CSV ({e}); expected a header row and rows of values.") from e


def _map_data(model, data):
    """The examples for the latent canvas: ``data`` as given, or the run's own training data when loadable."""
    from ..data import Dataset
    from ..tasks.runs import run_data

    if isinstance(data, Dataset):
        return data
    if data is None and (model.data_spec is None or not model.data_spec.name):
        return None
    if data is not None:
        return run_data(model, data, split="train")  # asked for: errors go to the caller
    try:
        return run_data(model, None, split="train")
    except (VaekitError, OSError, ImportError) as e:
        # The page still works without dots (sliders, sampling, uploads); say why in the log.
        logger.warning("No examples for the latent canvas: %s", e)
        return None


def _data_info(model, kind: str) -> dict:
    spec = model.data_spec
    out: dict[str, Any] = {"kind": kind, "shape": [int(s) for s in model.data_shape]}
    if spec is not None:
        out.update(name=spec.name, levels=spec.levels, image_mode=spec.image_mode, label_names=list(spec.label_names),
                   label_column=spec.label_column)
        if spec.kind == "table":
            out.update(numeric_columns=list(spec.numeric_columns), categorical_columns=list(spec.categorical_columns),
                       categories=[list(c) for c in spec.categories], columns=list(spec.columns))
    return out


def _project(points: dict, mean: torch.Tensor) -> list:
    """Canvas coordinates (n, 2) of posterior means, with the page's projection."""
    z = mean.detach().cpu().numpy().astype(np.float64)
    proj = points.get("projection")
    if proj is not None:
        p = (z - np.asarray(proj["mean"])) @ np.asarray(proj["components"]).T
    elif z.shape[1] >= 2:
        p = z[:, :2]
    else:
        p = np.concatenate([z, np.zeros((len(z), 1))], 1)
    return _floats(p)
