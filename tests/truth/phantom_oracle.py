"""An oracle for rows built from the phantom: every answer re-derived from the phantom's own files.

The truth of a case is recomputed at full resolution from what ``generate_phantom`` wrote: label
maps through nibabel's canonical reorientation (3D) or the PNG masks (2D), intensities from the
image files, hosts from ``phantom.json``. A row is then read as a user reads it (question text,
options, answer, reasoning) and checked against that truth:

* existence: "Yes" iff the structure has a voxel anywhere in the case (a side-qualified
  question: on that side of the body's midline);
* size comparison: the answered structure is at least ``SIZE_RATIO`` times the other, or "about
  the same size" within ``SAME_SIZE_TOLERANCE``;
* spatial relationship: the answered direction holds by a margin between the two centroids, in
  the frame the words name, and no distractor direction does;
* spatial localization: side and front/back of the body's centre (3D), or the image's thirds (2D);
* structure localization / lesion analysis: the boxed structure's label, the lesion's host, its
  measured size and attenuation;
* frames: every left/right word names its frame (the patient's, or the image's), 2D rows of an
  undeclared orientation say nothing of anterior/posterior, and no absolute position is stated
  as superior/inferior (that would be relative to the scanned extent).

The thresholds are the documented rules (README, "Questions"), restated here on purpose: the
oracle imports nothing from the generator.
"""

from __future__ import annotations

import csv
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from scipy import ndimage

SIZE_RATIO = 1.25  # "larger" needs at least this ratio
SAME_SIZE_TOLERANCE = 1.10  # "about the same size" within this ratio
SAME_SIZE = "They are about the same size"
MARGIN_MM = 5.0  # a stated 3D direction holds by at least this much
MARGIN_2D = 0.04  # a stated 2D direction, as a fraction of the image
MIDLINE_BAND = 0.05  # of the body's extent: inside it, no side is claimed
# How the generator draws 2D images (demo/shapes.py, demo/phantom.py): the patient direction of
# the image's +x and +y. Radiographs are PA (patient left on the image right, feet down); axial
# CT slices are shown the radiological way (patient left on the image right, posterior down).
IMAGE_AXES_2D = {"X-ray": ("L", "I"), "CT": ("L", "P")}
_LETTERS = {"patient's left": "L", "patient's right": "R", "posterior": "P", "anterior": "A"}
_LETTERS |= {"superior": "S", "inferior": "I"}
_OPPOSITE = {"L": "R", "R": "L", "A": "P", "P": "A", "S": "I", "I": "S"}
ATTENUATION_HU = 10.0  # hypo / hyper need at least this difference of means

_BOX = re.compile(r"\[(-?\d+(?:\s*,\s*-?\d+){3,5})\]")
_NUMBER = re.compile(r"(\d+(?:\.\d+)?)\s*(ml|mm²|mm2|mm)\b")
_SIDE_WORD = re.compile(r"\b(left|right)\b", re.IGNORECASE)
_AP_WORD = re.compile(r"\b(anterior|posterior)\b", re.IGNORECASE)
_SI_WORD = re.compile(r"\b(superior|inferior)\b", re.IGNORECASE)


@dataclass
class Structure:
    """One label (organ) or one connected component (lesion) at full resolution."""

    label: str
    voxels: int
    size: float  # ml (3D) or mm² (2D)
    centroid: tuple[float, ...]  # 3D: patient (L, P, S) mm; 2D: (x, y) as fractions of the image
    mean: float  # mean intensity (HU for CT)
    host: str = ""


@dataclass
class CaseTruth:
    """What the phantom's files say about one case."""

    case_id: str
    dims: int
    modality: str
    names: tuple[str, ...]  # the case's label table
    present: dict[str, Structure]  # organs by label, lesions merged by label
    lesions: dict[str, list[Structure]] = field(default_factory=dict)
    body_x: tuple[float, float] = (0.0, 0.0)  # 3D: body extent along L (mm)
    body_y: tuple[float, float] = (0.0, 0.0)  # 3D: body extent along P (mm)
    image_axes: tuple[str, str] | None = None  # 2D: patient directions of +x, +y


class PhantomOracle:
    """Truth of every case of one generated phantom, loaded lazily."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.meta = json.loads((root / "phantom.json").read_text())
        with (root / "cases.csv").open() as handle:
            self.cases = {r["case_id"]: r for r in csv.DictReader(handle)}
        self._truth: dict[str, CaseTruth] = {}

    @cached_property
    def lesion_names(self) -> frozenset[str]:
        return frozenset(self.meta["lesion_names"])

    def truth(self, case_id: str) -> CaseTruth:
        if case_id not in self._truth:
            row = self.cases[case_id]
            make = _truth_3d if row["dims"] == "3" else _truth_2d
            self._truth[case_id] = make(self, case_id, row["modality"])
        return self._truth[case_id]

    def check(self, row: Mapping[str, Any]) -> list[str]:
        """Every way ``row`` disagrees with the truth (empty when it is right)."""
        case_id = str(row["id"]).split("/")[1]
        truth = self.truth(case_id)
        problems = [f"{row['id']}: {p}" for p in _frame_problems(row, truth)]
        check = _CHECKS.get(str(row["question_type"]))
        if check is not None:
            problems += [f"{row['id']}: {p}" for p in check(row, truth, self)]
        return problems


# --- truth -----------------------------------------------------------------------------------


def _lps(path: Path) -> tuple[npt.NDArray[Any], npt.NDArray[np.float64]]:
    import nibabel as nib

    ras = nib.as_closest_canonical(nib.load(path))
    data = np.asarray(ras.dataobj)[::-1, ::-1, :]
    flip = np.diag([-1.0, -1.0, 1.0, 1.0])
    flip[0, 3] = data.shape[0] - 1
    flip[1, 3] = data.shape[1] - 1
    return np.ascontiguousarray(data), np.asarray(ras.affine @ flip)


def _truth_3d(oracle: PhantomOracle, case_id: str, modality: str) -> CaseTruth:
    meta = oracle.meta
    table = meta["labels_3d_ct"] if modality == "CT" else meta["labels_3d_mr"]
    labels, affine = _lps(oracle.root / "3d" / "labels" / f"{case_id}.nii.gz")
    image, _ = _lps(oracle.root / "3d" / "images" / f"{case_id}.nii.gz")
    voxel_ml = abs(float(np.linalg.det(affine[:3, :3]))) / 1000.0

    def patient_mm(index: npt.NDArray[np.floating]) -> tuple[float, ...]:
        ras = affine @ np.append(index, 1.0)
        return (-float(ras[0]), -float(ras[1]), float(ras[2]))  # RAS -> L, P, S

    def measure(name: str, mask: npt.NDArray[np.bool_]) -> Structure:
        index = np.argwhere(mask).mean(axis=0)
        count = int(mask.sum())
        mean = float(np.asarray(image)[mask].mean())
        return Structure(name, count, count * voxel_ml, patient_mm(index), mean)

    threshold = -500.0 if modality == "CT" else 0.05 * float(np.percentile(image, 99))
    body = np.asarray(image) > threshold
    xs, ys = np.flatnonzero(body.any(axis=(1, 2))), np.flatnonzero(body.any(axis=(0, 2)))
    corner_lo = patient_mm(np.array([xs[0], ys[0], 0.0]))
    corner_hi = patient_mm(np.array([xs[-1], ys[-1], 0.0]))
    truth = CaseTruth(
        case_id,
        3,
        modality,
        tuple(table.values()),
        {},
        body_x=tuple(sorted((corner_lo[0], corner_hi[0]))),  # type: ignore[arg-type]
        body_y=tuple(sorted((corner_lo[1], corner_hi[1]))),  # type: ignore[arg-type]
    )
    hosts = _hosts(meta, case_id)
    for value, name in table.items():
        mask = labels == int(value)
        if not mask.any():
            continue
        truth.present[name] = measure(name, mask)
        if name in oracle.lesion_names:
            components, count = ndimage.label(mask, structure=np.ones((3, 3, 3)))
            parts = [measure(name, components == i) for i in range(1, count + 1)]
            for part in parts:
                part.host = hosts.get(name, "")
            truth.lesions[name] = parts
    return truth


def _truth_2d(oracle: PhantomOracle, case_id: str, modality: str) -> CaseTruth:
    from PIL import Image

    meta = oracle.meta
    table = meta["labels_2d"][modality]
    mask_file = np.asarray(Image.open(oracle.root / "2d" / "masks" / f"{case_id}.png"))
    image = np.asarray(Image.open(oracle.root / "2d" / "images" / f"{case_id}.png"), float)
    height, width = mask_file.shape[:2]
    row_mm, col_mm = meta["pixel_spacing_2d"][case_id]
    truth = CaseTruth(case_id, 2, modality, tuple(table.values()), {})
    # The midline of a 2D phantom image is its vertical centre line (+x = patient left).
    truth.image_axes, truth.body_x = IMAGE_AXES_2D[modality], (0.0, 1.0)
    hosts = _hosts(meta, case_id)

    def measure(name: str, mask: npt.NDArray[np.bool_]) -> Structure:
        rows, cols = np.nonzero(mask)
        centroid = ((cols.mean() + 0.5) / width, (rows.mean() + 0.5) / height)
        count = int(mask.sum())
        return Structure(name, count, count * row_mm * col_mm, centroid, float(image[mask].mean()))

    for value, name in table.items():
        mask = mask_file == int(value)
        if not mask.any():
            continue
        truth.present[name] = measure(name, mask)
        if name in oracle.lesion_names:
            components, count = ndimage.label(mask, structure=np.ones((3, 3)))
            parts = [measure(name, components == i) for i in range(1, count + 1)]
            for part in parts:
                part.host = hosts.get(name, "")
            truth.lesions[name] = parts
    return truth


def _hosts(meta: Mapping[str, Any], case_id: str) -> dict[str, str]:
    return {e["name"]: e["host"] for e in meta["lesions"] if e["case_id"] == case_id}


# --- reading a row ---------------------------------------------------------------------------


def _answer_text(row: Mapping[str, Any]) -> str:
    answer = str(row["answer"])
    return answer.partition(". ")[2] if row["options"] else answer


def labels_in(text: str, names: tuple[str, ...]) -> list[str]:
    """Label names in ``text`` in reading order; longer names win over names inside them."""
    found: list[tuple[int, str]] = []
    taken = [False] * len(text)
    lowered = text.casefold()
    for name in sorted(names, key=len, reverse=True):
        for match in re.finditer(rf"\b{re.escape(name.casefold())}\b", lowered):
            if not any(taken[match.start() : match.end()]):
                found.append((match.start(), name))
                for i in range(match.start(), match.end()):
                    taken[i] = True
    return [name for _, name in sorted(found)]


def _strip_labels(text: str, names: tuple[str, ...]) -> str:
    for name in sorted(names, key=len, reverse=True):
        text = re.sub(rf"\b{re.escape(name)}\b", "<label>", text, flags=re.IGNORECASE)
    return text


def _segments(row: Mapping[str, Any]) -> list[str]:
    reasoning = str(row["reasoning"])
    think = reasoning.partition("<think>")[2].partition("</think>")[0]
    sentences = [s for line in think.splitlines() for s in re.split(r"(?<=[.;])\s+", line) if s]
    return [str(row["question"]), *map(str, row["options"]), _answer_text(row), *sentences]


def _frame_problems(row: Mapping[str, Any], truth: CaseTruth) -> list[str]:
    return frame_problems(
        row, names=truth.names, dims=truth.dims, oriented=truth.image_axes is not None
    )


def frame_problems(
    row: Mapping[str, Any], *, names: tuple[str, ...], dims: int, oriented: bool = False
) -> list[str]:
    """Side words of a row (question, options, answer, trace) that name no frame, given the
    label ``names`` of its case (which may hold side words of their own: "left kidney");
    ``oriented``: a 2D image whose patient axes are known (anterior/posterior may be said)."""
    problems = []
    for segment in _segments(row):
        plain = _strip_labels(re.sub(r"<\|box_start\|>.*?<\|box_end\|>", "", segment), names)
        for match in _SIDE_WORD.finditer(plain):
            before = plain[max(0, match.start() - 10) : match.start()].casefold()
            if "patient's" in before or "image" in plain.casefold():
                continue
            problems.append(f"side word without a frame: {segment!r}")
            break
        if dims == 2 and not oriented and _AP_WORD.search(plain):
            problems.append(f"anterior/posterior on a 2D image of unknown orientation: {segment!r}")
    if str(row["question_type"]) == "spatial_localization" and _SI_WORD.search(_answer_text(row)):
        problems.append("absolute superior/inferior (relative to the scanned extent)")
    return problems


# --- per family ------------------------------------------------------------------------------


def _existence(row: Mapping[str, Any], truth: CaseTruth, oracle: PhantomOracle) -> list[str]:
    named = labels_in(str(row["question"]), truth.names)
    if not named:
        return [f"existence question names no label of the case: {row['question']!r}"]
    label = named[0]
    answer = _answer_text(row)
    question = str(row["question"]).casefold()
    side = next((s for s in ("left", "right") if f"patient's {s}" in question), "")
    if side:
        whole = [truth.present[label]] if label in truth.present else []
        parts = truth.lesions.get(label) or whole
        mid = sum(truth.body_x) / 2
        on_side = [p for p in parts if (p.centroid[0] > mid) == (side == "left")]
        present = bool(on_side)
    else:
        present = label in truth.present
    if answer == ("Yes" if present else "No"):
        return []
    where = f" on the patient's {side}" if side else ""
    return [f"existence of {label}{where}: answered {answer}, truth {'Yes' if present else 'No'}"]


def _size(row: Mapping[str, Any], truth: CaseTruth, oracle: PhantomOracle) -> list[str]:
    named = labels_in(str(row["question"]), truth.names)
    if len(named) != 2 or any(n not in truth.present for n in named):
        return [f"size question does not name two present structures: {row['question']!r}"]
    a, b = (truth.present[n].size for n in named)
    ratio = max(a, b) / min(a, b)
    answer = _answer_text(row)
    if answer == SAME_SIZE:
        return [] if ratio <= SAME_SIZE_TOLERANCE else [f"'same size' at ratio {ratio:.2f}"]
    larger = named[0] if a > b else named[1]
    if answer != larger:
        return [f"size: answered {answer}, larger is {larger} ({ratio:.2f}x)"]
    if ratio < SIZE_RATIO:
        return [f"size: {larger} only {ratio:.2f}x larger (ambiguous band)"]
    return []


# direction words -> (frame, axis, sign): the axis grows towards the sign's side.
_DIRECTIONS = (
    ("patient's left", ("patient", 0, 1)),
    ("patient's right", ("patient", 0, -1)),
    ("posterior", ("patient", 1, 1)),
    ("anterior", ("patient", 1, -1)),
    ("superior", ("patient", 2, 1)),
    ("inferior", ("patient", 2, -1)),
    ("above", ("image", 1, -1)),
    ("below", ("image", 1, 1)),
    ("left", ("image", 0, -1)),
    ("right", ("image", 0, 1)),
)


def _direction(
    option: str, dims: int, axes: tuple[str, str] | None = None
) -> tuple[str, int, int] | None:
    text = option.casefold()
    if dims == 2 and axes is not None:  # a patient direction on a 2D image of known axes
        for words, letter in _LETTERS.items():
            if words in text:
                for axis, declared in enumerate(axes):
                    if declared in (letter, _OPPOSITE[letter]):
                        return ("patient", axis, 1 if declared == letter else -1)
                return None
    for words, direction in _DIRECTIONS:
        if words in text:
            if direction[0] == "image" and dims == 3 and words in ("left", "right"):
                return ("patient", 0, 1 if words == "left" else -1)  # a frame-less 3D word
            return direction
    return None


def _relation(row: Mapping[str, Any], truth: CaseTruth, oracle: PhantomOracle) -> list[str]:
    named = labels_in(str(row["question"]), truth.names)
    if len(named) != 2 or any(n not in truth.present for n in named):
        return [f"relation question does not name two present structures: {row['question']!r}"]
    a, b = (truth.present[n] for n in named)
    margin = MARGIN_MM if truth.dims == 3 else MARGIN_2D
    problems = []
    answer = _answer_text(row)
    for option in row["options"]:
        stripped = _strip_labels(option, truth.names)
        direction = _direction(stripped, truth.dims, truth.image_axes)
        if direction is None:
            problems.append(f"relation option without a direction: {option!r}")
            continue
        _, axis, sign = direction
        delta = sign * (a.centroid[axis] - b.centroid[axis])
        if option == answer and delta < margin:
            problems.append(f"relation {answer!r} holds by {delta:.3f} only")
        if option != answer and delta > margin / 2:
            problems.append(f"distractor {option!r} also holds ({delta:.3f})")
    return problems


_CELLS = {"upper": 0, "middle": 1, "lower": 2, "left": 0, "right": 2}


def _localization(row: Mapping[str, Any], truth: CaseTruth, oracle: PhantomOracle) -> list[str]:
    named = labels_in(str(row["question"]), truth.names)
    if not named or named[0] not in truth.present:
        return [f"localization question names no present structure: {row['question']!r}"]
    structure = truth.present[named[0]]
    if named[0] in truth.lesions and len(truth.lesions[named[0]]) == 1:
        structure = truth.lesions[named[0]][0]
    answer = _answer_text(row).casefold()
    if truth.dims == 2:
        if answer.startswith("center"):
            expected_cell = (1, 1)
        else:
            vertical, horizontal = answer.split()[:2]
            expected_cell = (_CELLS[vertical], _CELLS.get(horizontal, 1))
        x, y = structure.centroid
        near = any(abs(v - line) < 0.03 for v in (x, y) for line in (1 / 3, 2 / 3))
        cell = (min(2, int(3 * y)), min(2, int(3 * x)))
        if not near and cell != expected_cell:
            return [f"position {answer!r}, centroid in cell {cell}"]
        return []
    problems = []
    mid, band = sum(truth.body_x) / 2, MIDLINE_BAND * (truth.body_x[1] - truth.body_x[0])
    x = structure.centroid[0]
    side = "left" if x > mid + band else "right" if x < mid - band else "midline"
    claimed = next((s for s in ("left", "right", "midline") if s in answer), "")
    if claimed and claimed != side and abs(x - mid) > 2 * band:
        problems.append(f"side {claimed!r}, truth {side} ({x - mid:+.1f} mm from the midline)")
    centre_y = sum(truth.body_y) / 2
    y = structure.centroid[1]
    for word, sign in (("anterior", -1), ("posterior", 1)):
        if word in answer and sign * (y - centre_y) < 0:
            problems.append(f"{word!r}, truth {y - centre_y:+.1f} mm from the body's centre")
    return problems


def _structure(row: Mapping[str, Any], truth: CaseTruth, oracle: PhantomOracle) -> list[str]:
    boxes = [tuple(int(v) for v in m.group(1).split(",")) for m in _BOX.finditer(row["question"])]
    if not boxes:
        return ["structure question shows no box"]
    match = [r["label"] for r in row["regions"] if tuple(r["box"]) == boxes[0]]
    answer = _answer_text(row)
    if not match:
        return ["the box of the question is not among the row's regions"]
    if match[0] != answer or answer not in truth.present:
        return [f"structure: answered {answer!r}, the box outlines {match[0]!r}"]
    return []


def _lesion(row: Mapping[str, Any], truth: CaseTruth, oracle: PhantomOracle) -> list[str]:
    question = str(row["question"])
    boxes = [tuple(int(v) for v in m.group(1).split(",")) for m in _BOX.finditer(question)]
    named = [r["label"] for r in row["regions"] if boxes and tuple(r["box"]) == boxes[0]]
    named = named or [n for n in labels_in(question, truth.names) if n in oracle.lesion_names]
    if not named or named[0] not in truth.lesions:
        return [f"lesion question names no present lesion: {question!r}"]
    parts = truth.lesions[named[0]]
    answer = _answer_text(row)
    lowered = answer.casefold()
    number = _NUMBER.search(lowered)
    if number is not None:
        value, unit = float(number.group(1)), number.group(2)
        if unit == "ml" or unit.startswith("mm²") or unit == "mm2":
            sizes = [p.size for p in parts]
            if not any(abs(value - s) <= 0.06 * s + 0.05 for s in sizes):
                return [f"lesion size {answer!r}, truth {[round(s, 2) for s in sizes]}"]
        return []
    if "attenuat" in lowered or "dense" in lowered or "intense" in lowered:
        problems = []
        for part in parts:
            host = truth.present.get(part.host)
            if host is None:
                continue
            diff = part.mean - host.mean
            expected = "iso"
            if abs(diff) > ATTENUATION_HU:
                expected = "hypo" if diff < 0 else "hyper"
            if not lowered.startswith(expected):
                problems.append(f"attenuation {answer!r}, lesion - host = {diff:+.0f}")
        return problems
    hosts = {p.host for p in parts}
    if answer not in hosts:
        return [f"lesion host: answered {answer!r}, truth {sorted(hosts)}"]
    return []


_CHECKS = {
    "existence_verification": _existence,
    "size_comparison": _size,
    "spatial_relationship": _relation,
    "spatial_localization": _localization,
    "structure_localization": _structure,
    "lesion_analysis": _lesion,
}


def check_release(release: Path, rows: list[dict[str, Any]]) -> list[str]:
    """Oracle problems of every phantom row of a release built with the default input."""
    oracle = PhantomOracle(release / ".build" / "inputs" / "phantom")
    problems: list[str] = []
    for row in rows:
        if row["source"] == "phantom":
            problems += oracle.check(row)
    return problems
