"""How many questions a case gets and which: every applicable family first, no fact twice.

The budget of a case is ``QuestionConfig.per_case`` when set; by default it scales with the
annotations: one question per shown structure, at least ``MIN_PER_CASE`` and at most
``MAX_PER_CASE``, and never fewer than one question of every family that has one (so a volume
with 10 or more structures gets at least 10). Families take turns: the first round asks each
applicable family once (in the fixed family order), later rounds in a seeded order per case, each
time the family's next candidate whose fact is not asked yet. An existence pair counts two.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from unimed_cot.samples import Question

from .context import seeded_random
from .drafts import Dealer, Draft, Unit

MIN_PER_CASE = 4
MAX_PER_CASE = 16


@dataclass(frozen=True, slots=True)
class QuestionConfig:
    """How many questions each case gets.

    Attributes:
        per_case: questions per case; None scales with the annotations (module docstring).
        languages: languages of the source's own questions that are kept (VQA sources; SLAKE
            ships English and Chinese): English only by default.
    """

    per_case: int | None = None
    languages: tuple[str, ...] = ("en",)

    def __post_init__(self) -> None:
        if self.per_case is not None and self.per_case < 1:
            raise ValueError(f"per_case must be at least 1, got {self.per_case}")
        if not self.languages:
            raise ValueError("keep the source questions of at least one language")

    def budget(self, n_structures: int, first_round: int) -> int:
        """The number of questions for a case with ``n_structures`` shown structures whose
        first round (one unit of every applicable family) asks ``first_round``."""
        if self.per_case is not None:
            return self.per_case
        scaled = min(MAX_PER_CASE, max(MIN_PER_CASE, n_structures))
        return max(scaled, first_round)


def select(
    units: Mapping[str, Sequence[Unit]],
    *,
    budget: int,
    seed: str,
) -> list[Draft]:
    """Drafts chosen by turns over the families (in the order of ``units``) up to ``budget``,
    never two on one fact; returned grouped by family, in the order chosen."""
    pending = {family: list(candidates) for family, candidates in units.items()}
    chosen: dict[str, list[Draft]] = {family: [] for family in units}
    facts: set[tuple[str, ...]] = set()
    total = 0
    order = list(units)
    rng = seeded_random(seed, "family turns")
    while total < budget and any(pending.values()):
        for family in order:
            unit = _next_unit(pending[family], facts)
            if unit is None or total + len(unit) > budget:
                continue  # a pair that no longer fits leaves the room to a single question
            chosen[family].extend(unit)
            facts.update(d.fact for d in unit)
            total += len(unit)
        rng.shuffle(order)
    return [draft for family in units for draft in chosen[family]]


def first_round_size(units: Mapping[str, Sequence[Unit]]) -> int:
    """Questions the first round asks: one unit of every family that has one."""
    return sum(len(candidates[0]) for candidates in units.values() if candidates)


def deal(drafts: Sequence[Draft], *, seed: str) -> list[Question]:
    """Finished questions: the correct options placed by one ``Dealer`` per case."""
    dealer = Dealer(seed)
    return [dealer.deal(draft) for draft in drafts]


def _next_unit(candidates: list[Unit], facts: set[tuple[str, ...]]) -> Unit | None:
    while candidates:
        unit = candidates.pop(0)
        if not any(d.fact in facts for d in unit):
            return unit
    return None
