"""The ``images2d`` builder (bring your own 2D data): masks, boxes, rejections, terms, CLI."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pyarrow.parquet as pq
import pytest
from fixtures import images2d as fx
from PIL import Image
from typer.testing import CliRunner

from unimed_cot.builders import load_case
from unimed_cot.cli import app
from unimed_cot.errors import SourceLayoutError
from unimed_cot.imaging import ImagingError, SerializeConfig, normalize_case, serialize_case
from unimed_cot.reasons import RecordError, reason_of
from unimed_cot.records import AnnotatedBox, SourceRecord, Terms
from unimed_cot.samples import SerializedImages

SERIALIZE = SerializeConfig()  # the default published sizes (longest side 448)


def _builder() -> Any:
    from unimed_cot.builders import get_builder

    return get_builder("images2d")


def _serialize(record: SourceRecord) -> SerializedImages:
    return serialize_case(normalize_case(_builder().load(record)), SERIALIZE)


def _regions(pixels: SerializedImages) -> set[tuple[str, tuple[int, ...]]]:
    return {(r.label, tuple(r.box)) for r in pixels.regions}


@pytest.fixture(scope="module")
def fixture(tmp_path_factory: pytest.TempPathFactory) -> Any:
    return fx.make_fixture(tmp_path_factory.mktemp("images2d") / "src")


def test_listing_groups_masks_and_boxes(fixture: Any) -> None:
    records = {r.case_id: r for r in _builder().records(fixture.root)}
    assert list(records) == sorted(records)
    assert set(records) == set(fixture.case_ids)
    assert records["cxr01"].group_key == records["cxr02"].group_key == "P1"
    assert records["cxr03"].group_key == "cxr03"
    assert records["cxr01"].label == fixture.root / "masks" / "cxr01.png"
    assert records["cxr02"].label is None
    assert records["cxr02"].image.name == "cxr02.jpg"
    assert {r.modality for r in records.values()} == {"X-ray"}
    assert records["cxr02"].payload.boxes == (
        AnnotatedBox("heart", (100.0, 80.0, 170.0, 140.0)),
        AnnotatedBox("nodule", (50.0, 40.0, 70.0, 61.0)),
    )


def test_malformed_entries_are_rejected_with_their_reason(fixture: Any) -> None:
    reasons = {}
    for record in _builder().records(fixture.root):
        if record.case_id not in fixture.rejected:
            continue
        try:
            normalize_case(load_case(_builder(), record))
        except RecordError as error:
            reasons[record.case_id] = reason_of(error)
    assert reasons == fixture.rejected


def test_masks_and_boxes_give_the_ground_truth_regions(fixture: Any) -> None:
    records = {r.case_id: r for r in _builder().records(fixture.root)}
    for case_id in ("cxr01", "cxr02", "cxr03"):
        pixels = _serialize(records[case_id])
        row = {"id": f"images2d/{case_id}/0", "dims": 2}
        assert _regions(pixels) == fixture.expected_regions(row, SERIALIZE), case_id
        height, width = pixels.images[0].shape[:2]
        assert height % 28 == 0 and width % 28 == 0
    # 180 x 240 publishes at 168 x 252: (50, 40, 70, 61) scales outward to (52, 37, 74, 57).
    pixels = _serialize(records["cxr02"])
    assert pixels.images[0].shape[:2] == (168, 252)
    assert ("nodule", (52, 37, 74, 57)) in _regions(pixels)
    # Mask regions come first, then the boxes.
    pixels = _serialize(records["cxr03"])
    assert [r.id for r in pixels.regions][-1] == f"R{len(pixels.regions)}"
    size = fx.published_size(210, 210, SERIALIZE)
    assert size == (224, 224)
    assert pixels.regions[-1].box == fx.scaled_box((150, 150, 181, 170), (210, 210), size)
    assert "percentile" in pixels.window  # the 16-bit TIFF was windowed, not truncated


def test_a_box_may_touch_the_far_edge(tmp_path: Path) -> None:
    root = tmp_path / "src"
    (root / "images").mkdir(parents=True)
    fx.write_labels_json(root)
    pixels, _ = fx.draw_radiograph(112, 140, seed=9)
    Image.fromarray(pixels).save(root / "images" / "edge.png")
    with (root / "boxes.csv").open("w", newline="") as handle:
        csv.writer(handle).writerows(
            [["image", "label", "x1", "y1", "x2", "y2"], ["edge.png", "heart", 100, 60, 140, 112]]
        )
    (record,) = _builder().records(root)
    assert _regions(_serialize(record)) == {("heart", (100, 60, 140, 112))}


def test_default_terms_are_other_and_not_redistributable(fixture: Any) -> None:
    builder = _builder()
    record = next(r for r in builder.records(fixture.root) if r.case_id == "cxr01")
    assert builder.terms_of(record) == Terms("other", redistributable=False)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda root: _edit(root, modality=None), 'needs "modality"'),
        (lambda root: _edit(root, labels={}), 'needs "labels"'),
        (lambda root: (root / "boxes.csv").write_text("file,x,y\n"), "boxes.csv columns"),
        (lambda root: shutil.rmtree(root / "images"), "images/ is missing"),
    ],
)
def test_a_wrong_folder_names_the_problem_and_the_layout(
    tmp_path: Path, fixture: Any, change: Any, message: str
) -> None:
    root = tmp_path / "src"
    shutil.copytree(fixture.root, root)
    change(root)
    builder = _builder()
    with pytest.raises(SourceLayoutError) as raised:
        list(builder.records(root))
    assert message in str(raised.value)
    assert builder.layout in str(raised.value)


def _edit(root: Path, **changes: Any) -> None:
    table = json.loads((root / "labels.json").read_text())
    table.update(changes)
    (root / "labels.json").write_text(json.dumps(table))


def test_cli_build_publish_load(
    tmp_path: Path, fixture: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    release = tmp_path / "unimed-cot"
    runner = CliRunner()
    args = ["build", "--source", "images2d", "--input", str(fixture.root), "--out", str(release)]
    result = runner.invoke(app, [*args, "--no-progress"])
    assert result.exit_code == 0, result.output
    assert "bad-box" in result.output and "unsafe-path" in result.output
    for command in (["publish", str(release), "--version", "0.1.0"], ["validate", str(release)]):
        result = runner.invoke(app, command)
        assert result.exit_code == 0, result.output
    rows = [
        row
        for path in sorted((release / "data" / "2d").glob("*.parquet"))
        for row in pq.read_table(path, columns=["id", "license"]).to_pylist()
    ]
    assert {row["id"].split("/")[1] for row in rows} == {"cxr01", "cxr02", "cxr03"}
    assert {row["license"] for row in rows} == {"other"}
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    import datasets

    ds = datasets.load_dataset(str(release), "2d", cache_dir=str(tmp_path / "cache"))
    assert sum(split.num_rows for split in ds.values()) == len(rows)


def test_dicom_image_with_boxes(tmp_path: Path) -> None:
    pydicom = pytest.importorskip("pydicom", reason="pydicom is not installed")
    from pydicom.data import get_testdata_file

    from unimed_cot.imaging import read_image_2d

    root = tmp_path / "src"
    (root / "images").mkdir(parents=True)
    fx.write_labels_json(root)
    shutil.copy(get_testdata_file("CT_small.dcm"), root / "images" / "ct.dcm")
    try:
        image = read_image_2d(root / "images" / "ct.dcm")
    except ImagingError as error:
        pytest.skip(f"read_image_2d does not read DICOM yet: {error}")
    ds = pydicom.dcmread(root / "images" / "ct.dcm")
    assert image.array.shape[:2] == (int(ds.Rows), int(ds.Columns))
    with (root / "boxes.csv").open("w", newline="") as handle:
        csv.writer(handle).writerows(
            [["image", "label", "x1", "y1", "x2", "y2"], ["ct", "nodule", 10, 20, 40, 50]]
        )
    (record,) = _builder().records(root)
    pixels = _serialize(record)
    published = pixels.images[0].shape[:2]
    expected = fx.scaled_box((10, 20, 40, 50), (int(ds.Rows), int(ds.Columns)), published)
    assert _regions(pixels) == {("nodule", expected)}
    assert np.asarray(pixels.images[0]).dtype == np.uint8


def _deeplesion_style(root: Path) -> np.ndarray:
    """A 2D chest CT slice stored as DeepLesion stores it: uint16 PNG of HU + 32768, with a lung
    nodule and a liver lesion as boxes. Returns the HU image."""
    (root / "images").mkdir(parents=True)
    (root / "labels.json").write_text(
        json.dumps(
            {
                "labels": {"1": "lung nodule", "2": "liver lesion"},
                "modality": "CT",
                "lesions": ["lung nodule", "liver lesion"],
                "hu_offset": -32768,
            }
        )
    )
    hu = np.full((224, 224), -1000, np.int32)  # air
    hu[20:204, 20:204] = 40  # soft tissue
    hu[30:110, 30:200] = -800  # lungs
    hu[60:70, 60:70] = 20  # the nodule
    hu[150:170, 120:140] = 90  # the liver lesion
    Image.fromarray((hu + 32768).astype(np.uint16)).save(root / "images" / "000089_01_01_037.png")
    with (root / "boxes.csv").open("w", newline="") as handle:
        csv.writer(handle).writerows(
            [
                ["image", "label", "x1", "y1", "x2", "y2"],
                ["000089_01_01_037.png", "lung nodule", 60, 60, 70, 70],
                ["000089_01_01_037.png", "liver lesion", 120, 150, 140, 170],
            ]
        )
    return hu


def test_deeplesion_style_hu_png_gets_ct_windows_per_question(tmp_path: Path) -> None:
    _deeplesion_style(tmp_path / "src")
    (record,) = _builder().records(tmp_path / "src")
    pixels = _serialize(record)
    # 224 px stays 224 (a multiple of 28): pixel values are the window's, unblended
    assert pixels.window == "CT lung W1500 L-600"  # a lung lesion is present
    lung = pixels.images[0]
    assert lung[100, 100] == round((-800 + 1350) / 1500 * 255)  # lung parenchyma
    assert lung[190, 190] == round((40 + 1350) / 1500 * 255)  # soft tissue
    assert pixels.views is not None
    window, (abdomen,) = pixels.views.for_labels({"liver lesion"})
    assert window == "CT abdomen W400 L50"
    assert abdomen[160, 130] == round((90 + 150) / 400 * 255)  # the lesion
    assert abdomen[100, 100] == 0 and abdomen[5, 5] == 0  # lung and air below the window


def test_deeplesion_style_build_records_each_questions_window(tmp_path: Path) -> None:
    hu = _deeplesion_style(tmp_path / "src")
    # a second slice with the liver lesion only: its questions get the abdomen window
    Image.fromarray((hu + 32768).astype(np.uint16)).save(
        tmp_path / "src" / "images" / "000097_01_01_055.png"
    )
    with (tmp_path / "src" / "boxes.csv").open("a", newline="") as handle:
        csv.writer(handle).writerow(["000097_01_01_055.png", "liver lesion", 120, 150, 140, 170])
    result = CliRunner().invoke(
        app,
        ["build", "--source", "images2d", "--input", str(tmp_path / "src"), "--out",
         str(tmp_path / "ws"), "--no-progress"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    rows = [
        row
        for path in sorted((tmp_path / "ws" / ".build" / "staged" / "images2d").glob("*.parquet"))
        for row in pq.read_table(path).to_pylist()
    ]
    windows = {row["id"].split("/")[1]: set() for row in rows}
    for row in rows:
        windows[row["id"].split("/")[1]].add(row["window"])
        labels = {r["label"] for r in row["regions"]}
        if "lung nodule" in labels:
            assert row["window"] == "CT lung W1500 L-600"
        elif labels == {"liver lesion"}:  # a question about the liver lesion alone
            assert row["window"] == "CT abdomen W400 L50"
    # The nodule's slice asks about both lesions (one window each); the liver slice only has
    # the abdomen window.
    assert windows == {
        "000089_01_01_037": {"CT lung W1500 L-600", "CT abdomen W400 L50"},
        "000097_01_01_055": {"CT abdomen W400 L50"},
    }
    liver_only = next(row for row in rows if row["id"].startswith("images2d/000097"))
    data = liver_only["images"][0]["bytes"]
    png = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
    assert png[160, 130] == round((90 + 150) / 400 * 255)


def test_hu_offset_needs_ct_and_a_16_bit_image(tmp_path: Path) -> None:
    _deeplesion_style(tmp_path / "src")
    _edit(tmp_path / "src", modality="X-ray")
    with pytest.raises(SourceLayoutError, match='"hu_offset" must be a number'):
        list(_builder().records(tmp_path / "src"))
    _edit(tmp_path / "src", modality="CT")
    Image.fromarray(np.zeros((224, 224), np.uint8)).save(
        tmp_path / "src" / "images" / "000089_01_01_037.png"
    )
    (record,) = _builder().records(tmp_path / "src")
    with pytest.raises(ImagingError, match="not a 16-bit grayscale image"):
        _builder().load(record)
