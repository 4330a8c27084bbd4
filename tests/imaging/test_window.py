"""CT window choice from the structures a case's label map covers, and the recorded reason."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from unimed_cot.imaging import SerializeConfig, serialize_case
from unimed_cot.imaging.window import CT_PRESETS, choose_ct_window, foreground_mask, window_group
from unimed_cot.records import Case, SourceRecord, Volume

SHAPE = (100, 80, 20)
AFFINE = np.diag([-1.0, -1.0, 2.0, 1.0])  # LPS, 1 x 1 x 2 mm
PHANTOM_LABELS = {1: "liver", 3: "left kidney", 4: "right kidney", 7: "left lung", 11: "nodule"}


@pytest.mark.parametrize(
    ("name", "group"),
    [
        ("right upper lobe", "lung"),
        ("lung nodule", "lung"),
        ("left lateral ventricle", "brain"),
        ("left ventricular myocardium", "mediastinum"),
        ("L3 vertebra", "bone"),
        ("right kidney", "abdomen"),
        ("gallbladder", "abdomen"),
        ("tumor", ""),
    ],
)
def test_window_groups(name: str, group: str) -> None:
    assert window_group(name) == group


def test_largest_structures_vote() -> None:
    preset, reason = choose_ct_window({"liver": 1500.0, "left kidney": 150.0, "left lung": 900.0})
    assert preset == CT_PRESETS["abdomen"]
    assert reason == "largest annotated structures: abdomen 1650 ml, lung 900 ml"
    preset, _ = choose_ct_window({"liver": 800.0, "left lung": 1200.0, "right lung": 1300.0})
    assert preset == CT_PRESETS["lung"]
    preset, _ = choose_ct_window({"brain": 1200.0, "skull": 500.0})
    assert preset == CT_PRESETS["brain"]


def test_a_lung_lesion_selects_lung_whatever_its_size() -> None:
    preset, reason = choose_ct_window(
        {"liver": 1500.0, "lung nodule": 0.5}, lesion_labels={"lung nodule"}
    )
    assert preset == CT_PRESETS["lung"]
    assert reason == "lung lesion present (lung nodule)"
    # Absent (zero-volume) labels and non-lung lesions do not vote that way.
    preset, _ = choose_ct_window(
        {"liver": 1500.0, "lung nodule": 0.0, "liver tumor": 20.0},
        lesion_labels={"lung nodule", "liver tumor"},
    )
    assert preset == CT_PRESETS["abdomen"]


def test_unknown_structures_fall_back_to_soft_tissue() -> None:
    preset, reason = choose_ct_window({"tumor": 30.0})
    assert preset == CT_PRESETS["abdomen"] and "default" in reason


def _case(labels: np.ndarray, lesions: frozenset[str]) -> Case:
    ct = np.full(SHAPE, -1000.0, dtype=np.float32)
    ct[5:95, 5:75, :] = 40.0
    record = SourceRecord(
        source="t", case_id="c", group_key="p", dims=3, modality="CT", image=Path("x")
    )
    return Case(
        record=record,
        image=Volume(array=ct, affine=AFFINE),
        labels=dict(PHANTOM_LABELS),
        label_map=Volume(array=labels, affine=AFFINE),
        lesion_labels=lesions,
    )


def test_serialize_picks_abdomen_for_a_liver_dominant_case() -> None:
    labels = np.zeros(SHAPE, dtype=np.uint8)
    labels[10:60, 10:60, 2:14] = 1  # liver, 60 ml
    labels[65:75, 50:65, 4:10] = 3  # kidney
    labels[70:90, 10:30, 14:18] = 7  # a lung base, 3.2 ml
    case = _case(labels, frozenset({"nodule"}))
    out = serialize_case(case, SerializeConfig(n_slices=8))
    assert out.window == "CT abdomen W400 L50"
    # liver 60 ml + kidney 1.8 ml against a 3.2 ml lung base
    assert "window choice: abdomen: largest annotated structures: abdomen 62 ml, lung 3 ml" in (
        case.history
    )


def test_serialize_picks_lung_for_a_lung_nodule_case() -> None:
    labels = np.zeros(SHAPE, dtype=np.uint8)
    labels[10:60, 10:60, 2:14] = 1  # liver still the largest structure
    labels[70:90, 10:30, 14:18] = 7
    labels[80:84, 15:19, 15:17] = 11  # a nodule in the lung
    case = _case(labels, frozenset({"nodule"}))
    out = serialize_case(case, SerializeConfig(n_slices=8))
    assert out.window == "CT lung W1500 L-600"
    assert "window choice: lung: lung lesion present (nodule)" in case.history


def test_ct_foreground_needs_no_float_copy() -> None:
    hu = np.array([[[-1000, -600, -400, 50]]], dtype=np.int16)
    np.testing.assert_array_equal(foreground_mask(hu, ct=True), [[[False, False, True, True]]])


# TotalSegmentator v2 `total` classes (shared/sources/3d-sources.md §2), as its file stems, with
# the v1 heart chambers and pulmonary artery, and the window each must get.
_SIDES = ("left", "right")
TOTALSEGMENTATOR: dict[str, str] = {
    "spleen": "abdomen",
    "gallbladder": "abdomen",
    "liver": "abdomen",
    "stomach": "abdomen",
    "pancreas": "abdomen",
    "esophagus": "mediastinum",
    "trachea": "lung",
    "thyroid_gland": "mediastinum",
    "small_bowel": "abdomen",
    "duodenum": "abdomen",
    "colon": "abdomen",
    "urinary_bladder": "abdomen",
    "prostate": "abdomen",
    "sacrum": "bone",
    "vertebrae_S1": "bone",
    "heart": "mediastinum",
    "aorta": "mediastinum",
    "pulmonary_vein": "mediastinum",
    "pulmonary_artery": "mediastinum",
    "brachiocephalic_trunk": "mediastinum",
    "superior_vena_cava": "mediastinum",
    "inferior_vena_cava": "abdomen",
    "portal_vein_and_splenic_vein": "abdomen",
    "spinal_cord": "",
    "brain": "brain",
    "skull": "bone",
    "sternum": "bone",
    "costal_cartilages": "bone",
    "heart_myocardium": "mediastinum",
    "face": "",
    **{f"kidney_{s}": "abdomen" for s in _SIDES},
    **{f"kidney_cyst_{s}": "abdomen" for s in _SIDES},
    **{f"adrenal_gland_{s}": "abdomen" for s in _SIDES},
    **{f"lung_{lobe}_lobe_{s}": "lung" for lobe in ("upper", "lower") for s in _SIDES},
    "lung_middle_lobe_right": "lung",
    **{f"vertebrae_{v}": "bone" for v in [f"L{i}" for i in range(1, 6)]},
    **{f"vertebrae_{v}": "bone" for v in [f"T{i}" for i in range(1, 13)]},
    **{f"vertebrae_{v}": "bone" for v in [f"C{i}" for i in range(1, 8)]},
    **{f"subclavian_artery_{s}": "mediastinum" for s in _SIDES},
    **{f"common_carotid_artery_{s}": "mediastinum" for s in _SIDES},
    **{f"brachiocephalic_vein_{s}": "mediastinum" for s in _SIDES},
    "atrial_appendage_left": "mediastinum",
    **{f"heart_ventricle_{s}": "mediastinum" for s in _SIDES},
    **{f"heart_atrium_{s}": "mediastinum" for s in _SIDES},
    **{f"iliac_{v}_{s}": "abdomen" for v in ("artery", "vena") for s in _SIDES},
    **{
        f"{b}_{s}": "bone"
        for b in ("humerus", "scapula", "clavicula", "femur", "hip")
        for s in _SIDES
    },
    **{f"gluteus_{m}_{s}": "" for m in ("maximus", "medius", "minimus") for s in _SIDES},
    **{f"autochthon_{s}": "" for s in _SIDES},
    **{f"iliopsoas_{s}": "abdomen" for s in _SIDES},
    **{f"rib_{s}_{i}": "bone" for s in _SIDES for i in range(1, 13)},
}
# M3D-Seg class names (shared/sources/seed-sources.md §2.6) that share words across groups.
M3D_SEG: dict[str, str] = {
    "gall bladder": "abdomen",
    "postcava": "abdomen",
    "renal vein": "abdomen",
    "renal artery": "abdomen",
    "renal pelvis": "abdomen",
    "caudate lobe": "abdomen",
    "liver left lobe": "abdomen",
    "right lobe of liver": "abdomen",
    "lungs": "lung",
    "left lung": "lung",
    "trachea": "lung",
    "lung tumours": "lung",
    "hepatic vessels": "abdomen",
    "colon cancer": "abdomen",
    "pancreatic lesion": "abdomen",
    "kidney tumor": "abdomen",
    "brainstem": "brain",
    "cochlea L": "bone",
    "bone mandible": "bone",
    "carotid artery left": "mediastinum",
    "cervical spine C1": "bone",
    "lumbar spine L1": "bone",
    "head of femur left": "bone",
    "bone": "bone",
    "brain": "brain",
    "heart": "mediastinum",
    "left ventricle": "mediastinum",
    "right atrium": "mediastinum",
    "left lateral ventricle": "brain",
    "fourth ventricle": "brain",
    "tumour": "",
}


@pytest.mark.parametrize(("name", "group"), sorted({**TOTALSEGMENTATOR, **M3D_SEG}.items()))
def test_window_groups_of_real_class_names(name: str, group: str) -> None:
    assert window_group(name) == group


def test_totalsegmentator_list_is_complete() -> None:
    # v2's 117 classes, plus v1's four heart chambers, myocardium, pulmonary artery and face
    assert len(TOTALSEGMENTATOR) == 117 + 7


def test_heart_chambers_and_liver_lobes_get_their_windows() -> None:
    preset, _ = choose_ct_window({"heart_ventricle_left": 150.0, "heart_atrium_left": 60.0})
    assert preset == CT_PRESETS["mediastinum"]
    preset, _ = choose_ct_window({"caudate lobe": 40.0, "liver left lobe": 300.0})
    assert preset == CT_PRESETS["abdomen"]
    preset, _ = choose_ct_window({"renal pelvis": 10.0, "kidney": 150.0})
    assert preset == CT_PRESETS["abdomen"]
