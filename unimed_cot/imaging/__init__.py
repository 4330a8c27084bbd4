"""Imaging: read pixels, reorient to the canonical frame, window, serialize slices, masks -> boxes.

This package knows no source. Builders read pixels through ``io``; the pipeline calls
``normalize_case`` then ``serialize_case``.
"""

from .errors import (
    ImagingError,
    LabelMismatchError,
    UnreadableFileError,
    UnsupportedFormatError,
)
from .io import read_image_2d, read_label_image, read_label_volume, read_volume, write_nifti
from .normalize import normalize_case
from .regions import BodyFrame, RegionExtraction, extract_regions
from .resize import qwen_fixed_size
from .serialize import SerializeConfig, serialize_case
from .window import CT_PRESETS, WindowPreset, choose_ct_preset

__all__ = [
    "CT_PRESETS",
    "BodyFrame",
    "ImagingError",
    "LabelMismatchError",
    "RegionExtraction",
    "SerializeConfig",
    "UnreadableFileError",
    "UnsupportedFormatError",
    "WindowPreset",
    "choose_ct_preset",
    "extract_regions",
    "normalize_case",
    "qwen_fixed_size",
    "read_image_2d",
    "read_label_image",
    "read_label_volume",
    "read_volume",
    "serialize_case",
    "write_nifti",
]
