"""``totalsegmentator``: meta.csv with its BOM and split column, 117 masks combined into one
label map in the release's class order, sizes and sides true to the drawn anatomy."""

from __future__ import annotations

import nibabel as nib
import numpy as np
import pytest
from fixtures import FixtureInfo, lps_from_ras_file
from fixtures.totalsegmentator import DISPLAY, DRAWN, GOOD, make_fixture
from questions.sources3d import questions_of, related_options, truth_of
from questions.truth_cases import answers_are_true

from unimed_cot.builders import get_builder
from unimed_cot.builders._totalseg_names import TOTAL_V2, display_name
from unimed_cot.cases import render_case
from unimed_cot.errors import SourceLayoutError
from unimed_cot.imaging import SerializeConfig
from unimed_cot.records import SourceRecord, Split

SERIALIZE = SerializeConfig(n_slices=8, slice_size=112)


@pytest.fixture(scope="module")
def fixture(tmp_path_factory: pytest.TempPathFactory) -> FixtureInfo:
    return make_fixture(tmp_path_factory.mktemp("totalseg"))


@pytest.fixture(scope="module")
def records(fixture: FixtureInfo) -> dict[str, SourceRecord]:
    return {r.case_id: r for r in get_builder("totalsegmentator").records(fixture.root)}


def test_the_class_list_is_v2s_117_in_id_order() -> None:
    assert len(TOTAL_V2) == len(set(TOTAL_V2)) == 117
    # spot ids from map_to_binary.py (3d-sources.md §2)
    ids = {name: number for number, name in enumerate(TOTAL_V2, start=1)}
    assert ids["spleen"] == 1 and ids["vertebrae_L5"] == 27 and ids["vertebrae_C1"] == 50
    assert ids["heart"] == 51 and ids["spinal_cord"] == 79 and ids["brain"] == 90
    assert ids["rib_left_1"] == 92 and ids["rib_right_1"] == 104
    assert ids["costal_cartilages"] == 117
    assert display_name("kidney_cyst_left") == "left kidney cyst"
    assert display_name("vertebrae_L1") == "vertebra L1"


def test_meta_csv_split_is_kept_through_its_bom(
    fixture: FixtureInfo, records: dict[str, SourceRecord]
) -> None:
    assert (fixture.root / "meta.csv").read_bytes().startswith(b"\xef\xbb\xbf")
    expected = {"train": Split.TRAIN, "val": Split.VALIDATION, "test": Split.TEST}
    for case, (split, _) in GOOD.items():
        assert records[case].official_split == expected[split]
        assert records[case].group_key == case


@pytest.mark.parametrize("case", sorted(GOOD))
def test_masks_combine_into_one_true_label_map(
    fixture: FixtureInfo, records: dict[str, SourceRecord], case: str
) -> None:
    builder = get_builder("totalsegmentator")
    rendered = render_case(builder, records[case], SERIALIZE)
    assert len(rendered.case.labels) == 117  # every class file is annotated
    ids = {name: number for number, name in enumerate(TOTAL_V2, start=1)}
    label_map = rendered.case.label_map
    assert label_map is not None
    for stem in TOTAL_V2:
        mask, _ = lps_from_ras_file(fixture.root / case / "segmentations" / f"{stem}.nii.gz")
        np.testing.assert_array_equal(label_map.array == ids[stem], mask > 0, err_msg=stem)
    # sizes from the mask voxels and the native spacing, sides from the patient frame
    ct = nib.load(fixture.root / case / "ct.nii.gz")
    voxel_ml = float(np.prod(ct.header.get_zooms()[:3])) / 1000
    facts = {r.label: r.facts for r in rendered.pixels.regions}
    for stem in DRAWN:
        mask, _ = lps_from_ras_file(fixture.root / case / "segmentations" / f"{stem}.nii.gz")
        fact = facts[DISPLAY[stem]]
        assert fact is not None and fact.voxels == int(mask.sum())
        assert fact.size_mm == pytest.approx(mask.sum() * voxel_ml, rel=1e-3)
    assert facts["liver"] and facts["liver"].side == "right"
    assert facts["spleen"] and facts["spleen"].side == "left"
    assert rendered.pixels.truth is not None
    assert "brain" in rendered.pixels.truth.annotated - rendered.pixels.truth.present


@pytest.mark.parametrize("case", sorted(GOOD))
def test_answers_are_true_to_the_drawn_anatomy(
    fixture: FixtureInfo, records: dict[str, SourceRecord], case: str
) -> None:
    rendered = render_case(get_builder("totalsegmentator"), records[case], SERIALIZE)
    label_map = rendered.case.label_map
    assert label_map is not None
    truth = truth_of(
        label_map.array,
        label_map.affine,
        names=rendered.case.labels,
        sides={"left kidney cyst": {"left"}},
        hosts={"left kidney cyst": "left kidney"},
    )
    questions = questions_of(rendered, seeds=6)
    assert questions
    assert answers_are_true(questions, truth) == []  # type: ignore[arg-type]
    assert related_options(questions) == []


def test_a_subject_folder_is_refused_with_the_layout(fixture: FixtureInfo) -> None:
    with pytest.raises(SourceLayoutError, match="one subject folder"):
        get_builder("totalsegmentator").check_root(fixture.root / "s0000")
