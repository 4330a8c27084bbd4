"""The demo release against the phantom's own truth, and its answer priors.

The oracle (``phantom_oracle``) re-derives every answer from the phantom's files at full
resolution; the priors are counted from the published rows alone, as a model would see them.
"""

from __future__ import annotations

from pathlib import Path

from .phantom_oracle import check_release
from .priors import priors, read_rows

YES_NO_TOLERANCE = 0.03  # the bound: 50 % +- 3 points per family and source


def test_every_published_answer_is_true(demo_release: Path) -> None:
    rows = read_rows(demo_release)
    assert len(rows) > 300
    problems = check_release(demo_release, rows)
    assert problems == [], problems[:10]


def test_2d_sides_are_the_patients_where_the_source_declares_its_axes(demo_release: Path) -> None:
    """The phantom declares its 2D axes (PA radiographs, radiological CT): 2D relations then
    speak in the patient's frame, like 3D ones, and never in the image's."""
    rows = [r for r in read_rows(demo_release) if r["dims"] == 2]
    relations = [r for r in rows if r["question_type"] == "spatial_relationship"]
    assert relations
    texts = [" ".join(map(str, r["options"])) for r in relations]
    assert any("patient's" in t for t in texts)
    assert not any("in the image" in t for t in texts)


def test_priors_are_balanced(demo_release: Path) -> None:
    found = priors(read_rows(demo_release))
    for key, share in found.yes_share().items():
        assert abs(share - 0.5) <= YES_NO_TOLERANCE, (key, found.yes_no[key])
    for n, counts in found.letters.items():
        total = sum(counts.values())
        sigma = (total * (1 / n) * (1 - 1 / n)) ** 0.5
        for letter in "ABCD"[:n]:
            assert abs(counts[letter] - total / n) <= 3 * sigma, (n, counts)
    assert found.alias_option_sets == []
    # "About the same size" is offered and right sometimes, but not most of the time.
    assert 0.15 <= found.same_size["same"] / sum(found.same_size.values()) <= 0.5
    assert set(found.families) == {
        "structure_localization",
        "spatial_localization",
        "existence_verification",
        "size_comparison",
        "spatial_relationship",
        "lesion_analysis",
    }


def test_volumes_get_rich_question_sets(demo_release: Path) -> None:
    rows = read_rows(demo_release, columns=["id", "dims", "modality", "question_type"])
    per_case: dict[str, list[str]] = {}
    for row in rows:
        if row["dims"] == 3 and row["modality"] == "CT":
            per_case.setdefault(row["id"].rpartition("/")[0], []).append(row["question_type"])
    assert per_case
    # Phantom CT volumes annotate 8 organs and up to 3 lesions: at least 8 questions each, of
    # at least 5 families (dedup at publish may drop a few rows).
    counts = sorted(len(v) for v in per_case.values())
    assert sum(counts) / len(counts) >= 8.5 and counts[0] >= 6
    assert all(len(set(v)) >= 5 for v in per_case.values())
