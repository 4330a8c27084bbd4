"""A wheel built from the repository installs into a fresh venv and builds the demo without it."""

from __future__ import annotations

import os
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


@pytest.mark.slow
def test_wheel_runs_the_demo_without_the_repository(tmp_path: Path) -> None:
    dist = tmp_path / "dist"
    built = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-w",
            str(dist),
            str(REPO),
        ],
        capture_output=True,
        text=True,
    )
    assert built.returncode == 0, built.stdout + built.stderr
    (wheel,) = dist.glob("unimed_cot-*.whl")

    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    python = venv / "bin" / "python"
    # Dependencies come from this test environment (no network needed); the package itself only
    # from the wheel, installed into the fresh venv's own site-packages, which comes first.
    site = Path(
        subprocess.check_output(
            [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
            text=True,
        ).strip()
    )
    (site / "deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    subprocess.run([str(python), "-m", "pip", "install", "--no-deps", "-q", str(wheel)], check=True)

    work = tmp_path / "elsewhere"
    work.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    located = subprocess.check_output(
        [
            str(python),
            "-c",
            "import unimed_cot, unimed_cot.builders, unimed_cot.schemas, unimed_cot.prompts; "
            "print(unimed_cot.__file__); print(unimed_cot.builders.__file__)",
        ],
        cwd=work,
        env=env,
        text=True,
    )
    assert str(REPO) not in located, located
    assert str(venv) in located

    result = subprocess.run(
        [
            str(venv / "bin" / "unimed-cot"),
            "build",
            "--source",
            "phantom",
            "--limit",
            "3",
            "--out",
            "ws",
            "--no-progress",
        ],
        cwd=work,
        env=env,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "rows accepted now" in result.stdout
    assert list((work / "ws" / ".build" / "staged" / "phantom").glob("*.parquet"))
    # stats and preview from the wheel alone (the gallery's template is package data)
    for command in (["stats", "ws"], ["preview", "ws", "--out", "p.html", "--n", "3"]):
        ran = subprocess.run(
            [str(venv / "bin" / "unimed-cot"), *command],
            cwd=work,
            env=env,
            capture_output=True,
            text=True,
        )
        assert ran.returncode == 0, ran.stdout + ran.stderr
    assert (work / "p.html").read_text().count('<section class="card"') == 3
    card = subprocess.check_output(
        [
            str(python),
            "-c",
            "from importlib.resources import files; "
            "print(files('unimed_cot').joinpath('dataset_card.md').is_file())",
        ],
        cwd=work,
        env=env,
        text=True,
    )
    assert card.strip() == "True"
