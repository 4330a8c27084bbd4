"""Masks -> regions: components, ordering, hosts, drops and facts, on published label grids."""

from __future__ import annotations

import numpy as np
import pytest

from unimed_cot.imaging import extract_regions
from unimed_cot.imaging.truth import Entity

LABELS = {1: "liver", 2: "kidney", 3: "tumor", 4: "cyst"}
LESIONS = frozenset({"tumor", "cyst"})


def grid_2d() -> np.ndarray:
    grid = np.zeros((100, 120), dtype=np.int32)
    grid[10:60, 10:70] = 1  # liver
    grid[20:25, 20:25] = 3  # small tumor (25 px) inside the liver
    grid[40:50, 40:50] = 3  # large tumor (100 px) inside the liver
    grid[70:90, 80:90] = 2  # kidney, two separate components
    grid[70:90, 100:110] = 2
    grid[95, 5] = 4  # 1-px cyst: dropped
    grid[0, 119] = 2  # 1-px kidney speck: dropped from the kidney union
    return grid


def test_regions_order_boxes_and_hosts() -> None:
    result = extract_regions(grid_2d(), labels=LABELS, lesion_labels=LESIONS, min_component_px=4)
    assert result.dropped_components == 2
    summary = [(r.id, r.label, r.box, r.is_lesion, r.host) for r in result.regions]
    assert summary == [
        ("R1", "kidney", (80, 70, 110, 90), False, ""),  # organs by name, one union region
        ("R2", "liver", (10, 10, 70, 60), False, ""),
        ("R3", "tumor", (40, 40, 50, 50), True, "liver"),  # lesions by size, largest first
        ("R4", "tumor", (20, 20, 25, 25), True, "liver"),
    ]


def test_facts_in_published_pixels_and_mm() -> None:
    result = extract_regions(grid_2d(), labels=LABELS, lesion_labels=LESIONS, spacing_mm=(0.5, 2.0))
    kidney, _, big_tumor, _ = result.regions
    assert kidney.facts is not None and big_tumor.facts is not None
    assert kidney.facts.area_px == 400
    assert kidney.facts.size_mm == pytest.approx(400.0)  # 400 px of 0.5 x 2 mm
    assert big_tumor.facts.centroid == (45.0, 45.0)  # box centre in the half-open convention
    assert (big_tumor.facts.side, big_tumor.facts.ap) == ("", "")
    assert big_tumor.facts.voxels is None  # no full-resolution truth given


def test_unknown_spacing_gives_no_size_and_unlisted_values_are_ignored() -> None:
    grid = np.zeros((10, 10), dtype=np.int32)
    grid[2:5, 2:5] = 9  # not in the label vocabulary
    grid[6:9, 6:9] = 1
    result = extract_regions(grid, labels={1: "liver"})
    assert [r.label for r in result.regions] == ["liver"]
    assert result.regions[0].facts is not None and result.regions[0].facts.size_mm is None


def test_lesion_touching_two_organs_goes_to_the_larger_contact() -> None:
    grid = np.zeros((30, 30), dtype=np.int32)
    grid[:, :15] = 1  # liver on the left
    grid[:, 15:] = 2  # kidney on the right
    grid[10:14, 12:20] = 3  # tumor: 3 columns in liver, 5 in kidney
    result = extract_regions(grid, labels=LABELS, lesion_labels=LESIONS)
    tumor = next(r for r in result.regions if r.is_lesion)
    assert tumor.host == "kidney"


def test_lesion_away_from_organs_has_no_host() -> None:
    grid = np.zeros((30, 30), dtype=np.int32)
    grid[:5, :5] = 1
    grid[20:25, 20:25] = 3
    tumor = extract_regions(grid, labels=LABELS, lesion_labels=LESIONS).regions[1]
    assert tumor.is_lesion and tumor.host == ""


def test_3d_components_connect_diagonally_across_slices() -> None:
    stack = np.zeros((4, 20, 20), dtype=np.int32)
    stack[0, 2:4, 2:4] = 3
    stack[1, 4:6, 4:6] = 3  # touches the previous block only at a corner, one slice up
    stack[3, 15:17, 15:17] = 3  # separate lesion
    result = extract_regions(stack, labels=LABELS, lesion_labels=LESIONS, min_component_px=4)
    boxes = [r.box for r in result.regions]
    assert boxes == [(2, 2, 0, 6, 6, 2), (15, 15, 3, 17, 17, 4)]
    assert result.dropped_components == 0


def test_3d_tiny_components_are_dropped_and_counted() -> None:
    stack = np.zeros((4, 20, 20), dtype=np.int32)
    stack[1:3, 5:10, 5:10] = 1
    stack[0, 18, 18] = 3
    stack[3, 0, 0:2] = 3
    result = extract_regions(stack, labels=LABELS, lesion_labels=LESIONS, min_component_px=3)
    assert [r.label for r in result.regions] == ["liver"]
    assert result.dropped_components == 2


def test_truth_gives_one_region_per_entity_with_its_facts() -> None:
    # Entity values: 1 = liver (an organ keeps its label value), 5 and 6 = two lesion
    # components of the tumor label; 6 is split in two on the published grid.
    grid = np.zeros((4, 30, 30), dtype=np.int32)
    grid[:, 2:20, 2:20] = 1
    grid[1, 4:8, 4:8] = 5
    grid[2, 12:14, 12:14] = 6
    grid[2, 16:18, 16:18] = 6
    truth = {
        1: Entity(1, "liver", False, 9000, 18.0, (10.0, 10.0, 2.0), side="right", ap="anterior"),
        5: Entity(5, "tumor", True, 30, 0.06, (6.0, 6.0, 1.0), host="liver", mean=20.0),
        6: Entity(6, "tumor", True, 90, 0.18, (15.0, 15.0, 2.0), host="liver", host_mean=60.0),
    }
    names = {value: entity.label for value, entity in truth.items()}
    result = extract_regions(grid, labels=names, truth=truth, min_component_px=4)
    liver, big, small = result.regions
    assert (liver.label, big.label, small.label) == ("liver", "tumor", "tumor")
    assert big.box == (12, 12, 2, 18, 18, 3)  # both published parts of entity 6: one region
    assert small.box == (4, 4, 1, 8, 8, 2)
    assert big.host == small.host == "liver" and big.is_lesion
    assert liver.facts is not None and big.facts is not None and small.facts is not None
    assert (liver.facts.side, liver.facts.ap, liver.facts.voxels) == ("right", "anterior", 9000)
    assert liver.facts.size_mm == 18.0  # the entity's, not a published estimate
    assert big.facts.area_px == 8 and big.facts.voxels == 90  # published count vs full res
    assert (big.facts.host_mean, small.facts.mean) == (60.0, 20.0)


def test_rejects_grids_of_other_ranks() -> None:
    with pytest.raises(ValueError, match="label grid"):
        extract_regions(np.zeros(5, dtype=np.int32), labels=LABELS)


def test_extent_in_mm_on_known_cuboids_2d() -> None:
    result = extract_regions(grid_2d(), labels=LABELS, lesion_labels=LESIONS, spacing_mm=(0.5, 2.0))
    by_label = {(r.label, r.box): r for r in result.regions}
    liver = by_label[("liver", (10, 10, 70, 60))]
    assert liver.facts is not None
    assert liver.facts.extent_mm == (60 * 2.0, 50 * 0.5)  # (x: cols x col mm, y: rows x row mm)
    assert liver.facts.largest_slice is None
    kidney = by_label[("kidney", (80, 70, 110, 90))]
    assert kidney.facts is not None and kidney.facts.extent_mm == (30 * 2.0, 20 * 0.5)
    unknown = extract_regions(grid_2d(), labels=LABELS, lesion_labels=LESIONS)
    assert all(r.facts is not None and r.facts.extent_mm == () for r in unknown.regions)


def test_extent_and_largest_slice_on_known_cuboids_3d() -> None:
    grid = np.zeros((10, 40, 50), dtype=np.int32)
    grid[2:7, 5:15, 10:30] = 1  # organ: 5 slices x 10 rows x 20 cols
    grid[4, 3:17, 8:32] = 1  # slice 4 is its widest
    grid[6:9, 30:34, 40:44] = 3  # lesion: 3 slices, largest on slice 7
    grid[7, 29:35, 39:45] = 3
    result = extract_regions(
        grid, labels=LABELS, lesion_labels=LESIONS, spacing_mm=(0.8, 0.8, 3.0), min_component_px=1
    )
    liver, tumor = result.regions
    assert liver.facts is not None and tumor.facts is not None
    assert liver.facts.extent_mm == pytest.approx((24 * 0.8, 14 * 0.8, 5 * 3.0))
    assert liver.facts.largest_slice == 4
    assert tumor.facts.extent_mm == pytest.approx((6 * 0.8, 6 * 0.8, 3 * 3.0))
    assert tumor.facts.largest_slice == 7
    # Unevenly spaced published slices: z extent from the slice positions plus one gap.
    positions = [0.0, 4.0, 8.0, 10.0, 12.0, 14.0, 16.0, 30.0, 44.0, 50.0]
    uneven = extract_regions(
        grid,
        labels=LABELS,
        lesion_labels=LESIONS,
        spacing_mm=(0.8, 0.8, 3.0),
        min_component_px=1,
        slice_positions_mm=positions,
    )
    assert uneven.regions[0].facts is not None
    assert uneven.regions[0].facts.extent_mm[2] == pytest.approx(16.0 - 8.0 + 3.0)
    assert uneven.regions[1].facts is not None
    assert uneven.regions[1].facts.extent_mm[2] == pytest.approx(44.0 - 16.0 + 3.0)
