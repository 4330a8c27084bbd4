"""Tolerance checks: typed findings for priors, option sets and never-correct options."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from unimed_cot.stats import (
    DEFAULT_ALIASES,
    FindingKind,
    Severity,
    Tolerance,
    check_stats,
    compute_stats,
    problems_of,
    stats_of_rows,
)

Row = dict[str, Any]
STRUCTURES = ("liver", "spleen", "aorta", "heart")


def existence(row: Callable[..., Row], yes: int, no: int, source: str = "alpha") -> list[Row]:
    answers = [0] * yes + [1] * no
    return [
        row(
            source=source,
            case=f"c{k // 4}",
            index=k % 4,
            family="existence_verification",
            options=("Yes", "No"),
            answer=answer,
        )
        for k, answer in enumerate(answers)
    ]


def structure(row: Callable[..., Row], letters: list[int], n: int = 4) -> list[Row]:
    return [
        row(case=f"s{k // 4}", index=k % 4, options=STRUCTURES[:n], answer=answer)
        for k, answer in enumerate(letters)
    ]


def findings_of(rows: list[Row], tolerance: Tolerance | None = None) -> list[Any]:
    return check_stats(stats_of_rows(rows, aliases=DEFAULT_ALIASES), tolerance)


def test_a_balanced_release_of_a_few_hundred_rows_has_no_finding(
    tmp_path: Path, row: Callable[..., Row], as_release: Callable[..., Path]
) -> None:
    rows = existence(row, 60, 60)
    rows += structure(row, [k % 4 for k in range(120)])
    rows += [
        row(
            case=f"z{k // 3}",
            index=k % 3,
            family="size_comparison",
            options=STRUCTURES[:3],
            answer=k % 3,
        )
        for k in range(90)
    ]
    release = as_release(tmp_path / "rel", rows)
    assert check_stats(compute_stats(release, aliases=DEFAULT_ALIASES)) == []


def test_the_phantom_skew_of_issue_13_is_a_problem(row: Callable[..., Row]) -> None:
    """Existence Yes 44 / No 22 (as the phantom release has): yes/no and letter priors."""
    findings = findings_of(existence(row, 44, 22))
    assert [(f.kind, f.severity) for f in findings] == [
        (FindingKind.YES_NO_PRIOR, Severity.PROBLEM),
        (FindingKind.LETTER_PRIOR, Severity.PROBLEM),
    ]
    yes_no, letters = findings
    assert (yes_no.source, yes_no.family, yes_no.rows) == ("alpha", "existence_verification", 66)
    assert yes_no.message == (
        "yes 44 / no 22: 66.7% yes, 50% ± 3 points allowed (binomial p = 0.0092)"
    )
    assert letters.message.startswith("2 options: A 44 / B 22; 33.0 each expected")


@pytest.mark.parametrize(("yes", "flagged"), [(106, False), (107, True), (94, False), (93, True)])
def test_yes_no_tolerance_is_three_points(row: Callable[..., Row], yes: int, flagged: bool) -> None:
    points_only = Tolerance(alpha=None)  # the points rule alone (no significance test)
    findings = findings_of(existence(row, yes, 200 - yes), points_only)
    assert any(f.kind is FindingKind.YES_NO_PRIOR for f in findings) is flagged


def test_one_row_of_slack_for_odd_counts(row: Callable[..., Row]) -> None:
    points_only = Tolerance(alpha=None)
    assert findings_of(existence(row, 3, 2), points_only) == []  # 60% of 5: as close as it gets
    assert findings_of(existence(row, 4, 1), points_only)  # 80%
    strict = Tolerance(slack_rows=0, alpha=None)
    assert [f.kind for f in findings_of(existence(row, 3, 2), strict)] == [
        FindingKind.YES_NO_PRIOR,
        FindingKind.LETTER_PRIOR,
    ]


def test_letters_are_judged_per_option_count(row: Callable[..., Row]) -> None:
    four = structure(row, [k % 4 for k in range(100)])  # uniform
    three = [
        row(case=f"t{k // 3}", index=k % 3, options=STRUCTURES[:3], answer=0 if k < 40 else k % 3)
        for k in range(90)
    ]
    findings = findings_of(four + three)
    assert len(findings) == 1
    assert findings[0].kind is FindingKind.LETTER_PRIOR
    assert findings[0].message.startswith("3 options: A ")
    assert findings[0].rows == 90
    loose = Tolerance(letter_points=0.5)
    assert findings_of(four + three, loose) == []


def test_a_sources_own_questions_are_reported_not_judged(row: Callable[..., Row]) -> None:
    own = [
        row(case=f"q{k}", family="closed", options=(), answer="yes" if k < 9 else "no")
        for k in range(10)
    ]
    stats = stats_of_rows(own, aliases=DEFAULT_ALIASES)
    assert (stats.families[("alpha", "closed")].yes, stats.families[("alpha", "closed")].no) == (
        9,
        1,
    )
    assert check_stats(stats) == []
    judged = check_stats(stats, Tolerance(families={"closed"}, alpha=None))
    assert [f.kind for f in judged] == [FindingKind.YES_NO_PRIOR]


def test_option_set_problems_are_problems_with_examples(row: Callable[..., Row]) -> None:
    rows = structure(row, [k % 4 for k in range(8)])
    rows.append(
        row(case="m", index=0, options=("gallbladder", "stomach", "gall bladder"), answer=0)
    )
    rows.append(row(case="m", index=1, options=("kidney", "right kidney", "liver"), answer=1))
    findings = findings_of(rows)
    option_sets = [f for f in findings if f.kind is FindingKind.OPTION_SET]
    assert [(f.message, f.rows) for f in option_sets] == [
        ("1 of 10 option sets hold a hypernym-of-answer", 1),
        ("1 of 10 option sets hold a synonym", 1),
    ]
    assert option_sets[1].examples == ("alpha/m/0: synonym: 'gallbladder' / 'gall bladder'",)
    assert all(f.severity is Severity.PROBLEM for f in option_sets)
    assert not [f for f in findings_of(rows, Tolerance(option_sets=False)) if f in option_sets]


def test_an_option_never_correct_is_a_warning(row: Callable[..., Row]) -> None:
    sizes = ("liver", "spleen", "They are about the same size")
    rows = [
        row(case=f"z{k}", family="size_comparison", options=sizes, answer=k % 2) for k in range(20)
    ]
    findings = findings_of(rows, Tolerance(letter_points=1.0))
    assert [(f.kind, f.severity, f.rows) for f in findings] == [
        (FindingKind.NEVER_CORRECT, Severity.WARNING, 20)
    ]
    assert "'They are about the same size' is offered in 20 rows" in findings[0].message
    assert problems_of(findings) == []
    assert findings_of(rows[:19], Tolerance(letter_points=1.0)) == []  # under min_offered


def test_findings_serialize(row: Callable[..., Row]) -> None:
    finding = findings_of(existence(row, 10, 0))[0]
    assert finding.to_json() == {
        "kind": "yes-no-prior",
        "severity": "problem",
        "source": "alpha",
        "family": "existence_verification",
        "message": "yes 10 / no 0: 100.0% yes, 50% ± 3 points allowed (binomial p = 0.002)",
        "rows": 10,
        "examples": [],
    }


@pytest.mark.parametrize(
    ("yes", "total", "flagged"),
    [
        (107, 200, False),  # 3.5 points of 200 rows: p = 0.37, chance explains it
        (1070, 2000, True),  # the same 3.5 points of 2,000 rows: p = 0.002
        (1040, 2000, False),  # 2 points: inside the tolerance however many rows
        (13, 20, False),  # 65% of 20 rows: p = 0.26
        (17, 20, True),  # 85% of 20 rows: p = 0.003
    ],
)
def test_small_releases_fail_only_on_skew_chance_does_not_explain(
    row: Callable[..., Row], yes: int, total: int, flagged: bool
) -> None:
    findings = findings_of(existence(row, yes, total - yes))
    assert any(f.kind is FindingKind.YES_NO_PRIOR for f in findings) is flagged


def test_letter_skew_of_the_former_phantom_fails_and_its_current_letters_pass(
    row: Callable[..., Row],
) -> None:
    """A 51 / B 27 (issue 13's phantom, 2 options) fails; the letters measured on today's phantom
    release (4 options A 17 / B 12 / C 6 / D 10, 3 options A 24 / B 32 / C 24) pass."""
    skewed = findings_of(existence(row, 51, 27))
    assert FindingKind.LETTER_PRIOR in {f.kind for f in skewed}
    four = structure(row, [0] * 17 + [1] * 12 + [2] * 6 + [3] * 10)
    three = [
        row(case=f"t{k // 3}", index=k % 3, options=STRUCTURES[:3], answer=answer)
        for k, answer in enumerate([0] * 24 + [1] * 32 + [2] * 24)
    ]
    assert findings_of(four + three) == []
    assert len(findings_of(four + three, Tolerance(alpha=None))) == 2  # off by points alone
