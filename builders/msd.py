"""``msd``: the Medical Segmentation Decathlon as released, and any nnU-Net v2 raw dataset.

Expected layout: one task folder, or a folder holding several (the Decathlon download folder,
or ``nnUNet_raw/``)::

    Task01_BrainTumour/                    Decathlon release (Task01 .. Task10)
      dataset.json                         labels value -> name, modality, tensorImageSize,
                                           training [{"image", "label"}], test [paths], licence
      imagesTr/BRATS_001.nii.gz            3D, or 4D with the channels on the last axis
      labelsTr/BRATS_001.nii.gz
      imagesTs/BRATS_485.nii.gz            test images: labels withheld
    Dataset004_Hippocampus/                nnU-Net v2 raw layout (AMOS, KiTS, BraTS, FLARE, ...)
      dataset.json                         channel_names, labels name -> value (or [values]),
                                           numTraining, file_ending
      imagesTr/hippocampus_001_0000.nii.gz one file per channel: <case>_<XXXX><file_ending>
      labelsTr/hippocampus_001.nii.gz
      imagesTs/hippocampus_002_0000.nii.gz

The Decathlon's cases are its ``training`` list (never a glob: the tars hold macOS ``._*``
junk files); nnU-Net's are the ``imagesTr`` names minus their channel suffix (names starting
with ``.`` or ``_`` skipped, as nnU-Net does). Case ids are ``<task folder>/<case>``; there are
no patient ids, so the case is the group. Test images have no labels: each is listed and
rejected as ``no-annotation`` (counted, so the report shows them). The labelled cases carry no
official split (the Decathlon has train and an unlabelled test only); the release draws its
seeded group split.

**Channels.** A multi-channel task (BrainTumour: FLAIR, T1w, t1gd, T2w; Prostate: T2, ADC) is
read one channel per case, chosen by name (``_msd_spec.CHANNEL_PREFERENCE``: FLAIR, then T2,
...) and recorded in the history: from the 4D file's last axis (Decathlon), or the
``_XXXX`` file of that channel (nnU-Net).

**Labels.** Decathlon names that need their task are renamed (Hippocampus "Anterior" ->
"anterior hippocampus", Prostate "PZ" -> "prostate peripheral zone", "cancer" -> "liver tumor",
...; BrainTumour "edema" -> "peritumoral edema"), matched by name, never by value (MSD's
BrainTumour values are not BraTS's). Unions are listed as label views of their own
(``_labelviews``): nnU-Net labels whose value is a list (region-based datasets, e.g. BraTS
"whole tumor": [1, 2, 3]) and, for Decathlon BrainTumour, the tumour core (non-enhancing +
enhancing) and whole tumour (all three), as ``<task>/<case>/<region>`` records; each is derived
voxel by voxel from the full-resolution label map. Float label maps (Colon) are read when their
values are integers. A value the task does not declare is ``undeclared-label``.

**Bad entries**: a ``training`` entry leaving the task folder (``unsafe-path``) or whose image
and label name two cases (``bad-name``), a missing image or label (``missing-image`` /
``missing-mask``), a label on another grid (``label-mismatch``), a truncated file
(``truncated-file``). A folder with no ``dataset.json`` or one that follows neither format is a
layout error; a dataset whose ``file_ending`` is no volume format (2D ``.png``) is listed as one
``unsupported-file`` entry.

License: the Decathlon's ``licence`` is CC-BY-SA 4.0; Task03 Liver holds the LiTS volumes,
whose own terms are non-commercial, so it is marked CC-BY-NC-SA-4.0. An nnU-Net dataset's
``licence``/``license`` field is read when it names a Creative Commons license; otherwise its
rows are ``other`` and not redistributable (annotation-only). Do not build Task03 next to LiTS,
nor a converted dataset next to its original (the same volumes).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import ClassVar

from unimed_cot.imaging import LabelMismatchError, read_label_volume, read_volume
from unimed_cot.reasons import Reason
from unimed_cot.records import Case, Dims, SourceRecord, Volume

from ._common import is_safe_name, lesion_names, problem_record, read_guarded
from ._grids import on_one_grid
from ._labelviews import LabelView, apply_view, check_declared
from ._msd_spec import (
    DATASET_DIR,
    TASK_DIR,
    VOLUME_ENDINGS,
    TaskSpec,
    parse_spec,
)
from .base import Builder


@dataclass(frozen=True, slots=True)
class MsdPayload:
    """A record's task spec, its view and the channel index to read from a 4D file."""

    spec: TaskSpec
    view: LabelView
    channel: int | None  # None: a 3D file (nnU-Net's per-channel files, 3D Decathlon tasks)


class MsdBuilder(Builder):
    """Medical Segmentation Decathlon tasks and nnU-Net v2 raw datasets (CT and MR)."""

    slug = "msd"
    title = "Medical Segmentation Decathlon / nnU-Net v2 raw datasets"
    homepage = "https://medicaldecathlon.com/"
    citation = """@article{antonelli2022medical,
  title   = {The Medical Segmentation Decathlon},
  author  = {Antonelli, Michela and Reinke, Annika and Bakas, Spyridon and others},
  journal = {Nature Communications},
  volume  = {13},
  pages   = {4128},
  year    = {2022}
}"""
    license = "CC-BY-SA-4.0"  # the Decathlon's; per record for Task03 and nnU-Net datasets
    redistributable = True
    modalities: ClassVar[tuple[str, ...]] = ("CT", "MR")
    dims: ClassVar[tuple[Dims, ...]] = (3,)
    layout = """Task01_BrainTumour/                (or a folder of task folders, e.g. nnUNet_raw/)
  dataset.json                      Decathlon: labels value->name, modality, training, test
  imagesTr/BRATS_001.nii.gz         3D, or 4D with channels on the last axis
  labelsTr/BRATS_001.nii.gz
  imagesTs/BRATS_485.nii.gz         no labels
DatasetNNN_Name/                    nnU-Net v2
  dataset.json                      channel_names, labels name->value, file_ending
  imagesTr/<case>_0000.nii.gz       one file per channel
  labelsTr/<case>.nii.gz"""

    def check_root(self, root: Path) -> None:
        if root.name in ("imagesTr", "labelsTr", "imagesTs"):
            raise self.layout_error(root, "this is a subfolder of a task; pass the task folder")
        if not self._tasks(root):
            raise self.layout_error(
                root, "no dataset.json here, nor TaskNN_Name/ or DatasetNNN_Name/ folders"
            )

    def records(self, root: Path) -> Iterator[SourceRecord]:
        self.check_root(root)
        for task in self._tasks(root):
            spec = self._spec(root, task)
            if spec.file_ending not in VOLUME_ENDINGS:
                yield self._problem(
                    task, task.name, Reason.UNSUPPORTED_FILE,
                    f"file_ending {spec.file_ending!r} is not a volume format "
                    f"({', '.join(VOLUME_ENDINGS)})",
                )  # fmt: skip
                continue
            listed = self._nnunet_cases(task, spec) if spec.nnunet else self._msd_cases(task, spec)
            seen: set[str] = set()
            for record in listed:
                if record.case_id in seen:
                    record = self._problem(
                        task, f"{record.case_id}#dup", Reason.DUPLICATE_CASE,
                        f"{record.case_id} is listed twice",
                    )  # fmt: skip
                seen.add(record.case_id)
                yield record

    def load(self, record: SourceRecord) -> Case:
        payload = record.payload_as(MsdPayload)
        if record.label is None:  # never: sound records carry their label map
            raise LabelMismatchError(f"{record.case_id}: no label map")
        source = read_guarded(read_label_volume, record.label)
        check_declared(
            source.array, set(payload.spec.declared), case_id=record.case_id,
            name=record.label.name,
        )  # fmt: skip
        image = read_guarded(lambda p: read_volume(p, channel=payload.channel), record.image)
        image, source, moved = on_one_grid(
            image, source, case_id=record.case_id, names=(record.image.name, record.label.name)
        )
        view = payload.view
        labels = view.labels
        return Case(
            record=record,
            image=image,
            labels=labels,
            label_map=Volume(array=apply_view(source.array, view), affine=source.affine.copy()),
            lesion_labels=lesion_names(labels.values()),
            vocabulary=tuple(n for n in payload.spec.vocabulary if n not in labels.values()),
            history=[
                f"image {record.image.name}, {payload.spec.channel_line()}",
                view.describe(),
                *moved,
            ],
        )

    # --- listing ---------------------------------------------------------------------------------

    def _tasks(self, root: Path) -> list[Path]:
        if (root / "dataset.json").is_file():
            return [root]
        if not root.is_dir():
            return []
        return [
            folder
            for folder in sorted(root.iterdir())
            if folder.is_dir()
            and (TASK_DIR.match(folder.name) or DATASET_DIR.match(folder.name))
            and (folder / "dataset.json").is_file()
        ]

    def _spec(self, root: Path, task: Path) -> TaskSpec:
        try:
            data = json.loads((task / "dataset.json").read_text(encoding="utf-8"))
            return parse_spec(data, task.name)
        except (OSError, UnicodeDecodeError, ValueError) as error:  # SpecError is a ValueError
            raise self.layout_error(root, f"{task.name}/dataset.json: {error}") from error

    def _problem(
        self, task: Path, case_id: str, reason: Reason, detail: str, modality: str = "MR"
    ) -> SourceRecord:
        return problem_record(
            builder=self,
            case_id=case_id if case_id == task.name else f"{task.name}/{case_id}",
            image=task,
            modality=modality,
            dims=3,
            reason=reason,
            detail=detail,
        )

    def _records(
        self, task: Path, spec: TaskSpec, case: str, image: Path, label: Path, channel: int | None
    ) -> Iterator[SourceRecord]:
        """One record per label view of a sound case."""
        for view in spec.views:
            suffix = f"/{view.key}" if view.key else ""
            yield SourceRecord(
                source=self.slug,
                case_id=f"{task.name}/{case}{suffix}",
                group_key=f"{task.name}/{case}",
                dims=3,
                modality=spec.modality,
                image=image,
                label=label,
                terms=spec.terms,
                payload=MsdPayload(spec=spec, view=view, channel=channel),
            )

    def _msd_cases(self, task: Path, spec: TaskSpec) -> Iterator[SourceRecord]:
        channel = spec.channel[0] if spec.channel[2] > 1 else None
        for number, entry in enumerate(spec.training):
            where = f"training#{number}"
            if not (
                isinstance(entry, dict)
                and isinstance(entry.get("image"), str)
                and isinstance(entry.get("label"), str)
            ):
                yield self._problem(task, where, Reason.BAD_NAME, "entry is not {image, label}")
                continue
            image, label = _entry(entry["image"]), _entry(entry["label"])
            if image is None or label is None:
                yield self._problem(
                    task, where, Reason.UNSAFE_PATH,
                    f"{entry['image']!r} / {entry['label']!r} leave the task folder",
                )  # fmt: skip
                continue
            case = _stem(image.name)
            if (image.parts[:-1], label.parts[:-1]) != (("imagesTr",), ("labelsTr",)) or (
                case != _stem(label.name)
            ):
                yield self._problem(
                    task, where, Reason.BAD_NAME,
                    f"{entry['image']!r} and {entry['label']!r} are not imagesTr/X and labelsTr/X",
                )  # fmt: skip
                continue
            problem = _missing(task / image, task / label)
            if problem is not None:
                yield self._problem(task, case, *problem, modality=spec.modality)
                continue
            yield from self._records(task, spec, case, task / image, task / label, channel)
        for number, entry in enumerate(spec.test):
            path = _entry(entry) if isinstance(entry, str) else None
            case = _stem(path.name) if path is not None else f"test#{number}"
            yield self._problem(
                task, case, Reason.NO_ANNOTATION, "a test image: the Decathlon withheld its labels"
            )

    def _nnunet_cases(self, task: Path, spec: TaskSpec) -> Iterator[SourceRecord]:
        suffix = f"_{spec.channel[0]:04d}{spec.file_ending}"
        for folder, labelled in (("imagesTr", True), ("imagesTs", False)):
            cases: set[str] = set()
            strays: list[str] = []
            for path in sorted((task / folder).iterdir()) if (task / folder).is_dir() else []:
                if path.name.startswith((".", "_")):
                    continue  # ._ AppleDouble files, as nnU-Net skips them
                head = _channel_case(path.name, spec.file_ending)
                if head is None:
                    strays.append(path.name)
                else:
                    cases.add(head)
            for name in strays:
                yield self._problem(
                    task, f"{folder}/{name}", Reason.BAD_NAME,
                    f"{folder}/{name} is not <case>_<XXXX>{spec.file_ending}",
                )  # fmt: skip
            for case in sorted(cases):
                image = task / folder / f"{case}{suffix}"
                if not labelled:
                    yield self._problem(
                        task, case, Reason.NO_ANNOTATION, "an imagesTs case: no labels"
                    )
                    continue
                label = task / "labelsTr" / f"{case}{spec.file_ending}"
                problem = _missing(image, label)
                if problem is not None:
                    yield self._problem(task, case, *problem, modality=spec.modality)
                    continue
                yield from self._records(task, spec, case, image, label, None)


def _entry(text: str) -> PurePosixPath | None:
    """A ``dataset.json`` path ("./imagesTr/x.nii.gz") relative to the task; None if unsafe."""
    cleaned = text.removeprefix("./")
    return PurePosixPath(cleaned) if is_safe_name(cleaned) else None


def _stem(name: str) -> str:
    for ending in VOLUME_ENDINGS:
        if name.endswith(ending):
            return name[: -len(ending)]
    return name


def _channel_case(name: str, ending: str) -> str | None:
    """``case`` of ``case_0001.nii.gz``; None for a name without the channel suffix."""
    if not name.endswith(ending):
        return None
    head, _, channel = name[: -len(ending)].rpartition("_")
    return head if head and len(channel) == 4 and channel.isdigit() else None


def _missing(image: Path, label: Path) -> tuple[Reason, str] | None:
    if not image.is_file():
        return Reason.MISSING_IMAGE, f"{image.parent.name}/{image.name} is not there"
    if not label.is_file():
        return Reason.MISSING_MASK, f"{label.parent.name}/{label.name} is not there"
    return None
