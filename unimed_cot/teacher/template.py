"""The offline template teacher: composes a trace from the annotations alone (no model, no network).

It is the default teacher, so a build runs on a fresh machine with no key. The trace reads like a
short expert reasoning: orient to the image or volume, find each evidence structure (cited as
``[Rn]``), reason from the measured facts, conclude with the exact ground-truth answer. Phrasing
comes from ``prompts/template_teacher.yaml``, one variant per step drawn with a ``Random`` seeded
from the sample id, so the same sample always gets the same trace. It never writes a coordinate.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Mapping
from functools import cache
from importlib.resources import files

import yaml

from unimed_cot.imaging.window import preset_of
from unimed_cot.questions import describe_size, seeded_random, with_article
from unimed_cot.records import QuestionFamily, Region, Sample
from unimed_cot.schemas import Trace, TraceStep

from .base import TeacherRequest

PHRASEBOOK = "template_teacher.yaml"
_SAME_SIZE = "They are about the same size"


@cache
def _phrasebook_text() -> str:
    return files("unimed_cot.prompts").joinpath(PHRASEBOOK).read_text(encoding="utf-8")


@cache
def load_phrasebook() -> Mapping[str, tuple[str, ...]]:
    """Variants per step kind, from the packaged ``template_teacher.yaml``."""
    data = yaml.safe_load(_phrasebook_text())
    return {str(k): tuple(str(v) for v in values) for k, values in data.items()}


class TemplateTeacher:
    """Deterministic teacher whose reply is a ``Trace`` composed from the sample's facts."""

    name = "template"

    def __init__(self) -> None:
        self.prompt_sha = hashlib.sha256(_phrasebook_text().encode("utf-8")).hexdigest()

    def complete(self, request: TeacherRequest) -> str:
        """The JSON of the composed trace (the request's messages are not needed)."""
        return compose_trace(request.sample).model_dump_json()


def compose_trace(sample: Sample) -> Trace:
    """2-5 steps: orient, locate the evidence, reason from the facts, conclude."""
    writer = _Writer(sample, seeded_random(sample.id, "template-teacher"))
    return Trace(steps=writer.steps(), answer=sample.question.answer)


class _Writer:
    def __init__(self, sample: Sample, rng: random.Random) -> None:
        self.sample = sample
        self.rng = rng
        self.phrases = load_phrasebook()
        question = sample.question
        self.answer_text = (
            question.answer.partition(". ")[2] if question.options else question.answer
        )
        found = (sample.region(i) for i in question.evidence)
        self.evidence = [r for r in found if r is not None]

    def say(self, kind: str, cites: list[str] | None = None, **slots: str) -> TraceStep:
        text = self.rng.choice(self.phrases[kind]).format(**slots)
        return TraceStep(text=text, cites=cites or [])

    def steps(self) -> list[TraceStep]:
        steps = [self.orient(), *self.locate()]
        reason = self.reason()
        if reason is not None:
            steps.append(reason)
        steps.append(self.say("conclude", answer=self.answer_text))
        return steps

    def orient(self) -> TraceStep:
        sample = self.sample
        if sample.dims == 2:
            step = self.say(
                "orient_2d", modality=sample.modality, a_modality=with_article(sample.modality)
            )
        else:
            plane = sample.pixels.plane or "cross-sectional"
            step = self.say(
                "orient_3d",
                modality=sample.modality,
                plane=plane,
                a_plane=with_article(plane),
                k=str(len(sample.pixels.images)),
            )
        preset = preset_of(sample.pixels.window)
        if preset is not None:  # the window this question's pixels are shown in (imaging.views)
            window = self.say(
                "window",
                view="slices are" if sample.dims == 3 else "image is",
                name=preset.name,
                a_name=with_article(preset.name),
                A_name=with_article(preset.name).capitalize(),
                width=f"{preset.width:g}",
                level=f"{preset.level:g}",
            )
            step = TraceStep(text=f"{step.text} {window.text}", cites=step.cites)
        return step

    def locate(self) -> list[TraceStep]:
        if not self.evidence:
            if self.sample.question.family == QuestionFamily.EXISTENCE_VERIFICATION:
                part = "slice" if self.sample.dims == 3 else "part"
                noun = "volume" if self.sample.dims == 3 else "image"
                return [self.say("search", noun=noun, part=part)]
            return []
        if len(self.evidence) > 2:
            names = [f"the {r.label} [{r.id}]" for r in self.evidence]
            refs = ", ".join(names[:-1]) + " and " + names[-1]
            return [self.say("locate_many", [r.id for r in self.evidence], refs=refs)]
        return [self.locate_one(r) for r in self.evidence]

    def locate_one(self, region: Region) -> TraceStep:
        ref = f"[{region.id}]"
        if region.is_lesion:
            host = f" within the {region.host}" if region.host else ""
            return self.say(
                "locate_lesion",
                [region.id],
                a_label=with_article(region.label),
                ref=ref,
                host_clause=host,
            )
        return self.say("locate", [region.id], label=region.label, ref=ref)

    def reason(self) -> TraceStep | None:
        """The family's reasoning step from the facts, or None when they do not support one."""
        family, ev, answer = self.sample.question.family, self.evidence, self.answer_text
        dims = self.sample.dims
        if family == QuestionFamily.STRUCTURE_LOCALIZATION and ev:
            others = [o for o in self.sample.question.options if o != answer]
            other = others[0] if others else "other structures"
            return self.say(
                "reason_structure_localization",
                label=answer,
                other=other,
                size=describe_size(ev[0], dims),
            )
        if family == QuestionFamily.SPATIAL_LOCALIZATION and ev:
            return self.say(
                f"reason_spatial_localization_{dims}d",
                label=ev[0].label,
                position=_lower_first(answer),
            )
        if family == QuestionFamily.EXISTENCE_VERIFICATION:
            if ev and answer == "Yes":
                return self.say("reason_existence_present", a_label=with_article(ev[0].label))
            if not ev and answer == "No" and self.sample.question.rationale:
                return self.say(
                    "reason_existence_absent", fact=_sentence(self.sample.question.rationale[0])
                )
            return None
        if family == QuestionFamily.SIZE_COMPARISON and len(ev) == 2 and answer != _SAME_SIZE:
            return self.size_step(ev[0], ev[1], answer)
        if family == QuestionFamily.SPATIAL_RELATIONSHIP and ev:
            return self.say(
                f"reason_spatial_relationship_{dims}d", a=ev[0].label, relation=_lower_first(answer)
            )
        if family == QuestionFamily.LESION_ANALYSIS and ev:
            return self.say("reason_lesion_analysis", lesion=ev[0].label, host=answer)
        return None

    def size_step(self, a: Region, b: Region, larger: str) -> TraceStep | None:
        if a.facts is None or b.facts is None:
            return None
        if a.facts.size_mm is not None and b.facts.size_mm is not None:
            size_a, size_b = a.facts.size_mm, b.facts.size_mm
        else:
            size_a, size_b = float(a.facts.area_px), float(b.facts.area_px)
        if min(size_a, size_b) <= 0:
            return None
        return self.say(
            "reason_size_comparison",
            a=a.label,
            b=b.label,
            size_a=describe_size(a, self.sample.dims),
            size_b=describe_size(b, self.sample.dims),
            larger=larger,
            ratio=f"{max(size_a, size_b) / min(size_a, size_b):.1f}",
        )


def _lower_first(text: str) -> str:
    return text[:1].lower() + text[1:]


def _sentence(text: str) -> str:
    text = text.strip()
    text = text[:1].upper() + text[1:]
    return text if text.endswith((".", "!", "?")) else text + "."
