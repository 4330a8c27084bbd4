"""In-process records passed between pipeline stages.

These are the typed boundaries of the data flow in DESIGN.md §3::

    Builder.records(root) -> SourceRecord   (listing: paths + annotations, no pixels)
    Builder.load(record)  -> Case           (pixels, label map, label names)
    normalize(case)       -> Case           (canonical frame, history recorded)
    serialize(case)       -> SerializedImages -> Sample(s)   (``unimed_cot.samples``)

Geometry lives in ``Volume.affine`` only; spacing and orientation are derived from it, never
stored twice. This module imports numpy and nothing heavier (no nibabel, pyarrow or clients).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Literal, TypeVar

import numpy as np
import numpy.typing as npt

from unimed_cot.reasons import Reason

Dims = Literal[2, 3]
FloatArray = npt.NDArray[np.floating]
UInt8Array = npt.NDArray[np.uint8]
LabelArray = npt.NDArray[np.integer]
P = TypeVar("P")

# Canonical frame of every normalized volume: array axes point to patient Left, Posterior,
# Superior (nibabel axcodes "LPS", the DICOM patient system). An axial slice ``array[:, :, k].T``
# is then the radiological view: anterior at the top, patient left on the image right.
CANONICAL_AXCODES: tuple[str, str, str] = ("L", "P", "S")


class Split(StrEnum):
    TRAIN = "train"
    VALIDATION = "validation"
    TEST = "test"


SPLITS: tuple[str, ...] = tuple(s.value for s in Split)  # from least to most held out


class Plane(StrEnum):
    AXIAL = "axial"
    CORONAL = "coronal"
    SAGITTAL = "sagittal"


class QuestionFamily(StrEnum):
    """The six grounded question families of the reference system (DESIGN.md §4)."""

    STRUCTURE_LOCALIZATION = "structure_localization"
    SPATIAL_LOCALIZATION = "spatial_localization"
    EXISTENCE_VERIFICATION = "existence_verification"
    SIZE_COMPARISON = "size_comparison"
    SPATIAL_RELATIONSHIP = "spatial_relationship"
    LESION_ANALYSIS = "lesion_analysis"


@dataclass(frozen=True, slots=True)
class Terms:
    """The terms a case's pixels come under: its SPDX license and whether derivatives (the
    published images) may be redistributed."""

    license: str
    redistributable: bool


class Intensity(StrEnum):
    """What the stored intensities of a record are, for the windowing of its pixels."""

    NATIVE = "native"  # as the modality stores them (HU for CT volumes)
    HU = "hu"  # 2D CT converted to Hounsfield units on load (images2d ``hu_offset``)
    NORMALIZED = "normalized"  # already normalized by the source (M3D-Seg z-scores): no presets


@dataclass(frozen=True, slots=True)
class RecordProblem:
    """Why a listed entry is bad before any pixel is read (a path leaving its folder, a name of
    the wrong shape, a duplicate). The pipeline rejects such a record without loading it."""

    reason: Reason
    detail: str  # one line for the rejection file


@dataclass(frozen=True, slots=True)
class SourceRecord:
    """One native case of a source, as listed by ``Builder.records``: paths, no pixels.

    Generic code reads only the typed fields; ``payload`` is the builder's own frozen data for
    its ``load`` (label tables, box lists, mask lists), never read by anything else.

    Attributes:
        source: builder slug.
        case_id: the source's own case id (stable; becomes part of the row id).
        group_key: the raw patient (or case) key used for splitting. It never leaves the build:
            rows carry only its salted hash.
        dims: 2 for an image, 3 for a volume.
        modality: CT, MR, X-ray, ... as the source states it.
        image: path of the image file (or DICOM series folder).
        label: path of the label map / mask, if any.
        official_split: the source's own split, honoured when present.
        terms: this case's license terms, where a source mixes licenses; None means the
            builder's declared ``license``/``redistributable``.
        problem: set when the entry is bad at listing time; the case is rejected unread.
        geometry_known: False when the source has no trustworthy spacing and orientation
            (M3D-Seg): rows then claim no spacing, plane, positions, sizes or patient sides.
        intensity: what the stored intensities are (decides CT presets vs percentiles).
        payload: builder-private data for ``load``.
    """

    source: str
    case_id: str
    group_key: str
    dims: Dims
    modality: str
    image: Path
    label: Path | None = None
    official_split: Split | None = None
    terms: Terms | None = None
    problem: RecordProblem | None = None
    geometry_known: bool = True
    intensity: Intensity = Intensity.NATIVE
    payload: object = None
    # The language of the source questions this record carries ("" when it has none): a build
    # rejects the records of languages it does not keep (``QuestionConfig.languages``) unread.
    language: str = ""

    def payload_as(self, kind: type[P]) -> P:
        """The payload, checked to be the builder's own type (a mismatch is a bug)."""
        if not isinstance(self.payload, kind):
            raise TypeError(
                f"{self.source}/{self.case_id}: payload is {type(self.payload).__name__}, "
                f"expected {kind.__name__}"
            )
        return self.payload


@dataclass(slots=True)
class Volume:
    """A 3D array with its voxel-to-world (RAS+ millimetres, nibabel convention) affine."""

    array: npt.NDArray[np.generic]
    affine: FloatArray

    def __post_init__(self) -> None:
        if self.array.ndim != 3:
            raise ValueError(f"a Volume is 3D, got an array of shape {self.array.shape}")
        if self.affine.shape != (4, 4):
            raise ValueError(f"affine must be 4x4, got {self.affine.shape}")

    @property
    def shape(self) -> tuple[int, int, int]:
        x, y, z = self.array.shape
        return (int(x), int(y), int(z))

    @property
    def spacing(self) -> tuple[float, float, float]:
        """Voxel size in mm along each array axis, derived from the affine."""
        norms = np.linalg.norm(self.affine[:3, :3], axis=0)
        return (float(norms[0]), float(norms[1]), float(norms[2]))

    @property
    def axcodes(self) -> tuple[str, str, str]:
        """Closest anatomical direction of each array axis (nibabel axcodes, e.g. LPS)."""
        from nibabel.orientations import aff2axcodes  # cheap, but keeps nibabel out of import time

        codes = aff2axcodes(self.affine)
        return (str(codes[0]), str(codes[1]), str(codes[2]))


@dataclass(slots=True)
class Image2D:
    """A 2D image: (H, W) grayscale or (H, W, 3) RGB, with its pixel spacing when known."""

    array: npt.NDArray[np.generic]
    spacing_mm: tuple[float, float] | None = None  # (row, col)

    @property
    def height(self) -> int:
        return int(self.array.shape[0])

    @property
    def width(self) -> int:
        return int(self.array.shape[1])


class AnswerType(StrEnum):
    """How a question is answered: from given choices (closed) or in free text (open)."""

    CLOSED = "closed"
    OPEN = "open"


@dataclass(frozen=True, slots=True)
class SourceQuestion:
    """A question a source ships with its images (VQA-RAD, SLAKE, PathVQA), kept as released.

    Attributes:
        index: the source's own question id (an integer), the row id's question index.
        text: the question as released (whitespace collapsed, nothing else changed).
        answer: the released answer (as text; VQA-RAD stores some as JSON integers).
        answer_type: the source's own closed/open type.
        question_type: the source's own question type (``content_type``, ``question_type``).
        language: ISO 639-1 code of the question (SLAKE ships ``en`` and ``zh``).
        evidence_labels: labels of the case's own annotations (its boxes or masks) that show
            what the question asks about; empty when no annotation supports it (the row is then
            published with ``grounded`` false).
    """

    index: int
    text: str
    answer: str
    answer_type: AnswerType
    question_type: str
    language: str = "en"
    evidence_labels: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class AnnotatedBox:
    """A box annotation of a 2D image, in the source image's pixels (continuous coordinates,
    origin at the top-left corner of the top-left pixel, x = column, half-open).

    ``mask_px`` is the pixel count of the mask the box was drawn around, in the source image,
    when the source has one (a box derived from a mask component); sizes are compared only
    between regions whose masks were counted, never from box areas.
    """

    label: str
    box: tuple[float, float, float, float]  # x1, y1, x2, y2
    mask_px: int | None = None


@dataclass(slots=True)
class Case:
    """A loaded case: pixels, optional label map in the same grid, and the label vocabulary.

    ``history`` records every operation applied since loading (reorientation, resampling,
    windowing, resizing) in words a user can read.
    """

    record: SourceRecord
    image: Volume | Image2D
    labels: dict[int, str]
    label_map: Volume | Image2D | None = None
    lesion_labels: frozenset[str] = frozenset()
    boxes: tuple[AnnotatedBox, ...] = ()  # 2D box annotations (detection sources)
    history: list[str] = field(default_factory=list)
    # Labels an annotation of the case covers without a published region of their own (e.g. an
    # SA-Med2D ``union_*`` mask): never called absent, never asked about without evidence.
    covered_labels: frozenset[str] = frozenset()
    # The source's wider class list (names beyond ``labels``): distractors only. Absence is only
    # ever claimed for the case's own ``labels``, the classes its annotators delineated.
    vocabulary: tuple[str, ...] = ()
    # 2D only: the patient direction ("L", "R", "A", "P", "S", "I") of the image's +x (columns,
    # rightward) and +y (rows, downward) axes when the source declares them, e.g. ("L", "P")
    # for an axial CT slice shown the radiological way, ("L", "I") for a PA chest radiograph.
    # None: sides are stated in the image's frame.
    image_axes: tuple[str, str] | None = None
    # 2D CT in HU: the display window (low, high HU) the source itself gives for the image
    # (DeepLesion's ``DICOM_windows``); it replaces the presets voted by label names.
    source_window: tuple[float, float] | None = None
    # The annotation is exhaustive for ``labels``: every reader looked for every listed finding
    # on the whole image (VinDr-CXR), so a listed name with no box is annotated absent and an
    # image with none is a verified negative ("No finding").
    findings_exhaustive: bool = False
    # The questions the source ships for this image (VQA sources): kept instead of generated.
    source_questions: tuple[SourceQuestion, ...] = ()

    @property
    def dims(self) -> Dims:
        return self.record.dims


@dataclass(frozen=True, slots=True)
class Rejection:
    """A record, case or sample that was not published, with a typed reason (failures are data)."""

    stage: str  # list / load / normalize / serialize / questions / teacher / validate
    reason: str  # short machine-readable slug, e.g. "label-grid-mismatch", "unknown-region-id"
    detail: str  # one human-readable line
    source: str
    case_id: str = ""
    sample_id: str = ""
    raw: str = ""  # the raw teacher reply, for audit
