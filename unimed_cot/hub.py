"""Pushing a release to the Hugging Face Hub, verifying it there, and fetching one to validate.

``push_release`` (``publish --repo-id ORG/NAME``):

1. ``HfApi.create_repo(repo_type="dataset", exist_ok=True, private=...)``;
2. lists the remote files (``list_repo_tree(recursive=True, expand=True)``) and skips every local
   file the remote already holds with the same content (LFS sha256, or git blob id for small
   files), so an interrupted push resumes where it stopped;
3. uploads the rest in ``create_commit`` calls of bounded size (default 2 GB each), shards
   first and ``manifest.json`` last, so a consumer never sees a manifest for shards that are not
   there yet; ``.build/`` and hidden files are never uploaded;
4. verifies every release file on the remote with ``get_paths_info(expand=True)`` against the
   local bytes (size, LFS sha256 / git blob id);
5. tags the commit ``v{version}`` (``create_tag``).

The token is never a parameter: ``huggingface_hub`` reads ``HF_TOKEN`` or the stored login, and
``HF_ENDPOINT`` points it at another Hub. ``dry_run`` plans the commits and touches no network.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from unimed_cot.errors import ReleaseError, UsageError
from unimed_cot.release.manifest import MANIFEST_NAME, read_manifest
from unimed_cot.store.files import sha256_file

REPO_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[A-Za-z0-9][\w.-]*$")
DEFAULT_MAX_COMMIT_BYTES = 2_000_000_000
_MAX_COMMIT_FILES = 500


@dataclass(slots=True)
class PushReport:
    """What a push did (or, with ``dry_run``, would do)."""

    repo_id: str
    version: str
    dry_run: bool
    commits: list[list[str]] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # already on the remote, same content
    verified: int = 0
    tag: str = ""

    def summary(self) -> str:
        uploaded = sum(len(c) for c in self.commits)
        verb = "would upload" if self.dry_run else "uploaded"
        lines = [
            f"{self.repo_id}: {verb} {uploaded} files in {len(self.commits)} commits, "
            f"{len(self.skipped)} already there"
        ]
        if not self.dry_run:
            lines.append(f"  verified {self.verified} files on the Hub; tagged {self.tag}")
        return "\n".join(lines)


def check_repo_id(repo_id: str) -> str:
    """Return ``repo_id`` when it reads ``ORG/NAME``.

    Raises:
        UsageError: otherwise.
    """
    if not REPO_ID.match(repo_id):
        raise UsageError(f"--repo-id {repo_id!r} is not ORG/NAME (e.g. my-org/unimed-cot)")
    return repo_id


def release_files(release: Path) -> list[str]:
    """Files of a release, relative, with forward slashes: no ``.build/`` or hidden files.

    Ordered for upload: shards, then the other files, ``manifest.json`` last.
    """
    names = [
        p.relative_to(release).as_posix()
        for p in release.rglob("*")
        if p.is_file() and not any(part.startswith(".") for part in p.relative_to(release).parts)
    ]
    return sorted(names, key=lambda n: (n == MANIFEST_NAME, not n.startswith("data/"), n))


def plan_commits(
    release: Path, names: list[str], max_commit_bytes: int = DEFAULT_MAX_COMMIT_BYTES
) -> list[list[str]]:
    """Cut ``names`` (in order) into commits of at most ``max_commit_bytes`` and 500 files."""
    commits: list[list[str]] = []
    current: list[str] = []
    size = 0
    for name in names:
        nbytes = (release / name).stat().st_size
        if current and (size + nbytes > max_commit_bytes or len(current) >= _MAX_COMMIT_FILES):
            commits.append(current)
            current, size = [], 0
        current.append(name)
        size += nbytes
    if current:
        commits.append(current)
    return commits


def git_blob_id(path: Path) -> str:
    """The git object id of a file (what the Hub reports as ``oid`` of a non-LFS file)."""
    digest = hashlib.sha1(usedforsecurity=False)
    digest.update(f"blob {path.stat().st_size}\0".encode())
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def same_content(local: Path, remote: Any) -> bool:
    """Whether a remote ``RepoFile`` holds exactly the bytes of ``local``."""
    if getattr(remote, "size", None) != local.stat().st_size:
        return False
    lfs = getattr(remote, "lfs", None)
    if lfs is not None:
        return bool(lfs.sha256 == sha256_file(local))
    return bool(remote.blob_id == git_blob_id(local))


def push_release(
    release: Path,
    repo_id: str,
    *,
    private: bool = False,
    dry_run: bool = False,
    max_commit_bytes: int = DEFAULT_MAX_COMMIT_BYTES,
) -> PushReport:
    """Upload the release folder to the dataset repo ``repo_id``; see the module docstring.

    Raises:
        UsageError: for a malformed repo id.
        ReleaseError: when the folder has no manifest, or a file on the Hub differs after upload.
        huggingface_hub.errors.HfHubHTTPError: when the Hub refuses a call (auth, quota).
    """
    check_repo_id(repo_id)
    manifest = read_manifest(release / MANIFEST_NAME)
    version = str(manifest["version"])
    names = release_files(release)
    report = PushReport(repo_id=repo_id, version=version, dry_run=dry_run, tag=f"v{version}")
    if dry_run:
        report.commits = plan_commits(release, names, max_commit_bytes)
        return report

    from huggingface_hub import CommitOperationAdd, HfApi

    api = HfApi()
    api.create_repo(repo_id, repo_type="dataset", private=private, exist_ok=True)
    remote = {
        item.path: item
        for item in api.list_repo_tree(repo_id, repo_type="dataset", recursive=True, expand=True)
        if hasattr(item, "blob_id")
    }
    pending = []
    for name in names:
        if name in remote and same_content(release / name, remote[name]):
            report.skipped.append(name)
        else:
            pending.append(name)
    report.commits = plan_commits(release, pending, max_commit_bytes)
    for index, batch in enumerate(report.commits, start=1):
        api.create_commit(
            repo_id,
            [CommitOperationAdd(path_in_repo=n, path_or_fileobj=str(release / n)) for n in batch],
            repo_type="dataset",
            commit_message=f"unimed-cot {version} ({index}/{len(report.commits)})",
        )
    infos = {
        item.path: item
        for item in api.get_paths_info(repo_id, names, expand=True, repo_type="dataset")
    }
    differing = [n for n in names if n not in infos or not same_content(release / n, infos[n])]
    if differing:
        raise ReleaseError(
            f"{repo_id}: {len(differing)} files on the Hub differ from {release} after the "
            f"upload (e.g. {differing[0]}); run the same publish again to resume"
        )
    report.verified = len(names)
    api.create_tag(
        repo_id,
        tag=report.tag,
        tag_message=f"unimed-cot release {version}",
        repo_type="dataset",
        exist_ok=True,
    )
    return report


def download_release(repo_id: str, *, revision: str | None = None) -> Path:
    """Fetch a release from the Hub into the ``huggingface_hub`` cache and return its folder."""
    from huggingface_hub import snapshot_download

    check_repo_id(repo_id)
    return Path(snapshot_download(repo_id, repo_type="dataset", revision=revision))
