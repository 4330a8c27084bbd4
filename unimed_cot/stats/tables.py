"""``stats`` on a terminal: rich tables of sources, families, windows, regions and findings."""

from __future__ import annotations

from collections.abc import Sequence

from rich.console import Console
from rich.table import Table

from .checks import Finding, Severity
from .compute import LETTERS, FamilyStats, ReleaseStats, SourceStats, summarize

MAX_WINDOWS_SHOWN = 8


def print_stats(stats: ReleaseStats, findings: Sequence[Finding], console: Console) -> None:
    """Print every table of ``stats`` and the findings, in reading order."""
    console.print(_sources_table(stats))
    console.print(_families_table(stats))
    console.print(_windows_table(stats))
    console.print(_regions_table(stats))
    if findings:
        console.print(_findings_table(findings))
    problems = sum(f.severity is Severity.PROBLEM for f in findings)
    console.print(
        f"{stats.rows} rows ({stats.origin.value}); "
        f"{problems} problems, {len(findings) - problems} warnings"
    )


def _sources_table(stats: ReleaseStats) -> Table:
    table = Table(title=f"rows per source ({stats.origin.value})")
    for column in ("source", "rows", "cases", "questions/case", "2D / 3D", "modalities", "splits"):
        table.add_column(column, justify="right" if column in ("rows", "cases") else "left")
    for name, source in sorted(stats.sources.items()):
        table.add_row(
            name,
            str(source.rows),
            str(source.cases),
            _per_case(source),
            f"{source.dims.get(2, 0)} / {source.dims.get(3, 0)}",
            ", ".join(
                f"{m} {d}D {n}" for (m, d), n in sorted(source.modalities.items(), key=_by_count)
            ),
            ", ".join(f"{s} {n}" for s, n in sorted(source.splits.items())),
        )
    return table


def _per_case(source: SourceStats) -> str:
    values = [n for n, cases in source.questions_per_case.items() for _ in range(cases)]
    summary = summarize(values)
    if not summary["n"]:
        return "-"
    return (
        f"mean {summary['mean']:.1f}, median {summary['median']}, {summary['min']}-{summary['max']}"
    )


def _families_table(stats: ReleaseStats) -> Table:
    table = Table(title="answer priors and option sets per source and family")
    for column in ("source", "family", "rows", "yes / no", "answer letters", "option problems"):
        table.add_column(column, justify="right" if column == "rows" else "left")
    for (source, name), family in sorted(stats.families.items()):
        table.add_row(
            source,
            name,
            str(family.rows),
            _yes_no(family),
            _letters(family),
            _problems(family),
        )
    return table


def _yes_no(family: FamilyStats) -> str:
    total = family.yes + family.no
    if not total:
        return "-"
    return f"{family.yes} / {family.no} ({family.yes / total:.0%} yes)"


def _letters(family: FamilyStats) -> str:
    parts = []
    for n, counts in sorted(family.letters.items()):
        shown = " ".join(f"{letter} {counts[letter]}" for letter in LETTERS[:n])
        parts.append(f"{n} opt: {shown}")
    return "\n".join(parts) or "-"


def _problems(family: FamilyStats) -> str:
    if not family.problem_rows:
        return "none"
    kinds = ", ".join(f"{kind.value} {n}" for kind, n in sorted(family.problems.items()))
    return f"{family.problem_rows} rows: {kinds}"


def _windows_table(stats: ReleaseStats) -> Table:
    table = Table(title="intensity windows")
    table.add_column("source")
    table.add_column("window")
    table.add_column("rows", justify="right")
    for name, source in sorted(stats.sources.items()):
        ranked = sorted(source.windows.items(), key=_by_count)
        for window, rows in ranked[:MAX_WINDOWS_SHOWN]:
            table.add_row(name, window, str(rows))
        if len(ranked) > MAX_WINDOWS_SHOWN:
            rest = sum(n for _, n in ranked[MAX_WINDOWS_SHOWN:])
            table.add_row(name, f"({len(ranked) - MAX_WINDOWS_SHOWN} more)", str(rest))
    return table


def _regions_table(stats: ReleaseStats) -> Table:
    table = Table(title="distinct evidence regions (box sizes, medians)")
    for column in ("source", "2D boxes", "2D side px", "2D mm²", "3D boxes", "3D side px"):
        table.add_column(column, justify="right" if column != "source" else "left")
    table.add_column("3D slices", justify="right")
    table.add_column("3D box ml", justify="right")
    for name, source in sorted(stats.sources.items()):
        regions = source.regions
        table.add_row(
            name,
            str(len(regions.side_px_2d)),
            _median(regions.side_px_2d),
            _median(regions.area_mm2),
            str(len(regions.side_px_3d)),
            _median(regions.side_px_3d),
            _median(regions.depth_slices),
            _median(regions.volume_ml),
        )
    return table


def _findings_table(findings: Sequence[Finding]) -> Table:
    table = Table(title="findings")
    for column in ("severity", "where", "kind", "what"):
        table.add_column(column)
    for finding in findings:
        what = finding.message
        if finding.examples:
            what += "\n" + "\n".join(f"  {example}" for example in finding.examples[:3])
        table.add_row(finding.severity.value, finding.where(), finding.kind.value, what)
    return table


def _median(values: Sequence[float]) -> str:
    summary = summarize(values)
    return "-" if not summary["n"] else f"{summary['median']:g}"


def _by_count(item: tuple[object, int]) -> tuple[int, str]:
    return (-item[1], str(item[0]))
