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
    model.save(run)
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
