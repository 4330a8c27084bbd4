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
    assert yes_no.message == "yes 44 / no 22: 66.7% yes, 50% ± 3 points allowed"
    assert letters.message.startswith("2 options: A 44 / B 22; 33.0 each expected")


@pytest.mark.parametrize(("yes", "flagged"), [(106, False), (107, True), (94, False), (93, True)])
def test_yes_no_tolerance_is_three_points(row: Callable[..., Row], yes: int, flagged: bool) -> None:
    findings = findings_of(existence(row, yes, 200 - yes))
    assert any(f.kind is FindingKind.YES_NO_PRIOR for f in findings) is flagged


def test_one_row_of_slack_for_odd_counts(row: Callable[..., Row]) -> None:
    assert findings_of(existence(row, 3, 2)) == []  # 60% of 5 rows: as close as 5 rows can be
    assert findings_of(existence(row, 4, 1))  # 80%
    strict = Tolerance(slack_rows=0)
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
    judged = check_stats(stats, Tolerance(families={"closed"}))
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
        "message": "yes 10 / no 0: 100.0% yes, 50% ± 3 points allowed",
        "rows": 10,
        "examples": [],
    }
