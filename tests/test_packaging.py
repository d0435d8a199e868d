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
