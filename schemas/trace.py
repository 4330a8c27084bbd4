"""The teacher's reply: interleaved reasoning that cites regions by id, never by coordinates.

One model is both the JSON schema sent to the teacher as its response format and the validator of
the reply. Region ids (``R1``...) are replaced by the exact annotated boxes when the trace is
rendered, so a coordinate can never be hallucinated (DESIGN.md §4).
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from .row import RegionId

MAX_STEP_CHARS = 600
MAX_STEPS = 12


class TraceStep(BaseModel):
    """One reasoning step. Write ``[R1]`` in ``text`` right after the words a region supports;
    every id in ``cites`` whose marker is missing is placed at the end of the step."""

    model_config = ConfigDict(extra="forbid")

    text: str = Field(min_length=1, max_length=MAX_STEP_CHARS)
    cites: list[RegionId] = Field(default_factory=list, max_length=8)


class Trace(BaseModel):
    """Reasoning steps, then the final answer (``"B. option text"`` for choice questions)."""

    model_config = ConfigDict(extra="forbid")

    steps: list[TraceStep] = Field(min_length=1, max_length=MAX_STEPS)
    answer: str = Field(min_length=1, max_length=400)
