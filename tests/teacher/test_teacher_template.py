"""The template teacher: valid, deterministic, grounded traces from the annotations alone."""

from __future__ import annotations

import hashlib
import string
from collections.abc import Callable
from importlib.resources import files

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from unimed_cot.boxes import find_boxes
from unimed_cot.questions import generate_questions
from unimed_cot.records import Dims
from unimed_cot.samples import Question, Region, RegionFacts, Sample, SerializedImages
from unimed_cot.schemas import Trace
from unimed_cot.teacher import (
    Teacher,
    TemplateTeacher,
    build_request,
    render_reasoning,
    validate_reply,
)
from unimed_cot.teacher.template import compose_trace, load_phrasebook

MakeSample = Callable[..., Sample]


def test_replies_validate_cite_evidence_and_render_grounded(
    generated_samples: list[Sample],
) -> None:
    teacher = TemplateTeacher()
    assert isinstance(teacher, Teacher)
    for sample in generated_samples:
        raw = teacher.complete(build_request(sample, with_images=False))
        trace = validate_reply(raw, sample)  # raises on any problem
        assert 3 <= len(trace.steps) <= 5
        assert trace.answer == sample.question.answer
        cited = {c for step in trace.steps for c in step.cites}
        if sample.question.evidence:
            assert set(sample.question.evidence) <= cited
        reasoning = render_reasoning(trace, sample)
        assert reasoning.startswith("<think>") and reasoning.endswith(
            "</think>" + sample.question.answer
        )
        region_boxes = {tuple(r.box) for r in sample.regions}
        boxes = find_boxes(reasoning)
        assert set(boxes) <= region_boxes
        assert {tuple(r.box) for r in sample.regions if r.id in cited} == set(boxes)
        assert "{" not in reasoning and "[R" not in reasoning


def test_deterministic_and_varied(generated_samples: list[Sample]) -> None:
    first = [
        TemplateTeacher().complete(build_request(s, with_images=False)) for s in generated_samples
    ]
    again = [
        TemplateTeacher().complete(build_request(s, with_images=False)) for s in generated_samples
    ]
    assert first == again
    openings = {Trace.model_validate_json(raw).steps[0].text for raw in first}
    assert len(openings) >= 3  # phrasing varies across samples


def test_reasoning_states_the_facts(sample_3d: Sample, sample_2d: Sample) -> None:
    teacher = TemplateTeacher()
    trace = validate_reply(teacher.complete(build_request(sample_2d, with_images=False)), sample_2d)
    text = " ".join(s.text for s in trace.steps)
    assert "225.0 mm²" in text and "125.0 mm²" in text and "instrument" in text
    trace = validate_reply(teacher.complete(build_request(sample_3d, with_images=False)), sample_3d)
    text = " ".join(s.text for s in trace.steps)
    assert "right of the spleen" in text and "180 mm apart" in text


def test_prompt_sha_is_the_phrasebook_hash() -> None:
    data = files("unimed_cot.prompts").joinpath("template_teacher.yaml").read_bytes()
    assert TemplateTeacher().prompt_sha == hashlib.sha256(data).hexdigest()
    assert TemplateTeacher().name == "template"


# The slots each step kind is given by the teacher; a variant using another slot would crash.
SLOTS = {
    "orient_3d": {"modality", "plane", "a_plane", "k"},
    "orient_2d": {"modality", "a_modality"},
    "window": {"view", "name", "a_name", "A_name", "width", "level"},
    "locate": {"label", "ref"},
    "locate_lesion": {"a_label", "ref", "host_clause"},
    "locate_many": {"refs"},
    "search": {"noun", "part"},
    "reason_structure": {"label", "others"},
    "reason_side": {"label", "position"},
    "reason_where": {"label", "position"},
    "reason_exists_yes": {"a_label"},
    "reason_exists_no": set(),
    "reason_side_yes": {"a_label", "side"},
    "reason_side_no": {"side"},
    "reason_size": {"larger", "smaller"},
    "reason_same_size": {"a", "b"},
    "reason_relation": {"a", "relation"},
    "reason_host": {"lesion", "host"},
    "reason_lesion_size": {"lesion", "amount"},
    "reason_lesion_density": {"lesion", "appearance"},
    "conclude": {"answer"},
}


def test_phrasebook_variants_use_known_slots() -> None:
    book = load_phrasebook()
    assert set(book) == set(SLOTS)
    for kind, variants in book.items():
        assert len(variants) >= 2, kind
        for variant in variants:
            used = {name for _, name, _, _ in string.Formatter().parse(variant) if name}
            assert used <= SLOTS[kind], (kind, variant)
            assert "[" not in variant  # markers come only from {ref}/{refs}


LABELS = ["liver", "spleen", "liver tumor", "kidney cyst", "stomach", "IVC"]


@st.composite
def random_case(draw: st.DrawFn) -> tuple[Dims, SerializedImages, list[Question]]:
    """A random small case (odd facts included) and every question generated for it."""
    dims: Dims = draw(st.sampled_from([2, 3]))
    half, size = dims, draw(st.integers(8, 64))
    regions = []
    for i in range(draw(st.integers(1, 5))):
        low = draw(st.lists(st.integers(0, size - 2), min_size=half, max_size=half))
        high = [lo + draw(st.integers(1, size - lo)) for lo in low]
        centre = tuple((lo + hi) / 2 for lo, hi in zip(low, high, strict=True))
        facts = None
        if draw(st.booleans()):
            facts = RegionFacts(
                draw(st.integers(0, 900)),
                draw(st.one_of(st.none(), st.floats(0.1, 900))),
                centre,
                side=draw(st.sampled_from(["", "right", "left", "midline"])),
                ap=draw(st.sampled_from(["", "anterior", "posterior"])),
                voxels=draw(st.one_of(st.none(), st.integers(1, 900))),
                mean=draw(st.one_of(st.none(), st.floats(-100, 100))),
                host_mean=draw(st.one_of(st.none(), st.floats(-100, 100))),
            )
        label = draw(st.sampled_from(LABELS))
        regions.append(
            Region(
                f"R{i + 1}",
                label,
                (*low, *high),
                facts,
                "tumor" in label or "cyst" in label,
                "liver",
            )
        )
    pixels = SerializedImages(
        images=[np.zeros((size, size), np.uint8) for _ in range(size if dims == 3 else 1)],
        slice_positions_mm=[],
        plane="axial" if dims == 3 else "",
        spacing_mm=[],
        window="",
        regions=regions,
        orientation_known=dims == 3,
    )
    questions = generate_questions(
        pixels,
        dims=dims,
        modality=draw(st.sampled_from(["MR", "CT"])),
        vocabulary=LABELS,
        seed=draw(st.text(max_size=4)),
    )
    return dims, pixels, questions


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(case=random_case())
def test_template_replies_always_validate(
    case: tuple[Dims, SerializedImages, list[Question]], make_sample: MakeSample
) -> None:
    teacher = TemplateTeacher()
    dims, pixels, questions = case
    for index, question in enumerate(questions):
        sample = make_sample(pixels, question, dims=dims, index=index)
        trace = validate_reply(teacher.complete(build_request(sample, with_images=False)), sample)
        reasoning = render_reasoning(trace, sample)
        assert set(find_boxes(reasoning)) <= {tuple(r.box) for r in sample.regions}


def test_the_orient_step_names_the_ct_window_the_question_is_shown_in(sample_3d: Sample) -> None:
    from dataclasses import replace

    def first_step(window: str) -> str:
        pixels = replace(sample_3d.pixels, window=window)
        return compose_trace(replace(sample_3d, pixels=pixels)).steps[0].text

    lung = first_step("CT lung W1500 L-600")
    assert "lung window" in lung and "1500" in lung and "-600" in lung
    assert "window" not in first_step("MR percentile p1-p99")  # percentiles are no preset
