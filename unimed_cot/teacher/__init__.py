"""Teachers write the interleaved reasoning of a sample; validation and rendering keep it grounded.

``build_request`` renders the prompt (``prompts/*.j2``), a ``Teacher`` answers with the JSON of a
``schemas.Trace`` that cites regions by id, ``validate_reply`` checks that reply against the
sample, and ``render_reasoning`` substitutes the exact annotated boxes for the ids. The offline
``TemplateTeacher`` is the default; ``OpenAITeacher`` asks any OpenAI-compatible endpoint,
concurrently, through a SQLite reply cache, with retries, rate limits and a repair loop.
"""

from .answering import Answer, BatchTeacher, TeacherStats, answer_requests, sends_images
from .base import Teacher, TeacherRequest
from .cache import CACHE_FILE, ReplyCache, request_key
from .config import TeacherSettings, load_settings
from .openai_client import OpenAITeacher, TeacherConfigError
from .pricing import PriceTable, Usage
from .prompts import build_request
from .render import render_reasoning
from .template import TemplateTeacher
from .validate import RejectReason, TraceRejected, to_rejection, validate_reply

__all__ = [
    "CACHE_FILE",
    "Answer",
    "BatchTeacher",
    "OpenAITeacher",
    "PriceTable",
    "RejectReason",
    "ReplyCache",
    "Teacher",
    "TeacherConfigError",
    "TeacherRequest",
    "TeacherSettings",
    "TeacherStats",
    "TemplateTeacher",
    "TraceRejected",
    "Usage",
    "answer_requests",
    "build_request",
    "load_settings",
    "render_reasoning",
    "request_key",
    "sends_images",
    "to_rejection",
    "validate_reply",
]
