"""DeepLesion: HU from the 16-bit PNGs, boxes and types from DL_info.csv, the slice's own window,
spacing (y, x), official split, patient groups, and no claim that a box-only annotation cannot
back (no absence, no size)."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow.parquet as pq
import pytest
from fixtures import make_fixture
from fixtures.deeplesion import GOOD, LUNG, SOFT, draw_slice

from unimed_cot.builders import get_builder
from unimed_cot.errors import SourceLayoutError
from unimed_cot.imaging import SerializeConfig
from unimed_cot.pipeline.config import BuildConfig
from unimed_cot.pipeline.run import run_build
from unimed_cot.records import Split

SERIALIZE = SerializeConfig(n_slices=8, slice_size=112, max_side_2d=224)


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    base = tmp_path_factory.mktemp("deeplesion")
    return make_fixture("deeplesion", base / "input").root


@pytest.fixture(scope="module")
def rows(root: Path, tmp_path_factory: pytest.TempPathFactory) -> list[dict[str, Any]]:
    out = tmp_path_factory.mktemp("deeplesion-build") / "unimed-cot"
    run_build(BuildConfig(source="deeplesion", out=out, input=root, serialize=SERIALIZE))
    found: list[dict[str, Any]] = []
    for path in sorted((out / ".build" / "staged" / "deeplesion").glob("*.parquet")):
        found.extend(pq.read_table(path).to_pylist())
    assert found
    return found


def _records(root: Path) -> dict[str, Any]:
    return {r.case_id: r for r in get_builder("deeplesion").records(root)}


def test_pixels_are_hounsfield_units_with_spacing_row_col(root: Path) -> None:
    builder = get_builder("deeplesion")
    record = _records(root)["000089_01_01_037"]
    case = builder.load(record)
    expected = draw_slice(GOOD[0], seed=0)  # what the PNG holds, minus the 32768 offset
    assert case.image.array.dtype == np.float32
    np.testing.assert_array_equal(case.image.array, expected)
    # Spacing_mm_px_ "0.8, 0.7, 5" is x, y, z: rows are 0.7 mm apart, columns 0.8 mm.
    assert case.image.spacing_mm == (0.7, 0.8)


def test_boxes_types_and_the_recist_pad_clip(root: Path) -> None:
    builder = get_builder("deeplesion")
    records = _records(root)
    untyped = builder.load(records["000089_01_01_037"])
    # RECIST x 3..40, y 176..209, padded by 5 px: x1 = -2 lies in the pad and is clipped to 0.
    assert [(b.label, b.box) for b in untyped.boxes] == [("lesion", (0.0, 171.0, 45.0, 214.0))]
    assert untyped.vocabulary == ()  # no typed distractor for a lesion of unknown type
    typed = builder.load(records["000097_01_01_055"])
    assert sorted((b.label, b.box) for b in typed.boxes) == [
        ("liver lesion", (245.0, 285.0, 335.0, 345.0)),
        ("lung lesion", (145.0, 175.0, 175.0, 198.0)),
    ]
    assert typed.lesion_labels == {"liver lesion", "lung lesion"}
    assert "pelvic lesion" in typed.vocabulary


def test_the_slice_window_is_the_sources_own(root: Path, rows: list[dict[str, Any]]) -> None:
    builder = get_builder("deeplesion")
    records = _records(root)
    assert builder.load(records["000089_01_01_037"]).source_window == SOFT
    assert builder.load(records["000100_02_01_012"]).source_window == LUNG
    # Two lesions read in different windows: no single source window, presets by type.
    assert builder.load(records["000097_01_01_055"]).source_window is None
    windows: dict[str, set[str]] = {}
    for row in rows:
        windows.setdefault(row["id"].split("/")[1], set()).add(row["window"])
    assert windows["000089_01_01_037"] == {"CT source W450 L50"}
    assert windows["000100_02_01_012"] == {"CT source W2000 L-500"}
    assert windows["000097_01_01_055"] <= {"CT abdomen W400 L50", "CT lung W1500 L-600"}
    lung = [r for r in rows if r["id"].startswith("deeplesion/000097") and "lung" in r["window"]]
    assert lung and all({reg["label"] for reg in r["regions"]} & {"lung lesion"} for r in lung), (
        "the lung window is chosen for questions whose evidence is the lung lesion"
    )


def test_official_split_and_patient_groups(root: Path, rows: list[dict[str, Any]]) -> None:
    records = _records(root)
    assert records["000089_01_01_037"].official_split == Split.TRAIN
    assert records["000100_02_01_012"].official_split == Split.VALIDATION
    assert records["000097_01_01_055"].official_split == Split.TEST
    assert records["000100_02_01_012"].group_key == records["000100_02_01_014"].group_key == "100"
    splits = {r["id"].split("/")[1]: r["split"] for r in rows}
    assert splits["000089_01_01_037"] == "train"
    assert splits["000097_01_01_055"] == "test"
    assert splits["000100_02_01_014"] == "validation"


def test_box_only_rows_claim_no_absence_and_no_size(rows: list[dict[str, Any]]) -> None:
    for row in rows:
        assert row["answer"] != "B. No" and "No" not in row["options"], row["id"]
        assert row["question_type"] != "size_comparison", row["id"]
        assert "None of these findings" not in row["options"], row["id"]
        think = row["reasoning"]
        assert "mm²" not in think and " pixels" not in think and " ml" not in think, think


def test_a_wrong_folder_shows_the_layout(tmp_path: Path) -> None:
    builder = get_builder("deeplesion")
    (tmp_path / "Images_png").mkdir()
    with pytest.raises(SourceLayoutError, match=r"DL_info\.csv") as raised:
        list(builder.records(tmp_path))
    assert builder.layout in str(raised.value)


def test_a_missing_column_is_named(root: Path, tmp_path: Path) -> None:
    with (root / "DL_info.csv").open(newline="", encoding="utf-8") as handle:
        table = list(csv.reader(handle))
    (tmp_path / "Images_png").mkdir()
    with (tmp_path / "DL_info.csv").open("w", newline="", encoding="utf-8") as handle:
        csv.writer(handle).writerows([row[:-1] for row in table])  # no Train_Val_Test
    with pytest.raises(SourceLayoutError, match="Train_Val_Test"):
        list(get_builder("deeplesion").records(tmp_path))


def _truth_boxes(case_id: str) -> list[tuple[str, tuple[float, float, float, float]]]:
    """The fixture's lesions of one slice: (type name, box clipped to the slice)."""
    item = next(s for s in GOOD if s.case_id == case_id)
    names = {-1: "lesion", 3: "mediastinum lesion", 4: "liver lesion", 5: "lung lesion"}
    boxes = []
    for lesion in item.lesions:
        x1, y1, x2, y2 = lesion.box
        clipped = (max(0.0, x1), max(0.0, y1), min(item.size, x2), min(item.size, y2))
        boxes.append((names[lesion.kind], clipped))
    return boxes


def test_answers_follow_the_drawn_lesions(rows: list[dict[str, Any]]) -> None:
    vertical, horizontal = ("Upper", "Middle", "Lower"), ("left", "middle", "right")
    checked = 0
    for row in rows:
        case_id = row["id"].split("/")[1]
        truth = _truth_boxes(case_id)
        answer = row["answer"].split(". ", 1)[1]
        if row["question_type"] == "structure_localization":
            asked = [int(v) for v in row["question"].split("[", 1)[1].split("]", 1)[0].split(",")]
            (region,) = [r for r in row["regions"] if list(r["box"]) == asked]
            assert answer == region["label"] and answer in {label for label, _ in truth}
            checked += 1
        if row["question_type"] == "spatial_localization":
            label = next(name for name, _ in truth if name in row["question"])
            (box,) = [b for name, b in truth if name == label]
            size = next(s.size for s in GOOD if s.case_id == case_id)
            fx, fy = (box[0] + box[2]) / 2 / size, (box[1] + box[3]) / 2 / size
            cell = (int(fy * 3), int(fx * 3))
            expected = (
                "Center of the image"
                if cell == (1, 1)
                else f"{vertical[cell[0]]} {horizontal[cell[1]]} of the image"
            )
            assert answer == expected, (row["id"], answer, expected)
            checked += 1
    assert checked >= 4
