"""compute_stats on a release whose every number is known by construction."""

from __future__ import annotations

import json
import math
import random
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from unimed_cot.errors import ReleaseError, UsageError
from unimed_cot.stats import DEFAULT_ALIASES, Origin, compute_stats, stats_of_rows

Row = dict[str, Any]
YES_NO = ("Yes", "No")
STRUCTURES = ("liver", "spleen", "aorta", "heart")
SIZES = ("liver", "spleen", "They are about the same size")
BOX_2D = (4, 4, 20, 30)  # 16 x 26 px
BOX_3D_A = (4, 4, 1, 20, 30, 3)  # 16 x 26 px x 2 slices
BOX_3D_B = (0, 0, 0, 10, 10, 4)  # 10 x 10 px x 4 slices


def known_rows(row: Callable[..., Row]) -> list[Row]:
    """alpha: 2D, 10 cases x 8 questions; beta: 3D, cases of 3, 5 and 7 questions;
    gamma: a source's own open questions; delta: two flawed option sets."""
    rows: list[Row] = []
    for k in range(10):
        xray = k < 5
        common = {
            "source": "alpha",
            "case": f"c{k}",
            "modality": "X-ray" if xray else "CT",
            "window": "" if xray else "CT lung W1500 L-600",
            "spacing": (0.5, 0.8),
            "regions": [("R1", "liver", BOX_2D)],
        }
        for j in range(4):  # 30 yes, 10 no: case k answers "No" to question j < 1
            answer = 1 if j == 0 else 0
            rows.append(
                row(
                    **common,
                    index=j,
                    family="existence_verification",
                    options=YES_NO,
                    answer=answer,
                )
            )
        for j in range(4):  # letters A..D 10 times each
            rows.append(row(**common, index=4 + j, options=STRUCTURES, answer=(k + j) % 4))
    splits = ("test", "validation", "train")
    for k, count in enumerate((3, 5, 7)):
        for j in range(count):
            rows.append(
                row(
                    source="beta",
                    case=f"v{k}",
                    index=j,
                    dims=3,
                    modality="MR",
                    window="MR percentile p1-p99",
                    family="size_comparison",
                    options=SIZES,
                    answer=j % 2,  # never "about the same size"
                    spacing=(1.0, 2.0, 3.0),
                    regions=[("R1", "liver", BOX_3D_A), ("R2", "spleen", BOX_3D_B)],
                    split=splits[k],
                )
            )
    for j, answer in enumerate(("yes", "No.", "yes", "left lung")):
        rows.append(
            row(source="gamma", case="q", index=j, family="closed", options=(), answer=answer)
        )
    rows.append(
        row(source="delta", case="m", index=0, options=("gallbladder", "stomach", "gall bladder"))
    )
    rows.append(
        row(
            source="delta",
            case="m",
            index=1,
            options=("kidney", "right kidney", "liver", "spleen"),
            answer=1,
        )
    )
    return rows


@pytest.fixture
def release(tmp_path: Path, row: Callable[..., Row], as_release: Callable[..., Path]) -> Path:
    return as_release(tmp_path / "rel", known_rows(row))


def test_sources_known_by_construction(release: Path) -> None:
    stats = compute_stats(release, aliases=DEFAULT_ALIASES)
    data = stats.to_json()
    assert data["origin"] == "release" and data["rows"] == 80 + 15 + 4 + 2
    alpha, beta = data["sources"]["alpha"], data["sources"]["beta"]
    assert (alpha["rows"], alpha["cases"]) == (80, 10)
    assert alpha["questions_per_case"] == {
        "n": 10, "min": 8, "p10": 8, "median": 8, "mean": 8, "p90": 8, "max": 8,
        "histogram": {"8": 10},
    }  # fmt: skip
    assert alpha["modalities"] == {"CT": {"2d": 40}, "X-ray": {"2d": 40}}
    assert alpha["windows"] == {"CT lung W1500 L-600": 40, "none": 40}
    assert alpha["families"] == {"existence_verification": 40, "structure_localization": 40}
    assert beta["questions_per_case"]["histogram"] == {"3": 1, "5": 1, "7": 1}
    assert beta["questions_per_case"]["mean"] == 5 and beta["questions_per_case"]["median"] == 5
    assert beta["splits"] == {"test": 3, "train": 7, "validation": 5}
    assert beta["dims"] == {"3": 15}


def test_regions_are_measured_once_per_case_in_pixels_and_mm(release: Path) -> None:
    stats = compute_stats(release, aliases=DEFAULT_ALIASES)
    alpha = stats.sources["alpha"].regions
    # one liver box per case, repeated by its 8 rows: 10 distinct regions
    assert alpha.side_px_2d == pytest.approx([math.sqrt(16 * 26)] * 10)
    assert alpha.area_mm2 == pytest.approx([16 * 0.8 * 26 * 0.5] * 10)  # spacing (row, col)
    beta = stats.sources["beta"].regions
    assert sorted(beta.depth_slices) == [2, 2, 2, 4, 4, 4]
    # spacing (row 1.0, col 2.0, slices 3.0) mm: x extent x 2.0, y x 1.0, z x 3.0
    a_ml, b_ml = 16 * 2.0 * 26 * 1.0 * 2 * 3.0 / 1000, 10 * 2.0 * 10 * 1.0 * 4 * 3.0 / 1000
    assert sorted(beta.volume_ml) == pytest.approx(sorted([a_ml] * 3 + [b_ml] * 3))


def test_priors_known_by_construction(release: Path) -> None:
    families = {
        (f["source"], f["family"]): f
        for f in compute_stats(release, aliases=DEFAULT_ALIASES).to_json()["families"]
    }
    existence = families[("alpha", "existence_verification")]
    assert existence["yes_no"] == {"yes": 30, "no": 10}
    assert existence["letters"] == {"2": {"A": 30, "B": 10}}
    structure = families[("alpha", "structure_localization")]
    assert structure["letters"] == {"4": {"A": 10, "B": 10, "C": 10, "D": 10}}
    assert structure["yes_no"] == {"yes": 0, "no": 0}
    size = families[("beta", "size_comparison")]
    assert size["letters"] == {"3": {"A": 2 + 3 + 4, "B": 1 + 2 + 3, "C": 0}}
    assert size["never_correct"] == [{"option": "They are about the same size", "offered": 15}]
    # a source's own open questions: yes/no answers counted from the text
    assert families[("gamma", "closed")]["yes_no"] == {"yes": 2, "no": 1}
    assert families[("gamma", "closed")]["choice_rows"] == 0


def test_option_set_problems_are_counted_with_examples(release: Path) -> None:
    families = {
        (f["source"], f["family"]): f
        for f in compute_stats(release, aliases=DEFAULT_ALIASES).to_json()["families"]
    }
    delta = families[("delta", "structure_localization")]["option_problems"]
    assert delta["rows"] == 2
    assert delta["by_kind"] == {"hypernym-of-answer": 1, "synonym": 1}
    assert delta["examples"] == {
        "hypernym-of-answer": ["delta/m/1: hypernym-of-answer: 'kidney' / 'right kidney'"],
        "synonym": ["delta/m/0: synonym: 'gallbladder' / 'gall bladder'"],
    }
    assert families[("alpha", "structure_localization")]["option_problems"]["rows"] == 0


def test_staged_rows_are_measured_like_published_ones(
    tmp_path: Path, row: Callable[..., Row], as_release: Callable[..., Path], as_staged: Any
) -> None:
    rows = known_rows(row)
    both = as_staged(as_release(tmp_path / "both", rows), rows[:20])
    published = compute_stats(both, aliases=DEFAULT_ALIASES)
    staged = compute_stats(both, aliases=DEFAULT_ALIASES, staged=True)
    assert (published.origin, published.rows) == (Origin.RELEASE, len(rows))
    assert (staged.origin, staged.rows) == (Origin.STAGED, 20)
    assert staged.sources["alpha"].splits == {"unsplit": 20}
    only_staged = as_staged(tmp_path / "ws", rows)
    measured = compute_stats(only_staged, aliases=DEFAULT_ALIASES)
    assert measured.origin is Origin.STAGED
    assert measured.to_json()["families"] == published.to_json()["families"]


def test_the_numbers_do_not_depend_on_the_order_of_rows(row: Callable[..., Row]) -> None:
    rows = known_rows(row)
    shuffled = rows[:]
    random.Random(7).shuffle(shuffled)
    first = stats_of_rows(rows, aliases=DEFAULT_ALIASES).to_json()
    second = stats_of_rows(shuffled, aliases=DEFAULT_ALIASES).to_json()
    assert json.dumps(first, sort_keys=True) == json.dumps(second, sort_keys=True)


def test_answers_that_do_not_name_an_option_are_counted_apart(row: Callable[..., Row]) -> None:
    good = row(options=STRUCTURES, answer=2)
    wrong_letter = {**row(index=1, options=STRUCTURES), "answer": "E. liver"}
    wrong_text = {**row(index=2, options=STRUCTURES), "answer": "A. kidney"}
    stats = stats_of_rows([good, wrong_letter, wrong_text], aliases=DEFAULT_ALIASES)
    family = stats.families[("alpha", "structure_localization")]
    assert family.unparsed_answers == 2
    assert family.letters == {4: {"C": 1}}


def test_folders_without_rows_are_refused(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="is not a folder"):
        compute_stats(tmp_path / "missing", aliases=DEFAULT_ALIASES)
    with pytest.raises(UsageError, match="run `unimed-cot build` first"):
        compute_stats(tmp_path, aliases=DEFAULT_ALIASES)
    with pytest.raises(UsageError, match="no published shards"):
        compute_stats(tmp_path, aliases=DEFAULT_ALIASES, staged=False)


def test_a_damaged_shard_is_named(tmp_path: Path) -> None:
    shard = tmp_path / "data" / "2d" / "train-00000-of-00001.parquet"
    shard.parent.mkdir(parents=True)
    shard.write_bytes(b"PAR1 not really")
    with pytest.raises(ReleaseError, match=r"train-00000-of-00001\.parquet"):
        compute_stats(tmp_path, aliases=DEFAULT_ALIASES)
