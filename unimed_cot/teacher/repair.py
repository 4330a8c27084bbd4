"""The repair turn: a rejected reply and the reasons it failed, fed back for another attempt.

The conversation grows by the teacher's own reply (as the assistant turn) and one user turn that
names the failed check and restates the rules the reply broke; the request stays otherwise the
same, so a repaired request is as cacheable as the first one.
"""

from __future__ import annotations

from typing import Any

from .validate import RejectReason, TraceRejected

_HINTS = {
    RejectReason.INVALID_JSON: "Reply with one JSON object only, no prose and no Markdown.",
    RejectReason.SCHEMA: 'Use exactly the keys "steps" (a list of {"text", "cites"}) and "answer".',
    RejectReason.EMPTY_STEPS: "Write 2 to 5 steps, each with text.",
    RejectReason.TOO_LONG: "Keep each step under 600 characters and use at most 12 steps.",
    RejectReason.COORDINATES_IN_TEXT: "Never write coordinates; cite regions as [R1].",
    RejectReason.UNKNOWN_REGION_ID: "Cite only the region ids listed in the prompt.",
    RejectReason.MISSING_EVIDENCE: "Cite at least one of the evidence regions named in the prompt.",
    RejectReason.SLICE_OUT_OF_RANGE: "Do not write slice numbers; cite the region id instead.",
    RejectReason.ANSWER_LEAKED: "Reason first; state the answer only in the last step.",
    RejectReason.WRONG_ANSWER: 'The "answer" field must be the correct answer exactly as given.',
}


def repair_messages(raw: str, error: TraceRejected) -> list[dict[str, Any]]:
    """The assistant turn (the rejected reply) and the user turn asking for a corrected one."""
    hint = _HINTS.get(RejectReason(error.reason), "")
    return [
        {"role": "assistant", "content": raw},
        {
            "role": "user",
            "content": (
                f"Your reply was rejected ({error.reason}): {error.detail}. {hint} "
                "Reply again with the corrected JSON object only."
            ),
        },
    ]
