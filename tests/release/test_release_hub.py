"""publish --repo-id and validate ORG/NAME against a loopback stand-in for the Hub (HF_ENDPOINT).

The fake implements only the endpoints ``huggingface_hub`` calls for create_repo, preupload,
commit, tree/paths-info, tag, and snapshot_download, and records every request. It answers
``uploadMode: regular`` to preupload, so file bytes travel inside the commit (the LFS/Xet upload
path is the real Hub's to exercise); it reports ``.parquet`` files with an ``lfs`` entry (sha256)
as the Hub does, so both verification branches run.
"""

from __future__ import annotations

import base64
import hashlib
import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlparse

import pytest
import yaml
from typer.testing import CliRunner

from unimed_cot.cli import app
from unimed_cot.errors import ReleaseError, UsageError
from unimed_cot.hub import check_repo_id, plan_commits, push_release, release_files
from unimed_cot.release.publish import publish

REPO = "test-org/unimed-cot"


@dataclass
class FakeHub:
    """State of the fake: repos, files per repo, tags, and the requests seen."""

    files: dict[str, dict[str, bytes]] = field(default_factory=dict)
    private: dict[str, bool] = field(default_factory=dict)
    tags: dict[str, dict[str, str]] = field(default_factory=dict)
    commits: dict[str, list[str]] = field(default_factory=dict)
    requests: list[tuple[str, str]] = field(default_factory=list)
    corrupt_after_commit: str | None = None  # path whose stored bytes get flipped

    def sha(self, repo: str) -> str:
        return hashlib.sha1(json.dumps(self.commits.get(repo, [])).encode()).hexdigest()

    def entry(self, path: str, data: bytes) -> dict[str, Any]:
        oid = hashlib.sha1(f"blob {len(data)}\0".encode() + data).hexdigest()
        item: dict[str, Any] = {"type": "file", "path": path, "size": len(data), "oid": oid}
        if path.endswith(".parquet"):
            sha = hashlib.sha256(data).hexdigest()
            item["lfs"] = {"oid": sha, "size": len(data), "pointerSize": 134}
        return item


def _handler(hub: FakeHub) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:  # keep pytest output clean
            pass

        def _send(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
            data = body if isinstance(body, bytes) else json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            for key, value in (headers or {}).items():
                self.send_header(key, value)
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(data)

        def _base(self) -> str:
            return f"http://{self.headers['Host']}"

        def _body(self) -> bytes:
            return self.rfile.read(int(self.headers.get("Content-Length") or 0))

        def do_POST(self) -> None:
            url = urlparse(self.path)
            hub.requests.append(("POST", url.path))
            body = self._body()
            parts = url.path.split("/")
            if url.path == "/api/repos/create":
                payload = json.loads(body)
                repo = f"{payload['organization']}/{payload['name']}"
                hub.files.setdefault(repo, {})
                hub.private[repo] = payload.get("visibility") == "private"
                self._send(200, {"url": f"{self._base()}/datasets/{repo}", "name": repo})
                return
            if url.path == "/api/validate-yaml":
                content = json.loads(body)["content"]
                header = content.split("---")[1] if content.startswith("---") else ""
                try:
                    yaml.safe_load(header)
                except yaml.YAMLError as error:
                    self._send(400, {"error": str(error)})
                    return
                self._send(200, {"errors": [], "warnings": []})
                return
            repo = "/".join(parts[3:5]) if len(parts) > 5 else ""
            if repo not in hub.files:
                self._send(404, {"error": "Repository not found"}, {"X-Error-Code": "RepoNotFound"})
            elif parts[5] == "preupload":
                files = json.loads(body)["files"]
                modes = [
                    {"path": f["path"], "uploadMode": "regular", "shouldIgnore": False}
                    for f in files
                ]
                self._send(200, {"files": modes})
            elif parts[5] == "commit":
                lines = [json.loads(line) for line in body.decode().splitlines() if line]
                for line in lines:
                    if line["key"] == "file":
                        value = line["value"]
                        hub.files[repo][value["path"]] = base64.b64decode(value["content"])
                summary = lines[0]["value"]["summary"]
                hub.commits.setdefault(repo, []).append(summary)
                if hub.corrupt_after_commit in hub.files[repo]:
                    hub.files[repo][hub.corrupt_after_commit] += b"!"
                sha = hub.sha(repo)
                url = f"{self._base()}/datasets/{repo}/commit/{sha}"
                self._send(200, {"commitUrl": url, "commitOid": sha})
            elif parts[5] == "paths-info":
                wanted = parse_qs(body.decode()).get("paths", [])
                stored = hub.files[repo]
                self._send(200, [hub.entry(p, stored[p]) for p in wanted if p in stored])
            elif parts[5] == "tag":
                hub.tags.setdefault(repo, {})[json.loads(body)["tag"]] = hub.sha(repo)
                self._send(200, {})
            else:
                self._send(404, {"error": f"not faked: {url.path}"})

        def do_GET(self) -> None:
            self._get()

        def do_HEAD(self) -> None:
            self._get()

        def _get(self) -> None:
            url = urlparse(self.path)
            hub.requests.append((self.command, url.path))
            parts = [unquote(p) for p in url.path.split("/")]
            if url.path.startswith("/api/datasets/"):
                repo = "/".join(parts[3:5])
                if repo not in hub.files:
                    self._send(
                        404, {"error": "Repository not found"}, {"X-Error-Code": "RepoNotFound"}
                    )
                elif len(parts) > 5 and parts[5] == "tree":
                    stored = hub.files[repo]
                    self._send(200, [hub.entry(p, d) for p, d in sorted(stored.items())])
                elif len(parts) == 5 or parts[5] == "revision":
                    siblings = [{"rfilename": p} for p in sorted(hub.files[repo])]
                    info = {
                        "id": repo,
                        "sha": hub.sha(repo),
                        "siblings": siblings,
                        "private": False,
                    }
                    self._send(200, info)
                else:
                    self._send(404, {"error": f"not faked: {url.path}"})
                return
            if url.path.startswith("/datasets/") and "/resolve/" in url.path:
                repo = "/".join(parts[2:4])
                path = "/".join(parts[6:])
                data = hub.files.get(repo, {}).get(path)
                if data is None:
                    self._send(404, {"error": "Entry not found"}, {"X-Error-Code": "EntryNotFound"})
                    return
                etag = f'"{hashlib.sha256(data).hexdigest()}"'
                headers = {"ETag": etag, "X-Repo-Commit": hub.sha(repo)}
                self._send(200, data, headers)
                return
            self._send(404, {"error": f"not faked: {url.path}"})

    return Handler


@pytest.fixture
def fake_hub(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[FakeHub]:
    hub = FakeHub()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(hub))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    endpoint = f"http://127.0.0.1:{server.server_address[1]}"
    import huggingface_hub.constants as constants

    monkeypatch.setenv("HF_ENDPOINT", endpoint)
    monkeypatch.setenv("HF_TOKEN", "hf_fake_token_for_tests")
    monkeypatch.setenv("HF_HUB_DISABLE_XET", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf-home"))
    # HF_ENDPOINT is read when huggingface_hub is imported (already done by then): set both.
    monkeypatch.setattr(constants, "ENDPOINT", endpoint)
    template = endpoint + "/{repo_id}/resolve/{revision}/{filename}"
    monkeypatch.setattr(constants, "HUGGINGFACE_CO_URL_TEMPLATE", template)
    monkeypatch.setattr(constants, "HF_HUB_ETAG_TIMEOUT", 5)
    monkeypatch.setattr(constants, "HF_HUB_DISABLE_XET", True, raising=False)
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hf-cache"))
    try:
        yield hub
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def test_repo_ids_and_commit_plans(workspace: Path) -> None:
    assert check_repo_id("my-org/unimed-cot.v2") == "my-org/unimed-cot.v2"
    for bad in ("no-slash", "a/b/c", "/x", "org/"):
        with pytest.raises(UsageError, match="is not ORG/NAME"):
            check_repo_id(bad)
    publish(workspace, version="0.1.0")
    names = release_files(workspace)
    assert names[-1] == "manifest.json" and names[0].startswith("data/")
    assert not any(n.startswith(".build") for n in names)
    commits = plan_commits(workspace, names, max_commit_bytes=30_000)
    assert [n for c in commits for n in c] == names and len(commits) > 1


def test_dry_run_touches_no_network(workspace: Path, fake_hub: FakeHub) -> None:
    publish(workspace, version="0.1.0")
    report = push_release(workspace, REPO, dry_run=True)
    assert fake_hub.requests == [] and report.commits
    assert "would upload" in report.summary()


def test_push_uploads_verifies_tags_and_resumes(workspace: Path, fake_hub: FakeHub) -> None:
    publish(workspace, version="0.1.0")
    report = push_release(workspace, REPO, private=True, max_commit_bytes=40_000)
    names = release_files(workspace)
    stored = fake_hub.files[REPO]
    assert sorted(stored) == sorted(names)
    assert all(stored[n] == (workspace / n).read_bytes() for n in names)
    assert fake_hub.private[REPO] is True
    assert report.verified == len(names) and len(report.commits) > 1
    assert fake_hub.commits[REPO][-1].startswith("unimed-cot 0.1.0")
    assert fake_hub.tags[REPO] == {"v0.1.0": fake_hub.sha(REPO)}
    assert ("POST", f"/api/datasets/{REPO}/paths-info/main") in fake_hub.requests

    again = push_release(workspace, REPO)  # nothing changed: nothing is uploaded again
    assert again.commits == [] and sorted(again.skipped) == sorted(names)


def test_a_file_that_differs_on_the_hub_fails_the_push(workspace: Path, fake_hub: FakeHub) -> None:
    publish(workspace, version="0.1.0")
    fake_hub.corrupt_after_commit = "data/2d/train-00000-of-00001.parquet"
    with pytest.raises(ReleaseError, match=r"differ from .* after the upload"):
        push_release(workspace, REPO)
    assert REPO not in fake_hub.tags


def test_cli_publish_to_hub_and_validate_from_hub(workspace: Path, fake_hub: FakeHub) -> None:
    runner = CliRunner()
    result = runner.invoke(
        app, ["publish", str(workspace), "--version", "0.1.0", "--repo-id", REPO]
    )
    assert result.exit_code == 0, result.output
    assert f"{REPO}: uploaded" in result.output
    result = runner.invoke(app, ["validate", REPO])
    assert result.exit_code == 0, result.output
    assert "release is valid" in result.output
    result = runner.invoke(app, ["publish", str(workspace), "--version", "0.1.1", "--repo-id", "x"])
    assert result.exit_code == 2 and "is not ORG/NAME" in result.output
