"""``images2d``: bring your own 2D data (images with label masks and/or boxes).

Expected layout::

    DIR/
      labels.json             {"labels": {"1": "nodule", "2": "heart"}, "modality": "X-ray",
                               "lesions": ["nodule"],                 (optional)
                               "license": "CC-BY-4.0",                (optional, default "other")
                               "redistributable": true,               (optional, default false)
                               "hu_offset": -32768}                   (optional, CT only)
      images/<case>.png       or .jpg/.jpeg, .tif/.tiff, .bmp, .dcm (8- or 16-bit, gray or RGB)
      masks/<case>.png        integer label values as in labels.json (optional; lossless only:
                              .png, .tif/.tiff, .bmp)
      boxes.csv               image,label,x1,y1,x2,y2 (optional): one box per line, in the source
                              image's pixels, half-open (x2, y2 one past the last pixel), x along
                              columns; ``image`` is the file name in images/ or the case id
      cases.csv               case,patient_id,split (optional: patient grouping, official splits)

Mask regions come first (one per structure, one per lesion component), then box regions, all on
the published grid (boxes scaled outward, see ``unimed_cot.imaging.annotations``).

A case with neither a mask nor a box is rejected (``no-annotation``): questions need labelled
regions, and an empty annotation set would make "is there a nodule? -> no" look grounded.

**A bad box rejects its whole case**, with the reason: a box outside its image (``bad-box``),
with a label that labels.json does not declare (``undeclared-label``), with unparsable or empty
coordinates (``bad-box``), or for an image that is not there (``missing-image``, counted under
the name the CSV gives). Dropping only the bad box would leave an incomplete annotation set, and
the questions generated from it ("Is there a nodule?" -> "No") would be wrong while looking
grounded. A name in a CSV that is absolute or climbs out of the folder is never opened
(``unsafe-path``). Mask values that labels.json does not declare reject the case
(``undeclared-label``); a mask whose size differs from its image is ``label-mismatch``.

CT stored as 16-bit HU plus an offset (DeepLesion's PNGs: HU = value - 32768) declares
``"hu_offset"``: the pixels become HU and get CT window presets chosen per question from the
structures its evidence shows (``unimed_cot.imaging.views``), instead of the 1st-99th percentile
stretch that other 16-bit images get.

License: as for ``volumes``: ``labels.json`` ``license`` (SPDX, default ``other``) and
``redistributable`` (default ``false``); rows carry that license.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Iterator
from pathlib import Path
from typing import ClassVar

import numpy as np

from unimed_cot.imaging import ImagingError, read_image_2d, read_label_image
from unimed_cot.reasons import Reason
from unimed_cot.records import AnnotatedBox, Case, Dims, Image2D, SourceRecord

from ._common import (
    PROJECT_CITATION,
    BadBoxError,
    NoAnnotationError,
    is_safe_name,
    problem_record,
    read_guarded,
    split_suffix,
)
from ._userdata import (
    DEFAULT_LICENSE,
    CaseInfo,
    LabelsFile,
    UserPayload,
    check_user_root,
    read_cases_csv,
    read_labels_json,
    undeclared_values,
)
from .base import Builder

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp", ".dcm")
MASK_SUFFIXES = (".png", ".tif", ".tiff", ".bmp")
BOXES_COLUMNS = ("image", "label", "x1", "y1", "x2", "y2")
Box = tuple[float, float, float, float]


class Images2DBuilder(Builder):
    """Your own 2D images (PNG, JPEG, TIFF, BMP, DICOM) with label masks and/or boxes."""

    slug = "images2d"
    title = "Your own 2D images (bring your own data)"
    homepage = "https://github.com/unimed-cot/unimed-cot"
    citation = PROJECT_CITATION
    license = DEFAULT_LICENSE  # replaced by labels.json "license" on the rows
    redistributable = False  # replaced by labels.json "redistributable"
    # labels.json "modality" must be one of these (any case).
    modalities: ClassVar[tuple[str, ...]] = (
        "X-ray",
        "CT",
        "MR",
        "ultrasound",
        "mammography",
        "pathology",
        "endoscopy",
        "dermoscopy",
        "fundus",
        "OCT",
    )
    dims: ClassVar[tuple[Dims, ...]] = (2,)
    layout = """DIR/
  labels.json        {"labels": {"1": "nodule"}, "modality": "X-ray",
                      "lesions": [...], "license": "SPDX id", "redistributable": false}
  images/<case>.png  or .jpg, .tif, .bmp, .dcm
  masks/<case>.png   label values as in labels.json (optional)
  boxes.csv          image,label,x1,y1,x2,y2 in source pixels, half-open (optional)
  cases.csv          case,patient_id,split (optional)"""

    def check_root(self, root: Path) -> None:
        check_user_root(self, root)

    def records(self, root: Path) -> Iterator[SourceRecord]:
        self.check_root(root)
        table = read_labels_json(root, self)
        cases = read_cases_csv(root, self)
        images, problems = _list_files(root / "images", IMAGE_SUFFIXES, kind="image")
        masks, mask_problems = _list_files(root / "masks", MASK_SUFFIXES, kind="mask")
        boxes, box_problems = self._read_boxes(root, table, images)
        # One reason per case: a problem of the image file wins over its mask's, then its boxes'.
        problems = {**box_problems, **mask_problems, **problems}
        for case_id in sorted(set(images) | set(problems) | set(cases) | set(masks)):
            info = cases.get(case_id)
            problem = problems.get(case_id)
            if isinstance(info, Reason):
                problem = (info, f"cases.csv names {case_id!r}, a path outside images/")
            elif problem is None and case_id not in images:
                where = "cases.csv lists it" if info is not None else "masks/ has a mask for it"
                problem = (Reason.MISSING_IMAGE, f"{where} but images/ has no {case_id}")
            if problem is not None:
                yield problem_record(
                    builder=self,
                    case_id=case_id,
                    image=images.get(case_id, root / "images" / case_id),
                    modality=table.modality,
                    dims=2,
                    reason=problem[0],
                    detail=problem[1],
                )
                continue
            case_boxes = tuple(
                AnnotatedBox(label=label, box=box) for label, box in boxes.get(case_id, [])
            )
            yield SourceRecord(
                source=self.slug,
                case_id=case_id,
                group_key=info.patient_id if isinstance(info, CaseInfo) else case_id,
                dims=2,
                modality=table.modality,
                image=images[case_id],
                label=masks.get(case_id),
                official_split=info.split if isinstance(info, CaseInfo) else None,
                terms=table.terms,
                intensity=table.intensity,
                payload=UserPayload(table=table, boxes=case_boxes),
            )

    def load(self, record: SourceRecord) -> Case:
        payload = record.payload_as(UserPayload)
        labels, lesions = dict(payload.labels), payload.lesions
        image = read_guarded(read_image_2d, record.image)
        if payload.table.hu_offset is not None:
            image = _to_hounsfield(image, payload.table.hu_offset, record)
        label_map: Image2D | None = None
        if record.label is not None:
            label_map = read_guarded(read_label_image, record.label)
            undeclared_values(
                label_map.array, labels, case_id=record.case_id, name=record.label.name
            )
        boxes = payload.boxes
        if record.label is None and not boxes:
            raise NoAnnotationError(
                f"{record.case_id}: no mask in masks/ and no line in boxes.csv, so no question "
                f"can be grounded"
            )
        for annotation in boxes:
            x2, y2 = annotation.box[2], annotation.box[3]
            if x2 > image.width or y2 > image.height:
                raise BadBoxError(
                    f"{record.case_id}: box {list(annotation.box)} ({annotation.label}) lies "
                    f"outside the {image.width}x{image.height} image"
                )
        # The mask/image size check is normalize's (LabelMismatchError -> "label-mismatch").
        return Case(
            record=record,
            image=image,
            labels=labels,
            label_map=label_map,
            lesion_labels=lesions,
            boxes=boxes,
        )

    # --- boxes.csv -------------------------------------------------------------------------------

    def _read_boxes(
        self, root: Path, table: LabelsFile, images: dict[str, Path]
    ) -> tuple[dict[str, list[tuple[str, Box]]], dict[str, tuple[Reason, str]]]:
        """Boxes per case id and, per case, the first problem of its lines (in file order)."""
        path = root / "boxes.csv"
        boxes: dict[str, list[tuple[str, Box]]] = {}
        problems: dict[str, tuple[Reason, str]] = {}
        if not path.is_file():
            return boxes, problems
        by_file = {p.name: case_id for case_id, p in images.items()}
        names = set(table.labels.values())
        with path.open(newline="", encoding="utf-8") as handle:
            reader = csv.DictReader(handle)
            if tuple(reader.fieldnames or ()) != BOXES_COLUMNS:
                raise self.layout_error(
                    root,
                    f"boxes.csv columns are {reader.fieldnames}, expected {list(BOXES_COLUMNS)}",
                )
            for line, row in enumerate(reader, start=2):
                image = (row["image"] or "").strip()
                case_id = by_file.get(image, image)
                where = f"boxes.csv line {line}"
                if not is_safe_name(image):
                    problems.setdefault(
                        image, (Reason.UNSAFE_PATH, f"{where}: a path outside images/")
                    )
                    continue
                if case_id not in images:
                    problems.setdefault(
                        case_id, (Reason.MISSING_IMAGE, f"{where}: images/ has no {image!r}")
                    )
                    continue
                label = (row["label"] or "").strip()
                if label not in names:
                    problems.setdefault(
                        case_id,
                        (
                            Reason.UNDECLARED_LABEL,
                            f"{where}: label {label!r} is not in labels.json",
                        ),
                    )
                    continue
                box = _parse_box(row)
                if box is None:
                    values = [row[key] for key in BOXES_COLUMNS[2:]]
                    problems.setdefault(
                        case_id,
                        (
                            Reason.BAD_BOX,
                            f"{where}: {values} is not a box with 0 <= x1 < x2, 0 <= y1 < y2",
                        ),
                    )
                    continue
                boxes.setdefault(case_id, []).append((label, box))
        return boxes, problems


def _list_files(
    folder: Path, suffixes: tuple[str, ...], *, kind: str
) -> tuple[dict[str, Path], dict[str, tuple[Reason, str]]]:
    """Files of ``folder`` by case id, and the problems (unsupported kind, two files per case)."""
    found: dict[str, Path] = {}
    problems: dict[str, tuple[Reason, str]] = {}
    if not folder.is_dir():
        return found, problems
    for path in sorted(folder.iterdir()):
        if path.name.startswith(".") or not path.is_file():
            continue
        parts = split_suffix(path.name, suffixes)
        if parts is None:
            detail = f"{folder.name}/{path.name} is not a {kind} file ({', '.join(suffixes)})"
            # Keyed by the stem: "x.gif" beside "x.png" makes case x ambiguous, so x is rejected.
            problems[Path(path.name).stem] = (Reason.UNSUPPORTED_FILE, detail)
            continue
        case_id = parts[0]
        if case_id in found:
            problems[case_id] = (
                Reason.DUPLICATE_CASE,
                f"{folder.name}/{found[case_id].name} and {folder.name}/{path.name} "
                f"are both {kind}s of case {case_id}",
            )
            continue
        found[case_id] = path
    for case_id in problems:
        found.pop(case_id, None)
    return found, problems


def _parse_box(row: dict[str, str]) -> Box | None:
    try:
        x1, y1, x2, y2 = (float(row[key]) for key in BOXES_COLUMNS[2:])
    except (TypeError, ValueError):
        return None
    if not all(math.isfinite(v) for v in (x1, y1, x2, y2)):
        return None
    if x1 < 0 or y1 < 0 or x2 <= x1 or y2 <= y1:
        return None
    return (x1, y1, x2, y2)


def _to_hounsfield(image: Image2D, offset: float, record: SourceRecord) -> Image2D:
    """Stored values + ``hu_offset`` = HU (float32), so that CT windows apply (DeepLesion's
    16-bit PNGs hold HU + 32768: ``"hu_offset": -32768``)."""
    if image.array.ndim != 2 or image.array.dtype == np.uint8:
        raise ImagingError(
            f"{record.case_id}: labels.json gives hu_offset, but {record.image.name} is not a "
            f"16-bit grayscale image"
        )
    hounsfield = np.asarray(image.array, dtype=np.float32) + np.float32(offset)
    return Image2D(array=hounsfield, spacing_mm=image.spacing_mm)
