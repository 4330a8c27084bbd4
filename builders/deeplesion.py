"""``deeplesion``: NIH DeepLesion as released (key CT slices, 16-bit PNG, ``DL_info.csv``).

Expected layout (the unpacked ``Images_png_NN.zip`` files and the index)::

    DIR/
      DL_info.csv                         one row per lesion (several rows may share a slice)
      Images_png/
        000089_01_01/                     <Patient_index:06>_<Study_index:02>_<Series_ID:02>
          037.png                         <slice:03>.png, uint16, HU + 32768
          ...

``DL_info.csv`` columns, as released: ``File_name`` (``000089_01_01_037.png``: folder and slice,
split at the last underscore), ``Patient_index``, ``Study_index``, ``Series_ID``,
``Key_slice_index``, ``Measurement_coordinates`` (RECIST end points), ``Bounding_boxes`` (``"x1,
y1, x2, y2"`` key-slice pixels: the RECIST points padded by 5 px), ``Lesion_diameters_Pixel_``,
``Normalized_lesion_location``, ``Coarse_lesion_type`` (-1 on every training row, 1-8 on validation
and test), ``Possibly_noisy``, ``Slice_range``, ``Spacing_mm_px_`` (x, y, z mm), ``Image_size``,
``DICOM_windows`` (``"low, high"`` HU), ``Patient_gender``, ``Patient_age``, ``Train_Val_Test`` (1
train, 2 validation, 3 test). Multi-value fields are quoted comma-separated numbers, not JSON.

One case per key slice (``File_name`` without ``.png``), with every lesion row of that slice as a
box labelled by its coarse type (``TYPE_NAMES``; the mapping 1 bone ... 8 pelvis is the commonly
cited one, unconfirmed by an official text; untyped training rows are "lesion"). Pixels become HU
(value - 32768) and are shown under the slice's own ``DICOM_windows`` when all its lesions share
one, else under CT presets voted by the lesion types. Pixel spacing is ``Spacing_mm_px_`` (y, x).
Image axes are not declared (the release does not state the slice orientation): sides are in the
image's frame. Patients group by ``Patient_index``; the official split is kept.

What the boxes prove: only bookmarked lesions are annotated, so a slice's other lesions are
unlabelled. No absence is ever claimed (no "no lesion" answer, no "which finding" question), and
boxes carry no size (a RECIST box is not a lesion's area).

Rejected with a reason, the build going on: a ``File_name`` that climbs out of the folder
(``unsafe-path``) or does not follow the naming (or disagrees with its index columns:
``bad-name``); a missing PNG (``missing-image``); a box that does not parse, is empty, or lies
more than the 5 px RECIST pad outside the image (``bad-box``; within the pad it is clipped); a type
outside -1, 1-8 (``unknown-class``); spacing, window, split or size fields that do not parse
(``bad-metadata``); a lesion flagged ``Possibly_noisy`` (``noisy-annotation``: the source itself
doubts it, and dropping only that box would leave the slice's annotation incomplete); a PNG that
is not 16-bit grayscale (``unusable-image``) or whose size is not ``Image_size``
(``label-mismatch``); a truncated PNG (``unreadable-file``).

License: none is stated by the release ("no paperwork" download); rows carry ``other`` and are
published without pixels (``redistributable = False``).
"""

from __future__ import annotations

import csv
import math
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import numpy as np

from unimed_cot.imaging import LabelMismatchError, read_image_2d
from unimed_cot.reasons import Reason
from unimed_cot.records import AnnotatedBox, Case, Dims, Image2D, Intensity, SourceRecord, Split

from ._common import (
    BadBoxError,
    EntryProblemError,
    UnusableImageError,
    is_safe_name,
    problem_record,
    read_guarded,
)
from .base import Builder

HU_OFFSET = 32768  # stored value - 32768 = HU (the release's FAQ, as loaders cite it)
RECIST_PAD_PX = 5.0  # Bounding_boxes = RECIST end points padded by 5 px
TYPE_NAMES: dict[int, str] = {
    1: "bone lesion",
    2: "abdomen lesion",
    3: "mediastinum lesion",
    4: "liver lesion",
    5: "lung lesion",
    6: "kidney lesion",
    7: "soft tissue lesion",
    8: "pelvic lesion",
}
UNTYPED = "lesion"  # Coarse_lesion_type -1: every training row
SPLITS = {"1": Split.TRAIN, "2": Split.VALIDATION, "3": Split.TEST}
COLUMNS = (
    "File_name",
    "Patient_index",
    "Study_index",
    "Series_ID",
    "Key_slice_index",
    "Measurement_coordinates",
    "Bounding_boxes",
    "Lesion_diameters_Pixel_",
    "Normalized_lesion_location",
    "Coarse_lesion_type",
    "Possibly_noisy",
    "Slice_range",
    "Spacing_mm_px_",
    "Image_size",
    "DICOM_windows",
    "Patient_gender",
    "Patient_age",
    "Train_Val_Test",
)
FILE_NAME = re.compile(r"^(\d{6})_(\d{2})_(\d{2})_(\d{3,})\.png$")

Box = tuple[float, float, float, float]


@dataclass(frozen=True, slots=True)
class Lesion:
    label: str
    box: Box


@dataclass(frozen=True, slots=True)
class SlicePayload:
    """One key slice: its lesions, the index's spacing, size and window."""

    lesions: tuple[Lesion, ...]
    spacing_mm: tuple[float, float]  # (row, col) = (y, x)
    image_size: tuple[int, int]  # as Image_size lists it
    window: tuple[float, float] | None  # (low, high) HU when all lesions share one
    typed: bool


class DeepLesionBuilder(Builder):
    """NIH DeepLesion: 32,735 RECIST-bookmarked lesions on key CT slices of 4,427 patients."""

    slug = "deeplesion"
    title = "DeepLesion (NIH Clinical Center)"
    homepage = "https://nihcc.app.box.com/v/DeepLesion"
    citation = """@article{yan2018deeplesion,
  title   = {DeepLesion: automated mining of large-scale lesion annotations and universal lesion
             detection with deep learning},
  author  = {Yan, Ke and Wang, Xiaosong and Lu, Le and Summers, Ronald M.},
  journal = {Journal of Medical Imaging},
  volume  = {5},
  number  = {3},
  pages   = {036501},
  year    = {2018}
}"""
    license = "other"  # no license text is published with the release
    redistributable = False
    modalities: ClassVar[tuple[str, ...]] = ("CT",)
    dims: ClassVar[tuple[Dims, ...]] = (2,)
    layout = """DIR/
  DL_info.csv                one row per lesion (File_name, ..., Train_Val_Test)
  Images_png/<pt>_<st>_<se>/ e.g. 000089_01_01/ (from Images_png_NN.zip)
      <slice>.png            e.g. 037.png: uint16, HU + 32768"""

    def check_root(self, root: Path) -> None:
        if not root.is_dir():
            raise self.layout_error(root, "it is not a folder")
        if not (root / "DL_info.csv").is_file():
            raise self.layout_error(root, "there is no DL_info.csv")
        if not (root / "Images_png").is_dir():
            raise self.layout_error(root, "there is no Images_png/ folder")

    def records(self, root: Path) -> Iterator[SourceRecord]:
        self.check_root(root)
        slices: dict[str, list[tuple[int, dict[str, str]]]] = {}
        with (root / "DL_info.csv").open(newline="", encoding="utf-8") as handle:
            reader = csv.DictReader(handle)
            missing = [c for c in COLUMNS if c not in (reader.fieldnames or ())]
            if missing:
                raise self.layout_error(root, f"DL_info.csv lacks the columns {missing}")
            for line, row in enumerate(reader, start=2):
                name = (row["File_name"] or "").strip()
                slices.setdefault(name.removesuffix(".png"), []).append((line, row))
        for case_id in sorted(slices):
            yield self._record(root, case_id, slices[case_id])

    def _record(
        self, root: Path, case_id: str, rows: list[tuple[int, dict[str, str]]]
    ) -> SourceRecord:
        image = root / "Images_png" / case_id
        try:
            image, patient, payload, split = _parse_slice(root, rows)
        except EntryProblemError as problem:
            return problem_record(
                builder=self,
                case_id=case_id,
                image=image,
                modality="CT",
                dims=2,
                reason=problem.reason,
                detail=problem.detail,
            )
        return SourceRecord(
            source=self.slug,
            case_id=case_id,
            group_key=patient,
            dims=2,
            modality="CT",
            image=image,
            official_split=split,
            intensity=Intensity.HU,
            payload=payload,
        )

    def load(self, record: SourceRecord) -> Case:
        payload = record.payload_as(SlicePayload)
        stored = read_guarded(read_image_2d, record.image)
        array = np.asarray(stored.array)
        if array.ndim != 2 or array.dtype != np.uint16:
            raise UnusableImageError(
                f"{record.case_id}: {record.image.name} is {array.dtype} with shape "
                f"{array.shape}; DeepLesion slices are 16-bit grayscale (HU + {HU_OFFSET})"
            )
        height, width = array.shape
        if sorted(payload.image_size) != sorted((height, width)):
            raise LabelMismatchError(
                f"{record.case_id}: {record.image.name} is {width}x{height}, DL_info.csv "
                f"Image_size says {payload.image_size}"
            )
        boxes = tuple(
            AnnotatedBox(label=lesion.label, box=_fit_box(lesion.box, record, width, height))
            for lesion in payload.lesions
        )
        hounsfield = array.astype(np.float32) - np.float32(HU_OFFSET)
        labels = {i: name for i, name in enumerate(sorted({b.label for b in boxes}), start=1)}
        return Case(
            record=record,
            image=Image2D(array=hounsfield, spacing_mm=payload.spacing_mm),
            labels=labels,
            lesion_labels=frozenset(labels.values()),
            boxes=boxes,
            # Distractors for typed slices only: "lesion" beside "liver lesion" has two answers.
            vocabulary=tuple(TYPE_NAMES.values()) if payload.typed else (),
            source_window=payload.window,
            history=[f"HU = stored value - {HU_OFFSET}"],
        )


# --- DL_info.csv fields ----------------------------------------------------------------------


def _parse_slice(
    root: Path, rows: list[tuple[int, dict[str, str]]]
) -> tuple[Path, str, SlicePayload, Split]:
    """Image path, patient key, payload and split of a key slice's rows (or EntryProblemError)."""
    first_line, first = rows[0]
    name = (first["File_name"] or "").strip()
    where = f"DL_info.csv line {first_line}"
    if not is_safe_name(name) or "/" in name:
        raise EntryProblemError(
            Reason.UNSAFE_PATH, f"{where}: File_name {name!r} leaves Images_png/"
        )
    match = FILE_NAME.match(name)
    if match is None:
        raise EntryProblemError(
            Reason.BAD_NAME,
            f"{where}: File_name {name!r} is not <pt:06>_<st:02>_<se:02>_<slice>.png",
        )
    folder, _, slice_file = name.rpartition("_")
    image = root / "Images_png" / folder / slice_file
    if not image.is_file():
        raise EntryProblemError(
            Reason.MISSING_IMAGE, f"{where}: Images_png/{folder}/{slice_file} is not there"
        )
    lesions: list[Lesion] = []
    windows: set[tuple[float, float]] = set()
    keys: set[tuple[str, ...]] = set()
    typed = False
    spacing_mm: tuple[float, float] = (0.0, 0.0)
    image_size: tuple[int, int] = (0, 0)
    official = Split.TRAIN
    for line, row in rows:
        where = f"DL_info.csv line {line}"
        _check_index(match, row, where)
        if (row["Possibly_noisy"] or "").strip() not in ("0", "1"):
            raise EntryProblemError(Reason.BAD_METADATA, f"{where}: Possibly_noisy is not 0 or 1")
        if row["Possibly_noisy"].strip() == "1":
            raise EntryProblemError(
                Reason.NOISY_ANNOTATION, f"{where}: the release flags this lesion Possibly_noisy"
            )
        kind = _integer(row["Coarse_lesion_type"])
        if kind != -1 and kind not in TYPE_NAMES:
            raise EntryProblemError(
                Reason.UNKNOWN_CLASS,
                f"{where}: Coarse_lesion_type {row['Coarse_lesion_type']!r} is not -1 or 1-8",
            )
        typed |= kind in TYPE_NAMES
        box = _numbers(row["Bounding_boxes"], 4)
        if box is None or not (box[2] > box[0] and box[3] > box[1]):
            raise EntryProblemError(
                Reason.BAD_BOX,
                f"{where}: Bounding_boxes {row['Bounding_boxes']!r} is not x1<x2, y1<y2",
            )
        lesions.append(
            Lesion(label=TYPE_NAMES.get(kind, UNTYPED), box=(box[0], box[1], box[2], box[3]))
        )
        window = _numbers(row["DICOM_windows"], 2)
        spacing = _numbers(row["Spacing_mm_px_"], 3)
        size = _numbers(row["Image_size"], 2)
        split = SPLITS.get((row["Train_Val_Test"] or "").strip())
        if window is None or window[1] <= window[0]:
            raise EntryProblemError(
                Reason.BAD_METADATA, f"{where}: DICOM_windows is not 'low, high'"
            )
        if spacing is None or min(spacing[:2]) <= 0:
            raise EntryProblemError(
                Reason.BAD_METADATA, f"{where}: Spacing_mm_px_ is not 'x, y, z' mm"
            )
        if size is None or min(size) < 1 or any(v != int(v) for v in size):
            raise EntryProblemError(
                Reason.BAD_METADATA, f"{where}: Image_size is not two pixel counts"
            )
        if split is None:
            raise EntryProblemError(
                Reason.BAD_METADATA, f"{where}: Train_Val_Test is not 1, 2 or 3"
            )
        windows.add((window[0], window[1]))
        spacing_mm, image_size, official = (
            (spacing[1], spacing[0]),
            (int(size[0]), int(size[1])),
            split,
        )
        keys.add(
            (row["Patient_index"].strip(), row["Spacing_mm_px_"], row["Image_size"], split.value)
        )
    if len(keys) != 1:
        raise EntryProblemError(
            Reason.BAD_METADATA,
            f"DL_info.csv lines {[line for line, _ in rows]}: rows of one slice disagree on "
            "patient, spacing, size or split",
        )
    payload = SlicePayload(
        lesions=tuple(lesions),
        spacing_mm=spacing_mm,
        image_size=image_size,
        window=next(iter(windows)) if len(windows) == 1 else None,
        typed=typed,
    )
    return image, str(int(match.group(1))), payload, official


def _check_index(match: re.Match[str], row: dict[str, str], where: str) -> None:
    """The index columns must name the file the row names."""
    patient, study, series, key_slice = (int(g) for g in match.groups())
    given = tuple(
        _integer(row[c]) for c in ("Patient_index", "Study_index", "Series_ID", "Key_slice_index")
    )
    if given != (patient, study, series, key_slice):
        raise EntryProblemError(
            Reason.BAD_NAME,
            f"{where}: File_name {row['File_name']!r} disagrees with its index columns {given}",
        )
    bounds = _numbers(row["Slice_range"], 2)
    if bounds is None or not bounds[0] <= key_slice <= bounds[1]:
        raise EntryProblemError(
            Reason.BAD_METADATA, f"{where}: key slice {key_slice} is outside Slice_range"
        )


def _numbers(text: str | None, count: int) -> tuple[float, ...] | None:
    """``"0.859375, 0.859375, 5"`` -> floats; None unless exactly ``count`` finite numbers."""
    parts = (text or "").split(",")
    if len(parts) != count:
        return None
    try:
        values = tuple(float(p) for p in parts)
    except ValueError:
        return None
    return values if all(math.isfinite(v) for v in values) else None


def _integer(text: str | None) -> int | None:
    try:
        return int((text or "").strip())
    except ValueError:
        return None


def _fit_box(box: Box, record: SourceRecord, width: int, height: int) -> Box:
    """The box within the image: clipped when it leaves it by no more than the RECIST pad."""
    x1, y1, x2, y2 = box
    pad = RECIST_PAD_PX
    if x1 < -pad or y1 < -pad or x2 > width + pad or y2 > height + pad:
        raise BadBoxError(
            f"{record.case_id}: box {list(box)} lies outside the {width}x{height} slice by more "
            f"than the {pad:g} px RECIST pad"
        )
    return (max(0.0, x1), max(0.0, y1), min(float(width), x2), min(float(height), y2))
