"""Answer priors of a set of published rows, counted from the rows alone.

``priors(rows)`` gives what a model could learn without looking at the images: the Yes/No share
per (source, family), the answer letter per option count, questions per case, how often "about
the same size" is right, and option sets that hold two names of one structure.
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

SAME_SIZE = "They are about the same size"
_SIDES = re.compile(r"^(?:left|right)\s+|\s+(?:left|right)$")


@dataclass
class Priors:
    """Counts over a set of rows (see the module docstring)."""

    rows: int = 0
    yes_no: dict[tuple[str, str], Counter[str]] = field(default_factory=dict)
    letters: dict[int, Counter[str]] = field(default_factory=dict)
    per_case: Counter[str] = field(default_factory=Counter)
    families: Counter[str] = field(default_factory=Counter)
    same_size: Counter[str] = field(default_factory=Counter)  # "same" / "different"
    alias_option_sets: list[str] = field(default_factory=list)

    def yes_share(self) -> dict[tuple[str, str], float]:
        """Share of Yes per (source, family)."""
        return {k: c["Yes"] / max(1, c["Yes"] + c["No"]) for k, c in self.yes_no.items()}

    def letter_shares(self) -> dict[int, dict[str, float]]:
        """Share of each answer letter per option count."""
        return {
            n: {letter: count / sum(c.values()) for letter, count in sorted(c.items())}
            for n, c in sorted(self.letters.items())
        }

    def summary(self) -> str:
        """A few readable lines (for reports)."""
        lines = [f"rows {self.rows}, cases {len(self.per_case)}"]
        counts = sorted(self.per_case.values())
        if counts:
            mean = sum(counts) / len(counts)
            lines.append(f"questions per case: mean {mean:.2f}, min {counts[0]}, max {counts[-1]}")
        for key, c in sorted(self.yes_no.items()):
            lines.append(f"yes/no {key[0]}/{key[1]}: Yes {c['Yes']} / No {c['No']}")
        for n, c in sorted(self.letters.items()):
            shares = " ".join(f"{k} {v}" for k, v in sorted(c.items()))
            lines.append(f"letters, {n} options: {shares}")
        lines.append(f"size comparison: {dict(self.same_size)}")
        lines.append(f"option sets with two names of one structure: {len(self.alias_option_sets)}")
        lines.append("families: " + ", ".join(f"{k} {v}" for k, v in sorted(self.families.items())))
        return "\n".join(lines)


def priors(rows: Iterable[Mapping[str, Any]]) -> Priors:
    """Count the priors of ``rows`` (dicts with the published columns)."""
    found = Priors()
    for row in rows:
        found.rows += 1
        source, family = str(row["source"]), str(row["question_type"])
        found.families[family] += 1
        found.per_case[str(row["id"]).rpartition("/")[0]] += 1
        options = list(row["options"])
        letter, _, text = str(row["answer"]).partition(". ")
        if options == ["Yes", "No"]:
            found.yes_no.setdefault((source, family), Counter())[text] += 1
        if options:
            found.letters.setdefault(len(options), Counter())[letter] += 1
        if family == "size_comparison" and options:
            found.same_size["same" if text == SAME_SIZE else "different"] += 1
        if _holds_aliases(options):
            found.alias_option_sets.append(str(row["id"]))
    return found


def _holds_aliases(options: list[str]) -> bool:
    """Two options that name one structure (spelling, spacing) or a side-less hypernym of
    another ("kidney" next to "right kidney")."""
    keys = [" ".join(o.casefold().replace("_", " ").split()) for o in options]
    squashed = [k.replace(" ", "") for k in keys]
    if len(set(squashed)) < len(squashed):
        return True
    sideless = {_SIDES.sub("", k) for k in keys if _SIDES.search(k)}
    return any(k in sideless for k in keys)


def read_rows(release: Path, columns: list[str] | None = None) -> list[dict[str, Any]]:
    """Every published row of a release folder (all configs and splits)."""
    import pyarrow.parquet as pq

    rows: list[dict[str, Any]] = []
    for path in sorted((release / "data").glob("*/*.parquet")):
        rows.extend(pq.read_table(path, columns=columns).to_pylist())
    return rows


def per_source_family(rows: Iterable[Mapping[str, Any]]) -> dict[tuple[str, str], int]:
    """Row counts per (source, family)."""
    counts: dict[tuple[str, str], int] = defaultdict(int)
    for row in rows:
        counts[(str(row["source"]), str(row["question_type"]))] += 1
    return dict(counts)
