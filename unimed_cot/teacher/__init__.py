"""Teachers write the interleaved reasoning of a sample; validation and rendering keep it grounded.

``build_request`` renders the prompt (``prompts/*.j2``), a ``Teacher`` answers with the JSON of a
``schemas.Trace`` that cites regions by id, ``validate_reply`` checks that reply against the
sample, and ``render_reasoning`` substitutes the exact annotated boxes for the ids. The offline
``TemplateTeacher`` is the default.
"""

from .base import Teacher, TeacherRequest
from .prompts import build_request
from .render import render_reasoning
from .template import TemplateTeacher
from .validate import RejectReason, TraceRejected, to_rejection, validate_reply

__all__ = [
    "RejectReason",
    "Teacher",
    "TeacherRequest",
    "TemplateTeacher",
    "TraceRejected",
    "build_request",
    "render_reasoning",
    "to_rejection",
    "validate_reply",
]
