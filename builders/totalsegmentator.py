"""``totalsegmentator``: the TotalSegmentator CT dataset (v2.0.1, 1228 subjects, 117 classes).

Expected layout (``Totalsegmentator_dataset_v201.zip`` unpacked)::

    Totalsegmentator_dataset_v201/
      meta.csv                                 ';'-separated, UTF-8 with BOM:
                                               image_id;age;gender;institute;study_type;split;...
      s0000/
        ct.nii.gz                              the CT in HU
        segmentations/
          spleen.nii.gz                        one binary mask per class (117 files in v2)
          kidney_right.nii.gz
          ...
      s0001/ ...

What a case is: one ``sNNNN/`` folder listed in ``meta.csv``; its ``split`` column (``train`` /
``val`` / ``test``: 1082 / 57 / 89 in v2.0.1) is kept as the official split. There is no
patient column, so the group key is the ``image_id`` (the notes could not confirm whether a
patient has more than one scan).

The masks of a case are combined into one label map in the class order of the release's own
nnU-Net converter (``resources/convert_dataset_to_nnunet.py``: ``combined[mask > 0] = id``,
later classes overwriting earlier ones; the ids are ``_totalseg_names.TOTAL_V2``, then v1's
extra classes). Each mask is read once as stored (uint8, no float copy) and walked in the
file's memory order (NIfTI is Fortran-ordered: no reshaped copy), and only its non-zero voxels
are written: 117 masks of 192x192x160 combine in about 2.3-2.9 s against 10.4-12.3 s for the
converter's ``get_fdata()`` recipe, with the same map (``benchmarks/bench_totalsegmentator.py``).
Voxels claimed by two masks are counted in the case's history. Every class whose file is present
is annotated: an empty mask (a structure outside the field of view) is a true absence. A class
file that is missing is not annotated (never called absent); a case with no mask at all is
``no-annotation``. Class names are shown readably ("kidney_cyst_left" -> "left kidney cyst").

Bad entries: a ``meta.csv`` row whose folder or ``ct.nii.gz`` is missing (``missing-image``), a
folder ``meta.csv`` does not list or an ``image_id`` of the wrong shape (``bad-name``), an
unknown split value (``bad-name``), a mask whose stem is no TotalSegmentator class
(``unknown-class``), a mask that is not binary (``bad-mask``), a mask off the CT's grid
(``label-mismatch``), a truncated file (``truncated-file``).

Geometry: the affine of each file (the release is not guaranteed RAS; nnU-Net reads it with
``NibabelIOWithReorient``), reoriented to LPS like every volume.

License: CC BY 4.0 (Zenodo record 10047292), derivatives allowed with attribution. The MR
release (CC BY-NC-SA) is not this builder's.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import numpy as np
import numpy.typing as npt

from unimed_cot.imaging import LabelMismatchError, read_label_volume, read_volume
from unimed_cot.imaging.normalize import AFFINE_TOLERANCE_MM
from unimed_cot.reasons import Reason
from unimed_cot.records import Case, Dims, SourceRecord, Split, Volume

from ._common import (
    BadMaskError,
    lesion_names,
    problem_record,
    read_guarded,
)
from ._totalseg_names import TOTAL_V2, display_name
from .base import Builder

# v1 classes that v2 moved to subtasks; read when a v1 copy holds them.
V1_EXTRAS = (
    "face",
    "heart_atrium_left",
    "heart_atrium_right",
    "heart_myocardium",
    "heart_ventricle_left",
    "heart_ventricle_right",
    "pulmonary_artery",
)
CLASS_IDS = {stem: number for number, stem in enumerate((*TOTAL_V2, *V1_EXTRAS), start=1)}
_IMAGE_ID = re.compile(r"^s\d{4}$")
_SPLITS = {"train": Split.TRAIN, "val": Split.VALIDATION, "test": Split.TEST}
MASK_SUFFIX = ".nii.gz"


@dataclass(frozen=True, slots=True)
class TotalSegPayload:
    """A case's mask files in class-id order (only those present)."""

    masks: tuple[tuple[int, Path], ...]


class TotalSegmentatorBuilder(Builder):
    """TotalSegmentator CT: 1228 CT scans, 117 anatomical structures each."""

    slug = "totalsegmentator"
    title = "TotalSegmentator (CT)"
    homepage = "https://zenodo.org/records/10047292"
    citation = """@article{wasserthal2023totalsegmentator,
  title   = {TotalSegmentator: Robust Segmentation of 104 Anatomic Structures in CT Images},
  author  = {Wasserthal, Jakob and Breit, Hanns-Christian and Meyer, Manfred T. and
             Pradella, Maurice and Hinck, Daniel and Sauter, Alexander W. and others},
  journal = {Radiology: Artificial Intelligence},
  volume  = {5},
  number  = {5},
  pages   = {e230024},
  year    = {2023}
}"""
    license = "CC-BY-4.0"
    redistributable = True
    modalities: ClassVar[tuple[str, ...]] = ("CT",)
    dims: ClassVar[tuple[Dims, ...]] = (3,)
    layout = """Totalsegmentator_dataset_v201/
  meta.csv                          ';'-separated: image_id;...;split;... (train/val/test)
  s0000/ct.nii.gz
  s0000/segmentations/<class>.nii.gz   one binary mask per class (117 in v2)"""

    def check_root(self, root: Path) -> None:
        if (root / "ct.nii.gz").is_file() and (root / "segmentations").is_dir():
            raise self.layout_error(root, "this is one subject folder; pass the dataset folder")
        if not (root / "meta.csv").is_file():
            raise self.layout_error(root, "no meta.csv")

    def records(self, root: Path) -> Iterator[SourceRecord]:
        self.check_root(root)
        meta = self._read_meta(root)
        folders = {p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")}
        for image_id in sorted(set(meta) | folders):
            yield self._record(root, image_id, meta.get(image_id), image_id in folders)

    def load(self, record: SourceRecord) -> Case:
        payload = record.payload_as(TotalSegPayload)
        image = read_guarded(read_volume, record.image)
        # In the files' memory order (NIfTI is Fortran-ordered): no copy of any mask.
        fortran = bool(np.asarray(image.array).flags.f_contiguous)
        combined: npt.NDArray[np.uint8] = np.zeros(
            image.shape, dtype=np.uint8, order="F" if fortran else "C"
        )
        labels: dict[int, str] = {}
        overlap = 0
        for value, path in payload.masks:
            mask = read_guarded(read_label_volume, path)
            gap = float(np.abs(mask.affine - image.affine).max())
            if mask.shape != image.shape or gap > AFFINE_TOLERANCE_MM:
                raise LabelMismatchError(
                    f"{record.case_id}: {path.name} {mask.shape} is not on the CT's grid "
                    f"{image.shape} (affines differ by {gap:.3g} mm)"
                )
            overlap += _paint(combined, np.asarray(mask.array), value, record.case_id, path)
            labels[value] = display_name(path.name.removesuffix(MASK_SUFFIX))
        history = [f"label map combined from {len(labels)} class masks in TotalSegmentator order"]
        if overlap:
            history.append(f"{overlap} voxels claimed by two masks: the later class kept")
        return Case(
            record=record,
            image=image,
            labels=labels,
            label_map=Volume(array=combined, affine=image.affine.copy()),
            lesion_labels=lesion_names(labels.values()),
            history=history,
        )

    # --- listing ---------------------------------------------------------------------------------

    def _read_meta(self, root: Path) -> dict[str, str]:
        path = root / "meta.csv"
        try:
            with path.open(newline="", encoding="utf-8-sig") as handle:
                rows = list(csv.DictReader(handle, delimiter=";"))
        except (OSError, UnicodeDecodeError, csv.Error) as error:
            raise self.layout_error(root, f"meta.csv is not readable ({error})") from error
        if not rows or not {"image_id", "split"} <= set(rows[0]):
            raise self.layout_error(root, "meta.csv has no image_id and split columns")
        return {(row["image_id"] or "").strip(): (row["split"] or "").strip() for row in rows}

    def _problem(self, root: Path, image_id: str, reason: Reason, detail: str) -> SourceRecord:
        return problem_record(
            builder=self,
            case_id=image_id,
            image=root / image_id,
            modality="CT",
            dims=3,
            reason=reason,
            detail=detail,
        )

    def _record(
        self, root: Path, image_id: str, split: str | None, has_folder: bool
    ) -> SourceRecord:
        if not _IMAGE_ID.match(image_id):
            return self._problem(
                root, image_id, Reason.BAD_NAME, f"{image_id!r} is not an image id (sNNNN)"
            )
        if split is None:
            return self._problem(
                root, image_id, Reason.BAD_NAME, f"{image_id}/ is not listed in meta.csv"
            )
        if split not in _SPLITS:
            return self._problem(
                root, image_id, Reason.BAD_NAME, f"meta.csv split {split!r} is not train/val/test"
            )
        ct = root / image_id / "ct.nii.gz"
        if not has_folder or not ct.is_file():
            return self._problem(root, image_id, Reason.MISSING_IMAGE, f"{image_id}/ct.nii.gz")
        masks: list[tuple[int, Path]] = []
        folder = root / image_id / "segmentations"
        for path in sorted(folder.iterdir()) if folder.is_dir() else []:
            if path.name.startswith(".") or not path.is_file():
                continue  # macOS ._ files, editor droppings
            stem = path.name.removesuffix(MASK_SUFFIX)
            if stem == path.name or stem not in CLASS_IDS:
                return self._problem(
                    root,
                    image_id,
                    Reason.UNKNOWN_CLASS,
                    f"segmentations/{path.name} names no TotalSegmentator class",
                )
            masks.append((CLASS_IDS[stem], path))
        if not masks:
            return self._problem(
                root, image_id, Reason.NO_ANNOTATION, f"{image_id}/segmentations/ holds no mask"
            )
        return SourceRecord(
            source=self.slug,
            case_id=image_id,
            group_key=image_id,
            dims=3,
            modality="CT",
            image=ct,
            label=folder,
            official_split=_SPLITS[split],
            payload=TotalSegPayload(masks=tuple(sorted(masks))),
        )


def _paint(
    combined: npt.NDArray[np.uint8],
    mask: npt.NDArray[np.generic],
    value: int,
    case_id: str,
    path: Path,
) -> int:
    """Write ``value`` where ``mask`` is set; return how many voxels another class held.

    Both arrays are walked in their shared memory order (``ravel(order="K")`` is a view when
    the layouts match), so only the mask's non-zero voxels are gathered and written.
    """
    same = (combined.flags.f_contiguous and mask.flags.f_contiguous) or (
        combined.flags.c_contiguous and mask.flags.c_contiguous
    )
    if not same:
        mask = np.asarray(mask, order="F" if combined.flags.f_contiguous else "C")
    flat_mask = mask.ravel(order="K")
    flat = combined.ravel(order="K")  # a view: writes land in ``combined``
    voxels = np.flatnonzero(flat_mask)
    if voxels.size == 0:
        return 0
    if int(flat_mask[voxels].max()) != 1:
        raise BadMaskError(f"{case_id}: {path.name} is not a binary mask")
    overlap = int(np.count_nonzero(flat[voxels]))
    flat[voxels] = value
    return overlap
