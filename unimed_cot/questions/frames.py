"""Side words that always name their frame: the patient's, or the image's.

A 3D volume (canonical LPS frame) and a 2D image whose source declares its orientation
(``SerializedImages.image_axes``) speak in the **patient** frame: "to the patient's left of the
spleen", "anterior to the aorta", "patient's right, posterior". Any other 2D image speaks in the
**image** frame: "left of the heart in the image", "above the liver in the image", "upper left of
the image". The two vocabularies share no phrase, so one string never means two things across
2D and 3D; anterior/posterior/superior/inferior only ever appear in the patient frame.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Frame = Literal["patient", "image"]

# Relation of A to B, by direction key: the option text (with {b}) and the words a trace uses.
RELATION_TEXT: dict[str, str] = {
    "left": "To the patient's left of the {b}",
    "right": "To the patient's right of the {b}",
    "anterior": "Anterior to the {b}",
    "posterior": "Posterior to the {b}",
    "superior": "Superior to the {b}",
    "inferior": "Inferior to the {b}",
    "image-left": "Left of the {b} in the image",
    "image-right": "Right of the {b} in the image",
    "above": "Above the {b} in the image",
    "below": "Below the {b} in the image",
}
# The same directions as they read inside a sentence ("... lies {words} the spleen").
RELATION_WORDS: dict[str, str] = {
    "left": "to the patient's left of",
    "right": "to the patient's right of",
    "anterior": "anterior to",
    "posterior": "posterior to",
    "superior": "superior to",
    "inferior": "inferior to",
    "image-left": "left of",  # the sentence says "in the image"
    "image-right": "right of",
    "above": "above",
    "below": "below",
}
# Patient direction letter -> the direction key a growing coordinate points to.
_LETTER = {
    "L": "left",
    "R": "right",
    "P": "posterior",
    "A": "anterior",
    "S": "superior",
    "I": "inferior",
}
_OPPOSITE = {
    "left": "right",
    "right": "left",
    "anterior": "posterior",
    "posterior": "anterior",
    "superior": "inferior",
    "inferior": "superior",
}
# Canonical axial slices (LPS): x grows to the patient's left, y posterior, z superior.
PATIENT_AXES_3D: tuple[tuple[str, str], ...] = (
    ("left", "right"),
    ("posterior", "anterior"),
    ("superior", "inferior"),
)
IMAGE_AXES: tuple[tuple[str, str], ...] = (("image-right", "image-left"), ("below", "above"))


@dataclass(frozen=True, slots=True)
class Axes:
    """Per published axis: the direction key of a larger coordinate and of a smaller one."""

    frame: Frame
    directions: tuple[tuple[str, str], ...]


def image_axes_2d(declared: tuple[str, str] | None) -> Axes:
    """The axes of a 2D image: the patient's when the source declares both directions (one
    letter each of L/R, A/P, S/I, on different axes), the image's otherwise."""
    if declared is None:
        return Axes("image", IMAGE_AXES)
    keys = [_LETTER.get(letter.strip().upper()[:1], "") for letter in declared]
    if not all(keys) or _OPPOSITE[keys[0]] == keys[1] or keys[0] == keys[1]:
        return Axes("image", IMAGE_AXES)
    return Axes("patient", tuple((key, _OPPOSITE[key]) for key in keys))


def axes_3d() -> Axes:
    return Axes("patient", PATIENT_AXES_3D)


def relation_option(direction: str, b: str) -> str:
    """The option text of "A lies <direction> of B" (``RELATION_TEXT``)."""
    return RELATION_TEXT[direction].format(b=b)


def relation_sentence(a: str, direction: str, b: str) -> str:
    """``"the liver [R1] lies to the patient's right of the spleen [R2]"`` (framed)."""
    where = " in the image" if direction in ("image-left", "image-right", "above", "below") else ""
    return f"{a} lies {RELATION_WORDS[direction]} {b}{where}"


def side_phrase(side: str) -> str:
    """A patient side term as words: "on the patient's left", "in the midline"."""
    return "in the midline" if side == "midline" else f"on the patient's {side}"
