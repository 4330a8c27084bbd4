"""The bring-your-own-data format that ``volumes`` and ``images2d`` share.

* ``labels.json``: the label table, modality (one of the builder's ``modalities``, matched
  without regard to case), lesion names and the data's terms of use.
* ``cases.csv``: optional patient grouping and official splits.
* ``UserPayload``: what a record of either builder carries to its ``load``.

User data has no license we know. ``labels.json`` may state it: ``"license"`` (an SPDX id,
default ``"other"``) and ``"redistributable"`` (may derivatives of the pixels be published?
default ``false``). Every record carries those terms (``SourceRecord.terms``), so its rows carry
that license and ``publish`` honours the flag.
"""

from __future__ import annotations

import csv
import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from unimed_cot.reasons import Reason
from unimed_cot.records import AnnotatedBox, Intensity, Split, Terms

from ._common import UndeclaredLabelError, is_safe_name

if TYPE_CHECKING:
    from .base import Builder

DEFAULT_LICENSE = "other"
CASES_COLUMNS = ("case", "patient_id", "split")
# An SPDX license id or expression: letters, digits, '.', '-', '+', spaces around AND/OR/WITH.
_SPDX = re.compile(r"^[A-Za-z0-9.+-]+(?: (?:AND|OR|WITH) [A-Za-z0-9.+-]+)*$")


@dataclass(frozen=True, slots=True)
class LabelsFile:
    """The parsed ``labels.json``."""

    labels: dict[int, str]
    modality: str
    lesions: frozenset[str]
    license: str
    redistributable: bool
    hu_offset: float | None = None  # 2D CT stored as HU + offset (DeepLesion: -32768)

    @property
    def terms(self) -> Terms:
        return Terms(license=self.license, redistributable=self.redistributable)

    @property
    def intensity(self) -> Intensity:
        return Intensity.HU if self.hu_offset is not None else Intensity.NATIVE


@dataclass(frozen=True, slots=True)
class UserPayload:
    """What a ``volumes``/``images2d`` record carries to ``load``: the label table it was listed
    under and, for 2D, its ``boxes.csv`` lines (source pixels, half-open)."""

    table: LabelsFile
    boxes: tuple[AnnotatedBox, ...] = ()

    @property
    def labels(self) -> Mapping[int, str]:
        return self.table.labels

    @property
    def lesions(self) -> frozenset[str]:
        return self.table.lesions


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


def read_cases_csv(root: Path, builder: Builder) -> dict[str, CaseInfo | Reason]:
    """Parse the optional ``root/cases.csv``: case -> info, or -> the problem reason of its row.

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
    cases: dict[str, CaseInfo | Reason] = {}
    for row in rows:
        case = (row.get("case") or "").strip()
        if not case:
            continue
        if not is_safe_name(case):
            cases[case] = Reason.UNSAFE_PATH
            continue
        split_text = (row.get("split") or "").strip().lower()
        if split_text and split_text not in {s.value for s in Split}:
            raise builder.layout_error(
                root, f"cases.csv split {split_text!r} of {case!r} is not train/validation/test"
            )
        patient = (row.get("patient_id") or "").strip() or case
        cases[case] = CaseInfo(patient_id=patient, split=Split(split_text) if split_text else None)
    return cases


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
