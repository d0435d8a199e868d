"""Lossless compression with a trained VAE (bits-back ANS coding) and lossy latent codes: the ``.vkz`` files.

The codec (how a VAE and an ANS stack turn images into words) is :mod:`vaekit.tasks._bitsback`. This
module is everything around it: checking the model and the array, mapping values to symbols and back,
the file format, and reading and writing files for ``vaekit compress`` / ``vaekit decompress``.

Determinism is what makes decoding possible (see the codec): files decode on the same platform (CPU
family, torch and constriction versions); a mismatch is detected by the checksum of the decoded data,
never returned as wrong data. A ``.vkz`` file is untrusted input: every header field is checked before
anything is allocated, and file names from the header are written only inside the output folder.

File format (``.vkz``), all integers little-endian::

    magic       8 bytes   b"\\x89VKZ\\r\\n\\x1a\\n"
    header_len  uint32
    header      header_len bytes of UTF-8 JSON (format_version, mode, model_sha256, n, shapes,
                dtype, coding parameters, data_sha256, payload_bytes, ...)
    payload     payload_bytes bytes: the ANS stack as uint32 words
    crc32       uint32    CRC-32 of everything above
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import re
import struct
import time
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
import torch

from .._validation import Interval, check_param
from ..errors import CheckpointError, ConfigError, DataError
from . import _bitsback as bb
from ._bitsback import LATENT_RANGE, batch_schedule

__all__ = [
    "FORMAT_VERSION",
    "SUFFIX",
    "compress",
    "decompress",
    "read_header",
    "model_fingerprint",
    "batch_schedule",
    "compress_files",
    "decompress_file",
    "read_inputs",
    "CompressResult",
    "DecompressResult",
]

FORMAT_VERSION = 1
SUFFIX = ".vkz"
MAGIC = b"\x89VKZ\r\n\x1a\n"
_LEN = struct.Struct("<I")

Progress = Callable[[int, int], None]


# ---------------------------------------------------------------------------------------------- helpers
def _versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    from .._version import __version__

    try:
        cv = version("constriction")
    except PackageNotFoundError:  # pragma: no cover - imported but not installed as a distribution
        cv = "unknown"
    return {"vaekit_version": __version__, "torch_version": torch.__version__, "constriction_version": cv}


def model_fingerprint(model) -> str:
    """SHA-256 identity of a model: class, ``model.config`` and every weight tensor (names, dtypes, shapes, bytes).

    Equal for a model in memory and the same model saved to and loaded from a run directory, so a
    compressed file can name the model it needs.

    Parameters
    ----------
    model : VAE

    Returns
    -------
    str
        64 hex digits.
    """
    h = hashlib.sha256()
    doc = {"class_name": type(model).__name__, "model": model.config.to_dict()}
    h.update(json.dumps(doc, sort_keys=True, separators=(",", ":")).encode())
    for name, t in sorted(model.state_dict().items()):
        t = t.detach().cpu().contiguous()
        h.update(f"\n{name}|{t.dtype}|{tuple(t.shape)}\n".encode())
        h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes())
    return h.hexdigest()


def _check_model(model, *, lossy: bool):
    """The model's likelihood, after checking that the model can code: a density model with a discrete likelihood."""
    if not isinstance(model, torch.nn.Module) or not hasattr(model, "has_density") or not hasattr(model, "likelihood"):
        raise ConfigError(f"compress needs a trained vaekit VAE; got {type(model).__name__}.")
    if not model.has_density:
        raise ConfigError(
            f"Bits-back compression needs a posterior q(z|x) and a likelihood p(x|z); a {type(model).__name__} has "
            f"no such pair. Train a VAE (drop --autoencoder)."
        )
    if getattr(model, "conditional", False):
        raise ConfigError("compress does not code with label-conditioned models (their encoder needs labels); "
                          "train an unconditioned VAE.")
    bb.prior_mixture(model.prior)  # the standard normal or a mixture of Gaussians; anything else is refused
    lik = model.likelihood
    name = model.config.likelihood
    if not lik.discrete or lik.levels is None:
        if lossy:
            raise ConfigError(f"Lossy codes decode to images on a discrete grid; the model's likelihood '{name}' has none.")
        raise ConfigError(
            f"Lossless compression needs a discrete likelihood (one with levels, such as bernoulli or "
            f"discretized_logistic); this model uses '{name}', a density. Train with --likelihood beta_binomial "
            f"(or discretized_logistic) for 8-bit data."
        )
    return lik


# ---------------------------------------------------------------------------------------------- arrays <-> symbols
def _layout(shape: tuple[int, ...], data_shape: tuple[int, ...]) -> str:
    """How an array of ``shape`` (batch first) maps onto the model's (n, *data_shape)."""
    rest = tuple(shape[1:])
    d = math.prod(data_shape)
    if len(shape) >= 1 and rest == tuple(data_shape):
        return "model"
    if len(data_shape) == 3:
        c, h, w = data_shape
        if c == 1 and rest == (h, w):
            return "nhw"
        if rest == (h, w, c):
            return "nhwc"
    if len(shape) == 2 and shape[1] == d:
        return "flat"
    dims = ", ".join(map(str, data_shape))
    alts = ""
    if len(data_shape) == 3:
        c, h, w = data_shape
        alts = (f", (n, {h}, {w})" if c == 1 else "") + f", (n, {h}, {w}, {c})"
    raise DataError(
        f"x has shape {tuple(shape)}, but the model expects a batch of shape (n, {dims}){alts} or (n, {d}). "
        f"A single image needs a batch axis: x[None]."
    )


def _to_model_layout(a: np.ndarray, layout: str, data_shape) -> np.ndarray:
    n = a.shape[0]
    if layout == "nhwc":
        a = a.transpose(0, 3, 1, 2)
    return np.ascontiguousarray(a).reshape(n, math.prod(data_shape))


def _from_model_layout(flat: np.ndarray, layout: str, array_shape: Sequence[int], data_shape) -> np.ndarray:
    n = flat.shape[0]
    a = flat.reshape(n, *data_shape)
    if layout == "nhwc":
        a = a.transpose(0, 2, 3, 1)
    return np.ascontiguousarray(a).reshape(tuple(array_shape))


def _value_map(a: np.ndarray, levels: int) -> dict:
    """How values of ``a`` map to symbols 0..levels-1 (checked to be exactly invertible)."""
    dt = a.dtype
    top = levels - 1
    if dt == np.bool_:
        return {"kind": "bool", "scale": top}
    if dt.kind in "ui":
        if a.size == 0:
            return {"kind": "int", "scale": 1}
        lo, hi = int(a.min()), int(a.max())
        if levels == 2:
            # binary images come as {0, 1} or {0, 255}
            if lo >= 0 and hi in (0, 1) and ((a == 0) | (a == 1)).all():
                return {"kind": "int", "scale": 1}
            if lo >= 0 and hi == 255 and ((a == 0) | (a == 255)).all():
                return {"kind": "int", "scale": 255}
            raise DataError(
                f"The model has a Bernoulli likelihood and compresses binary images only, but x has values in "
                f"[{lo}, {hi}] that are not all 0/1 (or 0/255). Use a model trained with the 8-bit likelihood "
                f"(discretized_logistic) for grey levels, or binarise the data first."
            )
        if lo < 0 or hi > top:
            raise DataError(f"The model codes 8-bit values 0..{top}, but x has integer values in [{lo}, {hi}].")
        return {"kind": "int", "scale": 1}
    if dt.kind == "f":
        return {"kind": "float", "scale": top}
    raise DataError(f"x has dtype {dt}; expected bool, integer or float pixel values.")


def _symbols(a: np.ndarray, vmap: dict, levels: int) -> np.ndarray:
    """Symbols 0..levels-1 (int32) of ``a``, raising DataError unless ``_values`` gives ``a`` back bit for bit."""
    top = levels - 1
    if vmap["kind"] == "bool":
        return a.astype(np.int32) * top
    if vmap["kind"] == "int":
        return (a // vmap["scale"]).astype(np.int32)
    with np.errstate(invalid="ignore"):
        sym = np.rint(a.astype(np.float64) * top)
    ok = np.isfinite(sym) & (sym >= 0) & (sym <= top)
    sym = np.where(ok, sym, 0).astype(np.int32)
    back = _values(sym, vmap, a.dtype, levels)
    same = ok & (back.view(f"u{a.dtype.itemsize}") == np.ascontiguousarray(a).view(f"u{a.dtype.itemsize}"))
    if not same.all():
        bad = np.flatnonzero(~same.reshape(-1))[0]
        grid = "{0, 1}" if levels == 2 else f"the {levels}-level grid k/{top}"
        raise DataError(
            f"x has float values that are not exactly on {grid} (first: {a.reshape(-1)[bad]!r} at flat index {bad}); "
            f"lossless coding reproduces only values on the model's grid. Pass uint8 pixels or values k/{top}."
        )
    return sym


def _values(sym: np.ndarray, vmap: dict, dtype: np.dtype, levels: int) -> np.ndarray:
    """The inverse of :func:`_symbols`."""
    dtype = np.dtype(dtype)
    if vmap["kind"] == "bool":
        return sym != 0
    if vmap["kind"] == "int":
        return (sym.astype(np.int64) * vmap["scale"]).astype(dtype)
    return sym.astype(dtype) / dtype.type(levels - 1)


def _data_digest(a: np.ndarray) -> str:
    h = hashlib.sha256(f"{a.dtype.str}|{tuple(a.shape)}|".encode())
    h.update(np.ascontiguousarray(a).tobytes())
    return h.hexdigest()


def _as_numpy(x) -> tuple[np.ndarray, str]:
    if isinstance(x, torch.Tensor):
        return x.detach().cpu().numpy(), "torch"
    if isinstance(x, np.ndarray):
        return x, "numpy"
    raise DataError(f"x must be a numpy array or a torch.Tensor of images; got {type(x).__name__}.")


# ---------------------------------------------------------------------------------------------- container
def _pack(head: dict, payload: bytes) -> bytes:
    head = dict(head, payload_bytes=len(payload))
    hj = json.dumps(head, sort_keys=True, separators=(",", ":")).encode()
    body = MAGIC + _LEN.pack(len(hj)) + hj + payload
    return body + _LEN.pack(zlib.crc32(body) & 0xFFFFFFFF)


def _where(name: str | None) -> str:
    return f"'{name}'" if name else "The data"


def _unpack(data: bytes, name: str | None = None) -> tuple[dict, bytes]:
    """Check magic, length and CRC; return (header, payload)."""
    where = _where(name)
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise DataError(f"decompress expects the bytes written by compress; got {type(data).__name__}.")
    data = bytes(data)
    if not data.startswith(MAGIC[: min(len(data), len(MAGIC))]) or len(data) == 0:
        raise DataError(f"{where} is not a vaekit compressed file (.vkz): it does not start with the vaekit magic bytes.")
    fixed = len(MAGIC) + _LEN.size
    if len(data) < fixed + _LEN.size:
        raise DataError(f"{where} is a truncated file: {len(data)} bytes, shorter than the smallest .vkz file.")
    (hlen,) = _LEN.unpack_from(data, len(MAGIC))
    if len(data) < fixed + hlen + _LEN.size:
        raise DataError(f"{where} is a truncated file: {len(data)} bytes, but its header alone needs {fixed + hlen + 4}.")
    try:
        head = json.loads(data[fixed:fixed + hlen].decode())
        expected = fixed + hlen + int(head["payload_bytes"]) + _LEN.size
    except (ValueError, KeyError, TypeError) as e:
        if zlib.crc32(data[:-4]) & 0xFFFFFFFF != _LEN.unpack_from(data, len(data) - 4)[0]:
            raise DataError(f"{where}: checksum mismatch; the file is corrupted (its header cannot be read).") from e
        raise DataError(f"{where}: the header is not valid ({e}).") from e
    if len(data) < expected:
        raise DataError(f"{where} is a truncated file: {len(data):,} bytes, expected {expected:,}.")
    if len(data) > expected:
        raise DataError(f"{where} has {len(data) - expected:,} unexpected bytes after its end; the file is corrupted.")
    (crc,) = _LEN.unpack_from(data, expected - 4)
    if zlib.crc32(data[: expected - 4]) & 0xFFFFFFFF != crc:
        raise DataError(f"{where}: checksum mismatch; the file is corrupted (CRC-32 of its contents differs).")
    version = head.get("format_version")
    if not isinstance(version, int) or version > FORMAT_VERSION:
        raise DataError(f"{where} has format_version {version!r}, newer than this vaekit reads ({FORMAT_VERSION}); upgrade vaekit.")
    if not isinstance(head, dict):
        raise DataError(f"{where}: the header is not a JSON object; the file is not a valid .vkz file.")
    _check_header(head, expected - 4 - fixed - hlen, where)
    return head, data[fixed + hlen: expected - 4]


#: Most entries a file may decode to (int32 symbols: 4 GiB); larger claims are refused before allocating.
MAX_DECODED_ENTRIES = 1 << 30
_LAYOUTS = ("model", "nhw", "nhwc", "flat")
_HEX64 = re.compile(r"^[0-9a-f]{64}$")


def _is_int(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _check_header(head: dict, payload_bytes: int, where: str) -> None:
    """Every header field the decoder uses: type, range and agreement with the others and with the payload.

    A ``.vkz`` file is untrusted input: a CRC only says the bytes are the ones written, not that the writer
    was vaekit. Nothing is allocated and no loop runs on a field before this accepts it.
    """

    def bad(field: str, got, expected: str):
        raise DataError(f"{where}: header field '{field}' is {got!r}, expected {expected}; the file is not a valid "
                        f".vkz file.")

    def int_field(field: str, lo: int, hi: int) -> int:
        v = head.get(field)
        if not _is_int(v) or not lo <= v <= hi:
            bad(field, v, f"an integer in [{lo}, {hi:,}]")
        return v

    def int_list(field: str, lo: int, hi: int, max_len: int) -> list[int]:
        v = head.get(field)
        if not isinstance(v, list) or len(v) > max_len or not all(_is_int(e) and lo <= e <= hi for e in v):
            bad(field, v, f"a list of at most {max_len} integers in [{lo}, {hi:,}]")
        return v

    mode = head.get("mode")
    if mode not in ("lossless", "lossy"):
        bad("mode", mode, "'lossless' or 'lossy'")
    if not isinstance(head.get("model_sha256"), str) or not _HEX64.match(head["model_sha256"]):
        bad("model_sha256", head.get("model_sha256"), "64 hex digits")
    if not isinstance(head.get("likelihood"), str):
        bad("likelihood", head.get("likelihood"), "a likelihood name")
    data_shape = int_list("data_shape", 1, 1 << 24, 3)
    if not data_shape or math.prod(data_shape) > 1 << 24:
        bad("data_shape", data_shape, "1 to 3 positive sizes of at most 2**24 entries in all")
    d = math.prod(data_shape)
    int_field("latent_dim", 1, 1 << 16)
    levels = head.get("levels")
    if levels not in (2, 256) or isinstance(levels, bool):
        bad("levels", levels, "2 or 256")
    n = int_field("n", 0, 1 << 62)
    if n * d > MAX_DECODED_ENTRIES:
        raise DataError(f"{where}: the header claims {n:,} images of {d:,} entries ({4 * n * d / 2**30:,.1f} GiB "
                        f"decoded), more than the {4 * MAX_DECODED_ENTRIES / 2**30:.0f} GiB this vaekit decodes; "
                        f"the file is not a valid .vkz file.")
    shape = int_list("array_shape", 0, 1 << 62, 8)
    if not shape or shape[0] != n or math.prod(shape) != n * d:
        bad("array_shape", shape, f"a shape with {n:,} rows of {d:,} entries in all (header fields 'n', 'data_shape')")
    layout = head.get("layout")
    if layout not in _LAYOUTS:
        bad("layout", layout, " or ".join(map(repr, _LAYOUTS)))
    try:
        expected_layout = _layout(tuple(shape), tuple(data_shape))
    except DataError:
        expected_layout = None
    if expected_layout is None:
        bad("array_shape", shape, f"a batch of data_shape {tuple(data_shape)} images (n, H, W), (n, H, W, C) or (n, D)")
    if layout != expected_layout:
        bad("layout", layout, f"{expected_layout!r} for an array of shape {tuple(shape)}")
    if head.get("array_type") not in ("numpy", "torch"):
        bad("array_type", head.get("array_type"), "'numpy' or 'torch'")
    try:
        dtype = np.dtype(head.get("dtype"))
    except (TypeError, ValueError):
        bad("dtype", head.get("dtype"), "a NumPy dtype string such as '|u1'")
    if not isinstance(head.get("dtype"), str) or dtype.kind not in "buif" or dtype.fields or dtype.itemsize > 8:
        bad("dtype", head.get("dtype"), "a bool, integer or float dtype")
    vmap = head.get("value_map")
    kinds = {"b": "bool", "u": "int", "i": "int", "f": "float"}
    scales = {"bool": {levels - 1}, "int": {1, 255} if levels == 2 else {1}, "float": {levels - 1}}
    if (not isinstance(vmap, dict) or set(vmap) != {"kind", "scale"} or vmap["kind"] != kinds[dtype.kind]
            or not _is_int(vmap["scale"]) or vmap["scale"] not in scales[vmap["kind"]]):
        bad("value_map", vmap, f"{{'kind': {kinds[dtype.kind]!r}, 'scale': one of "
                               f"{sorted(scales[kinds[dtype.kind]])}}} for dtype {dtype.str} and {levels} levels")
    if levels == 256:
        int_field("max_batch", 1, bb.max_batch(1 << 20, levels, d))
    else:
        int_field("max_batch", 1, 1 << 20)
    source = head.get("source")
    if source is not None:
        if not isinstance(source, dict):
            bad("source", source, "an object")
        names = source.get("names")
        if names is not None and (not isinstance(names, list) or not all(isinstance(x, str) for x in names)
                                  or len(names) not in (0, n)):
            bad("source.names", names if not isinstance(names, list) else f"a list of {len(names)}",
                f"a list of {n:,} file names")
        key = source.get("key")
        if key is not None and (not isinstance(key, str) or not re.match(r"^[A-Za-z_][A-Za-z0-9_.-]{0,99}$", key)):
            bad("source.key", key, "an array name (letters, digits, '_', '.', '-')")
    if payload_bytes % 4:
        raise DataError(f"{where}: the payload is {payload_bytes:,} bytes, not whole 32-bit words; the file is not a "
                        f"valid .vkz file.")
    words = payload_bytes // 4
    if mode == "lossless":
        precision = int_field("latent_precision", 6, 14)
        if head.get("latent_range") != LATENT_RANGE:
            bad("latent_range", head.get("latent_range"), str(LATENT_RANGE))
        expected = math.ceil(head["latent_dim"] * (precision + 3) / 32) + 1
        if head.get("initial_words") != expected:
            bad("initial_words", head.get("initial_words"), f"{expected} (from latent_dim and latent_precision)")
        if not isinstance(head.get("data_sha256"), str) or not _HEX64.match(head["data_sha256"]):
            bad("data_sha256", head.get("data_sha256"), "64 hex digits")
        if n and not words:
            raise DataError(f"{where}: the payload is empty but the header claims {n:,} images; the file is corrupted.")
    else:
        bits = int_field("bits", 1, 16)
        active = int_list("active_dims", 0, head["latent_dim"] - 1, head["latent_dim"])
        if len(set(active)) != len(active):
            bad("active_dims", active, "distinct latent dimensions")
        need = math.ceil(n * len(active) * bits / 32)  # uniform codes: exactly bits per used dimension
        if abs(words - need) > 2:
            raise DataError(f"{where}: the payload holds {words:,} words, but {n:,} lossy codes of {len(active)} x "
                            f"{bits} bits need about {need:,}; the file is corrupted.")


def read_header(data: bytes | str | os.PathLike) -> dict:
    """The header of a compressed file (bytes or a path), after checking its length and checksum.

    Returns
    -------
    dict
        ``format_version``, ``mode`` ("lossless" or "lossy"), ``model_sha256``, ``n``, ``array_shape``,
        ``dtype``, ``likelihood``, coding parameters, ``payload_bytes`` and, for lossless files,
        ``data_sha256``.
    """
    if isinstance(data, (str, os.PathLike)):
        return _unpack(_read_file(Path(data)), str(data))[0]
    return _unpack(data)[0]


# ---------------------------------------------------------------------------------------------- public API
def compress(
    model,
    x,
    *,
    lossy: bool = False,
    bits: int = 8,
    latent_precision: int = 10,
    batch_size: int = 64,
    progress: Progress | None = None,
    metadata: dict | None = None,
) -> bytes:
    """Compress images with a trained VAE: bits-back ANS coding (lossless) or quantised latent codes (lossy).

    Parameters
    ----------
    model : VAE
        A VAE with a discrete likelihood: ``bernoulli`` for binary images, ``beta_binomial``,
        ``discretized_logistic`` or ``categorical256`` for 8-bit images.
    x : ndarray or Tensor of shape (n, *data_shape), (n, H, W), (n, H, W, C) or (n, D)
        Images: bool, integers (0/1 or 0/255 for a Bernoulli model, 0..255 otherwise) or floats exactly on
        the grid k/255 (k/1 for binary). ``n`` may be 0.
    lossy : bool
        Write quantised posterior means instead (``bits`` per used latent dimension); decoding returns the
        model's reconstruction.
    bits : int
        Bits per latent dimension of a lossy code (1..16).
    latent_precision : int
        Lossless latent grid step ``2**-latent_precision`` (6..14). Finer grids cost nothing in rate once
        the step is well below the posterior standard deviations; they only enlarge the first pop.
    batch_size : int
        Largest number of images per network evaluation (the schedule is stored in the file).
    progress : callable or None
        Called as ``progress(images_done, n)``.
    metadata : dict or None
        Extra JSON-serialisable fields stored in the header under ``"source"`` (file names and the like).

    Returns
    -------
    bytes
        A ``.vkz`` file: header (format version, model hash, shapes, dtype), payload, CRC-32.

    Raises
    ------
    DataError
        ``x`` does not fit the model (shape, values off the grid, grey levels for a binary model).
    ConfigError
        A model that cannot code (Autoencoder, Gaussian likelihood) or an invalid parameter.

    Examples
    --------
    >>> import numpy as np, vaekit
    >>> model = vaekit.VAE(vaekit.ModelConfig(data_shape=(1, 4, 4), latent_dim=2, hidden_dims=(8,)))
    >>> x = (np.random.default_rng(0).random((5, 4, 4)) > 0.5).astype(np.uint8)
    >>> blob = compress(model, x)  # doctest: +SKIP
    >>> np.array_equal(decompress(model, blob), x)  # doctest: +SKIP
    True
    """
    likelihood = _check_model(model, lossy=lossy)
    check_param("compress", "bits", bits, Interval("int", 1, 16))
    check_param("compress", "latent_precision", latent_precision, Interval("int", 6, 14))
    check_param("compress", "batch_size", batch_size, Interval("int", 1, None))
    a, array_type = _as_numpy(x)
    if a.dtype == np.bool_:
        # Canonical bools: Pillow's 1-bit images store True as the byte 255, which would fail the checksum.
        a = np.ascontiguousarray(a).view(np.uint8) != 0
    levels = int(likelihood.levels)
    data_shape = tuple(model.data_shape)
    layout = _layout(a.shape, data_shape)
    vmap = _value_map(a, levels)
    sym = _symbols(_to_model_layout(a, layout, data_shape), vmap, levels)
    d = math.prod(data_shape)
    head: dict[str, Any] = {
        "format": "vaekit-compressed",
        "format_version": FORMAT_VERSION,
        "mode": "lossy" if lossy else "lossless",
        "model_sha256": model_fingerprint(model),
        "likelihood": model.config.likelihood,
        "data_shape": list(data_shape),
        "latent_dim": model.latent_dim,
        "levels": levels,
        "n": int(a.shape[0]),
        "array_shape": list(a.shape),
        "array_type": array_type,
        "dtype": a.dtype.str,
        "layout": layout,
        "value_map": vmap,
        "max_batch": bb.max_batch(batch_size, levels, d),
        **_versions(),
    }
    if metadata:
        head["source"] = metadata
    model = bb.cpu_eval_model(model)
    was_training = model.training
    model.eval()
    try:
        with bb.deterministic_cpu():
            if lossy:
                head.update(bits=bits, kl_threshold=0.01)
                words = bb.encode_lossy(model, sym, head, progress)
            else:
                head.update(
                    latent_precision=latent_precision,
                    latent_range=LATENT_RANGE,
                    # enough clean bits for the first image's z: about latent_precision + 2 bits per dimension
                    initial_words=math.ceil(model.latent_dim * (latent_precision + 3) / 32) + 1,
                    data_sha256=_data_digest(a),
                )
                words = bb.encode_lossless(model, sym, head, progress) if head["n"] else np.zeros(0, np.uint32)
    finally:
        model.train(was_training)
    return _pack(head, words.astype("<u4").tobytes())


def decompress(model, data: bytes, *, progress: Progress | None = None, name: str | None = None):
    """Decode what :func:`compress` wrote, with the same model.

    Parameters
    ----------
    model : VAE
        The model that compressed the data (checked against the SHA-256 fingerprint in the header).
    data : bytes
        The compressed file's contents.
    progress : callable or None
        Called as ``progress(images_done, n)``.
    name : str or None
        How to call the data in error messages (a file name).

    Returns
    -------
    ndarray or Tensor
        Lossless: exactly the array given to :func:`compress` (same type, shape, dtype and values).
        Lossy: the model's reconstruction, with the same type, shape and dtype.

    Raises
    ------
    DataError
        Not a ``.vkz`` file, a truncated or corrupted file (length or CRC-32), a newer format, or decoded
        data whose SHA-256 differs from the one recorded (e.g. decoding on a different platform).
    CheckpointError
        The data was compressed with a different model.
    """
    head, payload = _unpack(data, name)
    where = _where(name)
    _check_model(model, lossy=head.get("mode") == "lossy")
    have = model_fingerprint(model)
    if head.get("model_sha256") != have:
        raise CheckpointError(
            f"{where} was compressed with a different model (hash {str(head.get('model_sha256'))[:16]}…), "
            f"expected this model's {have[:16]}…; decompress with the run that compressed it."
        )
    for key, mine in (("data_shape", list(model.data_shape)), ("latent_dim", model.latent_dim),
                      ("levels", model.likelihood.levels), ("likelihood", model.config.likelihood)):
        if head[key] != mine:  # the fingerprint matched, so the header was edited
            raise DataError(f"{where}: header field '{key}' is {head[key]!r}, but the model that wrote it has "
                            f"{mine!r}; the file is corrupted.")
    words = np.frombuffer(payload, dtype="<u4").astype(np.uint32)
    model = bb.cpu_eval_model(model)
    was_training = model.training
    model.eval()
    try:
        with bb.deterministic_cpu():
            if head["mode"] == "lossy":
                sym = bb.decode_lossy(model, words, head, progress)
            elif head["n"] == 0:
                sym = np.zeros((0, math.prod(model.data_shape)), dtype=np.int32)
            else:
                sym = bb.decode_lossless(model, words, head, progress, where)
    finally:
        model.train(was_training)
    dtype = np.dtype(head["dtype"])
    flat = _values(sym, head["value_map"], dtype, head["levels"])
    a = _from_model_layout(flat, head["layout"], head["array_shape"], tuple(head["data_shape"]))
    if head["mode"] == "lossless" and _data_digest(a) != head["data_sha256"]:
        v = _versions()
        raise DataError(
            f"{where}: checksum mismatch after decoding; the decoded data differs from what was compressed. "
            f"Decode on the platform that encoded it (written with torch {head.get('torch_version')}, constriction "
            f"{head.get('constriction_version')}; this is torch {v['torch_version']}, constriction {v['constriction_version']})."
        )
    return torch.from_numpy(a) if head.get("array_type") == "torch" else a


# ---------------------------------------------------------------------------------------------- files
_IMAGE_SUFFIXES = (".png", ".bmp", ".gif", ".webp", ".tif", ".tiff", ".pgm", ".ppm", ".pbm")
_LOSSLESS_MODES = {"1", "L", "RGB"}


def _read_file(path: Path) -> bytes:
    if path.is_dir():
        raise DataError(f"'{path}' is a folder; expected a .vkz file written by `vaekit compress`.")
    if not path.is_file():
        raise DataError(f"No such file: '{path}'.")
    return path.read_bytes()


def _read_image(path: Path) -> tuple[np.ndarray, str]:
    from ..data.images import open_image

    try:
        with open_image(path) as im:
            mode = im.mode
            if mode == "P":
                raise DataError(f"Image '{path}' is a palette image; convert it to L or RGB first.")
            if mode not in _LOSSLESS_MODES:
                raise DataError(f"Image '{path}' has mode {mode}; lossless compression takes 1-bit, L or RGB images.")
            return np.asarray(im).copy(), mode
    except DataError:
        raise
    except Exception as e:  # Pillow raises many types (UnidentifiedImageError, OSError, SyntaxError, ...)
        raise DataError(f"Image file '{path}' could not be read: {e}") from e


def _stack_images(files: list[Path], root: Path | None) -> tuple[np.ndarray, dict]:
    arrays, modes = [], set()
    for p in files:
        arr, mode = _read_image(p)
        arrays.append(arr)
        modes.add(mode)
    if len(modes) > 1:
        raise DataError(f"Images have different modes ({', '.join(sorted(modes))}); compress each kind separately.")
    shapes = {a.shape for a in arrays}
    if len(shapes) > 1:
        raise DataError(
            f"Images have different sizes ({', '.join(str(s) for s in sorted(shapes))}); lossless compression "
            f"does not resize, so every image must match the model's size."
        )
    names = [p.relative_to(root).as_posix() if root is not None else p.name for p in files]
    return np.stack(arrays), {"kind": "images", "names": names, "image_mode": modes.pop()}


def read_inputs(inputs: Sequence[str | os.PathLike], *, key: str | None = None, model=None) -> tuple[np.ndarray, dict]:
    """Read what ``vaekit compress`` takes: one ``.npy``/``.npz`` file, one folder of images, or image files.

    Parameters
    ----------
    inputs : sequence of paths
    key : str or None
        Array to take from an ``.npz`` (default ``x``; ``x_test``/``x_train`` when it is the only image array).
    model : VAE or None
        Unused (kept for callers that pass it).

    Returns
    -------
    array : ndarray
        The raw values, unconverted (lossless means exactly these).
    source : dict
        What to record in the header so that decompression can write the same kind of output.
    """
    paths = [Path(os.fspath(p)).expanduser() for p in inputs]
    if not paths:
        raise DataError("No input given; pass an .npy/.npz file, a folder of images, or image files.")
    for p in paths:
        if not p.exists():
            raise DataError(f"No such file or folder: '{p}'.")
    if len(paths) == 1 and paths[0].is_dir():
        root = paths[0]
        files = sorted(
            (p for p in root.rglob("*") if p.is_file() and p.suffix.lower() in _IMAGE_SUFFIXES and not p.name.startswith(".")),
            key=lambda p: p.relative_to(root).as_posix(),
        )
        if not files:  # a 0-image file is almost always a wrong path; compress(model, empty_array) still works
            raise DataError(f"'{root}' is empty: it holds no image files ({', '.join(_IMAGE_SUFFIXES)}, searched "
                            f"recursively); nothing to compress.")
        return _stack_images(files, root)
    if len(paths) == 1 and paths[0].suffix.lower() in (".npy", ".npz"):
        from ..data.arrays import check_numpy_file

        p = paths[0]
        check_numpy_file(p, str(p))
        try:
            if p.suffix.lower() == ".npy":
                return np.load(p, allow_pickle=False), {"kind": "npy", "name": p.name}
            with np.load(p, allow_pickle=False) as npz:
                keys = list(npz.files)
                if key is None:
                    images = [k for k in ("x", "x_test", "x_train") if k in keys]
                    if "x" in keys:
                        key = "x"
                    elif len(images) == 1:
                        key = images[0]
                    else:
                        raise DataError(
                            f"'{p}' holds arrays {', '.join(keys)}; say which to compress with --key "
                            f"(e.g. --key {images[0] if images else keys[0] if keys else 'x'})."
                        )
                if key not in keys:
                    raise DataError(f"'{p}' has no array '{key}'; it holds {', '.join(keys) or '(none)'}.")
                return npz[key], {"kind": "npz", "name": p.name, "key": key}
        except DataError:
            raise
        except (ValueError, OSError, EOFError) as e:
            raise DataError(f"'{p}' could not be read as a NumPy file: {e}. vaekit never unpickles.") from e
    bad = [p for p in paths if p.is_dir() or p.suffix.lower() not in _IMAGE_SUFFIXES]
    if bad:
        raise DataError(
            f"Cannot compress '{bad[0]}' together with other inputs: give one .npy/.npz file, one folder of images, "
            f"or image files ({', '.join(_IMAGE_SUFFIXES)}; lossless only, so no JPEG)."
        )
    return _stack_images(paths, None)


@dataclass
class CompressResult:
    """What :func:`compress_files` did."""

    path: Path
    n: int
    array_shape: tuple[int, ...]
    dtype: str
    mode: str
    raw_bytes: int
    compressed_bytes: int
    bits_per_dim: float | None
    seconds: float
    source: dict = field(default_factory=dict)

    @property
    def images_per_second(self) -> float:
        return self.n / self.seconds if self.seconds > 0 else float("inf")


@dataclass
class DecompressResult:
    """What :func:`decompress_file` did."""

    path: Path
    n: int
    array_shape: tuple[int, ...]
    dtype: str
    mode: str
    seconds: float
    files: list[Path] = field(default_factory=list)

    @property
    def images_per_second(self) -> float:
        return self.n / self.seconds if self.seconds > 0 else float("inf")


def _refuse_existing(path: Path, overwrite: bool) -> None:
    if path.exists() and not overwrite and not (path.is_dir() and not any(path.iterdir())):
        raise DataError(f"'{path}' already exists; pass overwrite=True (--overwrite) to replace it.")


def _load_model(run):
    if isinstance(run, (str, os.PathLike)):
        from ..rundir import load

        return load(run)
    return run


def compress_files(
    run,
    inputs: Sequence[str | os.PathLike],
    out: str | os.PathLike | None = None,
    *,
    key: str | None = None,
    lossy: bool = False,
    bits: int = 8,
    latent_precision: int = 10,
    batch_size: int = 64,
    overwrite: bool = False,
    progress: Progress | None = None,
) -> CompressResult:
    """``vaekit compress RUN INPUT... -o FILE.vkz``: read images, compress them with the run's model, write the file.

    Parameters
    ----------
    run : path or VAE
        Run directory (or a loaded model).
    inputs : sequence of paths
        One ``.npy``/``.npz`` file, one folder of images (searched recursively; names are kept), or image files.
    out : path or None
        Output file; default the first input with ``.vkz`` appended.
    key, lossy, bits, latent_precision, batch_size
        See :func:`read_inputs` and :func:`compress`.
    overwrite : bool
        Replace an existing ``out``.
    progress : callable or None
        ``progress(images_done, n)``.

    Returns
    -------
    CompressResult
    """
    from ..io import atomic_write_bytes

    model = _load_model(run)
    first = Path(os.fspath(inputs[0])) if inputs else Path("input")
    out = Path(os.fspath(out)) if out is not None else first.with_name(first.name.rstrip("/") + SUFFIX)
    _refuse_existing(out, overwrite)
    a, source = read_inputs(inputs, key=key, model=model)
    t0 = time.perf_counter()
    blob = compress(model, a, lossy=lossy, bits=bits, latent_precision=latent_precision, batch_size=batch_size,
                    progress=progress, metadata=source)
    seconds = time.perf_counter() - t0
    atomic_write_bytes(out, blob)
    head = _unpack(blob)[0]
    dims = a.size
    return CompressResult(
        path=out, n=int(a.shape[0]), array_shape=tuple(a.shape), dtype=a.dtype.str, mode=head["mode"],
        raw_bytes=int(a.nbytes), compressed_bytes=len(blob), bits_per_dim=(8 * len(blob) / dims) if dims else None,
        seconds=seconds, source=source,
    )


def _default_output(path: Path, head: dict) -> Path:
    name = path.name[: -len(SUFFIX)] if path.name.endswith(SUFFIX) else path.name + ".out"
    base = path.with_name(name)
    kind = (head.get("source") or {}).get("kind")
    if kind == "images" or base.suffix.lower() in (".npy", ".npz"):
        return base
    return base.with_name(base.name + ".npy")


_WINDOWS_DRIVE = re.compile(r"^[A-Za-z]:")


def _safe_relative(name, where: str) -> tuple[str, ...]:
    """The parts of a file name from a header: plain names joined by '/', nothing absolute, no '..'.

    A ``.vkz`` file is untrusted input; its names decide where files are written.
    """
    problem = None
    if not isinstance(name, str):
        problem = f"is a {type(name).__name__}, not a string"
    elif not name or len(name) > 1024:
        problem = "is empty" if not name else "is longer than 1024 characters"
    elif any(ord(ch) < 32 or ch == "\\" for ch in name):
        problem = "holds a control character or a backslash"
    elif name.startswith("/") or _WINDOWS_DRIVE.match(name):
        problem = "is an absolute path"
    else:
        parts = tuple(name.split("/"))
        if any(part in ("", ".", "..") or len(part) > 255 for part in parts):
            problem = "is not a plain relative name (it has '..', '.' or an empty part)"
        else:
            return parts
    raise DataError(f"{where} names an output file name {name!r} that {problem}; refusing to write it. Only plain "
                    f"file names inside the output folder are written (decompress to a .npy file instead).")


def _image_paths(names: Sequence, n: int, folder: Path, where: str, overwrite: bool) -> list[Path]:
    """Where each example's image goes: names from the header, checked to stay inside ``folder``."""
    if not names:
        names = [f"{i:06d}.png" for i in range(n)]
    if len(names) != n:
        raise DataError(f"{where} lists {len(names)} file names for {n} images; the file is inconsistent.")
    root = folder.resolve()
    paths, seen = [], set()
    for name in names:
        path = folder.joinpath(*_safe_relative(name, where))
        if path.suffix.lower() not in _IMAGE_SUFFIXES:
            path = path.with_name(path.name + ".png")
        key = path.relative_to(folder).as_posix().casefold()
        if key in seen:
            raise DataError(f"{where} names the output file {name!r} more than once; refusing to overwrite one image "
                            f"with another.")
        seen.add(key)
        resolved = path.resolve()
        if resolved != root and root not in resolved.parents:  # a symlink inside the folder pointing away
            raise DataError(f"{where}: the output file {name!r} would be written outside '{folder}' (to '{resolved}', "
                            f"through a link); refusing.")
        if (path.exists() or path.is_symlink()) and not overwrite:
            raise DataError(f"'{path}' already exists; pass overwrite=True (--overwrite) to replace it.")
        paths.append(path)
    return paths


def _write_images(a: np.ndarray, paths: list[Path]) -> list[Path]:
    """One image file per example, at ``paths`` (checked by :func:`_image_paths`)."""
    from PIL import Image

    from ..io import atomic_save

    formats = Image.registered_extensions()
    for arr, path in zip(a, paths):
        arr = np.asarray(arr)
        im = Image.fromarray(arr if arr.dtype == np.bool_ else arr.astype(np.uint8))
        options = {"lossless": True} if path.suffix.lower() == ".webp" else {}
        atomic_save(path, lambda tmp, im=im, fmt=formats[path.suffix.lower()], o=options: im.save(tmp, format=fmt, **o))
    return list(paths)


def decompress_file(
    run,
    path: str | os.PathLike,
    out: str | os.PathLike | None = None,
    *,
    overwrite: bool = False,
    progress: Progress | None = None,
) -> DecompressResult:
    """``vaekit decompress RUN FILE.vkz -o OUTPUT``: decode with the run's model and write the data.

    ``OUTPUT`` ending in ``.npy`` or ``.npz`` gets the array (an ``.npz`` under the key it was read from);
    any other path is a folder that receives one image per example (PNG, or the original file names when
    the input was images). By default: the file name without ``.vkz`` (images: a folder), or with ``.npy``.

    Returns
    -------
    DecompressResult

    Raises
    ------
    DataError, CheckpointError
        See :func:`decompress`; also an existing ``out`` without ``overwrite``.
    """
    from ..io import atomic_write

    model = _load_model(run)
    path = Path(os.fspath(path))
    data = _read_file(path)
    head, _ = _unpack(data, str(path))
    out = Path(os.fspath(out)) if out is not None else _default_output(path, head)
    _refuse_existing(out, overwrite)
    if out.suffix.lower() not in (".npy", ".npz"):  # checked before decoding: nothing is written for a bad name
        image_paths = _image_paths((head.get("source") or {}).get("names") or [], int(head["n"]), out, f"'{path}'",
                                   overwrite)
    t0 = time.perf_counter()
    a = decompress(model, data, progress=progress, name=str(path))
    seconds = time.perf_counter() - t0
    a = a.numpy() if isinstance(a, torch.Tensor) else a
    source = head.get("source") or {}
    files: list[Path] = []
    suffix = out.suffix.lower()
    if suffix == ".npy":
        with atomic_write(out, "wb") as f:
            np.save(f, a, allow_pickle=False)
        files = [out]
    elif suffix == ".npz":
        with atomic_write(out, "wb") as f:
            np.savez(f, **{source.get("key", "x"): a})
        files = [out]
    else:
        if a.ndim not in (3, 4):
            raise DataError(f"'{path}' holds arrays of shape {a.shape}, not images; write them to a .npy or .npz file.")
        files = _write_images(a, image_paths)
    return DecompressResult(path=out, n=int(head["n"]), array_shape=tuple(a.shape), dtype=a.dtype.str,
                            mode=head["mode"], seconds=seconds, files=files)
