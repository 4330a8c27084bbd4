"""stats on the real demo release agrees with its manifest and with rows read by `datasets`."""

from __future__ import annotations

import json
import re
from collections import Counter
from pathlib import Path

import pytest

from unimed_cot.stats import DEFAULT_ALIASES, compute_stats

LETTERS = "ABCDEFGHIJ"


def test_stats_of_the_demo_match_an_independent_count(
    demo_release: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import datasets

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    stats = compute_stats(demo_release, aliases=DEFAULT_ALIASES)
    manifest = json.loads((demo_release / "manifest.json").read_text())
    assert stats.rows == manifest["counts"]["total"]
    assert {s: v.rows for s, v in stats.sources.items()} == manifest["counts"]["by_source"]
    families = Counter[str]()
    for (_, family), value in stats.families.items():
        families[family] += value.rows
    assert dict(families) == manifest["counts"]["by_question_type"]

    loaded = datasets.load_dataset(str(demo_release), "all", cache_dir=str(tmp_path / "cache"))
    yes_no: Counter[tuple[str, str]] = Counter()
    letters: Counter[tuple[str, int, str]] = Counter()
    per_case: Counter[str] = Counter()
    for split in loaded.values():
        columns = split.select_columns(["id", "question_type", "options", "answer"])
        for row in columns:
            per_case[row["id"].rsplit("/", 1)[0]] += 1
            match = re.match(r"^([A-J])\. ", row["answer"])
            if row["options"] and match:
                letters[(row["question_type"], len(row["options"]), match.group(1))] += 1
                chosen = row["options"][LETTERS.index(match.group(1))]
                if sorted(o.lower() for o in row["options"]) == ["no", "yes"]:
                    yes_no[(row["question_type"], chosen.lower())] += 1
    for (source, family), value in stats.families.items():
        assert source == "phantom"
        assert (value.yes, value.no) == (yes_no[(family, "yes")], yes_no[(family, "no")])
        for n, counts in value.letters.items():
            for letter in LETTERS[:n]:
                assert counts[letter] == letters[(family, n, letter)], (family, n, letter)
    assert stats.sources["phantom"].questions_per_case == Counter(per_case.values())
