"""``vindr_cxr``: VinDr-CXR as released on PhysioNet (chest radiographs in DICOM, reader boxes).

Expected layout (``physionet.org/files/vindr-cxr/1.0.0/``)::

    DIR/
      annotations/
        annotations_train.csv     image_id,rad_id,class_name,x_min,y_min,x_max,y_max
        annotations_test.csv      same columns (the test set's consensus labels)
        image_labels_train.csv    image-level 0/1 labels (not read: the boxes file has them)
        image_labels_test.csv
      train/<image_id>.dicom      15,000 PA chest radiographs (``.dcm`` is read too)
      test/<image_id>.dicom       3,000

The Kaggle competition copy (VinBigData Chest X-ray Abnormalities Detection) is read too:
``DIR/train.csv`` (``image_id,class_name,class_id,rad_id,x_min,y_min,x_max,y_max``) with
``DIR/train/<image_id>.dicom``; its test images have no labels and are not listed.

``annotations_*.csv``: one row per reader and finding, boxes in absolute pixels of the DICOM grid
(floats, xyxy); "No finding" and the global labels have empty coordinates; an extra ``class_id``
column (the Kaggle copy's) is ignored. Training images were read by three radiologists each, the
test images by a consensus of five.

**Reader merge.** Training boxes are fused per class across readers (``_readers``: IoU >= 0.4,
mean coordinates); a finding is shown when a majority of the image's readers boxed it, and a
finding only a minority boxed is *uncertain*: never shown, never called absent. Test boxes are the
consensus and are kept as they are (exact repeats merged).

**What the boxes prove.** Every reader looked for all 22 local findings (``LOCAL_FINDINGS``) on
the whole image, so a local finding no reader boxed is annotated absent, and an image every
reader called "No finding" is a verified negative (``Case.findings_exhaustive``): it gets a
"which of these findings?" question whose answer is "none". Boxes carry no size (a box is not a
finding's area). The six global labels (Lung tumor, Pneumonia, Tuberculosis, COPD, Other
diseases, No finding) are image-level diagnoses: never boxed, never denied.

**Pixels.** Read through ``imaging.dicom2d``: Modality LUT, the file's VOI LUT or window, then
MONOCHROME1 inversion (bone bright). Image axes: a frontal radiograph (ViewPosition PA or AP, or
none, as the release is all PA) is shown with the patient's right on the image's left, so +x is
the patient's left and +y inferior; an explicit PatientOrientation wins; a lateral view declares
none. No patient id is released: each image is its own group (``image_id``). Splits: train, test.

Rejected with a reason, the build going on: an ``image_id`` that climbs out of the folder
(``unsafe-path``) or names no file (``missing-image``); an image with no row (``no-annotation``);
the same id twice (``duplicate-case``); a class the release does not list (``undeclared-label``);
a local finding without a box, a box that does not parse or is empty, or one outside the image
(``bad-box``); a row without ``rad_id`` (``bad-metadata``); an unreadable or truncated DICOM.

License: PhysioNet credentialed access with a data use agreement (no sharing): rows carry
``other`` and are published without pixels.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

from unimed_cot.imaging import read_image_2d
from unimed_cot.imaging.dicom_pixels import read_header
from unimed_cot.reasons import Reason
from unimed_cot.records import AnnotatedBox, Case, Dims, SourceRecord, Split

from ._common import (
    BadBoxError,
    EntryProblemError,
    is_safe_name,
    problem_record,
    read_guarded,
    split_suffix,
)
from ._readers import ReaderBox, agree
from .base import Builder

LOCAL_FINDINGS = (
    "Aortic enlargement",
    "Atelectasis",
    "Calcification",
    "Cardiomegaly",
    "Clavicle fracture",
    "Consolidation",
    "Edema",
    "Emphysema",
    "Enlarged PA",
    "ILD",
    "Infiltration",
    "Lung Opacity",
    "Lung cavity",
    "Lung cyst",
    "Mediastinal shift",
    "Nodule/Mass",
    "Other lesion",
    "Pleural effusion",
    "Pleural thickening",
    "Pneumothorax",
    "Pulmonary fibrosis",
    "Rib fracture",
)
NO_FINDING = "No finding"
GLOBAL_LABELS = ("COPD", "Lung tumor", "Other diseases", "Pneumonia", "Tuberculosis", NO_FINDING)
COLUMNS = ("image_id", "rad_id", "class_name", "x_min", "y_min", "x_max", "y_max")
_CLASS_NAMES = {name.casefold(): name for name in (*LOCAL_FINDINGS, *GLOBAL_LABELS)}
SPLIT_FOLDERS = {"train": Split.TRAIN, "test": Split.TEST}
SUFFIXES = (".dicom", ".dcm")
FRONTAL_AXES = ("L", "I")  # +x to the patient's left, +y to the feet
_ORIENTATION = {"L": "L", "R": "R", "A": "A", "P": "P", "H": "S", "F": "I"}

Box = tuple[float, float, float, float]


@dataclass(frozen=True, slots=True)
class ImagePayload:
    """One image: the boxes readers agree on, the uncertain findings and the global labels."""

    boxes: tuple[tuple[str, Box], ...]
    uncertain: frozenset[str]
    global_labels: frozenset[str]


class VinDrCxrBuilder(Builder):
    """VinDr-CXR: 18,000 chest radiographs with radiologists' boxes for 22 local findings."""

    slug = "vindr_cxr"
    title = "VinDr-CXR (chest radiographs with radiologists' boxes)"
    homepage = "https://physionet.org/content/vindr-cxr/1.0.0/"
    citation = """@article{nguyen2022vindrcxr,
  title   = {VinDr-CXR: An open dataset of chest X-rays with radiologist's annotations},
  author  = {Nguyen, Ha Q. and Lam, Khanh and Le, Linh T. and others},
  journal = {Scientific Data},
  volume  = {9},
  pages   = {429},
  year    = {2022}
}"""
    license = "other"  # PhysioNet credentialed health data license + DUA: no sharing
    redistributable = False
    modalities: ClassVar[tuple[str, ...]] = ("X-ray",)
    dims: ClassVar[tuple[Dims, ...]] = (2,)
    layout = """DIR/                               physionet.org/files/vindr-cxr/1.0.0/
  annotations/annotations_train.csv  image_id,rad_id,class_name,x_min,...
  annotations/annotations_test.csv   same columns (consensus labels)
  train/<image_id>.dicom             or .dcm
  test/<image_id>.dicom              or .dcm
  train.csv                          instead of annotations/: the Kaggle copy"""

    def check_root(self, root: Path) -> None:
        if not root.is_dir():
            raise self.layout_error(root, "it is not a folder")
        found = _annotation_files(root)
        if not found:
            raise self.layout_error(
                root, "there is no annotations/annotations_train.csv or _test.csv"
            )
        for csv_path, folder, _ in found:
            if not (root / folder).is_dir():
                raise self.layout_error(root, f"{csv_path.name} has no {folder}/ folder")

    def records(self, root: Path) -> Iterator[SourceRecord]:
        self.check_root(root)
        entries: dict[str, tuple[Split, Path | None, list[tuple[int, dict[str, str]]]]] = {}
        problems: dict[str, tuple[Reason, str]] = {}
        for csv_path, folder, split in _annotation_files(root):
            files = self._files(root / folder, problems)
            by_image = self._rows(root, csv_path, problems)
            for image_id in sorted(set(files) | set(by_image)):
                if image_id in entries:
                    problems.setdefault(
                        image_id,
                        (Reason.DUPLICATE_CASE, f"{image_id} is in more than one split"),
                    )
                    continue
                entries[image_id] = (split, files.get(image_id), by_image.get(image_id, []))
        for image_id in sorted(set(entries) | set(problems)):
            split, path, rows = entries.get(image_id, (Split.TRAIN, None, []))
            image = path or root / image_id
            try:
                if image_id in problems:
                    raise EntryProblemError(*problems[image_id])
                if path is None:
                    raise EntryProblemError(
                        Reason.MISSING_IMAGE,
                        f"{image_id}: no {split.value} DICOM file for its rows",
                    )
                if not rows:
                    raise EntryProblemError(
                        Reason.NO_ANNOTATION, f"{image_id}: no row in the {split.value} annotations"
                    )
                payload = _payload(rows, consensus=split == Split.TEST)
            except EntryProblemError as problem:
                yield problem_record(
                    builder=self,
                    case_id=image_id,
                    image=image,
                    modality="X-ray",
                    dims=2,
                    reason=problem.reason,
                    detail=problem.detail,
                )
                continue
            yield SourceRecord(
                source=self.slug,
                case_id=image_id,
                group_key=image_id,
                dims=2,
                modality="X-ray",
                image=image,
                official_split=split,
                payload=payload,
            )

    def load(self, record: SourceRecord) -> Case:
        payload = record.payload_as(ImagePayload)
        image = read_guarded(read_image_2d, record.image)
        for label, box in payload.boxes:
            if box[2] > image.width or box[3] > image.height:
                raise BadBoxError(
                    f"{record.case_id}: {label} box {[round(v, 2) for v in box]} lies outside "
                    f"the {image.width}x{image.height} image"
                )
        labels = dict(enumerate(LOCAL_FINDINGS, start=1))
        return Case(
            record=record,
            image=image,
            labels=labels,
            lesion_labels=frozenset(LOCAL_FINDINGS),
            boxes=tuple(AnnotatedBox(label=label, box=box) for label, box in payload.boxes),
            covered_labels=payload.uncertain | (payload.global_labels - {NO_FINDING}),
            findings_exhaustive=True,
            image_axes=_image_axes(record.image),
        )

    # --- listing ---------------------------------------------------------------------------------

    def _files(self, folder: Path, problems: dict[str, tuple[Reason, str]]) -> dict[str, Path]:
        found: dict[str, Path] = {}
        for path in sorted(folder.iterdir()):
            parts = split_suffix(path.name, SUFFIXES)
            if parts is None or not path.is_file():
                continue
            if parts[0] in found:
                problems[parts[0]] = (
                    Reason.DUPLICATE_CASE,
                    f"{found[parts[0]].name} and {path.name} are both image {parts[0]}",
                )
                continue
            found[parts[0]] = path
        return found

    def _rows(
        self, root: Path, path: Path, problems: dict[str, tuple[Reason, str]]
    ) -> dict[str, list[tuple[int, dict[str, str]]]]:
        rows: dict[str, list[tuple[int, dict[str, str]]]] = {}
        with path.open(newline="", encoding="utf-8") as handle:
            reader = csv.DictReader(handle)
            missing = [c for c in COLUMNS if c not in (reader.fieldnames or ())]
            if missing:
                raise self.layout_error(root, f"{path.name} lacks the columns {missing}")
            for line, row in enumerate(reader, start=2):
                image_id = (row["image_id"] or "").strip()
                if not is_safe_name(image_id) or "/" in image_id:
                    problems.setdefault(
                        image_id,
                        (
                            Reason.UNSAFE_PATH,
                            f"{path.name} line {line}: {image_id!r} leaves the folder",
                        ),
                    )
                    continue
                rows.setdefault(image_id, []).append((line, row))
        return rows


def _annotation_files(root: Path) -> list[tuple[Path, str, Split]]:
    """(CSV, image folder, split) of the release: PhysioNet's ``annotations/annotations_*.csv``;
    else the Kaggle competition copy's ``train.csv`` (same columns plus ``class_id``; its test
    images carry no labels and are not listed)."""
    found = [
        (root / "annotations" / f"annotations_{folder}.csv", folder, split)
        for folder, split in SPLIT_FOLDERS.items()
    ]
    physionet = [entry for entry in found if entry[0].is_file()]
    if physionet:
        return physionet
    kaggle = root / "train.csv"
    return [(kaggle, "train", Split.TRAIN)] if kaggle.is_file() else []


def _payload(rows: list[tuple[int, dict[str, str]]], *, consensus: bool) -> ImagePayload:
    """Reader boxes -> the agreed boxes of one image (raises EntryProblemError)."""
    boxes: list[ReaderBox] = []
    global_labels: set[str] = set()
    readers: set[str] = set()
    for line, row in rows:
        where = f"line {line}"
        given = " ".join((row["class_name"] or "").split())
        # Case-insensitive: the spelling of the less common classes is not confirmed.
        name = _CLASS_NAMES.get(given.casefold(), given)
        reader = (row["rad_id"] or "").strip()
        if not reader:
            raise EntryProblemError(Reason.BAD_METADATA, f"{where}: no rad_id")
        readers.add(reader)
        values = [(row[c] or "").strip() for c in COLUMNS[3:]]
        if name in GLOBAL_LABELS:
            if any(values):
                raise EntryProblemError(
                    Reason.BAD_BOX, f"{where}: {name!r} is image-level but has a box {values}"
                )
            global_labels.add(name)
            continue
        if name not in LOCAL_FINDINGS:
            raise EntryProblemError(
                Reason.UNDECLARED_LABEL, f"{where}: class {name!r} is not a VinDr-CXR label"
            )
        box = _box(values)
        if box is None:
            raise EntryProblemError(
                Reason.BAD_BOX,
                f"{where}: {name} box {values} is not 0 <= x_min < x_max, y_min < y_max",
            )
        boxes.append(ReaderBox(reader="consensus" if consensus else reader, label=name, box=box))
    # The test set's boxes are one consensus set: every box counts, exact repeats merge.
    agreement = agree(boxes, readers=1 if consensus else len(readers))
    return ImagePayload(
        boxes=agreement.boxes,
        uncertain=agreement.uncertain,
        global_labels=frozenset(global_labels),
    )


def _box(values: list[str]) -> Box | None:
    try:
        x1, y1, x2, y2 = (float(v) for v in values)
    except ValueError:
        return None
    if not all(math.isfinite(v) for v in (x1, y1, x2, y2)):
        return None
    if x1 < 0 or y1 < 0 or x2 <= x1 or y2 <= y1:
        return None
    return (x1, y1, x2, y2)


def _image_axes(path: Path) -> tuple[str, str] | None:
    """Patient directions of the image's +x and +y: PatientOrientation when the file gives it,
    else a frontal view's (the release is PA); a lateral view declares none."""
    header = read_header(path, pixels=False)
    orientation = header.get("PatientOrientation")
    if orientation is not None and str(orientation).strip():
        values = [orientation] if isinstance(orientation, str) else list(orientation)
        letters = [_ORIENTATION.get(str(v).strip().upper(), "") for v in values]
        # Two single letters, e.g. L\F; anything else (oblique "LF", one value) is no frame.
        return (letters[0], letters[1]) if len(letters) == 2 and all(letters) else None
    view = str(header.get("ViewPosition", "") or "").strip().upper()
    return FRONTAL_AXES if view in ("", "PA", "AP") else None
