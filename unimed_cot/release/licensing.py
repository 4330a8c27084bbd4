"""Which rows may carry pixels: each source's license and redistribution flag, per-case overrides.

A source's terms come from its builder (``license``, ``redistributable``). A builder whose terms
differ per case (user-described data, ``builders/_userdata.py``) records them per case; the
staged row carries ``license`` but not the redistribution flag, so the contract for it is a small
JSON sidecar the pipeline writes beside the staged rows::

    DIR/.build/staged/<source>/<case_key>.terms.json   (case_key: pipeline.workspace)
    {"license": "CC-BY-NC-4.0", "redistributable": false}

When present it overrides the builder's flag for that case. A source with no registered builder
(a folder staged by other tooling) is taken as redistributable under the license of its rows,
and is marked "unknown" in the card.

A row that may not be redistributed is published **annotation-only**: every column but the
pixels (``images`` is empty); the sha256 of each image it had goes into ``rows.tsv`` and the
serialization settings of its source into the manifest, so ``unimed-cot hydrate`` can rebuild
and check the pixels from the user's own copy of the source.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from unimed_cot.errors import ReleaseError

from .staging import StagedRow


@dataclass(frozen=True, slots=True)
class SourceTerms:
    """A source's terms as the builder declares them."""

    source: str
    license: str
    redistributable: bool
    known: bool  # a registered builder declared them


def source_terms(source: str, row_license: str) -> SourceTerms:
    """Terms of ``source`` from its registered builder, else from its rows (redistributable)."""
    from unimed_cot.builders import registered_builders

    builder = registered_builders().get(source)
    if builder is None:
        return SourceTerms(source, row_license, True, False)
    return SourceTerms(source, builder.license, bool(builder.redistributable), True)


def case_id_of(row_id: str, source: str) -> str:
    """The native case id inside ``{source}/{case id}/{question index}`` (case ids may hold '/')."""
    return row_id.removeprefix(f"{source}/").rpartition("/")[0]


def case_terms(workspace: Path, source: str, case_id: str) -> dict[str, Any] | None:
    """The per-case terms sidecar, when the pipeline wrote one.

    Raises:
        ReleaseError: when the sidecar exists but is not a JSON object with a boolean flag.
    """
    from unimed_cot.store.workspace import Workspace

    path = Workspace(workspace).terms_path(source, case_id)
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise ReleaseError(f"{path} is not readable JSON ({error})") from error
    if not isinstance(data, dict) or not isinstance(data.get("redistributable"), bool):
        raise ReleaseError(f'{path}: expected {{"redistributable": true|false, "license": ...}}')
    return data


def annotation_only(
    rows: Sequence[StagedRow], workspace: Path
) -> tuple[set[str], dict[str, dict[str, Any]]]:
    """Ids of the rows published without pixels, and the license summary per source.

    Returns:
        ``(ids, licenses)`` where ``licenses[source]`` holds ``license``, ``redistributable``
        (``"yes"``, ``"no"``, ``"per case"`` or ``"unknown"``) and ``annotation_only_rows``.
    """
    stripped: set[str] = set()
    summary: dict[str, dict[str, Any]] = {}
    terms: dict[str, SourceTerms] = {}
    overrides: dict[tuple[str, str], dict[str, Any] | None] = {}
    for row in rows:
        source_terms_ = terms.get(row.source)
        if source_terms_ is None:
            source_terms_ = terms[row.source] = source_terms(row.source, row.license)
        case = case_id_of(row.id, row.source)
        key = (row.source, case)
        if key not in overrides:
            overrides[key] = case_terms(workspace, row.source, case)
        override = overrides[key]
        allowed = source_terms_.redistributable if override is None else override["redistributable"]
        entry = summary.setdefault(
            row.source,
            {
                "license": source_terms_.license,
                "redistributable": "yes" if source_terms_.known else "unknown",
                "annotation_only_rows": 0,
                "flags": set(),
            },
        )
        entry["flags"].add(allowed)
        if not allowed:
            stripped.add(row.id)
            entry["annotation_only_rows"] += 1
    for entry in summary.values():
        flags = entry.pop("flags")
        if len(flags) > 1:
            entry["redistributable"] = "per case"
        elif flags == {False}:
            entry["redistributable"] = "no"
    return stripped, summary
