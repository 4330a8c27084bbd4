"""``CHANGELOG.md``: one section per version, newest first, with counts before and after.

Sections of other versions are kept; publishing a version again replaces its own section. No
dates, so the same publish writes the same file.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from unimed_cot.records import SPLITS
from unimed_cot.store.files import write_text_atomic

TITLE = "# Changelog\n"
_SECTION = re.compile(r"^## ", re.MULTILINE)


# Ids listed per kind of change; the counts are always complete, the full lists are recomputable
# from the two versions' rows.tsv.
MAX_LISTED_IDS = 50


def render_section(
    manifest: Mapping[str, Any],
    previous: Mapping[str, Any] | None,
    diff: Mapping[str, Sequence[str]] | None = None,
) -> str:
    """The section of one version: its counts, and what changed since ``previous``.

    Args:
        diff: the row-level diff (``rowindex.diff_rows``) against ``previous``, when known.
    """
    counts = manifest["counts"]
    lines = [f"## {manifest['version']}", ""]
    n_sources = len(counts["by_source"])
    lines.append(f"- {counts['total']} rows from {n_sources} source{'' if n_sources == 1 else 's'}")
    for config, splits in sorted(counts["by_config_split"].items()):
        parts = ", ".join(f"{s} {splits[s]}" for s in SPLITS if s in splits)
        lines.append(f"- {config}: {parts}")
    lines.append(
        "- sources: " + ", ".join(f"{s} {n}" for s, n in sorted(counts["by_source"].items()))
    )
    lines.append(f"- rejected during the build: {manifest['rejections']['total']}")
    lines.append(
        f"- unimed-cot {manifest['package_version']}, build config `{manifest['config_hash'][:16]}`"
    )
    if previous is not None:
        before = previous.get("counts", {})
        lines.append("")
        lines.append(f"Compared with {previous.get('version', '?')}:")
        lines.append("")
        lines.append("| count | before | after |")
        lines.append("|---|---:|---:|")
        lines.append(f"| rows | {before.get('total', 0)} | {counts['total']} |")
        for key, label in (("by_config_split", "{}/{}"), ("by_source_split", "{}/{}")):
            old, new = before.get(key, {}), counts[key]
            for outer in sorted(set(old) | set(new)):
                for split in SPLITS:
                    a = old.get(outer, {}).get(split, 0)
                    b = new.get(outer, {}).get(split, 0)
                    if a or b:
                        lines.append(f"| {label.format(outer, split)} | {a} | {b} |")
    if previous is not None and diff is not None:
        lines += ["", "Rows:", ""]
        lines += _diff_lines(diff)
    return "\n".join(lines) + "\n"


def _diff_lines(diff: Mapping[str, Sequence[str]]) -> list[str]:
    labels = {
        "added": "added",
        "removed": "removed",
        "changed": "changed (content)",
        "moved": "moved to another split",
    }
    lines = []
    for key, label in labels.items():
        ids = list(diff.get(key, []))
        lines.append(f"- {label}: {len(ids)}")
        shown = ", ".join(f"`{i}`" for i in ids[:MAX_LISTED_IDS])
        if ids:
            more = f" ... and {len(ids) - MAX_LISTED_IDS} more" if len(ids) > MAX_LISTED_IDS else ""
            lines.append(f"  {shown}{more}")
    return lines


def write_changelog(
    path: Path,
    manifest: Mapping[str, Any],
    previous: Mapping[str, Any] | None,
    diff: Mapping[str, Sequence[str]] | None = None,
) -> None:
    """Prepend this version's section to ``path``, replacing an older section of that version."""
    sections: list[str] = []
    if path.is_file():
        body = path.read_text(encoding="utf-8")
        parts = _SECTION.split(body)
        heading = f"{manifest['version']}\n"
        sections = ["## " + p.rstrip("\n") + "\n" for p in parts[1:] if not p.startswith(heading)]
    text = TITLE + "\n" + "\n".join([render_section(manifest, previous, diff), *sections])
    write_text_atomic(path, text)
