"""Reorientation to the canonical LPS frame and label-grid checks."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from nibabel.testing import data_path

from unimed_cot.imaging import LabelMismatchError, normalize_case, read_volume
from unimed_cot.records import Case, Dims, Image2D, SourceRecord, Volume

RAS = np.array([[2.0, 0, 0, -10], [0, 3.0, 0, -20], [0, 0, 4.0, -30], [0, 0, 0, 1]])


def _case(image: Volume | Image2D, label_map: Volume | Image2D | None = None) -> Case:
    dims: Dims = 3 if isinstance(image, Volume) else 2
    record = SourceRecord(
        source="test", case_id="c1", group_key="p1", dims=dims, modality="CT", image=Path("x")
    )
    return Case(record=record, image=image, labels={1: "liver"}, label_map=label_map)


def _volume(image: Volume | Image2D | None) -> Volume:
    assert isinstance(image, Volume)
    return image


def _marked(shape: tuple[int, int, int], voxel: tuple[int, int, int]) -> np.ndarray:
    array = np.zeros(shape, dtype=np.float32)
    array[voxel] = 1.0
    return array


def test_ras_is_flipped_to_lps_keeping_world_positions() -> None:
    array = _marked((5, 6, 7), (1, 2, 3))
    case = _case(
        Volume(array=array, affine=RAS), Volume(array=(array > 0).astype(np.uint8), affine=RAS)
    )
    out = normalize_case(case)
    image, labels = _volume(out.image), _volume(out.label_map)

    assert image.axcodes == ("L", "P", "S")
    assert out.history == ["reoriented RAS -> LPS (flipped axes 0,1)"]
    new = np.argwhere(image.array)[0]
    assert new.tolist() == [3, 3, 3]  # i: 5-1-1, j: 6-1-2, k unchanged
    old_world = RAS @ np.array([1, 2, 3, 1])
    new_world = image.affine @ np.array([*new, 1])
    np.testing.assert_allclose(new_world, old_world)
    np.testing.assert_array_equal(labels.array, image.array.astype(np.uint8))
    assert image.spacing == (2.0, 3.0, 4.0)


def test_permuted_input_is_permuted_back() -> None:
    # Array axes point to P, I, R: a sagittal-first stack.
    pir = np.array([[0, 0, 1.5, 0], [-2.5, 0, 0, 0], [0, -1.0, 0, 0], [0, 0, 0, 1]])
    array = _marked((4, 5, 6), (0, 1, 2))
    out = normalize_case(_case(Volume(array=array, affine=pir)))
    image = _volume(out.image)
    assert image.axcodes == ("L", "P", "S")
    assert image.shape == (6, 4, 5)
    assert image.spacing == (1.5, 2.5, 1.0)
    new = np.argwhere(image.array)[0]
    np.testing.assert_allclose(image.affine @ np.array([*new, 1]), pir @ np.array([0, 1, 2, 1]))
    assert out.history == [
        "reoriented PIR -> LPS (permuted axes 0->1, 1->2, 2->0; flipped axes 1,2)"
    ]


def test_canonical_input_is_unchanged_and_input_not_mutated() -> None:
    lps = np.diag([-1.0, -1.0, 1.0, 1.0])
    array = np.arange(24, dtype=np.float32).reshape(2, 3, 4)
    case = _case(Volume(array=array.copy(), affine=lps))
    case.history.append("loaded")
    out = normalize_case(case)
    np.testing.assert_array_equal(out.image.array, array)
    assert out.history == ["loaded", "orientation LPS already canonical (no change)"]
    assert case.history == ["loaded"]
    assert out is not case


def test_input_arrays_are_not_touched_by_reorientation() -> None:
    array = np.arange(60, dtype=np.float32).reshape(3, 4, 5)
    case = _case(Volume(array=array, affine=RAS))
    out = normalize_case(case)
    np.testing.assert_array_equal(case.image.array, np.arange(60).reshape(3, 4, 5))
    # The canonical array is a read-only view (no 300 MB copy of a CT): writing through it fails.
    assert not out.image.array.flags.writeable
    with pytest.raises(ValueError):
        out.image.array[0, 0, 0] = -1
    np.testing.assert_array_equal(out.image.array, np.arange(60).reshape(3, 4, 5)[::-1, ::-1, :])


def test_label_map_with_other_affine_is_rejected() -> None:
    moved = RAS.copy()
    moved[0, 3] += 0.5
    image = Volume(array=np.zeros((3, 3, 3), np.float32), affine=RAS)
    with pytest.raises(LabelMismatchError, match="affine differs"):
        normalize_case(_case(image, Volume(array=np.zeros((3, 3, 3), np.uint8), affine=moved)))


def test_label_map_affine_noise_is_tolerated() -> None:
    noisy = RAS + 1e-5
    noisy[3] = [0, 0, 0, 1]
    image = Volume(array=np.zeros((3, 3, 3), np.float32), affine=RAS)
    out = normalize_case(_case(image, Volume(array=np.ones((3, 3, 3), np.uint8), affine=noisy)))
    assert out.label_map is not None


def test_label_map_with_other_shape_is_rejected() -> None:
    image = Volume(array=np.zeros((3, 3, 3), np.float32), affine=RAS)
    with pytest.raises(LabelMismatchError, match="shape"):
        normalize_case(_case(image, Volume(array=np.zeros((3, 3, 4), np.uint8), affine=RAS)))


def test_2d_case_is_unchanged_but_label_grid_checked() -> None:
    image = Image2D(array=np.arange(12, dtype=np.uint8).reshape(3, 4))
    out = normalize_case(_case(image, Image2D(array=np.zeros((3, 4), np.uint8))))
    np.testing.assert_array_equal(out.image.array, image.array)
    assert out.history == []
    with pytest.raises(LabelMismatchError):
        normalize_case(_case(image, Image2D(array=np.zeros((4, 3), np.uint8))))


def test_nibabel_anatomical_file_becomes_lps() -> None:
    volume = read_volume(Path(str(data_path)) / "anatomical.nii")
    out = normalize_case(_case(volume))
    assert _volume(out.image).axcodes == ("L", "P", "S")
    assert out.history == ["reoriented LAS -> LPS (flipped axes 1)"]
    np.testing.assert_array_equal(out.image.array, volume.array[:, ::-1, :])
