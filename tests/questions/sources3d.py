"""Construction truth of a 3D source fixture's case, in the oracle's terms
(``tests/questions/truth_cases.Truth``), and the questions the build would ask of it."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import numpy.typing as npt

from unimed_cot.cases import RenderedCase
from unimed_cot.questions import QuestionConfig, generate_questions
from unimed_cot.questions.vocabulary import related, same_or_kind
from unimed_cot.samples import Question


def truth_of(
    labels_lps: npt.NDArray[np.integer],
    affine: npt.NDArray[np.floating],
    *,
    names: Mapping[int, str],
    sides: Mapping[str, set[str]],
    hosts: Mapping[str, str] | None = None,
) -> object:
    """The ``Truth`` of an LPS label volume: centres (patient mm), sizes (ml), presence."""
    from questions.truth_cases import Truth

    truth = Truth(frame="patient")
    voxel_ml = abs(float(np.linalg.det(affine[:3, :3]))) / 1000
    for value, name in names.items():
        mask = np.asarray(labels_lps) == value
        if not mask.any():
            truth.absent.add(name)
            continue
        index = np.argwhere(mask).mean(axis=0)
        ras = affine @ np.append(index, 1.0)
        truth.centre[name] = (-ras[0], -ras[1], ras[2])
        truth.size[name] = float(mask.sum()) * voxel_ml
        truth.present.add(name)
    truth.sides = {k: set(v) for k, v in sides.items()}
    truth.host = dict(hosts or {})
    return truth


def questions_of(rendered: RenderedCase, *, seeds: int = 12) -> list[Question]:
    """The questions of a rendered case over several seeds, as the build asks them."""
    case = rendered.case
    found: list[Question] = []
    for seed in range(seeds):
        found += generate_questions(
            rendered.pixels,
            dims=3,
            modality=case.record.modality,
            vocabulary=sorted(set(case.labels.values())),
            lesion_vocabulary=case.lesion_labels,
            seed=f"truth3d/{seed}",
            config=QuestionConfig(),
        )
    return found


def related_options(questions: list[Question]) -> list[str]:
    """Option sets where a distractor is an alias, kind, part or whole of the answer, or two
    options name one structure or a structure and its kind (two answers could be right)."""
    problems = []
    for q in questions:
        if not q.options or q.options == ("Yes", "No"):
            continue
        answer = q.answer.partition(". ")[2]
        for option in q.options:
            if option != answer and related(option, answer):
                problems.append(f"{q.text}: answer {answer!r} ~ {option!r}")
        for index, a in enumerate(q.options):
            for b in q.options[index + 1 :]:
                if same_or_kind(a, b):
                    problems.append(f"{q.text}: {a!r} = {b!r}")
    return problems
