"""The checks of one shard and of every row in it (schema, images, boxes, splits)."""

from __future__ import annotations

import io
import json
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
from datasets import Features
from PIL import Image
from pydantic import ValidationError

from unimed_cot.boxes import BoxError, find_boxes, validate_box
from unimed_cot.release.benchmarks import EVAL_CONFIG
from unimed_cot.release.shards import SHARD_NAME
from unimed_cot.schemas import Row
from unimed_cot.screening.hashing import sha256_bytes
from unimed_cot.store import ROW_FEATURES, ROW_SCHEMA, sha256_file
from unimed_cot.store.staged import config_name

from .report import ValidationReport

_BATCH_ROWS = 64


def check_shard(
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
        report.shard_sha256[name] = digest
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
            if config != EVAL_CONFIG:  # benchmark rows may share a group with training rows
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
    if dims in (2, 3) and config and config != EVAL_CONFIG and config_name(int(dims)) != config:
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
    if expected is not None and decodable and tuple(sha256_bytes(d) for d in images) != expected:
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
