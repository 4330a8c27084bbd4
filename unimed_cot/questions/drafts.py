"""A question before its options are placed, and the one way options get their letters.

Families write ``Draft``s: the text, the correct option, the distractors (already free of
aliases, kinds and parts of the answer), the evidence and the measured facts. A ``Draft`` also
names the *fact* it asks about, so that no case asks one fact twice. ``Dealer`` then places the
correct option: the n-th choice question with k options in a case gets slot
``(case offset for k + n) mod k``, so letters rotate within a case and the seeded offsets make
every letter equally likely over cases, for every option count. Yes/No questions keep the
natural order ("A. Yes", "B. No"); their balance comes from asking them in Yes/No pairs.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass, field

from unimed_cot.samples import Question
from unimed_cot.schemas import LETTERS

from .context import seeded_random
from .vocabulary import pairwise_distinct, same_or_kind

MAX_OPTIONS = 4  # A-D, as in the reference system
YES, NO = "Yes", "No"


@dataclass(frozen=True, slots=True)
class Draft:
    """A question whose options are not placed yet.

    Attributes:
        family: a ``QuestionFamily`` value.
        fact: what it asks about, e.g. ``("size", "liver", "spleen")``; unique per case.
        text: the question.
        correct: the correct option text ("Yes" / "No" for yes/no questions).
        distractors: other options, most preferred first (at most ``MAX_OPTIONS - 1`` used).
        evidence: region ids the reasoning must cite.
        rationale: the measured facts the answer follows from, in words (``[Rn]`` cites).
        yes_no: a Yes/No question (options "Yes", "No" in that order).
        ladder: options that keep their order (ascending numbers): ``ladder[p]`` is the option
            list with the correct option at index ``p``; empty for ordinary choices.
    """

    family: str
    fact: tuple[str, ...]
    text: str
    correct: str
    distractors: tuple[str, ...] = ()
    evidence: tuple[str, ...] = ()
    rationale: tuple[str, ...] = ()
    yes_no: bool = False
    ladder: tuple[tuple[str, ...], ...] = ()

    @property
    def n_options(self) -> int:
        if self.yes_no:
            return 2
        if self.ladder:
            return len(self.ladder[0])
        return 1 + min(len(self.distractors), MAX_OPTIONS - 1)


def choice(
    *,
    family: str,
    fact: tuple[str, ...],
    text: str,
    correct: str,
    distractors: Sequence[str],
    evidence: Sequence[str],
    rationale: Sequence[str],
    rng: random.Random,
    labels: bool = False,
) -> Draft | None:
    """A single-choice draft, or None without a distractor.

    Distractors equal to the correct option (case-insensitively) or to one another are dropped;
    with ``labels`` (options that name structures) so are aliases and kinds of the correct
    option and of one another. Up to ``MAX_OPTIONS - 1`` are drawn, seeded.
    """
    pool: list[str] = []
    seen = {correct.strip().casefold()}
    for option in distractors:
        folded = option.strip().casefold()
        if folded and folded not in seen:
            seen.add(folded)
            pool.append(option.strip())
    if labels:
        pool = [o for o in pool if not same_or_kind(o, correct)]
        pool = pairwise_distinct(pool)
    if not pool:
        return None
    drawn = rng.sample(pool, min(len(pool), MAX_OPTIONS - 1))
    return Draft(
        family=str(family),
        fact=fact,
        text=text,
        correct=correct,
        distractors=tuple(drawn),
        evidence=tuple(evidence),
        rationale=tuple(rationale),
    )


def yes_no(
    *,
    family: str,
    fact: tuple[str, ...],
    text: str,
    yes: bool,
    evidence: Sequence[str],
    rationale: Sequence[str],
) -> Draft:
    return Draft(
        family=str(family),
        fact=fact,
        text=text,
        correct=YES if yes else NO,
        evidence=tuple(evidence),
        rationale=tuple(rationale),
        yes_no=True,
    )


# What a family offers: one draft, or a Yes/No pair that is asked together.
Unit = tuple[Draft, ...]


@dataclass(slots=True)
class Dealer:
    """Places correct options: a rotating slot per option count, offset per case (seeded)."""

    seed: str
    _next: dict[int, int] = field(default_factory=dict)

    def slot(self, n_options: int) -> int:
        if n_options not in self._next:
            self._next[n_options] = seeded_random(self.seed, "letters", str(n_options)).randrange(
                n_options
            )
        slot = self._next[n_options]
        self._next[n_options] = slot + 1
        return slot % n_options

    def deal(self, draft: Draft) -> Question:
        """The finished question of a draft."""
        if draft.yes_no:
            options = [YES, NO]
        elif draft.ladder:
            options = list(draft.ladder[self.slot(len(draft.ladder))])
        else:
            options = list(draft.distractors[: MAX_OPTIONS - 1])
            options.insert(self.slot(len(options) + 1), draft.correct)
        index = options.index(draft.correct)
        return Question(
            family=draft.family,
            text=draft.text,
            options=tuple(options),
            answer=f"{LETTERS[index]}. {draft.correct}",
            evidence=draft.evidence,
            rationale=draft.rationale,
            fact=draft.fact,
        )
