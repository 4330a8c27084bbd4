"""Bring a loaded case into the canonical frame (records.CANONICAL_AXCODES = LPS).

Reorientation is exact: only axis permutations and flips (nibabel's orientation utilities), no
resampling, so every label voxel survives and an image/label pair stays aligned. Oblique
affines are reoriented to their *closest* canonical axes and keep their rotation in the affine.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import numpy.typing as npt

from unimed_cot.records import CANONICAL_AXCODES, Case, Image2D, Volume

from .errors import ImagingError, LabelMismatchError

# Image and label affines may differ by float noise (written by different tools); 1e-3 mm is far
# below any voxel size while catching real misregistration.
AFFINE_TOLERANCE_MM = 1e-3


def normalize_case(case: Case) -> Case:
    """Return a new case in the canonical frame, with the operation recorded in ``history``.

    3D: image and label map are reoriented to LPS (flips/permutations only) and their affines
    updated. 2D: pixels are unchanged; only the label grid is checked.

    Raises:
        LabelMismatchError: the label map's shape or affine does not match the image.
        ImagingError: a 3D case whose image is not a volume (or 2D whose image is not 2D).
    """
    history = list(case.history)
    if case.dims == 2:
        if not isinstance(case.image, Image2D):
            raise ImagingError(f"case {case.record.case_id}: a 2D case needs a 2D image")
        _check_2d_labels(case)
        return dataclasses.replace(case, history=history)

    image, label_map = case.image, case.label_map
    if not isinstance(image, Volume):
        raise ImagingError(f"case {case.record.case_id}: a 3D case needs a volume")
    if label_map is not None:
        if not isinstance(label_map, Volume):
            raise LabelMismatchError(f"case {case.record.case_id}: 3D image with a 2D label map")
        check_label_grid(image, label_map)

    new_image, line = reorient(image)
    history.append(line)
    new_labels = reorient(label_map)[0] if label_map is not None else None
    return dataclasses.replace(case, image=new_image, label_map=new_labels, history=history)


def check_label_grid(image: Volume, label_map: Volume) -> None:
    """Raise ``LabelMismatchError`` unless the label map lies on the image's voxel grid."""
    if image.shape != label_map.shape:
        raise LabelMismatchError(
            f"label map shape {label_map.shape} differs from image shape {image.shape}"
        )
    gap = float(np.abs(np.asarray(image.affine) - np.asarray(label_map.affine)).max())
    if gap > AFFINE_TOLERANCE_MM:
        raise LabelMismatchError(
            f"label map affine differs from the image affine by {gap:.4g} mm "
            f"(tolerance {AFFINE_TOLERANCE_MM} mm)"
        )


def reorient(volume: Volume) -> tuple[Volume, str]:
    """Reorient a volume to the canonical axcodes; returns the new volume and a history line."""
    from nibabel.orientations import (
        apply_orientation,
        axcodes2ornt,
        inv_ornt_aff,
        io_orientation,
        ornt2axcodes,
        ornt_transform,
    )

    source = io_orientation(volume.affine)
    transform = ornt_transform(source, axcodes2ornt(CANONICAL_AXCODES))
    before = "".join(str(code) for code in ornt2axcodes(source))
    after = "".join(CANONICAL_AXCODES)
    # A read-only strided view, not a copy: flips and permutations need no new memory, and a
    # copy of a 512x512x300 float32 CT costs 300 MB at the pipeline's peak. Read-only, so no
    # later stage can write through it into the caller's pixels.
    array: npt.NDArray[np.generic] = apply_orientation(volume.array, transform).view()
    array.flags.writeable = False
    affine = np.asarray(volume.affine, dtype=np.float64) @ inv_ornt_aff(transform, volume.shape)
    return Volume(array=array, affine=affine), _describe(before, after, transform)


def _describe(before: str, after: str, transform: npt.NDArray[np.floating]) -> str:
    destinations = [int(axis) for axis in transform[:, 0]]
    flipped = [str(axis) for axis in range(3) if transform[axis, 1] < 0]
    if before == after:
        return f"orientation {before} already canonical (no change)"
    parts = []
    if destinations != [0, 1, 2]:
        moves = ", ".join(f"{axis}->{dest}" for axis, dest in enumerate(destinations))
        parts.append(f"permuted axes {moves}")
    if flipped:
        parts.append(f"flipped axes {','.join(flipped)}")
    return f"reoriented {before} -> {after} ({'; '.join(parts)})"


def _check_2d_labels(case: Case) -> None:
    label_map = case.label_map
    if label_map is None:
        return
    if not isinstance(label_map, Image2D):
        raise LabelMismatchError(f"case {case.record.case_id}: 2D image with a 3D label map")
    assert isinstance(case.image, Image2D)
    image_hw = case.image.array.shape[:2]
    if label_map.array.shape != image_hw:
        raise LabelMismatchError(
            f"label image shape {label_map.array.shape} differs from image size {image_hw}"
        )
