"""Response-format adapters: how each server kind is told to answer with a ``schemas.Trace``.

The same pydantic model is sent as the schema and validates the reply afterwards, whatever the
server does with the schema (it may constrain decoding, or ignore it):

- ``json_schema``: OpenAI structured outputs, also understood by vLLM and SGLang.
- ``json_object``: llama.cpp's servers, which reject ``json_schema`` but take
  ``{"type": "json_object", "schema": ...}`` and compile the schema to a grammar.
- ``none``: no response format; the prompt asks for JSON and validation does the rest.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

Adapter = Callable[[dict[str, Any]], dict[str, Any] | None]


def json_schema_format(schema: dict[str, Any]) -> dict[str, Any] | None:
    # strict=False: OpenAI's strict mode wants every property required and no defaults, which
    # Trace (optional ``cites``) does not meet; the reply is validated either way.
    return {"type": "json_schema", "json_schema": {"name": "trace", "schema": schema}}


def json_object_format(schema: dict[str, Any]) -> dict[str, Any] | None:
    return {"type": "json_object", "schema": grammar_schema(schema)}


# Keywords llama.cpp's schema-to-grammar converter handles badly: length bounds unroll into
# grammars of hundreds of nested rules. The reply is validated against the full schema anyway.
_GRAMMAR_UNFRIENDLY = frozenset({"maxLength", "minLength", "maxItems", "description"})


def grammar_schema(schema: Any) -> Any:
    """``schema`` without the keywords a grammar-based server cannot compile (recursively)."""
    if isinstance(schema, dict):
        return {
            # its regex dialect has no \d (the grammar fails to parse and the server dies)
            k: v.replace("\\d", "[0-9]")
            if k == "pattern" and isinstance(v, str)
            else grammar_schema(v)
            for k, v in schema.items()
            # "properties" maps names to schemas: a property named "pattern" must stay
            if k not in _GRAMMAR_UNFRIENDLY or isinstance(v, dict)
        }
    if isinstance(schema, list):
        return [grammar_schema(v) for v in schema]
    return schema


def no_format(schema: dict[str, Any]) -> dict[str, Any] | None:
    return None


ADAPTERS: dict[str, Adapter] = {
    "json_schema": json_schema_format,
    "json_object": json_object_format,
    "none": no_format,
}


def response_format(kind: str, schema: dict[str, Any]) -> dict[str, Any] | None:
    """The ``response_format`` body field for a server kind (None: send no such field).

    Raises:
        KeyError: an unknown kind (``TeacherSettings`` checks it first).
    """
    return ADAPTERS[kind](schema)
