"""Sample + rendered trace -> the published row (a plain dict at the Parquet edge)."""

from __future__ import annotations

import hashlib
from typing import Any

import cv2
import numpy as np

from unimed_cot.boxes import find_boxes
from unimed_cot.records import Sample, UInt8Array


def group_id(*, salt: str, source: str, group_key: str) -> str:
    """Salted hash of a patient (or case) key: stable for a salt, never the key itself."""
    return hashlib.sha256(f"{salt}\x1f{source}\x1f{group_key}".encode()).hexdigest()[:32]


def encode_png(image: UInt8Array) -> bytes:
    """Lossless, deterministic PNG bytes of a (H, W) or (H, W, 3 RGB) uint8 image."""
    array: np.ndarray = np.ascontiguousarray(image)
    if array.dtype != np.uint8:
        raise ValueError(f"published images are uint8, got {array.dtype}")
    if array.ndim == 3:
        array = cv2.cvtColor(array, cv2.COLOR_RGB2BGR)
    ok, buffer = cv2.imencode(".png", array, [cv2.IMWRITE_PNG_COMPRESSION, 6])
    if not ok:
        raise ValueError(f"could not encode an image of shape {image.shape} as PNG")
    return bytes(buffer.tobytes())


def to_row(
    sample: Sample,
    *,
    images: list[bytes],
    reasoning: str,
    teacher: str,
    prompt_sha: str,
    pipeline_version: str,
    salt: str,
) -> dict[str, Any]:
    """The row of DESIGN.md §5; ``split`` is the official split or "" (assigned at publish).

    ``regions`` holds exactly the regions whose boxes the reasoning cites, so the boxes in the
    text and the structured regions are the same set; every other annotated region stays out.
    """
    pixels = sample.pixels
    cited = set(find_boxes(reasoning))
    regions = [r for r in pixels.regions if tuple(r.box) in cited]
    return {
        "id": sample.id,
        "source": sample.source,
        "dims": sample.dims,
        "modality": sample.modality,
        "images": images,
        "slice_positions_mm": [float(v) for v in pixels.slice_positions_mm],
        "plane": pixels.plane,
        "spacing_mm": [float(v) for v in pixels.spacing_mm],
        "window": pixels.window,
        "question_type": sample.question.family,
        "question": sample.question.text,
        "options": list(sample.question.options),
        "answer": sample.question.answer,
        "regions": [
            {"id": r.id, "label": r.label, "box": [int(v) for v in r.box]} for r in regions
        ],
        "reasoning": reasoning,
        "split": sample.official_split.value if sample.official_split else "",
        "group_id": group_id(salt=salt, source=sample.source, group_key=sample.group_key),
        "license": sample.license,
        "teacher": teacher,
        "prompt_sha": prompt_sha,
        "pipeline_version": pipeline_version,
    }
