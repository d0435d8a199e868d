"""Helpers for command-line tests: run the typer app in-process and check the exit code and message."""

from __future__ import annotations

import re
from pathlib import Path

from typer.testing import CliRunner

from vaekit.cli import app

runner = CliRunner()


def invoke(*args: str | Path):
    """Run ``vaekit ARGS...`` in-process (wide terminal, so messages are not wrapped)."""
    return runner.invoke(app, [str(a) for a in args], terminal_width=200)


def ok(*args: str | Path):
    """Run and require exit code 0."""
    result = invoke(*args)
    assert result.exit_code == 0, result.output + repr(result.exception)
    return result


def fails(*args: str | Path, match: str):
    """Run and require the error boundary's answer: exit code 2 and one 'Error: ...' line matching ``match``."""
    result = invoke(*args)
    assert result.exit_code == 2, result.output + repr(result.exception)
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), result.output
    assert re.search(match, lines[0]), lines[0]
    return result
