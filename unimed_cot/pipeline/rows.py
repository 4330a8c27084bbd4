"""Sample + rendered trace -> the staged row (``store.RowRecord``; dicts only at the edge)."""

from __future__ import annotations

from unimed_cot.boxes import find_boxes
from unimed_cot.samples import Sample
from unimed_cot.store.rows import RowRecord, RowRegion, group_id


def to_row(
    sample: Sample,
    *,
    images: list[bytes],
    reasoning: str,
    teacher: str,
    prompt_sha: str,
    pipeline_version: str,
    salt: str,
) -> RowRecord:
    """The row of DESIGN.md §5; ``split`` is the official split or "" (assigned at publish).

    ``regions`` holds exactly the regions whose boxes the reasoning cites, so the boxes in the
    text and the structured regions are the same set; every other annotated region stays out.
    """
    pixels = sample.pixels
    cited = set(find_boxes(reasoning))
    return RowRecord(
        id=sample.id,
        source=sample.source,
        dims=sample.dims,
        modality=sample.modality,
        images=tuple(images),
        slice_positions_mm=tuple(float(v) for v in pixels.slice_positions_mm),
        plane=pixels.plane,
        spacing_mm=tuple(float(v) for v in pixels.spacing_mm),
        window=pixels.window,
        question_type=sample.question.family,
        question=sample.question.text,
        options=tuple(sample.question.options),
        answer=sample.question.answer,
        answer_type=sample.question.answer_type.value,
        grounded=sample.question.grounded,
        regions=tuple(
            RowRegion(id=r.id, label=r.label, box=tuple(int(v) for v in r.box))
            for r in pixels.regions
            if tuple(r.box) in cited
        ),
        reasoning=reasoning,
        split=sample.official_split.value if sample.official_split else "",
        group_id=group_id(salt=salt, source=sample.source, group_key=sample.group_key),
        license=sample.license,
        teacher=teacher,
        prompt_sha=prompt_sha,
        pipeline_version=pipeline_version,
    )
