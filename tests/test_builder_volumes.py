"""The ``volumes`` builder (bring your own 3D data): listing, geometry, terms, bad folders, CLI.

Ground truth is drawn in the canonical LPS frame (``tests/fixtures/volumes.py``) and written in
other voxel orders and formats; published boxes must equal the ones recomputed from it.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow.parquet as pq
import pytest
from fixtures import lps_from_ras_file, published_stack_lps, regions_of_grid
from fixtures import volumes as fx
from typer.testing import CliRunner

from unimed_cot.builders import load_case
from unimed_cot.cli import app
from unimed_cot.errors import SourceLayoutError
from unimed_cot.imaging import ImagingError, SerializeConfig, normalize_case, serialize_case
from unimed_cot.reasons import RecordError, reason_of
from unimed_cot.records import SourceRecord, Split, Terms
from unimed_cot.samples import SerializedImages

SERIALIZE = SerializeConfig(n_slices=8, slice_size=112)


def _builder() -> Any:
    from unimed_cot.builders import get_builder

    return get_builder("volumes")


def _serialize(record: SourceRecord) -> SerializedImages:
    case = normalize_case(_builder().load(record))
    return serialize_case(case, SERIALIZE)


def _regions(pixels: SerializedImages) -> set[tuple[str, tuple[int, ...]]]:
    return {(r.label, tuple(r.box)) for r in pixels.regions}


def _truth(
    pixels: SerializedImages, labels: np.ndarray, affine: np.ndarray
) -> set[tuple[str, tuple[int, ...]]]:
    stack = published_stack_lps(
        labels, affine, slice_positions_mm=pixels.slice_positions_mm, slice_size=112
    )
    return regions_of_grid(stack, labels=fx.LABELS, lesions=fx.LESIONS)


def _folder(root: Path) -> Path:
    (root / "images").mkdir(parents=True)
    (root / "labels").mkdir()
    fx.write_labels_json(root)
    return root


@pytest.fixture(scope="module")
def source(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("volumes") / "src"
    fx.make_fixture(root)
    return root


def test_listing_carries_groups_splits_labels_and_problems(source: Path) -> None:
    records = {r.case_id: r for r in _builder().records(source)}
    assert list(records) == sorted(records)
    assert records["lps01"].group_key == records["ras02"].group_key == "P1"
    assert records["perm03"].official_split is Split.TEST
    assert records["lps01"].official_split is None
    assert records["perm03"].image == source / "images" / "perm03.nii"
    assert records["lps01"].label == source / "labels" / "lps01.nii.gz"
    assert records["nolabel04"].label is None
    assert records["lps01"].modality == "CT" and records["lps01"].dims == 3
    for case_id, reason in fx.REJECTED.items():
        if reason in ("unsafe-path", "missing-image"):
            with pytest.raises(RecordError) as raised:
                load_case(_builder(), records[case_id])
            assert reason_of(raised.value) == reason


def test_every_voxel_order_publishes_the_ground_truth(source: Path) -> None:
    records = {r.case_id: r for r in _builder().records(source)}
    for index, case_id in enumerate(fx.GOOD_CASES):
        labels = fx.draw_case(index)[1]
        pixels = _serialize(records[case_id])
        assert len(pixels.images) == 8
        assert _regions(pixels) == _truth(pixels, labels, fx.lps_affine(7.0 * index)), case_id


def test_lps_and_ras_copies_serialize_to_identical_slices(tmp_path: Path) -> None:
    root = _folder(tmp_path / "src")
    hu, labels = fx.draw_case(0)
    affine = fx.lps_affine()
    for case_id, axcodes in (("a", "LPS"), ("b", "RAS"), ("c", "IPR")):
        fx.write_nifti(*fx.reorder(hu, affine, axcodes), root / "images" / f"{case_id}.nii.gz")
        fx.write_nifti(*fx.reorder(labels, affine, axcodes), root / "labels" / f"{case_id}.nii.gz")
    a, b, c = (_serialize(r) for r in _builder().records(root))
    for other in (b, c):
        assert all(np.array_equal(x, y) for x, y in zip(a.images, other.images, strict=True))
        assert _regions(other) == _regions(a)
        assert other.slice_positions_mm == pytest.approx(a.slice_positions_mm)
    assert _regions(a) == _truth(a, labels, affine)
    # The liver (patient right) is on the image's left: the radiological view.
    liver = next(r.box for r in a.regions if r.label == "liver")
    spleen = next(r.box for r in a.regions if r.label == "spleen")
    assert liver[3] <= spleen[0]


def test_label_map_in_another_voxel_order_is_compared_in_the_canonical_frame(
    tmp_path: Path,
) -> None:
    root = _folder(tmp_path / "src")
    hu, labels = fx.draw_case(1)
    affine = fx.lps_affine()
    fx.write_nifti(hu, affine, root / "images" / "case.nii.gz")  # LPS voxel order
    fx.write_nifti(*fx.reorder(labels, affine, "RAS"), root / "labels" / "case.nii.gz")
    (record,) = _builder().records(root)
    case = _builder().load(record)
    assert any("label map reoriented" in line for line in case.history)
    pixels = serialize_case(normalize_case(case), SERIALIZE)
    assert _regions(pixels) == _truth(pixels, labels, affine)


def test_terms_come_from_labels_json(tmp_path: Path, source: Path) -> None:
    builder = _builder()
    records = {r.case_id: r for r in builder.records(source)}
    assert builder.terms_of(records["lps01"]) == Terms("CC-BY-4.0", redistributable=True)
    assert type(builder).license == "other" and type(builder).redistributable is False

    root = tmp_path / "plain"
    shutil.copytree(source, root)
    table = json.loads((root / "labels.json").read_text())
    del table["license"], table["redistributable"]
    (root / "labels.json").write_text(json.dumps(table))
    builder = _builder()
    record = next(r for r in builder.records(root) if r.case_id == "lps01")
    assert builder.terms_of(record) == Terms("other", redistributable=False)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda root: (root / "labels.json").unlink(), "labels.json is missing"),
        (lambda root: (root / "labels.json").write_text("{"), "not readable JSON"),
        (lambda root: _edit(root, labels={"0": "air"}), "not a positive integer"),
        (lambda root: _edit(root, labels={"one": "liver"}), "not a positive integer"),
        (lambda root: _edit(root, labels={"1": "a", "2": "a"}), "the same name"),
        (lambda root: _edit(root, modality="PET-CT-X"), 'needs "modality"'),
        (lambda root: _edit(root, lesions=["kidney cyst"]), "are not label names"),
        (lambda root: _edit(root, license="CC BY 4.0!"), "not an SPDX id"),
        (lambda root: _edit(root, redistributable="yes"), "must be true or false"),
        (lambda root: _edit(root, hu_offset=-32768), '"hu_offset" is for 2D images'),
        (lambda root: shutil.rmtree(root / "images"), "images/ is missing"),
        (lambda root: (root / "cases.csv").write_text("id,patient\nx,y\n"), "cases.csv columns"),
        (lambda root: (root / "cases.csv").write_text("case,patient_id,split\nx,y,dev\n"), "dev"),
    ],
)
def test_a_wrong_folder_names_the_problem_and_the_layout(
    tmp_path: Path, source: Path, change: Any, message: str
) -> None:
    root = tmp_path / "src"
    shutil.copytree(source, root)
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


def test_stray_and_duplicate_files_are_rejected_cases(tmp_path: Path) -> None:
    root = _folder(tmp_path / "src")
    hu, labels = fx.draw_case(0)
    affine = fx.lps_affine()
    fx.write_nifti(hu, affine, root / "images" / "a.nii.gz")
    fx.write_nifti(hu, affine, root / "images" / "a.nii")
    fx.write_nifti(hu, affine, root / "images" / "b.nii.gz")
    fx.write_nifti(labels, affine, root / "labels" / "b.nii.gz")
    fx.write_nifti(labels, affine, root / "labels" / "b.nii")
    (root / "images" / "notes.txt").write_text("scanner protocol")
    (root / "images" / ".DS_Store").write_bytes(b"\0")
    reasons = {}
    for record in _builder().records(root):
        with pytest.raises(RecordError) as raised:
            load_case(_builder(), record)
        reasons[record.case_id] = reason_of(raised.value)
    assert reasons == {"a": "duplicate-case", "b": "duplicate-case", "notes": "unsupported-file"}


def test_cli_build_publish_load(
    tmp_path: Path, source: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    release = tmp_path / "unimed-cot"
    runner = CliRunner()
    args = ["build", "--source", "volumes", "--input", str(source), "--out", str(release)]
    result = runner.invoke(app, [*args, "--slices", "8", "--slice-size", "112", "--no-progress"])
    assert result.exit_code == 0, result.output
    assert "undeclared-label" in result.output and "label-mismatch" in result.output
    result = runner.invoke(app, ["publish", str(release), "--version", "0.1.0"])
    assert result.exit_code == 0, result.output
    result = runner.invoke(app, ["validate", str(release)])
    assert result.exit_code == 0, result.output

    rows = [
        row
        for path in sorted((release / "data" / "3d").glob("*.parquet"))
        for row in pq.read_table(path, columns=["id", "license", "split"]).to_pylist()
    ]
    assert {row["id"].split("/")[1] for row in rows} == set(fx.GOOD_CASES)
    assert {row["license"] for row in rows} == {"CC-BY-4.0"}
    assert {row["split"] for row in rows if "/perm03/" in row["id"]} == {"test"}
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    import datasets

    ds = datasets.load_dataset(str(release), "3d", cache_dir=str(tmp_path / "cache"))
    assert sum(split.num_rows for split in ds.values()) == len(rows)
    assert "test" in ds and set(ds["test"]["source"]) == {"volumes"}


def test_a_nonexistent_input_is_one_line_and_exit_2(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        app, ["build", "--source", "volumes", "--input", str(tmp_path / "nope")]
    )
    assert result.exit_code == 2
    assert "Traceback" not in result.output and "labels.json" in result.output


# --- other formats: NRRD (SimpleITK) and DICOM series (pydicom), once the readers have them ----


def _probe(path: Path) -> None:
    from unimed_cot.imaging import read_volume

    try:
        read_volume(path)
    except ImagingError as error:
        pytest.skip(f"read_volume does not read {path.name} yet: {error}")


def test_nrrd_and_mha_volumes(tmp_path: Path) -> None:
    sitk = pytest.importorskip("SimpleITK", reason="SimpleITK is not installed")
    root = _folder(tmp_path / "src")
    hu, labels = fx.draw_case(2)
    affine = fx.lps_affine(offset=3.0)

    def write(array: np.ndarray, path: Path) -> None:
        # ITK's physical space is LPS; the affine is RAS+: flip x and y of origin and direction.
        image = sitk.GetImageFromArray(np.ascontiguousarray(array.transpose(2, 1, 0)))
        spacing = np.linalg.norm(affine[:3, :3], axis=0)
        to_lps = np.diag([-1.0, -1.0, 1.0])
        image.SetSpacing([float(s) for s in spacing])
        image.SetOrigin([float(v) for v in to_lps @ affine[:3, 3]])
        image.SetDirection([float(v) for v in (to_lps @ (affine[:3, :3] / spacing)).ravel()])
        sitk.WriteImage(image, str(path), useCompression=True)

    write(hu, root / "images" / "n.nrrd")
    write(labels, root / "labels" / "n.nrrd")
    write(hu, root / "images" / "m.mha")
    write(labels, root / "labels" / "m.mha")
    _probe(root / "images" / "n.nrrd")
    for record in _builder().records(root):
        pixels = _serialize(record)
        assert _regions(pixels) == _truth(pixels, labels, affine), record.case_id


def test_dicom_series_with_a_nifti_label_map(tmp_path: Path) -> None:
    pydicom = pytest.importorskip("pydicom", reason="pydicom is not installed")
    from pydicom.data import get_testdata_file
    from pydicom.uid import generate_uid

    root = _folder(tmp_path / "src")
    series = root / "images" / "ct"
    series.mkdir()
    template = pydicom.dcmread(get_testdata_file("CT_small.dcm"))
    n_slices, gap = 12, 2.5
    origin = np.array([float(v) for v in template.ImagePositionPatient])
    row_dir, col_dir = (
        np.array([float(v) for v in template.ImageOrientationPatient[i : i + 3]]) for i in (0, 3)
    )
    normal = np.cross(row_dir, col_dir)
    series_uid = generate_uid()
    for k in range(n_slices):
        ds = pydicom.dcmread(get_testdata_file("CT_small.dcm"))
        ds.SeriesInstanceUID = series_uid
        ds.SOPInstanceUID = generate_uid()
        ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
        ds.ImagePositionPatient = [f"{v:.4f}" for v in origin + k * gap * normal]
        ds.InstanceNumber = n_slices - k  # reversed: order must come from positions
        ds.save_as(series / f"IM{(k * 7) % n_slices:04d}.dcm")
    _probe(series)

    # Label map on the series grid, as a NIfTI: voxel (col, row, slice) -> LPS mm -> RAS mm.
    row_mm, col_mm = (float(v) for v in template.PixelSpacing)
    lps = np.eye(4)
    lps[:3, 0], lps[:3, 1], lps[:3, 2] = row_dir * col_mm, col_dir * row_mm, normal * gap
    lps[:3, 3] = origin
    affine = np.diag([-1.0, -1.0, 1.0, 1.0]) @ lps
    labels = np.zeros((int(template.Columns), int(template.Rows), n_slices), dtype=np.uint8)
    labels[30:70, 40:90, 2:9] = 1  # "liver"
    labels[80:95, 50:65, 4:7] = 2  # "liver tumor"
    fx.write_nifti(labels, affine, root / "labels" / "ct.nii.gz")

    (record,) = _builder().records(root)
    pixels = _serialize(record)
    truth_labels, truth_affine = lps_from_ras_file(root / "labels" / "ct.nii.gz")
    assert _regions(pixels) == _truth(pixels, truth_labels, truth_affine)


@pytest.mark.parametrize(
    ("name", "safe"),
    [
        ("case01", True),
        ("case.01.nii.gz", True),
        ("../../etc/passwd", False),
        ("/etc/passwd", False),
        ("a/../../b", False),
        ("..\\..\\windows", False),
        ("C:\\data\\x.png", False),
        ("", False),
    ],
)
def test_names_from_csv_files_must_stay_inside_the_folder(name: str, safe: bool) -> None:
    from unimed_cot.builders._userdata import is_safe_name

    assert is_safe_name(name) is safe


@pytest.mark.parametrize(
    ("values", "undeclared"),
    [([0, 1, 2, 3], []), ([0, 3, 9], [9]), ([-1, 0, 1], [-1]), ([0, 2, 70_000], [70_000])],
)
def test_undeclared_label_values_are_found(values: list[int], undeclared: list[int]) -> None:
    from unimed_cot.builders._userdata import UndeclaredLabelError, undeclared_values

    array = np.zeros((6, 5, 4), dtype=np.int32)
    array.reshape(-1)[: len(values)] = values
    if not undeclared:
        undeclared_values(array, fx.LABELS, case_id="c", name="c.nii.gz")
        return
    with pytest.raises(UndeclaredLabelError, match=re.escape(str(undeclared))):
        undeclared_values(array, fx.LABELS, case_id="c", name="c.nii.gz")
