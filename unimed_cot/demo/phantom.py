"""The embedded demo source: a seeded, procedurally generated set of 2D images and 3D volumes.

``generate_phantom(root)`` writes real files that the ``phantom`` builder then reads through the
same imaging readers as any public source::

    root/phantom.json                     parameters, label tables, lesions, 2D pixel spacing
    root/cases.csv                        case_id,dims,modality,patient_id
    root/3d/images/phantom3d-NNNN.nii.gz  CT (HU, int16) and T1-like MR (int16) volumes
    root/3d/labels/phantom3d-NNNN.nii.gz  uint8 label maps, same grid and affine
    root/2d/images/phantom2d-NNNN.png     8-bit chest radiographs (PA) and abdominal CT slices
    root/2d/masks/phantom2d-NNNN.png      uint8 label values

The volumes are written in several voxel orders (LPS, RAS, permuted axes) while the anatomy stays
put in world space: a reader that ignores the affine gets the patient's left and right wrong, and
the tests catch it. Every scan of one patient shares the patient's anatomy (a follow-up scan),
so splitting by case instead of by patient would leak.

Generation is deterministic: the same parameters give byte-identical files (nibabel writes gzip
with mtime 0; PNGs carry no timestamp). Data license: Apache-2.0, like the project.
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from nibabel import orientations
from PIL import Image
from scipy import ndimage

from unimed_cot.imaging import write_nifti
from unimed_cot.records import Volume

from .shapes import (
    CT_LABELS,
    CT_SLICE_LABELS,
    LESION_NAMES,
    MR_LABELS,
    XRAY_LABELS,
    Grid,
    add_ct_lesion,
    add_mr_tumor,
    ct_anatomy,
    ct_slice_values,
    label_value,
    mr_anatomy,
    place_lesion,
    xray_anatomy,
)

GENERATOR_VERSION = 1
MANIFEST = "phantom.json"
CASES_CSV = "cases.csv"
CASE_COLUMNS = ("case_id", "dims", "modality", "patient_id")

# Voxel orders cycled over the volumes (period 5, co-prime with MR_EVERY so that both CT and MR
# meet every order): nibabel axcodes, i.e. the direction each array axis points to.
ORIENTATIONS: tuple[tuple[str, str, str], ...] = (
    ("L", "P", "S"),  # DICOM-like, the most common NIfTI export (CT-RATE, BraTS)
    ("R", "A", "S"),  # nibabel / MONAI canonical
    ("L", "P", "S"),
    ("P", "L", "S"),  # in-plane axes swapped
    ("I", "P", "L"),  # slices first, as in KiTS / PanTS exports
)
MR_EVERY = 6  # every 6th volume is a brain MR
FOLLOW_UP_3D = 5  # volume i with i % 5 == 4 belongs to the patient of volume i - 1
FOLLOW_UP_2D = 6  # image i with i % 6 == 5 belongs to the patient of image i - 1
CT_SHAPE = (96, 96, 64)
MR_SHAPE = (96, 96, 64)
SIZE_RANGE_2D = (300, 520)
QWEN_PATCH = 28  # published sizes are multiples of 28; the sources must make the resizer work
WINDOW_2D_CT = (400.0, 40.0)  # abdomen soft-tissue window W/L (3d-sources.md §14.1)


@dataclass(frozen=True, slots=True)
class PhantomCase:
    """One generated case as listed in ``cases.csv``."""

    case_id: str
    dims: int
    modality: str
    patient_id: str


def generate_phantom(
    root: Path, *, n_images_2d: int = 48, n_volumes_3d: int = 24, seed: int = 0
) -> Path:
    """Write the phantom source into ``root`` (idempotent) and return ``root``.

    When ``root/phantom.json`` records the same parameters and generator version and all files
    are there, nothing is written. Otherwise earlier phantom files are removed and everything is
    generated again; ``phantom.json`` is written last, so an interrupted run is redone.

    Args:
        root: output folder (created if needed).
        n_images_2d: number of 2D images (alternating chest X-ray and abdominal CT slice).
        n_volumes_3d: number of volumes (every 6th a brain MR, the others chest/abdomen CT).
        seed: seed of every random draw; the same seed gives byte-identical files.

    Raises:
        ValueError: a negative count.
    """
    if n_images_2d < 0 or n_volumes_3d < 0:
        raise ValueError("the phantom needs non-negative n_images_2d and n_volumes_3d")
    root = Path(root)
    params = {
        "generator_version": GENERATOR_VERSION,
        "seed": int(seed),
        "n_images_2d": int(n_images_2d),
        "n_volumes_3d": int(n_volumes_3d),
    }
    if _up_to_date(root, params):
        return root
    _clear(root)
    for folder in ("3d/images", "3d/labels", "2d/images", "2d/masks"):
        (root / folder).mkdir(parents=True, exist_ok=True)

    cases: list[PhantomCase] = []
    lesions: list[dict[str, Any]] = []
    orientation_3d: dict[str, str] = {}
    spacing_2d: dict[str, list[float]] = {}
    patient = 0
    for index in range(n_volumes_3d):
        patient += 0 if index % FOLLOW_UP_3D == FOLLOW_UP_3D - 1 else 1
        case = _write_volume(root, index, seed=seed, patient=patient, lesions=lesions)
        cases.append(case)
        orientation_3d[case.case_id] = "".join(ORIENTATIONS[index % len(ORIENTATIONS)])
    for index in range(n_images_2d):
        patient += 0 if index % FOLLOW_UP_2D == FOLLOW_UP_2D - 1 else 1
        case, spacing = _write_image(root, index, seed=seed, patient=patient, lesions=lesions)
        cases.append(case)
        spacing_2d[case.case_id] = [spacing, spacing]

    with (root / CASES_CSV).open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(CASE_COLUMNS)
        for case in cases:
            writer.writerow((case.case_id, case.dims, case.modality, case.patient_id))
    manifest = {
        **params,
        "license": "Apache-2.0",
        "labels_2d": {"X-ray": _json_table(XRAY_LABELS), "CT": _json_table(CT_SLICE_LABELS)},
        "labels_3d_ct": _json_table(CT_LABELS),
        "labels_3d_mr": _json_table(MR_LABELS),
        "lesion_names": list(LESION_NAMES),
        "lesions": lesions,
        "orientation_3d": orientation_3d,
        "pixel_spacing_2d": spacing_2d,
    }
    partial = root / (MANIFEST + ".partial")
    partial.write_text(json.dumps(manifest, indent=1) + "\n", encoding="utf-8")
    partial.replace(root / MANIFEST)
    return root


# --- 3D ------------------------------------------------------------------------------------------


def _write_volume(
    root: Path, index: int, *, seed: int, patient: int, lesions: list[dict[str, Any]]
) -> PhantomCase:
    case_id = f"phantom3d-{index:04d}"
    anatomy_rng = np.random.default_rng([seed, 3, 0, patient])  # shared by a patient's scans
    rng = np.random.default_rng([seed, 3, 1, index])
    is_mr = index % MR_EVERY == MR_EVERY - 1
    ordinal = index // MR_EVERY if is_mr else index - index // MR_EVERY
    found: list[tuple[str, str, tuple[int, ...], float]] = []
    if is_mr:
        spacing = (2.4 + rng.uniform(-0.2, 0.2), 2.4 + rng.uniform(-0.2, 0.2), 3.5)
        grid = Grid.centered(MR_SHAPE, spacing)
        labels, values = mr_anatomy(grid, anatomy_rng)
        for _ in _lesion_plan(rng, ("brain tumor",), ordinal, first_present=True):
            placed = add_mr_tumor(grid, labels, values, rng)
            if placed is not None:
                found.append(("brain tumor", *placed))
        x = grid.axes[0][:, None, None]
        values *= 1.0 + 0.08 * x / np.abs(x).max()  # coil bias field, as in real T1 scans
        values = values + rng.normal(0.0, 12.0, values.shape)
        array = np.clip(np.rint(values), 0, 4095).astype(np.int16)
    else:
        in_plane = 3.5 + rng.uniform(-0.3, 0.3)
        spacing = (in_plane, in_plane, float(rng.choice([4.5, 5.0, 5.0, 5.5])))
        grid = Grid.centered(CT_SHAPE, spacing)
        labels, values = ct_anatomy(grid, anatomy_rng)
        for name in _lesion_plan(rng, ("liver tumor", "kidney cyst", "lung nodule"), ordinal):
            placed = add_ct_lesion(grid, labels, values, rng, name)
            if placed is not None:
                found.append((name, *placed))
        values = values + rng.normal(0.0, 10.0, values.shape)
        array = np.clip(np.rint(values), -1024, 3071).astype(np.int16)

    affine = _lps_affine(grid, rng)
    table = MR_LABELS if is_mr else CT_LABELS
    for name, host, center, radius in found:
        world = affine @ np.array([*center, 1.0])
        lesions.append(
            {
                "case_id": case_id,
                "name": name,
                "host": host,
                "label": label_value(table, name),
                "center_ras_mm": [round(float(v), 2) for v in world[:3]],
                "radius_mm": round(radius, 2),
            }
        )
    target = ORIENTATIONS[index % len(ORIENTATIONS)]
    image, label_map = _reorient(array, affine, target), _reorient(labels, affine, target)
    write_nifti(image, root / "3d/images" / f"{case_id}.nii.gz")
    write_nifti(label_map, root / "3d/labels" / f"{case_id}.nii.gz")
    return PhantomCase(case_id, 3, "MR" if is_mr else "CT", _patient_id(patient))


def _lps_affine(grid: Grid, rng: np.random.Generator) -> npt.NDArray[np.float64]:
    """Voxel -> RAS+ mm affine of the generation grid, whose axes point Left, Posterior, Superior.

    RAS x grows to the patient's right, so the Left-pointing first axis has a negative column;
    the origin puts the grid centre near the isocentre, with a table offset along z.
    """
    sx, sy, sz = (float(s) for s in grid.spacing)
    affine = np.diag([-sx, -sy, sz, 1.0])
    affine[:3, 3] = [
        -float(grid.axes[0][0]) + rng.uniform(-10.0, 10.0),
        -float(grid.axes[1][0]) + rng.uniform(-10.0, 10.0),
        float(grid.axes[2][0]) + rng.uniform(-150.0, 50.0),
    ]
    return affine


def _reorient(
    array: npt.NDArray[Any], affine: npt.NDArray[np.float64], target: tuple[str, str, str]
) -> Volume:
    """The same voxels in another voxel order, with the affine that keeps them in world space."""
    start = orientations.io_orientation(affine)
    transform = orientations.ornt_transform(start, orientations.axcodes2ornt(target))
    moved = np.ascontiguousarray(orientations.apply_orientation(array, transform))
    new_affine = affine @ orientations.inv_ornt_aff(transform, array.shape)
    return Volume(array=moved, affine=new_affine)


# --- 2D ------------------------------------------------------------------------------------------


def _write_image(
    root: Path, index: int, *, seed: int, patient: int, lesions: list[dict[str, Any]]
) -> tuple[PhantomCase, float]:
    case_id = f"phantom2d-{index:04d}"
    rng = np.random.default_rng([seed, 2, 1, index])
    is_xray = index % 2 == 0
    ordinal = index // 2
    height, width = _size_2d(rng), _size_2d(rng)
    found: list[tuple[str, str, tuple[int, ...], float]] = []
    if is_xray:
        spacing = float(rng.uniform(380.0, 430.0)) / max(height, width)  # 35x43 cm detector
        grid = Grid.centered((height, width), (spacing, spacing))
        mask, values = xray_anatomy(grid, rng)
        for _ in _lesion_plan(rng, ("lung nodule",), ordinal):
            lungs = (mask == 1) | (mask == 2)
            placed = place_lesion(grid, lungs, rng, radius_range=(5.0, 12.0))
            if placed is not None:
                ball, center, radius = placed
                host = XRAY_LABELS[int(mask[center])]
                mask[ball] = label_value(XRAY_LABELS, "lung nodule")
                values[ball] += 65.0
                found.append(("lung nodule", host, center, radius))
        values = ndimage.gaussian_filter(values, 1.5) + rng.normal(0.0, 3.0, values.shape)
        pixels = np.clip(np.rint(values), 0, 255).astype(np.uint8)
    else:
        spacing = float(rng.uniform(360.0, 420.0)) / min(height, width)
        axes = Grid.centered((width, height), (spacing, spacing)).axes
        grid = Grid((*axes, np.array([float(rng.uniform(-5.0, 10.0))])))  # one axial plane
        labels3d, hu = ct_anatomy(grid, rng)
        for name in _lesion_plan(rng, ("liver tumor",), ordinal):
            in_slice = add_ct_lesion(grid, labels3d, hu, rng, name)
            if in_slice is not None:
                host, (i, j, _), radius = in_slice
                found.append((name, host, (j, i), radius))  # (row, col) of the published image
        # Radiological display of an LPS grid: rows run anterior -> posterior, columns patient
        # right -> left, so the liver is on the image left (3d-sources.md §15).
        mask = np.ascontiguousarray(ct_slice_values(labels3d)[:, :, 0].T)
        hu2 = ndimage.gaussian_filter(hu[:, :, 0].T, 0.8) + rng.normal(0.0, 8.0, mask.shape)
        low = WINDOW_2D_CT[1] - WINDOW_2D_CT[0] / 2.0
        pixels = np.clip(np.rint((hu2 - low) / WINDOW_2D_CT[0] * 255.0), 0, 255).astype(np.uint8)

    table = XRAY_LABELS if is_xray else CT_SLICE_LABELS
    for name, host, (row, col), radius in found:
        lesions.append(
            {
                "case_id": case_id,
                "name": name,
                "host": host,
                "label": label_value(table, name),
                "center_px": [int(col), int(row)],
                "radius_mm": round(radius, 2),
            }
        )
    Image.fromarray(pixels).save(root / "2d/images" / f"{case_id}.png", format="PNG")
    Image.fromarray(mask.astype(np.uint8)).save(root / "2d/masks" / f"{case_id}.png", format="PNG")
    modality = "X-ray" if is_xray else "CT"
    return PhantomCase(case_id, 2, modality, _patient_id(patient)), round(spacing, 4)


def _size_2d(rng: np.random.Generator) -> int:
    """An image side in SIZE_RANGE_2D that is not a multiple of 28 (so resizing is exercised)."""
    while True:
        side = int(rng.integers(SIZE_RANGE_2D[0], SIZE_RANGE_2D[1] + 1))
        if side % QWEN_PATCH:
            return side


# --- shared --------------------------------------------------------------------------------------


def _lesion_plan(
    rng: np.random.Generator, kinds: tuple[str, ...], ordinal: int, *, first_present: bool = False
) -> list[str]:
    """Which lesion kinds a case gets: half the cases each kind, at random.

    The first two cases of each kind are fixed (one without, one with every lesion), so any
    seed and any count of at least two gives existence questions both answers.
    """
    draws = [bool(rng.random() < 0.5) for _ in kinds]  # always drawn: later draws stay aligned
    if ordinal < 2:
        present = (ordinal == 0) == first_present
        return list(kinds) if present else []
    return [kind for kind, drawn in zip(kinds, draws, strict=True) if drawn]


def _patient_id(number: int) -> str:
    return f"PAT-{number:04d}"


def _json_table(table: dict[int, str]) -> dict[str, str]:
    return {str(value): name for value, name in sorted(table.items())}


def expected_files(root: Path, *, n_images_2d: int, n_volumes_3d: int) -> list[Path]:
    """Every image and label file the given counts produce (the manifests aside)."""
    files = []
    for index in range(n_volumes_3d):
        name = f"phantom3d-{index:04d}.nii.gz"
        files += [root / "3d/images" / name, root / "3d/labels" / name]
    for index in range(n_images_2d):
        name = f"phantom2d-{index:04d}.png"
        files += [root / "2d/images" / name, root / "2d/masks" / name]
    return files


def _up_to_date(root: Path, params: dict[str, int]) -> bool:
    try:
        manifest = json.loads((root / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    if not isinstance(manifest, dict) or any(manifest.get(k) != v for k, v in params.items()):
        return False
    files = expected_files(
        root, n_images_2d=params["n_images_2d"], n_volumes_3d=params["n_volumes_3d"]
    )
    return (root / CASES_CSV).is_file() and all(path.is_file() for path in files)


def _clear(root: Path) -> None:
    """Remove what an earlier generation wrote (only phantom files; the manifest goes first)."""
    for name in (MANIFEST, MANIFEST + ".partial", CASES_CSV):
        (root / name).unlink(missing_ok=True)
    patterns = {"3d/images": "phantom3d-*.nii.gz", "3d/labels": "phantom3d-*.nii.gz"}
    patterns |= {"2d/images": "phantom2d-*.png", "2d/masks": "phantom2d-*.png"}
    for folder, pattern in patterns.items():
        for path in (root / folder).glob(pattern):
            path.unlink()
