"""The README as a new user follows it: every ```python block runs, in order, as written; the curl
examples of the server send what the README's models accept."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"


def python_blocks(text: str) -> list[str]:
    return re.findall(r"^```python\n(.*?)^```", text, flags=re.S | re.M)


def test_every_python_block_of_the_readme_runs_in_order(tmp_path):
    blocks = python_blocks(README.read_text())
    assert len(blocks) >= 5
    # One interpreter, the blocks in order (later ones use names from earlier ones), in an empty folder,
    # with an empty data cache (nothing may be downloaded).
    script = "\n\n".join(f"# --- README python block {i + 1}\n{b}" for i, b in enumerate(blocks))
    env = {**os.environ, "VAEKIT_DATA": str(tmp_path / "cache"), "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    run = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, env=env, capture_output=True, text=True,
                         timeout=600)
    assert run.returncode == 0, run.stderr[-4000:]


def _trained_digits_latent_dim() -> int:
    import vaekit

    # `vaekit train mnist5k --out runs/digits` (the README's run) uses the preset's latent_dim
    return vaekit.VAE.for_data(vaekit.datasets.load("mnist5k")).latent_dim


def test_readme_decode_example_sends_a_z_of_the_models_latent_dim():
    pytest.importorskip("fastapi")
    from fastapi.testclient import TestClient

    import vaekit
    from vaekit.serve import create_app

    text = README.read_text()
    match = re.search(r"\[\[0\.0\] \* (\d+)\]", text)
    assert match, "the README's /decode example builds z as [[0.0] * LATENT_DIM]"
    latent_dim = int(match.group(1))
    assert latent_dim == _trained_digits_latent_dim()
    model = vaekit.VAE.for_data(vaekit.datasets.load("mnist5k")).initialize(0).eval()
    client = TestClient(create_app(model))
    response = client.post("/decode", json={"z": [[0.0] * latent_dim], "output": "array"})
    assert response.status_code == 200, response.text
    assert response.json()["shape"] == [1, 1, 28, 28]


def test_readme_documents_the_upload_field_and_it_works(tmp_path):
    pytest.importorskip("fastapi")
    from fastapi.testclient import TestClient
    from PIL import Image

    import vaekit
    from vaekit.serve import create_app

    text = README.read_text()
    assert re.search(r"curl .*-F files=@", text) and "`files`" in text
    model = vaekit.VAE.for_data(vaekit.datasets.load("mnist5k")).initialize(0).eval()
    Image.new("L", (28, 28), 0).save(tmp_path / "digit.png")
    client = TestClient(create_app(model))
    with open(tmp_path / "digit.png", "rb") as f:
        response = client.post("/reconstruct/upload", files={"files": ("digit.png", f, "image/png")})
    assert response.status_code == 200, response.text
