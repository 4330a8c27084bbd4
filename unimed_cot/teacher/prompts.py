"""Render the teacher prompt of a sample from the Jinja2 templates in ``prompts/`` (package data).

The user turn follows the reference system: the image(s) first (3D: the K slices in order), then
the text. The teacher sees the regions by id with label and box, and is told to cite them as
``[R1]`` and never to write coordinates: rendering substitutes the exact annotated boxes.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from functools import cache
from importlib.resources import files
from typing import Any

import jinja2
import jinja2.meta

from unimed_cot.boxes import find_boxes
from unimed_cot.imaging.png import encode_png
from unimed_cot.questions.frames import axes_3d, image_axes_2d
from unimed_cot.records import UInt8Array
from unimed_cot.samples import Region, Sample
from unimed_cot.schemas import LETTERS, Trace

from .base import TeacherRequest

SYSTEM_TEMPLATE = "system.j2"
# Direction keys of ``questions.frames`` as the prompt words them.
_DIRECTION = {
    "left": "left",
    "right": "right",
    "anterior": "front (anterior)",
    "posterior": "back (posterior)",
    "superior": "head (superior)",
    "inferior": "feet (inferior)",
    "image-right": "right",
    "below": "bottom",
}
TRACE_TEMPLATES = {2: "trace_2d.j2", 3: "trace_3d.j2"}


@dataclass(frozen=True, slots=True)
class RegionView:
    """A region as the prompt lists it."""

    id: str
    label: str
    box: str  # in-plane box "[x1,y1,x2,y2]"
    slices: str  # 3D: "z1..z2-1" (inclusive, as people read it); 2D: ""
    lesion: bool
    host: str


@dataclass(frozen=True, slots=True)
class PromptContext:
    """Everything the templates may use (StrictUndefined: a typo in a template fails loudly)."""

    dims: int
    noun: str
    modality: str
    plane: str
    orientation_known: bool
    width: int
    height: int
    n_slices: int
    spacing: str
    window: str
    question: str
    question_regions: list[str]
    has_options: bool
    options: list[str]
    answer: str
    facts: list[str]
    evidence: list[str]
    regions: list[RegionView]
    frame: str  # "patient" (3D, 2D of declared orientation), "image" (other 2D) or "none"
    axes: list[str]  # 2D, patient frame: the patient direction of the columns and the rows

    @classmethod
    def from_sample(cls, sample: Sample) -> PromptContext:
        pixels = sample.pixels
        question = sample.question
        height, width = pixels.images[0].shape[:2] if pixels.images else (0, 0)
        boxes_in_question = set(find_boxes(question.text))
        frame = axes_3d() if sample.dims == 3 else image_axes_2d(pixels.image_axes)
        return cls(
            dims=sample.dims,
            noun="volume" if sample.dims == 3 else "image",
            modality=sample.modality,
            plane=pixels.plane,
            orientation_known=pixels.orientation_known,
            width=int(width),
            height=int(height),
            n_slices=len(pixels.images),
            spacing=_spacing_text(pixels.spacing_mm),
            window=pixels.window,
            question=question.text,
            question_regions=[r.id for r in pixels.regions if tuple(r.box) in boxes_in_question],
            has_options=bool(question.options),
            options=[f"{LETTERS[i]}. {o}" for i, o in enumerate(question.options)],
            answer=question.answer,
            facts=list(question.rationale),
            evidence=list(question.evidence),
            regions=[_region_view(r) for r in pixels.regions],
            frame=frame.frame if sample.dims == 2 or pixels.orientation_known else "none",
            axes=[_DIRECTION[d[0]] for d in frame.directions],
        )


def build_request(
    sample: Sample, *, with_images: bool = True, png_images: Sequence[bytes] | None = None
) -> TeacherRequest:
    """The teacher request of a sample: system + user messages and the ``Trace`` schema.

    Args:
        sample: the sample to reason about.
        with_images: False leaves the images out (dry-run printing, the template teacher);
            the text is the same either way.
        png_images: the sample's images already encoded with ``encode_png`` (the build encodes
            a case's images once for all its questions and its rows); encoded here if None.
    """
    prompt_id = TRACE_TEMPLATES[sample.dims].removesuffix(".j2")
    context = asdict(PromptContext.from_sample(sample))
    env = environment()
    system = env.get_template(SYSTEM_TEMPLATE).render(context).strip()
    user_text = env.get_template(TRACE_TEMPLATES[sample.dims]).render(context).strip()
    content: list[dict[str, Any]] = []
    if with_images:
        if png_images is None:
            png_images = [encode_png(image) for image in sample.pixels.images]
        content = [
            {"type": "image_url", "image_url": {"url": png_bytes_url(png)}} for png in png_images
        ]
    content.append({"type": "text", "text": user_text})
    return TeacherRequest(
        sample=sample,
        prompt_id=prompt_id,
        prompt_sha=prompt_sha(SYSTEM_TEMPLATE, TRACE_TEMPLATES[sample.dims]),
        messages=[{"role": "system", "content": system}, {"role": "user", "content": content}],
        response_schema=Trace.model_json_schema(),
        images_included=with_images,
    )


@cache
def environment() -> jinja2.Environment:
    """The Jinja2 environment over the packaged templates (strict: undefined names fail)."""
    return jinja2.Environment(
        loader=jinja2.FunctionLoader(_template_source),
        undefined=jinja2.StrictUndefined,
        autoescape=False,  # plain text prompts, not HTML
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )


@cache
def prompt_sha(*names: str) -> str:
    """sha256 of the named templates and everything they include, in a stable order."""
    seen: dict[str, str] = {}
    pending = list(names)
    while pending:
        name = pending.pop()
        if name in seen:
            continue
        seen[name] = _read(name)
        parsed = environment().parse(seen[name])
        pending.extend(n for n in jinja2.meta.find_referenced_templates(parsed) if n is not None)
    digest = hashlib.sha256()
    for name in sorted(seen):
        digest.update(f"{name}\x00{seen[name]}\x00".encode())
    return digest.hexdigest()


def all_prompts_sha() -> str:
    """sha256 of every trace prompt (2D and 3D): the ``prompt_sha`` of an LLM teacher."""
    return prompt_sha(SYSTEM_TEMPLATE, *TRACE_TEMPLATES.values())


def png_data_url(image: UInt8Array) -> str:
    """A deterministic, lossless ``data:image/png;base64,...`` URL of a uint8 (H, W[, 3]) image."""
    return png_bytes_url(encode_png(image))


def png_bytes_url(png: bytes) -> str:
    """The ``data:image/png;base64,...`` URL of PNG bytes."""
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def _read(name: str) -> str:
    return files("unimed_cot.prompts").joinpath(name).read_text(encoding="utf-8")


def _template_source(name: str) -> str:
    try:
        return _read(name)
    except FileNotFoundError as error:
        raise jinja2.TemplateNotFound(name) from error


def _region_view(region: Region) -> RegionView:
    box = region.box
    if len(box) == 6:
        x1, y1, z1, x2, y2, z2 = box
        return RegionView(
            region.id,
            region.label,
            f"[{x1},{y1},{x2},{y2}]",
            f"{z1}..{z2 - 1}",
            region.is_lesion,
            region.host,
        )
    return RegionView(
        region.id, region.label, f"[{','.join(map(str, box))}]", "", region.is_lesion, region.host
    )


def _spacing_text(spacing: list[float]) -> str:
    if len(spacing) < 2:
        return ""
    text = f"pixels {spacing[0]:.2f} x {spacing[1]:.2f} mm"
    if len(spacing) >= 3:
        text += f", slices {spacing[2]:.2f} mm apart"
    return text
