"""Group-wise, deterministic split assignment."""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import replace
from pathlib import Path

import pytest

from unimed_cot.errors import UsageError
from unimed_cot.release.publish import assign_row_splits
from unimed_cot.release.splits import assign_splits, merge_official
from unimed_cot.store.staged import StagedRow

GROUPS = [f"{i:032x}" for i in range(40)]


def test_deterministic_and_independent_of_input_order() -> None:
    shuffled = GROUPS[:]
    random.Random(3).shuffle(shuffled)
    assert assign_splits(GROUPS) == assign_splits(shuffled + GROUPS[:5])  # duplicates ignored
    assert assign_splits(GROUPS, seed=1) != assign_splits(GROUPS, seed=0)


def test_counts_follow_the_ratios() -> None:
    counts = Counter(assign_splits([f"g{i}" for i in range(1000)]).values())
    assert counts == {"train": 800, "validation": 100, "test": 100}
    counts = Counter(assign_splits(GROUPS, ratios=(0.5, 0.25, 0.25)).values())
    assert counts == {"train": 20, "validation": 10, "test": 10}


@pytest.mark.parametrize("n", [3, 4, 5, 7, 9])
def test_every_split_gets_a_group_from_three_groups_on(n: int) -> None:
    assigned = assign_splits([f"g{i}" for i in range(n)])
    assert set(assigned.values()) == {"train", "validation", "test"}
    assert Counter(assigned.values())["train"] >= n - 2


def test_fewer_than_three_groups_go_to_train() -> None:
    assert assign_splits(["a"]) == {"a": "train"}
    assert set(assign_splits(["a", "b"]).values()) == {"train"}


def test_official_splits_are_kept() -> None:
    official = {GROUPS[0]: "test", GROUPS[1]: "train", GROUPS[2]: ""}
    assigned = assign_splits(GROUPS, official=official)
    assert assigned[GROUPS[0]] == "test" and assigned[GROUPS[1]] == "train"
    free = Counter(v for g, v in assigned.items() if g not in (GROUPS[0], GROUPS[1]))
    assert free == {"train": 30, "validation": 4, "test": 4}
    with pytest.raises(UsageError, match="official split"):
        assign_splits(GROUPS, official={GROUPS[0]: "dev"})


@pytest.mark.parametrize("ratios", [(0.8, 0.1), (0.8, 0.3, 0.1), (1.2, -0.1, -0.1)])
def test_bad_ratios_are_a_usage_error(ratios: tuple[float, ...]) -> None:
    with pytest.raises(UsageError, match="summing to 1"):
        assign_splits(GROUPS, ratios=ratios)


def test_a_group_with_conflicting_official_splits_goes_to_the_held_out_one() -> None:
    assert merge_official("train", "test") == "test"
    assert merge_official("validation", "train") == "validation"
    assert merge_official("", "validation") == "validation"
    assert merge_official("", "") == ""


def _row(group: str, *, source: str, dims: int, official: str = "") -> StagedRow:
    return StagedRow(
        id=f"{source}/{group}-{dims}/0",
        source=source,
        dims=dims,
        official_split=official,
        group_id=group,
        question_type="q",
        license="MIT",
        teacher="template",
        prompt_sha="0" * 64,
        pipeline_version="v",
        file=Path("x.parquet"),
        index=0,
        nbytes=1,
    )


def test_rows_are_split_per_source_and_dims_and_a_group_never_straddles() -> None:
    rows = [_row(f"a{i}", source="alpha", dims=2) for i in range(10)]
    rows += [_row(f"b{i}", source="beta", dims=3) for i in range(4)]
    # patient a0 also has a volume: one group in two strata
    rows.append(replace(_row("a0", source="alpha", dims=3), id="alpha/a0-vol/0"))
    split_of = assign_row_splits(rows)
    for source, dims in (("alpha", 2), ("beta", 3)):
        splits = {split_of[r.group_id] for r in rows if r.source == source and r.dims == dims}
        assert splits == {"train", "validation", "test"}, source
    assert len({split_of[r.group_id] for r in rows if r.group_id == "a0"}) == 1


def test_official_split_of_any_row_moves_its_whole_group() -> None:
    rows = [_row(f"g{i}", source="alpha", dims=2) for i in range(6)]
    rows.append(replace(_row("g1", source="alpha", dims=2, official="test"), id="alpha/g1-other/0"))
    assert assign_row_splits(rows)["g1"] == "test"
