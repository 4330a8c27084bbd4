"""Pydantic models of the public contracts, with their generated JSON Schemas beside them."""

from __future__ import annotations

import json
from pathlib import Path

from pydantic import BaseModel

from .row import LETTERS, RegionRow, Row
from .trace import Trace, TraceStep

__all__ = [
    "LETTERS",
    "SCHEMA_MODELS",
    "RegionRow",
    "Row",
    "Trace",
    "TraceStep",
    "render_json_schema",
]

SCHEMA_MODELS: dict[str, type[BaseModel]] = {"row": Row, "trace": Trace}


def render_json_schema(model: type[BaseModel]) -> str:
    """The JSON Schema of a model, as written to ``schemas/<name>.schema.json``."""
    return json.dumps(model.model_json_schema(), indent=2, sort_keys=True) + "\n"


def write_json_schemas(directory: Path | None = None) -> list[Path]:
    """Regenerate every ``*.schema.json`` (``python -m unimed_cot.schemas``)."""
    target = directory or Path(__file__).parent
    written = []
    for name, model in SCHEMA_MODELS.items():
        path = target / f"{name}.schema.json"
        path.write_text(render_json_schema(model), encoding="utf-8")
        written.append(path)
    return written
