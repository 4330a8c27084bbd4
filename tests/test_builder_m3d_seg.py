"""``m3d_seg``: M3D-Seg layouts, sparse masks, unknown geometry on the row, and a full build."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
from fixtures import FixtureInfo
from fixtures.m3d_seg import REJECTED, make_fixture

from unimed_cot.builders import get_builder
from unimed_cot.builders._m3d_names import (
    EscapingPathError,
    LayoutError,
    class_names,
    entry_parts,
    mask_shape,
)
from unimed_cot.builders.m3d_seg import UNKNOWN_GEOMETRY_AFFINE
from unimed_cot.errors import SourceLayoutError
from unimed_cot.imaging import SerializeConfig, normalize_case, serialize_case
from unimed_cot.pipeline.config import BuildConfig
from unimed_cot.pipeline.run import run_build
from unimed_cot.records import Split, Terms
from unimed_cot.release.publish import publish

SERIALIZE = SerializeConfig(n_slices=8, slice_size=112, max_side_2d=224)


@pytest.fixture(scope="module")
def fixture(tmp_path_factory: pytest.TempPathFactory) -> FixtureInfo:
    return make_fixture(tmp_path_factory.mktemp("m3d"))


@pytest.fixture(scope="module")
def release(fixture: FixtureInfo, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("m3d-build") / "unimed-cot"
    run_build(
        BuildConfig(source="m3d_seg", input=fixture.root, out=out, serialize=SERIALIZE),
        progress=False,
    )
    return out


def test_mask_shapes_parse_from_both_layouts() -> None:
    assert mask_shape("mask_(1, 512, 512, 96).npz") == (1, 512, 512, 96)
    assert mask_shape("mask_(13,512,512,96).npz") == (13, 512, 512, 96)
    assert mask_shape("case_00000.(3, 512, 512, 611).npz") == (3, 512, 512, 611)
    assert mask_shape("liver_0.v2.(2, 8, 8, 4).npz") == (2, 8, 8, 4)  # dots in the case name
    for bad in (
        "mask_(1, 512, 512).npz",
        "mask_(0, 5, 5, 5).npz",
        "mask.npz",
        "mask_(1, a, 2, 3).npz",
    ):
        with pytest.raises(LayoutError):
            mask_shape(bad)


def test_index_paths_stay_inside_the_folder() -> None:
    assert entry_parts("0000/1/image.npy", "0000") == ("0000", "1", "image.npy")
    assert entry_parts("1/image.npy", "0000") == ("0000", "1", "image.npy")
    # An author's absolute save path is re-rooted by its <code>/<case>/<file> tail, never read.
    assert entry_parts("/data/M3D_Seg/0000/1/image.npy", "0000") == ("0000", "1", "image.npy")
    for bad in ("../../etc/passwd", "/etc/passwd", "0000/../../x/image.npy", "/x/0001/1/image.npy"):
        with pytest.raises(EscapingPathError):
            entry_parts(bad, "0000")
    with pytest.raises(LayoutError):
        entry_parts("0000/a/b/image.npy", "0000")


def test_verse_duplicate_l1_reads_as_l2() -> None:
    names = [f"thoracic spine T{i}" for i in range(1, 4)] + ["lumbar spine L1"] * 2
    fixed, notes = class_names("0014", names)
    assert fixed[-2:] == ["lumbar spine L1", "lumbar spine L2"]
    assert len(notes) == 1
    assert class_names("0009", ["liver", "liver"])[0] == ["liver", "liver #2"]


def test_listing_is_stable_unique_with_official_splits(fixture: FixtureInfo) -> None:
    builder = get_builder("m3d_seg")
    records = list(builder.records(fixture.root))
    ids = [r.case_id for r in records]
    assert ids == [r.case_id for r in builder.records(fixture.root)]
    assert len(ids) == len(set(ids)) and set(ids) == set(fixture.case_ids)
    by_id = {r.case_id: r for r in records}
    assert by_id["0000/3"].official_split is Split.TEST
    assert by_id["0000/1"].official_split is Split.TRAIN
    assert by_id["0016/liver-orig001"].official_split is Split.TRAIN  # older key "training"
    assert by_id["0000/1"].group_key == "0000/1"
    assert by_id["0004/case_00000"].terms == Terms("CC-BY-NC-SA-4.0", redistributable=True)
    assert by_id["0000/1"].terms is not None and not by_id["0000/1"].terms.redistributable


def test_loaded_case_keeps_the_arrays_as_stored(fixture: FixtureInfo) -> None:
    from scipy import sparse

    builder = get_builder("m3d_seg")
    record = next(r for r in builder.records(fixture.root) if r.case_id == "0004/case_00000")
    case = builder.load(record)
    image = np.load(record.image)[0]
    assert case.image.array.shape == image.shape == (36, 36, 5)
    np.testing.assert_array_equal(case.image.array, image)
    np.testing.assert_array_equal(case.image.affine, UNKNOWN_GEOMETRY_AFFINE)
    assert case.image.spacing == (1.0, 1.0, 1.0)
    assert record.label is not None
    masks = sparse.load_npz(record.label).toarray().reshape(3, 36, 36, 5)
    for channel in range(3):
        np.testing.assert_array_equal(case.label_map.array == channel + 1, masks[channel] > 0)
    # Channels 1..C; the other datasets' structures and the release's whole class list are
    # distractors only (never claimed absent: this dataset does not delineate them).
    assert case.labels == {1: "kidney", 2: "kidney tumor", 3: "kidney cyst"}
    assert case.lesion_labels == {"kidney tumor", "kidney cyst"}
    assert {"liver", "spleen", "vertebrae L1"} <= set(case.vocabulary)
    assert not {"kidney", "kidney tumor", "liver tumor 01", "metal"} & set(case.vocabulary)


def test_a_one_class_download_gets_questions_and_claims_no_other_absence(
    tmp_path: Path, fixture: FixtureInfo
) -> None:
    """A folder holding only 0000 (CHAOS: liver) still gets distractors from the release's
    class list, and no question says a structure the dataset does not delineate is absent."""
    import shutil

    root = tmp_path / "M3D_Seg"
    root.mkdir()
    shutil.copytree(fixture.root / "0000", root / "0000")
    out = tmp_path / "unimed-cot"
    report = run_build(
        BuildConfig(source="m3d_seg", input=root, out=out, serialize=SERIALIZE), progress=False
    )
    assert report.rows_new > 0
    shards = sorted((out / ".build" / "staged").rglob("*.parquet"))
    rows = [row for shard in shards for row in pq.read_table(shard).to_pylist()]
    assert rows
    for row in rows:
        if row["options"] == ["Yes", "No"] and row["answer"] == "B. No":
            assert "liver" in row["question"].lower(), row["question"]
    localizations = [r for r in rows if r["question_type"] == "structure_localization"]
    assert localizations and all(len(r["options"]) > 1 for r in localizations)


def test_serialized_geometry_claims_nothing_unknown(fixture: FixtureInfo) -> None:
    builder = get_builder("m3d_seg")
    config = SerializeConfig(n_slices=8, slice_size=112, target_spacing_mm=(2.0, 2.0, 2.0))
    for record in builder.records(fixture.root):
        if record.case_id in REJECTED:
            continue
        case = normalize_case(builder.load(record))
        pixels = serialize_case(case, config)
        assert pixels.spacing_mm == [] and pixels.plane == ""
        assert pixels.orientation_known is False
        assert len(pixels.slice_positions_mm) == len(pixels.images)
        assert all(math.isnan(v) for v in pixels.slice_positions_mm)
        assert pixels.window == "CT percentile p1-p99"  # z-scores, not HU
        assert "not resampled: the source's spacing is unknown" in case.history
        for region in pixels.regions:
            assert region.facts is not None
            assert region.facts.size_mm is None and region.facts.extent_mm == ()
            assert (region.facts.side, region.facts.ap) == ("", "")
            assert region.facts.position_mm == () and region.facts.span_mm is None
        got = {(r.label, tuple(r.box)) for r in pixels.regions}
        assert got == fixture.expected_regions({"id": f"m3d_seg/{record.case_id}/0"}, config)


def test_tumor_components_give_one_box_each(fixture: FixtureInfo) -> None:
    builder = get_builder("m3d_seg")
    record = next(r for r in builder.records(fixture.root) if r.case_id == "0004/case_00000")
    pixels = serialize_case(normalize_case(builder.load(record)), SERIALIZE)
    labels = sorted(r.label for r in pixels.regions)
    assert labels == ["kidney", "kidney tumor", "kidney tumor"]


def test_layout_errors_name_the_problem(tmp_path: Path, fixture: FixtureInfo) -> None:
    builder = get_builder("m3d_seg")
    with pytest.raises(SourceLayoutError, match=r"no <code>/<code>\.json") as raised:
        builder.check_root(tmp_path)
    assert builder.layout in str(raised.value)
    with pytest.raises(SourceLayoutError, match="one dataset folder; pass its parent"):
        builder.check_root(fixture.root / "0000")
    nested = tmp_path / "M3D_Seg" / "0008" / "0008"
    nested.mkdir(parents=True)
    (nested / "0008.json").write_text("{}", encoding="utf-8")
    with pytest.raises(SourceLayoutError, match="nested"):
        builder.check_root(tmp_path / "M3D_Seg")


def test_build_rejects_malformed_entries_and_goes_on(release: Path, fixture: FixtureInfo) -> None:
    reasons: dict[str, set[str]] = {}
    for path in (release / ".build" / "rejections" / "m3d_seg").glob("*.jsonl"):
        for line in path.read_text(encoding="utf-8").splitlines():
            record = json.loads(line)
            reasons.setdefault(record["case_id"], set()).add(record["reason"])
    for case_id, reason in REJECTED.items():
        assert reason in reasons.get(case_id, set()), (case_id, reasons.get(case_id))
    rows = [
        row
        for path in sorted((release / ".build" / "staged" / "m3d_seg").glob("*.parquet"))
        for row in pq.read_table(path).to_pylist()
    ]
    staged = {row["id"].removeprefix("m3d_seg/").rpartition("/")[0] for row in rows}
    assert staged == set(fixture.case_ids) - set(REJECTED)
    for row in rows:
        assert row["spacing_mm"] == [] and row["plane"] == ""
        assert all(math.isnan(v) for v in row["slice_positions_mm"])
        assert "left" not in row["question"].lower() and "right" not in row["question"].lower()


def test_publish_and_load_dataset(
    release: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    publish(release, version="0.1.0")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    import datasets

    loaded = datasets.load_dataset(str(release), "3d", cache_dir=str(tmp_path / "cache"))
    rows = [row for split in loaded.values() for row in split]
    assert rows and {row["source"] for row in rows} == {"m3d_seg"}
    assert {row["dims"] for row in rows} == {3}
    licenses = {row["id"].split("/")[1]: row["license"] for row in rows}
    assert licenses.get("0004") == "CC-BY-NC-SA-4.0" and licenses.get("0000") == "other"
    # The shipped test list stays test.
    assert {row["split"] for row in rows if row["id"].startswith("m3d_seg/0000/3/")} <= {"test"}
