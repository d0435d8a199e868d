"""Packaging metadata and start-up cost of the command line."""

from __future__ import annotations

import sys
import tomllib
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_license_is_an_spdx_string_without_setuptools_deprecation_warning(monkeypatch):
    # setuptools >= 77 warns that `license = {text = ...}` is deprecated (PEP 639): an SPDX expression instead.
    from setuptools.config.pyprojecttoml import apply_configuration
    from setuptools.dist import Distribution

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert project["project"]["license"] == "MIT"
    monkeypatch.chdir(ROOT)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        dist = apply_configuration(Distribution(), ROOT / "pyproject.toml")
    assert not [w for w in caught if "license" in str(w.message).lower()], [str(w.message) for w in caught]
    assert dist.metadata.license_expression == "MIT"


HEAVY = ("torch", "pandas", "numpy", "sklearn", "PIL", "matplotlib", "scipy")


def _vaekit_command() -> list[str]:
    script = Path(sys.executable).parent / "vaekit"
    return [str(script)] if script.exists() else [sys.executable, "-m", "vaekit"]


def _best_of(command: list[str], runs: int) -> float:
    import subprocess
    import time

    best = float("inf")
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(command, check=True, capture_output=True, timeout=120)
        best = min(best, time.perf_counter() - start)
    return best


def test_version_and_help_import_no_heavy_library():
    import subprocess

    code = ("import sys\nfrom vaekit.cli import main\nfor args in (['--version'], ['--help'], ['train', '--help']):\n"
            "    try:\n        main(args)\n    except SystemExit:\n        pass\n"
            f"print('LOADED', [m for m in {HEAVY!r} if m in sys.modules])")
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True, timeout=120).stdout
    assert "LOADED []" in out, out.splitlines()[-1]


def test_vaekit_version_takes_under_half_the_time_of_importing_torch():
    # Best of three runs of each, interleaved, so that a busy machine slows both alike.
    version, torch_import = float("inf"), float("inf")
    for _ in range(3):
        version = min(version, _best_of([*_vaekit_command(), "--version"], 1))
        torch_import = min(torch_import, _best_of([sys.executable, "-c", "import torch"], 1))
    assert version < 0.5 * torch_import, f"vaekit --version {version:.2f} s, import torch {torch_import:.2f} s"


def test_submodules_are_reachable_as_attributes_without_an_explicit_import():
    import subprocess

    code = ("import vaekit\nassert callable(vaekit.serve.create_app)\n"
            "assert callable(vaekit.tasks.semisupervised.apply_labels)\nassert callable(vaekit.viz.image_grid)\n"
            "assert vaekit.datasets is vaekit.data\nprint('OK')")
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert run.stdout.strip() == "OK", run.stderr[-2000:]
