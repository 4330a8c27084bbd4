"""The offline template teacher: composes a trace from the annotations alone (no model, no network).

It is the default teacher, so a build runs on a fresh machine with no key. The trace walks
through what was measured instead of restating the answer: orient to the image or volume (and
its CT window), then the question's measured observations (``Question.rationale``: which slices,
what size from the full-resolution mask, where in the patient or the image, which neighbour,
each citing its regions as ``[Rn]``), then the one inference they support, then the exact
ground-truth answer. Phrasing comes from ``prompts/template_teacher.yaml``, one variant per step
drawn with a ``Random`` seeded from the sample id, so the same sample always gets the same trace.
It never writes a coordinate.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Mapping
from functools import cache
from importlib.resources import files

import yaml

from unimed_cot.imaging.window import preset_of
from unimed_cot.questions import seeded_random, with_article
from unimed_cot.records import QuestionFamily
from unimed_cot.samples import Region, Sample
from unimed_cot.schemas import Trace, TraceStep
from unimed_cot.schemas.trace import MAX_STEP_CHARS

from .base import TeacherRequest
from .render import marker_ids

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
    """3-5 steps: orient, the measured observations, the inference, conclude."""
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
        """orient, [locate], observations, [reason], conclude: at most ``MAX_TEMPLATE_STEPS``."""
        question = self.sample.question
        reason = self.reason()
        observed = [_observation(line) for line in question.rationale if line.strip()]
        cited = {c for step in observed for c in step.cites}
        missing = [r for r in self.evidence if r.id not in cited]
        before = self.locate(missing) if missing or not self.evidence else []
        room = MAX_TEMPLATE_STEPS - 2 - len(before) - (reason is not None)
        steps = [self.orient(), *before, *_merge(observed, max(1, room))]
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

    def locate(self, regions: list[Region]) -> list[TraceStep]:
        """Steps that find the evidence no observation cites (or search, for none at all)."""
        if not regions:
            if self.sample.question.family == QuestionFamily.EXISTENCE_VERIFICATION:
                part = "slice" if self.sample.dims == 3 else "part"
                noun = "volume" if self.sample.dims == 3 else "image"
                return [self.say("search", noun=noun, part=part)]
            return []
        if len(regions) > 1:
            names = [f"the {r.label} [{r.id}]" for r in regions]
            refs = ", ".join(names[:-1]) + " and " + names[-1]
            return [self.say("locate_many", [r.id for r in regions], refs=refs)]
        return [self.locate_one(regions[0])]

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
        """The inference the observations support, by the kind of fact asked (None when the
        facts do not support one)."""
        question = self.sample.question
        answer, ev = self.answer_text, self.evidence
        kind = question.fact[0] if question.fact else _KINDS.get(question.family, "")
        family = question.family
        if kind == "structure" and ev:
            others = [f"the {o}" for o in question.options if o != answer]
            return self.say("reason_structure", label=answer, others=" or ".join(others))
        if kind == "side" and family == QuestionFamily.SPATIAL_LOCALIZATION and ev:
            return self.say("reason_side", label=ev[0].label, position=_position(ev[0]))
        if kind == "where" and ev:
            return self.say("reason_where", label=ev[0].label, position=_lower_first(answer))
        if kind == "exists":
            if answer == "Yes" and ev:
                return self.say("reason_exists_yes", a_label=with_article(ev[0].label))
            return self.say("reason_exists_no") if answer == "No" else None
        if kind == "side" and ev:
            side = "left" if "patient's left" in question.text else "right"
            yes = answer == "Yes"
            if yes:
                return self.say("reason_side_yes", a_label=with_article(ev[0].label), side=side)
            return self.say("reason_side_no", side=side)
        if kind == "size" and len(ev) == 2:
            if answer == _SAME_SIZE:
                return self.say("reason_same_size", a=ev[0].label, b=ev[1].label)
            smaller = next((r.label for r in ev if r.label != answer), "")
            return self.say("reason_size", larger=answer, smaller=smaller) if smaller else None
        if kind == "relation" and ev:
            return self.say("reason_relation", a=ev[0].label, relation=_lower_first(answer))
        if kind == "host" and ev:
            return self.say("reason_host", lesion=ev[0].label, host=answer)
        if kind == "lesion-size" and ev:
            return self.say("reason_lesion_size", lesion=ev[0].label, amount=_lower_first(answer))
        if kind == "lesion-density" and ev:
            appearance = _lower_first(answer).replace(": ", ", ")
            return self.say("reason_lesion_density", lesion=ev[0].label, appearance=appearance)
        return None


# Questions made without a fact key (by hand): the kind their family usually asks.
_KINDS: dict[str, str] = {
    QuestionFamily.STRUCTURE_LOCALIZATION: "structure",
    QuestionFamily.EXISTENCE_VERIFICATION: "exists",
    QuestionFamily.SIZE_COMPARISON: "size",
    QuestionFamily.SPATIAL_RELATIONSHIP: "relation",
    QuestionFamily.LESION_ANALYSIS: "host",
}
MAX_TEMPLATE_STEPS = 5


def _observation(line: str) -> TraceStep:
    """A fact sentence as a step, citing the regions it marks (``[Rn]``)."""
    text = _sentence(line)
    return TraceStep(text=text, cites=list(dict.fromkeys(marker_ids(text))))


def _merge(steps: list[TraceStep], room: int) -> list[TraceStep]:
    """At most ``room`` steps: the last ones joined (each within the schema's length)."""
    merged = list(steps)
    while len(merged) > room:
        last = merged.pop()
        joined = f"{merged[-1].text} {last.text}"
        if len(joined) > MAX_STEP_CHARS:
            merged.append(last)
            break
        merged[-1] = TraceStep(
            text=joined, cites=list(dict.fromkeys([*merged[-1].cites, *last.cites]))
        )
    return merged


def _position(region: Region) -> str:
    """``"on the patient's right, in the anterior half of the body"``."""
    facts = region.facts
    if facts is None or not facts.side:
        return "where it is outlined"
    side = "in the midline" if facts.side == "midline" else f"on the patient's {facts.side}"
    return f"{side}, in the {facts.ap} half of the body" if facts.ap else side


def _lower_first(text: str) -> str:
    return text[:1].lower() + text[1:]


def _sentence(text: str) -> str:
    text = text.strip()
    text = text[:1].upper() + text[1:]
    return text if text.endswith((".", "!", "?")) else text + "."
