"""NRRD / MHA / MHD through SimpleITK: LPS -> RAS+, (z, y, x) -> (x, y, z), channels, damage."""

from __future__ import annotations

from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
import SimpleITK as sitk  # noqa: N813

from unimed_cot.imaging import (
    ImagingError,
    TruncatedFileError,
    UnreadableFileError,
    read_label_volume,
    read_volume,
    write_itk,
    write_nifti,
)
from unimed_cot.records import Volume

LPS_TO_RAS = np.diag([-1.0, -1.0, 1.0])


def oblique_image(array_zyx: np.ndarray) -> sitk.Image:
    image = sitk.GetImageFromArray(array_zyx)
    rotation = sitk.VersorTransform((0.2, -0.1, 0.4), 0.3).GetMatrix()
    image.SetDirection(rotation)
    image.SetSpacing((0.7, 0.9, 2.5))
    image.SetOrigin((12.0, -30.0, 55.0))
    return image


@pytest.mark.parametrize("suffix", [".nrrd", ".mha", ".mhd"])
def test_itk_voxels_land_where_simpleitk_puts_them(tmp_path: Path, suffix: str) -> None:
    rng = np.random.default_rng(1)
    array_zyx = rng.integers(-1000, 1500, size=(5, 7, 9)).astype(np.int16)
    path = tmp_path / f"ct{suffix}"
    sitk.WriteImage(oblique_image(array_zyx), str(path))

    volume = read_volume(path)
    assert volume.shape == (9, 7, 5)
    assert volume.array.dtype == np.int16  # stored integers, no scaling: kept exact
    np.testing.assert_array_equal(volume.array, np.transpose(array_zyx, (2, 1, 0)))
    reference = sitk.ReadImage(str(path))
    for index in [(0, 0, 0), (8, 0, 0), (3, 6, 4), (8, 6, 4)]:
        lps = np.asarray(reference.TransformIndexToPhysicalPoint(index))
        ras = volume.affine @ np.array([*index, 1.0])
        np.testing.assert_allclose(ras[:3], LPS_TO_RAS @ lps, atol=1e-6)
    assert volume.spacing == pytest.approx((0.7, 0.9, 2.5))


def test_ras_nifti_and_lps_nrrd_read_to_the_same_world(tmp_path: Path) -> None:
    rng = np.random.default_rng(2)
    array = rng.normal(0, 100, size=(6, 5, 4)).astype(np.float32)
    ras_affine = np.array([[0.8, 0, 0, -20.0], [0, 0.8, 0, 10.0], [0, 0, 2.0, 5.0], [0, 0, 0, 1]])
    write_nifti(Volume(array=array, affine=ras_affine), tmp_path / "v.nii.gz")
    # The same volume stored the ITK way: voxels flipped in x and y so that the axes run L, P.
    flipped = np.ascontiguousarray(array[::-1, ::-1, :])
    corner = ras_affine @ np.array([5, 4, 0, 1.0])
    lps_image = sitk.GetImageFromArray(np.transpose(flipped, (2, 1, 0)))
    lps_image.SetSpacing((0.8, 0.8, 2.0))
    lps_image.SetOrigin((-corner[0], -corner[1], corner[2]))
    sitk.WriteImage(lps_image, str(tmp_path / "v.nrrd"))

    from_nifti = read_volume(tmp_path / "v.nii.gz")
    from_nrrd = read_volume(tmp_path / "v.nrrd")
    assert from_nifti.axcodes == ("R", "A", "S")
    assert from_nrrd.axcodes == ("L", "P", "S")
    canonical = [
        nib.as_closest_canonical(nib.Nifti1Image(v.array, v.affine))
        for v in (from_nifti, from_nrrd)
    ]
    np.testing.assert_allclose(canonical[0].affine, canonical[1].affine, atol=1e-5)
    np.testing.assert_array_equal(
        np.asarray(canonical[0].dataobj), np.asarray(canonical[1].dataobj)
    )


def test_write_itk_round_trips(tmp_path: Path) -> None:
    affine = np.array([[-0.5, 0, 0, 30.0], [0, 0, 1.5, -4.0], [0, 0.5, 0, 8.0], [0, 0, 0, 1]])
    labels = np.zeros((4, 3, 5), dtype=np.uint8)
    labels[1:3, 1, 2:4] = 3
    write_itk(labels, affine, tmp_path / "mask.nrrd")
    volume = read_label_volume(tmp_path / "mask.nrrd", labels=[3])
    assert volume.array.dtype == np.uint8
    np.testing.assert_array_equal(volume.array, labels)
    np.testing.assert_allclose(volume.affine, affine, atol=1e-6)


def test_vector_image_needs_a_channel(tmp_path: Path) -> None:
    channels = np.stack([np.full((3, 4, 5), c, np.float32) for c in (10.0, 20.0)], axis=-1)
    image = sitk.GetImageFromArray(channels, isVector=True)
    sitk.WriteImage(image, str(tmp_path / "two.mha"))
    with pytest.raises(ImagingError, match="2 channels; pass channel="):
        read_volume(tmp_path / "two.mha")
    second = read_volume(tmp_path / "two.mha", channel=1)
    assert second.shape == (5, 4, 3)
    assert float(second.array.max()) == 20.0


def test_damaged_itk_files(tmp_path: Path) -> None:
    (tmp_path / "junk.nrrd").write_bytes(b"not nrrd at all")
    with pytest.raises(UnreadableFileError, match=r"junk\.nrrd: not a readable ITK image"):
        read_volume(tmp_path / "junk.nrrd")
    path = tmp_path / "cut.mha"
    sitk.WriteImage(sitk.GetImageFromArray(np.ones((20, 20, 20), np.int16)), str(path))
    data = path.read_bytes()
    path.write_bytes(data[: len(data) - 4000])
    with pytest.raises(TruncatedFileError, match=r"cut\.mha"):
        read_volume(path)
