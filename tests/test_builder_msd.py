"""``msd``: the Decathlon's dataset.json and 4D images (channel chosen by name and recorded),
the nnU-Net v2 layout (per-channel files, region labels as union views), answers true."""

from __future__ import annotations

import nibabel as nib
import numpy as np
import pytest
from fixtures import FixtureInfo, lps_from_ras_file
from fixtures.msd import BRAIN_TASK, NNUNET, SPLEEN_TASK, make_fixture
from questions.sources3d import questions_of, related_options, truth_of
from questions.truth_cases import answers_are_true

from unimed_cot.builders import get_builder
from unimed_cot.builders._msd_spec import SpecError, choose_channel, parse_spec
from unimed_cot.cases import render_case
from unimed_cot.errors import SourceLayoutError
from unimed_cot.imaging import SerializeConfig
from unimed_cot.imaging.normalize import reorient
from unimed_cot.records import SourceRecord, Terms, Volume

SERIALIZE = SerializeConfig(n_slices=8, slice_size=112)


@pytest.fixture(scope="module")
def fixture(tmp_path_factory: pytest.TempPathFactory) -> FixtureInfo:
    return make_fixture(tmp_path_factory.mktemp("msd"))


@pytest.fixture(scope="module")
def records(fixture: FixtureInfo) -> dict[str, SourceRecord]:
    return {r.case_id: r for r in get_builder("msd").records(fixture.root)}


def test_channels_are_chosen_by_name() -> None:
    assert choose_channel({0: "FLAIR", 1: "T1w", 2: "t1gd", 3: "T2w"}) == (0, "FLAIR", 4)
    assert choose_channel({0: "T1", 1: "T1ce", 2: "T2", 3: "Flair"}) == (3, "Flair", 4)
    assert choose_channel({0: "T2", 1: "ADC"}) == (0, "T2", 2)
    assert choose_channel({0: "CT"}) == (0, "CT", 1)


def test_the_4d_channel_read_is_flair_and_recorded(
    fixture: FixtureInfo, records: dict[str, SourceRecord]
) -> None:
    record = records[f"{BRAIN_TASK}/BRATS_001"]
    case = get_builder("msd").load(record)
    four_d = nib.load(fixture.root / BRAIN_TASK / "imagesTr" / "BRATS_001.nii.gz")
    flair = np.asarray(four_d.dataobj[..., 0], dtype=np.float32)
    assert isinstance(case.image, Volume)
    # The builder's volume, in the canonical frame, equals channel 0 of the file, reoriented.
    expected, _ = reorient(Volume(array=flair, affine=four_d.affine))
    got, _ = reorient(case.image)
    np.testing.assert_allclose(got.array, expected.array)
    assert any("channel 0 (FLAIR) of 4" in line for line in case.history)
    assert record.modality == "MR"
    assert case.labels == {1: "peritumoral edema", 2: "non-enhancing tumor", 3: "enhancing tumor"}


def test_nnunet_reads_the_chosen_channel_file_and_region_views(
    records: dict[str, SourceRecord],
) -> None:
    base = records[f"{NNUNET}/BraTS2021_00001"]
    assert base.image.name == "BraTS2021_00001_0003.nii.gz"  # "Flair"
    case = get_builder("msd").load(base)
    assert case.labels == {3: "enhancing tumor"}
    whole = get_builder("msd").load(records[f"{NNUNET}/BraTS2021_00001/whole_tumor"])
    assert whole.labels == {1: "whole tumor"}
    # No license the notes can map: annotation-only rows
    assert base.terms == Terms(license="other", redistributable=False)
    assert records[f"{BRAIN_TASK}/BRATS_001"].terms == Terms("CC-BY-SA-4.0", True)


@pytest.mark.parametrize(
    ("case_id", "union"),
    [
        (f"{BRAIN_TASK}/BRATS_001/tumor_core", (2, 3)),
        (f"{BRAIN_TASK}/BRATS_002/whole_tumor", (1, 2, 3)),
        (f"{NNUNET}/BraTS2021_00002/tumor_core", (2, 3)),
        (f"{NNUNET}/BraTS2021_00001/whole_tumor", (1, 2, 3)),
    ],
)
def test_union_views_are_true_at_full_resolution(
    fixture: FixtureInfo, records: dict[str, SourceRecord], case_id: str, union: tuple[int, ...]
) -> None:
    task, case, _ = case_id.split("/")
    seg, affine = lps_from_ras_file(fixture.root / task / "labelsTr" / f"{case}.nii.gz")
    rendered = render_case(get_builder("msd"), records[case_id], SERIALIZE)
    assert rendered.case.label_map is not None
    expected = np.isin(seg, union)
    np.testing.assert_array_equal(rendered.case.label_map.array == 1, expected)
    voxels = sum(r.facts.voxels or 0 for r in rendered.pixels.regions if r.facts)
    assert voxels == int(expected.sum())
    name = rendered.case.labels[1]
    truth = truth_of(expected.astype(np.uint8), affine, names={1: name}, sides={name: {"right"}})
    questions = questions_of(rendered, seeds=6)
    assert answers_are_true(questions, truth) == []  # type: ignore[arg-type]
    assert related_options(questions) == []


def test_float_labels_and_ct_answers_are_true(
    fixture: FixtureInfo, records: dict[str, SourceRecord]
) -> None:
    record = records[f"{SPLEEN_TASK}/spleen_2"]
    assert record.modality == "CT"
    rendered = render_case(get_builder("msd"), record, SERIALIZE)
    seg, affine = lps_from_ras_file(fixture.root / SPLEEN_TASK / "labelsTr" / "spleen_2.nii.gz")
    assert rendered.case.label_map is not None
    np.testing.assert_array_equal(rendered.case.label_map.array, seg.astype(np.uint8))
    truth = truth_of(seg.astype(np.uint8), affine, names={1: "spleen"}, sides={})
    questions = questions_of(rendered, seeds=6)
    assert questions and answers_are_true(questions, truth) == []  # type: ignore[arg-type]
    (spleen,) = rendered.pixels.regions
    assert spleen.facts is not None and spleen.facts.side == "left"


def test_dataset_json_of_neither_format_is_a_layout_error(fixture: FixtureInfo) -> None:
    with pytest.raises(SpecError, match="neither"):
        parse_spec({"name": "x"}, "Task11_X")
    with pytest.raises(SourceLayoutError, match="subfolder of a task"):
        get_builder("msd").check_root(fixture.root / SPLEEN_TASK / "imagesTr")
    # the Decathlon's 'labels' value -> name, nnU-Net's name -> value (lists are regions)
    spec = parse_spec(
        {"channel_names": {"0": "T2", "1": "ADC"}, "labels": {"background": 0, "PZ": 1, "TZ": 2},
         "numTraining": 1, "file_ending": ".nii.gz"},
        "Dataset005_Prostate",
    )  # fmt: skip
    assert spec.labels == {1: "prostate peripheral zone", 2: "prostate transition zone"}
    assert spec.channel == (0, "T2", 2)
