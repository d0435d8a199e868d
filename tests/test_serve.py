"""The ``vaekit serve`` API through FastAPI's TestClient: every endpoint, every error class, and the CLI.

Tiny models on the ``digits`` builtin (8x8 images, 17 grey levels) and on a generated table; a few
epochs each. TestClient re-raises any exception inside the app, so a malformed request that would
be a 500 fails the test.
"""

from __future__ import annotations

import base64
import io
import json
import re
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import vaekit
from vaekit.errors import CheckpointError, ConfigError
from vaekit.tasks.generate import to_data_range

pytest.importorskip("fastapi", reason="the serve extra is not installed: pip install 'vaekit[serve]'")
pytest.importorskip("httpx", reason="FastAPI's TestClient needs httpx")

from fastapi.testclient import TestClient  # noqa: E402

from vaekit.serve import LikelihoodScorer, create_app  # noqa: E402
from vaekit.serve.app import STATIC_DIR  # noqa: E402

pytestmark = [pytest.mark.filterwarnings("ignore::DeprecationWarning"), pytest.mark.usefixtures("one_torch_thread")]


# ----------------------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def digits():
    return vaekit.datasets.load("digits")


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory, digits) -> Path:
    """A VAE with latent_dim 3 trained for 3 epochs on the digits, saved as a run directory."""
    torch.manual_seed(0)
    run = tmp_path_factory.mktemp("serve") / "run"
    # N(0, I), not the grey-image preset's mixture: temperature 0 then means z = 0 (test_sample_is_seeded...)
    model = vaekit.VAE.for_data(digits, latent_dim=3, hidden_dims=(32,), prior="standard_normal")
    vaekit.fit(model, digits, epochs=3, seed=0, val_fraction=0.0, out=run, progress=False)
    return run


@pytest.fixture(scope="module")
def app(run_dir, digits):
    return create_app(run_dir, data=digits, max_batch=32, max_body_bytes=256 * 1024, max_points=300)


@pytest.fixture(scope="module")
def client(app):
    return TestClient(app)


@pytest.fixture(scope="module")
def model(app):
    return app.state.model


@pytest.fixture(scope="module")
def table():
    from vaekit.data import make_table

    frame = make_table(120, seed=0).drop(columns="label")
    data = vaekit.datasets.from_array(frame)
    model = vaekit.VAE.for_data(data, latent_dim=2, hidden_dims=(16,))
    vaekit.fit(model, data, epochs=2, seed=0, val_fraction=0.0, progress=False)
    return frame, TestClient(create_app(model, data=data, max_points=50))


def png_b64(x: torch.Tensor, spec) -> str:
    """One model-space image as a base64 8-bit PNG."""
    a = to_data_range(x[None], spec)[0, 0]  # (H, W) on the spec's grid (0..16 for digits)
    a = np.rint(a.astype(np.float64) * 255 / (spec.levels - 1)).astype(np.uint8)
    buf = io.BytesIO()
    Image.fromarray(a).save(buf, format="PNG")
    return base64.b64encode(buf.getvalue()).decode("ascii")


def decode_png(text: str) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(base64.b64decode(text))))


def detail(response) -> str:
    return json.dumps(response.json()["detail"])


# ----------------------------------------------------------------------------------------- metadata
def test_info_describes_model_data_metrics_and_limits(client, model):
    info = client.get("/info").json()
    assert info["class_name"] == "VAE" and info["latent_dim"] == 3
    assert info["model"]["hidden_dims"] == [32] and info["model"]["likelihood"] == model.config.likelihood
    assert info["data"]["kind"] == "image" and info["data"]["shape"] == [1, 8, 8]
    assert info["data"]["label_names"] == [str(i) for i in range(10)]
    assert info["metrics"]["last_epoch"]["epoch"] == 3  # the last row of the run's metrics.csv
    assert info["limits"] == {"max_batch": 32, "max_body_bytes": 256 * 1024, "max_image_pixels": 2048 * 2048,
                              "max_work": 25600, "body_timeout": 30.0}
    assert info["score"]["higher_is"] == "more anomalous"
    assert info["default_output"] == "png"


def test_latent_map_projects_the_training_means_with_pca(client, model, digits):
    m = client.get("/latent").json()
    assert m["n"] == 300 and len(m["points"]) == 300 and len(m["labels"]) == 300
    assert m["axes"] == ["PC 1", "PC 2"] and len(m["slider_range"][0]) == 3
    # the projection given to the page maps each mean to its dot
    proj = m["projection"]
    comps, mean = np.array(proj["components"]), np.array(proj["mean"])
    assert comps.shape == (2, 3)
    z = model.encode(digits.x[:5]).mean.detach().numpy()
    enc = client.post("/encode", json={"arrays": digits.x[:5].numpy().tolist()}).json()
    np.testing.assert_allclose(enc["projected"], (z - mean) @ comps.T, atol=1e-4)


def test_page_and_static_files_are_served_and_offline(client):
    page = client.get("/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    for asset in ("/static/app.js", "/static/style.css"):
        assert asset in page.text
        assert client.get(asset).status_code == 200
    for path in STATIC_DIR.iterdir():  # no CDN, no other host: the page works offline
        assert not re.search(r"(https?:)?//[a-z0-9.-]+\.[a-z]{2,}", path.read_text(encoding="utf-8")), path.name
    assert client.get("/docs").status_code == 200
    schema = client.get("/openapi.json").json()
    assert {"/info", "/sample", "/encode", "/decode", "/reconstruct", "/interpolate", "/score"} <= set(schema["paths"])


def test_api_docs_load_their_scripts_from_this_server(client):
    """/docs and /redoc work offline: Swagger UI's and ReDoc's files come from this server, not a CDN."""
    pytest.importorskip("fastapi_offline", reason="the serve extra ships Swagger UI's files in fastapi-offline")
    for page in ("/docs", "/redoc"):
        html = client.get(page)
        assert html.status_code == 200 and html.headers["content-type"].startswith("text/html")
        urls = re.findall(r"""(?:src|href)=["']([^"']+)["']""", html.text) + re.findall(r"url: ?'([^']+)'", html.text)
        assert urls and not [u for u in urls if re.match(r"(https?:)?//", u)], urls
        for url in urls:
            r = client.get(url)
            assert r.status_code == 200 and len(r.content) > 100, url
    assert "SwaggerUIBundle" in client.get("/docs-static/swagger-ui-bundle.js").text


# ----------------------------------------------------------------------------------------- verbs
def test_sample_is_seeded_and_says_its_shape(client):
    a = client.post("/sample", json={"n": 4, "seed": 3}).json()
    b = client.post("/sample", json={"n": 4, "seed": 3}).json()
    c = client.post("/sample", json={"n": 4, "seed": 4}).json()
    assert a["shape"] == [4, 1, 8, 8] and a["n"] == 4 and a["format"] == "png" and len(a["images"]) == 4
    assert a["images"] == b["images"] and a["images"] != c["images"]
    assert decode_png(a["images"][0]).shape == (8, 8)
    cold = client.post("/sample", json={"n": 3, "temperature": 0.0, "output": "array"}).json()
    assert cold["dtype"] == "uint8"  # the data's own units: 17 grey levels, 0..16
    arr = np.array(cold["arrays"])
    assert arr.shape == (3, 1, 8, 8) and arr.max() <= 16
    assert (arr == arr[0]).all()  # temperature 0: every draw is z = 0


def test_encode_arrays_and_png_agree_with_the_model(client, model, digits):
    x = digits.x[:4]
    by_array = client.post("/encode", json={"arrays": x.numpy().tolist()}).json()
    q = model.encode(x)
    assert by_array["shape"] == [4, 3]
    np.testing.assert_allclose(by_array["mean"], q.mean.detach().numpy(), atol=1e-5)
    np.testing.assert_allclose(by_array["std"], q.stddev.detach().numpy(), atol=1e-5)
    # 8-bit PNGs of the 17-level digits: the same images up to 8-bit rounding (< 1/510 per pixel)
    pngs = [png_b64(xi, digits.spec) for xi in x]
    by_png = client.post("/encode", json={"images": pngs}).json()
    np.testing.assert_allclose(by_png["mean"], by_array["mean"], atol=5e-3)
    data_url = "data:image/png;base64," + pngs[0]
    np.testing.assert_allclose(client.post("/encode", json={"images": [data_url]}).json()["mean"][0],
                               by_png["mean"][0], atol=1e-5)


def test_decode_matches_the_decoder_mean(client, model):
    z = [[0.5, -1.0, 0.25], [0.0, 0.0, 0.0]]
    out = client.post("/decode", json={"z": z}).json()
    assert out["shape"] == [2, 1, 8, 8]
    expected = np.rint(model.decode(torch.tensor(z)).mean.detach().numpy().clip(0, 1) * 255).astype(np.uint8)
    for i in range(2):
        np.testing.assert_array_equal(decode_png(out["images"][i]), expected[i, 0])
    arr = client.post("/decode", json={"z": z, "output": "array"}).json()
    np.testing.assert_array_equal(arr["arrays"], to_data_range(model.decode(torch.tensor(z)).mean, model.data_spec))


def test_reconstruct_returns_outputs_and_codes(client, model, digits):
    out = client.post("/reconstruct", json={"arrays": digits.x[:3].numpy().tolist(), "output": "array"}).json()
    assert out["shape"] == [3, 1, 8, 8] and len(out["z"]) == 3
    expected = to_data_range(model.reconstruct(digits.x[:3]), model.data_spec)
    np.testing.assert_array_equal(out["arrays"], expected)


def test_interpolate_between_codes_and_between_inputs(client, model, digits):
    za, zb = [1.0, 0.0, -1.0], [-1.0, 2.0, 0.5]
    out = client.post("/interpolate", json={"z_a": za, "z_b": zb, "steps": 5, "output": "array"}).json()
    assert out["shape"] == [5, 1, 8, 8] and out["n"] == 5
    np.testing.assert_allclose(out["z"][0], za) and np.testing.assert_allclose(out["z"][-1], zb)
    np.testing.assert_allclose(out["z"][2], np.add(za, zb) / 2, atol=1e-6)
    ends = to_data_range(model.decode(torch.tensor([za, zb])).mean, model.data_spec)
    np.testing.assert_array_equal(np.array(out["arrays"])[[0, -1]], ends)
    by_inputs = client.post("/interpolate", json={"inputs": {"arrays": digits.x[:2].numpy().tolist()}, "steps": 3}).json()
    np.testing.assert_allclose(by_inputs["z"][0], model.embed(digits.x[:1])[0].numpy(), atol=1e-5)
    sph = client.post("/interpolate", json={"z_a": za, "z_b": zb, "steps": 5, "spherical": True}).json()
    assert not np.allclose(sph["z"][2], out["z"][2])


def test_score_is_the_negative_elbo_or_iwae_and_flags_noise(client, model, digits):
    x = digits.x[:6]
    out = client.post("/score", json={"arrays": x.numpy().tolist(), "seed": 5}).json()
    assert out["score"] == "neg_elbo" and out["shape"] == [6] and out["higher_is"] == "more anomalous"
    expected = -model.elbo(x, generator=torch.Generator().manual_seed(5))
    np.testing.assert_allclose(out["scores"], expected.detach().numpy(), rtol=1e-5)
    iwae = client.post("/score", json={"arrays": x.numpy().tolist(), "method": "iwae", "k": 200}).json()
    assert iwae["score"] == "neg_iwae" and iwae["k"] == 200
    elbo200 = client.post("/score", json={"arrays": x.numpy().tolist(), "n_samples": 200}).json()
    assert elbo200["n_samples"] == 200
    assert np.mean(iwae["scores"]) < np.mean(elbo200["scores"])  # IWAE_200 is tighter than the ELBO
    noise = torch.rand(6, 1, 8, 8, generator=torch.Generator().manual_seed(0))
    noisy = client.post("/score", json={"arrays": noise.numpy().tolist()}).json()
    assert min(noisy["scores"]) > max(out["scores"])


def test_uploads_match_the_json_endpoints(client, digits):
    pngs = [base64.b64decode(png_b64(xi, digits.spec)) for xi in digits.x[:2]]
    files = [("files", (f"{i}.png", b, "image/png")) for i, b in enumerate(pngs)]
    as_json = {"images": [base64.b64encode(b).decode() for b in pngs]}
    assert client.post("/encode/upload", files=files).json()["mean"] == client.post("/encode", json=as_json).json()["mean"]
    rec = client.post("/reconstruct/upload", files=files).json()
    assert rec["images"] == client.post("/reconstruct", json=as_json).json()["images"]
    score = client.post("/score/upload", files=files, data={"method": "iwae", "k": "20"}).json()
    assert score["score"] == "neg_iwae" and score["scores"] == client.post(
        "/score", json={**as_json, "method": "iwae", "k": 20}).json()["scores"]


def test_table_model_takes_and_returns_records(table):
    frame, client = table
    assert client.get("/info").json()["default_output"] == "records"
    records = json.loads(frame.head(3).to_json(orient="records"))
    out = client.post("/reconstruct", json={"records": records}).json()
    assert out["format"] == "records" and out["n"] == 3 and out["columns"] == list(frame.columns)
    assert set(out["records"][0]) == set(frame.columns)
    assert out["records"][0]["color"] in ("red", "green", "blue")
    csv = frame.head(4).to_csv(index=False).encode()
    up = client.post("/score/upload", files=[("files", ("rows.csv", csv, "text/csv"))]).json()
    assert up["n"] == 4
    np.testing.assert_allclose(up["scores"], client.post("/score", json={"records": json.loads(
        frame.head(4).to_json(orient="records"))}).json()["scores"], rtol=1e-5)
    bad = client.post("/score", json={"records": [{"age": 30, "income": "lots"}]})
    assert bad.status_code == 422 and "records" in detail(bad)
    png = client.post("/decode", json={"z": [[0.0, 0.0]], "output": "png"})
    assert png.status_code == 422 and "output" in detail(png) and "'png' is for image models" in detail(png)
    img = client.post("/encode", json={"images": [base64.b64encode(b"\x89PNG").decode()]})
    assert img.status_code == 422 and "only work for models trained on images" in detail(img)


def test_autoencoder_is_scored_by_reconstruction_nll(digits):
    ae = vaekit.Autoencoder.for_data(digits, latent_dim=2, hidden_dims=(8,))
    client = TestClient(create_app(ae, max_points=0))
    out = client.post("/score", json={"arrays": digits.x[:2].numpy().tolist()}).json()
    assert out["score"] == "reconstruction_nll"
    expected = -ae.decode(ae.encode(digits.x[:2]).mean).log_prob(digits.x[:2])
    np.testing.assert_allclose(out["scores"], expected.detach().numpy(), rtol=1e-5)
    assert client.get("/latent").json()["points"] == []  # no data given, none loaded: the canvas is empty


def test_a_plugged_in_scorer_runs_under_inference_mode(model, digits):
    seen = {}

    class Recording(LikelihoodScorer):
        def score(self, x, request):
            seen["inference_mode"] = torch.is_inference_mode_enabled()
            seen["grad"] = torch.is_grad_enabled()
            return np.arange(len(x), dtype=np.float64), {"score": "custom"}

        def describe(self):
            return {"name": "custom", "higher_is": "more anomalous", "unit": "units"}

    client = TestClient(create_app(model, scorer=Recording(model), max_points=0))
    out = client.post("/score", json={"arrays": digits.x[:3].numpy().tolist()}).json()
    assert out["scores"] == [0.0, 1.0, 2.0] and out["score"] == "custom" and out["unit"] == "units"
    assert seen == {"inference_mode": True, "grad": False}
    assert client.get("/info").json()["score"]["name"] == "custom"


# ----------------------------------------------------------------------------------------- limits and errors
def test_bodies_over_the_limit_are_413(client):
    big = json.dumps({"arrays": [[0.5] * 64] * 8000}).encode()  # ~2 MB > 256 KiB
    r = client.post("/encode", content=big, headers={"content-type": "application/json"})
    assert r.status_code == 413 and "exceeds the limit of 262,144 bytes" in r.json()["detail"]

    def chunks():  # no Content-Length: the body is counted as it streams in
        for _ in range(40):
            yield b" " * 10_000

    r = client.post("/encode", content=chunks(), headers={"content-type": "application/json"})
    assert r.status_code == 413 and "exceeds the limit" in r.json()["detail"]
    assert client.get("/info").status_code == 200


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("/sample", {"n": 33}, "'n' holds 33 items"),
        ("/encode", {"arrays": [[0.0] * 64] * 33}, "'arrays' holds 33 items"),
        ("/decode", {"z": [[0.0] * 3] * 40}, "'z' holds 40 items"),
        ("/interpolate", {"z_a": [0, 0, 0], "z_b": [1, 1, 1], "steps": 100}, "'steps' holds 100 items"),
    ],
)
def test_batches_over_the_limit_are_413(client, path, body, field):
    r = client.post(path, json=body)
    assert r.status_code == 413 and field in r.json()["detail"] and "at most 32" in r.json()["detail"]


def test_images_over_the_pixel_limit_are_413_before_decoding(model, digits):
    client = TestClient(create_app(model, max_points=0, max_image_pixels=100))
    r = client.post("/encode", json={"images": [png_b64(digits.x[0], digits.spec)]})  # 8x8 = 64: fine
    assert r.status_code == 200
    buf = io.BytesIO()
    Image.new("L", (20, 20)).save(buf, format="PNG")
    r = client.post("/encode", json={"images": [base64.b64encode(buf.getvalue()).decode()]})
    assert r.status_code == 413 and "20x20 pixels" in r.json()["detail"]


@pytest.mark.parametrize(
    ("path", "body", "loc", "message"),
    [
        ("/decode", {"z": [[0.0, 0.0]]}, ["body", "z", 0], "expected shape (n, 3): latent_dim is 3"),
        ("/decode", {"z": []}, ["body", "z"], "expected shape (n, 3)"),
        ("/decode", {"z": "abc"}, ["body", "z"], "valid list"),
        ("/decode", {"z": [[0, 0, "x"]]}, ["body", "z", 0, 2], "valid number"),
        ("/decode", {"z": [[0, 0, 1e9]]}, ["body", "z", 0, 2], "less than or equal to 1000"),
        ("/decode", {"z": [[0, 0, 0]], "zz": 1}, ["body", "zz"], "Extra inputs are not permitted"),
        ("/decode", {}, ["body", "z"], "Field required"),
        ("/interpolate", {"z_a": [0, 0, 0], "z_b": [1, 1]}, ["body", "z_b"], "expected shape (3,)"),
        ("/interpolate", {"z_a": [0, 0, 0]}, ["body"], "Give both 'z_a' and 'z_b'"),
        ("/interpolate", {"inputs": {"arrays": [[0.0] * 64] * 3}}, ["body", "inputs"], "expected exactly 2"),
        ("/encode", {}, ["body"], "Give exactly one of 'images', 'arrays', 'records' or 'texts'"),
        ("/encode", {"arrays": [[0.0] * 64], "images": []}, ["body"], "exactly one"),
        ("/encode", {"arrays": [[0.0] * 10]}, ["body", "arrays"], "(n, 1, 8, 8)"),
        ("/encode", {"arrays": [[0.0] * 64, [0.0] * 3]}, ["body", "arrays"], "rectangular"),
        ("/encode", {"arrays": [["a"] * 64]}, ["body", "arrays"], "not numbers"),
        ("/encode", {"arrays": [[2.0] * 64]}, ["body", "arrays"], "floats in [0, 1]"),
        ("/encode", {"arrays": []}, ["body", "arrays"], "is empty"),
        ("/encode", {"images": ["not base64!"]}, ["body", "images", 0], "not valid base64"),
        ("/encode", {"images": [base64.b64encode(b"hello world").decode()]}, ["body", "images", 0], "not a readable image"),
        ("/encode", {"images": ["/etc/passwd"]}, ["body", "images", 0], "not valid base64"),
        ("/encode", {"records": [{"a": 1}]}, ["body", "records"], ""),
        ("/sample", {"n": 0}, ["body", "n"], "greater than or equal to 1"),
        ("/sample", {"n": "many"}, ["body", "n"], "valid integer"),
        ("/sample", {"temperature": -1}, ["body", "temperature"], "greater than or equal to 0"),
        ("/sample", {"output": "gif"}, ["body", "output"], "'png', 'array', 'records' or 'text'"),
        ("/score", {"arrays": [[0.0] * 64], "method": "magic"}, ["body", "method"], "'elbo' or 'iwae'"),
        ("/score", {"arrays": [[0.0] * 64], "k": 0}, ["body", "k"], "greater than or equal to 1"),
    ],
)
def test_invalid_requests_are_422_naming_the_field(client, path, body, loc, message):
    r = client.post(path, json=body)
    assert r.status_code == 422, r.text
    errors = r.json()["detail"]
    assert any(e["loc"] == loc and message in e["msg"] for e in errors), errors


def test_nan_and_broken_json_are_422(client):
    r = client.post("/decode", content=b'{"z": [[NaN, 0, 0]]}', headers={"content-type": "application/json"})
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", "z", 0, 0]
    r = client.post("/encode", content=b'{"arrays": [[NaN' + b", 0" * 63 + b"]]}",
                    headers={"content-type": "application/json"})
    assert r.status_code == 422 and "NaN" in detail(r)
    r = client.post("/decode", content=b'{"z": [[0, 0', headers={"content-type": "application/json"})
    assert r.status_code == 422 and r.json()["detail"][0]["type"] == "json_invalid"


def test_malformed_requests_never_500_and_the_server_keeps_answering(client):
    garbage = [
        b"", b"null", b"[]", b"42", b'"text"', b"[" * 5000, b"{" * 5000, b"\xff\xfe\x00", b'{"z": {"a": 1}}',
        b'{"arrays": [[[[[[[[1]]]]]]]]}', b'{"images": [null]}', b'{"records": "x"}', b'{"n": 1e400}',
        b'{"z": [[1e400, 0, 0]]}', b'{"inputs": 5}', b'{"arrays": [' + b"[0]," * 10 + b"[0]]}",
    ]
    paths = ["/sample", "/encode", "/decode", "/reconstruct", "/interpolate", "/score"]
    statuses = set()
    for path in paths:
        for body in garbage:
            for ctype in ("application/json", "text/plain"):
                r = client.post(path, content=body, headers={"content-type": ctype})
                assert r.status_code < 500, (path, body[:40], r.status_code, r.text[:200])
                statuses.add(r.status_code)
        for files in ([("files", ("a.png", b"\x89PNG\r\n\x1a\n" + b"\x00" * 50, "image/png"))],
                      [("files", ("a.csv", b"a,b\n1,2,3,4\n\xff", "text/csv"))], []):
            r = client.post(path + "/upload", files=files) if path in ("/encode", "/reconstruct", "/score") else None
            if r is not None:
                assert r.status_code < 500, (path, r.text[:200])
    r = client.post("/encode/upload", content=b"--x\r\nbroken", headers={"content-type": "multipart/form-data; boundary=x"})
    assert r.status_code < 500
    assert statuses <= {400, 413, 422}
    assert client.get("/info").status_code == 200
    assert client.post("/decode", json={"z": [[0, 0, 0]]}).status_code == 200


def test_cors_is_off_by_default_and_on_when_asked(model):
    origin = {"Origin": "http://example.org"}
    plain = TestClient(create_app(model, max_points=0))
    assert "access-control-allow-origin" not in plain.get("/info", headers=origin).headers
    opened = TestClient(create_app(model, max_points=0, cors_origins=["http://example.org"]))
    assert opened.get("/info", headers=origin).headers["access-control-allow-origin"] == "http://example.org"


def test_create_app_checks_its_parameters(tmp_path, model):
    with pytest.raises(ConfigError, match="The 'max_batch' parameter of create_app must be an int >= 1. Got 0 instead."):
        create_app(model, max_batch=0)
    with pytest.raises(ConfigError, match="The 'run_or_model' parameter of create_app must be a run directory"):
        create_app(42)
    with pytest.raises(CheckpointError, match="is not a run directory"):
        create_app(tmp_path / "missing")


def test_run_loads_its_own_training_data_for_the_canvas(run_dir):
    client = TestClient(create_app(run_dir, max_points=40))  # the run records 'digits' as its source
    m = client.get("/latent").json()
    assert m["n"] == 40 and len(set(m["labels"])) > 3


# ----------------------------------------------------------------------------------------- the command
def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_cli_serve_starts_a_real_server_on_loopback(run_dir):
    import httpx

    port = _free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "vaekit", "serve", str(run_dir), "--port", str(port), "--max-points", "50",
         "--log-level", "warning", "--threads", "1"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        deadline = time.monotonic() + 90
        info = None
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                info = httpx.get(f"http://127.0.0.1:{port}/info", timeout=2).json()
                break
            except httpx.HTTPError:
                time.sleep(0.2)
        assert info is not None, proc.stderr.read() if proc.poll() is not None else "server did not answer"
        assert info["latent_dim"] == 3
        r = httpx.post(f"http://127.0.0.1:{port}/decode", json={"z": [[0, 0]]}, timeout=10)
        assert r.status_code == 422
    finally:
        proc.terminate()
        out, err = proc.communicate(timeout=30)
    assert f"http://127.0.0.1:{port}/" in out


def test_cli_serve_help_has_examples():
    from typer.testing import CliRunner

    from vaekit.cli import app

    result = CliRunner().invoke(app, ["serve", "--help"], terminal_width=200)
    assert result.exit_code == 0 and "Examples" in result.output and "vaekit serve runs/digits" in result.output
