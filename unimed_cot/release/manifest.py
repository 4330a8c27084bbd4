"""``manifest.json``: what a release holds, checkable byte for byte.

The manifest lists every shard with its sha256, size and row count, the counts of rows per
source / split / question type / config, the rejections of the build by stage and reason, and
the provenance (package version, hash of the build configs, publish settings). It is plain
deterministic JSON (sorted keys, no timestamps), so publishing the same staged build twice
writes the same manifest, and the card is rendered from it alone.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

from unimed_cot.errors import ReleaseError
from unimed_cot.records import SPLITS
from unimed_cot.store.files import write_text_atomic
from unimed_cot.store.staged import StagedRow

from .shards import ShardInfo

MANIFEST_NAME = "manifest.json"
FORMAT = "unimed-cot-release/1"

# semver.org's reference expression (2.0.0), without a leading "v".
_SEMVER = re.compile(
    r"^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)"
    r"(?:-((?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*)(?:\.(?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*))*))?"
    r"(?:\+([0-9a-zA-Z-]+(?:\.[0-9a-zA-Z-]+)*))?$"
)


def check_version(version: str) -> str:
    """Return ``version`` when it is a semantic version (``1.2.3``, ``1.0.0-rc.1``).

    Raises:
        ReleaseError: otherwise, with an example of a valid version.
    """
    if not _SEMVER.match(version):
        raise ReleaseError(
            f"version {version!r} is not a semantic version; use MAJOR.MINOR.PATCH, e.g. 0.1.0 "
            f"or 1.0.0-rc.1 (no leading 'v')"
        )
    return version


def version_key(version: str) -> tuple[int, int, int, int, tuple[tuple[int, int, str], ...]]:
    """Sort key implementing semver precedence (build metadata ignored, a pre-release sorts
    before its release, numeric identifiers before alphanumeric ones).

    Raises:
        ReleaseError: when ``version`` is not a semantic version.
    """
    match = _SEMVER.match(check_version(version))
    assert match is not None  # check_version matched it
    major, minor, patch, pre = int(match[1]), int(match[2]), int(match[3]), match[4]
    if pre is None:
        return (major, minor, patch, 1, ())
    parts = tuple((0, int(p), "") if p.isdigit() else (1, 0, p) for p in pre.split("."))
    return (major, minor, patch, 0, parts)


def check_version_order(version: str, previous: str | None, *, force: bool = False) -> None:
    """Refuse a version older than the one already published (same version: a rebuild, allowed).

    Raises:
        ReleaseError: when ``version`` sorts before ``previous`` and ``force`` is not set.
    """
    if previous is None or force:
        return
    try:
        older = version_key(version) < version_key(previous)
    except ReleaseError:
        return  # an unreadable old version cannot be ordered; the new one is checked elsewhere
    if older:
        raise ReleaseError(
            f"version {version} is older than the published {previous}; choose a greater "
            f"version, or pass --force to publish it anyway"
        )


def count_rows(rows: Sequence[StagedRow], split_of: Mapping[str, str]) -> dict[str, Any]:
    """Counts of rows by config, split, source, question type and their useful crossings."""
    by: dict[str, Counter[str]] = {
        key: Counter()
        for key in (
            "config",
            "split",
            "source",
            "question_type",
            "teacher",
            "prompt_sha",
            "pipeline_version",
        )
    }
    config_split: dict[str, Counter[str]] = {}
    source_split: dict[str, Counter[str]] = {}
    source_config: dict[str, Counter[str]] = {}
    source_license: dict[str, Counter[str]] = {}
    groups: dict[str, set[str]] = {}
    for row in rows:
        split = split_of[row.group_id]
        values = {
            "config": row.config,
            "split": split,
            "source": row.source,
            "question_type": row.question_type,
            "teacher": row.teacher,
            "prompt_sha": row.prompt_sha,
            "pipeline_version": row.pipeline_version,
        }
        for key, value in values.items():
            by[key][value] += 1
        config_split.setdefault(row.config, Counter())[split] += 1
        source_split.setdefault(row.source, Counter())[split] += 1
        source_config.setdefault(row.source, Counter())[row.config] += 1
        source_license.setdefault(row.source, Counter())[row.license] += 1
        groups.setdefault(split, set()).add(row.group_id)
    return {
        "total": len(rows),
        **{f"by_{key}": _ordered(counter) for key, counter in by.items()},
        "by_config_split": {k: _ordered(v) for k, v in sorted(config_split.items())},
        "by_source_split": {k: _ordered(v) for k, v in sorted(source_split.items())},
        "by_source_config": {k: _ordered(v) for k, v in sorted(source_config.items())},
        "by_source_license": {k: _ordered(v) for k, v in sorted(source_license.items())},
        "groups_by_split": _ordered(Counter({k: len(v) for k, v in groups.items()})),
    }


def _ordered(counter: Mapping[str, int]) -> dict[str, int]:
    """Splits in train/validation/test order, anything else sorted (for readable summaries)."""
    rank = {split: i for i, split in enumerate(SPLITS)}
    return {k: counter[k] for k in sorted(counter, key=lambda k: (rank.get(k, len(rank)), k))}


def count_rejections(rejections: Mapping[tuple[str, str, str], int]) -> dict[str, Any]:
    """Rejection counts by stage, by stage and reason, and by source."""
    by_stage: Counter[str] = Counter()
    by_source: Counter[str] = Counter()
    by_reason: dict[str, Counter[str]] = {}
    for (source, stage, reason), count in rejections.items():
        by_stage[stage] += count
        by_source[source] += count
        by_reason.setdefault(stage, Counter())[reason] += count
    return {
        "total": sum(by_stage.values()),
        "by_stage": dict(by_stage),
        "by_stage_reason": {k: dict(v) for k, v in by_reason.items()},
        "by_source": dict(by_source),
    }


def build_manifest(
    *,
    version: str,
    package_version: str,
    config_hash: str,
    settings: Mapping[str, Any],
    shards: Sequence[ShardInfo],
    counts: Mapping[str, Any],
    rejections: Mapping[str, Any],
    extra: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The manifest as a JSON-ready dict (see the module docstring).

    Args:
        extra: further top-level sections (screening, licenses, row index, changes).
    """
    return {
        **dict(extra or {}),
        "format": FORMAT,
        "version": check_version(version),
        "package_version": package_version,
        "config_hash": config_hash,
        "publish_settings": dict(settings),
        "shards": [asdict(s) for s in sorted(shards, key=lambda s: s.path)],
        "counts": dict(counts),
        "rejections": dict(rejections),
    }


def manifest_text(manifest: Mapping[str, Any]) -> str:
    """Deterministic JSON text: sorted keys, two-space indent, final newline."""
    return json.dumps(manifest, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def write_manifest(path: Path, manifest: Mapping[str, Any]) -> None:
    write_text_atomic(path, manifest_text(manifest))


def read_manifest(path: Path) -> dict[str, Any]:
    """Read and minimally check a manifest.

    Raises:
        ReleaseError: when it is missing, not JSON, or lacks a version or a shard list.
    """
    if not path.is_file():
        raise ReleaseError(f"{path} is missing; is this a folder written by `unimed-cot publish`?")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as error:
        raise ReleaseError(f"{path} is not valid JSON: {error}") from error
    if (
        not isinstance(data, dict)
        or not isinstance(data.get("shards"), list)
        or "version" not in data
    ):
        raise ReleaseError(f"{path} is not a release manifest (no 'version' or 'shards' list)")
    for index, shard in enumerate(data["shards"]):
        if not isinstance(shard, dict) or not {"path", "sha256", "bytes", "rows"} <= set(shard):
            raise ReleaseError(f"{path}: shard entry {index} lacks path/sha256/bytes/rows")
    return data
