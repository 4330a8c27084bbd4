"""What ``validate`` found: problems (the release is unsound), warnings, and what was checked."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from unimed_cot.records import SPLITS
from unimed_cot.screening.audit import Audit


@dataclass(frozen=True, slots=True)
class Problem:
    """One finding: where it is (file, row id) and what is wrong, in words."""

    where: str
    what: str


@dataclass(slots=True)
class ValidationReport:
    """Every problem found, plus what was checked."""

    release: Path
    problems: list[Problem] = field(default_factory=list)
    shards: int = 0
    rows: int = 0
    images: int = 0
    boxes: int = 0
    rows_by_config_split: dict[str, Counter[str]] = field(default_factory=dict)
    annotation_only: int = 0
    # From rows.tsv and the manifest: the image sha256s of each row, and the sources whose rows
    # may be published without pixels.
    expected_images: dict[str, tuple[str, ...]] = field(default_factory=dict)
    pixel_free_sources: set[str] = field(default_factory=set)
    warnings: list[Problem] = field(default_factory=list)
    shard_sha256: dict[str, str] = field(default_factory=dict)  # listed shards, as read on disk
    audit: Audit = field(default_factory=Audit)

    @property
    def ok(self) -> bool:
        return not self.problems

    def add(self, where: str, what: str) -> None:
        self.problems.append(Problem(where, what))

    def warn(self, where: str, what: str) -> None:
        self.warnings.append(Problem(where, what))

    def to_json(self) -> dict[str, Any]:
        """The report as JSON-ready data (``validate --json``)."""
        return {
            "release": str(self.release),
            "ok": self.ok,
            "shards": self.shards,
            "rows": self.rows,
            "images": self.images,
            "boxes": self.boxes,
            "annotation_only_rows": self.annotation_only,
            "rows_by_config_split": {k: dict(v) for k, v in self.rows_by_config_split.items()},
            "answer_letters": {k: dict(v) for k, v in self.audit.letters.items()},
            "problems": [{"where": p.where, "what": p.what} for p in self.problems],
            "warnings": [{"where": p.where, "what": p.what} for p in self.warnings],
        }

    def summary(self) -> str:
        configs = "; ".join(
            f"{c}: " + ", ".join(f"{s} {counts[s]}" for s in SPLITS if s in counts)
            for c, counts in sorted(self.rows_by_config_split.items())
        )
        return (
            f"{self.rows} rows in {self.shards} shards ({configs}), {self.images} images, "
            f"{self.boxes} boxes checked, {len(self.problems)} problems"
        )


def format_problems(report: ValidationReport, *, limit: int = 30) -> str:
    """The problems as readable lines, at most ``limit`` of them, then ``... and N more``."""
    if not report.problems:
        return f"{report.release}: no problems"
    lines = [f"{report.release}: {len(report.problems)} problem(s)"]
    lines += [f"- {p.where}: {p.what}" for p in report.problems[:limit]]
    if len(report.problems) > limit:
        lines.append(f"... and {len(report.problems) - limit} more")
    return "\n".join(lines)
