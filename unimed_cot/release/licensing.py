"""Which rows may carry pixels: each case's terms as its record carried them.

Every record has terms: its own (``SourceRecord.terms``, where a source mixes licenses: SA-Med2D,
M3D-Seg, user data) or its builder's declared ones. The pipeline stages them with the case's rows
(the staged file's schema metadata, ``store.workspace.CASE_TERMS_KEY``), so the flag travels with
the rows it governs. A staged file without them (written by other tooling) takes its registered
builder's declared terms; a source with no registered builder is taken as redistributable under
the license of its rows, and is marked "unknown" in the card.

A row that may not be redistributed is published **annotation-only**: every column but the
pixels (``images`` is empty); the sha256 of each image it had goes into ``rows.tsv`` and the
serialization settings of its source into the manifest, so ``unimed-cot hydrate`` can rebuild
and check the pixels from the user's own copy of the source.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from unimed_cot.store.staged import StagedRow


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


def annotation_only(rows: Sequence[StagedRow]) -> tuple[set[str], dict[str, dict[str, Any]]]:
    """Ids of the rows published without pixels, and the license summary per source.

    Returns:
        ``(ids, licenses)`` where ``licenses[source]`` holds ``license``, ``redistributable``
        (``"yes"``, ``"no"``, ``"per case"`` or ``"unknown"``) and ``annotation_only_rows``.
    """
    stripped: set[str] = set()
    summary: dict[str, dict[str, Any]] = {}
    terms: dict[str, SourceTerms] = {}
    for row in rows:
        source_terms_ = terms.get(row.source)
        if source_terms_ is None:
            source_terms_ = terms[row.source] = source_terms(row.source, row.license)
        allowed = source_terms_.redistributable if row.terms is None else row.terms.redistributable
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
