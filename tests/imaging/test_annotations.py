"""2D box annotations are scaled outward onto the published grid and become regions."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from unimed_cot.imaging import SerializeConfig, serialize_case
from unimed_cot.imaging.annotations import scale_box
from unimed_cot.records import AnnotatedBox, Case, Image2D, SourceRecord


def test_scale_box_rounds_outward_and_clips() -> None:
    assert scale_box((10, 20, 30, 40), source_size=(100, 100), published_size=(100, 100)) == (
        10,
        20,
        30,
        40,
    )
    assert scale_box((10.5, 20.5, 30.2, 40.2), source_size=(100, 100), published_size=(50, 50)) == (
        5,
        10,
        16,
        21,
    )
    assert scale_box((-5, -5, 500, 500), source_size=(100, 100), published_size=(56, 56)) == (
        0,
        0,
        56,
        56,
    )
    assert scale_box((10, 10, 10, 20), source_size=(100, 100), published_size=(56, 56)) is None


def test_boxes_become_regions_after_mask_regions() -> None:
    image = np.zeros((560, 840), dtype=np.uint8)
    labels = np.zeros_like(image)
    labels[100:200, 100:300] = 1
    record = SourceRecord(
        source="t", case_id="c", group_key="g", dims=2, modality="X-ray", image=Path("x.png")
    )
    case = Case(
        record=record,
        image=Image2D(image, spacing_mm=(0.5, 0.5)),
        labels={1: "heart"},
        label_map=Image2D(labels),
        lesion_labels=frozenset({"nodule"}),
        boxes=(AnnotatedBox("nodule", (420.0, 280.0, 462.0, 322.0)),),
    )
    pixels = serialize_case(case, SerializeConfig(max_side_2d=420))
    assert pixels.images[0].shape == (280, 420)
    heart, nodule = pixels.regions
    assert (heart.id, heart.label, heart.box) == ("R1", "heart", (50, 50, 150, 100))
    assert (nodule.id, nodule.label, nodule.box, nodule.is_lesion) == (
        "R2",
        "nodule",
        (210, 140, 231, 161),
        True,
    )
    # A box alone has no size: its rectangle is not the finding's area.
    assert nodule.facts is not None and nodule.facts.size_mm is None
    assert nodule.facts.voxels is None and nodule.facts.area_px == 21 * 21


def test_box_sizes_come_from_their_mask_counts() -> None:
    # A thin diagonal structure (1 px wide, 300 px long) has a 300x300 box but 300 mask pixels;
    # a disc of radius 40 fills about half of its 80x80 box.
    record = SourceRecord(
        source="t", case_id="c", group_key="g", dims=2, modality="CT", image=Path("x.png")
    )
    disc = np.hypot(*np.mgrid[-40:40, -40:40] + 0.5) < 40
    case = Case(
        record=record,
        image=Image2D(np.zeros((448, 448), dtype=np.uint8), spacing_mm=(0.8, 0.8)),
        labels={},
        boxes=(
            AnnotatedBox("pancreas", (50.0, 50.0, 350.0, 350.0), mask_px=300),
            AnnotatedBox("spleen", (360.0, 300.0, 440.0, 380.0), mask_px=int(disc.sum())),
        ),
    )
    pancreas, spleen = serialize_case(case, SerializeConfig(max_side_2d=448)).regions
    assert pancreas.facts is not None and spleen.facts is not None
    assert pancreas.facts.area_px == 300 * 300  # what the box covers
    assert pancreas.facts.voxels == 300 and pancreas.facts.size_mm == pytest.approx(300 * 0.64)
    assert spleen.facts.size_mm == pytest.approx(disc.sum() * 0.64)
    assert spleen.facts.size_mm > 10 * pancreas.facts.size_mm  # the box areas said the opposite
