"""The only DICOM metadata that may leave a reader: a whitelist of non-identifying facts.

A whitelist, not a blacklist: a tag is kept only if it is named here, so a private tag, a new
identifying attribute or free text typed by an operator can never leak by omission. Kept are
modality, body part, acquisition physics (kVp, field strength, sequence timing) and geometry;
never names, ids, dates, times, UIDs, institutions, devices' serial numbers, descriptions,
comments or the free-text contrast agent (PS3.15 Annex E lists those as identifying).
"""

from __future__ import annotations

from typing import Any

# keyword -> why it is safe and useful. Values are short coded strings or numbers.
SAFE_KEYWORDS: dict[str, str] = {
    "Modality": "CT / MR / CR / DX ...: decides the intensity handling",
    "BodyPartExamined": "coded body part (CHEST, ABDOMEN); used for window choice",
    "PhotometricInterpretation": "MONOCHROME1/2, RGB: how pixels display",
    "ImageType": "ORIGINAL/DERIVED, AXIAL, LOCALIZER: coded values",
    "Rows": "geometry",
    "Columns": "geometry",
    "NumberOfFrames": "geometry",
    "PixelSpacing": "geometry (mm)",
    "ImagerPixelSpacing": "geometry at the detector (mm)",
    "SliceThickness": "acquisition geometry (mm); not the slice step",
    "SpacingBetweenSlices": "acquisition geometry (mm)",
    "ImageOrientationPatient": "patient-relative direction cosines, not identifying",
    "PatientPosition": "HFS / FFS ...: coded",
    "ViewPosition": "PA / AP / LAT for radiographs: coded",
    "Laterality": "R / L: coded",
    "ImageLaterality": "R / L: coded",
    "BitsAllocated": "pixel format",
    "BitsStored": "pixel format",
    "PixelRepresentation": "pixel format",
    "SamplesPerPixel": "pixel format",
    "RescaleSlope": "intensity calibration",
    "RescaleIntercept": "intensity calibration",
    "RescaleType": "HU / US: coded",
    "WindowCenter": "display window chosen at the scanner",
    "WindowWidth": "display window chosen at the scanner",
    "KVP": "tube voltage",
    "XRayTubeCurrent": "tube current (mA)",
    "Exposure": "mAs",
    "ConvolutionKernel": "reconstruction kernel name (vendor code, not free text)",
    "MagneticFieldStrength": "MR field strength (T)",
    "RepetitionTime": "MR TR (ms)",
    "EchoTime": "MR TE (ms)",
    "InversionTime": "MR TI (ms)",
    "FlipAngle": "MR flip angle",
    "ScanningSequence": "MR coded sequence (SE, GR, IR)",
    "MRAcquisitionType": "2D / 3D",
    "ContrastBolusRoute": "coded route",
}


def safe_metadata(dataset: Any) -> dict[str, str]:
    """The whitelisted, non-identifying attributes of a pydicom ``Dataset`` as strings.

    Multi-valued attributes are joined with a backslash, as DICOM writes them. Absent or empty
    attributes are left out; nothing outside ``SAFE_KEYWORDS`` is ever returned.

    Args:
        dataset: a ``pydicom.Dataset`` (headers only is enough).

    Returns:
        keyword -> value string, in the order of ``SAFE_KEYWORDS``.
    """
    kept: dict[str, str] = {}
    for keyword in SAFE_KEYWORDS:
        if keyword not in dataset:
            continue
        element = dataset[keyword]
        if element.VR == "SQ" or element.value is None:
            continue
        value = element.value
        if isinstance(value, list | tuple) or type(value).__name__ == "MultiValue":
            text = "\\".join(str(v) for v in value)
        else:
            text = str(value)
        if text.strip():
            kept[keyword] = text.strip()
    return kept
