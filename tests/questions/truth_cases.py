"""Cases whose true answers are known by construction, run through serialize + questions.

Each builder here returns a ``Case`` and the truth it was drawn with (label -> centre in patient
mm or image fractions, mask size); ``answers_are_true`` checks every question of a case against
that truth, independently of the generator's own facts.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from unimed_cot.imaging import SerializeConfig, serialize_case
from unimed_cot.questions import QuestionConfig, generate_questions
from unimed_cot.records import AnnotatedBox, Case, Image2D, SourceRecord, Volume
from unimed_cot.samples import Question

# Canonical LPS volume: axis 0 grows to the patient's LEFT, axis 1 POSTERIOR, axis 2 SUPERIOR.
SPACING = (0.8, 0.8, 2.5)
AFFINE = np.array(
    [[-0.8, 0, 0, 100.0], [0, -0.8, 0, 80.0], [0, 0, 2.5, -200.0], [0, 0, 0, 1]], dtype=float
)
SHAPE = (200, 160, 60)
SAME = "They are about the same size"


@dataclass
class Truth:
    """What a case was drawn with: per label its centre and its size (same unit for all)."""

    frame: str  # "patient" or "image"
    centre: dict[str, tuple[float, ...]] = field(default_factory=dict)
    size: dict[str, float] = field(default_factory=dict)
    sides: dict[str, set[str]] = field(default_factory=dict)  # lesions: patient sides
    present: set[str] = field(default_factory=set)
    host: dict[str, str] = field(default_factory=dict)
    absent: set[str] = field(default_factory=set)  # annotated, never drawn


def record(dims: int, modality: str = "CT") -> SourceRecord:
    return SourceRecord(
        source="truth", case_id="c", group_key="p", dims=dims, modality=modality, image=Path("x")
    )  # type: ignore[arg-type]


def abdomen(*, equal_kidneys: bool = False) -> tuple[Case, Truth]:
    """A CT volume: liver (patient right, anterior), kidneys left and right (posterior), a cyst
    ONE slice thick (k = 30) in the left kidney, a tumor in the liver."""
    ct = np.full(SHAPE, -1000.0, dtype=np.float32)
    labels = np.zeros(SHAPE, dtype=np.uint8)
    ct[10:190, 10:150, :] = 20.0
    blocks = {
        1: (slice(20, 80), slice(20, 90), slice(10, 50)),  # liver
        2: (slice(130, 160), slice(100, 130), slice(20, 40)),  # left kidney
        3: (slice(40, 70), slice(100, 130), slice(22, 42 if equal_kidneys else 46)),  # right
        4: (slice(140, 146), slice(110, 116), slice(30, 31)),  # kidney cyst, one slice
        5: (slice(40, 46), slice(40, 46), slice(28, 32)),  # liver tumor
    }
    names = {1: "liver", 2: "left kidney", 3: "right kidney", 4: "kidney cyst", 5: "liver tumor"}
    for value, block in blocks.items():
        labels[block] = value
    for value, hu in ((1, 60.0), (2, 30.0), (3, 30.0), (4, 5.0), (5, 10.0)):
        ct[labels == value] = hu
    truth = Truth(frame="patient")
    voxel_ml = float(np.prod(SPACING)) / 1000
    for value, name in names.items():
        index = np.argwhere(labels == value).mean(axis=0)
        ras = AFFINE @ np.append(index, 1.0)
        truth.centre[name] = (-ras[0], -ras[1], ras[2])
        truth.size[name] = float((labels == value).sum()) * voxel_ml
        truth.present.add(name)
    truth.sides = {"kidney cyst": {"left"}, "liver tumor": {"right"}}
    truth.absent = {"lung nodule"}
    truth.host = {"kidney cyst": "left kidney", "liver tumor": "liver"}
    case = Case(
        record=record(3),
        image=Volume(array=ct, affine=AFFINE),
        labels={**names, 6: "lung nodule"},  # annotated, never drawn: truly absent
        label_map=Volume(array=labels, affine=AFFINE),
        lesion_labels=frozenset({"kidney cyst", "liver tumor", "lung nodule"}),
    )
    return case, truth


def abdomen_slice(*, declared: tuple[str, str] | None = None) -> tuple[Case, Truth]:
    """One axial slice of the same anatomy shown the radiological way: rows run anterior ->
    posterior, columns patient right -> left (the liver on the image LEFT)."""
    labels = np.zeros((280, 336), dtype=np.uint8)
    labels[60:150, 30:130] = 1  # liver: image left (patient right), upper (anterior)
    labels[180:240, 250:300] = 2  # left kidney: image right, lower
    labels[180:240, 60:110] = 3  # right kidney: image left, lower
    labels[90:104, 60:74] = 4  # liver tumor
    names = {1: "liver", 2: "left kidney", 3: "right kidney", 4: "liver tumor"}
    truth = Truth(frame="patient" if declared else "image")
    for value, name in names.items():
        rows, cols = np.nonzero(labels == value)
        truth.centre[name] = ((cols.mean() + 0.5) / 336, (rows.mean() + 0.5) / 280)
        truth.size[name] = float(rows.size)
        truth.present.add(name)
    truth.host = {"liver tumor": "liver"}
    image = np.full(labels.shape, 90, np.uint8)
    case = Case(
        record=record(2),
        image=Image2D(image, spacing_mm=(0.7, 0.7)),
        labels=names,
        label_map=Image2D(labels),
        lesion_labels=frozenset({"liver tumor"}),
        image_axes=declared,
    )
    return case, truth


def thin_and_round() -> Case:
    """Box annotations with their mask counts: a thin diagonal pancreas (1 px wide) has a big
    box; a round spleen fills most of a smaller one."""
    disc = np.hypot(*(np.mgrid[-40:40, -40:40] + 0.5)) < 40
    return Case(
        record=record(2),
        image=Image2D(np.zeros((448, 448), np.uint8), spacing_mm=(0.8, 0.8)),
        labels={},
        boxes=(
            AnnotatedBox("pancreas", (40.0, 40.0, 340.0, 340.0), mask_px=300),
            AnnotatedBox("spleen", (360.0, 300.0, 440.0, 380.0), mask_px=int(disc.sum())),
            AnnotatedBox("stomach", (40.0, 360.0, 120.0, 440.0)),  # a box alone: no size
        ),
    )


def questions_of(
    case: Case, config: SerializeConfig, *, seeds: int = 20, per_case: int | None = None
) -> list[Question]:
    """Every question of the case over several seeds (the pixels serialized once)."""
    pixels = serialize_case(case, config)
    vocabulary = sorted(set(case.labels.values()) | {b.label for b in case.boxes})
    found: list[Question] = []
    for seed in range(seeds):
        found += generate_questions(
            pixels,
            dims=case.record.dims,
            modality=case.record.modality,
            vocabulary=vocabulary,
            lesion_vocabulary=case.lesion_labels,
            seed=f"truth/{seed}",
            config=QuestionConfig(per_case=per_case),
        )
    return found


def answer_of(question: Question) -> str:
    return question.answer.partition(". ")[2] if question.options else question.answer


def answers_are_true(questions: list[Question], truth: Truth) -> list[str]:
    """Every disagreement between the questions and the construction truth."""
    problems = []
    for q in questions:
        answer = answer_of(q)
        named = _named(q.text, {**truth.centre, **dict.fromkeys(truth.absent)})
        if q.family == "existence_verification":
            label = named[0]
            side = (
                "left"
                if "patient's left" in q.text
                else "right"
                if "patient's right" in q.text
                else ""
            )
            present = label in truth.present and (not side or side in truth.sides.get(label, set()))
            if answer != ("Yes" if present else "No"):
                problems.append(f"{q.text} -> {answer}")
        elif q.family == "size_comparison":
            a, b = (truth.size[n] for n in named)
            ratio = max(a, b) / min(a, b)
            expected = SAME if ratio <= 1.10 else named[0] if a > b else named[1]
            if answer != expected or 1.10 < ratio < 1.25:
                problems.append(f"{q.text} -> {answer} (ratio {ratio:.2f})")
        elif q.family == "spatial_relationship":
            problems += _relation(q, named, truth)
        elif q.family == "lesion_analysis" and q.fact[0] == "host":
            lesion = next(n for n in truth.host if n in q.text) if named else ""
            if lesion and answer != truth.host[lesion]:
                problems.append(f"{q.text} -> {answer}")
    return problems


def _named(text: str, names: Mapping[str, object]) -> list[str]:
    found: list[tuple[int, str]] = []
    taken = [False] * len(text)
    for name in sorted(names, key=len, reverse=True):
        start = text.find(name)
        while start >= 0:
            if not any(taken[start : start + len(name)]):
                found.append((start, name))
                taken[start : start + len(name)] = [True] * len(name)
            start = text.find(name, start + 1)
    return [name for _, name in sorted(found)]


_AXES = {
    "patient's left": (0, 1),
    "patient's right": (0, -1),
    "posterior": (1, 1),
    "anterior": (1, -1),
    "superior": (2, 1),
    "inferior": (2, -1),
    "above": (1, -1),
    "below": (1, 1),
}


def _relation(q: Question, named: list[str], truth: Truth) -> list[str]:
    problems = []
    a, b = named[0], named[1]
    for option in q.options:
        text = option.lower()
        if truth.frame == "image":
            if "patient" in text or "anterior" in text or "posterior" in text:
                problems.append(f"patient word in an image-frame option: {option}")
            axis, sign = _AXES.get(next((k for k in ("above", "below") if k in text), ""), (0, 0))
            if "left of" in text:
                axis, sign = 0, -1
            elif "right of" in text:
                axis, sign = 0, 1
        else:
            if "in the image" in text:
                problems.append(f"image word in a patient-frame option: {option}")
            axis, sign = next(v for k, v in _AXES.items() if k in text)
        delta = sign * (truth.centre[a][axis] - truth.centre[b][axis])
        if option == answer_of(q) and delta <= 0:
            problems.append(f"{q.text} -> {option} ({delta:+.2f})")
        if option != answer_of(q) and delta > 0.05 * (1 if truth.frame == "image" else 100):
            problems.append(f"distractor holds: {q.text} -> {option} ({delta:+.2f})")
    return problems
