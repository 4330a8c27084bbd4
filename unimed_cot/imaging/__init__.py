"""Imaging: read pixels, reorient to the canonical frame, window, serialize slices, masks -> boxes.

This package knows no source. Builders read pixels through ``io``; the pipeline calls
``normalize_case`` then ``serialize_case``.
"""

from .arrays import ArrayVolume, read_array_volume
from .checks import DEFAULT_MAX_PIXELS, DEFAULT_MAX_VOXELS
from .dicom import read_dicom_series
from .errors import (
    BadAffineError,
    BitDepthMismatchError,
    DegenerateShapeError,
    DuplicateSliceError,
    GantryTiltError,
    ImageTooLargeError,
    ImagingError,
    LabelMismatchError,
    LabelOutOfSetError,
    MissingCodecError,
    MissingSlicesError,
    MixedGeometryError,
    MixedSeriesError,
    NonFiniteVoxelsError,
    TruncatedFileError,
    UnevenSpacingError,
    UnreadableFileError,
    UnsupportedFormatError,
)
from .io import read_image_2d, read_label_image, read_label_volume, read_volume, write_nifti
from .itk import write_itk
from .metadata import safe_metadata
from .normalize import normalize_case
from .regions import RegionExtraction, extract_regions
from .resize import qwen_fixed_size
from .serialize import SerializeConfig, serialize_case
from .window import CT_PRESETS, WindowPreset, choose_ct_preset

__all__ = [
    "CT_PRESETS",
    "DEFAULT_MAX_PIXELS",
    "DEFAULT_MAX_VOXELS",
    "ArrayVolume",
    "BadAffineError",
    "BitDepthMismatchError",
    "DegenerateShapeError",
    "DuplicateSliceError",
    "GantryTiltError",
    "ImageTooLargeError",
    "ImagingError",
    "LabelMismatchError",
    "LabelOutOfSetError",
    "MissingCodecError",
    "MissingSlicesError",
    "MixedGeometryError",
    "MixedSeriesError",
    "NonFiniteVoxelsError",
    "RegionExtraction",
    "SerializeConfig",
    "TruncatedFileError",
    "UnevenSpacingError",
    "UnreadableFileError",
    "UnsupportedFormatError",
    "WindowPreset",
    "choose_ct_preset",
    "extract_regions",
    "normalize_case",
    "qwen_fixed_size",
    "read_array_volume",
    "read_dicom_series",
    "read_image_2d",
    "read_label_image",
    "read_label_volume",
    "read_volume",
    "safe_metadata",
    "serialize_case",
    "write_itk",
    "write_nifti",
]
