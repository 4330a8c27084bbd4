"""The phantom demo source: deterministic files, realistic values, world-space anatomy, builder.

World coordinates are nibabel's RAS+ millimetres: x grows towards the patient's RIGHT, so the liver
(patient right) has a LARGER RAS x than the spleen (patient left), whatever the file's voxel order.
"""

from __future__ import annotations

import csv
import json
import shutil
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING, Any

import nibabel as nib
import numpy as np
import numpy.typing as npt
import pytest
from PIL import Image
from scipy import ndimage

from unimed_cot.demo.phantom import generate_phantom
from unimed_cot.errors import SourceLayoutError
from unimed_cot.imaging import LabelMismatchError
from unimed_cot.records import Image2D, Volume

if TYPE_CHECKING:
    from unimed_cot.builders import Builder

N_2D, N_3D = 8, 12  # 12 volumes: every voxel order of the cycle and two MR volumes


@pytest.fixture(scope="module")
def phantom(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return generate_phantom(
        tmp_path_factory.mktemp("phantom") / "src", n_images_2d=N_2D, n_volumes_3d=N_3D, seed=3
    )


def _builder() -> Builder:
    # Imported here: ruff cannot see that `builders/` installs as `unimed_cot.builders`, and would
    # sort it with the third-party imports.
    from unimed_cot.builders import get_builder

    return get_builder("phantom")


def _manifest(root: Path) -> dict[str, Any]:
    return json.loads((root / "phantom.json").read_text())


def _table(manifest: dict[str, Any], key: str) -> dict[str, int]:
    return {name: int(value) for value, name in manifest[key].items()}


def _nifti(path: Path) -> nib.Nifti1Image:
    image = nib.load(path)
    assert isinstance(image, nib.Nifti1Image)
    return image


def _volumes(root: Path) -> list[tuple[str, nib.Nifti1Image, npt.NDArray[np.integer]]]:
    out = []
    for path in sorted((root / "3d/images").glob("*.nii.gz")):
        labels = _nifti(root / "3d/labels" / path.name)
        out.append((path.name.removesuffix(".nii.gz"), _nifti(path), np.asarray(labels.dataobj)))
    return out


def _is_mr(image: nib.Nifti1Image) -> bool:
    return bool(np.asarray(image.dataobj).min() >= 0)  # CT holds air at about -1000 HU


def _world_centroid(mask: npt.NDArray[np.bool_], affine: npt.NDArray[np.float64]) -> np.ndarray:
    index = np.argwhere(mask).mean(axis=0)
    return (affine @ np.append(index, 1.0))[:3]


def _files(root: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()
    }


# --- generation ----------------------------------------------------------------------------------


def test_same_seed_gives_identical_bytes_and_another_seed_differs(tmp_path: Path) -> None:
    first = _files(generate_phantom(tmp_path / "a", n_images_2d=4, n_volumes_3d=6, seed=1))
    again = _files(generate_phantom(tmp_path / "b", n_images_2d=4, n_volumes_3d=6, seed=1))
    other = _files(generate_phantom(tmp_path / "c", n_images_2d=4, n_volumes_3d=6, seed=2))
    assert len(first) == 2 + 2 * 4 + 2 * 6
    assert first == again
    pixels = [name for name in first if "/images/" in name]
    assert len(pixels) == 10
    assert all(first[name] != other[name] for name in pixels)


def test_regeneration_is_idempotent_and_parameter_changes_regenerate(tmp_path: Path) -> None:
    root = generate_phantom(tmp_path / "p", n_images_2d=3, n_volumes_3d=2, seed=0)
    stamps = {p: p.stat().st_mtime_ns for p in root.rglob("*") if p.is_file()}
    marker = root / "3d/images/phantom3d-0001.nii.gz"
    marker.write_bytes(b"untouched")  # any rewrite would replace this
    generate_phantom(root, n_images_2d=3, n_volumes_3d=2, seed=0)
    assert marker.read_bytes() == b"untouched"
    stamps[marker] = marker.stat().st_mtime_ns
    assert {p: p.stat().st_mtime_ns for p in root.rglob("*") if p.is_file()} == stamps

    (root / "2d/masks/phantom2d-0001.png").unlink()  # an incomplete folder is redone
    generate_phantom(root, n_images_2d=3, n_volumes_3d=2, seed=0)
    assert (root / "2d/masks/phantom2d-0001.png").is_file()

    generate_phantom(root, n_images_2d=1, n_volumes_3d=2, seed=0)
    assert sorted(p.name for p in (root / "2d/images").iterdir()) == ["phantom2d-0000.png"]
    assert _manifest(root)["n_images_2d"] == 1
    assert not list(root.glob("*.partial"))


def test_negative_counts_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="non-negative"):
        generate_phantom(tmp_path, n_images_2d=-1)


def test_cases_csv_groups_some_cases_by_patient(phantom: Path) -> None:
    with (phantom / "cases.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    assert list(rows[0]) == ["case_id", "dims", "modality", "patient_id"]
    assert len(rows) == N_2D + N_3D
    assert Counter(r["modality"] for r in rows) == {"CT": 10 + 4, "MR": 2, "X-ray": 4}
    assert all(r["patient_id"].startswith("PAT-") and len(r["patient_id"]) == 8 for r in rows)
    per_patient = Counter(r["patient_id"] for r in rows)
    assert max(per_patient.values()) == 2
    assert sum(1 for n in per_patient.values() if n == 2) >= 3


# --- 3D: values, orientation, anatomy ------------------------------------------------------------

CT_MEDIANS = {  # name -> accepted median HU inside the structure
    "liver": (40, 80),
    "spleen": (25, 60),
    "left kidney": (15, 45),
    "right kidney": (15, 45),
    "aorta": (140, 200),
    "vertebra": (600, 800),
    "left lung": (-900, -800),
    "right lung": (-900, -800),
    "liver tumor": (5, 35),
    "kidney cyst": (-10, 20),
    "lung nodule": (-90, -10),
}


def test_ct_and_mr_values_are_realistic(phantom: Path) -> None:
    manifest = _manifest(phantom)
    ct, mr = _table(manifest, "labels_3d_ct"), _table(manifest, "labels_3d_mr")
    for case_id, image, labels in _volumes(phantom):
        data = np.asarray(image.dataobj)
        assert data.dtype == np.int16 and labels.dtype == np.uint8, case_id
        assert labels.shape == data.shape
        if _is_mr(image):
            assert data.max() <= 1500
            brain = np.median(data[labels == mr["brain"]])
            ventricles = np.median(data[labels == mr["left lateral ventricle"]])
            assert 550 < brain < 750 and ventricles < brain - 250, case_id
            continue
        assert np.median(data[labels == 0][:1000]) < -950  # the first voxels are air
        for name, (low, high) in CT_MEDIANS.items():
            mask = labels == ct[name]
            if name in ("liver tumor", "kidney cyst", "lung nodule") and not mask.any():
                continue
            assert low <= np.median(data[mask]) <= high, (case_id, name)
        assert 3.0 <= image.header.get_zooms()[0] <= 6.0


def test_files_use_several_voxel_orders(phantom: Path) -> None:
    codes = [nib.aff2axcodes(image.affine) for _, image, _ in _volumes(phantom)]
    assert ("L", "P", "S") in codes
    assert ("R", "A", "S") in codes
    assert any(c[0] not in ("L", "R") for c in codes)  # a permuted axis order
    assert Counter(codes).most_common(1)[0][0] == ("L", "P", "S")
    for case_id, image, _ in _volumes(phantom):
        label_affine = _nifti(phantom / "3d/labels" / f"{case_id}.nii.gz").affine
        np.testing.assert_allclose(label_affine, image.affine)


def test_anatomy_is_consistent_in_world_space(phantom: Path) -> None:
    manifest = _manifest(phantom)
    ct, mr = _table(manifest, "labels_3d_ct"), _table(manifest, "labels_3d_mr")
    raw_signs = set()
    for case_id, image, labels in _volumes(phantom):
        affine = image.affine
        if _is_mr(image):
            left = _world_centroid(labels == mr["left lateral ventricle"], affine)
            right = _world_centroid(labels == mr["right lateral ventricle"], affine)
            assert right[0] > left[0] + 15, case_id
            continue

        def at(
            name: str,
            labels: npt.NDArray[np.integer] = labels,
            affine: npt.NDArray[np.float64] = affine,
        ) -> np.ndarray:
            return _world_centroid(labels == ct[name], affine)

        liver, spleen = at("liver"), at("spleen")
        assert liver[0] > spleen[0] + 50, case_id  # patient right = larger RAS x
        assert at("right kidney")[0] > at("left kidney")[0], case_id
        assert at("right lung")[0] > at("left lung")[0], case_id
        assert at("aorta")[1] > at("vertebra")[1] + 20, case_id  # anterior = larger RAS y
        assert at("left lung")[2] > at("left kidney")[2] + 60, case_id  # superior = larger z
        assert (labels == ct["liver"]).sum() > 4 * (labels == ct["spleen"]).sum(), case_id

        canonical = np.asarray(
            nib.as_closest_canonical(_nifti(Path(str(image.get_filename())))).dataobj
        )
        canonical_labels = np.asarray(
            nib.as_closest_canonical(_nifti(phantom / "3d/labels" / f"{case_id}.nii.gz")).dataobj
        )
        assert canonical.shape[2] == min(canonical.shape)  # slices last after reorientation
        liver_i = np.argwhere(canonical_labels == ct["liver"])[:, 0].mean()
        spleen_i = np.argwhere(canonical_labels == ct["spleen"])[:, 0].mean()
        assert liver_i > spleen_i  # RAS voxel order: index 0 grows to the right
        raw_liver = np.argwhere(labels == ct["liver"])[:, 0].mean()
        raw_spleen = np.argwhere(labels == ct["spleen"])[:, 0].mean()
        raw_signs.add(bool(raw_liver > raw_spleen))
    # Reading voxel order without the affine would put the liver on either side.
    assert raw_signs == {True, False}


def test_lesions_sit_inside_their_hosts_and_match_the_manifest(phantom: Path) -> None:
    manifest = _manifest(phantom)
    tables = {3: {}, 2: {}}  # type: ignore[var-annotated]
    tables[3]["CT"], tables[3]["MR"] = (
        _table(manifest, "labels_3d_ct"),
        _table(manifest, "labels_3d_mr"),
    )
    tables[2] = {m: {n: int(v) for v, n in t.items()} for m, t in manifest["labels_2d"].items()}
    lesions = manifest["lesions"]
    assert {lesion["name"] for lesion in lesions} == {
        "liver tumor",
        "kidney cyst",
        "lung nodule",
        "brain tumor",
    }
    for lesion in lesions:
        case_id = lesion["case_id"]
        if case_id.startswith("phantom3d"):
            labels_img = _nifti(phantom / "3d/labels" / f"{case_id}.nii.gz")
            labels = np.asarray(labels_img.dataobj)
            table = tables[3]["MR" if lesion["name"] == "brain tumor" else "CT"]
            centre = np.linalg.inv(labels_img.affine) @ np.append(lesion["center_ras_mm"], 1.0)
            assert labels[tuple(np.rint(centre[:3]).astype(int))] == lesion["label"]
        else:
            labels = np.asarray(Image.open(phantom / "2d/masks" / f"{case_id}.png"))
            table = tables[2]["X-ray" if lesion["name"] == "lung nodule" else "CT"]
            col, row = lesion["center_px"]
            assert labels[row, col] == lesion["label"]
        assert table[lesion["name"]] == lesion["label"]
        mask = labels == lesion["label"]
        rim = ndimage.binary_dilation(mask) & ~mask
        assert rim.any() and (labels[rim] == table[lesion["host"]]).all(), (case_id, lesion)

    cases = [row["case_id"] for row in csv.DictReader((phantom / "cases.csv").open())]
    with_lesion = {lesion["case_id"] for lesion in lesions}
    assert with_lesion and set(cases) - with_lesion
    for prefix in ("phantom3d", "phantom2d"):
        assert any(c.startswith(prefix) for c in with_lesion)
        assert any(c.startswith(prefix) for c in set(cases) - with_lesion)


# --- 2D ------------------------------------------------------------------------------------------


def test_2d_images_look_like_radiographs_and_ct_slices(phantom: Path) -> None:
    manifest = _manifest(phantom)
    xray = {n: int(v) for v, n in manifest["labels_2d"]["X-ray"].items()}
    ct = {n: int(v) for v, n in manifest["labels_2d"]["CT"].items()}
    modality = {r["case_id"]: r["modality"] for r in csv.DictReader((phantom / "cases.csv").open())}
    for path in sorted((phantom / "2d/images").glob("*.png")):
        case_id = path.stem
        with Image.open(path) as image:
            assert image.mode == "L"
            pixels = np.asarray(image)
        mask = np.asarray(Image.open(phantom / "2d/masks" / path.name))
        assert mask.shape == pixels.shape and mask.dtype == np.uint8
        assert all(300 <= side <= 520 and side % 28 for side in pixels.shape)
        assert len(manifest["pixel_spacing_2d"][case_id]) == 2

        def col(value: int, mask: npt.NDArray[np.uint8] = mask) -> float:
            return float(np.argwhere(mask == value)[:, 1].mean())

        if modality[case_id] == "X-ray":
            assert set(np.unique(mask)) <= {0, *xray.values()}
            # PA radiograph: the patient's right lung is on the image left.
            assert col(xray["right lung"]) < col(xray["left lung"])
            lungs = pixels[mask == xray["right lung"]].mean()
            assert lungs + 60 < pixels[mask == xray["heart"]].mean()
        else:
            assert set(np.unique(mask)) <= {0, *ct.values()}
            assert col(ct["liver"]) < col(ct["spleen"])  # radiological view
            vertebra_row = np.argwhere(mask == ct["vertebra"])[:, 0].mean()
            assert vertebra_row > np.argwhere(mask == ct["liver"])[:, 0].mean()
            assert pixels[mask == ct["vertebra"]].mean() > 240  # bone saturates W400 L40


# --- builder -------------------------------------------------------------------------------------


def test_builder_declares_the_source() -> None:
    builder = _builder()
    assert builder.license == "Apache-2.0" and builder.redistributable
    assert set(builder.modalities) == {"CT", "MR", "X-ray"} and set(builder.dims) == {2, 3}
    assert "@software" in builder.citation and "phantom3d-NNNN.nii.gz" in builder.layout


def test_builder_lists_and_loads_every_kind_of_case(phantom: Path) -> None:
    builder = _builder()
    builder.check_root(phantom)
    records = list(builder.records(phantom))
    assert len(records) == N_2D + N_3D
    assert [r.case_id for r in records] == sorted(r.case_id for r in records)
    patients = {
        r["case_id"]: r["patient_id"] for r in csv.DictReader((phantom / "cases.csv").open())
    }
    assert all(r.group_key == patients[r.case_id] for r in records)
    by_kind = {(r.dims, r.modality): r for r in records}
    assert set(by_kind) == {(3, "CT"), (3, "MR"), (2, "X-ray"), (2, "CT")}

    ct = builder.load(by_kind[(3, "CT")])
    assert isinstance(ct.image, Volume) and isinstance(ct.label_map, Volume)
    assert ct.image.array.dtype == np.int16 and ct.image.shape == ct.label_map.shape
    assert ct.labels[1] == "liver" and len(ct.labels) == 11
    assert ct.lesion_labels == {"liver tumor", "kidney cyst", "lung nodule"}

    mr = builder.load(by_kind[(3, "MR")])
    assert set(mr.labels.values()) == {
        "brain",
        "left lateral ventricle",
        "right lateral ventricle",
        "brain tumor",
    }
    assert mr.lesion_labels == {"brain tumor"}

    record = by_kind[(2, "X-ray")]
    xray = builder.load(record)
    assert isinstance(xray.image, Image2D) and xray.image.array.dtype == np.uint8
    spacing = tuple(_manifest(phantom)["pixel_spacing_2d"][record.case_id])
    assert xray.image.spacing_mm == spacing and 0.6 < spacing[0] < 1.5
    assert xray.labels == {1: "right lung", 2: "left lung", 3: "heart", 4: "lung nodule"}
    assert xray.lesion_labels == {"lung nodule"}
    assert builder.load(by_kind[(2, "CT")]).lesion_labels == {"liver tumor"}


def test_check_root_names_the_expected_layout(tmp_path: Path) -> None:
    builder = _builder()
    with pytest.raises(SourceLayoutError) as error:
        builder.check_root(tmp_path)
    assert "phantom.json is missing" in str(error.value)
    assert builder.layout in str(error.value)
    (tmp_path / "phantom.json").write_text('{"generator_version": 1}')
    with pytest.raises(SourceLayoutError, match=r"cases\.csv is missing"):
        list(builder.records(tmp_path))


def test_bad_files_are_rejected_with_value_errors(phantom: Path, tmp_path: Path) -> None:
    root = tmp_path / "copy"
    shutil.copytree(phantom, root)
    builder = _builder()
    records = {r.case_id: r for r in builder.records(root)}
    (root / "3d/images/phantom3d-0000.nii.gz").write_bytes(b"not a volume")
    with pytest.raises(ValueError, match=r"phantom3d-0000\.nii\.gz"):
        builder.load(records["phantom3d-0000"])
    Image.fromarray(np.zeros((10, 10), np.uint8)).save(root / "2d/masks/phantom2d-0000.png")
    with pytest.raises(LabelMismatchError, match="differs"):
        builder.load(records["phantom2d-0000"])
    Image.fromarray(np.full((301, 301), 77, np.uint8)).save(root / "2d/images/phantom2d-0001.png")
    Image.fromarray(np.full((301, 301), 77, np.uint8)).save(root / "2d/masks/phantom2d-0001.png")
    with pytest.raises(ValueError, match=r"\[77\]"):
        builder.load(records["phantom2d-0001"])


def test_default_input_generates_the_full_demo_once(tmp_path: Path) -> None:
    builder = _builder()
    root = builder.default_input(tmp_path)
    assert root == tmp_path / ".build" / "inputs" / "phantom"
    manifest = _manifest(root)
    assert (manifest["n_images_2d"], manifest["n_volumes_3d"], manifest["seed"]) == (48, 24, 0)
    assert len(list(builder.records(root))) == 72
    stamp = (root / "phantom.json").stat().st_mtime_ns
    assert builder.default_input(tmp_path) == root
    assert (root / "phantom.json").stat().st_mtime_ns == stamp
