"""Answer priors and option sets of a release, judged by ``stats.check_stats``.

A finding of severity ``problem`` (a yes/no or letter prior beyond the tolerance, an option set
holding two names of one structure) fails the release, unless the caller allows it: then it is
reported as a warning, and so are the findings that are warnings anyway (an option offered often
and never correct).
"""

from __future__ import annotations

from pathlib import Path

from unimed_cot.errors import ReleaseError, UsageError
from unimed_cot.stats import (
    DEFAULT_ALIASES,
    FindingKind,
    Severity,
    Tolerance,
    check_stats,
    compute_stats,
)

from .report import ValidationReport

_PRIORS = frozenset({FindingKind.YES_NO_PRIOR, FindingKind.LETTER_PRIOR})


def check_priors(
    release: Path,
    report: ValidationReport,
    *,
    tolerance: Tolerance | None = None,
    allow_skew: bool = False,
    allow_aliases: bool = False,
) -> None:
    """Add the release's prior and option-set findings to ``report``."""
    try:
        stats = compute_stats(release, aliases=DEFAULT_ALIASES, staged=False)
    except (UsageError, ReleaseError) as error:  # damaged shards are reported by the shard check
        report.warn("stats", f"answer priors not measured: {error}")
        return
    for finding in check_stats(stats, tolerance):
        where = f"priors {finding.where()}"
        allowed = (finding.kind in _PRIORS and allow_skew) or (
            finding.kind is FindingKind.OPTION_SET and allow_aliases
        )
        what = f"{finding.kind.value}: {finding.message}"
        if finding.examples:
            what += f" (e.g. {finding.examples[0]})"
        if finding.severity is Severity.PROBLEM and not allowed:
            hint = "--allow-skew" if finding.kind in _PRIORS else "--allow-aliases"
            report.add(where, f"{what}; pass {hint} to accept it")
        else:
            report.warn(where, what)
