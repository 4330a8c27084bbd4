"""The typed staged row: what ``pipeline`` makes of an accepted answer and stages, field for
field the published row (``schemas.Row``, DESIGN.md §5), with the split still open.

Rows are records in the library and dicts only at the Parquet/JSON edge (``as_dict``).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any


def group_id(*, salt: str, source: str, group_key: str) -> str:
    """Salted hash of a patient (or case) key: stable for a salt, never the key itself."""
    return hashlib.sha256(f"{salt}\x1f{source}\x1f{group_key}".encode()).hexdigest()[:32]


@dataclass(frozen=True, slots=True)
class RowRegion:
    """One evidence region of a row: id, label and box (4 ints 2D, 6 ints 3D)."""

    id: str
    label: str
    box: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class RowRecord:
    """One staged row; ``split`` is the source's official split or "" (assigned at publish)."""

    id: str
    source: str
    dims: int
    modality: str
    images: tuple[bytes, ...]
    slice_positions_mm: tuple[float, ...]
    plane: str
    spacing_mm: tuple[float, ...]
    window: str
    question_type: str
    question: str
    options: tuple[str, ...]
    answer: str
    answer_type: str  # "closed" or "open"
    regions: tuple[RowRegion, ...]
    grounded: bool
    reasoning: str
    split: str
    group_id: str
    license: str
    teacher: str
    prompt_sha: str
    pipeline_version: str

    def as_dict(self) -> dict[str, Any]:
        """The row at the Parquet/JSON edge: plain lists and dicts, columns in schema order."""
        return {
            "id": self.id,
            "source": self.source,
            "dims": self.dims,
            "modality": self.modality,
            "images": list(self.images),
            "slice_positions_mm": list(self.slice_positions_mm),
            "plane": self.plane,
            "spacing_mm": list(self.spacing_mm),
            "window": self.window,
            "question_type": self.question_type,
            "question": self.question,
            "options": list(self.options),
            "answer": self.answer,
            "answer_type": self.answer_type,
            "regions": [{"id": r.id, "label": r.label, "box": list(r.box)} for r in self.regions],
            "grounded": self.grounded,
            "reasoning": self.reasoning,
            "split": self.split,
            "group_id": self.group_id,
            "license": self.license,
            "teacher": self.teacher,
            "prompt_sha": self.prompt_sha,
            "pipeline_version": self.pipeline_version,
        }
