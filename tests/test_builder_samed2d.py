"""``samed2d``: SA-Med2D-20M names, listing, boxes per mask component, terms, and a full build."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
from fixtures import FixtureInfo
from fixtures.samed2d import REJECTED, make_fixture

from unimed_cot.builders import get_builder
from unimed_cot.builders._samed2d_names import (
    NamingError,
    parse_image_name,
    parse_mask_name,
)
from unimed_cot.builders.samed2d import union_atoms
from unimed_cot.errors import SourceLayoutError
from unimed_cot.imaging import SerializeConfig, normalize_case, serialize_case
from unimed_cot.pipeline.config import BuildConfig
from unimed_cot.pipeline.run import run_build
from unimed_cot.questions import QuestionConfig, generate_questions
from unimed_cot.records import Terms
from unimed_cot.release.publish import publish

SERIALIZE = SerializeConfig(n_slices=8, slice_size=112, max_side_2d=224)


@pytest.fixture(scope="module")
def fixture(tmp_path_factory: pytest.TempPathFactory) -> FixtureInfo:
    return make_fixture(tmp_path_factory.mktemp("samed2d"))


@pytest.fixture(scope="module")
def release(fixture: FixtureInfo, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("samed2d-build") / "unimed-cot"
    run_build(
        BuildConfig(source="samed2d", input=fixture.root, out=out, serialize=SERIALIZE),
        progress=False,
    )
    return out


@pytest.mark.parametrize(
    ("name", "fields"),
    [
        (
            "ct_00--CTSpine1K_Full--1.3.6.1.4.1.9328.50.4.0154--z_0288.png",
            ("ct_00", "CTSpine1K_Full", "1.3.6.1.4.1.9328.50.4.0154", "z", 288, "CT"),
        ),
        (
            "x_ray--covid_19_ct_cxr--16660_5_1--2d_none.png",
            ("x_ray", "covid_19_ct_cxr", "16660_5_1", "2d", None, "X-ray"),
        ),
        (
            "mr_t1--BraTS2021--BraTS2021_00218--z_0141.png",
            ("mr_t1", "BraTS2021", "BraTS2021_00218", "z", 141, "MR"),
        ),
        (
            "fundus_photography--ichallenge_adam_task2--A0001--2d_none.png",
            ("fundus_photography", "ichallenge_adam_task2", "A0001", "2d", None, "fundus"),
        ),
    ],
)
def test_image_names_parse_as_the_card_documents(name: str, fields: tuple[Any, ...]) -> None:
    parsed = parse_image_name(name)
    got = (
        parsed.modality_code,
        parsed.dataset,
        parsed.ori_name,
        parsed.slice_axis,
        parsed.slice_index,
        parsed.modality,
    )
    assert got == fields
    assert parsed.group_key == f"{fields[1]}/{fields[2]}"


@pytest.mark.parametrize(
    ("name", "why"),
    [
        ("ct--AbdomenCT1K--Case_00011--x_0040.png", "unknown modality code 'ct'"),
        ("ct_00--AbdomenCT1K--Case_00011--w_0040.png", "slice field"),
        ("ct_00--AbdomenCT1K--Case_00011--x_40.png", "slice field"),
        ("ct_00--AbdomenCT1K--Case_00011.png", "3 '--'-separated fields"),
        ("ct_00--A--b--c--x_0001.png", "5 '--'-separated fields"),
        ("ct_00--AbdomenCT1K--Case_00011--x_0040.jpg", "not a .png"),
    ],
)
def test_unexpected_image_names_are_refused_with_the_reason(name: str, why: str) -> None:
    with pytest.raises(NamingError, match=why):
        parse_image_name(name)


def test_mask_names_carry_a_class_id_and_instance() -> None:
    image = parse_image_name("ct_00--CT_ORG--volume-1--x_0083.png")
    mask = parse_mask_name("ct_00--CT_ORG--volume-1--x_0083--0003_002.png", image)
    assert (mask.class_id, mask.instance) == ("0003", 2)
    for bad in (
        "ct_00--CT_ORG--volume-1--x_0084--0003_000.png",  # another slice's mask
        "ct_00--CT_ORG--volume-1--x_0083--liver_000.png",  # the demo's class-name scheme
        "ct_00--CT_ORG--volume-1--x_0083--0005_merged.png",  # MedPLIB's derived union
    ):
        with pytest.raises(NamingError):
            parse_mask_name(bad, image)


def test_listing_is_stable_unique_and_reads_no_pixels(
    fixture: FixtureInfo, monkeypatch: pytest.MonkeyPatch
) -> None:
    import unimed_cot.builders.samed2d as module

    def refuse(path: Path) -> None:
        raise AssertionError(f"listing read {path}")

    monkeypatch.setattr(module, "read_image_2d", refuse)
    monkeypatch.setattr(module, "read_label_image", refuse)
    builder = get_builder("samed2d")
    first = [r.case_id for r in builder.records(fixture.root)]
    assert first == [r.case_id for r in builder.records(fixture.root)]
    assert first == sorted(first) and len(first) == len(set(first))
    assert set(first) == set(fixture.case_ids)
    # The unzipped folder itself works as well as its parent.
    nested = [r.case_id for r in builder.records(fixture.root / "SAMed2Dv1")]
    assert nested == first


def test_group_is_dataset_and_case_across_slicing_axes(fixture: FixtureInfo) -> None:
    records = {r.case_id: r for r in get_builder("samed2d").records(fixture.root)}
    x = records["ct_00--AbdomenCT1K--Case_00011--x_0040"]
    z = records["ct_00--AbdomenCT1K--Case_00011--z_0007"]
    assert x.group_key == z.group_key == "AbdomenCT1K/Case_00011"
    assert records["mr_t1--BraTS2021--BraTS2021_00218--z_0141"].modality == "MR"
    assert records["x_ray--covid_19_ct_cxr--16660_5_1--2d_none"].modality == "X-ray"


def test_per_record_terms_mark_brats_not_redistributable(fixture: FixtureInfo) -> None:
    builder = get_builder("samed2d")
    records = {r.case_id: r for r in builder.records(fixture.root)}
    brats = records["mr_t1--BraTS2021--BraTS2021_00218--z_0141"]
    ct = records["ct_00--AbdomenCT1K--Case_00011--x_0040"]
    assert brats.terms == Terms("CC-BY-NC-SA-4.0", redistributable=False)
    assert ct.terms == Terms("CC-BY-NC-SA-4.0", redistributable=True)
    state = dict(vars(builder))
    builder.load(brats)
    builder.load(ct)
    assert vars(builder) == state  # terms come from the record, never from builder state
    assert builder.terms_of(brats).redistributable is False
    assert builder.terms_of(ct).redistributable is True
    assert type(builder).redistributable is False  # the class default stays conservative


def test_boxes_are_one_per_mask_component_on_the_published_grid(fixture: FixtureInfo) -> None:
    builder = get_builder("samed2d")
    checked = 0
    for record in builder.records(fixture.root):
        if record.case_id in REJECTED:
            continue
        pixels = serialize_case(normalize_case(builder.load(record)), SERIALIZE)
        got = sorted((r.label, tuple(r.box)) for r in pixels.regions)
        row = {"id": f"samed2d/{record.case_id}/0"}
        assert set(got) == fixture.expected_regions(row, SERIALIZE), record.case_id
        assert len(got) == len(set(got))
        checked += len(got)
    # 4 masks of Case x_0040 give 5 boxes (the tumor mask holds two components).
    assert checked == 5 + 1 + 2 + 3 + 1


def test_union_classes_are_skipped_and_recorded(fixture: FixtureInfo) -> None:
    builder = get_builder("samed2d")
    record = next(r for r in builder.records(fixture.root) if r.case_id.startswith("x_ray--covid"))
    case = builder.load(record)
    assert {a.label for a in case.boxes} == {"lung", "lung infection"}
    assert any("union_lung_lung_infection" in line for line in case.history)
    assert "lung infection" in case.lesion_labels and "lung" not in case.lesion_labels
    assert case.covered_labels == frozenset()  # both classes of the union have their own masks


def test_union_atoms_read_the_longest_class_names() -> None:
    atoms = sorted(
        ["enhancing_tumor", "non_enhancing_tumor", "necrosis", "edema"], key=lambda n: -len(n)
    )
    assert union_atoms("union_non_enhancing_tumor_necrosis_necrosis", atoms) == (
        "necrosis",
        "non_enhancing_tumor",
    )
    assert union_atoms("union_enhancing_tumor_edema", atoms) == ("edema", "enhancing_tumor")
    assert union_atoms("union_edema_ventricle", atoms) == ()  # a part names no class
    assert union_atoms("edema", atoms) == ()


def test_a_union_mask_covers_its_classes_and_they_are_never_answered_absent(
    fixture: FixtureInfo,
) -> None:
    builder = get_builder("samed2d")
    record = next(r for r in builder.records(fixture.root) if "BraTS2021_00218" in r.case_id)
    case = builder.load(record)
    assert {a.label for a in case.boxes} == {"edema", "enhancing tumor"}
    assert case.covered_labels == frozenset({"necrosis"})
    pixels = serialize_case(normalize_case(case), SERIALIZE)
    asked = 0
    for seed in range(30):
        for question in generate_questions(
            pixels,
            dims=2,
            modality=record.modality,
            vocabulary=sorted(case.labels.values()),
            lesion_vocabulary=case.lesion_labels,
            seed=f"union/{seed}",
            config=QuestionConfig(per_case=40),
        ):
            if "necrosis" in question.text.lower():
                asked += 1
                assert not question.answer.endswith(". No"), question
                assert "necrosis" not in question.answer.lower() or question.evidence, question
    assert asked == 0  # covered: present, but with no region to show, so never asked about


def test_boxes_carry_their_mask_pixel_counts(fixture: FixtureInfo) -> None:
    builder = get_builder("samed2d")
    record = next(r for r in builder.records(fixture.root) if "BraTS2021_00218" in r.case_id)
    case = builder.load(record)
    for box in case.boxes:
        x1, y1, x2, y2 = box.box
        assert box.mask_px is not None and 0 < box.mask_px < (x2 - x1) * (y2 - y1)


def test_check_root_shows_the_layout(tmp_path: Path) -> None:
    builder = get_builder("samed2d")
    with pytest.raises(SourceLayoutError, match=r"SAMed2D_v1\.json is missing") as raised:
        builder.check_root(tmp_path)
    assert builder.layout in str(raised.value)


def test_build_rejects_malformed_entries_and_goes_on(release: Path, fixture: FixtureInfo) -> None:
    reasons: dict[str, set[str]] = {}
    for path in (release / ".build" / "rejections" / "samed2d").glob("*.jsonl"):
        for line in path.read_text(encoding="utf-8").splitlines():
            record = json.loads(line)
            reasons.setdefault(record["case_id"], set()).add(record["reason"])
    for case_id, reason in REJECTED.items():
        assert reason in reasons.get(case_id, set()), (case_id, reasons.get(case_id))
    staged = {
        row["id"].removeprefix("samed2d/").rpartition("/")[0]
        for path in (release / ".build" / "staged" / "samed2d").glob("*.parquet")
        for row in pq.read_table(path, columns=["id"]).to_pylist()
    }
    assert staged == set(fixture.case_ids) - set(REJECTED)


def test_publish_and_load_dataset(
    release: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    publish(release, version="0.1.0")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    import datasets

    loaded = datasets.load_dataset(str(release), "2d", cache_dir=str(tmp_path / "cache"))
    rows = [row for split in loaded.values() for row in split]
    assert rows and {row["source"] for row in rows} == {"samed2d"}
    assert {row["license"] for row in rows} == {"CC-BY-NC-SA-4.0"}
    groups: dict[str, set[str]] = {}
    for row in rows:
        case = row["id"].removeprefix("samed2d/").rpartition("/")[0]
        groups.setdefault(row["group_id"], set()).add(case)
        splits = {r["split"] for r in rows if r["group_id"] == row["group_id"]}
        assert len(splits) == 1  # every slice of a case in one split
    assert {
        "ct_00--AbdomenCT1K--Case_00011--x_0040",
        "ct_00--AbdomenCT1K--Case_00011--z_0007",
    } in groups.values()
