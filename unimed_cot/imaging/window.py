"""Intensity windows: CT presets in HU, percentile windows for MR and everything else.

CT presets are Radiopaedia's "Windowing (CT)" values (width W, level L in HU; display range
[L - W/2, L + W/2]). Other modalities have no absolute scale, so they are clipped to the 1st and
99th percentile of their foreground, as the reference system does.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt


@dataclass(frozen=True, slots=True)
class WindowPreset:
    """A CT display window: ``width`` and ``level`` in HU."""

    name: str
    width: float
    level: float

    @property
    def low(self) -> float:
        return self.level - self.width / 2

    @property
    def high(self) -> float:
        return self.level + self.width / 2

    def describe(self) -> str:
        """The published ``window`` string, e.g. ``CT abdomen W400 L50``."""
        return f"CT {self.name} W{self.width:g} L{self.level:g}"


CT_PRESETS: dict[str, WindowPreset] = {
    preset.name: preset
    for preset in (
        WindowPreset("lung", 1500, -600),
        WindowPreset("mediastinum", 350, 50),
        WindowPreset("abdomen", 400, 50),
        WindowPreset("liver", 150, 30),
        WindowPreset("bone", 1800, 400),
        WindowPreset("brain", 80, 40),
    )
}

_BY_DESCRIPTION = {preset.describe(): preset for preset in CT_PRESETS.values()}


def preset_of(window: str) -> WindowPreset | None:
    """The CT preset a published ``window`` string names (``WindowPreset.describe``), if any."""
    return _BY_DESCRIPTION.get(window)


# Background values: what lies outside the body / field of view.
CT_AIR_HU = -1000.0
# CT foreground (body) threshold: above air and lung parenchyma's darkest parts.
CT_BODY_HU = -500.0
PERCENTILE_LOW = 1.0
PERCENTILE_HIGH = 99.0
# Non-CT foreground: above this fraction of the robust (p1..p99) range over the low end. A fixed
# HU does not exist for MR; 5 % separates air/noise from tissue on common sequences.
FOREGROUND_FRACTION = 0.05


def is_ct(modality: str) -> bool:
    """Whether a modality string means CT (``CT``, ``ct``, ``CT angiography``, ...)."""
    return modality.strip().upper().startswith("CT")


def choose_ct_preset(label_names: Iterable[str]) -> WindowPreset:
    """Lung when a label is a lung structure, brain when one is a brain structure, abdomen
    otherwise (``window_group`` of each name).

    Used only when a case has no label map to measure (``choose_ct_window`` otherwise).
    """
    groups = {window_group(name) for name in label_names}
    if "lung" in groups:
        return CT_PRESETS["lung"]
    if "brain" in groups:
        return CT_PRESETS["brain"]
    return CT_PRESETS["abdomen"]


# Which window shows a structure best, by words in its label name. The first group whose pattern
# matches wins, so names that share a word with another group's structures are caught first:
# liver lobes and the renal pelvis (not lung, not bone), the brain's ventricles (not the heart's),
# the heart and the great vessels (not brain, not lung: "pulmonary artery" is a vessel).
# Names are matched lower-case with "_" read as a space (TotalSegmentator's file stems). Names
# that match nothing do not vote.
_REGION_WINDOWS: tuple[tuple[str, re.Pattern[str]], ...] = (
    (
        "abdomen",
        re.compile(
            r"renal pelvis|caudate lobe|liver\b.*\blobe|\blobe\b.*\bliver|hepatic|"
            r"quadrate lobe"
        ),
    ),
    (
        "brain",
        re.compile(
            r"brain|cerebr|cerebell|cerebel|thalam|hippocamp|white matter|gr[ae]y matter|"
            r"(lateral|third|fourth) ventricle|ventricles? of (the )?brain|caudate nucleus|"
            r"putamen|pallid|amygdal|\bpons\b|midbrain|medulla oblongata|"
            r"(frontal|parietal|temporal|occipital) lobe"
        ),
    ),
    (
        "mediastinum",
        re.compile(
            r"heart|cardi|myocard|\batri(a|al|um)\b|atrial|ventric|pulmonary (artery|vein|trunk)|"
            r"aort|superior vena cava|brachiocephalic|subclavian|carotid|esophag|oesophag|"
            r"mediastin|thymus|thyroid"
        ),
    ),
    (
        "lung",
        re.compile(r"lung|pulmonar|(upper|middle|lower) lobe|nodule|airway|trachea|bronch|pleura"),
    ),
    (
        "bone",
        re.compile(
            r"bone|vertebra|\bribs?\b|femur|skull|\bspine\b|sacrum|\bpelvis|\bhip\b|"
            r"humerus|clavic|scapula|sternum|costal cartilage|coccy|mandible|patella|tibia|"
            r"fibula|\bulna|ilium|ischium|pubis|cochlea"
        ),
    ),
    (
        "abdomen",
        re.compile(
            r"liver|hepat|kidney|renal|spleen|pancrea|stomach|bowel|colon|duoden|gall|bladder|"
            r"adrenal|suprarenal|vena|postcava|portal|prostat|uter|abdom|rectum|intestin|psoas|iliac"
        ),
    ),
)


def window_group(label: str) -> str:
    """The preset that shows a structure best, from its label name; "" when unknown."""
    text = " ".join(label.replace("_", " ").casefold().split())
    for group, pattern in _REGION_WINDOWS:
        if pattern.search(text):
            return group
    return ""


def choose_ct_window(
    label_volumes_ml: Mapping[str, float], lesion_labels: Iterable[str] = ()
) -> tuple[WindowPreset, str]:
    """Pick the CT window from the structures a case's label map actually covers.

    Rule: a present lesion whose name places it in the lung (e.g. "lung nodule") selects the
    lung window, since a lung lesion is invisible in soft-tissue windows. Otherwise each present
    label votes for its group's preset (``window_group``) with its volume in ml, and the group
    with the largest total wins (ties: the order lung, brain, bone, mediastinum, abdomen).
    Without any recognised present label, the abdomen window (a soft-tissue default).

    Args:
        label_volumes_ml: volume in ml of every label present in the label map, by name.
        lesion_labels: names of the labels that are lesions.

    Returns:
        The preset and the reason, for ``case.history``.
    """
    present = {name: ml for name, ml in label_volumes_ml.items() if ml > 0}
    lesions = set(lesion_labels)
    lung_lesions = sorted(n for n in present if n in lesions and window_group(n) == "lung")
    if lung_lesions:
        return CT_PRESETS["lung"], f"lung lesion present ({', '.join(lung_lesions)})"
    totals: dict[str, float] = {}
    for name, ml in present.items():
        group = window_group(name)
        if group:
            totals[group] = totals.get(group, 0.0) + ml
    if not totals:
        return CT_PRESETS["abdomen"], "no recognised structure: soft-tissue default"
    order = ["lung", "brain", "bone", "mediastinum", "abdomen"]
    best = max(totals, key=lambda g: (totals[g], -order.index(g)))
    votes = ", ".join(f"{g} {totals[g]:.0f} ml" for g in sorted(totals, key=lambda g: -totals[g]))
    return CT_PRESETS[best], f"largest annotated structures: {votes}"


def foreground_mask(array: npt.NDArray[np.generic], *, ct: bool) -> npt.NDArray[np.bool_]:
    """Body voxels: CT above -500 HU; other modalities above a low robust threshold."""
    if ct:  # compare in the stored dtype: no float copy of a whole volume
        return np.asarray(array) > CT_BODY_HU
    values = np.asarray(array, dtype=np.float32)
    low, high = np.percentile(values, [PERCENTILE_LOW, PERCENTILE_HIGH])
    return values > low + FOREGROUND_FRACTION * (high - low)


def percentile_bounds(
    array: npt.NDArray[np.generic], mask: npt.NDArray[np.bool_] | None = None
) -> tuple[float, float]:
    """The 1st and 99th percentile of ``array`` (of its masked voxels when a mask is given)."""
    values = np.asarray(array, dtype=np.float32)
    if mask is not None and mask.any():
        values = values[mask]
    low, high = np.percentile(values, [PERCENTILE_LOW, PERCENTILE_HIGH])
    return float(low), float(high)


def to_unit(array: npt.NDArray[np.generic], low: float, high: float) -> npt.NDArray[np.float32]:
    """Map ``[low, high]`` linearly to ``[0, 1]`` (float32), clipping outside values."""
    values = np.asarray(array, dtype=np.float32)
    if high <= low:  # a flat image: everything at or above the level is white
        return (values > low).astype(np.float32)
    return np.clip((values - low) / (high - low), 0.0, 1.0).astype(np.float32)


def unit_to_uint8(values: npt.NDArray[np.floating]) -> npt.NDArray[np.uint8]:
    """``[0, 1]`` floats to uint8 with rounding (resized values may overshoot slightly)."""
    return np.rint(np.clip(values, 0.0, 1.0) * 255.0).astype(np.uint8)
