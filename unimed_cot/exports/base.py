"""The export contract: one ``Exporter`` per format, registered by subclassing, fed the rows of a
release shard by shard with their images and (where the format injects them) the box crops."""

from __future__ import annotations

import hashlib
import json
from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import cv2
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from unimed_cot.boxes import crop_planes, crop_window, find_boxes
from unimed_cot.chat import system_prompt, user_text
from unimed_cot.imaging.png import encode_png
from unimed_cot.store import atomic_path, write_text_atomic

from .lengths import MAX_PIXELS, MIN_PIXELS, Longest, RowLength, row_length

_REGISTRY: dict[str, type[Exporter]] = {}


@dataclass(slots=True)
class ExportReport:
    """What an export wrote."""

    out: Path
    format: str
    rows: int = 0
    images: int = 0
    skipped_without_pixels: int = 0
    files: list[Path] = field(default_factory=list)
    rows_by_split: dict[str, int] = field(default_factory=dict)
    longest: Longest = field(default_factory=Longest)

    def summary(self) -> str:
        text = (
            f"exported {self.rows} rows ({self.images} images incl. crops) as {self.format} "
            f"to {self.out} in {len(self.files)} files"
        )
        if self.skipped_without_pixels:
            text += f"; skipped {self.skipped_without_pixels} rows without pixels (hydrate first)"
        return text + f"; settings and what to run next in {self.out / 'README.md'}"


@dataclass(frozen=True, slots=True)
class ExportRow:
    """A published row (as read from its shard), its images, and the PNG crops of each box its
    reasoning cites (in order; empty when the format injects none)."""

    row: dict[str, Any]
    images: list[bytes]
    crops: list[list[bytes]]


@dataclass(frozen=True, slots=True)
class Guide:
    """What a consumer needs to train on an export: ``settings`` (machine-readable, into
    ``export.json``) and ``how`` (the Markdown of the README: layout, what to run)."""

    settings: dict[str, Any]
    how: str


class Exporter(ABC):
    """One trainer's layout. Subclasses set ``name`` and ``injects_crops``, write each shard's
    rows with ``write_shard`` (train and held-out splits where the consumer keeps them apart),
    and say in ``guide`` what the consumer must set; ``finish`` runs once after the last shard."""

    name: ClassVar[str]
    injects_crops: ClassVar[bool] = False
    # Top-level names the format writes under ``out`` (besides README.md and export.json): an
    # ``out`` already holding one is refused, so no stale file of an earlier export is read.
    owned: ClassVar[tuple[str, ...]] = ()

    def __init_subclass__(cls, **kwargs: object) -> None:
        super().__init_subclass__(**kwargs)
        name = cls.__dict__.get("name")
        if name is not None:
            if name in _REGISTRY and _REGISTRY[name] is not cls:
                raise TypeError(f"export format {name!r} is registered twice")
            _REGISTRY[name] = cls

    @abstractmethod
    def write_shard(
        self, rows: Sequence[ExportRow], *, out: Path, stem: str, split: str, report: ExportReport
    ) -> None:
        """Write the rows of one release shard of ``split`` (``stem``:
        ``<config>-<split>-NNNNN-of-NNNNN``)."""

    def finish(self, *, out: Path, report: ExportReport) -> None:  # noqa: B027 (optional hook)
        """Write what spans every shard (index files); nothing by default."""

    @abstractmethod
    def guide(self, report: ExportReport) -> Guide:
        """The layout and the settings its consumer needs for the rows of ``report``."""


def registered_exporters() -> dict[str, type[Exporter]]:
    """Every export format by name, in order."""
    return dict(sorted(_REGISTRY.items()))


def image_id(data: bytes) -> str:
    """A neutral, content-derived image id (the same image always gets the same id)."""
    return hashlib.sha256(data).hexdigest()[:32]


def box_crops(images: Sequence[bytes], box: Sequence[int]) -> list[bytes]:
    """PNG crops of one box: one for 2D, one per slice ``z1 <= z < z2`` for 3D
    (``boxes.crop_planes``/``crop_window``: the reference's hygiene)."""
    planes, xy = crop_planes(box, len(images))
    crops = []
    for index in planes:
        pixels = cv2.imdecode(np.frombuffer(images[index], np.uint8), cv2.IMREAD_UNCHANGED)
        if pixels is None:
            raise ValueError("an image of the row does not decode")
        if pixels.ndim == 3:  # OpenCV decodes to BGR; encode_png takes RGB
            pixels = cv2.cvtColor(pixels, cv2.COLOR_BGR2RGB)
        x1, y1, x2, y2 = crop_window(xy, width=pixels.shape[1], height=pixels.shape[0])
        crops.append(encode_png(np.ascontiguousarray(pixels[y1:y2, x1:x2])))
    return crops


def export_rows(table: pa.Table, report: ExportReport, *, crops: bool) -> Iterator[ExportRow]:
    """The rows of a shard with pixels (rows without, annotation-only, are counted and skipped),
    with the crops of their cited boxes when ``crops``."""
    for row in table.to_pylist():
        images = [image["bytes"] for image in row["images"] or []]
        if not images:
            report.skipped_without_pixels += 1
            continue
        boxes = find_boxes(row["reasoning"]) if crops else []
        yield ExportRow(row=row, images=images, crops=[box_crops(images, box) for box in boxes])


def write_table(table: pa.Table, path: Path, report: ExportReport) -> None:
    """Write one exported Parquet file atomically and list it in the report."""
    with atomic_path(path) as tmp:
        pq.write_table(table, tmp, compression="zstd")
    report.files.append(path)


def measure(item: ExportRow, *, split: str, crops: bool) -> RowLength:
    """The token lengths of one row as every format renders it (``chat``): reference system
    prompt, the images then the question, the reasoning with its crops when ``crops``."""
    row = item.row
    dims = int(row["dims"])
    return row_length(
        id=str(row["id"]),
        split=split,
        system=system_prompt(dims),
        user=user_text(question=row["question"], options=row["options"], dims=dims),
        images=item.images,
        assistant=str(row["reasoning"]),
        crops=[c for box in item.crops for c in box] if crops else [],
    )


def write_guide(exporter: Exporter, *, out: Path, report: ExportReport, version: str) -> None:
    """``README.md`` and ``export.json`` next to the export: its layout, splits, measured
    lengths and the settings its consumer needs."""
    guide = exporter.guide(report)
    info = {
        "format": exporter.name,
        "release_version": version,
        "rows_by_split": dict(sorted(report.rows_by_split.items())),
        "crops_in_completion": exporter.injects_crops,
        "longest": report.longest.as_dict(),
        "settings": guide.settings,
    }
    lengths = report.longest.as_dict()
    settings = "\n".join(f"- `{key}`: `{json.dumps(v)}`" for key, v in guide.settings.items())
    splits = ", ".join(f"{split} {n}" for split, n in sorted(report.rows_by_split.items()))
    readme = (
        f"# unimed-cot {version}, exported for {exporter.name}\n\n"
        f"Rows: {report.rows} ({splits}). Only `train` rows are where the consumer reads training"
        " data by default; validation and test rows are kept apart as described below.\n\n"
        f"{guide.how.strip()}\n\n"
        "## Settings for this export\n\n"
        "`OUT` is this folder.\n\n"
        f"{settings}\n\n"
        f"Longest row (tokens, Qwen2.5-VL): prompt {lengths['prompt_tokens']}"
        f" (`{lengths['prompt_row']}`), completion {lengths['completion_tokens']}"
        f" (`{lengths['completion_row']}`), total {lengths['total_tokens']}"
        f" (`{lengths['total_row']}`, {lengths['total_row_vision_tokens']} of them vision)."
        " Vision tokens follow the Qwen2.5-VL processor (patch 14, merge 2, min_pixels"
        f" {MIN_PIXELS}, max_pixels {MAX_PIXELS}, each image framed by two tokens); text is"
        " bounded by its UTF-8 bytes, so the settings cover every row. The same numbers are in"
        " `export.json`.\n"
    )
    write_text_atomic(out / "export.json", json.dumps(info, indent=2) + "\n")
    write_text_atomic(out / "README.md", readme)
    report.files.extend([out / "export.json", out / "README.md"])
