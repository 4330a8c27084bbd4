"""Errors of the imaging layer.

All derive from ``ValueError``: a file that cannot be read or a label map that does not fit its
image is a bad *record*, which the pipeline turns into a counted rejection (the class name becomes
the reason slug, e.g. ``LabelMismatchError`` -> ``label-mismatch``), never a stopped build. Each
message is one line that starts with the file name and says the reason.
"""

from __future__ import annotations


class ImagingError(ValueError):
    """A bad or unsupported image / volume file, or pixels that cannot be serialized."""


class LabelMismatchError(ImagingError):
    """A label map whose grid (shape) or geometry (affine) does not match its image."""


class UnreadableFileError(ImagingError):
    """A file that is missing, truncated or not of the format its name says."""


class UnsupportedFormatError(ImagingError):
    """A readable file whose kind, shape or pixel type the imaging layer does not handle."""


class TruncatedFileError(UnreadableFileError):
    """A file whose header reads but whose data ends early or fails its checksum (gzip, DICOM)."""


class MissingCodecError(UnsupportedFormatError):
    """Compressed pixel data whose decoder plugin is not installed (extra ``[dicom-codecs]``)."""


class NonFiniteVoxelsError(ImagingError):
    """Intensities holding NaN or +/-Inf: no window or percentile is defined over them."""


class DegenerateShapeError(ImagingError):
    """A zero-size axis, or a 'volume' that is a line or a point (fewer than two real axes)."""


class BadAffineError(ImagingError):
    """A voxel-to-world matrix that is singular, non-finite or sheared (non-orthogonal axes)."""


class LabelOutOfSetError(ImagingError):
    """A label map holding values outside the label set its source declares."""


class BitDepthMismatchError(ImagingError):
    """Pixel values that exceed the bit depth the file or the caller declares (16-bit in 8-bit)."""


class ImageTooLargeError(ImagingError):
    """More pixels than the configured limit: a decompression bomb, or not really an image."""


class MixedSeriesError(ImagingError):
    """A DICOM folder holding several series, and no ``series_uid=`` to choose one.

    Attributes:
        counts: number of files per SeriesInstanceUID.
    """

    def __init__(self, message: str, *, counts: dict[str, int]) -> None:
        super().__init__(message)
        self.counts = counts


class MixedGeometryError(ImagingError):
    """Slices of one series with different sizes, pixel spacings or orientations."""


class MissingSlicesError(ImagingError):
    """A DICOM series whose slice step has gaps (a step > 1.5x the median step)."""


class UnevenSpacingError(ImagingError):
    """A DICOM series whose slice steps differ beyond the tolerance (no gap, just irregular)."""


class DuplicateSliceError(ImagingError):
    """Two slices of a DICOM series at the same position along the slice normal."""


class GantryTiltError(ImagingError):
    """Slices stacked along a direction that is not the normal of their plane (a sheared grid)."""
