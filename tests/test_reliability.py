"""Hostile and broken inputs at the edges (issue 16): crafted .vkz files, bombs, non-finite requests,
read-only and full output folders, and messages that name the real problem.

Everything runs at tiny size on untrained models (bits-back coding round-trips with any model).
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import numpy as np
import pytest
import torch

import vaekit
from vaekit.config import DataSpec, ModelConfig
from vaekit.errors import DataError

from ._cli import fails, invoke

pytestmark = pytest.mark.usefixtures("one_torch_thread")

SHAPE = (1, 4, 4)


def _binary_images(n: int, seed: int = 0) -> np.ndarray:
    return (np.random.default_rng(seed).random((n, 4, 4)) > 0.5).astype(np.uint8)


@pytest.fixture(scope="module")
def binary_run(tmp_path_factory) -> Path:
    """A tiny untrained Bernoulli VAE saved as a run directory."""
    spec = DataSpec(kind="image", shape=SHAPE, levels=2, image_mode="L", name="tiny")
    model = vaekit.VAE(ModelConfig(data_shape=SHAPE, latent_dim=2, hidden_dims=(8,)), data_spec=spec)
    model.initialize(0)
    run = tmp_path_factory.mktemp("rel") / "run"
    vaekit.save(model, run)
    return run


# ================================================================================================ .vkz files
def _vc():
    pytest.importorskip("constriction")
    from vaekit.tasks import compress as vc

    return vc


def _recraft(blob: bytes, **changes) -> bytes:
    """The same file with header fields changed and its CRC recomputed (what an attacker can do)."""
    vc = _vc()
    head, payload = vc._unpack(blob)
    head = {k: v for k, v in head.items() if k != "payload_bytes"}
    for key, value in changes.items():
        if key.startswith("source."):
            head["source"] = dict(head.get("source") or {}, **{key[7:]: value})
        else:
            head[key] = value
    return vc._pack(head, payload)


@pytest.fixture(scope="module")
def image_vkz(binary_run, tmp_path_factory) -> Path:
    """A .vkz of a folder of three 1-bit PNGs (so the header carries file names)."""
    from PIL import Image

    vc = _vc()
    root = tmp_path_factory.mktemp("vkz")
    (root / "imgs").mkdir()
    for i, a in enumerate(_binary_images(3)):
        Image.fromarray(a.astype(bool)).save(root / "imgs" / f"{i}.png")
    return vc.compress_files(binary_run, [root / "imgs"], root / "imgs.vkz").path


@pytest.mark.parametrize("bad", ["{tmp}/abs/x.png", "../../x.png", "sub/../../x.png", "..", "a\\..\\x.png", "",
                                 "C:x.png", "a\x00b.png"])
def test_decompress_never_writes_outside_the_output_folder(tmp_path, binary_run, image_vkz, bad):
    vc = _vc()
    names = vc._unpack(image_vkz.read_bytes())[0]["source"]["names"]
    bad = bad.replace("{tmp}", str(tmp_path))  # an absolute path, kept inside the test's folder
    evil = tmp_path / "evil.vkz"
    evil.write_bytes(_recraft(image_vkz.read_bytes(), **{"source.names": [names[0], bad, names[2]]}))
    out = tmp_path / "deep" / "er" / "out"
    before = sorted(p for p in tmp_path.rglob("*"))
    with pytest.raises(DataError, match=r"evil\.vkz.*file name"):
        vc.decompress_file(binary_run, evil, out)
    assert sorted(p for p in tmp_path.rglob("*")) == before  # nothing written, not even the folder
    fails("decompress", binary_run, evil, "-o", out, match=r"evil\.vkz.*file name")


def test_decompress_refuses_duplicate_names_and_existing_files(tmp_path, binary_run, image_vkz):
    vc = _vc()
    names = vc._unpack(image_vkz.read_bytes())[0]["source"]["names"]
    dup = tmp_path / "dup.vkz"
    dup.write_bytes(_recraft(image_vkz.read_bytes(), **{"source.names": [names[0], names[0], names[2]]}))
    with pytest.raises(DataError, match="more than once"):
        vc.decompress_file(binary_run, dup, tmp_path / "o1")
    # An existing file inside an existing output folder is replaced only with --overwrite.
    out = tmp_path / "o2"
    out.mkdir()
    (out / names[1]).write_bytes(b"keep me")
    with pytest.raises(DataError, match="already exists"):
        vc.decompress_file(binary_run, image_vkz, out)
    assert (out / names[1]).read_bytes() == b"keep me"
    res = vc.decompress_file(binary_run, image_vkz, out, overwrite=True)
    assert sorted(p.name for p in res.files) == sorted(names) and (out / names[1]).read_bytes() != b"keep me"


def test_decompress_does_not_follow_a_symlink_out_of_the_folder(tmp_path, binary_run, image_vkz):
    vc = _vc()
    evil = tmp_path / "evil.vkz"
    evil.write_bytes(_recraft(image_vkz.read_bytes(), **{"source.names": ["a.png", "link/x.png", "c.png"]}))
    out, elsewhere = tmp_path / "out", tmp_path / "elsewhere"
    out.mkdir()
    elsewhere.mkdir()
    (out / "link").symlink_to(elsewhere)
    with pytest.raises(DataError, match="outside"):
        vc.decompress_file(binary_run, evil, out, overwrite=True)
    assert not any(elsewhere.iterdir())


@pytest.fixture(scope="module")
def array_blobs(binary_run) -> dict:
    """Lossless and lossy .vkz bytes of five tiny binary images, and the model that wrote them."""
    vc = _vc()
    model = vaekit.load(binary_run)
    x = _binary_images(5)
    return {"model": model, "lossless": vc.compress(model, x), "lossy": vc.compress(model, x, lossy=True, bits=4)}


class _Deadline:
    """Fail (instead of hanging) when the body runs longer than ``seconds``: a crafted file must not loop."""

    def __init__(self, seconds: int):
        self.seconds = seconds

    def __enter__(self):
        import signal

        def alarm(*_):
            raise TimeoutError(f"still running after {self.seconds} s")

        self.old = signal.signal(signal.SIGALRM, alarm)
        signal.alarm(self.seconds)

    def __exit__(self, *exc):
        import signal

        signal.alarm(0)
        signal.signal(signal.SIGALRM, self.old)


@pytest.mark.parametrize("mode,changes,match", [
    ("lossless", {"max_batch": 0}, "max_batch"),
    ("lossy", {"max_batch": 0}, "max_batch"),
    ("lossless", {"max_batch": -3}, "max_batch"),
    ("lossless", {"max_batch": "64"}, "max_batch"),
    ("lossless", {"max_batch": True}, "max_batch"),
    ("lossless", {"n": 1e9, "array_shape": [1e9, 4, 4]}, "'n'"),
    ("lossless", {"n": 10**9, "array_shape": [10**9, 4, 4]}, "GiB"),
    ("lossy", {"n": 10**9, "array_shape": [10**9, 4, 4]}, "GiB"),
    ("lossless", {"n": 6}, "array_shape"),
    ("lossless", {"n": -1, "array_shape": [-1, 4, 4]}, "'n'"),
    ("lossless", {"array_shape": [5, 16, 1]}, "array_shape"),
    ("lossless", {"dtype": "|O"}, "dtype"),
    ("lossless", {"dtype": "not a dtype"}, "dtype"),
    ("lossless", {"dtype": "<f8"}, "value_map"),
    ("lossless", {"value_map": {"kind": "int", "scale": 0}}, "value_map"),
    ("lossless", {"value_map": "int"}, "value_map"),
    ("lossless", {"levels": 256}, "levels"),
    ("lossless", {"latent_dim": 7}, "latent_dim"),
    ("lossless", {"data_shape": [1, 2, 8]}, "data_shape"),
    ("lossless", {"latent_precision": 40}, "latent_precision"),
    ("lossless", {"initial_words": 10**9}, "initial_words"),
    ("lossless", {"layout": "sideways"}, "layout"),
    ("lossless", {"array_type": "pickle"}, "array_type"),
    ("lossless", {"mode": "magic"}, "mode"),
    ("lossless", {"data_sha256": 5}, "data_sha256"),
    ("lossy", {"bits": 64}, "bits"),
    ("lossy", {"active_dims": [0, 9]}, "active_dims"),
    ("lossy", {"active_dims": [0, 0]}, "active_dims"),
    ("lossy", {"n": 500, "array_shape": [500, 4, 4]}, "payload"),
    ("lossless", {"source": ["x"]}, "source"),
    ("lossless", {"source": {"kind": "images", "names": "abc"}}, "names"),
    ("lossless", {"source": {"kind": "npz", "key": "../x"}}, "key"),
])
def test_crafted_header_fields_are_refused_before_any_work(array_blobs, mode, changes, match):
    """Every header field is checked (type, range, agreement with the model and the payload) before allocating."""
    vc = _vc()
    data = _recraft(array_blobs[mode], **changes)
    with _Deadline(20), pytest.raises(DataError, match=rf"'crafted\.vkz'.*{match}|{match}.*'crafted\.vkz'"):
        vc.decompress(array_blobs["model"], data, name="crafted.vkz")


def test_a_lossless_file_claiming_more_images_than_its_payload_holds_is_refused(array_blobs, monkeypatch):
    """n within the size limit but far beyond what the payload holds: no up-front allocation of n images, and
    the decoded stream fails its final check (it never returns made-up images)."""
    vc = _vc()
    data = _recraft(array_blobs["lossless"], n=100_000, array_shape=[100_000, 4, 4])
    real_empty = np.empty

    def no_big_empty(shape, *a, **k):  # the old decoder allocated (n, D) before decoding anything
        assert int(np.prod(shape)) < 100_000 * 16, f"allocated {shape} up front"
        return real_empty(shape, *a, **k)

    monkeypatch.setattr(vc.np, "empty", no_big_empty)
    with _Deadline(20), pytest.raises(DataError, match="crafted.vkz.*(ends before|did not unwind)"):
        vc.decompress(array_blobs["model"], data, name="crafted.vkz")


def test_the_cli_names_the_crafted_file(tmp_path, binary_run, array_blobs):
    bad = tmp_path / "bad.vkz"
    bad.write_bytes(_recraft(array_blobs["lossless"], max_batch=0))
    with _Deadline(20):
        fails("decompress", binary_run, bad, "-o", tmp_path / "o.npy", match=r"bad\.vkz.*max_batch")
    assert not (tmp_path / "o.npy").exists()


def test_compress_refuses_an_empty_folder(tmp_path, binary_run):
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "notes.txt").write_text("no images here")
    fails("compress", binary_run, tmp_path / "empty", "-o", tmp_path / "e.vkz", match=r"empty.*no image files")
    assert not (tmp_path / "e.vkz").exists()


def test_the_codec_reads_capabilities_not_names():
    """compress/_bitsback test no class names and keep no private likelihood table (issue 14 item 4)."""
    import inspect

    from vaekit.tasks import _bitsback, compress

    for module in (compress, _bitsback):
        src = inspect.getsource(module)
        assert "__name__ ==" not in src and "__name__ !=" not in src and "_LIKELIHOOD_LEVELS" not in src
        assert "_posterior_params" not in src and "config.likelihood ==" not in src
