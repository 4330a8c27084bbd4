"""Versions: semver ordering, the row-level diff in CHANGELOG.md, rows.tsv."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from unimed_cot.errors import ReleaseError
from unimed_cot.release.manifest import check_version_order, version_key
from unimed_cot.release.publish import publish
from unimed_cot.release.rowindex import diff_rows, read_row_index


def test_semver_precedence() -> None:
    ordered = [
        "0.9.0",
        "1.0.0-alpha",
        "1.0.0-alpha.1",
        "1.0.0-alpha.beta",
        "1.0.0-beta.2",
        "1.0.0-beta.11",
        "1.0.0-rc.1",
        "1.0.0",
        "1.0.1",
        "1.10.0",
    ]
    assert sorted(reversed(ordered), key=version_key) == ordered
    assert version_key("1.0.0+build.1") == version_key("1.0.0")


def test_an_older_version_is_refused_unless_forced(workspace: Path) -> None:
    publish(workspace, version="0.2.0")
    with pytest.raises(ReleaseError, match=r"0\.1\.0 is older than the published 0\.2\.0"):
        publish(workspace, version="0.1.0")
    with pytest.raises(ReleaseError, match="older"):
        check_version_order("0.2.0-rc.1", "0.2.0")
    publish(workspace, version="0.2.0")  # the same version again is a rebuild
    publish(workspace, version="0.1.0", force=True)
    assert json.loads((workspace / "manifest.json").read_text())["version"] == "0.1.0"


def test_changelog_lists_added_removed_changed_and_moved_rows(
    workspace: Path,
    stager: Callable[..., None],
    row_factory: Callable[..., dict[str, Any]],
) -> None:
    publish(workspace, version="0.1.0")
    old = read_row_index(workspace / "rows.tsv")
    assert len(old) == 34 and all(len(r.content_sha256) == 64 for r in old.values())

    staged = workspace / ".build" / "staged"
    (staged / "alpha" / "p5-img1.parquet").unlink()  # removes alpha/p5-img1/{0,1}
    stager(  # adds a new case
        workspace,
        "alpha",
        "p9-img0",
        [row_factory(source="alpha", case="p9-img0", question=0, dims=2, patient="p9")],
    )
    changed = [
        row_factory(source="beta", case="vol03", question=q, dims=3, patient="v3") for q in range(2)
    ]
    changed[1]["question"] = "Which lobe holds the lesion in vol03?"
    stager(workspace, "beta", "vol03", changed)

    publish(workspace, version="0.2.0")
    new = read_row_index(workspace / "rows.tsv")
    diff = diff_rows(old, new)
    assert diff["added"] == ["alpha/p9-img0/0"]
    assert diff["removed"] == ["alpha/p5-img1/0", "alpha/p5-img1/1"]
    assert diff["changed"] == ["beta/vol03/1"]
    manifest = json.loads((workspace / "manifest.json").read_text())
    assert manifest["changes"] == {
        "added": 1,
        "removed": 2,
        "changed": 1,
        "moved": len(diff["moved"]),
    }
    changelog = (workspace / "CHANGELOG.md").read_text()
    section = changelog.split("## 0.1.0")[0]
    assert "- added: 1\n  `alpha/p9-img0/0`" in section
    assert "- removed: 2\n  `alpha/p5-img1/0`, `alpha/p5-img1/1`" in section
    assert "- changed (content): 1\n  `beta/vol03/1`" in section
