"""Rendering: region ids become the exact annotated boxes."""

from __future__ import annotations

import pytest

from unimed_cot.boxes import find_boxes, render_box
from unimed_cot.samples import Sample
from unimed_cot.schemas import Trace, TraceStep
from unimed_cot.teacher import render_reasoning


def test_markers_and_unplaced_cites(sample_3d: Sample) -> None:
    trace = Trace(
        steps=[
            TraceStep(text="The liver [R1] lies right of the spleen [ R2 ].", cites=["R1", "R2"]),
            TraceStep(text="Both organs [R1, R2] are large.", cites=[]),
            TraceStep(text="A tumor sits in the liver.", cites=["R3", "R1", "R3"]),
            TraceStep(text="Hence the answer", cites=["R2"]),
        ],
        answer="B. Right of the spleen",
    )
    liver, spleen, tumor = (render_box(r.box) for r in sample_3d.regions)
    assert render_reasoning(trace, sample_3d) == (
        f"<think>The liver {liver} lies right of the spleen {spleen}.\n"
        f"Both organs {liver} {spleen} are large.\n"
        f"A tumor sits in the liver {tumor} {liver}.\n"
        f"Hence the answer {spleen}</think>B. Right of the spleen"
    )


def test_boxes_are_region_boxes(sample_3d: Sample) -> None:
    trace = Trace(steps=[TraceStep(text="See [R3] and [R1].", cites=["R2"])], answer="B")
    boxes = find_boxes(render_reasoning(trace, sample_3d))
    assert boxes == [(8, 16, 3, 14, 22, 5), (2, 10, 1, 24, 40, 7), (36, 20, 2, 50, 36, 6)]


def test_unknown_id_raises(sample_3d: Sample) -> None:
    trace = Trace(steps=[TraceStep(text="See [R9].")], answer="B")
    with pytest.raises(ValueError, match="R9"):
        render_reasoning(trace, sample_3d)
