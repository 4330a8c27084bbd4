"""TotalSegmentator v2 ``total`` classes: the 117 file stems of ``segmentations/`` in id order.

From ``totalsegmentator/map_to_binary.py`` (``class_map["total"]``) as summarised in
``shared/sources/3d-sources.md`` §2. The ids (1..117) are the values of the combined label map,
as the release's own nnU-Net converter writes it (``combined[mask > 0] = idx + 1`` in this
order). v1 (``total_v1``, 104 classes) numbers differently; only the names are read from disk.
"""

from __future__ import annotations

_SIDES = ("left", "right")

TOTAL_V2: tuple[str, ...] = (
    "spleen", "kidney_right", "kidney_left", "gallbladder", "liver", "stomach", "pancreas",
    "adrenal_gland_right", "adrenal_gland_left",
    "lung_upper_lobe_left", "lung_lower_lobe_left", "lung_upper_lobe_right",
    "lung_middle_lobe_right", "lung_lower_lobe_right",
    "esophagus", "trachea", "thyroid_gland", "small_bowel", "duodenum", "colon",
    "urinary_bladder", "prostate", "kidney_cyst_left", "kidney_cyst_right",
    "sacrum", "vertebrae_S1",
    *(f"vertebrae_L{i}" for i in range(5, 0, -1)),
    *(f"vertebrae_T{i}" for i in range(12, 0, -1)),
    *(f"vertebrae_C{i}" for i in range(7, 0, -1)),
    "heart", "aorta", "pulmonary_vein", "brachiocephalic_trunk",
    "subclavian_artery_right", "subclavian_artery_left",
    "common_carotid_artery_right", "common_carotid_artery_left",
    "brachiocephalic_vein_left", "brachiocephalic_vein_right",
    "atrial_appendage_left", "superior_vena_cava", "inferior_vena_cava",
    "portal_vein_and_splenic_vein",
    "iliac_artery_left", "iliac_artery_right", "iliac_vena_left", "iliac_vena_right",
    *(f"{bone}_{side}" for bone in ("humerus", "scapula", "clavicula", "femur", "hip")
      for side in _SIDES),
    "spinal_cord",
    *(f"gluteus_{m}_{side}" for m in ("maximus", "medius", "minimus") for side in _SIDES),
    *(f"autochthon_{side}" for side in _SIDES),
    *(f"iliopsoas_{side}" for side in _SIDES),
    "brain", "skull",
    *(f"rib_left_{i}" for i in range(1, 13)),
    *(f"rib_right_{i}" for i in range(1, 13)),
    "sternum", "costal_cartilages",
)  # fmt: skip


def display_name(stem: str) -> str:
    """A readable class name: words split at ``_``, the side word first ("kidney_cyst_left" ->
    "left kidney cyst", "rib_left_3" -> "left rib 3"), "vertebrae_L5" -> "vertebra L5". The
    question vocabulary maps both spellings to one canonical form."""
    words = stem.split("_")
    words = ["vertebra" if w == "vertebrae" else w for w in words]
    sides = [w for w in words if w in _SIDES]
    if len(sides) == 1 and words[0] != sides[0]:
        words.remove(sides[0])
        words.insert(0, sides[0])
    return " ".join(words)
