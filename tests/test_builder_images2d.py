"""The ``images2d`` builder (bring your own 2D data): masks, boxes, rejections, terms, CLI."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow.parquet as pq
import pytest
from fixtures import images2d as fx
from PIL import Image
from typer.testing import CliRunner

from unimed_cot.cli import app
from unimed_cot.errors import SourceLayoutError
from unimed_cot.imaging import ImagingError, SerializeConfig, normalize_case, serialize_case
from unimed_cot.pipeline.stages import reason_slug
from unimed_cot.records import SerializedImages, SourceRecord

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
    assert json.loads(records["cxr02"].extra_value("boxes")) == [
        ["heart", 100.0, 80.0, 170.0, 140.0],
        ["nodule", 50.0, 40.0, 70.0, 61.0],
    ]


def test_malformed_entries_are_rejected_with_their_reason(fixture: Any) -> None:
    reasons = {}
    for record in _builder().records(fixture.root):
        if record.case_id not in fixture.rejected:
            continue
        try:
            normalize_case(_builder().load(record))
        except ImagingError as error:
            reasons[record.case_id] = reason_slug(error)
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
    builder.load(next(r for r in builder.records(fixture.root) if r.case_id == "cxr01"))
    assert (builder.license, builder.redistributable) == ("other", False)


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
