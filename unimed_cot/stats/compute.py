"""What a release holds, measured per source and per question family.

``compute_stats`` reads the light columns of every row (never the pixels) and counts, per source:
rows, cases and questions per case, modalities, windows, splits and the sizes of the distinct
evidence regions; and per source and family: answer priors (yes/no, and the answer letter for
every option count), option-set problems (``options.option_problems``) and options that are
offered but never correct. The result is typed (``ReleaseStats``) and turns into deterministic
JSON (``to_json``), the form ``stats --json``, the card and ``manifest.json`` carry.
"""

from __future__ import annotations

import math
import re
import statistics
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .options import (
    AliasRelation,
    OptionProblemKind,
    normalize_name,
    option_problems,
)
from .reading import Origin, case_of, find_row_files, iter_columns

COLUMNS = (
    "id",
    "source",
    "dims",
    "modality",
    "window",
    "question_type",
    "options",
    "answer",
    "regions",
    "split",
    "spacing_mm",
)
LETTERS = "ABCDEFGHIJ"
EXAMPLES_KEPT = 5  # row ids kept per kind of problem, to look at
_CHOICE = re.compile(r"^([A-J])\. (.+)$", re.DOTALL)
_YES_NO = frozenset({"yes", "no"})
NO_WINDOW = "none"
UNSPLIT = "unsplit"  # staged rows have no split yet


@dataclass(slots=True)
class FamilyStats:
    """One question family of one source."""

    source: str
    family: str
    rows: int = 0
    choice_rows: int = 0  # rows with options
    yes: int = 0  # yes/no questions answered yes (options Yes/No, or an open yes/no answer)
    no: int = 0
    letters: dict[int, Counter[str]] = field(default_factory=dict)  # option count -> letters
    unparsed_answers: int = 0  # choice rows whose answer is not "X. option text"
    problems: Counter[OptionProblemKind] = field(default_factory=Counter)  # rows per kind
    problem_rows: int = 0  # rows with at least one option-set problem
    examples: dict[OptionProblemKind, list[str]] = field(default_factory=dict)  # "id: what"
    offered: Counter[str] = field(default_factory=Counter)  # option text -> rows offering it
    correct: Counter[str] = field(default_factory=Counter)  # option text -> rows it is right

    def never_correct(self, *, min_offered: int) -> list[tuple[str, int]]:
        """Options offered in at least ``min_offered`` rows and never the answer, most first."""
        found = [(text, n) for text, n in self.offered.items() if n >= min_offered]
        return sorted(
            ((t, n) for t, n in found if not self.correct[t]), key=lambda item: (-item[1], item[0])
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "family": self.family,
            "rows": self.rows,
            "choice_rows": self.choice_rows,
            "yes_no": {"yes": self.yes, "no": self.no},
            "letters": {
                str(n): {letter: counts[letter] for letter in LETTERS[:n]}
                for n, counts in sorted(self.letters.items())
            },
            "unparsed_answers": self.unparsed_answers,
            "option_problems": {
                "rows": self.problem_rows,
                "by_kind": {kind.value: n for kind, n in sorted(self.problems.items())},
                "examples": {kind.value: ex for kind, ex in sorted(self.examples.items())},
            },
            "never_correct": [
                {"option": text, "offered": n} for text, n in self.never_correct(min_offered=1)
            ],
        }


@dataclass(slots=True)
class RegionSizes:
    """Box sizes of the distinct regions of a source (a region repeated by rows counts once)."""

    side_px_2d: list[float] = field(default_factory=list)  # sqrt(w * h), published pixels
    side_px_3d: list[float] = field(default_factory=list)  # sqrt(w * h) on its slices
    depth_slices: list[int] = field(default_factory=list)  # z2 - z1 of 3D boxes
    area_mm2: list[float] = field(default_factory=list)  # 2D boxes of rows with a spacing
    volume_ml: list[float] = field(default_factory=list)  # 3D boxes of rows with a spacing

    def add(self, box: Sequence[int], spacing: Sequence[float]) -> None:
        if len(box) == 4:
            width, height = box[2] - box[0], box[3] - box[1]
            self.side_px_2d.append(math.sqrt(max(width * height, 0)))
            if len(spacing) >= 2:  # (row, col) mm
                self.area_mm2.append(width * spacing[1] * height * spacing[0])
        elif len(box) == 6:
            width, height, depth = box[3] - box[0], box[4] - box[1], box[5] - box[2]
            self.side_px_3d.append(math.sqrt(max(width * height, 0)))
            self.depth_slices.append(depth)
            if len(spacing) >= 3:  # (row, col, between slices) mm
                volume = width * spacing[1] * height * spacing[0] * depth * spacing[2]
                self.volume_ml.append(volume / 1000.0)

    def to_json(self) -> dict[str, Any]:
        return {
            "boxes_2d": len(self.side_px_2d),
            "boxes_3d": len(self.side_px_3d),
            "side_px_2d": summarize(self.side_px_2d),
            "side_px_3d": summarize(self.side_px_3d),
            "depth_slices": summarize(self.depth_slices),
            "area_mm2": summarize(self.area_mm2),
            "volume_ml": summarize(self.volume_ml),
        }


@dataclass(slots=True)
class SourceStats:
    """One source of a release."""

    source: str
    rows: int = 0
    questions_per_case: Counter[int] = field(default_factory=Counter)  # questions -> cases
    dims: Counter[int] = field(default_factory=Counter)
    modalities: Counter[tuple[str, int]] = field(default_factory=Counter)  # (modality, dims)
    windows: Counter[str] = field(default_factory=Counter)
    splits: Counter[str] = field(default_factory=Counter)
    families: Counter[str] = field(default_factory=Counter)
    regions: RegionSizes = field(default_factory=RegionSizes)

    @property
    def cases(self) -> int:
        return sum(self.questions_per_case.values())

    def to_json(self) -> dict[str, Any]:
        per_case = [n for n, cases in self.questions_per_case.items() for _ in range(cases)]
        return {
            "rows": self.rows,
            "cases": self.cases,
            "questions_per_case": {
                **summarize(per_case),
                "histogram": {str(n): c for n, c in sorted(self.questions_per_case.items())},
            },
            "dims": {str(d): n for d, n in sorted(self.dims.items())},
            "modalities": _nested(self.modalities),
            "windows": dict(sorted(self.windows.items())),
            "splits": dict(sorted(self.splits.items())),
            "families": dict(sorted(self.families.items())),
            "regions": self.regions.to_json(),
        }


@dataclass(slots=True)
class ReleaseStats:
    """Everything ``stats`` measures about one folder's rows."""

    origin: Origin
    rows: int
    sources: dict[str, SourceStats]
    families: dict[tuple[str, str], FamilyStats]  # (source, family)

    def to_json(self) -> dict[str, Any]:
        """JSON-ready data, in a deterministic order (sorted by source, then family)."""
        return {
            "format": "unimed-cot-stats/1",
            "origin": self.origin.value,
            "rows": self.rows,
            "sources": {name: s.to_json() for name, s in sorted(self.sources.items())},
            "families": [f.to_json() for _, f in sorted(self.families.items())],
        }


def summarize(values: Sequence[float]) -> dict[str, float | int]:
    """n, min, 10th percentile, median, mean, 90th percentile and max (rounded), or ``n: 0``."""
    if not values:
        return {"n": 0}
    ordered = sorted(values)
    return {
        "n": len(ordered),
        "min": _round(ordered[0]),
        "p10": _round(_quantile(ordered, 0.1)),
        "median": _round(statistics.median(ordered)),
        "mean": _round(statistics.fmean(ordered)),
        "p90": _round(_quantile(ordered, 0.9)),
        "max": _round(ordered[-1]),
    }


def compute_stats(
    directory: Path, *, aliases: AliasRelation, staged: bool | None = None
) -> ReleaseStats:
    """Measure the rows of a release folder (its shards) or of a workspace (its staged rows).

    Args:
        directory: the folder; see ``reading.find_row_files`` for which rows are read.
        aliases: the alias relation option sets are judged by.
        staged: read the staged rows (``True``), the shards (``False``), or whichever exists.

    Raises:
        UsageError: no rows to read. ReleaseError: a row file is damaged.
    """
    files = find_row_files(directory, staged=staged)
    return stats_of_rows(iter_columns(files, COLUMNS), aliases=aliases, origin=files.origin)


def stats_of_rows(
    rows: Iterable[Mapping[str, Any]], *, aliases: AliasRelation, origin: Origin = Origin.RELEASE
) -> ReleaseStats:
    """Measure rows given as dicts with (at least) the ``COLUMNS`` of the published row."""
    sources: dict[str, SourceStats] = {}
    families: dict[tuple[str, str], FamilyStats] = {}
    per_case: dict[str, Counter[str]] = {}
    seen_regions: set[tuple[str, str, tuple[int, ...]]] = set()
    total = 0
    for row in rows:
        total += 1
        source = str(row["source"])
        family_name = str(row["question_type"])
        stats = sources.get(source) or sources.setdefault(source, SourceStats(source))
        stats.rows += 1
        dims = int(row["dims"])
        stats.dims[dims] += 1
        stats.modalities[(str(row["modality"]), dims)] += 1
        stats.windows[str(row["window"] or NO_WINDOW)] += 1
        stats.splits[str(row["split"] or UNSPLIT)] += 1
        stats.families[family_name] += 1
        case = case_of(str(row["id"]))
        per_case.setdefault(source, Counter())[case] += 1
        spacing = [float(v) for v in row["spacing_mm"] or []]
        for region in row["regions"] or []:
            key = (case, str(region["id"]), tuple(int(v) for v in region["box"]))
            if key not in seen_regions:
                seen_regions.add(key)
                stats.regions.add(key[2], spacing)
        family = families.get((source, family_name))
        if family is None:
            family = families.setdefault(
                (source, family_name), FamilyStats(source=source, family=family_name)
            )
        _add_answer(family, row, aliases)
    for source, cases in per_case.items():
        sources[source].questions_per_case = Counter(cases.values())
    for family in families.values():
        for kept in family.examples.values():
            kept.sort()
    return ReleaseStats(origin=origin, rows=total, sources=sources, families=families)


def _add_answer(family: FamilyStats, row: Mapping[str, Any], aliases: AliasRelation) -> None:
    family.rows += 1
    options = [str(option) for option in row["options"] or []]
    answer = str(row["answer"] or "")
    if not options:
        spoken = normalize_name(answer).rstrip(".")
        if spoken in _YES_NO:
            family.yes += spoken == "yes"
            family.no += spoken == "no"
        return
    family.choice_rows += 1
    family.offered.update(set(options))
    match = _CHOICE.match(answer)
    index = LETTERS.index(match.group(1)) if match else -1
    if match is None or index >= len(options) or options[index] != match.group(2):
        family.unparsed_answers += 1
        answer_text: str | None = None
    else:
        answer_text = options[index]
        family.correct[answer_text] += 1
        family.letters.setdefault(len(options), Counter())[match.group(1)] += 1
        if sorted(normalize_name(o) for o in options) == ["no", "yes"]:
            is_yes = normalize_name(answer_text) == "yes"
            family.yes += is_yes
            family.no += not is_yes
    problems = option_problems(options, answer_text, aliases)
    if problems:
        family.problem_rows += 1
    for kind in sorted({p.kind for p in problems}):
        family.problems[kind] += 1
        # the first ids in sorted order, so that the examples do not depend on the read order
        kept = family.examples.setdefault(kind, [])
        first = next(p for p in problems if p.kind == kind)
        kept.append(f"{row['id']}: {first.describe()}")
        if len(kept) > EXAMPLES_KEPT:
            kept.sort()
            del kept[EXAMPLES_KEPT:]


def _nested(counts: Counter[tuple[str, int]]) -> dict[str, dict[str, int]]:
    nested: dict[str, dict[str, int]] = {}
    for (name, dims), n in sorted(counts.items()):
        nested.setdefault(name, {})[f"{dims}d"] = n
    return nested


def _quantile(ordered: Sequence[float], q: float) -> float:
    """Linear-interpolation quantile of sorted values (numpy's default method)."""
    position = q * (len(ordered) - 1)
    low = math.floor(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def _round(value: float) -> float | int:
    return int(value) if float(value).is_integer() else round(float(value), 3)
