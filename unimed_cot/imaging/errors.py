"""Errors of the imaging layer.

All are ``reasons.RecordError`` (and ``ValueError``): a file that cannot be read or a label map
that does not fit its image is a bad *record*, which the pipeline turns into a counted rejection
with the class's ``reason``, never a stopped build. Each message is one line that starts with the
file name and says the reason.
"""

from __future__ import annotations

from unimed_cot.reasons import Reason, RecordError


class ImagingError(RecordError, ValueError):
    """A bad or unsupported image / volume file, or pixels that cannot be serialized."""

    reason = Reason.IMAGING


class LabelMismatchError(ImagingError):
    """A label map whose grid (shape) or geometry (affine) does not match its image."""

    reason = Reason.LABEL_MISMATCH


class UnreadableFileError(ImagingError):
    """A file that is missing, truncated or not of the format its name says."""

    reason = Reason.UNREADABLE_FILE


class UnsupportedFormatError(ImagingError):
    """A readable file whose kind, shape or pixel type the imaging layer does not handle."""

    reason = Reason.UNSUPPORTED_FORMAT


class TruncatedFileError(UnreadableFileError):
    """A file whose header reads but whose data ends early or fails its checksum (gzip, DICOM)."""

    reason = Reason.TRUNCATED_FILE


class MissingCodecError(UnsupportedFormatError):
    """Compressed pixel data whose decoder plugin is not installed (extra ``[dicom-codecs]``)."""

    reason = Reason.MISSING_CODEC


class NonFiniteVoxelsError(ImagingError):
    """Intensities holding NaN or +/-Inf: no window or percentile is defined over them."""

    reason = Reason.NON_FINITE_VOXELS


class DegenerateShapeError(ImagingError):
    """A zero-size axis, or a 'volume' that is a line or a point (fewer than two real axes)."""

    reason = Reason.DEGENERATE_SHAPE


class BadAffineError(ImagingError):
    """A voxel-to-world matrix that is singular, non-finite or sheared (non-orthogonal axes)."""

    reason = Reason.BAD_AFFINE


class LabelOutOfSetError(ImagingError):
    """A label map holding values outside the label set its source declares."""

    reason = Reason.LABEL_OUT_OF_SET


class BitDepthMismatchError(ImagingError):
    """Pixel values that exceed the bit depth the file or the caller declares (16-bit in 8-bit)."""

    reason = Reason.BIT_DEPTH_MISMATCH


class ImageTooLargeError(ImagingError):
    """More pixels than the configured limit: a decompression bomb, or not really an image."""

    reason = Reason.IMAGE_TOO_LARGE


class MixedSeriesError(ImagingError):
    """A DICOM folder holding several series, and no ``series_uid=`` to choose one.

    Attributes:
        counts: number of files per SeriesInstanceUID.
    """

    reason = Reason.MIXED_SERIES

    def __init__(self, message: str, *, counts: dict[str, int]) -> None:
        super().__init__(message)
        self.counts = counts


class MixedGeometryError(ImagingError):
    """Slices of one series with different sizes, pixel spacings or orientations."""

    reason = Reason.MIXED_GEOMETRY


class MissingSlicesError(ImagingError):
    """A DICOM series whose slice step has gaps (a step > 1.5x the median step)."""

    reason = Reason.MISSING_SLICES


class UnevenSpacingError(ImagingError):
    """A DICOM series whose slice steps differ beyond the tolerance (no gap, just irregular)."""

    reason = Reason.UNEVEN_SPACING


class DuplicateSliceError(ImagingError):
    """Two slices of a DICOM series at the same position along the slice normal."""

    reason = Reason.DUPLICATE_SLICE


class GantryTiltError(ImagingError):
    """Slices stacked along a direction that is not the normal of their plane (a sheared grid)."""

    reason = Reason.GANTRY_TILT
