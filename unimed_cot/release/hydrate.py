"""``hydrate RELEASE --source SLUG --input PATH``: put back the pixels of an annotation-only source.

A source whose license forbids redistribution is published without pixels (``licensing``). Its rows
keep their id (``{source}/{case id}/{question}``), and the release keeps what rebuilding needs: the
source's build identity (seed and serialization settings, in ``manifest.json`` under
``annotation_only``) and the sha256 of every image of every row (``rows.tsv``). Hydrating re-runs
``cases.render_case`` (the build's load -> normalize -> serialize) and ``encoded_views`` on the
user's own copy for exactly those cases, checks every image against the recorded sha256, and writes
the verified images into the shards (atomically), then updates the manifest's checksums and sizes
and re-renders the card from it: the card's sizes and content identity (``identity``) change
with the shards, so ``load_dataset`` reads the hydrated rows instead of its cached copy. A case
whose pixels differ (another version of the source, other settings) is reported and left without
pixels; it never gets images that are not the published ones.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

import unimed_cot
from unimed_cot.builders import Builder, get_builder
from unimed_cot.cases import CaseFailedError, encoded_views, render_case
from unimed_cot.errors import ReleaseError, UsageError
from unimed_cot.imaging import SerializeConfig
from unimed_cot.records import SourceRecord
from unimed_cot.store.features import read_table, write_parquet
from unimed_cot.store.files import sha256_file

from .card import write_card
from .licensing import case_id_of
from .manifest import MANIFEST_NAME, read_manifest, write_manifest
from .rowindex import ROW_INDEX_NAME, read_row_index


@dataclass(slots=True)
class HydrateReport:
    """What hydrating did, per case."""

    source: str
    rows_filled: int = 0
    cases_filled: int = 0
    missing_cases: list[str] = field(default_factory=list)  # not in the user's copy
    mismatched_cases: list[str] = field(default_factory=list)  # pixels differ from the release
    failed_cases: dict[str, str] = field(default_factory=dict)  # load/serialize raised
    shards_rewritten: int = 0
    built_with: str = ""  # the package version that built the release, when it differs from ours

    def summary(self) -> str:
        lines = [
            f"hydrated {self.rows_filled} rows of {self.cases_filled} {self.source} cases "
            f"({self.shards_rewritten} shards rewritten)"
        ]
        if self.missing_cases:
            lines.append(f"  not found in the input: {len(self.missing_cases)} cases")
        if self.mismatched_cases:
            lines.append(
                f"  pixels differ from the published sha256s: {len(self.mismatched_cases)} cases "
                f"(e.g. {self.mismatched_cases[0]}); is this the same version of the source?"
            )
            if self.built_with:
                lines.append(
                    f"  the release was built with unimed-cot {self.built_with}; hydrating with "
                    f"that version gives its pixels (pip install unimed-cot=={self.built_with})"
                )
        for case, reason in list(self.failed_cases.items())[:5]:
            lines.append(f"  {case}: {reason}")
        return "\n".join(lines)


def rebuild_case_images(
    builder: Builder, record: SourceRecord, settings: dict[str, Any]
) -> list[list[bytes]]:
    """Every view of one case's published PNG bytes, exactly as ``build`` made them: the
    case's own window first, then the other CT windows its questions may have (``views``).

    Raises:
        CaseFailedError: the case is bad input in the user's copy.
    """
    known = {f.name for f in fields(SerializeConfig)}
    config = SerializeConfig(**{k: v for k, v in settings.items() if k in known})
    return list(encoded_views(render_case(builder, record, config).pixels).values())


def hydrate(release: Path, *, source: str, input_path: Path) -> HydrateReport:
    """Rebuild and verify the pixels of ``source``'s annotation-only rows from ``input_path``.

    Raises:
        UsageError: when ``source`` is not annotation-only in this release, or ``input_path``
            does not look like the source.
        ReleaseError: when the release has no manifest or no ``rows.tsv``.
    """
    manifest = read_manifest(release / MANIFEST_NAME)
    entry = (manifest.get("annotation_only") or {}).get(source)
    if entry is None:
        listed = ", ".join(sorted(manifest.get("annotation_only") or {})) or "none"
        raise UsageError(
            f"{release}: source {source!r} is not published annotation-only "
            f"(annotation-only sources: {listed})"
        )
    index = read_row_index(release / ROW_INDEX_NAME)
    if not index:
        raise ReleaseError(f"{release / ROW_INDEX_NAME} is missing; it holds the image sha256s")
    identity = entry.get("build_identity") or {}
    builder = get_builder(source)
    builder.check_root(input_path)

    shards = _shards_needing(release, manifest, source)
    wanted = {case_id_of(i, source) for rows in shards.values() for i in rows}
    report = HydrateReport(source=source)
    built_with = str(identity.get("package_version") or "")
    if built_with and built_with != unimed_cot.__version__:
        report.built_with = built_with
    images: dict[str, dict[tuple[str, ...], list[bytes]]] = {}  # case -> image sha256s -> PNGs
    for record in builder.records(input_path):
        if record.case_id not in wanted:
            continue
        try:
            pngs = rebuild_case_images(builder, record, dict(identity.get("serialize") or {}))
        except CaseFailedError as failure:
            report.failed_cases[record.case_id] = f"{failure.reason}: {failure.detail}"
            continue
        images[record.case_id] = {
            tuple(hashlib.sha256(png).hexdigest() for png in view): view for view in pngs
        }
    report.missing_cases = sorted(wanted - set(images) - set(report.failed_cases))

    verified: dict[str, list[bytes]] = {}
    mismatched: set[str] = set()
    for rows in shards.values():
        for row_id in rows:
            case = case_id_of(row_id, source)
            views = images.get(case)
            if views is None:
                continue
            rebuilt = views.get(index[row_id].image_sha256)
            if rebuilt is not None:
                verified[row_id] = rebuilt
            else:
                mismatched.add(case)
    report.mismatched_cases = sorted(mismatched)
    report.cases_filled = len({case_id_of(i, source) for i in verified} - mismatched)
    by_path = {s["path"]: s for s in manifest["shards"]}
    for name in sorted(shards):
        filled = _fill_shard(release / name, verified)
        if filled:
            report.rows_filled += filled
            report.shards_rewritten += 1
            by_path[name]["sha256"] = sha256_file(release / name)
            by_path[name]["bytes"] = (release / name).stat().st_size
    if report.shards_rewritten:
        # The card's sizes and content identity follow the shards, so that load_dataset's cache
        # (keyed by the card, not the bytes) sees the pixels; manifest first, the card from it.
        write_manifest(release / MANIFEST_NAME, manifest)
        write_card(release / "README.md", manifest)
    return report


def _shards_needing(release: Path, manifest: dict[str, Any], source: str) -> dict[str, list[str]]:
    """Shard path -> ids of ``source``'s rows without images in it."""
    found: dict[str, list[str]] = defaultdict(list)
    for shard in manifest["shards"]:
        path = release / str(shard["path"])
        try:
            table = read_table(path)
        except (OSError, ValueError, pa.ArrowException) as error:
            raise ReleaseError(f"{path} is not a readable shard ({error})") from error
        ids = table.column("id").to_pylist()
        sources = table.column("source").to_pylist()
        counts = pc.list_value_length(table.column("images")).to_pylist()
        for row_id, row_source, count in zip(ids, sources, counts, strict=True):
            if row_source == source and not count:
                found[str(shard["path"])].append(row_id)
    return dict(found)


def _fill_shard(path: Path, verified: dict[str, list[bytes]]) -> int:
    """Write the verified images into the rows of ``path``; returns the rows filled."""
    table = read_table(path)
    ids = table.column("id").to_pylist()
    if not any(i in verified for i in ids):
        return 0
    column = table.column("images").to_pylist()
    filled = 0
    for k, row_id in enumerate(ids):
        if row_id in verified and not column[k]:
            column[k] = [{"bytes": data, "path": None} for data in verified[row_id]]
            filled += 1
    images = pa.array(column, type=table.schema.field("images").type)
    table = table.set_column(table.schema.get_field_index("images"), "images", images)
    write_parquet(table, path)
    return filled
