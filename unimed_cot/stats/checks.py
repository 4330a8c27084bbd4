"""Tolerance checks over ``ReleaseStats``: typed findings that ``validate`` and ``publish`` use.

A model learns a skewed prior instead of reading the image, and an option set with two right
options teaches nothing; so a release is checked, per source and question family, for

* a **yes/no prior** off 50/50 by more than the tolerance (a problem);
* an **answer-letter prior** off uniform, for any option count, by more than the tolerance (a
  problem);
* **option sets** holding duplicates, synonyms, or hypernyms/hyponyms of the answer (a problem);
* an option **offered often and never correct** (a warning: a tell a model can learn, such as
  "They are about the same size" offered in every size question and never right).

Tolerances are in points of share (``0.03`` = 3 points), plus ``slack_rows`` rows of rounding, since
an exact 50/50 of an odd number of rows is impossible. A deviation beyond that is a finding only
when chance alone makes it unlikely: a two-sided exact binomial test (yes/no) or a chi-square
goodness-of-fit test (letters) against the balanced prior, at ``alpha`` (default 0.01). Letters are
placed by a seeded per-case rotation and yes/no in per-case pairs that screening may break, so a
small release is a sample of a balanced process: 3 points of 60 rows is under 2 rows, well inside
its noise, and would fail a sound release. With both rules the 3 points govern a large release
(a 3-point yes/no deviation is significant at 0.01 from about 1,900 rows), and a small one fails
only on a skew chance does not explain (the phantom's former Yes 44 / No 22, p = 0.009, and
A 51 / B 27, p = 0.009, both fail). Only the project's own question families
(``records.QuestionFamily``) are held to the priors by default: questions a source ships (VQA-RAD,
SLAKE, ...) are kept as the source asked them, and their priors are reported, not judged.

How this is wired:

* ``validate``: ``check_stats(compute_stats(release, aliases=...), Tolerance())``; every finding of
  severity ``problem`` becomes a validation problem unless ``--allow-skew`` (priors) or
  ``--allow-aliases`` (option sets) turns it into a warning; warnings stay warnings.
* ``publish``: ``stats.to_json()`` and ``[f.to_json() for f in findings]`` go into
  ``manifest.json`` under ``"stats"`` and ``"stats_findings"``; ``write_plots(stats, release /
  "stats")`` writes the PNGs the card references (``stats/family_mix.png`` ...), and the card
  lists the findings.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from scipy.stats import binomtest, chisquare

from unimed_cot.records import QuestionFamily

from .compute import LETTERS, FamilyStats, ReleaseStats


class FindingKind(StrEnum):
    """What a finding is about."""

    YES_NO_PRIOR = "yes-no-prior"
    LETTER_PRIOR = "letter-prior"
    OPTION_SET = "option-set"
    NEVER_CORRECT = "never-correct-option"


class Severity(StrEnum):
    """``problem`` fails ``validate`` unless told otherwise; ``warning`` is reported only."""

    PROBLEM = "problem"
    WARNING = "warning"


@dataclass(frozen=True, slots=True)
class Tolerance:
    """How far a release may be from balanced before a finding is raised.

    Attributes:
        yes_no_points: largest yes share deviation from 0.5, in share (0.03 = 3 points).
        letter_points: largest deviation of any letter's share from 1/n, per option count n.
        slack_rows: rows of deviation always allowed (rounding of odd counts).
        families: the families held to the priors; ``None`` means the project's six.
        min_offered: an option offered in at least this many rows and never correct is a finding.
        option_sets: whether option-set problems are findings at all.
        alpha: a prior beyond the points is a finding only when a test against the balanced
            prior gives a p-value under this; ``None`` judges on the points alone.
    """

    yes_no_points: float = 0.03
    letter_points: float = 0.03
    slack_rows: int = 1
    alpha: float | None = 0.01
    families: Collection[str] | None = None
    min_offered: int = 20
    option_sets: bool = True

    def judges(self, family: str) -> bool:
        """Whether a family's priors are held to this tolerance."""
        if self.families is None:
            return family in {f.value for f in QuestionFamily}
        return family in self.families


@dataclass(frozen=True, slots=True)
class Finding:
    """One thing a release should not have, where it is, and how many rows it touches."""

    kind: FindingKind
    severity: Severity
    source: str
    family: str
    message: str
    rows: int  # rows involved (the rows of the prior, or the rows with the problem)
    examples: tuple[str, ...] = ()

    def where(self) -> str:
        return f"{self.source} / {self.family}"

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind.value,
            "severity": self.severity.value,
            "source": self.source,
            "family": self.family,
            "message": self.message,
            "rows": self.rows,
            "examples": list(self.examples),
        }


def check_stats(stats: ReleaseStats, tolerance: Tolerance | None = None) -> list[Finding]:
    """Every finding of a release, sorted by source, family and kind.

    Args:
        stats: what ``compute_stats`` measured.
        tolerance: the limits; the defaults are those of issue 13 (3 points, one row of slack).
    """
    tolerance = tolerance or Tolerance()
    findings: list[Finding] = []
    for _, family in sorted(stats.families.items()):
        if tolerance.judges(family.family):
            findings.extend(_yes_no(family, tolerance))
            findings.extend(_letters(family, tolerance))
        if tolerance.option_sets:
            findings.extend(_option_sets(family))
        findings.extend(_never_correct(family, tolerance))
    return findings


def problems_of(findings: Iterable[Finding]) -> list[Finding]:
    """The findings that fail a release (severity ``problem``)."""
    return [f for f in findings if f.severity is Severity.PROBLEM]


def _allowed(rows: int, points: float, slack: int) -> float:
    return max(points * rows, float(slack))


def _yes_no(family: FamilyStats, tolerance: Tolerance) -> list[Finding]:
    total = family.yes + family.no
    allowed = _allowed(total, tolerance.yes_no_points, tolerance.slack_rows)
    if not total or abs(family.yes - total / 2) <= allowed:
        return []
    p_value = float(binomtest(family.yes, total, 0.5).pvalue)
    if tolerance.alpha is not None and p_value >= tolerance.alpha:
        return []
    return [
        Finding(
            kind=FindingKind.YES_NO_PRIOR,
            severity=Severity.PROBLEM,
            source=family.source,
            family=family.family,
            message=(
                f"yes {family.yes} / no {family.no}: {family.yes / total:.1%} yes, 50% ± "
                f"{tolerance.yes_no_points * 100:g} points allowed (binomial p = {p_value:.2g})"
            ),
            rows=total,
        )
    ]


def _letters(family: FamilyStats, tolerance: Tolerance) -> list[Finding]:
    findings = []
    for n, counts in sorted(family.letters.items()):
        total = sum(counts.values())
        expected = total / n
        allowed = _allowed(total, tolerance.letter_points, tolerance.slack_rows)
        observed = [counts[letter] for letter in LETTERS[:n]]
        worst = max(abs(count - expected) for count in observed)
        if worst <= allowed:
            continue
        p_value = float(chisquare(observed).pvalue)
        if tolerance.alpha is not None and p_value >= tolerance.alpha:
            continue
        shown = " / ".join(f"{letter} {counts[letter]}" for letter in LETTERS[:n])
        findings.append(
            Finding(
                kind=FindingKind.LETTER_PRIOR,
                severity=Severity.PROBLEM,
                source=family.source,
                family=family.family,
                message=(
                    f"{n} options: {shown}; {expected:.1f} each expected, "
                    f"± {tolerance.letter_points * 100:g} points allowed (chi-square p = "
                    f"{p_value:.2g})"
                ),
                rows=total,
            )
        )
    return findings


def _option_sets(family: FamilyStats) -> list[Finding]:
    return [
        Finding(
            kind=FindingKind.OPTION_SET,
            severity=Severity.PROBLEM,
            source=family.source,
            family=family.family,
            message=f"{count} of {family.choice_rows} option sets hold a {kind.value}",
            rows=count,
            examples=tuple(family.examples.get(kind, ())),
        )
        for kind, count in sorted(family.problems.items())
    ]


def _never_correct(family: FamilyStats, tolerance: Tolerance) -> list[Finding]:
    return [
        Finding(
            kind=FindingKind.NEVER_CORRECT,
            severity=Severity.WARNING,
            source=family.source,
            family=family.family,
            message=f"{text!r} is offered in {offered} rows and never correct",
            rows=offered,
        )
        for text, offered in family.never_correct(min_offered=tolerance.min_offered)
    ]
