"""Synthetic staged workspaces for the release tests: real PNGs, 2D and 3D rows, several groups."""

from __future__ import annotations

import hashlib
import io
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from unimed_cot.boxes import render_box
from unimed_cot.store.features import rows_to_table, write_parquet

PROMPT_SHA = hashlib.sha256(b"prompt template v1").hexdigest()


def png(width: int, height: int, seed: int) -> bytes:
    """A small deterministic grayscale PNG."""
    rng = np.random.default_rng(seed)
    buffer = io.BytesIO()
    Image.fromarray(rng.integers(0, 255, (height, width), dtype=np.uint8)).save(
        buffer, format="PNG"
    )
    return buffer.getvalue()


def group_hash(source: str, patient: str) -> str:
    return hashlib.sha256(f"salt\x1f{source}\x1f{patient}".encode()).hexdigest()[:32]


def make_row(
    *, source: str, case: str, question: int, dims: int, patient: str, official: str = ""
) -> dict[str, Any]:
    """One valid staged row; boxes in the reasoning are exactly the region boxes."""
    seed = int(hashlib.sha256(f"{source}/{case}".encode()).hexdigest()[:8], 16)
    if dims == 2:
        images = [png(84, 56, seed)]
        box = [10 + question, 8, 40, 30]
        extra = {"slice_positions_mm": [], "plane": "", "spacing_mm": [0.75, 0.75]}
    else:
        images = [png(56, 56, seed + k) for k in range(4)]
        box = [5, 6, 1, 30 + question, 31, 3]
        extra = {
            "slice_positions_mm": [0.0, 2.5, 5.0, 7.5],
            "plane": "axial",
            "spacing_mm": [1.0, 1.0, 2.5],
        }
    # The answer alternates by case, so each family's letters are balanced as validate expects.
    side, answer = ("right", "A. right") if seed % 2 else ("left", "B. left")
    reasoning = f"<think>The lesion R1 {render_box(box)} is in the {side} lobe.</think>{answer}"
    return {
        "id": f"{source}/{case}/{question}",
        "source": source,
        "dims": dims,
        "modality": "CT",
        "images": images,
        **extra,
        "window": "CT lung W1500 L-600" if dims == 3 else "",
        "question_type": "spatial_localization" if question % 2 else "lesion_analysis",
        "question": f"Where is the lesion in {case}?",
        "options": ["right", "left"],
        "answer": answer,
        "answer_type": "closed",
        "regions": [{"id": "R1", "label": "lesion", "box": box}],
        "grounded": True,
        "reasoning": reasoning,
        "split": official,
        "group_id": group_hash(source, patient),
        "license": "CC-BY-4.0",
        "teacher": "template",
        "prompt_sha": PROMPT_SHA,
        "pipeline_version": "0.1.0+abc",
    }


def stage(
    workspace: Path, source: str, case: str, rows: list[dict[str, Any]], rejections: int = 0
) -> None:
    """Write one case the way the pipeline does: rejections jsonl, then the rows file."""
    build = workspace / ".build"
    lines = [
        json.dumps(
            {
                "stage": "validate",
                "reason": "unknown-region-id",
                "detail": "cites R9",
                "source": source,
                "case_id": case,
                "sample_id": f"{source}/{case}/9",
                "raw": "{}",
            }
        )
        for _ in range(rejections)
    ]
    (build / "rejections" / source).mkdir(parents=True, exist_ok=True)
    (build / "rejections" / source / f"{case}.jsonl").write_text(
        "".join(f"{line}\n" for line in lines)
    )
    write_parquet(rows_to_table(rows), build / "staged" / source / f"{case}.parquet")


def build_workspace(
    root: Path, *, groups_2d: int = 6, groups_3d: int = 5, questions: int = 2
) -> Path:
    """Two sources: ``alpha`` (2D, two cases per patient), ``beta`` (3D, one official test case)."""
    for g in range(groups_2d):
        for c in range(2):
            case = f"p{g}-img{c}"
            rows = [
                make_row(source="alpha", case=case, question=q, dims=2, patient=f"p{g}")
                for q in range(questions)
            ]
            stage(root, "alpha", case, rows, rejections=1 if c == 0 else 0)
    for g in range(groups_3d):
        case = f"vol{g:02d}"
        official = "test" if g == 0 else ""
        rows = [
            make_row(
                source="beta", case=case, question=q, dims=3, patient=f"v{g}", official=official
            )
            for q in range(questions)
        ]
        stage(root, "beta", case, rows)
    stage(root, "beta", "empty-case", [])  # a case whose samples were all rejected
    runs = root / ".build" / "runs"
    runs.mkdir(parents=True, exist_ok=True)
    for source in ("alpha", "beta"):
        (runs / f"{source}.json").write_text(
            json.dumps({"identity": {"source": source, "seed": 0}, "listed": 3})
        )
    return root


@pytest.fixture
def row_factory() -> Callable[..., dict[str, Any]]:
    """``make_row`` as a fixture (test modules should not import conftest)."""
    return make_row


@pytest.fixture
def stager() -> Callable[..., None]:
    """``stage`` as a fixture."""
    return stage


@pytest.fixture(scope="session")
def workspace_builder() -> Callable[..., Path]:
    """``build_workspace`` as a fixture (for module-scoped fixtures that build one workspace)."""
    return build_workspace


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    return build_workspace(tmp_path / "unimed-cot")


@pytest.fixture
def make_workspace(tmp_path: Path) -> Callable[..., Path]:
    def factory(name: str = "unimed-cot", **kwargs: Any) -> Path:
        return build_workspace(tmp_path / name, **kwargs)

    return factory
