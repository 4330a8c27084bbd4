"""The teacher contract: a rendered request in, the raw reply (JSON of ``schemas.Trace``) out."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from unimed_cot.samples import Sample
from unimed_cot.schemas import Trace


def _trace_schema() -> dict[str, Any]:
    return Trace.model_json_schema()


@dataclass(slots=True)
class TeacherRequest:
    """One request to a teacher, in OpenAI chat format.

    Attributes:
        sample: the sample the reasoning is about (the template teacher reads it directly).
        prompt_id: which prompt was rendered (``trace_2d`` / ``trace_3d``).
        prompt_sha: sha256 of the template sources that prompt is made of.
        messages: system + user messages; images are ``image_url`` parts with base64 PNG data
            URLs, placed before the text as in the reference system.
        response_schema: the JSON Schema the reply must follow (``Trace``).
        images_included: False when the request was built without its images (dry runs, the
            template teacher), so a printed request stays short.
    """

    sample: Sample
    prompt_id: str
    prompt_sha: str
    messages: list[dict[str, Any]]
    response_schema: dict[str, Any] = field(default_factory=_trace_schema)
    images_included: bool = True

    def text_messages(self) -> list[dict[str, str]]:
        """The messages with their text only (images replaced by a count), for printing."""
        flat = []
        for message in self.messages:
            content = message["content"]
            if isinstance(content, list):
                images = sum(1 for part in content if part.get("type") == "image_url")
                texts = [part["text"] for part in content if part.get("type") == "text"]
                prefix = [f"[{images} image(s)]"] if images else []
                content = "\n".join([*prefix, *texts])
            flat.append({"role": str(message["role"]), "content": str(content)})
        return flat


@runtime_checkable
class Teacher(Protocol):
    """Writes the reasoning for a request.

    Attributes:
        name: the model id, or ``"template"`` for the offline template teacher.
        prompt_sha: sha256 of the prompt material this teacher uses (goes into every row).
    """

    name: str
    prompt_sha: str

    def complete(self, request: TeacherRequest) -> str:
        """The raw reply text: JSON of ``schemas.Trace`` (validated afterwards, never trusted)."""
        ...
