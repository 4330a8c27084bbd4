"""One check the 3D source builders share: an image and its label map on one physical grid.

Files of one case may store the same grid in different voxel orders (an image written RAS, its
label LPS); both are then compared, and kept, in the canonical frame. Anything else off the
grid is ``label-mismatch``, never resampled.
"""

from __future__ import annotations

import numpy as np

from unimed_cot.imaging import LabelMismatchError
from unimed_cot.imaging.normalize import AFFINE_TOLERANCE_MM, reorient
from unimed_cot.records import Volume


def _gap(image: Volume, label: Volume) -> float:
    return float(np.abs(np.asarray(image.affine) - np.asarray(label.affine)).max())


def on_one_grid(
    image: Volume, label: Volume, *, case_id: str, names: tuple[str, str]
) -> tuple[Volume, Volume, list[str]]:
    """(image, label map, history lines) on one voxel grid, or ``LabelMismatchError``."""
    if image.shape == label.shape and _gap(image, label) <= AFFINE_TOLERANCE_MM:
        return image, label, []
    history: list[str] = []
    if image.axcodes != label.axcodes:
        image, line = reorient(image)
        label, label_line = reorient(label)
        history = [f"image {line}", f"label map {label_line}"]
    if image.shape != label.shape or _gap(image, label) > AFFINE_TOLERANCE_MM:
        raise LabelMismatchError(
            f"{case_id}: {names[0]} {image.shape} and {names[1]} {label.shape} are not on one "
            f"grid (affines differ by {_gap(image, label):.3g} mm)"
        )
    return image, label, history
