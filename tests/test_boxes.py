"""The shared box syntax: render/parse round trips, bounds, and conversions (DESIGN.md §4)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from unimed_cot import boxes
from unimed_cot.boxes import BoxError


@st.composite
def box_2d(draw: st.DrawFn, max_side: int = 999) -> tuple[tuple[int, ...], int, int]:
    width = draw(st.integers(2, max_side))
    height = draw(st.integers(2, max_side))
    x1 = draw(st.integers(0, width - 1))
    x2 = draw(st.integers(x1 + 1, width))
    y1 = draw(st.integers(0, height - 1))
    y2 = draw(st.integers(y1 + 1, height))
    return (x1, y1, x2, y2), width, height


@st.composite
def box_3d(draw: st.DrawFn) -> tuple[tuple[int, ...], int, int, int]:
    (x1, y1, x2, y2), width, height = draw(box_2d())
    n_slices = draw(st.integers(1, 999))
    z1 = draw(st.integers(0, n_slices - 1))
    z2 = draw(st.integers(z1 + 1, n_slices))
    return (x1, y1, z1, x2, y2, z2), width, height, n_slices


def test_render_matches_reference_examples() -> None:
    assert boxes.render_box([98, 107, 153, 154]) == "<|box_start|>[98,107,153,154]<|box_end|>"
    assert (
        boxes.render_box([96, 105, 5, 147, 152, 27])
        == "<|box_start|>[96,105,5,147,152,27]<|box_end|>"
    )


@pytest.mark.parametrize(
    "text",
    [
        "<|box_start|>[1,2,3,4]<|box_end|>",
        "<|box_start|>(1,2,3,4)<|box_end|>",
        "<|box_start|>[ 1, 2 ,3 , 4 ]<|box_end|>",
        "<|box_start|>( 1 ,2, 3,4 )<|box_end|>",
    ],
)
def test_parse_accepts_brackets_and_spaces(text: str) -> None:
    assert boxes.find_boxes(f"the liver {text} is large") == [(1, 2, 3, 4)]


@pytest.mark.parametrize("bad", ["[1,2,3]", "[1,2,3,4,5]", "[1.5,2,3,4]", "[a,b,c,d]", "1,2,3,4"])
def test_parse_rejects_malformed(bad: str) -> None:
    with pytest.raises(BoxError):
        boxes.find_boxes(f"<|box_start|>{bad}<|box_end|>")


@given(box_2d())
def test_2d_render_parse_round_trip(case: tuple[tuple[int, ...], int, int]) -> None:
    box, width, height = case
    (parsed,) = boxes.find_boxes(boxes.render_box(box))
    assert parsed == box
    boxes.validate_box(parsed, width=width, height=height)


@given(box_3d())
def test_3d_render_parse_round_trip(case: tuple[tuple[int, ...], int, int, int]) -> None:
    box, width, height, n_slices = case
    (parsed,) = boxes.find_boxes(boxes.render_box(box))
    assert parsed == box
    boxes.validate_box(parsed, width=width, height=height, n_slices=n_slices)


@given(box_2d())
def test_grid_round_trip(case: tuple[tuple[int, ...], int, int]) -> None:
    box, width, height = case
    grid = boxes.to_grid(box, width=width, height=height)
    assert all(0 <= v <= 1000 for v in grid)
    assert boxes.from_grid(grid, width=width, height=height) == box
    text = boxes.render_grid_box(box, width=width, height=height, style="angle")
    assert boxes.parse_grid_box(text, width=width, height=height) == box


@given(box_3d())
def test_m3d_round_trip(case: tuple[tuple[int, ...], int, int, int]) -> None:
    box, width, height, n_slices = case
    m3d = boxes.to_m3d(box, width=width, height=height, n_slices=n_slices)
    assert all(0.0 <= v < 1.0 for v in m3d)
    assert boxes.from_m3d(m3d, width=width, height=height, n_slices=n_slices) == box


def test_m3d_order_is_depth_first() -> None:
    # a box over slices 8..15 of 32, rows 64..127, cols 0..255 of a 256x256 slice
    m3d = boxes.to_m3d((0, 64, 8, 256, 128, 16), width=256, height=256, n_slices=32)
    assert m3d == (0.25, 0.25, 0.0, 0.469, 0.496, 0.996)


@pytest.mark.parametrize(
    ("box", "kwargs", "message"),
    [
        ((0, 0, 11, 5), {"width": 10, "height": 10}, "x range"),
        ((3, 3, 3, 5), {"width": 10, "height": 10}, "x range"),
        ((0, 4, 5, 2), {"width": 10, "height": 10}, "y range"),
        ((-1, 0, 5, 5), {"width": 10, "height": 10}, "x range"),
        ((0, 0, 0, 5, 5, 33), {"width": 10, "height": 10, "n_slices": 32}, "slice range"),
        ((0, 0, 4, 5, 5, 4), {"width": 10, "height": 10, "n_slices": 32}, "slice range"),
        ((0, 0, 0, 5, 5, 3), {"width": 10, "height": 10}, "2D image"),
    ],
)
def test_validate_rejects_out_of_bounds(
    box: tuple[int, ...], kwargs: dict[str, int], message: str
) -> None:
    with pytest.raises(BoxError, match=message):
        boxes.validate_box(box, **kwargs)


def test_box_from_mask_is_half_open() -> None:
    mask = np.zeros((20, 30), dtype=bool)
    mask[5:9, 10:17] = True
    assert boxes.box_from_mask_2d(mask) == (10, 5, 17, 9)
    assert boxes.box_from_mask_2d(np.zeros((4, 4))) is None
    stack = np.zeros((6, 20, 30), dtype=bool)
    stack[2:4, 5:9, 10:17] = True
    assert boxes.box_from_mask_3d(stack) == (10, 5, 2, 17, 9, 4)


def test_iou() -> None:
    assert boxes.iou((0, 0, 10, 10), (0, 0, 10, 10)) == 1.0
    assert boxes.iou((0, 0, 10, 10), (5, 0, 15, 10)) == pytest.approx(50 / 150)
    assert boxes.iou((0, 0, 0, 2, 2, 2), (2, 2, 2, 4, 4, 4)) == 0.0
