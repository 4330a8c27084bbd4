"""``validate DIR``: check a release folder without trusting any of it.

Checks, in order: the manifest parses; every listed shard exists with the listed sha256, size
and row count, and no shard is unlisted; shard names follow ``data/<config>/<split>-NNNNN-of-
NNNNN.parquet`` and number consistently; every shard reads with the declared features; every row
validates against ``schemas.Row``, sits in the file of its dims and split, and has images that
decode (one for 2D; for 3D one per slice position, all the same size); every box in the
reasoning lies inside its image and slice range and the boxes in the text are exactly the
region boxes; ids are unique; no group is in two splits; no near-duplicate images link two
splits and no training row matches a benchmark the release was decontaminated against
(``audit``, from the hash lists in ``decontamination/``); answer letters are balanced per config
(a warning); the card's YAML parses, declares the configs and features, and its split sizes
match the shards. With a ``rows.tsv`` (``rowindex``), every image's sha256 matches the one
recorded at publish, and a row without images is accepted only from a source published
annotation-only.

Bad data never raises: every finding is a ``Problem`` in the report.
"""

from __future__ import annotations

import hashlib
import io
import json
from collections import Counter, defaultdict
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
from datasets import Features
from huggingface_hub import DatasetCard
from PIL import Image
from pydantic import ValidationError

from unimed_cot.boxes import BoxError, find_boxes, validate_box
from unimed_cot.errors import ReleaseError, UsageError
from unimed_cot.schemas import Row
from unimed_cot.store.features import ROW_FEATURES, ROW_SCHEMA
from unimed_cot.store.files import sha256_file

from .audit import Audit
from .card import DEFAULT_CONFIG
from .hashing import ImageHash, read_hash_list
from .manifest import MANIFEST_NAME, check_version, read_manifest
from .rowindex import load_expected_images
from .screening import DEFAULT_THRESHOLD
from .shards import CONFIGS, SHARD_NAME
from .splits import SPLITS
from .staging import config_name

_BATCH_ROWS = 64


@dataclass(frozen=True, slots=True)
class Problem:
    """One finding: where it is (file, row id) and what is wrong, in words."""

    where: str
    what: str


@dataclass(slots=True)
class ValidationReport:
    """Every problem found, plus what was checked."""

    release: Path
    problems: list[Problem] = field(default_factory=list)
    shards: int = 0
    rows: int = 0
    images: int = 0
    boxes: int = 0
    rows_by_config_split: dict[str, Counter[str]] = field(default_factory=dict)
    annotation_only: int = 0
    # From rows.tsv and the manifest: the image sha256s of each row, and the sources whose rows
    # may be published without pixels.
    expected_images: dict[str, tuple[str, ...]] = field(default_factory=dict)
    pixel_free_sources: set[str] = field(default_factory=set)
    warnings: list[Problem] = field(default_factory=list)
    audit: Audit = field(default_factory=Audit)

    @property
    def ok(self) -> bool:
        return not self.problems

    def add(self, where: str, what: str) -> None:
        self.problems.append(Problem(where, what))

    def warn(self, where: str, what: str) -> None:
        self.warnings.append(Problem(where, what))

    def to_json(self) -> dict[str, Any]:
        """The report as JSON-ready data (``validate --json``)."""
        return {
            "release": str(self.release),
            "ok": self.ok,
            "shards": self.shards,
            "rows": self.rows,
            "images": self.images,
            "boxes": self.boxes,
            "annotation_only_rows": self.annotation_only,
            "rows_by_config_split": {k: dict(v) for k, v in self.rows_by_config_split.items()},
            "answer_letters": {k: dict(v) for k, v in self.audit.letters.items()},
            "problems": [{"where": p.where, "what": p.what} for p in self.problems],
            "warnings": [{"where": p.where, "what": p.what} for p in self.warnings],
        }

    def summary(self) -> str:
        configs = "; ".join(
            f"{c}: " + ", ".join(f"{s} {counts[s]}" for s in SPLITS if s in counts)
            for c, counts in sorted(self.rows_by_config_split.items())
        )
        return (
            f"{self.rows} rows in {self.shards} shards ({configs}), {self.images} images, "
            f"{self.boxes} boxes checked, {len(self.problems)} problems"
        )


def validate_release(
    path: Path, *, benchmarks: Mapping[str, Sequence[ImageHash]] | None = None
) -> ValidationReport:
    """Check the release folder ``path`` and collect every problem (never raises on bad data).

    ``benchmarks`` (name -> image hashes) are checked against the training split on top of
    the benchmarks whose hash lists the release keeps.
    """
    report = ValidationReport(release=path)
    if not path.is_dir():
        report.add(str(path), "not a folder")
        return report
    manifest = _load_manifest(path, report)
    if manifest is not None:
        expected, problems = load_expected_images(path, manifest)
        for where, what in problems:
            report.add(where, what)
        report.expected_images = expected
        report.pixel_free_sources = set(manifest.get("annotation_only") or {})
    listed: dict[str, dict[str, Any]] = (
        {str(s["path"]): s for s in manifest["shards"]} if manifest else {}
    )
    shard_files = (p for p in (path / "data").rglob("*.parquet") if p.is_file())
    on_disk = sorted(p.relative_to(path).as_posix() for p in shard_files)
    for name in sorted(set(listed) - set(on_disk)):
        report.add(name, "listed in manifest.json but missing")
    if manifest is not None:
        for name in sorted(set(on_disk) - set(listed)):
            report.add(name, "shard not listed in manifest.json")
    _check_numbering(on_disk, report)

    ids: dict[str, str] = {}
    groups: dict[str, Counter[str]] = defaultdict(Counter)
    for name in on_disk:
        report.shards += 1
        _check_shard(path, name, listed.get(name), report, ids=ids, groups=groups)
    for group, splits in sorted(groups.items()):
        if len(splits) > 1:
            spread = ", ".join(f"{s} ({n} rows)" for s, n in sorted(splits.items()))
            report.add(f"group {group}", f"is in more than one split: {spread}")
    screening = (manifest or {}).get("screening") or {}
    threshold = (screening.get("duplicates") or {}).get("threshold_bits", DEFAULT_THRESHOLD)
    kept = _benchmark_hashes(path, screening, report)
    report.audit.finish(report, threshold=int(threshold), benchmarks={**kept, **(benchmarks or {})})
    _check_card(path, report)
    return report


def _benchmark_hashes(
    path: Path, screening: dict[str, Any], report: ValidationReport
) -> dict[str, list[ImageHash]]:
    """The hashes of the benchmarks the release was decontaminated against, from the lists
    ``publish`` keeps in the release; a missing or unreadable list is a problem."""
    found: dict[str, list[ImageHash]] = {}
    benchmarks = (screening.get("decontamination") or {}).get("benchmarks") or {}
    for name, entry in sorted(benchmarks.items()):
        listed = entry.get("hash_list") if isinstance(entry, dict) else None
        if not listed:
            continue  # a release published before the lists were kept
        file = path / str(listed)
        expected = entry.get("hash_list_sha256")
        if expected and file.is_file() and sha256_file(file) != expected:
            report.add(str(listed), "sha256 differs from manifest.json")
        try:
            found[name] = [value for _, value in read_hash_list(file)]
        except UsageError as error:
            report.add(str(listed), f"benchmark hash list unreadable: {error}")
    return found


def format_problems(report: ValidationReport, *, limit: int = 30) -> str:
    """The problems as readable lines, at most ``limit`` of them, then ``... and N more``."""
    if not report.problems:
        return f"{report.release}: no problems"
    lines = [f"{report.release}: {len(report.problems)} problem(s)"]
    lines += [f"- {p.where}: {p.what}" for p in report.problems[:limit]]
    if len(report.problems) > limit:
        lines.append(f"... and {len(report.problems) - limit} more")
    return "\n".join(lines)


def _load_manifest(path: Path, report: ValidationReport) -> dict[str, Any] | None:
    try:
        manifest = read_manifest(path / MANIFEST_NAME)
        check_version(str(manifest["version"]))
    except ReleaseError as error:
        report.add(MANIFEST_NAME, str(error))
        return None
    return manifest


def _check_numbering(names: list[str], report: ValidationReport) -> None:
    """Names are data/<config>/<split>-i-of-n, and each (config, split) has files 0..n-1 of n."""
    seen: dict[tuple[str, str], list[tuple[int, int]]] = defaultdict(list)
    for name in names:
        parts = name.split("/")
        match = SHARD_NAME.match(parts[-1]) if len(parts) == 3 else None
        if match is None or parts[1] not in CONFIGS or match["split"] not in SPLITS:
            report.add(
                name, f"not a shard name data/<{'|'.join(CONFIGS)}>/<split>-NNNNN-of-NNNNN.parquet"
            )
            continue
        seen[(parts[1], match["split"])].append((int(match["index"]), int(match["total"])))
    for (config, split), numbers in sorted(seen.items()):
        totals = {total for _, total in numbers}
        indexes = sorted(index for index, _ in numbers)
        if len(totals) != 1 or indexes != list(range(len(numbers))) or totals != {len(numbers)}:
            report.add(
                f"data/{config}/{split}-*", f"shard numbering is inconsistent: {sorted(numbers)}"
            )


def _check_shard(
    root: Path,
    name: str,
    listed: dict[str, Any] | None,
    report: ValidationReport,
    *,
    ids: dict[str, str],
    groups: dict[str, Counter[str]],
) -> None:
    file = root / name
    if listed is not None:
        size = file.stat().st_size
        if size != listed["bytes"]:
            report.add(name, f"size is {size} bytes, manifest.json says {listed['bytes']}")
        digest = sha256_file(file)
        if digest != listed["sha256"]:
            report.add(name, f"sha256 is {digest}, manifest.json says {listed['sha256']}")
    parts = name.split("/")
    match = SHARD_NAME.match(parts[-1])
    config = parts[1] if len(parts) == 3 else ""
    split = match["split"] if match else ""
    count = 0
    try:
        parquet = pq.ParquetFile(file)
        if not parquet.schema_arrow.equals(ROW_SCHEMA, check_metadata=False):
            report.add(name, f"columns differ from the row schema: {parquet.schema_arrow.names}")
            return
        _check_declared_features(name, parquet.schema_arrow.metadata, report)
        for row in _rows(parquet):
            count += 1
            where = f"{name} row {row.get('id', count - 1)}"
            try:
                _check_row(row, where, config=config, split=split, report=report)
            except Exception as error:  # a checker bug must not hide the rest of the report
                report.add(where, f"could not be checked: {type(error).__name__}: {error}")
            row_id = str(row.get("id"))
            if row_id in ids:
                report.add(where, f"id is not unique (also in {ids[row_id]})")
            ids.setdefault(row_id, name)
            groups[str(row.get("group_id"))][str(row.get("split"))] += 1
            report.rows_by_config_split.setdefault(config, Counter())[split] += 1
    except Exception as error:  # truncated / corrupt Parquet surfaces as many pyarrow error types
        report.add(name, f"not readable as Parquet: {type(error).__name__}: {error}")
    report.rows += count
    if listed is not None and count != listed["rows"]:
        report.add(name, f"has {count} readable rows, manifest.json says {listed['rows']}")


def _rows(parquet: pq.ParquetFile) -> Iterator[dict[str, Any]]:
    """Rows with ``images`` as bytes; an image without bytes stays ``None`` for the row checks."""
    for batch in parquet.iter_batches(batch_size=_BATCH_ROWS):
        for row in batch.to_pylist():
            row["images"] = [
                image.get("bytes") if isinstance(image, dict) else image
                for image in row.get("images") or []
            ]
            yield row


def _check_declared_features(
    name: str, metadata: dict[bytes, bytes] | None, report: ValidationReport
) -> None:
    try:
        declared = json.loads((metadata or {})[b"huggingface"])["info"]["features"]
        if Features.from_dict(declared) != ROW_FEATURES:
            report.add(
                name, "features declared in the Parquet metadata differ from the row features"
            )
    except (KeyError, ValueError, TypeError):
        report.add(name, "no features declared in the Parquet schema metadata ('huggingface' key)")


def _check_row(
    row: dict[str, Any], where: str, *, config: str, split: str, report: ValidationReport
) -> None:
    try:
        Row.model_validate(row)
    except ValidationError as error:
        details = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or 'row'}: {e['msg']}" for e in error.errors()[:3]
        )
        report.add(where, f"does not match schemas.Row: {details}")
    dims = row.get("dims")
    if dims in (2, 3) and config and config_name(int(dims)) != config:
        report.add(where, f"a {dims}D row in the {config} config folder")
    if split and row.get("split") != split:
        report.add(where, f"split is {row.get('split')!r} but the file is a {split} shard")

    images = list(row.get("images") or [])
    if all(isinstance(data, bytes) for data in images):
        report.audit.observe(row, images, config)
    expected = report.expected_images.get(str(row.get("id")))
    if not images and expected and row.get("source") in report.pixel_free_sources:
        report.annotation_only += 1  # pixels come from the user's copy (`unimed-cot hydrate`)
        return
    decodable = images and all(isinstance(d, bytes) for d in images)
    if expected is not None and decodable and tuple(_sha(d) for d in images) != expected:
        report.add(where, "images differ from the sha256s recorded in rows.tsv")
    sizes = []
    for k, data in enumerate(images):
        try:
            with Image.open(io.BytesIO(data)) as image:
                image.load()
                sizes.append(image.size)
        except Exception as error:  # PIL raises OSError, SyntaxError, ValueError, ... by format
            report.add(where, f"image {k} does not decode: {error}")
    report.images += len(images)
    if not images:
        report.add(where, "has no images")
    elif dims == 2 and len(images) != 1:
        report.add(where, f"a 2D row has {len(images)} images, expected 1")
    elif dims == 3 and len(images) != len(row.get("slice_positions_mm") or []):
        report.add(
            where,
            f"{len(images)} slices but {len(row.get('slice_positions_mm') or [])} slice positions",
        )
    if len(set(sizes)) > 1:
        report.add(where, f"slices differ in size: {sorted(set(sizes))}")
    if len(sizes) != len(images) or not sizes:
        return  # box bounds need every image's size
    _check_boxes(
        row, where, width=sizes[0][0], height=sizes[0][1], n_slices=len(images), report=report
    )


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _check_boxes(
    row: dict[str, Any],
    where: str,
    *,
    width: int,
    height: int,
    n_slices: int,
    report: ValidationReport,
) -> None:
    try:
        text_boxes = find_boxes(str(row.get("reasoning") or ""))
    except BoxError as error:
        report.add(where, f"reasoning holds a malformed box: {error}")
        return
    region_boxes = {tuple(r.get("box") or ()) for r in row.get("regions") or []}
    for box in text_boxes:
        report.boxes += 1
        try:
            validate_box(
                box, width=width, height=height, n_slices=n_slices if row.get("dims") == 3 else None
            )
        except BoxError as error:
            report.add(
                where, f"box outside its image ({width}x{height}, {n_slices} slices): {error}"
            )
        if box not in region_boxes:
            report.add(where, f"box {list(box)} in the reasoning is not a region box")
    uncited = region_boxes - set(text_boxes)
    if uncited:
        report.add(
            where, f"region boxes not cited in the reasoning: {sorted(list(b) for b in uncited)}"
        )


def _check_card(root: Path, report: ValidationReport) -> None:
    path = root / "README.md"
    if not path.is_file():
        report.add("README.md", "missing (the dataset card)")
        return
    try:
        data = DatasetCard(path.read_text(encoding="utf-8")).data.to_dict()
    except Exception as error:  # yaml and huggingface_hub raise several types for a bad header
        report.add("README.md", f"YAML header does not parse: {error}")
        return
    configs = {c.get("config_name"): c for c in data.get("configs") or [] if isinstance(c, dict)}
    present = sorted(c for c, counts in report.rows_by_config_split.items() if sum(counts.values()))
    for name in [*present, DEFAULT_CONFIG]:
        if name not in configs:
            report.add("README.md", f"configs has no {name!r} config")
    infos = data.get("dataset_info") or []
    infos = [infos] if isinstance(infos, dict) else infos
    expected = {c: dict(report.rows_by_config_split.get(c, {})) for c in present}
    expected[DEFAULT_CONFIG] = dict(sum((Counter(v) for v in expected.values()), Counter()))
    for info in infos:
        name = info.get("config_name", "default")
        try:
            if Features._from_yaml_list(info.get("features") or []) != ROW_FEATURES:
                report.add(
                    "README.md", f"dataset_info of {name!r} declares other features than the rows"
                )
        except Exception as error:  # malformed YAML features raise TypeError/ValueError/KeyError
            report.add("README.md", f"dataset_info of {name!r} has unreadable features: {error}")
        declared = {s.get("name"): s.get("num_examples") for s in info.get("splits") or []}
        if name in expected and declared != expected[name]:
            report.add(
                "README.md",
                f"dataset_info of {name!r} lists splits {declared}, shards hold {expected[name]}",
            )
    missing = sorted(set(expected) - {i.get("config_name", "default") for i in infos})
    if missing:
        report.add("README.md", f"dataset_info has no entry for {missing}")
