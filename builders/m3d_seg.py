"""``m3d_seg``: M3D-Seg, the reference system's 3D source (25 public CT sets), as released.

Expected layout (unzip every ``M3D_Seg/<code>.zip`` into one ``M3D_Seg/`` folder)::

    M3D_Seg/
      0000/                            one folder per dataset code, 0000 .. 0024
        0000.json                      {"labels": {"0": "background", "1": "liver"},
                                        "train": [{"image": "0000/1/image.npy",
                                                   "label": "0000/1/mask_(1, 512, 512, 96).npz"}],
                                        "test": [...]}
        1/                             one folder per case
          image.npy                    float32 (1, X, Y, Z), depth last, foreground z-scored
          mask_(1, 512, 512, 96).npz   scipy.sparse CSR (C, X*Y*Z), row c = class c+1
      dataset_info.json                (optional) {"0000": ["liver"], ...}: class names per code

The older layout of the same release is read too: ``<code>/ct/<case>.npy`` with
``<code>/gt/<case>.(C, X, Y, Z).npz`` and the JSON key ``training`` instead of ``train``.
Get it from https://huggingface.co/datasets/GoodBaiBai88/M3D-Seg (``M3D_Seg/<code>.zip``).

What a case is: one entry of a ``<code>/<code>.json`` list (``train`` -> train split, ``test``
-> test split, as shipped: the split was drawn without a seed, so it is never redrawn). The case
id is ``<code>/<case folder>``; the group id is the same (the release has no patient ids). Index
paths may be relative to ``M3D_Seg/`` or to the code folder; a path that leaves the folder is
``unsafe-path`` and never read (an absolute path is re-rooted only when it ends in
``<code>/<case>/<file>`` of its own code). The mask shape comes from the file name
(``mask_(C, X, Y, Z).npz``); the CSR rows are class channels in ``labels`` order, combined into
one label map (the source was one label map, so channels never overlap; overlapping ones are
``overlapping-masks``). Distractor options come from the structure names of every dataset code
in the folder; absent-lesion questions only from the case's own dataset (whose masks cover
them). A channel with voxels but no class name is ``unknown-class``; an image
whose shape differs from the mask's is ``label-mismatch``; a truncated ``.npy``/``.npz`` is
``unreadable-file``. VerSe's repeated ``lumbar spine L1`` (channel 20) is read as L2.

**Known limitations, recorded on every row.** M3D-Seg ships no voxel spacing and no affine, its
volumes were never reoriented (orientations differ between, and slice order within, constituent
datasets), and its intensities are per-volume foreground z-scores, not Hounsfield units. So the
builder never invents geometry: volumes get a unit-voxel affine, are sliced along their last
array axis as stored, and the record says ``geometry_known=False`` and
``intensity=Intensity.NORMALIZED``. The serializer then publishes an empty ``spacing_mm``, an
empty ``plane``, ``slice_positions_mm`` of NaN (unknown, not millimetres), no patient-side
terms (``orientation_known`` is false, so no left/right or superior/inferior questions) and no
sizes in mm or ml, and windows intensities by percentiles instead of a CT preset. For geometry,
ingest the original datasets instead.

License: the HF card says apache-2.0, but the 25 upstream licenses govern the images (several
are non-commercial, HaN-Seg is no-derivatives). Each record carries its code's terms
(``SourceRecord.terms``; ``other`` and not redistributable where the research notes found no
license). ``publish`` follows the
terms case by case: pixels for redistributable datasets, annotation-only rows for the others.
The class default, shown by ``unimed-cot sources``, is ``other`` and not redistributable.
"""

from __future__ import annotations

import json
import zipfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import numpy.typing as npt

from unimed_cot.imaging import (
    LabelMismatchError,
    UnreadableFileError,
    read_array_volume,
)
from unimed_cot.reasons import Reason
from unimed_cot.records import Case, Dims, Intensity, SourceRecord, Split, Terms, Volume

from ._common import (
    BadMaskError,
    MissingImageError,
    MissingMaskError,
    NoAnnotationError,
    OverlappingMasksError,
    UnknownClassError,
    lesion_names,
    problem_record,
)
from ._m3d_names import (
    CODE,
    EscapingPathError,
    LayoutError,
    class_names,
    distractor_names,
    entry_parts,
    mask_shape,
    terms,
)
from .base import Builder

# Unit voxels, axes taken as L, P, S so that normalize leaves the arrays as stored: the real
# orientation is unknown, and this choice claims nothing the row then publishes.
UNKNOWN_GEOMETRY_AFFINE = np.diag([-1.0, -1.0, 1.0, 1.0])  # what read_array_volume gives here
_SPLITS = {"train": Split.TRAIN, "training": Split.TRAIN, "test": Split.TEST}


@dataclass(frozen=True, slots=True)
class M3DPayload:
    """An M3D-Seg record's channel names (in mask row order), the structure names of the other
    datasets in the folder (distractors) and the history lines of renamed channels."""

    classes: tuple[str, ...]
    vocabulary: tuple[str, ...] = ()
    class_notes: tuple[str, ...] = ()


_HISTORY = (
    "M3D-Seg: no spacing and no consistent orientation in the release; unit voxels, sliced along "
    "the last array axis as stored; intensities are the release's foreground z-scores (not HU)"
)


class M3DSegBuilder(Builder):
    """M3D-Seg: 5,772 CT volumes of 25 public datasets with sparse per-class masks."""

    slug = "m3d_seg"
    title = "M3D-Seg"
    homepage = "https://huggingface.co/datasets/GoodBaiBai88/M3D-Seg"
    citation = """@article{bai2024m3d,
  title   = {M3D: Advancing 3D Medical Image Analysis with Multi-Modal Large Language Models},
  author  = {Bai, Fan and Du, Yuxin and Huang, Tiejun and Meng, Max Q.-H. and Zhao, Bo},
  journal = {arXiv preprint arXiv:2404.00578},
  year    = {2024}
}"""
    license = "other"  # per record: see the module docstring
    redistributable = False
    modalities: ClassVar[tuple[str, ...]] = ("CT",)
    dims: ClassVar[tuple[Dims, ...]] = (3,)
    layout = """M3D_Seg/
  0000/                          one folder per dataset code (0000 .. 0024)
    0000.json                    {"labels": {"0": "background", "1": "liver"},
                                  "train": [{"image": ..., "label": ...}], "test": [...]}
    <case>/image.npy             float32 (1, X, Y, Z)
    <case>/mask_(C, X, Y, Z).npz scipy.sparse CSR (C, X*Y*Z)
  dataset_info.json              (optional) {"0000": ["liver"], ...}"""

    def check_root(self, root: Path) -> None:
        if (root / f"{root.name}.json").is_file() and CODE.match(root.name):
            raise self.layout_error(root, "this is one dataset folder; pass its parent")
        if not root.is_dir() or not self._codes(root):
            raise self.layout_error(root, "no <code>/<code>.json dataset folder (0000, 0001, ...)")

    def records(self, root: Path) -> Iterator[SourceRecord]:
        self.check_root(root)
        info = self._dataset_info(root)
        datasets = []
        for code in self._codes(root):
            index = self._read_index(root, code)
            names, notes = class_names(code, self._class_list(root, code, index, info))
            datasets.append((code, index, names, notes))
        # Distractors: the structure (not lesion) names of every dataset in the folder and of
        # the release's whole class list, so a one-class download (0023 alone: spleen) still
        # gets "which structure is outlined?" options. They are never claimed absent: only a
        # dataset's own classes are (Case.vocabulary vs Case.labels).
        pooled = {n for *_, names, _ in datasets for n in names} | distractor_names()
        structures = pooled - lesion_names(pooled)
        for code, index, names, notes in datasets:
            vocabulary = tuple(sorted(structures - set(names)))
            seen: set[str] = set()
            for key in ("train", "training", "test"):
                entries = index.get(key, [])
                if not isinstance(entries, list):
                    raise self.layout_error(root, f"{code}/{code}.json {key!r} is not a list")
                for number, entry in enumerate(entries):
                    record = self._record(root, code, key, number, entry, names, notes)
                    if record.problem is None:
                        payload = replace(record.payload_as(M3DPayload), vocabulary=vocabulary)
                        record = replace(record, payload=payload)
                    if record.case_id in seen:
                        record = self._problem(
                            root, f"{code}/{key}#{number}", Reason.DUPLICATE_CASE,
                            f"{record.case_id} is listed twice in {code}/{code}.json",
                        )  # fmt: skip
                    seen.add(record.case_id)
                    yield record

    def load(self, record: SourceRecord) -> Case:
        payload = record.payload_as(M3DPayload)
        if record.label is None:  # never: sound records always carry their mask
            raise MissingMaskError(f"{record.case_id}: no mask")
        names = list(payload.classes)
        channels, *grid = mask_shape(record.label.name)
        if not record.image.is_file():
            raise MissingImageError(f"{record.case_id}: {record.image.name} is not there")
        if not record.label.is_file():
            raise MissingMaskError(f"{record.case_id}: {record.label.name} is not there")
        # Stored (1, X, Y, Z), depth last; axes taken as L, P, S (UNKNOWN_GEOMETRY_AFFINE) so
        # that normalize leaves them as stored: no spacing or orientation is claimed.
        image = read_array_volume(record.image, axcodes="LPS", layout="xyz").volume
        if image.shape != tuple(grid):
            raise LabelMismatchError(
                f"{record.case_id}: image.npy is {image.shape}, the mask {tuple(grid)}"
            )
        labels = _read_label_map(record.label, (channels, *grid), n_classes=len(names))
        if not labels.any():
            raise NoAnnotationError(f"{record.case_id}: every class channel of the mask is empty")
        return Case(
            record=record,
            image=image,
            labels=dict(enumerate(names, start=1)),
            vocabulary=payload.vocabulary,
            label_map=Volume(array=labels, affine=image.affine.copy()),
            lesion_labels=lesion_names(names),
            history=[_HISTORY, *payload.class_notes],
        )

    # --- listing ---------------------------------------------------------------------------------

    def _codes(self, root: Path) -> list[str]:
        codes = []
        for folder in sorted(root.iterdir()) if root.is_dir() else []:
            if not (folder.is_dir() and CODE.match(folder.name)):
                continue
            if not (folder / f"{folder.name}.json").is_file():
                nested = folder / folder.name / f"{folder.name}.json"
                problem = (
                    f"{folder.name}/{folder.name}/ is nested: unzip {folder.name}.zip into "
                    f"M3D_Seg/ itself"
                    if nested.is_file()
                    else f"{folder.name}/ has no {folder.name}.json"
                )
                raise self.layout_error(root, problem)
            codes.append(folder.name)
        return codes

    def _read_json(self, root: Path, path: Path) -> Any:
        try:
            return json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, ValueError) as error:
            raise self.layout_error(root, f"{path.name} is not readable JSON ({error})") from error

    def _read_index(self, root: Path, code: str) -> dict[str, Any]:
        data = self._read_json(root, root / code / f"{code}.json")
        if not isinstance(data, dict):
            raise self.layout_error(root, f"{code}/{code}.json must hold a JSON object")
        return data

    def _dataset_info(self, root: Path) -> dict[str, Any]:
        path = root / "dataset_info.json"
        data = self._read_json(root, path) if path.is_file() else {}
        return data if isinstance(data, dict) else {}

    def _class_list(
        self, root: Path, code: str, index: dict[str, Any], info: dict[str, Any]
    ) -> list[str]:
        """Channel names: the index's ``labels`` ("0" is background), else dataset_info.json."""
        labels = index.get("labels")
        if isinstance(labels, dict) and labels:
            try:
                by_value = {int(k): str(v).strip() for k, v in labels.items()}
            except ValueError as error:
                raise self.layout_error(root, f"{code}/{code}.json labels: {error}") from error
            values = sorted(v for v in by_value if v > 0)
            if values != list(range(1, len(values) + 1)):
                raise self.layout_error(root, f"{code}/{code}.json labels are not 1..C")
            return [by_value[v] for v in values]
        listed = info.get(code)
        if isinstance(listed, list) and all(isinstance(n, str) for n in listed):
            return [n.strip() for n in listed]
        raise self.layout_error(root, f"no class list for {code} (labels or dataset_info.json)")

    def _problem(self, root: Path, case_id: str, reason: Reason, detail: str) -> SourceRecord:
        return problem_record(
            builder=self,
            case_id=case_id,
            image=root / case_id,
            modality="CT",
            dims=3,
            reason=reason,
            detail=detail,
        )

    def _record(
        self,
        root: Path,
        code: str,
        key: str,
        number: int,
        entry: object,
        names: list[str],
        notes: list[str],
    ) -> SourceRecord:
        where = f"{code}/{key}#{number}"
        if not (
            isinstance(entry, dict)
            and isinstance(entry.get("image"), str)
            and isinstance(entry.get("label"), str)
        ):
            return self._problem(root, where, Reason.BAD_NAME, "entry is not {image, label} paths")
        try:
            image = entry_parts(entry["image"], code)
            label = entry_parts(entry["label"], code)
            mask_shape(label[2])
        except LayoutError as error:
            unsafe = isinstance(error, EscapingPathError)
            reason = Reason.UNSAFE_PATH if unsafe else Reason.BAD_NAME
            return self._problem(root, where, reason, str(error))
        case = _case_name(image, label)
        if case is None:
            detail = f"image {entry['image']!r} and mask {entry['label']!r} are not one case"
            return self._problem(root, where, Reason.BAD_NAME, detail)
        license_id, redistributable = terms(code)
        return SourceRecord(
            source=self.slug,
            case_id=f"{code}/{case}",
            group_key=f"{code}/{case}",
            dims=3,
            modality="CT",
            image=root.joinpath(*image),
            label=root.joinpath(*label),
            official_split=_SPLITS[key],
            terms=Terms(license=license_id, redistributable=redistributable),
            geometry_known=False,
            intensity=Intensity.NORMALIZED,
            payload=M3DPayload(classes=tuple(names), class_notes=tuple(notes)),
        )


def _case_name(image: tuple[str, ...], label: tuple[str, ...]) -> str | None:
    """The case of an (image, mask) pair in either layout; None when they disagree."""
    _, image_dir, image_file = image
    _, label_dir, label_file = label
    if image_file == "image.npy" and label_file.startswith("mask_") and image_dir == label_dir:
        return image_dir  # current: <code>/<case>/image.npy + mask_(...).npz
    if (image_dir, label_dir) == ("ct", "gt") and image_file.endswith(".npy"):
        case = image_file.removesuffix(".npy")
        return case if label_file.startswith(f"{case}.(") else None  # older layout
    return None


def _read_label_map(
    path: Path, shape: tuple[int, ...], *, n_classes: int
) -> npt.NDArray[np.integer]:
    """One label map (value c+1 = channel c) from the sparse mask, without densifying (C, N)."""
    from scipy import sparse

    channels, size = shape[0], int(np.prod(shape[1:]))
    try:
        matrix = sparse.load_npz(path).tocsr()
    except (OSError, ValueError, EOFError, KeyError, zipfile.BadZipFile, zlib.error) as error:
        raise UnreadableFileError(f"{path.name}: truncated or corrupt ({error})") from error
    if matrix.shape != (channels, size):
        raise BadMaskError(
            f"{path.name}: sparse shape {matrix.shape}, expected ({channels}, {size})"
        )
    flat: npt.NDArray[np.integer] = np.zeros(size, dtype=np.uint8 if channels < 255 else np.uint16)
    for channel in range(channels):
        start, stop = matrix.indptr[channel], matrix.indptr[channel + 1]
        columns = matrix.indices[start:stop][matrix.data[start:stop] != 0]
        if columns.size == 0:
            continue
        if channel >= n_classes:
            raise UnknownClassError(
                f"{path.name}: channel {channel} has {columns.size} voxels but the class list "
                f"names {n_classes} classes"
            )
        if flat[columns].any():
            raise OverlappingMasksError(f"{path.name}: channel {channel} overlaps another class")
        flat[columns] = channel + 1
    # save_npz flattened each (X, Y, Z) channel in C order.
    return flat.reshape(shape[1:])
