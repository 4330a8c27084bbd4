"""Rows whose statistics are known by construction, written as a release or a workspace."""

from __future__ import annotations

import hashlib
import io
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from unimed_cot.boxes import render_box
from unimed_cot.release.features import rows_to_table, write_parquet

LETTERS = "ABCDEFGHIJ"
PROMPT_SHA = hashlib.sha256(b"stats test prompt").hexdigest()


def png(width: int, height: int, value: int = 80) -> bytes:
    """A small flat grey PNG (real bytes, as a release holds)."""
    buffer = io.BytesIO()
    Image.fromarray(np.full((height, width), value, np.uint8)).save(buffer, format="PNG")
    return buffer.getvalue()


def make_row(
    *,
    source: str = "alpha",
    case: str = "c0",
    index: int = 0,
    dims: int = 2,
    family: str = "structure_localization",
    options: Sequence[str] = ("liver", "spleen", "aorta", "heart"),
    answer: int | str = 0,
    regions: Sequence[tuple[str, str, Sequence[int]]] | None = None,
    spacing: Sequence[float] | None = None,
    window: str = "",
    modality: str = "CT",
    split: str = "train",
) -> dict[str, Any]:
    """One valid row. ``answer`` is an option index, or a free-text answer when no options."""
    if dims == 2:
        images = [png(56, 56)]
        positions: list[float] = []
        plane = ""
        default_box: Sequence[int] = (4, 4, 20, 30)
    else:
        images = [png(56, 56, 10 * k) for k in range(4)]
        positions = [0.0, 2.0, 4.0, 6.0]
        plane = "axial"
        default_box = (4, 4, 1, 20, 30, 3)
    regions = regions if regions is not None else [("R1", "liver", default_box)]
    if options:
        assert isinstance(answer, int)
        answer_text = f"{LETTERS[answer]}. {options[answer]}"
    else:
        answer_text = str(answer)
    cited = " ".join(f"{label} {render_box(box)}" for _, label, box in regions)
    return {
        "id": f"{source}/{case}/{index}",
        "source": source,
        "dims": dims,
        "modality": modality,
        "images": images,
        "slice_positions_mm": positions,
        "plane": plane,
        "spacing_mm": list(spacing) if spacing is not None else [],
        "window": window,
        "question_type": family,
        "question": "Which structure is outlined?",
        "options": list(options),
        "answer": answer_text,
        "regions": [{"id": rid, "label": label, "box": list(box)} for rid, label, box in regions],
        "reasoning": f"<think>I see {cited}.</think>{answer_text}",
        "split": split,
        "group_id": hashlib.sha256(f"{source}/{case}".encode()).hexdigest()[:32],
        "license": "CC-BY-4.0",
        "teacher": "template",
        "prompt_sha": PROMPT_SHA,
        "pipeline_version": "0.1.0+test",
    }


def write_release(root: Path, rows: Sequence[dict[str, Any]]) -> Path:
    """Write rows as published shards, one per (config, split), as ``publish`` names them."""
    buckets: dict[tuple[int, str], list[dict[str, Any]]] = {}
    for row in rows:
        buckets.setdefault((row["dims"], row["split"]), []).append(row)
    for (dims, split), bucket in sorted(buckets.items()):
        path = root / "data" / f"{dims}d" / f"{split}-00000-of-00001.parquet"
        write_parquet(rows_to_table(bucket), path)
    return root


def write_staged(root: Path, rows: Sequence[dict[str, Any]]) -> Path:
    """Write rows as ``build`` stages them: one file per case, split not yet assigned."""
    cases: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for row in rows:
        source, case, _ = row["id"].split("/")
        cases.setdefault((source, case), []).append({**row, "split": ""})
    for (source, case), bucket in sorted(cases.items()):
        write_parquet(
            rows_to_table(bucket), root / ".build" / "staged" / source / f"{case}.parquet"
        )
    return root


@pytest.fixture
def row() -> Callable[..., dict[str, Any]]:
    """``make_row`` as a fixture (test modules do not import conftest)."""
    return make_row


@pytest.fixture
def as_release() -> Callable[[Path, Sequence[dict[str, Any]]], Path]:
    """``write_release`` as a fixture."""
    return write_release


@pytest.fixture
def as_staged() -> Callable[[Path, Sequence[dict[str, Any]]], Path]:
    """``write_staged`` as a fixture."""
    return write_staged
