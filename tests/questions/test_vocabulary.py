"""The vocabulary: aliases, kinds and parts over real class names of public sources."""

from __future__ import annotations

import itertools

import pytest

from unimed_cot.questions.vocabulary import (
    canonical,
    distinct,
    is_finding,
    kinds,
    pairwise_distinct,
    related,
    same_or_kind,
    within,
)

# Class lists of M3D-Seg's datasets (shared/sources/seed-sources.md §2.6) that name one structure
# in different ways across datasets.
AMOS = ["spleen", "right kidney", "left kidney", "gall bladder", "esophagus", "liver", "stomach",
        "aorta", "postcava", "pancreas", "right adrenal gland", "left adrenal gland", "duodenum",
        "bladder"]  # fmt: skip
BTCV = ["spleen", "right kidney", "left kidney", "gallbladder", "esophagus", "liver", "stomach",
        "aorta", "inferior vena cava", "portal vein and splenic vein", "pancreas",
        "right adrenal gland", "left adrenal gland"]  # fmt: skip
WORD = ["liver", "spleen", "kidney left", "kidney right", "stomach", "gallbladder", "esophagus",
        "pancreas", "duodenum", "colon", "intestine", "adrenal", "rectum", "bladder",
        "head of femur left", "head of femur right"]  # fmt: skip
# TotalSegmentator v2 file stems (3d-sources.md §2).
TOTALSEG = ["kidney_right", "kidney_left", "gallbladder", "adrenal_gland_right",
            "lung_upper_lobe_left", "lung_lower_lobe_right", "urinary_bladder",
            "kidney_cyst_left", "vertebrae_L1", "vertebrae_L2", "rib_left_1", "rib_left_10",
            "inferior_vena_cava", "femur_left", "heart"]  # fmt: skip


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("gall bladder", "gallbladder"),
        ("postcava", "inferior vena cava"),
        ("kidney left", "left kidney"),
        ("kidney_left", "Left Kidney"),
        ("bladder", "urinary_bladder"),
        ("liver tumour", "liver tumor"),
        ("liver kyst", "liver cyst"),
        ("liver kyste", "liver cyst"),
        ("oesophagus", "esophagus"),
        ("lung tumours", "lung tumor"),
        ("kidneys", "kidney"),
        ("adrenal", "adrenal gland"),
        ("head of femur left", "left femoral head"),
        ("small intestin", "small bowel"),
    ],
)
def test_aliases_share_one_canonical_form(a: str, b: str) -> None:
    assert canonical(a) == canonical(b)
    assert related(a, b) and same_or_kind(a, b)


@pytest.mark.parametrize(
    ("kind", "general"),
    [
        ("right kidney", "kidney"),
        ("kidney_left", "kidneys"),
        ("liver tumor", "tumor"),
        ("liver tumor", "lesion"),
        ("kidney cyst", "cyst"),
        ("kidney_cyst_left", "kidney cyst"),
        ("liver tumor 01", "liver tumor"),
        ("vertebrae_L1", "vertebra"),
        ("rib_left_10", "rib"),
        ("colon cancer", "tumor"),
        ("left adrenal gland", "adrenal gland"),
        ("postcava", "vena cava"),
    ],
)
def test_kinds(kind: str, general: str) -> None:
    assert canonical(general) in kinds(kind)
    assert same_or_kind(kind, general) and same_or_kind(general, kind)
    assert related(kind, general)


@pytest.mark.parametrize(
    ("part", "whole"),
    [
        ("liver left lobe", "liver"),
        ("caudate lobe", "liver"),
        ("renal pelvis", "kidney"),
        ("lung_upper_lobe_left", "left lung"),
        ("lung_upper_lobe_left", "lung"),
        ("liver tumor", "liver"),
        ("heart_ventricle_left", "heart"),
        ("left lateral ventricle", "brain"),
    ],
)
def test_parts_are_related_but_not_kinds(part: str, whole: str) -> None:
    assert within(part, whole) and not within(whole, part)
    assert related(part, whole)
    assert not same_or_kind(part, whole)  # a liver need not hold a liver tumor


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("left kidney", "right kidney"),
        ("kidney cyst", "kidney tumor"),
        ("liver", "spleen"),
        ("gallbladder", "urinary bladder"),
        ("liver tumor", "lung nodule"),
        ("rib_left_1", "rib_left_10"),
        ("vertebrae_L1", "vertebrae_L2"),
        ("left lung", "lung nodule"),
        ("adrenal gland", "kidney"),
    ],
)
def test_distinct_structures_are_unrelated(a: str, b: str) -> None:
    assert not related(a, b)


def test_pooled_class_lists_collapse_to_one_name_per_structure() -> None:
    pooled = distinct([*AMOS, *BTCV, *WORD], prefer=BTCV)
    keys = [canonical(n) for n in pooled]
    assert len(keys) == len(set(keys))
    assert "gall bladder" not in pooled and "gallbladder" in pooled  # BTCV's spelling wins
    assert "postcava" not in pooled and "inferior vena cava" in pooled
    assert "kidney left" not in pooled  # WORD's word order is the same structure
    # No option drawn from the pool can hold two names of one structure.
    for a, b in itertools.combinations(pooled, 2):
        assert canonical(a) != canonical(b), (a, b)


def test_pairwise_distinct_drops_kinds() -> None:
    names = ["kidney", "right kidney", "left kidney", "kidneys", "tumor", "liver tumor", "liver"]
    assert pairwise_distinct(names) == ["kidney", "tumor", "liver"]
    assert pairwise_distinct(["right kidney", "left kidney", "kidney"]) == [
        "right kidney",
        "left kidney",
    ]


def test_totalsegmentator_names() -> None:
    assert canonical("lung_upper_lobe_left") == "left lung upper lobe"
    assert canonical("kidney_cyst_left") == "left kidney cyst"
    assert is_finding("kidney_cyst_left")
    assert not any(is_finding(n) for n in TOTALSEG if "cyst" not in n)


@pytest.mark.parametrize(
    "name",
    ["liver tumor", "kidney cyst", "lung nodule", "brain tumor", "enhancing tumor", "necrosis",
     "pleural effusion", "liver kyst", "colon cancer", "intracranial hemorrhage", "edema",
     "pancreatic lesion", "stones", "calcified plaque", "covid-19 infection", "mass"],
)  # fmt: skip
def test_findings(name: str) -> None:
    assert is_finding(name)


@pytest.mark.parametrize(
    "name",
    ["liver", "left kidney", "cystic duct", "massa intermedia", "heart", "aorta", "caudate lobe",
     "renal pelvis", "portal vein and splenic vein", "gallbladder"],
)  # fmt: skip
def test_anatomy_is_not_a_finding(name: str) -> None:
    assert not is_finding(name)
