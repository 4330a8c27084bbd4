"""Errors of the imaging layer.

Both derive from ``ValueError``: a file that cannot be read or a label map that does not fit its
image is a bad *record*, which the pipeline turns into a counted rejection (the class name becomes
the reason slug, e.g. ``label-mismatch``), never a stopped build.
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
