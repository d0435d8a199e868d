"""Hostile and broken inputs at the edges (issue 16): crafted .vkz files, bombs, non-finite requests,
read-only and full output folders, and messages that name the real problem.

Everything runs at tiny size on untrained models (bits-back coding round-trips with any model).
"""

from __future__ import annotations

import json
import os
import re
import time
from pathlib import Path

import numpy as np
import pytest
import torch

import vaekit
from vaekit.config import DataSpec, ModelConfig
from vaekit.data.synthetic import make_oversized_png
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


# ================================================================================================ the server
def _serve_client(model, **kw):
    pytest.importorskip("fastapi")
    pytest.importorskip("httpx")
    from fastapi.testclient import TestClient

    from vaekit.serve import create_app

    return TestClient(create_app(model, max_points=0, **kw))


@pytest.fixture(scope="module")
def table_model():
    from vaekit.data import make_table

    frame = make_table(60, seed=0).drop(columns="label")
    data = vaekit.datasets.from_array(frame)
    model = vaekit.VAE.for_data(data, latent_dim=2, hidden_dims=(8,))
    model.initialize(0)
    return frame, model


@pytest.fixture(scope="module")
def vector_model():
    data = vaekit.datasets.from_array(np.random.default_rng(0).normal(size=(40, 5)).astype(np.float32))
    model = vaekit.VAE.for_data(data, latent_dim=2, hidden_dims=(8,))
    model.initialize(0)
    return model


def _number_column(frame) -> str:
    return next(c for c in frame.columns if frame[c].dtype.kind == "f")


@pytest.mark.parametrize("path", ["/score", "/encode", "/reconstruct"])
@pytest.mark.parametrize("value", [1e20, 1e300, -1e38])
def test_huge_table_values_never_look_normal(table_model, path, value):
    """A value far outside the data is refused (422 with the reason) or scored as far more anomalous than a
    normal row; never a 'normal' score, never codes of 0 (the old answer, from NaN turned into 0)."""
    frame, model = table_model
    client = _serve_client(model)
    row = frame.iloc[0].to_dict()
    assert client.post(path, json={"records": [row]}).status_code == 200
    bad = dict(row, **{_number_column(frame): value})
    r = client.post(path, json={"records": [row, bad]})
    if r.status_code == 422:  # refused by the server (results not finite) or by the table encoder (range)
        msg = json.dumps(r.json()["detail"])
        assert re.search(r"example 1: .*not finite|has .* in row 2, too far outside", msg), msg
        return
    assert r.status_code == 200 and value != 1e300, r.json()  # beyond float32 (1e300) is always refused
    out = r.json()
    if path == "/score":
        assert np.isfinite(out["scores"]).all() and out["scores"][1] > 1e3 * abs(out["scores"][0]), out["scores"]
    else:
        z = np.asarray(out["z"] if path == "/reconstruct" else out["mean"])
        assert np.isfinite(z).all() and np.abs(z[1]).max() > 1e3 * np.abs(z[0]).max(), z


@pytest.mark.parametrize("path", ["/score", "/encode", "/reconstruct"])
def test_non_finite_arrays_and_overflowing_models_are_refused(vector_model, path):
    import copy

    client = _serve_client(vector_model)
    for text in ('{"arrays": [[0, 0, 0, 0, 0], [NaN, 0, 0, 0, 0]]}', '{"arrays": [[0, 0, 0, 0, 0], [Infinity, 0, 0, 0, 0]]}',
                 '{"arrays": [[0, 0, 0, 0, 0], [1e300, 0, 0, 0, 0]]}'):
        r = client.post(path, content=text, headers={"content-type": "application/json"})
        assert r.status_code == 422, (text, r.json())
        assert re.search("not finite|NaN or infinite", json.dumps(r.json()["detail"])), r.json()
    assert client.post(path, json={"arrays": [[0.1, 0, 0, 0, 0]]}).status_code == 200
    # Finite inputs on which the network overflows: the result cannot be computed, so it is refused.
    loud = copy.deepcopy(vector_model)
    with torch.no_grad():
        for p in loud.parameters():
            p.mul_(1e3)
    client = _serve_client(loud)
    assert client.post(path, json={"arrays": [[0.1, 0, 0, 0, 0]]}).status_code == 200
    r = client.post(path, json={"arrays": [[0.1, 0, 0, 0, 0], [3e37] * 5]})
    assert r.status_code == 422, r.json()
    msg = json.dumps(r.json()["detail"])
    assert "example 1: the" in msg and "not finite" in msg, msg
    if path == "/encode":  # the ends of an interpolation given as inputs
        r = client.post("/interpolate", json={"inputs": {"arrays": [[0.1, 0, 0, 0, 0], [3e37] * 5]}})
        assert r.status_code == 422 and "not finite" in json.dumps(r.json()["detail"]), r.json()


def test_score_work_per_request_is_bounded(vector_model):
    """k importance samples times the batch size is bounded, not just the body (issue 16 item 5)."""
    client = _serve_client(vector_model, max_batch=256)
    rows = [[0.0] * 5] * 256
    r = client.post("/score", json={"arrays": rows, "method": "iwae", "k": 5000})
    assert r.status_code == 413 and "k" in r.json()["detail"] and "1,280,000" in r.json()["detail"], r.json()
    assert client.post("/score", json={"arrays": rows[:2], "method": "iwae", "k": 50}).status_code == 200
    r = client.post("/score", json={"arrays": rows, "method": "elbo", "n_samples": 1000})
    assert r.status_code == 413
    assert client.get("/info").json()["limits"]["max_work"] > 0


def test_score_runs_in_slices_so_other_requests_get_the_lock(vector_model):
    """A large allowed request runs in slices of bounded work, each under the lock on its own."""
    from vaekit.serve import LikelihoodScorer

    calls = []

    class Spy(LikelihoodScorer):
        def score(self, x, request):
            calls.append(len(x))
            return super().score(x, request)

    client = _serve_client(vector_model, max_batch=64, scorer=Spy(vector_model), max_work=64 * 100)
    rows = np.random.default_rng(1).normal(size=(64, 5)).round(3).tolist()
    r = client.post("/score", json={"arrays": rows, "method": "iwae", "k": 100})
    assert r.status_code == 200 and len(r.json()["scores"]) == 64
    assert len(calls) > 1 and max(calls) * 100 <= 2048, calls


@pytest.mark.filterwarnings("ignore::PIL.Image.DecompressionBombWarning")  # Pillow warns above 89 Mpx
@pytest.mark.parametrize("size", [(20000, 20000), (12000, 12000)])
def test_decompression_bomb_png_is_4xx_on_every_image_endpoint(size):
    import base64

    spec = DataSpec(kind="image", shape=SHAPE, levels=256, image_mode="L", name="tiny")
    model = vaekit.VAE(ModelConfig(data_shape=SHAPE, latent_dim=2, hidden_dims=(8,)), data_spec=spec)
    model.initialize(0)
    client = _serve_client(model)
    bomb = make_oversized_png(*size)
    text = base64.b64encode(bomb).decode()
    # Pillow refuses the largest headers itself (DecompressionBombError, naming the pixel count); the server
    # refuses the others by their size, before decoding.
    said = f"{size[0] * size[1]} pixels" if size[0] * size[1] > 2 * 89_478_485 else f"{size[0]}x{size[1]}"
    for path in ("/encode", "/reconstruct", "/score"):
        r = client.post(path, json={"images": [text]})
        assert r.status_code == 413 and said in r.json()["detail"], r.json()
    for path in ("/encode/upload", "/score/upload", "/reconstruct/upload"):
        r = client.post(path, files=[("files", ("bomb.png", bomb, "image/png"))])
        assert r.status_code == 413 and said in r.json()["detail"], r.json()
    assert client.get("/info").status_code == 200


@pytest.fixture
def live_server(vector_model):
    """The app on a real uvicorn server on 127.0.0.1 (a free port) in a thread: (base_url, port)."""
    pytest.importorskip("fastapi")
    uvicorn = pytest.importorskip("uvicorn")
    import socket
    import threading

    from vaekit.serve import create_app

    app = create_app(vector_model, max_points=0, max_body_bytes=64 * 1024, body_timeout=3.0)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="critical", lifespan="off",
                                           timeout_keep_alive=0.5))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.02)
    assert server.started, "uvicorn did not start"
    yield f"http://127.0.0.1:{port}", port
    server.should_exit = True
    thread.join(timeout=10)


def _raw_response(port: int, request: bytes, wait: float) -> bytes:
    """Send ``request`` on a raw socket and read what comes back within ``wait`` seconds."""
    import socket

    with socket.create_connection(("127.0.0.1", port), timeout=wait) as sock:
        sock.sendall(request)
        got = b""
        end = time.monotonic() + wait
        while time.monotonic() < end:
            try:
                chunk = sock.recv(65536)
            except socket.timeout:
                break
            if not chunk:
                break
            got += chunk
        return got


def test_a_content_length_larger_than_the_body_does_not_hold_the_connection(live_server):
    _, port = live_server
    head = (b"POST /encode HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            b"Content-Length: 1000\r\n\r\n")
    t0 = time.monotonic()
    got = _raw_response(port, head + b'{"arrays": [[0', wait=8)  # the server closes after answering
    assert got.startswith(b"HTTP/1.1 408"), got[:200]
    assert b"did not arrive within 3 s" in got and time.monotonic() - t0 < 6


def _post_all_then_read(port: int, path: str, body: bytes, *, chunked: bool, content_type: str,
                        seconds: float = 0.0) -> bytes:
    """What a plain client does (urllib3, curl without Expect): send the whole request, then read the answer."""
    import socket

    head = f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: {content_type}\r\n"
    if chunked:
        head += "Transfer-Encoding: chunked\r\n\r\n"
        step = 1 << 16
        payload = b"".join(b"%x\r\n%s\r\n" % (len(body[i:i + step]), body[i:i + step])
                           for i in range(0, len(body), step)) + b"0\r\n\r\n"
    else:
        head += f"Content-Length: {len(body)}\r\n\r\n"
        payload = body
    with socket.create_connection(("127.0.0.1", port), timeout=20) as sock:
        sock.sendall(head.encode())
        pieces = 4 if seconds else 1
        step = -(-len(payload) // pieces)
        for i in range(0, len(payload), step):  # the old server closed mid-upload: a reset here or below
            sock.sendall(payload[i:i + step])
            time.sleep(seconds / pieces)
        got = b""
        while b"\r\n\r\n" not in got or len(got.partition(b"\r\n\r\n")[2]) < _content_length(got):
            chunk = sock.recv(65536)
            if not chunk:
                break
            got += chunk
        return got


def _content_length(raw: bytes) -> int:
    m = re.search(rb"content-length: (\d+)", raw, re.I)
    return int(m.group(1)) if m else 0


@pytest.mark.parametrize("chunked", [False, True])
def test_an_oversized_post_gets_a_413_the_client_receives(live_server, chunked):
    import httpx

    base, port = live_server
    body = b'{"arrays": [' + b"[0, 0, 0, 0, 0], " * (20 * 2**20 // 17) + b"[0, 0, 0, 0, 0]]}"  # ~20 MiB
    for path, ctype in (("/encode", "application/json"), ("/score", "application/json"),
                        ("/score/upload", "multipart/form-data; boundary=x"), ("/decode", "text/plain")):
        got = _post_all_then_read(port, path, body, chunked=chunked, content_type=ctype)
        assert got.startswith(b"HTTP/1.1 413"), got[:300]
        assert b"exceeds the limit of 65,536 bytes" in got
    with httpx.Client(timeout=20) as client:
        assert client.post(base + "/encode", json={"arrays": [[0.1, 0, 0, 0, 0]]}).status_code == 200


@pytest.mark.parametrize("chunked", [False, True])
def test_a_slow_oversized_upload_still_receives_its_413(live_server, chunked):
    """A client still uploading when the server has answered used to be cut off (keep-alive timer)."""
    _, port = live_server
    body = b'{"arrays": [' + b"[0, 0, 0, 0, 0], " * 30_000 + b"[0, 0, 0, 0, 0]]}"  # ~500 KiB, over 64 KiB
    got = _post_all_then_read(port, "/encode", body, chunked=chunked, content_type="application/json", seconds=2.4)
    assert got.startswith(b"HTTP/1.1 413"), got[:300]


@pytest.mark.filterwarnings("ignore::PIL.Image.DecompressionBombWarning")  # Pillow warns above 89 Mpx
@pytest.mark.parametrize("size", [(20000, 20000), (12000, 12000)])
def test_huge_image_files_are_refused_before_decoding_by_cli_commands(tmp_path, binary_run, size):
    """A 144-Mpx (or bomb) PNG header: one clear line naming the file and its size, nothing decoded."""
    folder = tmp_path / "imgs"
    folder.mkdir()
    (folder / "big.png").write_bytes(make_oversized_png(*size))
    said = r"big\.png.*(12000x12000|too large)"
    fails("reconstruct", binary_run, folder, "-o", tmp_path / "r.png", match=said)
    fails("embed", binary_run, folder, "-o", tmp_path / "e.npy", match=said)
    fails("denoise", binary_run, folder / "big.png", "-o", tmp_path / "d.png", match=said)
    fails("compress", binary_run, folder, "-o", tmp_path / "c.vkz", match=said)
    with pytest.raises(DataError, match=said):
        vaekit.datasets.load(str(folder))


# ================================================================================================ unwritable outputs
def _mount_tmpfs(path: Path, size: str) -> str | None:
    """Mount a small tmpfs at ``path``; None when it worked, else why not (no privilege, no mount)."""
    import shutil
    import subprocess

    if shutil.which("mount") is None:
        return "no mount command"
    path.mkdir(parents=True, exist_ok=True)
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)], capture_output=True,
                       text=True, timeout=20)
    return None if r.returncode == 0 else f"cannot mount a tmpfs here ({r.stderr.strip() or r.returncode})"


def _umount(path: Path) -> None:
    import subprocess

    subprocess.run(["umount", str(path)], capture_output=True, timeout=20)


@pytest.fixture
def read_only_dir(tmp_path):
    """A folder where writes fail with EROFS (a tmpfs remounted read-only) or, for a non-root user, EACCES."""
    import subprocess

    target = tmp_path / "ro"
    why = _mount_tmpfs(target, "1m")
    if why is None:
        r = subprocess.run(["mount", "-o", "remount,ro", str(target)], capture_output=True, text=True, timeout=20)
        if r.returncode == 0:
            yield target
            _umount(target)
            return
        _umount(target)
        why = f"cannot remount read-only ({r.stderr.strip()})"
    if os.geteuid() != 0:
        target.mkdir(exist_ok=True)
        target.chmod(0o555)  # works for a normal user; root ignores permission bits
        yield target
        target.chmod(0o755)
        return
    pytest.skip(f"no read-only folder can be made: running as root (chmod does not stop root) and {why}")


@pytest.fixture
def full_dir(tmp_path):
    """A folder on a small file system that is full (writes fail with ENOSPC)."""
    target = tmp_path / "full"
    why = _mount_tmpfs(target, "256k")
    if why is not None:
        pytest.skip(f"no small full file system can be made: {why}")
    try:
        with open(target / "filler", "wb", buffering=0) as f:
            try:
                while True:
                    f.write(b"\0" * 4096)
                    f.flush()
            except OSError:
                pass
        yield target
    finally:
        _umount(target)


def _writing_commands(run: Path, data: Path, vkz: Path, out: Path) -> list[list]:
    return [
        ["sample", run, "-n", "4", "-o", out / "s.png"],
        ["reconstruct", run, data, "-o", out / "r.png"],
        ["embed", run, data, "-o", out / "e.npy"],
        ["compress", run, data, "-o", out / "c.vkz"],
        ["decompress", run, vkz, "-o", out / "d.npy"],
        ["traverse", run, "-o", out / "t.png"],
        ["train", data, "--out", out / "run", "--epochs", "1", "--hidden-dims", "8", "--latent-dim", "2", "--quiet"],
    ]


@pytest.fixture
def cli_inputs(tmp_path, binary_run):
    vc = _vc()
    data = tmp_path / "x.npy"
    np.save(data, _binary_images(12))
    vkz = vc.compress_files(binary_run, [data], tmp_path / "x.vkz").path
    return binary_run, data, vkz


@pytest.mark.parametrize("kind", ["read_only", "full"])
def test_every_writing_command_on_an_unwritable_folder_is_one_line_and_exit_2(request, cli_inputs, kind):
    out = request.getfixturevalue(f"{kind}_dir")
    reason = "Read-only file system|Permission denied" if kind == "read_only" else "No space left"
    for args in _writing_commands(*cli_inputs, out):
        result = invoke(*args)
        assert result.exit_code == 2, (args[0], result.output, repr(result.exception))
        lines = result.output.strip().splitlines()  # progress lines may come first; one error line, last
        errors = [line for line in lines if line.startswith("Error: ")]
        assert errors == lines[-1:], (args[0], result.output)
        assert re.search(reason, errors[0]) and str(out) in errors[0], (args[0], errors[0])
        assert ".tmp" not in errors[0] and "Traceback" not in result.output, (args[0], errors[0])


def test_debug_shows_the_traceback_of_an_unwritable_folder(read_only_dir, cli_inputs):
    run, *_ = cli_inputs
    result = invoke("--debug", "sample", run, "-n", "2", "-o", read_only_dir / "s.png")
    assert result.exit_code != 0 and isinstance(result.exception, OSError), repr(result.exception)


def test_an_empty_npy_file_is_one_clear_line_not_aborted(tmp_path, binary_run):
    (tmp_path / "empty.npy").write_bytes(b"")
    result = invoke("embed", binary_run, tmp_path / "empty.npy", "-o", tmp_path / "e.npy")
    assert result.exit_code == 2 and "Aborted" not in result.output, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: ") and re.search(r"empty\.npy' is empty", lines[0]), lines
    debug = invoke("--debug", "embed", binary_run, tmp_path / "empty.npy", "-o", tmp_path / "e.npy")
    assert debug.exit_code != 0 and "Aborted" not in debug.output and debug.exception is not None
    assert not isinstance(debug.exception, SystemExit), repr(debug.exception)


# ================================================================================================ wrong messages
def test_denoise_and_impute_on_a_folder_say_it_is_a_folder(tmp_path, binary_run):
    (tmp_path / "folder").mkdir()
    fails("denoise", binary_run, tmp_path / "folder", "-o", tmp_path / "o.png", match=r"'.*folder' is a folder")
    fails("impute", tmp_path / "folder", "-o", tmp_path / "o.csv", match=r"'.*folder' is a folder")
    fails("decompress", binary_run, tmp_path / "folder", "-o", tmp_path / "o.npy", match=r"'.*folder' is a folder")


@pytest.mark.parametrize("content", [b"age,income\n1,2\n", b"", b"\x00\x01\x02garbage"])
def test_a_file_renamed_npy_is_not_reported_as_pickled_data(tmp_path, binary_run, content):
    bad = tmp_path / "table.npy"
    bad.write_bytes(content)
    said = r"table\.npy' is (empty|not a NumPy)"
    for args in (["reconstruct", binary_run, bad, "-o", tmp_path / "r.png"],
                 ["embed", binary_run, bad, "-o", tmp_path / "e.npy"],
                 ["train", bad, "--out", tmp_path / "run", "--epochs", "1"],
                 ["compress", binary_run, bad, "-o", tmp_path / "c.vkz"],
                 ["denoise", binary_run, bad, "-o", tmp_path / "d.npy"]):
        result = fails(*args, match=said)
        assert "pickle" not in result.output.replace("never unpickles", ""), result.output
    if content.startswith(b"age"):
        fails("reconstruct", binary_run, bad, "-o", tmp_path / "r.png", match=r"looks like text")


def test_unscaled_huge_values_warn_at_loading_naming_the_file_and_range(tmp_path, caplog):
    path = tmp_path / "big.npy"
    np.save(path, (np.arange(40, dtype=np.int64).reshape(10, 4) + 2**40))
    with caplog.at_level("WARNING", logger="vaekit"):
        vaekit.datasets.load(str(path))
    text = " ".join(r.getMessage() for r in caplog.records)
    assert "big.npy" in text and "1.1e+12" in text and "standardi" in text, text
    caplog.clear()
    np.save(tmp_path / "ok.npy", np.random.default_rng(0).normal(size=(10, 4)))
    with caplog.at_level("WARNING", logger="vaekit"):
        vaekit.datasets.load(str(tmp_path / "ok.npy"))
    assert not caplog.records


# ================================================================================================ --debug
@pytest.mark.parametrize("case", ["traversal", "crafted header", "empty folder", "bomb image", "renamed npy", "folder"])
def test_each_case_is_one_line_without_debug_and_a_traceback_with_it(tmp_path, binary_run, image_vkz, case):
    _vc()  # constriction, for the .vkz cases
    if case in ("traversal", "crafted header"):
        changes = {"source.names": ["a.png", "../../x.png", "c.png"]} if case == "traversal" else {"max_batch": 0}
        bad = tmp_path / "bad.vkz"
        bad.write_bytes(_recraft(image_vkz.read_bytes(), **changes))
        args = ["decompress", binary_run, bad, "-o", tmp_path / "out"]
    elif case == "empty folder":
        (tmp_path / "empty").mkdir()
        args = ["compress", binary_run, tmp_path / "empty", "-o", tmp_path / "e.vkz"]
    elif case == "bomb image":
        (tmp_path / "imgs").mkdir()
        (tmp_path / "imgs" / "big.png").write_bytes(make_oversized_png(20000, 20000))
        args = ["reconstruct", binary_run, tmp_path / "imgs", "-o", tmp_path / "r.png"]
    elif case == "renamed npy":
        (tmp_path / "t.npy").write_text("a,b\n1,2\n")
        args = ["reconstruct", binary_run, tmp_path / "t.npy", "-o", tmp_path / "r.png"]
    else:
        (tmp_path / "folder").mkdir()
        args = ["denoise", binary_run, tmp_path / "folder", "-o", tmp_path / "d.png"]
    plain = invoke(*args)
    assert plain.exit_code == 2, plain.output
    lines = plain.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: ") and "Traceback" not in plain.output, plain.output
    debug = invoke("--debug", *args)
    assert debug.exit_code != 0 and isinstance(debug.exception, DataError), repr(debug.exception)


def test_a_chunked_body_under_the_limit_is_served(live_server):
    # the chunked body is read ahead of the app (up to the limit) and then replayed to it
    _, port = live_server
    row = b"[0.1, 0, 0, 0, 0]" + b" " * 160  # JSON whitespace: 200 rows of 177 bytes, ~35 KB (over half the limit)
    body = b'{"arrays": [' + b", ".join([row] * 200) + b"]}"
    assert 32 * 1024 < len(body) < 64 * 1024
    got = _post_all_then_read(port, "/encode", body, chunked=True, content_type="application/json")
    assert got.startswith(b"HTTP/1.1 200"), got[:300]
