"""The reply cache: what its key covers, WAL on disk, persistence across handles and processes."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from pathlib import Path

from unimed_cot.samples import Sample
from unimed_cot.teacher import ReplyCache, TeacherSettings, build_request, request_key
from unimed_cot.teacher.cache import CachedReply


def _generation(**changes: object) -> dict[str, object]:
    values: dict[str, object] = {"base_url": "http://x/v1", "model": "m"}
    values.update(changes)
    return TeacherSettings(**values).generation()  # type: ignore[arg-type]


def test_key_covers_what_changes_a_reply_and_nothing_else(sample_3d: Sample) -> None:
    request = build_request(sample_3d)
    key = request_key(_generation(), request.prompt_sha, request.messages)
    assert key == request_key(
        _generation(concurrency=64, timeout_s=3.0, max_retries=0, requests_per_minute=10),
        request.prompt_sha,
        request.messages,
    )
    assert key != request_key(_generation(model="m2"), request.prompt_sha, request.messages)
    assert key != request_key(_generation(temperature=0.7), request.prompt_sha, request.messages)
    assert key != request_key(_generation(max_tokens=99), request.prompt_sha, request.messages)
    assert key != request_key(_generation(), "0" * 64, request.messages)
    changed = [dict(m) for m in request.messages]
    parts = list(changed[1]["content"])
    url = parts[0]["image_url"]["url"]
    parts[0] = {"type": "image_url", "image_url": {"url": url[:-8] + "AAAAAAA="}}
    changed[1] = {**changed[1], "content": parts}
    assert key != request_key(_generation(), request.prompt_sha, changed)  # another image


def test_store_is_wal_and_survives_new_handles(tmp_path: Path) -> None:
    path = tmp_path / ".build" / "teacher_cache.sqlite"
    cache = ReplyCache(path)
    cache.put("k1", model="m", prompt_sha="p", reply=CachedReply('{"a": 1}', 10, 2))
    cache.put("k1", model="m", prompt_sha="p", reply=CachedReply("other", 0, 0))  # first kept
    assert cache.get("k1") == CachedReply('{"a": 1}', 10, 2)
    assert cache.get("missing") is None
    # another process sees the committed reply while this handle is still open
    code = (
        "import sqlite3,sys; db=sqlite3.connect(sys.argv[1]);"
        "print(db.execute('select raw from replies where key=?',('k1',)).fetchone()[0])"
    )
    seen = subprocess.run(
        [sys.executable, "-c", code, str(path)], capture_output=True, text=True, check=True
    )
    assert seen.stdout.strip() == '{"a": 1}'
    cache.close()
    mode = sqlite3.connect(path).execute("PRAGMA journal_mode").fetchone()[0]
    assert mode == "wal"
    again = ReplyCache(path)
    assert len(again) == 1 and again.get("k1") is not None
    again.close()


def test_images_are_stored_as_hashes_not_bytes(tmp_path: Path, sample_3d: Sample) -> None:
    request = build_request(sample_3d)
    cache = ReplyCache(tmp_path / "c.sqlite")
    key = request_key(_generation(), request.prompt_sha, request.messages)
    cache.put(key, model="m", prompt_sha=request.prompt_sha, reply=CachedReply("{}", 1, 1))
    cache.close()
    blob = b"".join(p.read_bytes() for p in tmp_path.iterdir())
    assert b"data:image/png" not in blob
