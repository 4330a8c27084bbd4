"""SA-Med2D-20M file names, modality codes and per-dataset terms.

Names follow the dataset card exactly::

    images: {modality_sub-modality}--{dataset name}--{ori name}--{dimension_slice}.png
    masks:  {modality_sub-modality}--{dataset name}--{ori name}--{dimension_slice}--{class}_{inst}
            .png

``dimension_slice`` is ``x_NNNN``/``y_NNNN``/``z_NNNN`` (the array axis a 3D case was cut along
and the 4-digit slice index) or ``2d_none``; ``class`` is a 4-digit id resolved per dataset
through ``SAMed2D_v1_class_mapping_id.json``; ``inst`` is a 3-digit instance index. The modality
field is one of the 34 codes of the release and is never split on ``_`` (``x_ray``,
``fundus_photography``). A name of any other shape is refused with the reason, never guessed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# The 34 modality codes of the public release -> the row's modality family.
_CT_CODES = ["ct_00", "ct_cbf", "ct_cbv", "ct_mtt", "ct_tmax"]
_MR_CODES = [
    "mr_00",
    "mr_adc",
    "mr_cbf",
    "mr_cbv",
    "mr_cmr",
    "mr_dwi",
    "mr_flair",
    "mr_hbv",
    "mr_lge",
    "mr_mprage",
    "mr_mtt",
    "mr_pd",
    "mr_rcbf",
    "mr_rcbv",
    "mr_t1",
    "mr_t1c",
    "mr_t1ce",
    "mr_t1gd",
    "mr_t1w",
    "mr_t2",
    "mr_t2w",
    "mr_tmax",
    "mr_ttp",
]
MODALITY_FAMILIES: dict[str, str] = {
    **dict.fromkeys(_CT_CODES, "CT"),
    **dict.fromkeys(_MR_CODES, "MR"),
    "pet_00": "PET",
    "ultrasound_00": "ultrasound",
    "x_ray": "X-ray",
    "dermoscopy_00": "dermoscopy",
    "endoscopy_00": "endoscopy",
    "fundus_photography": "fundus",
}
MODALITIES: tuple[str, ...] = tuple(dict.fromkeys(MODALITY_FAMILIES.values()))

_SLICE = re.compile(r"^(?:(?P<axis>[xyz])_(?P<index>\d{4})|2d_none)$")
_INSTANCE = re.compile(r"^(?P<class_id>\d{4})_(?P<instance>\d{3})$")
_FIELD = re.compile(r"^[^/\\\x00]+$")

# The card's license (HF metadata) covers the release as a whole.
RELEASE_LICENSE = "CC-BY-NC-SA-4.0"
# Constituent datasets whose terms forbid redistributing images (research notes,
# 3d-sources.md §0 and seed-sources.md §1.11): BraTS (Synapse data-use terms, "raw
# redistribution not allowed") and ISLES (challenge terms; treated like BraTS [inference]).
_NOT_REDISTRIBUTABLE = re.compile(r"^(?:BraTS\d{4}|ISLES.*)$")


class NamingError(ValueError):
    """A name that does not follow the release's naming scheme (message says why)."""


@dataclass(frozen=True, slots=True)
class ImageName:
    """The fields of an image name (without ``.png``)."""

    stem: str
    modality_code: str
    dataset: str
    ori_name: str
    slice_axis: str  # "x", "y", "z" or "2d"
    slice_index: int | None

    @property
    def modality(self) -> str:
        return MODALITY_FAMILIES[self.modality_code]

    @property
    def group_key(self) -> str:
        """Source dataset + original case: every slice (any axis) of a case in one split."""
        return f"{self.dataset}/{self.ori_name}"


@dataclass(frozen=True, slots=True)
class MaskName:
    """The class id and instance of a mask name."""

    class_id: str  # 4 digits, as in the class mapping
    instance: int


def parse_image_name(file_name: str) -> ImageName:
    """Parse ``{modality}--{dataset}--{ori name}--{dimension_slice}.png``.

    Raises:
        NamingError: the name has another shape (the message says which part is wrong).
    """
    if not file_name.endswith(".png"):
        raise NamingError(f"{file_name!r} is not a .png name")
    stem = file_name[: -len(".png")]
    parts = stem.split("--")
    if len(parts) != 4:
        raise NamingError(
            f"{file_name!r} has {len(parts)} '--'-separated fields, expected 4 "
            f"(modality--dataset--case--slice)"
        )
    modality_code, dataset, ori_name, slice_part = parts
    if modality_code not in MODALITY_FAMILIES:
        raise NamingError(f"{file_name!r}: unknown modality code {modality_code!r}")
    if not (_FIELD.match(dataset) and _FIELD.match(ori_name)):
        raise NamingError(f"{file_name!r}: empty dataset or case field")
    match = _SLICE.match(slice_part)
    if match is None:
        raise NamingError(
            f"{file_name!r}: slice field {slice_part!r} is neither x_/y_/z_NNNN nor 2d_none"
        )
    axis = match.group("axis") or "2d"
    index = int(match.group("index")) if match.group("index") else None
    return ImageName(stem, modality_code, dataset, ori_name, axis, index)


def parse_mask_name(file_name: str, image: ImageName) -> MaskName:
    """Parse ``{image stem}--{class id}_{instance}.png`` for the mask of ``image``.

    Raises:
        NamingError: not a ``.png``, not this image's prefix, or not ``NNNN_NNN``.
    """
    prefix = f"{image.stem}--"
    if not (file_name.startswith(prefix) and file_name.endswith(".png")):
        raise NamingError(f"mask {file_name!r} is not named {prefix}NNNN_NNN.png")
    match = _INSTANCE.match(file_name[len(prefix) : -len(".png")])
    if match is None:
        raise NamingError(f"mask {file_name!r}: the class field is not NNNN_NNN")
    return MaskName(match.group("class_id"), int(match.group("instance")))


def dataset_terms(dataset: str) -> tuple[str, bool]:
    """(SPDX license, may the images be redistributed?) of a constituent dataset's slices."""
    return RELEASE_LICENSE, _NOT_REDISTRIBUTABLE.match(dataset) is None


def readable_class(name: str) -> str:
    """``lung_lower_lobe_left`` -> ``lung lower lobe left`` (the question text reads words)."""
    return " ".join(name.replace("_", " ").split())


def usable_class(name: str) -> bool:
    """False for class names no question can use: synthetic ``union_*`` overlap classes and
    generic placeholders (``class1``, bare ``left``/``right``), as the release notes report."""
    lowered = name.strip().lower()
    return bool(lowered) and not (
        lowered.startswith("union_") or lowered.startswith("class") or lowered in {"left", "right"}
    )
