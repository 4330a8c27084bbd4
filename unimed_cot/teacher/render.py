"""Trace -> the published reasoning text, with every cited region id replaced by its exact box.

``<think>step\\nstep\\n...</think>`` + answer. A marker ``[R1]`` (or ``[R1, R2]``) becomes the
region's box in the shared syntax right where the teacher put it; ids listed in ``cites`` without a
marker in the text go at the end of their step, before its final punctuation.
"""

from __future__ import annotations

import re

from unimed_cot.boxes import render_box
from unimed_cot.samples import Sample
from unimed_cot.schemas import Trace

# "[R1]", "[R1, R2]", "[ R3 ]": the ways a teacher cites regions in its text.
MARKER = re.compile(r"\[\s*(R\d+(?:\s*,\s*R\d+)*)\s*\]")
_END_PUNCTUATION = ".!?;:"


def marker_ids(text: str) -> list[str]:
    """Region ids cited by markers in ``text``, in order (duplicates kept)."""
    return [rid.strip() for m in MARKER.finditer(text) for rid in m.group(1).split(",")]


def render_reasoning(trace: Trace, sample: Sample) -> str:
    """The reasoning of a validated trace, with the sample's boxes in place of region ids.

    Raises:
        ValueError: when the trace cites an id the sample does not have (``validate_reply``
            rejects such a reply first).
    """
    boxes = {r.id: render_box(r.box) for r in sample.regions}

    def box_of(region_id: str) -> str:
        if region_id not in boxes:
            raise ValueError(f"trace cites {region_id}, which sample {sample.id} does not have")
        return boxes[region_id]

    steps = []
    for step in trace.steps:
        text = step.text.strip()
        named = set(marker_ids(text))
        text = MARKER.sub(
            lambda m: " ".join(box_of(i.strip()) for i in m.group(1).split(",")), text
        )
        unplaced = [box_of(c) for c in dict.fromkeys(step.cites) if c not in named]
        if unplaced:
            text = _append(text, " ".join(unplaced))
        steps.append(text)
    return "<think>" + "\n".join(steps) + "</think>" + trace.answer


def _append(text: str, boxes: str) -> str:
    """Boxes at the end of a step, before its closing punctuation ("... liver <box>.")."""
    if text and text[-1] in _END_PUNCTUATION:
        return f"{text[:-1].rstrip()} {boxes}{text[-1]}"
    return f"{text} {boxes}" if text else boxes
