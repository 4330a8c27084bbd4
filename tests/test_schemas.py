"""The pydantic contracts and their generated JSON Schemas must not drift apart."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from unimed_cot.schemas import SCHEMA_MODELS, Row, Trace, render_json_schema

SCHEMA_DIR = Path(__file__).resolve().parent.parent / "schemas"


@pytest.mark.parametrize("name", sorted(SCHEMA_MODELS))
def test_json_schema_file_matches_model(name: str) -> None:
    path = SCHEMA_DIR / f"{name}.schema.json"
    assert path.is_file(), f"{path} missing: run `python -m unimed_cot.schemas`"
    assert path.read_text(encoding="utf-8") == render_json_schema(SCHEMA_MODELS[name]), (
        f"{path.name} is stale: run `python -m unimed_cot.schemas` and commit the result"
    )


def _row(**changes: Any) -> dict[str, Any]:
    row: dict[str, Any] = {
        "id": "phantom/phantom3d-0001/0",
        "source": "phantom",
        "dims": 3,
        "modality": "CT",
        "images": [b"png"] * 2,
        "slice_positions_mm": [0.0, 5.0],
        "plane": "axial",
        "spacing_mm": [1.0, 1.0, 5.0],
        "window": "CT abdomen W400 L50",
        "question_type": "size_comparison",
        "question": "Which is larger?",
        "options": ["liver", "spleen"],
        "answer": "A. liver",
        "answer_type": "closed",
        "regions": [{"id": "R1", "label": "liver", "box": [1, 2, 0, 3, 4, 2]}],
        "grounded": True,
        "reasoning": "<think>x</think>A. liver",
        "split": "train",
        "group_id": hashlib.sha256(b"p").hexdigest()[:32],
        "license": "Apache-2.0",
        "teacher": "template",
        "prompt_sha": hashlib.sha256(b"t").hexdigest(),
        "pipeline_version": "0.1.0+abc",
    }
    row.update(changes)
    return row


def test_valid_row() -> None:
    Row.model_validate(_row())


@pytest.mark.parametrize(
    "changes",
    [
        {"answer": "C. liver"},
        {"answer": "A. spleen"},
        {"answer": "liver"},
        {"regions": [{"id": "R1", "label": "liver", "box": [1, 2, 3, 4]}]},
        {"slice_positions_mm": [0.0]},
        {"split": "dev"},
        {"group_id": "PAT-0001"},
        {"id": "other/x/0"},
        {"dims": 2},
        {"regions": [{"id": "X1", "label": "liver", "box": [1, 2, 0, 3, 4, 2]}]},
    ],
)
def test_invalid_rows_are_refused(changes: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        Row.model_validate(_row(**changes))


def test_trace_refuses_coordinates_field_and_empty_steps() -> None:
    Trace.model_validate(
        {"steps": [{"text": "The liver [R1] is large.", "cites": ["R1"]}], "answer": "A. liver"}
    )
    with pytest.raises(ValidationError):
        Trace.model_validate({"steps": [], "answer": "A"})
    with pytest.raises(ValidationError):
        Trace.model_validate(
            {"steps": [{"text": "x", "cites": ["R1"], "box": [1, 2, 3, 4]}], "answer": "A"}
        )
