"""Records of a serialized case (DESIGN.md §3): the published images with their regions and
measured facts, the case's truth, the questions, and one ``Sample`` per question.

``serialize(case) -> SerializedImages``; ``make_samples -> Sample`` (one question each). The
records of listing and loading (``SourceRecord``, ``Case``) are in ``unimed_cot.records``.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from typing import Protocol

from unimed_cot.records import (
    AnswerType,
    Dims,
    Split,
    UInt8Array,
)


@dataclass(frozen=True, slots=True)
class RegionFacts:
    """Measured facts about one annotated region.

    What the model sees (``area_px``, ``centroid``, ``largest_slice``) is counted on the
    published pixels; what questions assert (``voxels``, ``size_mm``, positions, sides,
    ``extent_mm``, intensities) is measured on the source's annotation at full resolution, before
    slices are picked and resized (``imaging.truth``).
    """

    area_px: int  # 2D: pixels of the published image; 3D: voxels over the published slices
    size_mm: float | None  # 2D: area in mm^2, 3D: volume in ml; None when spacing is unknown
    centroid: tuple[float, ...]  # published pixel coords: (x, y) or (x, y, z)
    # Patient-side terms from the canonical frame ("right", "left", "midline" of the body's
    # midline; "anterior"/"posterior" of its front-back centre). Empty when orientation is
    # unknown. No superior/inferior term: that would be relative to the scanned extent.
    side: str = ""
    ap: str = ""
    # Physical extent of the region's box in mm: (x, y) in 2D, (x, y, z) in 3D; empty when the
    # spacing is unknown.
    extent_mm: tuple[float, ...] = ()
    # 3D: index (into the published slices) of the slice where the region's area is largest.
    largest_slice: int | None = None
    # Pixels (2D) or voxels (3D) of the annotation's mask at full resolution; None when the
    # annotation is a box without a mask (its size is then unknown, not the box's area).
    voxels: int | None = None
    # 3D with known geometry: centroid in patient millimetres (L, P, S: towards the patient's
    # left, posterior, superior), from the full-resolution mask.
    position_mm: tuple[float, ...] = ()
    # 2D: centroid as fractions (x / width, y / height) of the image, at full resolution.
    fraction: tuple[float, ...] = ()
    # 3D with known geometry: superior position (mm) of the first and the last slice it is on.
    span_mm: tuple[float, float] | None = None
    mean: float | None = None  # mean intensity of the region (HU on CT), when measured
    host_mean: float | None = None  # a lesion's host around it, same unit
    # 3D: the mask reaches the first or the last slice of the scanned volume, so its extent (and
    # centre) along superior-inferior depends on the scan's coverage: no S/I relation is stated.
    truncated: bool = False


@dataclass(frozen=True, slots=True)
class Region:
    """One evidence region in the coordinates of the published images (DESIGN.md §4)."""

    id: str  # R1, R2, ... in the order they are listed to the teacher
    label: str
    box: tuple[int, ...]  # (x1, y1, x2, y2) or (x1, y1, z1, x2, y2, z2), half-open
    facts: RegionFacts | None = None
    is_lesion: bool = False
    host: str = ""  # for a lesion: the structure that contains it, when known


@dataclass(frozen=True, slots=True)
class Question:
    """A grounded question generated from annotations (or kept from the source)."""

    family: str  # a QuestionFamily value, or the source's own question type
    text: str
    options: tuple[str, ...]  # choice texts without letters; empty when free-form
    answer: str  # "B. option text" for choice questions
    evidence: tuple[str, ...]  # region ids the reasoning must cite (may be empty)
    rationale: tuple[str, ...] = ()  # facts (in words) the answer follows from, for the teacher
    # What it asks about, e.g. ("size", "liver", "spleen"), ("exists", "kidney cyst"): the kind
    # first (``questions.drafts.Draft.fact``); no case asks one fact twice. Empty when unknown.
    fact: tuple[str, ...] = ()
    answer_type: AnswerType = AnswerType.CLOSED
    # Whether the source's own annotation supports the evidence: true for every question
    # generated from annotations; for a source's own question, only when an annotation of the
    # case shows what it asks about (``evidence`` then names those regions).
    grounded: bool = True

    @property
    def answer_letter(self) -> str:
        return self.answer.split(".", 1)[0] if self.options else ""


@dataclass(frozen=True, slots=True)
class CaseTruth:
    """What a case's annotations say at full resolution, beyond its published regions.

    Attributes:
        annotated: label names the case's annotation delineates (its label table, its box
            labels): the only names whose absence can be claimed.
        present: label names with at least one voxel / pixel (or a box) anywhere in the case.
        covered: labels an annotation covers without a region of their own: never absent.
        hidden: present labels that no published region shows (between picked slices, or
            smaller than ``min_component_px`` published pixels): never absent, never asked
            about without evidence.
        sides: 3D, orientation known: lesion label -> the patient sides ("left", "right") its
            voxels occupy.
        vocabulary: the source's wider class list, for distractors only.
        exhaustive: every ``annotated`` finding was looked for on the whole image
            (``Case.findings_exhaustive``): a case with none present is a verified negative.
    """

    annotated: frozenset[str]
    present: frozenset[str]
    covered: frozenset[str] = frozenset()
    hidden: frozenset[str] = frozenset()
    sides: Mapping[str, frozenset[str]] = field(default_factory=dict)
    vocabulary: tuple[str, ...] = ()
    exhaustive: bool = False


@dataclass(slots=True)
class SerializedImages:
    """The published pixels of a case and how they were made (shared by its questions; a CT
    question may see the same slices under another window, ``views``)."""

    images: list[UInt8Array]  # 2D: one image; 3D: K slices, each (H, W) or (H, W, 3) uint8
    slice_positions_mm: list[float]
    plane: str  # "" for 2D
    spacing_mm: list[float]  # (row, col[, between slices]); empty when unknown
    window: str
    regions: list[Region]
    orientation_known: bool
    views: WindowViews | None = None  # CT with a label map: other windows, per question
    # The case's full-resolution truth; None when ``regions`` are all there is to know (pixels
    # made by hand): then presence is what the regions show.
    truth: CaseTruth | None = None
    # 2D: the patient directions of the image's +x and +y axes, when the source declares them
    # (``Case.image_axes``); 3D slices always follow the canonical frame.
    image_axes: tuple[str, str] | None = None


class WindowViews(Protocol):
    """The same slices under other windows, for questions about other structures
    (``imaging.views.CtWindowViews``)."""

    def for_labels(self, labels: Collection[str]) -> tuple[str, list[UInt8Array]]:
        """(window string, slices) for a question whose evidence shows ``labels``."""
        ...

    def all_views(self) -> dict[str, list[UInt8Array]]:
        """Every view a question of the case can get, by window string."""
        ...


@dataclass(slots=True)
class Sample:
    """One question about one serialized image or volume: everything a row needs but the trace."""

    source: str
    case_id: str
    question_index: int
    dims: Dims
    modality: str
    group_key: str
    license: str
    pixels: SerializedImages
    question: Question
    official_split: Split | None = None

    @property
    def id(self) -> str:
        return f"{self.source}/{self.case_id}/{self.question_index}"

    @property
    def regions(self) -> list[Region]:
        return self.pixels.regions

    def region(self, region_id: str) -> Region | None:
        return next((r for r in self.pixels.regions if r.id == region_id), None)
