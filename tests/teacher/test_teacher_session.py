"""The openai teacher's aiohttp session ends with the build: a CLI build against the fake server,
in its own interpreter (in-process and in spawned workers), exits without aiohttp's "Unclosed
client session" / "Unclosed connector" report, which the garbage collector prints for a session
nobody closed."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from fake_openai import always, serve

from unimed_cot.demo.phantom import generate_phantom

UNCLOSED = ("Unclosed client session", "Unclosed connector")


@pytest.fixture(scope="module")
def small_input(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return generate_phantom(
        tmp_path_factory.mktemp("input") / "phantom", n_images_2d=1, n_volumes_3d=1, seed=5
    )


@pytest.mark.parametrize("workers", [1, 2])
def test_build_closes_the_teacher_session(tmp_path: Path, small_input: Path, workers: int) -> None:
    env = {
        **os.environ,
        "UNIMED_SESSION_KEY": "sk-session",
        # ResourceWarning is ignored by default; the spawned workers inherit this too.
        "PYTHONWARNINGS": "always::ResourceWarning",
    }
    command = [
        sys.executable,
        "-c",
        "from unimed_cot.cli import main; main()",
        "build",
        "--source",
        "phantom",
        "--input",
        str(small_input),
        "--out",
        str(tmp_path / "ws"),
        "--teacher",
        "openai",
        "--base-url",
        "URL",
        "--model",
        "fake-model",
        "--api-key-env",
        "UNIMED_SESSION_KEY",
        "--workers",
        str(workers),
        "--no-progress",
    ]
    with serve(always("good")) as server:
        command[command.index("URL")] = server.url
        done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert server.answered  # the session was opened and used
    output = done.stdout + done.stderr
    assert not [line for line in output.splitlines() if any(u in line for u in UNCLOSED)], output
