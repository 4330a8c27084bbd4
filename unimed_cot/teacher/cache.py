"""The reply cache: SQLite (WAL) at ``DIR/.build/teacher_cache.sqlite``; nothing is paid twice.

A reply is stored, and committed, the moment it arrives, before it is validated, so a build that
is killed (even with ``kill -9``) and rerun re-sends no request that was answered. The key is the
sha256 of what determines a reply: the generation settings (model, temperature, max tokens,
response format), the prompt sha and the messages, with every image replaced by the sha256 of its
data URL so the key is cheap and the database small. Operational settings (concurrency, timeouts,
retries, rate limits) are not in the key, and neither is the API key: nothing secret is stored.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

CACHE_FILE = "teacher_cache.sqlite"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS replies (
    key TEXT PRIMARY KEY,
    model TEXT NOT NULL,
    prompt_sha TEXT NOT NULL,
    raw TEXT NOT NULL,
    prompt_tokens INTEGER NOT NULL,
    completion_tokens INTEGER NOT NULL,
    created REAL NOT NULL
)
"""


@dataclass(frozen=True, slots=True)
class CachedReply:
    """A stored reply and the usage it cost when it was first answered."""

    raw: str
    prompt_tokens: int
    completion_tokens: int


def request_key(generation: dict[str, Any], prompt_sha: str, messages: list[dict[str, Any]]) -> str:
    """sha256 of the generation settings, the prompt sha and the messages (images hashed)."""
    payload = json.dumps(
        {"generation": generation, "prompt_sha": prompt_sha, "messages": _hash_images(messages)},
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
    )
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()


class ReplyCache:
    """A process's handle on the cache file; safe to share between threads of one process.

    Several worker processes may open the same file: WAL mode lets readers and one writer work at
    once, and ``busy_timeout`` makes a writer wait for another instead of failing.
    """

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._lock = threading.Lock()
        self._db = sqlite3.connect(path, check_same_thread=False, timeout=30.0)
        self._db.execute("PRAGMA journal_mode=WAL")
        # NORMAL in WAL mode survives a killed process (only power loss may drop the last commit).
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute(_SCHEMA)
        self._db.commit()

    def get(self, key: str) -> CachedReply | None:
        with self._lock:
            row = self._db.execute(
                "SELECT raw, prompt_tokens, completion_tokens FROM replies WHERE key = ?", (key,)
            ).fetchone()
        return None if row is None else CachedReply(str(row[0]), int(row[1]), int(row[2]))

    def put(self, key: str, *, model: str, prompt_sha: str, reply: CachedReply) -> None:
        """Store and commit one reply (an existing entry for the key is kept)."""
        with self._lock:
            self._db.execute(
                "INSERT OR IGNORE INTO replies"
                " (key, model, prompt_sha, raw, prompt_tokens, completion_tokens, created)"
                " VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    key,
                    model,
                    prompt_sha,
                    reply.raw,
                    reply.prompt_tokens,
                    reply.completion_tokens,
                    time.time(),
                ),
            )
            self._db.commit()

    def __len__(self) -> int:
        with self._lock:
            (count,) = self._db.execute("SELECT COUNT(*) FROM replies").fetchone()
        return int(count)

    def close(self) -> None:
        with self._lock:
            self._db.close()


def _hash_images(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    hashed = []
    for message in messages:
        content = message.get("content")
        if isinstance(content, list):
            content = [_hash_part(part) for part in content]
        hashed.append({**message, "content": content})
    return hashed


def _hash_part(part: dict[str, Any]) -> dict[str, Any]:
    if part.get("type") != "image_url":
        return part
    url = str(part["image_url"]["url"])
    return {"type": "image_url", "sha256": hashlib.sha256(url.encode("ascii")).hexdigest()}
