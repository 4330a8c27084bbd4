"""Golden test of every command's ``--help``: a changed flag, default or help text shows up here.

After a deliberate change, regenerate with ``UPDATE_GOLDEN=1 pytest tests/test_cli_help.py``
and review the diff.
"""

from __future__ import annotations

import os
from pathlib import Path

import click
import pytest
import typer
from typer.testing import CliRunner

from unimed_cot.cli import app

GOLDEN = Path(__file__).parent / "golden" / "help"
# A fixed, plain terminal: the same text on every machine.
ENV = {"COLUMNS": "100", "TERMINAL_WIDTH": "100", "NO_COLOR": "1", "TERM": "dumb"}


def _command_paths() -> list[tuple[str, ...]]:
    paths: list[tuple[str, ...]] = []

    def walk(command: click.Command, path: tuple[str, ...]) -> None:
        paths.append(path)
        for name, sub in sorted(getattr(command, "commands", {}).items()):
            walk(sub, (*path, name))

    walk(typer.main.get_command(app), ())
    return paths


PATHS = _command_paths()


def test_every_command_is_covered() -> None:
    names = {" ".join(p) for p in PATHS}
    assert {"build", "publish", "validate", "hydrate", "export", "hash", "sources"} <= names
    assert {"train sft", "train grpo", "train eval", "train ablate"} <= names


@pytest.mark.parametrize("path", PATHS, ids=lambda p: " ".join(p) or "root")
def test_help_matches_golden(path: tuple[str, ...]) -> None:
    result = CliRunner().invoke(app, [*path, "--help"], env=ENV, terminal_width=100)
    assert result.exit_code == 0, result.output
    golden = GOLDEN / f"{'_'.join(path) or 'root'}.txt"
    if os.environ.get("UPDATE_GOLDEN"):
        golden.write_text(result.output, encoding="utf-8")
    assert golden.is_file(), f"no golden for {path}: run with UPDATE_GOLDEN=1"
    assert result.output == golden.read_text(encoding="utf-8")
