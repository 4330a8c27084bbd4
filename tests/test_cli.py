"""The command line: one readable line and a non-zero exit for errors of use, never a traceback."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from unimed_cot.cli import app

runner = CliRunner()


def invoke(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, list(args))
    return result.exit_code, result.output


@pytest.mark.parametrize("command", ["sources", "build", "publish", "validate"])
def test_every_command_has_a_teaching_help(command: str) -> None:
    code, output = invoke(command, "--help")
    assert code == 0
    assert "Usage" in output
    assert len(output.splitlines()) > 5


def test_build_help_names_every_option() -> None:
    _, output = invoke("build", "--help")
    for option in ("--source", "--input", "--out", "--limit", "--seed", "--workers", "--teacher"):
        assert option in output
    assert "--questions " in output


def test_version() -> None:
    code, output = invoke("--version")
    assert code == 0
    assert output.startswith("unimed-cot ")


def test_sources_lists_the_demo_source() -> None:
    code, output = invoke("sources")
    assert code == 0
    assert "phantom" in output
    code, output = invoke("sources", "phantom")
    assert code == 0
    assert "phantom.json" in output  # the expected layout is shown


def test_unknown_source_lists_known_ones(tmp_path: Path) -> None:
    code, output = invoke("build", "--source", "nope", "--out", str(tmp_path / "ws"))
    assert code == 2
    assert "unknown source 'nope'" in output
    assert "phantom" in output
    assert "Traceback" not in output


def test_missing_input_folder_says_what_was_expected(tmp_path: Path) -> None:
    code, output = invoke(
        "build",
        "--source",
        "phantom",
        "--input",
        str(tmp_path / "missing"),
        "--out",
        str(tmp_path / "ws"),
    )
    assert code == 2
    assert "does not exist" in output
    assert "phantom.json" in output
    assert "Traceback" not in output


def test_wrong_input_folder_says_what_was_expected(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    code, output = invoke(
        "build",
        "--source",
        "phantom",
        "--input",
        str(tmp_path / "empty"),
        "--out",
        str(tmp_path / "ws"),
    )
    assert code == 2
    assert "does not look like" in output
    assert "Traceback" not in output


def test_bad_slice_size_is_a_usage_error(tmp_path: Path) -> None:
    code, output = invoke(
        "build", "--source", "phantom", "--slice-size", "250", "--out", str(tmp_path / "ws")
    )
    assert code == 2
    assert "multiple of 28" in output


def test_publish_without_a_build_is_one_line(tmp_path: Path) -> None:
    code, output = invoke("publish", str(tmp_path), "--version", "0.1.0")
    assert code != 0
    assert "build" in output
    assert "Traceback" not in output


def test_publish_needs_a_version(tmp_path: Path) -> None:
    code, output = invoke("publish", str(tmp_path))
    assert code == 2
    assert "--version" in output


def test_validate_missing_folder(tmp_path: Path) -> None:
    code, output = invoke("validate", str(tmp_path / "nothing"))
    assert code == 2
    assert "not a folder" in output


def test_debug_variable_shows_the_traceback(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("UNIMED_DEBUG", "1")
    result = runner.invoke(app, ["build", "--source", "nope", "--out", str(tmp_path)])
    assert result.exit_code != 0
    assert result.exception is not None
    assert type(result.exception).__name__ == "UnknownSourceError"


def test_questions_per_case_sets_the_number_of_questions(tmp_path: Path) -> None:
    import pyarrow.parquet as pq

    out = tmp_path / "ws"
    code, output = invoke(
        "build", "--source", "phantom", "--out", str(out), "--limit", "2", "--no-progress",
        "--questions", "3",
    )  # fmt: skip
    assert code == 0, output
    staged = sorted((out / ".build" / "staged" / "phantom").glob("*.parquet"))
    per_case = [pq.read_table(path, columns=["id"]).num_rows for path in staged]
    assert per_case and all(n <= 3 for n in per_case)
    code, output = invoke("build", "--source", "phantom", "--questions", "0")
    assert code == 2 and "Traceback" not in output
