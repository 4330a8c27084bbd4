"""``samed2d``: SA-Med2D-20M ("SAMed2D-v1"), the reference system's 2D source, as released.

Expected layout (the folder the release's split zip unpacks to; its parent also works)::

    SAMed2Dv1/
      images/<modality>--<dataset>--<case>--<slice>.png   e.g. ct_00--CT_ORG--volume-1--x_0083.png
      masks/<image stem>--<class id>_<instance>.png        binary 0/255 PNG, one per class instance
      SAMed2D_v1.json                     {"images/<image>.png": ["masks/<mask>.png", ...], ...}
      SAMed2D_v1_class_mapping_id.json    {"<dataset>": {"<class name>": "0003", ...}, ...}

Get it from https://huggingface.co/datasets/OpenGVLab/SA-Med2D-20M (``raw/SA-Med2D-16M.zip`` +
``.z01``-``.z10``; merge with ``zip -s 0 SA-Med2D-16M.zip --out full.zip``, then unzip).

What a case is: one image of the index with all its masks. The name gives the modality (one of
the release's 34 codes, mapped to its family: CT, MR, PET, ultrasound, X-ray, dermoscopy,
endoscopy, fundus), the source dataset, the original case and the slicing axis (``x_``/``y_``/
``z_`` are array axes of the source volume, not anatomical planes, so no plane is claimed).
Names of any other shape are rejected (``bad-name``), never guessed. Class ids resolve per
dataset through the class mapping; an id the mapping lacks rejects the case (``unknown-class``):
dropping the mask would make "Is there a ...? -> No" answers wrong.

Regions: every mask is binary; each of its 8-connected components gives one box (the release
stores one instance per file, so this is normally one box per mask), in source pixels, rounded
outward onto the published grid, with the component's pixel count (sizes are compared from
mask pixels, never from box areas). Masks may overlap (nested or whole-cavity classes), which is
why boxes, not a merged label map, carry them. Generic names (``class...``, bare ``left``/
``right``) name nothing a question can use: their masks are skipped and recorded in the case
history. A ``union_*`` overlap class (``union_enhancing_tumor_necrosis_edema``) gets no region of
its own either, but the dataset's classes its name spells out (longest names first) are
*covered*: a non-empty union mask means they are present, so they are never answered absent.
Known release defects handled: inverted optic-disc masks of ``ichallenge_adam_task2`` are
inverted back; ``Brain_PTM`` images with two or fewer grey values
(binary masks shipped as images) and QUBIQ2020 ``brain-growth`` images are rejected
(``unusable-image``). A mask with values other than {0, 255} (or {0, 1}) is ``bad-mask``; a
mask whose size differs from its image is ``label-mismatch``; a missing file is
``missing-image``/``missing-mask``; an index path that is absolute or leaves the folder is
``unsafe-path`` and never opened.

Splits: the group id is source dataset + original case, so every slice of one case, along any
axis, lands in one split. Overlaps with M3D-Seg (same challenge CTs) are not linked here.

License: the card states CC-BY-NC-SA-4.0 for the release, with the constituent datasets' terms
applying on top. Each record carries its dataset's ``Terms`` (SPDX id, redistributable): BraTS
and ISLES slices are marked not redistributable (their challenge terms forbid it). The pipeline
stages each case's terms with its rows and ``publish``
routes those slices annotation-only (``unimed-cot hydrate`` restores them from your copy). The
class default, shown by ``unimed-cot sources``, is the conservative "not redistributable".

Memory: ``SAMed2D_v1.json`` of the full release holds ~3.77M keys and is parsed whole once per
listing (a few GB of RAM); listing reads no pixels and stats no files.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any, ClassVar

import numpy as np

from unimed_cot.imaging import LabelMismatchError, read_image_2d, read_label_image
from unimed_cot.reasons import Reason
from unimed_cot.records import AnnotatedBox, Case, Dims, SourceRecord, Terms

from ._common import (
    BadMaskError,
    MissingImageError,
    MissingMaskError,
    NoAnnotationError,
    UnusableImageError,
    is_safe_name,
    lesion_names,
    problem_record,
)
from ._samed2d_names import (
    MODALITIES,
    ImageName,
    NamingError,
    dataset_terms,
    parse_image_name,
    parse_mask_name,
    readable_class,
    usable_class,
)
from .base import Builder

RELEASE_FOLDER = "SAMed2Dv1"
INDEX_FILE = "SAMed2D_v1.json"
MAPPING_FILE = "SAMed2D_v1_class_mapping_id.json"
# Datasets whose masks mark background as foreground (torch-em's documented "HACK").
_INVERTED_MASKS = frozenset({"ichallenge_adam_task2"})


@dataclass(frozen=True, slots=True)
class SAMed2DPayload:
    """An image's masks as (class id, index path) pairs, its dataset's class table (id ->
    name), and the fields of its name."""

    masks: tuple[tuple[str, str], ...]
    classes: Mapping[str, str]
    dataset: str
    modality_code: str
    slice_axis: str


class SAMed2DBuilder(Builder):
    """SA-Med2D-20M: 2D slices and images of ~90 public datasets with per-instance masks."""

    slug = "samed2d"
    title = "SA-Med2D-20M (SAMed2D-v1)"
    homepage = "https://huggingface.co/datasets/OpenGVLab/SA-Med2D-20M"
    citation = """@article{ye2023samed2d20m,
  title   = {SA-Med2D-20M Dataset: Segment Anything in 2D Medical Imaging with 20 Million Masks},
  author  = {Ye, Jin and Cheng, Junlong and Chen, Jianpin and Deng, Zhongying and Li, Tianbin
             and others},
  journal = {arXiv preprint arXiv:2311.11969},
  year    = {2023}
}"""
    license = "CC-BY-NC-SA-4.0"
    redistributable = False  # per record: see the module docstring
    modalities: ClassVar[tuple[str, ...]] = MODALITIES
    dims: ClassVar[tuple[Dims, ...]] = (2,)
    layout = """SAMed2Dv1/
  images/<modality>--<dataset>--<case>--<slice>.png
  masks/<image stem>--<class id>_<instance>.png   binary 0/255, one per class instance
  SAMed2D_v1.json                   {"images/<image>.png": ["masks/<mask>.png", ...]}
  SAMed2D_v1_class_mapping_id.json  {"<dataset>": {"<class name>": "0003", ...}}"""

    def check_root(self, root: Path) -> None:
        base = release_dir(root)
        for name in (INDEX_FILE, MAPPING_FILE):
            if not (base / name).is_file():
                raise self.layout_error(root, f"{name} is missing")
        for folder in ("images", "masks"):
            if not (base / folder).is_dir():
                raise self.layout_error(root, f"{folder}/ is missing")

    def records(self, root: Path) -> Iterator[SourceRecord]:
        self.check_root(root)
        base = release_dir(root)
        index = self._read_json(root, base / INDEX_FILE)
        classes = self._class_ids(root, self._read_json(root, base / MAPPING_FILE))
        for key in sorted(index):
            yield self._record(base, key, index[key], classes)

    def load(self, record: SourceRecord) -> Case:
        payload = record.payload_as(SAMed2DPayload)
        name = parse_image_name(record.image.name)
        if not record.image.is_file():
            raise MissingImageError(f"{record.case_id}: images/{record.image.name} is not there")
        image = read_image_2d(record.image)
        _check_known_defects(name, image.array)
        vocabulary, masks = payload.classes, payload.masks
        boxes: list[AnnotatedBox] = []
        covered: set[str] = set()
        history: list[str] = []
        atoms = sorted(
            (n for n in vocabulary.values() if usable_class(n)), key=lambda n: (-len(n), n)
        )
        for class_id, relative in masks:
            class_name = vocabulary[class_id]
            path = record.image.parent.parent / relative
            union = union_atoms(class_name, atoms)
            if not usable_class(class_name) and not union:
                history.append(f"skipped mask {path.name}: class {class_name!r} names no structure")
                continue
            binary = _read_binary_mask(path, (image.height, image.width), name.dataset)
            components = _component_boxes(binary)
            if not components:
                history.append(f"skipped mask {path.name}: empty")
            elif union:
                covered |= {readable_class(atom) for atom in union}
                history.append(
                    f"union mask {path.name} ({class_name}) covers {sorted(union)}: no region"
                )
            else:
                label = readable_class(class_name)
                boxes += [AnnotatedBox(label=label, box=b, mask_px=n) for b, n in components]
        if not boxes:
            raise NoAnnotationError(f"{record.case_id}: no mask with a usable class")
        names = sorted({readable_class(n) for n in atoms})
        return Case(
            record=record,
            image=image,
            labels=dict(enumerate(names, start=1)),  # the dataset's vocabulary (distractors)
            lesion_labels=lesion_names(names),
            boxes=tuple(boxes),
            history=history,
            covered_labels=frozenset(covered - {box.label for box in boxes}),
        )

    # --- listing ---------------------------------------------------------------------------------

    def _read_json(self, root: Path, path: Path) -> dict[str, Any]:
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, ValueError) as error:
            raise self.layout_error(root, f"{path.name} is not readable JSON ({error})") from error
        if not isinstance(data, dict):
            raise self.layout_error(root, f"{path.name} must hold a JSON object")
        return data

    def _class_ids(self, root: Path, mapping: dict[str, Any]) -> dict[str, dict[str, str]]:
        """dataset -> class id -> class name (the file maps name -> id per dataset)."""
        by_id: dict[str, dict[str, str]] = {}
        for dataset, table in mapping.items():
            if not isinstance(table, dict):
                raise self.layout_error(
                    root, f"{MAPPING_FILE}: {dataset!r} must map class names to 4-digit ids"
                )
            ids: dict[str, str] = {}
            for class_name, class_id in sorted(table.items()):
                # An id given to two names is ambiguous: it stays unknown (rejects its cases).
                ids[str(class_id)] = "" if str(class_id) in ids else str(class_name)
            by_id[dataset] = {k: v for k, v in ids.items() if v}
        return by_id

    def _record(
        self, base: Path, key: str, masks: object, classes: dict[str, dict[str, str]]
    ) -> SourceRecord:
        parts = PurePosixPath(key).parts if is_safe_name(key) else ()
        stem = parts[-1].removesuffix(".png") if parts else key
        image = base / "images" / (parts[-1] if parts else "invalid")

        def rejected(reason: Reason, detail: str) -> SourceRecord:
            return problem_record(
                builder=self,
                case_id=stem,
                image=image,
                modality=_modality_guess(stem),
                dims=2,
                reason=reason,
                detail=detail,
            )

        if not parts:
            return rejected(Reason.UNSAFE_PATH, f"index key {key!r} leaves the release folder")
        if len(parts) != 2 or parts[0] != "images":
            return rejected(Reason.BAD_NAME, f"index key {key!r} is not images/<name>.png")
        try:
            name = parse_image_name(parts[1])
        except NamingError as error:
            return rejected(Reason.BAD_NAME, str(error))
        if not isinstance(masks, list) or not all(isinstance(m, str) for m in masks):
            return rejected(Reason.BAD_NAME, f"index value of {key!r} is not a list of mask paths")
        known = classes.get(name.dataset, {})
        listed: list[tuple[str, str]] = []
        for mask in masks:
            if not is_safe_name(mask):
                return rejected(
                    Reason.UNSAFE_PATH, f"mask entry {mask!r} leaves the release folder"
                )
            mask_parts = PurePosixPath(mask).parts
            if len(mask_parts) != 2 or mask_parts[0] != "masks":
                return rejected(Reason.BAD_NAME, f"mask entry {mask!r} is not masks/<name>.png")
            try:
                parsed = parse_mask_name(mask_parts[1], name)
            except NamingError as error:
                return rejected(Reason.BAD_NAME, str(error))
            if parsed.class_id not in known:
                return rejected(
                    Reason.UNKNOWN_CLASS,
                    f"class id {parsed.class_id} of {mask_parts[1]} is not in {MAPPING_FILE} "
                    f"for {name.dataset}",
                )
            listed.append((parsed.class_id, mask))
        license_id, redistributable = dataset_terms(name.dataset)
        return SourceRecord(
            source=self.slug,
            case_id=name.stem,
            group_key=name.group_key,
            dims=2,
            modality=name.modality,
            image=image,
            terms=Terms(license=license_id, redistributable=redistributable),
            payload=SAMed2DPayload(
                masks=tuple(listed),
                classes=known,
                dataset=name.dataset,
                modality_code=name.modality_code,
                slice_axis=name.slice_axis,
            ),
        )


def release_dir(root: Path) -> Path:
    """``root`` itself, or ``root/SAMed2Dv1`` when ``root`` is the folder it was unzipped in."""
    nested = root / RELEASE_FOLDER
    return nested if (nested / INDEX_FILE).is_file() else root


def _modality_guess(stem: str) -> str:
    """The modality family of a rejected entry, for its counts (CT when unparsable)."""
    from ._samed2d_names import MODALITY_FAMILIES

    return MODALITY_FAMILIES.get(stem.split("--", 1)[0], "CT")


def _check_known_defects(name: ImageName, array: np.ndarray[Any, Any]) -> None:
    if name.dataset == "QUBIQ2020" and "brain-growth" in name.ori_name:
        raise UnusableImageError(
            f"{name.stem}: QUBIQ2020 brain-growth images are binary and mislabelled CT"
        )
    if name.dataset == "Brain_PTM" and np.unique(array).size <= 2:
        raise UnusableImageError(f"{name.stem}: Brain_PTM image is a binary mask, not an MR slice")


def _read_binary_mask(path: Path, shape: tuple[int, int], dataset: str) -> np.ndarray[Any, Any]:
    if not path.is_file():
        raise MissingMaskError(f"masks/{path.name} is not there")
    array = np.asarray(read_label_image(path).array)
    if array.shape != shape:
        raise LabelMismatchError(
            f"masks/{path.name} is {array.shape[1]}x{array.shape[0]}, "
            f"its image {shape[1]}x{shape[0]}"
        )
    values = set(np.unique(array).tolist())
    if not (values <= {0, 255} or values <= {0, 1}):
        raise BadMaskError(f"masks/{path.name} is not binary (values {sorted(values)[:6]})")
    binary = array > 0
    return ~binary if dataset in _INVERTED_MASKS else binary


def union_atoms(class_name: str, atoms: list[str]) -> tuple[str, ...]:
    """The dataset classes a ``union_*`` class name spells out, read left to right taking the
    longest class name that matches at each position (so ``non_enhancing_tumor`` is not read as
    ``enhancing_tumor``); () when it is no union or a part matches no class (then nothing is
    claimed covered)."""
    if not class_name.strip().lower().startswith("union_"):
        return ()
    words, found = class_name.strip().lower()[len("union_") :].split("_"), []
    while words:
        for atom in atoms:  # longest first
            parts = atom.lower().split("_")
            if words[: len(parts)] == parts:
                found.append(atom)
                words = words[len(parts) :]
                break
        else:
            return ()
    return tuple(sorted(set(found)))


def _component_boxes(
    binary: np.ndarray[Any, Any],
) -> list[tuple[tuple[float, float, float, float], int]]:
    """Half-open (x1, y1, x2, y2) boxes of the 8-connected components, in raster order, each
    with its pixel count."""
    import cv2

    count, _, stats, _ = cv2.connectedComponentsWithStats(binary.astype(np.uint8), connectivity=8)
    boxes = []
    for index in range(1, count):  # 0 is the background
        x, y, w, h, area = (int(v) for v in stats[index, :5])
        boxes.append(((float(x), float(y), float(x + w), float(y + h)), area))
    return boxes
