"""Truth at full resolution: presence, sizes, positions, sides, hosts and intensities are measured
before slices are picked, and a structure no published slice shows is still known present."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from unimed_cot.imaging import SerializeConfig, serialize_case
from unimed_cot.imaging.slicing import label_stats
from unimed_cot.imaging.truth import VolumeFrame, measure_image, measure_volume
from unimed_cot.records import Case, Image2D, SourceRecord, Volume

# 0.8 x 0.8 x 2.5 mm voxels in the canonical LPS frame (array axes towards L, P, S).
SPACING = (0.8, 0.8, 2.5)
AFFINE = np.array(
    [[-0.8, 0, 0, 100.0], [0, -0.8, 0, 80.0], [0, 0, 2.5, -200.0], [0, 0, 0, 1]], dtype=float
)
SHAPE = (200, 160, 60)
NAMES = {1: "liver", 2: "left kidney", 3: "right kidney", 4: "kidney cyst", 5: "liver tumor"}
LESIONS = frozenset({"kidney cyst", "liver tumor"})


def abdomen() -> tuple[np.ndarray, np.ndarray]:
    """CT (HU) and labels whose truth is known by construction.

    Patient right is the LOW end of axis 0 (L grows with the index): the liver and the right
    kidney sit at small i, the left kidney at large i. The cyst is ONE slice thick (k = 30) in
    the left kidney; the tumor is a 6x6x4 block in the liver.
    """
    ct = np.full(SHAPE, -1000.0, dtype=np.float32)
    labels = np.zeros(SHAPE, dtype=np.uint8)
    ct[10:190, 10:150, :] = 20.0  # body: i 10..189 (midline 99.5), j 10..149
    labels[20:80, 20:90, 10:50] = 1  # liver: patient right, anterior
    labels[130:160, 100:130, 20:40] = 2  # left kidney: patient left, posterior
    labels[40:70, 100:130, 22:42] = 3  # right kidney
    labels[140:146, 110:116, 30] = 4  # the 1-slice cyst (36 voxels)
    labels[40:46, 40:46, 28:32] = 5  # the tumor (144 voxels)
    for value, hu in ((1, 60.0), (2, 30.0), (3, 30.0), (4, 5.0), (5, 10.0)):
        ct[labels == value] = hu
    return ct, labels


def case_of(ct: np.ndarray, labels: np.ndarray) -> Case:
    record = SourceRecord(
        source="t", case_id="c", group_key="p", dims=3, modality="CT", image=Path("x")
    )
    return Case(
        record=record,
        image=Volume(array=ct, affine=AFFINE),
        labels=dict(NAMES),
        label_map=Volume(array=labels, affine=AFFINE),
        lesion_labels=LESIONS,
    )


def test_measured_entities_match_the_construction() -> None:
    ct, labels = abdomen()
    frame = VolumeFrame(affine=AFFINE, known=True, body_x=(10, 190), body_y=(10, 150))
    measured = measure_volume(
        labels,
        names=NAMES,
        lesion_names=LESIONS,
        stats=label_stats(labels),
        frame=frame,
        intensity=ct,
    )
    by_label = {e.label: e for e in measured.entities.values()}
    voxel_ml = 0.8 * 0.8 * 2.5 / 1000
    liver, cyst, tumor = by_label["liver"], by_label["kidney cyst"], by_label["liver tumor"]
    assert liver.voxels == 60 * 70 * 40 - 144 and not liver.is_lesion
    assert liver.size_mm == pytest.approx(liver.voxels * voxel_ml)
    assert cyst.voxels == 36 and cyst.size_mm == pytest.approx(36 * voxel_ml)
    assert tumor.voxels == 144 and tumor.is_lesion and tumor.value > max(NAMES)
    # Positions in patient mm: L = -x_RAS, P = -y_RAS, S = z_RAS through the affine.
    centre = np.array([142.5, 112.5, 30.0, 1.0])
    ras = AFFINE @ centre
    assert cyst.position_mm == pytest.approx((-ras[0], -ras[1], ras[2]), abs=0.01)
    assert (liver.side, liver.ap) == ("right", "anterior")
    assert (by_label["left kidney"].side, by_label["left kidney"].ap) == ("left", "posterior")
    assert cyst.sides == frozenset({"left"}) and tumor.sides == frozenset({"right"})
    assert (cyst.host, tumor.host) == ("left kidney", "liver")
    assert (cyst.mean, cyst.host_mean) == (5.0, 30.0)
    assert (tumor.mean, tumor.host_mean) == (10.0, 60.0)
    assert cyst.span == (30, 30, 30) and tumor.span == (28, 28, 31)
    assert cyst.extent_mm == pytest.approx((6 * 0.8, 6 * 0.8, 2.5))
    assert measured.present == frozenset(NAMES.values())


def test_a_one_slice_lesion_between_uniform_slices_is_present_but_hidden() -> None:
    ct, labels = abdomen()
    case = case_of(ct, labels)
    out = serialize_case(case, SerializeConfig(n_slices=8, strategy="uniform"))
    assert "kidney cyst" not in {r.label for r in out.regions}  # k = 30 is not picked
    assert out.truth is not None
    assert "kidney cyst" in out.truth.present and "kidney cyst" in out.truth.hidden
    assert out.truth.annotated == frozenset(NAMES.values())
    assert out.truth.sides["kidney cyst"] == frozenset({"left"})


def test_roi_slices_show_the_one_slice_lesion_with_its_full_resolution_facts() -> None:
    ct, labels = abdomen()
    out = serialize_case(case_of(ct, labels), SerializeConfig(n_slices=16))
    cyst = next(r for r in out.regions if r.label == "kidney cyst")
    assert out.truth is not None and not out.truth.hidden
    assert cyst.box[5] - cyst.box[2] == 1 and cyst.host == "left kidney"
    assert cyst.facts is not None
    assert cyst.facts.voxels == 36 and cyst.facts.size_mm == pytest.approx(36 * 0.0016)
    assert cyst.facts.span_mm == pytest.approx((-200 + 2.5 * 30,) * 2)
    assert (cyst.facts.mean, cyst.facts.host_mean) == (5.0, 30.0)
    assert cyst.facts.side == "left"


def test_a_lesion_below_the_published_resolution_is_hidden_not_absent() -> None:
    ct, labels = abdomen()
    labels[150:152, 115:117, 24] = 4  # a second cyst: 2 x 2 voxels -> ~1 published pixel
    out = serialize_case(case_of(ct, labels), SerializeConfig(n_slices=32, slice_size=112))
    cysts = [r for r in out.regions if r.label == "kidney cyst"]
    assert len(cysts) == 1 and cysts[0].facts is not None and cysts[0].facts.voxels == 36
    assert out.truth is not None and "kidney cyst" in out.truth.present


def test_lesions_that_touch_on_the_published_grid_stay_two_regions() -> None:
    ct, labels = abdomen()
    labels[40:46, 47:53, 28:32] = 5  # a second tumor one voxel from the first (gap at j = 46)
    out = serialize_case(case_of(ct, labels), SerializeConfig(n_slices=8, slice_size=112))
    tumors = [r for r in out.regions if r.label == "liver tumor"]
    assert len(tumors) == 2
    assert sorted(r.facts.voxels for r in tumors if r.facts) == [144, 144]


def test_2d_truth_is_measured_at_the_source_resolution() -> None:
    labels = np.zeros((900, 700), dtype=np.uint8)
    labels[100:400, 100:500] = 1  # liver: 120 000 px, 9 of them the nodule's
    labels[200:203, 200:203] = 2  # a 9 px nodule in the liver: below one published pixel
    labels[600:700, 300:400] = 2  # a 10 000 px nodule
    spacing = (0.5, 0.4)
    measured = measure_image(
        labels, names={1: "liver", 2: "nodule"}, lesion_names=frozenset({"nodule"}),
        spacing_mm=spacing,
    )  # fmt: skip
    sizes = sorted((e.label, e.voxels) for e in measured.entities.values())
    assert sizes == [("liver", 119_991), ("nodule", 9), ("nodule", 10_000)]
    liver = next(e for e in measured.entities.values() if e.label == "liver")
    assert liver.size_mm == pytest.approx(119_991 * 0.2)
    assert liver.fraction == pytest.approx((300 / 700, 250 / 900), abs=1e-3)
    record = SourceRecord(source="t", case_id="c", group_key="g", dims=2, modality="CT",
                          image=Path("x"))  # fmt: skip
    case = Case(
        record=record,
        image=Image2D(np.zeros((900, 700), np.uint8), spacing_mm=spacing),
        labels={1: "liver", 2: "nodule"},
        label_map=Image2D(labels),
        lesion_labels=frozenset({"nodule"}),
    )
    out = serialize_case(case, SerializeConfig(max_side_2d=224))
    assert [r.label for r in out.regions] == ["liver", "nodule"]
    assert out.truth is not None and out.truth.present == {"liver", "nodule"}
    nodule = out.regions[1]
    assert nodule.facts is not None and nodule.facts.voxels == 10_000
    assert nodule.facts.size_mm == pytest.approx(10_000 * 0.2)


def test_too_many_structures_for_k_are_hidden_and_recorded() -> None:
    ct, labels = abdomen()
    names = dict(NAMES)
    for n in range(12):  # 12 one-slice lesions on different slices
        labels[100 + 4 * n : 102 + 4 * n, 60:62, 2 + 4 * n] = 6
    names[6] = "nodule"
    case = case_of(ct, labels)
    case.labels = names
    case.lesion_labels = LESIONS | {"nodule"}
    out = serialize_case(case, SerializeConfig(n_slices=6))
    assert any("too many to keep all" in line for line in case.history)
    assert out.truth is not None and out.truth.present >= {"nodule", "liver"}
    shown = [r for r in out.regions if r.label == "nodule"]
    assert len(shown) < 12


def test_bounding_boxes_in_memory_order_equal_scipys_on_every_view() -> None:
    from scipy import ndimage

    from unimed_cot.imaging.measures import bounding_boxes

    rng = np.random.default_rng(0)
    grid = np.zeros((20, 30, 40), np.uint8)
    for value in range(1, 6):
        grid[tuple(rng.integers(0, n, 8) for n in grid.shape)] = value
    views = [
        grid,
        grid[::-1],
        np.asfortranarray(grid)[:, ::-1, :],  # a canonical volume over a nibabel buffer
        grid.transpose(2, 0, 1)[::-1, :, ::-1],
    ]
    for view in views:
        found = ndimage.find_objects(view, max_label=5)
        expected = {v: tuple(box) for v, box in enumerate(found, start=1) if box is not None}
        assert bounding_boxes(view, [1, 2, 3, 4, 5, 9]) == expected, view.strides
