"""The export contract: one ``Exporter`` per format, registered by subclassing, fed the rows of a
release shard by shard with their images and (where the format injects them) the box crops."""

from __future__ import annotations

import hashlib
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
from unimed_cot.imaging.png import encode_png
from unimed_cot.store import atomic_path

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

    def summary(self) -> str:
        text = (
            f"exported {self.rows} rows ({self.images} images incl. crops) as {self.format} "
            f"to {self.out} in {len(self.files)} files"
        )
        if self.skipped_without_pixels:
            text += f"; skipped {self.skipped_without_pixels} rows without pixels (hydrate first)"
        return text


@dataclass(frozen=True, slots=True)
class ExportRow:
    """A published row (as read from its shard), its images, and the PNG crops of each box its
    reasoning cites (in order; empty when the format injects none)."""

    row: dict[str, Any]
    images: list[bytes]
    crops: list[list[bytes]]


class Exporter(ABC):
    """One trainer's layout. Subclasses set ``name`` and ``injects_crops`` and write each shard's
    rows with ``write_shard``; ``finish`` runs once after the last shard."""

    name: ClassVar[str]
    injects_crops: ClassVar[bool] = False

    def __init_subclass__(cls, **kwargs: object) -> None:
        super().__init_subclass__(**kwargs)
        name = cls.__dict__.get("name")
        if name is not None:
            if name in _REGISTRY and _REGISTRY[name] is not cls:
                raise TypeError(f"export format {name!r} is registered twice")
            _REGISTRY[name] = cls

    @abstractmethod
    def write_shard(
        self, rows: Sequence[ExportRow], *, out: Path, stem: str, report: ExportReport
    ) -> None:
        """Write the rows of one release shard (``stem``: ``<config>-<split>-NNNNN-of-NNNNN``)."""

    def finish(self, *, out: Path, report: ExportReport) -> None:  # noqa: B027 (optional hook)
        """Write what spans every shard (index files); nothing by default."""


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
