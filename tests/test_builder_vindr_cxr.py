"""VinDr-CXR: reader boxes merged by majority, consensus test boxes kept, "No finding" images as
verified negatives, MONOCHROME1 shown bone-bright, the PA frame declared, and no finding denied
that a reader saw."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pyarrow.parquet as pq
import pytest
from fixtures import make_fixture
from fixtures.images2d import draw_radiograph
from fixtures.vindr_cxr import (
    ABNORMAL,
    HEIGHT,
    MIXED,
    NORMAL,
    TEST_ABNORMAL,
    TEST_NORMAL,
    TRAIN_ROWS,
    TRUTH,
    UNCERTAIN,
    WIDTH,
    mean_box,
    write_dicom,
)

from builders._readers import ReaderBox, agree
from builders.vindr_cxr import LOCAL_FINDINGS, _image_axes
from unimed_cot.builders import get_builder
from unimed_cot.errors import SourceLayoutError
from unimed_cot.imaging import SerializeConfig
from unimed_cot.pipeline.config import BuildConfig
from unimed_cot.pipeline.run import run_build
from unimed_cot.questions import QuestionConfig
from unimed_cot.questions.findings import NONE_OF_THESE
from unimed_cot.questions.vocabulary import same_or_kind
from unimed_cot.records import Split

SERIALIZE = SerializeConfig(n_slices=8, slice_size=112, max_side_2d=224)


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_fixture("vindr_cxr", tmp_path_factory.mktemp("vindr") / "input").root


@pytest.fixture(scope="module")
def rows(root: Path, tmp_path_factory: pytest.TempPathFactory) -> list[dict[str, Any]]:
    out = tmp_path_factory.mktemp("vindr-build") / "unimed-cot"
    # Ten questions per image, so that Yes/No pairs come after the first round of families.
    config = BuildConfig(
        source="vindr_cxr",
        out=out,
        input=root,
        serialize=SERIALIZE,
        questions=QuestionConfig(per_case=10),
    )
    run_build(config)
    found: list[dict[str, Any]] = []
    for path in sorted((out / ".build" / "staged" / "vindr_cxr").glob("*.parquet")):
        found.extend(pq.read_table(path).to_pylist())
    assert found
    return found


def _case_of(row: dict[str, Any]) -> str:
    return str(row["id"]).split("/")[1]


def test_the_truth_table_is_the_majority_mean_of_the_reader_rows() -> None:
    """The fixture's TRUTH restates its rows: boxes of 2+ readers of 3, at their mean."""
    for key, rows in TRAIN_ROWS.items():
        boxes: dict[str, list[tuple[int, int, int, int]]] = {}
        for _, name, box in rows:
            if box is not None:
                boxes.setdefault(name, []).append(box)
        majority = {
            (n, tuple(int(v) for v in mean_box(b))) for n, b in boxes.items() if len(b) >= 2
        }
        assert majority == TRUTH[key]


def test_reader_boxes_merge_by_majority(root: Path) -> None:
    records = {r.case_id: r for r in get_builder("vindr_cxr").records(root)}
    for key in (ABNORMAL, MIXED, TEST_ABNORMAL, NORMAL, TEST_NORMAL):
        payload = records[key].payload
        assert {(label, tuple(int(v) for v in box)) for label, box in payload.boxes} == TRUTH[key]
        assert all(v == int(v) for _, box in payload.boxes for v in box)
        assert payload.uncertain == frozenset(UNCERTAIN.get(key, set()))
    assert records[ABNORMAL].official_split == Split.TRAIN
    assert records[TEST_ABNORMAL].official_split == Split.TEST
    assert records[ABNORMAL].group_key == ABNORMAL  # no patient id is released


def test_agreement_needs_distinct_readers_and_overlap() -> None:
    a = ReaderBox("R1", "Nodule/Mass", (0.0, 0.0, 10.0, 10.0))
    same_reader = ReaderBox("R1", "Nodule/Mass", (1.0, 1.0, 11.0, 11.0))
    far = ReaderBox("R2", "Nodule/Mass", (50.0, 50.0, 60.0, 60.0))
    close = ReaderBox("R3", "Nodule/Mass", (2.0, 0.0, 12.0, 10.0))  # IoU 8/12
    # One reader's two boxes never back each other; a far box is another finding.
    alone = agree([a, same_reader, far], readers=3)
    assert alone.boxes == () and alone.uncertain == {"Nodule/Mass"}
    agreed = agree([a, close, far], readers=3)
    assert agreed.boxes == (("Nodule/Mass", (1.0, 0.0, 11.0, 10.0)),)
    assert agreed.uncertain == {"Nodule/Mass"}  # the far box: one reader only


def test_monochrome1_is_shown_bone_bright_and_the_pa_frame_is_declared(root: Path) -> None:
    builder = get_builder("vindr_cxr")
    records = {r.case_id: r for r in builder.records(root)}
    case = builder.load(records[ABNORMAL])  # stored as MONOCHROME1 (4095 - 16 * value)
    drawn, _ = draw_radiograph(HEIGHT, WIDTH, seed=sorted(TRUTH).index(ABNORMAL) + 1)
    shown = np.asarray(case.image.array, dtype=np.float64)
    assert shown.shape == (HEIGHT, WIDTH) and case.image.array.dtype == np.uint8
    assert np.corrcoef(shown.ravel(), drawn.astype(np.float64).ravel())[0, 1] > 0.95
    assert case.image.spacing_mm == (0.2, 0.2)
    assert case.image_axes == ("L", "I")  # PatientOrientation L\F: +x patient left, +y feet
    assert case.findings_exhaustive and set(case.labels.values()) == set(LOCAL_FINDINGS)
    assert "Pleural effusion" in case.covered_labels  # one reader of three


def test_image_axes_follow_the_view(tmp_path: Path) -> None:
    import pydicom

    pixels, _ = draw_radiograph(64, 64, seed=1)
    path = tmp_path / "lateral.dicom"
    write_dicom(path, pixels)
    ds = pydicom.dcmread(path)
    del ds.PatientOrientation
    ds.ViewPosition = "LL"
    ds.save_as(path, enforce_file_format=True)
    assert _image_axes(path) is None  # a lateral view: sides stay in the image's frame
    ds.ViewPosition = "PA"
    ds.save_as(path, enforce_file_format=True)
    assert _image_axes(path) == ("L", "I")  # the release's PA convention
    ds.PatientOrientation = ["R", "F"]  # a horizontally flipped image says so
    ds.save_as(path, enforce_file_format=True)
    assert _image_axes(path) == ("R", "I")
    ds.PatientOrientation = ["LH", "F"]  # oblique: no frame is claimed
    ds.save_as(path, enforce_file_format=True)
    assert _image_axes(path) is None


def test_no_finding_images_are_verified_negatives(rows: list[dict[str, Any]]) -> None:
    for key in (NORMAL, TEST_NORMAL):
        case_rows = [r for r in rows if _case_of(r) == key]
        assert case_rows, key
        for row in case_rows:
            assert row["answer"].endswith(NONE_OF_THESE) and row["regions"] == []
            others = [o for o in row["options"] if o != NONE_OF_THESE]
            assert len(others) == 3 and set(others) <= set(LOCAL_FINDINGS)


def test_no_finding_a_reader_saw_is_ever_denied(rows: list[dict[str, Any]]) -> None:
    asked = 0
    for row in rows:
        key = _case_of(row)
        shown = {label for label, _ in TRUTH[key]}
        seen = shown | UNCERTAIN.get(key, set())
        assert not {r["label"] for r in row["regions"]} & UNCERTAIN.get(key, set())
        if any(o == NONE_OF_THESE for o in row["options"]):
            asked += 1
            correct = row["answer"].split(". ", 1)[1]
            wrong = [o for o in row["options"] if o != correct]
            assert correct == NONE_OF_THESE or correct in shown, row["id"]
            for option in wrong:
                if option != NONE_OF_THESE:
                    assert not any(same_or_kind(option, s) for s in seen), (row["id"], option)
        if row["options"] == ["Yes", "No"]:
            named = {
                label for label in LOCAL_FINDINGS if label.casefold() in row["question"].casefold()
            }
            assert named, row["question"]
            if row["answer"] == "B. No":  # annotated absent: no reader boxed it
                assert not named & seen and not any(same_or_kind(n, s) for n in named for s in seen)
            else:
                assert named & shown, (row["id"], row["question"])
    positives = {_case_of(r) for r in rows if r["options"] and NONE_OF_THESE in r["options"]}
    assert asked >= 4 and {ABNORMAL, MIXED, TEST_ABNORMAL} <= positives
    answers = [r["answer"] for r in rows if r["options"] == ["Yes", "No"]]
    assert answers.count("A. Yes") == answers.count("B. No") > 0


def test_relations_are_in_the_patients_frame(rows: list[dict[str, Any]]) -> None:
    relations = [r for r in rows if r["question_type"] == "spatial_relationship"]
    assert relations
    for row in relations:
        text = " ".join(row["options"])
        assert "patient's" in text or "Superior" in text or "Inferior" in text, row["options"]
        assert "left of the" not in text.replace("patient's left of", "")


def test_the_kaggle_copy_reads_the_same_boxes(root: Path, tmp_path: Path) -> None:
    """Kaggle's train.csv: other column order, a class_id column, the same train/ folder."""
    import csv
    import shutil

    shutil.copytree(root / "train", tmp_path / "train")
    with (root / "annotations" / "annotations_train.csv").open(encoding="utf-8") as handle:
        lines = list(csv.DictReader(handle))
    ids = {name: str(i) for i, name in enumerate(LOCAL_FINDINGS)} | {"No finding": "14"}
    header = ["image_id", "class_name", "class_id", "rad_id", "x_min", "y_min", "x_max", "y_max"]
    with (tmp_path / "train.csv").open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=header)
        writer.writeheader()
        writer.writerows({**line, "class_id": ids.get(line["class_name"], "99")} for line in lines)
    physionet = {r.case_id: r for r in get_builder("vindr_cxr").records(root)}
    kaggle = {r.case_id: r for r in get_builder("vindr_cxr").records(tmp_path)}
    for key in (ABNORMAL, MIXED, NORMAL):
        assert kaggle[key].payload == physionet[key].payload
        assert kaggle[key].official_split == Split.TRAIN
    assert TEST_ABNORMAL not in kaggle


def test_a_wrong_folder_shows_the_layout(tmp_path: Path) -> None:
    builder = get_builder("vindr_cxr")
    (tmp_path / "train").mkdir()
    with pytest.raises(SourceLayoutError, match="annotations_train") as raised:
        list(builder.records(tmp_path))
    assert builder.layout in str(raised.value)


def test_class_names_match_case_insensitively_and_unknown_ones_are_named() -> None:
    from builders.vindr_cxr import EntryProblemError, _payload

    def line(name: str, box: tuple[str, ...] = ("1", "1", "5", "5")) -> dict[str, str]:
        return dict(
            zip(
                ("image_id", "rad_id", "class_name", "x_min", "y_min", "x_max", "y_max"),
                ("a", "R1", name, *box),
                strict=True,
            )
        )

    payload = _payload(
        [(2, line("nodule/mass")), (3, line("no  finding", ("",) * 4))], consensus=True
    )
    assert payload.boxes == (("Nodule/Mass", (1.0, 1.0, 5.0, 5.0)),)
    assert payload.global_labels == {"No finding"}
    with pytest.raises(EntryProblemError, match="Fracture") as raised:
        _payload([(2, line("Fracture"))], consensus=True)
    assert raised.value.reason.value == "undeclared-label"
