"""``volumes``: bring your own 3D data (CT/MR volumes with optional label maps).

Expected layout::

    DIR/
      labels.json            {"labels": {"1": "liver", "2": "liver tumor"}, "modality": "CT",
                              "lesions": ["liver tumor"],            (optional)
                              "license": "CC-BY-4.0",                (optional, default "other")
                              "redistributable": true}               (optional, default false)
      images/<case>.nii.gz   or .nii, .nrrd, .mha, or a folder <case>/ holding one DICOM series
      labels/<case>.nii.gz   integer label map in the same physical space (any of the file
                             types above; optional, but a case without one is rejected as
                             ``no-annotation``: questions need labelled regions, and an empty
                             annotation set would make "is there a liver? -> no" look grounded)
      cases.csv              case,patient_id,split (optional: patient grouping, official splits)

Geometry comes from the files (NIfTI affine, NRRD/MHA direction and origin, DICOM positions), so
every volume is brought to the canonical LPS frame before slicing, whatever its voxel order. A
label map must lie on its image's voxel grid in physical space; it may be stored in another voxel
order (a DICOM series labelled in a RAS NIfTI): both are then compared in the canonical frame.
A map on another grid is rejected (``label-mismatch``), never resampled. Label values the map
holds but ``labels.json`` does not declare are rejected (``undeclared-label``): a silent guess
would give questions about unnamed structures. ``lesions`` names the labels that are findings
(one region per connected component, lesion-analysis questions); the others are structures.

License: user data has no license we know. ``labels.json`` may state the SPDX id of its license
(default ``other``) and whether derivatives may be redistributed (default ``false``); rows carry
that license. Group ids come from ``cases.csv`` ``patient_id`` (default: the case id), so all
volumes of one patient land in one split; a ``split`` column there is honoured.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import ClassVar

import numpy as np

from unimed_cot.imaging import read_label_volume, read_volume
from unimed_cot.imaging.normalize import AFFINE_TOLERANCE_MM, reorient
from unimed_cot.reasons import Reason
from unimed_cot.records import Case, Dims, SourceRecord, Volume

from ._common import (
    PROJECT_CITATION,
    NoAnnotationError,
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

# Longest first: "a.nii.gz" is case "a", not "a.nii".
VOLUME_SUFFIXES = (".nii.gz", ".nii", ".nrrd", ".mha")


def _same_grid(image: Volume, label_map: Volume) -> bool:
    gap = np.abs(np.asarray(image.affine) - np.asarray(label_map.affine)).max()
    return image.shape == label_map.shape and float(gap) <= AFFINE_TOLERANCE_MM


class VolumesBuilder(Builder):
    """Your own CT/MR volumes (NIfTI, NRRD, MHA or DICOM series) with optional label maps."""

    slug = "volumes"
    title = "Your own 3D volumes (bring your own data)"
    homepage = "https://github.com/unimed-cot/unimed-cot"
    citation = PROJECT_CITATION
    license = DEFAULT_LICENSE  # replaced by labels.json "license" on the rows
    redistributable = False  # replaced by labels.json "redistributable"
    # labels.json "modality" must be one of these (any case); it decides windowing (CT: HU presets).
    modalities: ClassVar[tuple[str, ...]] = ("CT", "MR", "PT", "SPECT", "ultrasound")
    dims: ClassVar[tuple[Dims, ...]] = (3,)
    layout = """DIR/
  labels.json            {"labels": {"1": "liver", "2": "liver tumor"}, "modality": "CT",
                          "lesions": [...], "license": "SPDX id", "redistributable": false}
  images/<case>.nii.gz   or .nii, .nrrd, .mha, or a folder <case>/ holding one DICOM series
  labels/<case>.nii.gz   label map on the image's grid (optional; no grounded questions without)
  cases.csv              case,patient_id,split (optional)"""

    def check_root(self, root: Path) -> None:
        check_user_root(self, root)

    def records(self, root: Path) -> Iterator[SourceRecord]:
        self.check_root(root)
        table = read_labels_json(root, self)
        if table.hu_offset is not None:
            raise self.layout_error(
                root, 'labels.json "hu_offset" is for 2D images; volumes carry their own scaling'
            )
        cases = read_cases_csv(root, self)
        found, problems = self._list_images(root, table)
        label_files = self._list_labels(root)
        for case_id in sorted(set(found) | set(problems) | set(cases) | set(label_files)):
            yield self._record(
                root,
                case_id,
                table=table,
                image=found.get(case_id),
                problem=problems.get(case_id),
                info=cases.get(case_id),
                labels=label_files.get(case_id, []),
            )

    def load(self, record: SourceRecord) -> Case:
        payload = record.payload_as(UserPayload)
        labels, lesions = dict(payload.labels), payload.lesions
        if record.label is None:
            raise NoAnnotationError(
                f"{record.case_id}: no label map in labels/, so no question can be grounded"
            )
        image = read_guarded(read_volume, record.image)
        label_map = read_guarded(read_label_volume, record.label)
        undeclared_values(label_map.array, labels, case_id=record.case_id, name=record.label.name)
        history: list[str] = []
        if not _same_grid(image, label_map):
            # The same physical grid is often stored in another voxel order (a DICOM series
            # labelled in a RAS NIfTI): compare, and go on, in the canonical frame. A map that
            # still differs there is rejected by normalize ("label-mismatch").
            image, line = reorient(image)
            label_map, label_line = reorient(label_map)
            history += [f"image {line}", f"label map {label_line}"]
        return Case(
            record=record,
            image=image,
            labels=labels,
            label_map=label_map,
            lesion_labels=lesions,
            history=history,
        )

    # --- listing ---------------------------------------------------------------------------------

    def _list_images(
        self, root: Path, table: LabelsFile
    ) -> tuple[dict[str, Path], dict[str, tuple[Reason, str]]]:
        found: dict[str, Path] = {}
        problems: dict[str, tuple[Reason, str]] = {}
        for path in sorted((root / "images").iterdir()):
            if path.name.startswith("."):
                continue  # .DS_Store, editor files
            if path.is_dir():
                case_id = path.name  # a DICOM series folder
            else:
                parts = split_suffix(path.name, VOLUME_SUFFIXES)
                if parts is None:
                    problems[Path(path.name).stem] = (
                        Reason.UNSUPPORTED_FILE,
                        f"images/{path.name} is not one of {', '.join(VOLUME_SUFFIXES)} "
                        f"or a DICOM series folder",
                    )
                    continue
                case_id = parts[0]
            if case_id in found:
                problems[case_id] = (
                    Reason.DUPLICATE_CASE,
                    f"images/{found[case_id].name} and images/{path.name} are both case {case_id}",
                )
                continue
            found[case_id] = path
        for case_id in problems:
            found.pop(case_id, None)
        return found, problems

    def _list_labels(self, root: Path) -> dict[str, list[Path]]:
        folder = root / "labels"
        if not folder.is_dir():
            return {}
        files: dict[str, list[Path]] = {}
        for path in sorted(folder.iterdir()):
            parts = split_suffix(path.name, VOLUME_SUFFIXES) if path.is_file() else None
            if parts is not None:
                files.setdefault(parts[0], []).append(path)
        return files

    def _record(
        self,
        root: Path,
        case_id: str,
        *,
        table: LabelsFile,
        image: Path | None,
        problem: tuple[Reason, str] | None,
        info: CaseInfo | Reason | None,
        labels: list[Path],
    ) -> SourceRecord:
        def rejected(reason: Reason, detail: str) -> SourceRecord:
            return problem_record(
                builder=self,
                case_id=case_id,
                image=image or root / "images" / case_id,
                modality=table.modality,
                dims=3,
                reason=reason,
                detail=detail,
            )

        if isinstance(info, Reason):
            return rejected(info, f"cases.csv names {case_id!r}, a path outside images/")
        if problem is not None:
            return rejected(*problem)
        if image is None:
            where = "cases.csv lists it" if info is not None else f"labels/{labels[0].name} exists"
            return rejected(Reason.MISSING_IMAGE, f"{where} but images/ has no {case_id}")
        if len(labels) > 1:
            names = ", ".join(f"labels/{p.name}" for p in labels)
            return rejected(Reason.DUPLICATE_CASE, f"several label maps: {names}")
        return SourceRecord(
            source=self.slug,
            case_id=case_id,
            group_key=info.patient_id if info is not None else case_id,
            dims=3,
            modality=table.modality,
            image=image,
            label=labels[0] if labels else None,
            official_split=info.split if info is not None else None,
            terms=table.terms,
            payload=UserPayload(table=table),
        )
