"""What every builder may share: safe names, problem records, the record errors with their
reasons, guarded reads, file suffixes, the project citation and which class names are findings.

* Safe names: a name from an index file or CSV that is absolute, holds a drive, a backslash or a
  NUL, or climbs out of its folder (``../../etc/passwd``) is never opened; its entry becomes a
  counted rejection (``unsafe-path``).
* Problem records: an entry that is bad at listing time (no pixels read yet) is still listed, with
  its ``RecordProblem`` attached; the pipeline rejects it with that reason without calling
  ``load`` (``builders.load_case``), and the build goes on.
* Record errors: what ``load`` raises for a bad case; each carries its ``reasons.Reason``.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable, Iterable
from pathlib import Path, PurePosixPath, PureWindowsPath
from typing import TYPE_CHECKING, TypeVar

from unimed_cot.imaging import ImagingError, UnreadableFileError
from unimed_cot.questions.vocabulary import is_finding
from unimed_cot.reasons import Reason
from unimed_cot.records import Dims, RecordProblem, SourceRecord

if TYPE_CHECKING:
    from .base import Builder

T = TypeVar("T")

PROJECT_CITATION = """@software{unimed_cot,
  title  = {unimed-cot: grounded medical visual reasoning across 2D images and 3D volumes},
  author = {{unimed-cot developers}},
  year   = {2025},
  url    = {https://github.com/unimed-cot/unimed-cot}
}"""

# --- record errors (what ``load`` raises for a bad case) -----------------------------------------


class UnsafePathError(ImagingError):
    """A name from an index file that is absolute or leaves its folder (``../``)."""

    reason = Reason.UNSAFE_PATH


class BadNameError(ImagingError):
    """A file name or index entry whose shape the release's naming scheme does not allow."""

    reason = Reason.BAD_NAME


class UnknownClassError(ImagingError):
    """A class id (SA-Med2D) or mask channel (M3D-Seg) the class list does not name."""

    reason = Reason.UNKNOWN_CLASS


class UndeclaredLabelError(ImagingError):
    """A label value or name that the source's label table does not declare."""

    reason = Reason.UNDECLARED_LABEL


class MissingImageError(ImagingError):
    """An index entry whose image file is not there."""

    reason = Reason.MISSING_IMAGE


class MissingMaskError(ImagingError):
    """An index entry whose mask file is not there."""

    reason = Reason.MISSING_MASK


class BadMaskError(ImagingError):
    """A mask file that is readable but not what the release documents (not binary, bad shape)."""

    reason = Reason.BAD_MASK


class BadBoxError(ImagingError):
    """A box annotation that is malformed, empty or outside its image."""

    reason = Reason.BAD_BOX


class DuplicateCaseError(ImagingError):
    """Two entries or files that give the same case id (``a.nii`` and ``a.nii.gz``)."""

    reason = Reason.DUPLICATE_CASE


class UnsupportedFileError(ImagingError):
    """A file whose kind this source does not read."""

    reason = Reason.UNSUPPORTED_FILE


class UnusableImageError(ImagingError):
    """An image the release notes list as defective (e.g. a binary mask shipped as an image)."""

    reason = Reason.UNUSABLE_IMAGE


class NoAnnotationError(ImagingError):
    """A case with no usable label map, mask or box: nothing to ground a question on.

    Questions generated from an empty annotation set would state that structures are absent
    ("Is there a liver?" -> "No") when they were only never labelled.
    """

    reason = Reason.NO_ANNOTATION


class OverlappingMasksError(ImagingError):
    """Class channels of a semantic mask that overlap (cannot form one label map)."""

    reason = Reason.OVERLAPPING_MASKS


# --- listing helpers -----------------------------------------------------------------------------


def is_safe_name(name: str) -> bool:
    """True for a plain relative name that stays inside its folder.

    Rejects the empty name, NUL, backslashes (a Windows separator that would let ``..\\`` climb
    out on one system and not on another), absolute paths, drives and any ``..`` part.
    """
    if not name or "\x00" in name or "\\" in name:
        return False
    for pure in (PurePosixPath(name), PureWindowsPath(name)):
        if pure.is_absolute() or pure.anchor or ".." in pure.parts:
            return False
    return True


def problem_record(
    *,
    builder: Builder,
    case_id: str,
    image: Path,
    modality: str,
    dims: Dims,
    reason: Reason,
    detail: str,
) -> SourceRecord:
    """A listed entry that the pipeline rejects with ``reason`` without loading it."""
    return SourceRecord(
        source=builder.slug,
        case_id=case_id,
        group_key=case_id,
        dims=dims,
        modality=modality,
        image=image,
        problem=RecordProblem(reason=reason, detail=detail),
    )


def split_suffix(name: str, suffixes: tuple[str, ...]) -> tuple[str, str] | None:
    """``("case", ".nii.gz")`` for ``case.nii.gz``; None for a name with no listed suffix.

    List longer suffixes first: ``a.nii.gz`` is case ``a``, not ``a.nii``.
    """
    lower = name.lower()
    for suffix in suffixes:
        if lower.endswith(suffix) and len(name) > len(suffix):
            return name[: -len(suffix)], suffix
    return None


def read_guarded(reader: Callable[[Path], T], path: Path) -> T:
    """Call an imaging reader, turning a truncated compressed stream into ``UnreadableFileError``.

    A gzip or zlib stream that ends early surfaces from deep inside the decoders as ``EOFError``
    or ``zlib.error``, which are not bad-input errors by type; one truncated file in a user's
    folder must not stop the build.
    """
    try:
        return reader(path)
    except (EOFError, zlib.error) as error:
        raise UnreadableFileError(f"{path.name}: truncated or corrupt ({error})") from error


def lesion_names(names: Iterable[str]) -> frozenset[str]:
    """The class names that read like findings (tumour, cyst, lesion, ...), not anatomy: the
    vocabulary's one rule (``questions.vocabulary.is_finding``)."""
    return frozenset(name for name in names if is_finding(name))


class EntryProblemError(Exception):
    """An index entry that is bad at listing time, with its reason; the builder turns it into a
    problem record (``problem_record``) so the case is rejected unread. Internal to listing: it
    never leaves ``records()``."""

    def __init__(self, reason: Reason, detail: str) -> None:
        super().__init__(detail)
        self.reason, self.detail = reason, detail
