"""Why a record, case or sample was not published: the closed vocabulary of rejection reasons.

A bad record is data, not a crash: the error that says so is a ``RecordError`` carrying its
``Reason`` on purpose (a class attribute, never a slug derived from a class name), and the
pipeline turns it into a counted ``records.Rejection``. Everything else that escapes a stage is a
bug and stops the run loudly. The values are the stable slugs that rejection files, the build
summary, the manifest and the card show.
"""

from __future__ import annotations

from enum import StrEnum
from typing import ClassVar


class Stage(StrEnum):
    """Where in the per-case flow a rejection happened (DESIGN.md §3)."""

    LIST = "list"
    LOAD = "load"
    NORMALIZE = "normalize"
    SERIALIZE = "serialize"
    QUESTIONS = "questions"
    TEACHER = "teacher"
    VALIDATE = "validate"


class Reason(StrEnum):
    """Why a record or case was rejected before the teacher (the teacher's own reasons are
    ``teacher.RejectReason``)."""

    # A file or entry of the source's listing
    UNSAFE_PATH = "unsafe-path"  # absolute, or climbs out of its folder (never opened)
    BAD_NAME = "bad-name"  # a name the release's naming scheme does not allow
    UNSUPPORTED_FILE = "unsupported-file"  # a file kind the source does not read
    DUPLICATE_CASE = "duplicate-case"  # two entries that give one case id
    MISSING_IMAGE = "missing-image"
    MISSING_MASK = "missing-mask"
    FILE_NOT_FOUND = "file-not-found"  # a path that was listed but is gone when read
    # Annotations
    UNKNOWN_CLASS = "unknown-class"  # a class id or channel the class list does not name
    UNDECLARED_LABEL = "undeclared-label"  # a label value or name the label table lacks
    LABEL_OUT_OF_SET = "label-out-of-set"
    BAD_MASK = "bad-mask"  # readable, but not what the release documents (not binary, ...)
    OVERLAPPING_MASKS = "overlapping-masks"
    BAD_BOX = "bad-box"
    NO_ANNOTATION = "no-annotation"  # nothing to ground a question on
    LABEL_MISMATCH = "label-mismatch"  # a label map off its image's grid
    UNUSABLE_IMAGE = "unusable-image"  # an image the release notes list as defective
    NOISY_ANNOTATION = "noisy-annotation"  # the source itself flags the annotation as unreliable
    BAD_METADATA = "bad-metadata"  # an index field (spacing, split, window) that does not parse
    # Pixels and files
    IMAGING = "imaging"  # a bad or unsupported image that no narrower reason covers
    UNREADABLE_FILE = "unreadable-file"
    TRUNCATED_FILE = "truncated-file"
    UNSUPPORTED_FORMAT = "unsupported-format"
    MISSING_CODEC = "missing-codec"
    NON_FINITE_VOXELS = "non-finite-voxels"
    DEGENERATE_SHAPE = "degenerate-shape"
    BAD_AFFINE = "bad-affine"
    BIT_DEPTH_MISMATCH = "bit-depth-mismatch"
    IMAGE_TOO_LARGE = "image-too-large"
    # DICOM series
    MIXED_SERIES = "mixed-series"
    MIXED_GEOMETRY = "mixed-geometry"
    MISSING_SLICES = "missing-slices"
    UNEVEN_SPACING = "uneven-spacing"
    DUPLICATE_SLICE = "duplicate-slice"
    GANTRY_TILT = "gantry-tilt"
    # Questions
    NO_QUESTION = "no-question"
    BAD_QUESTION = "bad-question"  # a source's own question entry without text/answer/type
    LANGUAGE_NOT_KEPT = "language-not-kept"  # source questions of a language the build skips


class RecordError(Exception):
    """A record or case that is bad input: counted as a rejection with ``reason``.

    Subclasses set ``reason``; the message is one line that names the file or entry.
    """

    reason: ClassVar[Reason] = Reason.IMAGING


class RecordProblemError(RecordError):
    """A record listed with a problem (``SourceRecord.problem``): never loaded.

    Its reason is the problem's, per instance.
    """

    def __init__(self, message: str, *, reason: Reason) -> None:
        super().__init__(message)
        self.problem_reason = reason


def reason_of(error: BaseException) -> Reason:
    """The rejection reason of an error that means bad input.

    Raises:
        TypeError: for any other error — it is a bug, and must not be counted as bad data.
    """
    if isinstance(error, RecordProblemError):
        return error.problem_reason
    if isinstance(error, RecordError):
        return error.reason
    if isinstance(error, FileNotFoundError):
        return Reason.FILE_NOT_FOUND
    if isinstance(error, OSError):
        return Reason.UNREADABLE_FILE
    raise TypeError(f"{type(error).__name__} is not a bad-input error") from error


# What the per-case catch catches: our typed record errors, and the OS's errors reading a file
# (gone, unreadable, a folder where a file was listed). Nothing else: KeyError, IndexError,
# RuntimeError or a bare ValueError escaping a stage is a bug, and crashes the build.
BAD_INPUT: tuple[type[BaseException], ...] = (RecordError, OSError)
