"""Reading what ``build`` staged in ``DIR/.build/``: a light index of rows, rejections, runs.

Publishing a release of ~220K rows cannot hold every image in memory, so it reads the staged
files twice: once here for the light columns and each row's encoded size (images are dropped as
soon as they are measured), and once per shard to copy the rows out.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa

from unimed_cot.errors import ReleaseError
from unimed_cot.records import Terms

from .features import read_table
from .files import sha256_file
from .layout import repeated_image_nbytes, row_nbytes
from .workspace import Workspace, staged_terms


@dataclass(frozen=True, slots=True)
class StagedRow:
    """Where one staged row lives and what publishing needs to know about it (no pixels)."""

    id: str
    source: str
    dims: int
    official_split: str  # "" when the source has none
    group_id: str
    question_type: str
    license: str
    teacher: str
    prompt_sha: str
    pipeline_version: str
    file: Path
    index: int  # row index inside ``file``
    nbytes: int  # encoded images + text, decoded: what the row weighs in memory
    terms: Terms | None = (
        None  # what the case's staged file records; None if staged by other tooling
    )
    stored_nbytes: int | None = None  # nbytes, less images an earlier row of the file shows

    @property
    def stored(self) -> int:
        """What the row adds to a shard in which each image is stored once (``layout``)."""
        return self.nbytes if self.stored_nbytes is None else self.stored_nbytes

    @property
    def config(self) -> str:
        return config_name(self.dims)


def config_name(dims: int) -> str:
    """The dataset config of a row: ``2d`` or ``3d``."""
    return f"{dims}d"


def scan_staged(workspace: Path) -> list[StagedRow]:
    """Index every staged row (light columns and encoded size).

    Raises:
        ReleaseError: when a staged file cannot be read or does not have the row schema.
    """
    rows: list[StagedRow] = []
    for path in Workspace(workspace).staged_files():
        try:
            table = read_table(path)
        except (OSError, ValueError, pa.ArrowException) as error:
            raise ReleaseError(
                f"staged file {path} is not readable ({error}); delete it and run "
                f"`unimed-cot build` again to rebuild that case"
            ) from error
        try:
            terms = staged_terms(table.schema.metadata)
        except ValueError as error:
            raise ReleaseError(f"staged file {path}: {error}") from error
        sizes = row_nbytes(table)
        stored = sizes - repeated_image_nbytes(table)
        light = table.drop_columns(["images"]).to_pylist()
        for index, row in enumerate(light):
            rows.append(
                StagedRow(
                    id=row["id"],
                    source=row["source"],
                    dims=int(row["dims"]),
                    official_split=row["split"] or "",
                    group_id=row["group_id"],
                    question_type=row["question_type"],
                    license=row["license"],
                    teacher=row["teacher"],
                    prompt_sha=row["prompt_sha"],
                    pipeline_version=row["pipeline_version"],
                    file=path,
                    index=index,
                    nbytes=int(sizes[index]),
                    terms=terms,
                    stored_nbytes=int(stored[index]),
                )
            )
    return rows


def rejection_counts(workspace: Path) -> Counter[tuple[str, str, str]]:
    """Rejections staged by ``build``, counted by (source, stage, reason).

    A line that is not a JSON object is counted as ``(source, "rejections", "unparseable")``
    rather than stopping the publish.
    """
    counts: Counter[tuple[str, str, str]] = Counter()
    for path in Workspace(workspace).rejection_files():
        source = path.parent.name
        for line in path.read_text(encoding="utf-8").splitlines():
            if not line.strip():
                continue
            try:
                record = json.loads(line)
                key = (
                    str(record.get("source") or source),
                    str(record["stage"]),
                    str(record["reason"]),
                )
            except (ValueError, KeyError, TypeError, AttributeError):
                key = (source, "rejections", "unparseable")
            counts[key] += 1
    return counts


def staged_config_hash(workspace: Path) -> str:
    """Hash of what the staged rows were built with.

    The run configs in ``.build/runs/*.json`` when present (their ``identity``, which excludes
    paths, limits and worker counts), otherwise the contents of the staged files themselves.
    """
    store = Workspace(workspace)
    runs = store.run_files()
    digest = hashlib.sha256()
    if runs:
        for path in runs:
            try:
                record = json.loads(path.read_text(encoding="utf-8"))
                identity = record.get("identity", record) if isinstance(record, dict) else record
            except ValueError:
                identity = sha256_file(path)
            blob = json.dumps({path.stem: identity}, sort_keys=True, separators=(",", ":"))
            digest.update(blob.encode())
        return digest.hexdigest()
    root = store.staged_root
    for path in store.staged_files():
        digest.update(f"{path.relative_to(root).as_posix()}\x1f{sha256_file(path)}\n".encode())
    return digest.hexdigest()


def serialize_settings(workspace: Path, source: str) -> dict[str, object]:
    """What ``hydrate`` needs to rebuild a source's pixels: its build identity (seed, serialize).

    Read from ``.build/runs/<source>.json``; empty when the run record is missing or unreadable
    (hydrate then uses the default settings and the recorded sha256s tell whether they match).
    """
    path = Workspace(workspace).run_path(source)
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    identity = record.get("identity") if isinstance(record, dict) else None
    if not isinstance(identity, dict):
        return {}
    return {"build_identity": identity}


def zero_usage() -> dict[str, Any]:
    """The figures of one ``teacher_usage`` entry before anything is counted."""
    return {"questions": 0, "prompt_tokens": 0, "completion_tokens": 0, "cost_usd": 0.0}


def teacher_usage(workspace: Path, published: Collection[str]) -> dict[str, Any]:
    """Tokens and cost behind the published rows, from the build's usage ledger.

    Counts every ledger line of a published row id (cached replies at what they first cost),
    and, apart, what the rejected questions cost. Empty when no LLM teacher built the rows.
    """
    by_source: dict[str, dict[str, Any]] = {}
    for path in Workspace(workspace).usage_files():
        for line in path.read_text(encoding="utf-8").splitlines():
            try:
                record = json.loads(line)
                row_id = str(record["id"])
                tokens = (int(record["prompt_tokens"]), int(record["completion_tokens"]))
                cost = float(record["cost_usd"])
            except (ValueError, KeyError, TypeError):
                continue  # a damaged ledger line costs a figure, never the publish
            kind = "published" if row_id in published else "not_published"
            entry = by_source.setdefault(path.parent.name, {}).setdefault(kind, zero_usage())
            entry["questions"] += 1
            entry["prompt_tokens"] += tokens[0]
            entry["completion_tokens"] += tokens[1]
            entry["cost_usd"] = round(entry["cost_usd"] + cost, 6)
    return by_source
