"""A small OpenAI-compatible chat-completions server of the tests' own, on 127.0.0.1 only.

Each request is answered as ``behaviour(index, body)`` says: a good trace built from the prompt
(the correct answer and an evidence region are read from the user text), or a fault: 429 with
Retry-After, 500, a slow reply, a dropped connection, malformed JSON, schema-invalid JSON, a wrong
answer, an unknown region id. Every request body is recorded, with arrival time and the number
in flight, so tests can assert what was sent and when.
"""

from __future__ import annotations

import json
import re
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

Behaviour = Callable[[int, dict[str, Any]], str]
MAX_REQUESTS = 2000  # a runaway client fails the test instead of spinning forever


def always(kind: str) -> Behaviour:
    return lambda index, body: kind


def first_then(kinds: list[str], then: str = "good") -> Behaviour:
    """The first requests get ``kinds`` in order (by arrival), the rest ``then``."""
    return lambda index, body: kinds[index] if index < len(kinds) else then


def is_repair(body: dict[str, Any]) -> bool:
    return any(m["role"] == "assistant" for m in body["messages"])


@dataclass
class Seen:
    body: dict[str, Any]
    at: float
    in_flight: int
    behaviour: str
    done_at: float | None = None  # when the whole reply was written


@dataclass
class FakeServer:
    behaviour: Behaviour
    delay_s: float = 0.0
    seen: list[Seen] = field(default_factory=list)
    in_flight: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)
    url: str = ""

    @property
    def answered(self) -> list[Seen]:
        """Requests that got a 200 with a body."""
        return [s for s in self.seen if s.behaviour not in {"401", "429", "500", "drop", "slow"}]


def good_trace(body: dict[str, Any]) -> dict[str, Any]:
    user = next(m for m in body["messages"] if m["role"] == "user")
    content = user["content"]
    text = (
        content
        if isinstance(content, str)
        else "\n".join(p["text"] for p in content if p["type"] == "text")
    )
    answer = re.search(r"^Correct answer: (.*)$", text, re.MULTILINE)
    evidence = re.search(r"must cite at least one of: (R\d+)", text)
    any_region = re.search(r"^- (R\d+):", text, re.MULTILINE)
    region = evidence or any_region
    cites = [region.group(1)] if region else []
    marker = f" [{cites[0]}]" if cites else ""
    return {
        "steps": [
            {"text": "The image is reviewed first.", "cites": []},
            {"text": f"The structure in question{marker} is found and measured.", "cites": cites},
        ],
        "answer": answer.group(1) if answer else "?",
    }


def _reply(kind: str, body: dict[str, Any]) -> str:
    trace = good_trace(body)
    if kind == "malformed":
        return '{"steps": [{"text": "cut off'
    if kind == "schema":
        return json.dumps({"reasoning": "no steps here", "answer": trace["answer"]})
    if kind == "wrong":
        trace["answer"] = "Z. something else"
    if kind == "unknown-id":
        trace["steps"][1] = {"text": "The structure [R99] is found.", "cites": ["R99"]}
    return json.dumps(trace)


def _handler(server: FakeServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        # As real servers do (uvicorn): with Nagle's algorithm on, the reply's header and body
        # writes meet the client's delayed ACK and each reply stalls ~40 ms on loopback.
        disable_nagle_algorithm = True

        def log_message(self, *args: Any) -> None:  # quiet test output
            pass

        def do_POST(self) -> None:
            length = int(self.headers.get("content-length", 0))
            body = json.loads(self.rfile.read(length))
            with server.lock:
                index = len(server.seen)
                if index >= MAX_REQUESTS:
                    raise RuntimeError("fake server: too many requests")
                kind = server.behaviour(index, body)
                server.in_flight += 1
                server.seen.append(Seen(body, time.monotonic(), server.in_flight, kind))
            try:
                self._answer(kind, body)
                self.wfile.flush()
                server.seen[index].done_at = time.monotonic()
            finally:
                with server.lock:
                    server.in_flight -= 1

        def _answer(self, kind: str, body: dict[str, Any]) -> None:
            if server.delay_s:
                time.sleep(server.delay_s)
            if kind == "drop":
                self.connection.shutdown(socket.SHUT_RDWR)
                self.close_connection = True
                return
            if kind == "slow":
                time.sleep(1.5)
            if kind in {"401", "429", "500"}:
                payload = json.dumps({"error": {"message": f"fake {kind}", "type": "x"}})
                self.send_response(int(kind))
                if kind == "429":
                    self.send_header("retry-after", "0.2")
                self._send_json(payload)
                return
            content = _reply(kind, body)
            payload = json.dumps(
                {
                    "id": "chatcmpl-fake",
                    "object": "chat.completion",
                    "created": 0,
                    "model": body["model"],
                    "choices": [
                        {
                            "index": 0,
                            "message": {"role": "assistant", "content": content},
                            "finish_reason": "stop",
                        }
                    ],
                    "usage": {
                        "prompt_tokens": 100,
                        "completion_tokens": 20,
                        "total_tokens": 120,
                    },
                }
            )
            self.send_response(200)
            self._send_json(payload)

        def _send_json(self, payload: str) -> None:
            data = payload.encode()
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    return Handler


class _Server(ThreadingHTTPServer):
    request_queue_size = 256  # the default backlog of 5 refuses connections at high concurrency


@contextmanager
def serve(behaviour: Behaviour, *, delay_s: float = 0.0) -> Iterator[FakeServer]:
    """Run a fake server on a free loopback port for the duration of the block."""
    fake = FakeServer(behaviour, delay_s)
    httpd = _Server(("127.0.0.1", 0), _handler(fake))
    httpd.daemon_threads = True
    fake.url = f"http://127.0.0.1:{httpd.server_address[1]}/v1"
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield fake
    finally:
        httpd.shutdown()
        httpd.server_close()
