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
