"""``brats``: labels keyed on the edition, unions derived at full resolution, answers true to the
drawn tumour, no option set holding a part next to its whole."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from fixtures import FixtureInfo, lps_from_ras_file
from fixtures.brats import GOOD, make_fixture
from questions.sources3d import questions_of, related_options, truth_of
from questions.truth_cases import answers_are_true

from unimed_cot.builders import get_builder
from unimed_cot.cases import RenderedCase, render_case
from unimed_cot.errors import SourceLayoutError
from unimed_cot.imaging import SerializeConfig
from unimed_cot.records import SourceRecord

SERIALIZE = SerializeConfig(n_slices=8, slice_size=112)
UNIONS = {"2021": {"tumor_core": (1, 4), "whole_tumor": (1, 2, 4)},
          "2023": {"tumor_core": (1, 3), "whole_tumor": (1, 2, 3)}}  # fmt: skip
UNION_PARTS = {
    "2021": {
        "tumor_core": ("necrotic tumor core", "enhancing tumor"),
        "whole_tumor": ("necrotic tumor core", "enhancing tumor", "peritumoral edema",
                        "tumor core"),
    },
    "2023": {
        "tumor_core": ("non-enhancing tumor core", "enhancing tumor"),
        "whole_tumor": ("non-enhancing tumor core", "enhancing tumor", "peritumoral edema",
                        "tumor core"),
    },
}  # fmt: skip


@pytest.fixture(scope="module")
def fixture(tmp_path_factory: pytest.TempPathFactory) -> FixtureInfo:
    return make_fixture(tmp_path_factory.mktemp("brats"))


@pytest.fixture(scope="module")
def records(fixture: FixtureInfo) -> dict[str, SourceRecord]:
    return {r.case_id: r for r in get_builder("brats").records(fixture.root)}


def _render(records: dict[str, SourceRecord], case_id: str) -> RenderedCase:
    return render_case(get_builder("brats"), records[case_id], SERIALIZE)


def _seg(fixture: FixtureInfo, case: str) -> tuple[np.ndarray, np.ndarray]:
    sep = "_" if case.startswith("BraTS2021") else "-"
    return lps_from_ras_file(fixture.root / case / f"{case}{sep}seg.nii.gz")


def test_labels_are_keyed_on_the_edition(records: dict[str, SourceRecord]) -> None:
    case_2021 = get_builder("brats").load(records["BraTS2021_00001"])
    assert case_2021.labels == {
        1: "necrotic tumor core",
        2: "peritumoral edema",
        4: "enhancing tumor",
    }
    case_2023 = get_builder("brats").load(records["BraTS-GLI-00003-001"])
    assert case_2023.labels == {
        1: "non-enhancing tumor core",
        2: "peritumoral edema",
        3: "enhancing tumor",
        4: "resection cavity",  # 2024 GLI's label 4; never a 2021 enhancing tumour
    }
    assert "resection cavity" not in case_2023.lesion_labels
    assert "enhancing tumor" in case_2023.lesion_labels


@pytest.mark.parametrize("case", sorted(GOOD))
def test_unions_are_the_sub_regions_union_at_full_resolution(
    fixture: FixtureInfo, records: dict[str, SourceRecord], case: str
) -> None:
    seg, affine = _seg(fixture, case)
    voxel_ml = abs(float(np.linalg.det(affine[:3, :3]))) / 1000
    for view, values in UNIONS[GOOD[case][0]].items():
        rendered = _render(records, f"{case}/{view}")
        expected = np.isin(seg, values)
        assert rendered.case.label_map is not None
        np.testing.assert_array_equal(rendered.case.label_map.array == 1, expected)
        regions = rendered.pixels.regions
        assert regions and {r.label for r in regions} == {view.replace("_", " ")}
        assert sum(r.facts.voxels for r in regions if r.facts) == int(expected.sum())
        sizes = sum(r.facts.size_mm or 0 for r in regions if r.facts)
        assert sizes == pytest.approx(expected.sum() * voxel_ml, rel=1e-3)
        # The image under the whole tumour is FLAIR, under the core T1 contrast-enhanced.
        kind = "flair" if case.startswith("BraTS2021") else "t2f"
        if view == "tumor_core":
            kind = "t1ce" if case.startswith("BraTS2021") else "t1c"
        assert rendered.case.record.image.name.endswith(f"{kind}.nii.gz")
        assert any(kind in line for line in rendered.case.history)


@pytest.mark.parametrize("case", sorted(GOOD))
@pytest.mark.parametrize("view", ["", "tumor_core", "whole_tumor"])
def test_answers_are_true_and_options_never_hold_a_whole_and_its_part(
    fixture: FixtureInfo, records: dict[str, SourceRecord], case: str, view: str
) -> None:
    case_id = f"{case}/{view}" if view else case
    rendered = _render(records, case_id)
    seg, affine = _seg(fixture, case)
    edition = GOOD[case][0]
    if view:
        labels = np.isin(seg, UNIONS[edition][view]).astype(np.uint8)
        names = {1: view.replace("_", " ")}
    else:
        labels, names = seg, dict(rendered.case.labels)
    lesions = {n for n in names.values() if n != "resection cavity"}
    truth = truth_of(labels, affine, names=names, sides={n: {"right"} for n in lesions})
    questions = questions_of(rendered)
    assert questions
    assert answers_are_true(questions, truth) == []  # type: ignore[arg-type]
    assert related_options(questions) == []
    # A union's own view: its parts are never its distractors (they lie within it).
    if view:
        parts = set(UNION_PARTS[edition][view])
        assert not [q for q in questions if set(q.options) & parts and names[1] in q.options]


def test_time_points_share_one_patient(records: dict[str, SourceRecord]) -> None:
    assert records["BraTS-GLI-00003-000"].group_key == records["BraTS-GLI-00003-001"].group_key
    assert records["BraTS2021_00001"].group_key == "00001"
    assert records["BraTS2021_00001/whole_tumor"].group_key == "00001"


def test_one_case_folder_is_refused_with_the_layout(fixture: FixtureInfo) -> None:
    builder = get_builder("brats")
    with pytest.raises(SourceLayoutError, match="one case folder"):
        builder.check_root(fixture.root / "BraTS2021_00001")
    with pytest.raises(SourceLayoutError, match=r"BraTS2021_00000_seg\.nii\.gz"):
        builder.check_root(Path(fixture.root / "BraTS2021_0001x"))
