"""Every published box equals the box recomputed from the phantom's ground-truth mask files.

The recomputation is independent of the pipeline's reader and reorientation: it reads the label
files with nibabel, goes to the LPS frame with nibabel's own canonical reorientation, and finds
each published slice from ``slice_positions_mm`` through the affine. Only the in-plane resampling
(pad to a square field of view, nearest-neighbour resize) reuses the library's helpers, which
``tests/imaging`` checks on their own.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import nibabel as nib
import numpy as np
import pyarrow.parquet as pq
from scipy import ndimage

from unimed_cot.boxes import box_from_mask_2d, box_from_mask_3d
from unimed_cot.imaging.resize import pad_to_square_fov, qwen_fixed_size, resize_labels


def _rows(release: Path, config: str) -> list[dict]:
    rows: list[dict] = []
    for path in sorted((release / "data" / config).glob("*.parquet")):
        rows.extend(
            pq.read_table(path, columns=["id", "dims", "slice_positions_mm", "regions"]).to_pylist()
        )
    return rows


def _lps_labels(path: Path) -> tuple[np.ndarray, np.ndarray]:
    ras = nib.as_closest_canonical(nib.load(path))
    data = np.asarray(ras.dataobj)[::-1, ::-1, :]  # RAS -> LPS: flip the first two axes
    flip = np.diag([-1.0, -1.0, 1.0, 1.0])
    flip[0, 3] = data.shape[0] - 1
    flip[1, 3] = data.shape[1] - 1
    return data, ras.affine @ flip


def _component_boxes(mask: np.ndarray, structure: np.ndarray) -> set[tuple[int, ...]]:
    components, count = ndimage.label(mask, structure=structure)
    found = set()
    for index in range(1, count + 1):
        box = (
            box_from_mask_3d(components == index)
            if mask.ndim == 3
            else box_from_mask_2d(components == index)
        )
        if box is not None:
            found.add(box)
    return found


def test_3d_boxes_equal_ground_truth(demo_release: Path) -> None:
    inputs = demo_release / ".build" / "inputs" / "phantom"
    meta = json.loads((inputs / "phantom.json").read_text())
    modality = {r["case_id"]: r["modality"] for r in csv.DictReader((inputs / "cases.csv").open())}
    lesions = set(meta["lesion_names"])
    checked = 0
    cache: dict[str, tuple[np.ndarray, dict[str, int]]] = {}
    for row in _rows(demo_release, "3d"):
        case_id = row["id"].split("/")[1]
        if case_id not in cache:
            data, affine = _lps_labels(inputs / "3d" / "labels" / f"{case_id}.nii.gz")
            table = meta["labels_3d_ct"] if modality[case_id] == "CT" else meta["labels_3d_mr"]
            zooms = np.linalg.norm(affine[:3, :3], axis=0)
            picked = []
            for position in row["slice_positions_mm"]:
                centre = np.array([(data.shape[0] - 1) / 2, (data.shape[1] - 1) / 2, 0, 1.0])
                ks = [
                    k
                    for k in range(data.shape[2])
                    if abs(affine[2] @ (centre + np.array([0, 0, k, 0])) - position) < 1e-2
                ]
                assert len(ks) == 1, (case_id, position)
                picked.append(ks[0])
            stack = []
            for k in picked:
                padded, _ = pad_to_square_fov(
                    data[:, :, k].T, row_mm=float(zooms[1]), col_mm=float(zooms[0]), value=0
                )
                stack.append(resize_labels(padded, 252, 252))
            cache[case_id] = (np.stack(stack), {name: int(v) for v, name in table.items()})
        stack, values = cache[case_id]
        for region in row["regions"]:
            mask = stack == values[region["label"]]
            if region["label"] in lesions:
                assert tuple(region["box"]) in _component_boxes(mask, np.ones((3, 3, 3))), (
                    row["id"],
                    region,
                )
            else:
                assert tuple(region["box"]) == box_from_mask_3d(mask), (row["id"], region)
            checked += 1
    assert checked > 100


def test_2d_boxes_equal_ground_truth(demo_release: Path) -> None:
    from PIL import Image

    inputs = demo_release / ".build" / "inputs" / "phantom"
    meta = json.loads((inputs / "phantom.json").read_text())
    names = {name: int(v) for table in meta["labels_2d"].values() for v, name in table.items()}
    lesions = set(meta["lesion_names"])
    checked = 0
    for row in _rows(demo_release, "2d"):
        case_id = row["id"].split("/")[1]
        mask_file = np.asarray(Image.open(inputs / "2d" / "masks" / f"{case_id}.png"))
        height, width = qwen_fixed_size(*mask_file.shape[:2], max_side=448)
        labels = resize_labels(mask_file, height, width)
        for region in row["regions"]:
            mask = labels == names[region["label"]]
            if region["label"] in lesions:
                assert tuple(region["box"]) in _component_boxes(mask, np.ones((3, 3))), (
                    row["id"],
                    region,
                )
            else:
                assert tuple(region["box"]) == box_from_mask_2d(mask), (row["id"], region)
            checked += 1
    assert checked > 100
