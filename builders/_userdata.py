"""What the two bring-your-own builders (``volumes``, ``images2d``) share.

* ``labels.json``: the label table, modality (one of the builder's ``modalities``, matched
  without regard to case), lesion names and the data's terms of use.
* ``cases.csv``: optional patient grouping and official splits.
* Safe names: a case id or file name from a CSV that is absolute or climbs out of its folder
  (``../../etc/passwd``) is never opened; its entry becomes a counted rejection.
* Problem records: an entry that is bad at listing time (no pixels read yet) is still listed, with
  the problem attached, and ``load`` raises the matching typed error, so the pipeline counts it
  as a rejection of that case with a reason slug and the build goes on.

User data has no license we know. ``labels.json`` may state it: ``"license"`` (an SPDX id,
default ``"other"``) and ``"redistributable"`` (may derivatives of the pixels be published?
default ``false``). Rows carry that license; see ``adopt_terms``.
"""

from __future__ import annotations

import csv
import json
import math
import re
from dataclasses import dataclass
from pathlib import Path, PurePosixPath, PureWindowsPath
from typing import TYPE_CHECKING, Any, TypeVar

import numpy as np
import numpy.typing as npt

from unimed_cot.imaging import ImagingError, UnreadableFileError
from unimed_cot.records import SourceRecord, Split

from .base import terms_extra

if TYPE_CHECKING:
    from collections.abc import Callable

    from .base import Builder

T = TypeVar("T")

DEFAULT_LICENSE = "other"
CASES_COLUMNS = ("case", "patient_id", "split")
# An SPDX license id or expression: letters, digits, '.', '-', '+', spaces around AND/OR/WITH.
_SPDX = re.compile(r"^[A-Za-z0-9.+-]+(?: (?:AND|OR|WITH) [A-Za-z0-9.+-]+)*$")
_PROBLEM = "problem"
_DETAIL = "problem_detail"


class UnsafePathError(ImagingError):
    """A name from an index file that is absolute or leaves its folder (``../``)."""


class UndeclaredLabelError(ImagingError):
    """A label value or name that ``labels.json`` does not declare."""


class MissingImageError(ImagingError):
    """An index entry (``cases.csv``, ``boxes.csv``) for an image that is not there."""


class BadBoxError(ImagingError):
    """A box annotation that is malformed, empty or outside its image."""


class NoAnnotationError(ImagingError):
    """A case with no label map, mask or box: nothing to ground a question on.

    Questions generated from an empty annotation set would state that structures are absent
    ("Is there a liver?" -> "No") when they were only never labelled.
    """


class DuplicateCaseError(ImagingError):
    """Two image files that give the same case id (``a.nii`` and ``a.nii.gz``)."""


class UnsupportedFileError(ImagingError):
    """A file in ``images/`` whose kind this source does not read."""


_ERRORS: dict[str, type[ImagingError]] = {
    "unsafe-path": UnsafePathError,
    "undeclared-label": UndeclaredLabelError,
    "missing-image": MissingImageError,
    "bad-box": BadBoxError,
    "duplicate-case": DuplicateCaseError,
    "unsupported-file": UnsupportedFileError,
}


@dataclass(frozen=True, slots=True)
class LabelsFile:
    """The parsed ``labels.json``."""

    labels: dict[int, str]
    modality: str
    lesions: frozenset[str]
    license: str
    redistributable: bool
    hu_offset: float | None = None  # 2D CT stored as HU + offset (DeepLesion: -32768)

    def extra(self) -> tuple[tuple[str, str], ...]:
        """The table and terms as ``SourceRecord.extra`` entries (strings only)."""
        hu = (
            ()
            if self.hu_offset is None
            else (("hu_offset", repr(self.hu_offset)), ("intensity", "hu"))
        )
        return (
            ("labels", json.dumps({str(v): n for v, n in sorted(self.labels.items())})),
            ("lesions", json.dumps(sorted(self.lesions))),
            *terms_extra(self.license, self.redistributable),
            *hu,
        )


@dataclass(frozen=True, slots=True)
class CaseInfo:
    """One row of ``cases.csv``."""

    patient_id: str
    split: Split | None


def read_labels_json(root: Path, builder: Builder) -> LabelsFile:
    """Parse ``root/labels.json``; a missing or malformed file is a layout error.

    Raises:
        SourceLayoutError: the file is missing, not JSON, or its keys are wrong.
    """
    path = root / "labels.json"
    if not path.is_file():
        raise builder.layout_error(root, "labels.json is missing")
    try:
        data: Any = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as error:
        raise builder.layout_error(root, f"labels.json is not readable JSON ({error})") from error
    if not isinstance(data, dict):
        raise builder.layout_error(root, "labels.json must hold a JSON object")
    raw = data.get("labels")
    if not isinstance(raw, dict) or not raw:
        raise builder.layout_error(root, 'labels.json needs "labels": {"1": "name", ...}')
    labels: dict[int, str] = {}
    for key, name in raw.items():
        if not (isinstance(key, str) and key.isdigit() and int(key) > 0):
            raise builder.layout_error(
                root, f"labels.json label value {key!r} is not a positive integer (0 is background)"
            )
        if not isinstance(name, str) or not name.strip():
            raise builder.layout_error(root, f"labels.json label {key} has no name")
        labels[int(key)] = name.strip()
    if len(set(labels.values())) != len(labels):
        raise builder.layout_error(root, "labels.json gives two label values the same name")
    modality = data.get("modality")
    known = {name.lower(): name for name in builder.modalities}
    if not isinstance(modality, str) or modality.strip().lower() not in known:
        raise builder.layout_error(
            root, f'labels.json needs "modality", one of {", ".join(builder.modalities)}'
        )
    lesions = data.get("lesions", [])
    if not isinstance(lesions, list) or not all(isinstance(n, str) for n in lesions):
        raise builder.layout_error(root, 'labels.json "lesions" must be a list of label names')
    unknown = sorted(set(lesions) - set(labels.values()))
    if unknown:
        raise builder.layout_error(root, f"labels.json lesions {unknown} are not label names")
    license_id = data.get("license", DEFAULT_LICENSE)
    if not isinstance(license_id, str) or not _SPDX.match(license_id):
        raise builder.layout_error(root, f"labels.json license {license_id!r} is not an SPDX id")
    redistributable = data.get("redistributable", False)
    if not isinstance(redistributable, bool):
        raise builder.layout_error(root, 'labels.json "redistributable" must be true or false')
    hu_offset = data.get("hu_offset")
    if hu_offset is not None and (
        isinstance(hu_offset, bool)
        or not isinstance(hu_offset, int | float)
        or not math.isfinite(hu_offset)
        or known[modality.strip().lower()] != "CT"
    ):
        raise builder.layout_error(
            root, 'labels.json "hu_offset" must be a number, and only with "modality": "CT"'
        )
    return LabelsFile(
        labels=labels,
        modality=known[modality.strip().lower()],
        lesions=frozenset(lesions),
        license=license_id,
        redistributable=redistributable,
        hu_offset=None if hu_offset is None else float(hu_offset),
    )


def read_cases_csv(root: Path, builder: Builder) -> dict[str, CaseInfo | str]:
    """Parse the optional ``root/cases.csv``: case -> info, or -> the problem slug of its row.

    Raises:
        SourceLayoutError: the file exists but its header is not ``case,patient_id,split``.
    """
    path = root / "cases.csv"
    if not path.is_file():
        return {}
    with path.open(newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        if tuple(reader.fieldnames or ()) not in (CASES_COLUMNS, CASES_COLUMNS[:2]):
            raise builder.layout_error(
                root, f"cases.csv columns are {reader.fieldnames}, expected {list(CASES_COLUMNS)}"
            )
        rows = list(reader)
    cases: dict[str, CaseInfo | str] = {}
    for row in rows:
        case = (row.get("case") or "").strip()
        if not case:
            continue
        if not is_safe_name(case):
            cases[case] = "unsafe-path"
            continue
        split_text = (row.get("split") or "").strip().lower()
        if split_text and split_text not in {s.value for s in Split}:
            raise builder.layout_error(
                root, f"cases.csv split {split_text!r} of {case!r} is not train/validation/test"
            )
        patient = (row.get("patient_id") or "").strip() or case
        cases[case] = CaseInfo(patient_id=patient, split=Split(split_text) if split_text else None)
    return cases


def is_safe_name(name: str) -> bool:
    """True for a plain relative name that stays inside its folder (no ``..``, no root/drive)."""
    if not name or "\x00" in name:
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
    dims: int,
    reason: str,
    detail: str,
) -> SourceRecord:
    """A listed entry that ``load`` will reject with ``reason`` (one of the slugs above)."""
    if reason not in _ERRORS:
        raise ValueError(f"unknown problem reason {reason!r}")
    return SourceRecord(
        source=builder.slug,
        case_id=case_id,
        group_key=case_id,
        dims=3 if dims == 3 else 2,
        modality=modality,
        image=image,
        extra=((_PROBLEM, reason), (_DETAIL, detail)),
    )


def raise_problem(record: SourceRecord) -> None:
    """Raise the typed error of a problem record; do nothing for a sound one."""
    reason = record.extra_value(_PROBLEM)
    if reason:
        raise _ERRORS[reason](f"{record.case_id}: {record.extra_value(_DETAIL)}")


def decode_labels(record: SourceRecord) -> tuple[dict[int, str], frozenset[str]]:
    """The label table and lesion names carried by a record."""
    try:
        raw = json.loads(record.extra_value("labels"))
        lesions = json.loads(record.extra_value("lesions", "[]"))
        return {int(v): str(n) for v, n in raw.items()}, frozenset(str(n) for n in lesions)
    except (ValueError, AttributeError, TypeError) as error:
        raise ImagingError(f"{record.case_id}: the record carries no valid label table") from error


def adopt_terms(builder: Builder, record: SourceRecord) -> None:
    """Make ``builder.license``/``redistributable`` the terms ``labels.json`` states.

    The pipeline stamps ``builder.license`` on the rows of a case right after ``builder.load``
    on the same instance, and one instance serves one input folder, so the instance shadows the
    class default (``"other"``, not redistributable) with the user's stated terms.
    """
    # Instance attributes over the ClassVar defaults; vars() because the base declares ClassVars.
    license_id, redistributable = builder.record_terms(record)
    vars(builder)["license"] = license_id
    vars(builder)["redistributable"] = redistributable


def read_guarded(reader: Callable[[Path], T], path: Path) -> T:
    """Call an imaging reader, turning a truncated compressed stream into ``UnreadableFileError``.

    A gzip or zlib stream that ends early surfaces from deep inside the decoders as ``EOFError``
    or ``zlib.error``, which the pipeline does not count as a bad record; one truncated file in a
    user's folder must not stop the build.
    """
    import zlib

    try:
        return reader(path)
    except (EOFError, zlib.error) as error:
        raise UnreadableFileError(f"{path.name}: truncated or corrupt ({error})") from error


def check_user_root(builder: Builder, root: Path) -> None:
    """The layout check both builders share: a valid labels.json and a non-empty images/."""
    read_labels_json(root, builder)
    images = root / "images"
    if not images.is_dir():
        raise builder.layout_error(root, "images/ is missing")
    if not any(not p.name.startswith(".") for p in images.iterdir()):
        raise builder.layout_error(root, "images/ is empty")


def undeclared_values(
    array: npt.NDArray[np.generic], labels: dict[int, str], *, case_id: str, name: str
) -> None:
    """Raise ``UndeclaredLabelError`` when a label map holds values labels.json does not name."""
    present = _label_values(np.asarray(array))
    undeclared = sorted(present - set(labels) - {0})
    if undeclared:
        raise UndeclaredLabelError(
            f"{case_id}: {name} holds label values {undeclared} that labels.json does not declare"
        )


def _label_values(array: npt.NDArray[np.generic]) -> set[int]:
    # A counting pass over slabs instead of np.unique: no sort and no full-size copy of a
    # 512 x 512 x 600 map (bincount needs intp input, 8 bytes a voxel).
    if array.size == 0:
        return set()
    low, high = int(array.min()), int(array.max())
    if low < 0 or high >= 1 << 16:
        return {int(v) for v in np.unique(array)}
    counts = np.zeros(high + 1, dtype=np.int64)
    flat = array.reshape(-1)
    step = 1 << 22
    for start in range(0, flat.size, step):
        counts += np.bincount(flat[start : start + step].astype(np.intp), minlength=high + 1)
    return {int(v) for v in np.flatnonzero(counts)}
