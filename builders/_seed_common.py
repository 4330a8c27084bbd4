"""What the two seed-source builders (``samed2d``, ``m3d_seg``) share.

* Problem records: an index entry that is bad at listing time (a path escaping the folder, a
  name of an unexpected shape, an unknown class id) is still listed, with its problem attached;
  ``load`` raises the matching typed error, so the pipeline counts a rejection with a reason slug
  (``reason_slug`` of the class name) and the build goes on. Nothing named by a bad entry is read.
* Per-record terms: both releases aggregate datasets under different licenses. Each record
  carries ``("license", SPDX)`` and ``("redistributable", "0"|"1")`` in ``SourceRecord.extra``;
  ``adopt_record_terms`` makes the builder instance state them, because the pipeline stamps
  ``builder.license`` on a case's rows right after ``builder.load`` on the same instance.
* Lesion names: which class names denote findings (one region per component, lesion questions).
"""

from __future__ import annotations

import re
from pathlib import PurePosixPath, PureWindowsPath
from typing import TYPE_CHECKING

from unimed_cot.imaging import ImagingError
from unimed_cot.records import Dims, SourceRecord

if TYPE_CHECKING:
    from collections.abc import Iterable
    from pathlib import Path

    from .base import Builder

_PROBLEM = "problem"
_DETAIL = "problem_detail"

# Words that name findings rather than anatomy (tumour, lesion, cyst, stones, ...).
_LESION_WORDS = re.compile(
    r"tumou?r|lesion|nodule|mass\b|cyst|kyst|metasta|cancer|carcinoma|neoplasm|polyp|"
    r"h(a)?emorrhage|bleed|o?edema|infarct|stone|calcul|fracture|effusion|pneumothorax|"
    r"abscess|necro|enhancing|malignan|aneurysm|thromb|embol|pneumonia|melanoma|nevus|ulcer|"
    r"infection|covid|stroke|plaque",
    re.IGNORECASE,
)


class UnsafePathError(ImagingError):
    """An index entry that is absolute or climbs out of the source folder (``../``)."""


class BadNameError(ImagingError):
    """A file name or index entry whose shape the release's naming scheme does not allow."""


class UnknownClassError(ImagingError):
    """A class id (SA-Med2D) or mask channel (M3D-Seg) the class list does not name."""


class MissingImageError(ImagingError):
    """An index entry whose image file is not there."""


class MissingMaskError(ImagingError):
    """An index entry whose mask file is not there."""


class BadMaskError(ImagingError):
    """A mask file that is readable but not what the release documents (not binary, bad shape)."""


class DuplicateCaseError(ImagingError):
    """Two index entries that give the same case id."""


class UnusableImageError(ImagingError):
    """An image the release notes list as defective (e.g. a binary mask shipped as an image)."""


class NoAnnotationError(ImagingError):
    """A case with no usable mask: nothing to ground a question on."""


class OverlappingMasksError(ImagingError):
    """Class channels of a semantic mask that overlap (cannot form one label map)."""


PROBLEMS: dict[str, type[ImagingError]] = {
    "unsafe-path": UnsafePathError,
    "bad-name": BadNameError,
    "unknown-class": UnknownClassError,
    "duplicate-case": DuplicateCaseError,
    "missing-image": MissingImageError,
}


def is_safe_relative(name: str) -> bool:
    """True for a relative name that stays inside its folder (no ``..``, no root or drive)."""
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
    reason: str,
    detail: str,
    extra: tuple[tuple[str, str], ...] = (),
) -> SourceRecord:
    """A listed entry that ``load`` rejects with ``reason`` (a key of ``PROBLEMS``)."""
    if reason not in PROBLEMS:
        raise ValueError(f"unknown problem reason {reason!r}")
    return SourceRecord(
        source=builder.slug,
        case_id=case_id,
        group_key=case_id,
        dims=dims,
        modality=modality,
        image=image,
        extra=((_PROBLEM, reason), (_DETAIL, detail), *extra),
    )


def raise_problem(record: SourceRecord) -> None:
    """Raise the typed error of a problem record; do nothing for a sound one."""
    reason = record.extra_value(_PROBLEM)
    if reason:
        raise PROBLEMS[reason](f"{record.case_id}: {record.extra_value(_DETAIL)}")


def adopt_record_terms(builder: Builder, record: SourceRecord) -> None:
    """Make the builder instance state the record's license and redistribution flag.

    One instance serves one build, and the pipeline reads ``builder.license`` for a case's rows
    right after ``builder.load(record)`` on that instance; the class attributes stay the
    conservative defaults shown by ``unimed-cot sources``.
    """
    license_id, redistributable = builder.record_terms(record)
    vars(builder)["license"] = license_id
    vars(builder)["redistributable"] = redistributable


def lesion_names(names: Iterable[str]) -> frozenset[str]:
    """The class names that read like findings (tumour, cyst, lesion, ...), not anatomy."""
    return frozenset(name for name in names if _LESION_WORDS.search(name))
