"""The explorer page in a real browser: headless Debian Chromium driven by Playwright, against a real server.

The server is ``python -m vaekit serve`` on a free loopback port, serving a tiny model trained here on
the ``digits`` builtin. Chromium comes from Debian (``/usr/bin/chromium``), installed by ``.ci/run``; tests never install
system packages. Without it the test is skipped with the reason (and fails under CI). Playwright never downloads a browser (``executable_path`` is given).
"""

from __future__ import annotations

import io
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import vaekit

CHROMIUM = Path("/usr/bin/chromium")

pytest.importorskip("fastapi", reason="the serve extra is not installed: pip install 'vaekit[serve]'")
pytest.importorskip("httpx", reason="the browser test polls the server with httpx")
sync_api = pytest.importorskip("playwright.sync_api", reason="Playwright's Python package is not installed")


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def chromium() -> str:
    """Debian's chromium, installed by ``.ci/run`` (tests never install system packages)."""
    if CHROMIUM.exists():
        return str(CHROMIUM)
    reason = f"{CHROMIUM} is missing: `apt-get install chromium` (.ci/run installs it)"
    if os.environ.get("CI"):
        pytest.fail(reason)  # CI must run the browser test, not skip it
    pytest.skip(reason)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _serve(run: Path):
    """``vaekit serve RUN`` on a free loopback port (the CLI, a real server): yields its URL."""
    import httpx

    port = _free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "vaekit", "serve", str(run), "--host", "127.0.0.1", "--port", str(port),
         "--max-points", "400", "--log-level", "warning", "--threads", "1"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            if proc.poll() is not None:
                pytest.fail(f"vaekit serve exited with {proc.returncode}: {proc.stderr.read()[-2000:]}")
            try:
                if httpx.get(url + "/info", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                pytest.fail("vaekit serve did not answer within 90 s")
            time.sleep(0.2)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """A real server (the CLI) on a free loopback port, serving a latent_dim-3 VAE trained on digits."""
    run = tmp_path_factory.mktemp("browser") / "run"
    data = vaekit.datasets.load("digits")
    model = vaekit.VAE.for_data(data, latent_dim=3, hidden_dims=(32,))
    vaekit.fit(model, data, epochs=3, seed=0, val_fraction=0.0, out=run, progress=False)
    yield from _serve(run)


@pytest.fixture(scope="module")
def text_server(tmp_path_factory):
    """A real server serving a small sentence VAE trained on the builtin grammar corpus."""
    from vaekit.data.text import grammar_corpus, texts_to_dataset

    run = tmp_path_factory.mktemp("browser-text") / "run"
    data = texts_to_dataset(grammar_corpus(160, seed=0), name="grammar", min_count=1)
    model = vaekit.VAE.for_data(data, latent_dim=4, free_bits=0.5)
    vaekit.fit(model, data, epochs=2, seed=0, val_fraction=0.0, out=run, progress=False)
    yield from _serve(run)


def _png(a: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(a).save(buf, format="PNG")
    return buf.getvalue()


def _watched_page(browser, errors: list[str]):
    """A new page whose script errors and console errors are appended to ``errors``."""
    page = browser.new_page(viewport={"width": 1400, "height": 900})
    page.on("pageerror", lambda e: errors.append(f"page error: {e}"))
    page.on("console", lambda m: errors.append(f"console {m.type}: {m.text}") if m.type == "error" else None)
    return page


def test_explorer_page_in_chromium(server, chromium, tmp_path):
    errors: list[str] = []
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, headless=True)
        try:
            page = _watched_page(browser, errors)
            outside = []  # offline: the page asks nothing of any host but the server
            page.on("request", lambda r: outside.append(r.url) if not r.url.startswith((server, "data:", "blob:")) else None)
            page.goto(server + "/")
            page.wait_for_selector("body[data-ready='1']", timeout=30_000)
            page.wait_for_selector("#decoded img")
            assert "latent_dim 3" in page.inner_text("#model-summary")
            assert page.locator("#sliders input[type=range]").count() == 3
            decoded = lambda: page.get_attribute("#decoded img", "src")  # noqa: E731

            # click the canvas: the decoded image and the first slider follow the point
            start, slider0 = decoded(), page.input_value("#slider-0")
            box = page.locator("#latent-canvas").bounding_box()
            page.mouse.click(box["x"] + 0.15 * box["width"], box["y"] + 0.2 * box["height"])
            page.wait_for_function("s => document.querySelector('#decoded img').src !== s", arg=start)
            assert page.input_value("#slider-0") != slider0
            after_click = decoded()

            # drag: live decoding while the pointer moves
            page.mouse.move(box["x"] + 0.8 * box["width"], box["y"] + 0.8 * box["height"])
            page.mouse.down()
            page.mouse.move(box["x"] + 0.85 * box["width"], box["y"] + 0.3 * box["height"], steps=5)
            page.mouse.up()
            page.wait_for_function("s => document.querySelector('#decoded img').src !== s", arg=after_click)

            # move a slider
            before_slider = decoded()
            page.locator("#slider-1").fill("2.5")
            page.wait_for_function("s => document.querySelector('#decoded img').src !== s", arg=before_slider)
            assert page.inner_text("#slider-value-1") == "2.50"
            assert "2.50" in page.inner_text("#z-readout")

            # interpolation strip between two chosen points, and its slider
            page.click("#set-a")
            page.mouse.click(box["x"] + 0.5 * box["width"], box["y"] + 0.9 * box["height"])
            page.click("#set-b")
            page.wait_for_function("document.querySelectorAll('#interp-strip img').length === 9")
            before_t = decoded()
            page.locator("#interp-t").fill("0.5")
            page.wait_for_function("s => document.querySelector('#decoded img').src !== s", arg=before_t)
            assert page.locator("#interp-strip img.on").count() == 1

            # sample with a temperature
            page.locator("#temperature").fill("0.5")
            page.click("#sample-btn")
            page.wait_for_function("document.querySelectorAll('#samples img').length === 8")

            # upload an image: reconstruction, place on the canvas and anomaly score
            digit = (vaekit.datasets.load("digits").x[0, 0].numpy() * 255).astype(np.uint8)
            before_upload = decoded()
            page.set_input_files("#upload-input", files=[{"name": "digit.png", "mimeType": "image/png",
                                                          "buffer": _png(digit)}])
            page.wait_for_function("document.getElementById('upload-score').textContent.includes('anomaly score')")
            page.wait_for_selector("#upload-recon img")
            page.wait_for_function("s => document.querySelector('#decoded img').src !== s", arg=before_upload)
            digit_score = page.inner_text("#upload-score")
            noise = (np.random.default_rng(0).random((8, 8)) * 255).astype(np.uint8)
            page.set_input_files("#upload-input", files=[{"name": "noise.png", "mimeType": "image/png",
                                                          "buffer": _png(noise)}])
            page.wait_for_function("s => document.getElementById('upload-score').textContent.includes('anomaly') && "
                                   "document.getElementById('upload-score').textContent !== s", arg=digit_score)
            noise_score = page.inner_text("#upload-score")

            def value(text: str) -> float:
                return float(text.split("anomaly score:")[1].split()[0])

            assert value(noise_score) > value(digit_score)  # noise is less likely than a real digit
            assert page.is_hidden("#status"), page.inner_text("#status")
            shot = tmp_path / "serve.png"
            page.screenshot(path=str(shot), full_page=True)
            assert shot.stat().st_size > 10_000
        finally:
            browser.close()
    assert not errors, errors
    assert not outside, outside


def test_api_docs_render_offline_in_chromium(server, chromium):
    """/docs (Swagger UI) renders every endpoint with all requests to other hosts blocked (issue 15 item 8)."""
    outside: list[str] = []
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, headless=True)
        try:
            page = browser.new_page()

            def offline(route):
                if route.request.url.startswith((server, "data:", "blob:")):
                    route.continue_()
                else:  # no network: what a CDN would have served never arrives
                    outside.append(route.request.url)
                    route.abort()

            page.route("**/*", offline)
            page.goto(server + "/docs")
            page.wait_for_selector(".swagger-ui .opblock", timeout=30_000)
            paths = page.locator(".opblock-summary-path").all_inner_texts()
            assert {"/decode", "/encode", "/score"} <= {t.strip() for t in paths}, paths
        finally:
            browser.close()
    assert not outside, outside


def test_text_model_page_in_chromium(text_server, chromium):
    """A text model's page: decoded points are sentences, and a typed sentence is encoded, reconstructed,
    placed on the canvas and scored (issue 18: the page's text view)."""
    errors: list[str] = []
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, headless=True)
        try:
            page = _watched_page(browser, errors)
            page.goto(text_server + "/")
            page.wait_for_selector("body[data-ready='1']", timeout=30_000)
            page.wait_for_selector("#decoded p.sentence")
            assert "text data" in page.inner_text("#model-summary")
            assert page.is_visible("#text-input") and page.is_hidden("#upload-input")

            page.click("#sample-btn")
            page.wait_for_function("document.querySelectorAll('#samples p.sentence').length === 8")
            assert all(t.strip() for t in page.locator("#samples p.sentence").all_inner_texts())

            before = page.inner_text("#z-readout")
            page.fill("#text-input", "the cat sees a dog")
            page.press("#text-input", "Enter")
            page.wait_for_function("document.getElementById('upload-score').textContent.includes('ELBO')")
            page.wait_for_selector("#upload-recon p.sentence")
            assert page.inner_text("#upload-preview") == "the cat sees a dog"
            assert page.inner_text("#upload-recon").strip()
            page.wait_for_function("s => document.getElementById('z-readout').textContent !== s", arg=before)
            score = float(page.inner_text("#upload-score").split("ELBO:")[1].split()[0])
            assert score > 0  # nats: -log p of a sentence is positive

            page.fill("#text-input", "")  # an empty box: a clear message, no request
            page.click("#text-btn")
            assert "Type a sentence" in page.inner_text("#status")
        finally:
            browser.close()
    assert not errors, errors
