"""The shared box syntax (DESIGN.md §4): render, parse, validate and convert.

Boxes are integer pixel coordinates of the *published* images, half-open like Python slices::

    <|box_start|>[x1,y1,x2,y2]<|box_end|>            2D
    <|box_start|>[x1,y1,z1,x2,y2,z2]<|box_end|>      3D, z = slice indices into ``images``

with ``0 <= x1 < x2 <= width``, ``0 <= y1 < y2 <= height`` and ``0 <= z1 < z2 <= K``. This is the
syntax of Qwen2.5-VL and of the reference system, so a release trains that family unchanged.
Conversions cover the 0-1000 grid of Qwen2-VL / Med-GRIT style ``(x1,y1),(x2,y2)`` boxes and the
normalized, depth-first 6-tuples of M3D (``[d1,h1,w1,d2,h2,w2]``, inclusive maxima / size).
Written by hand: no maintained library implements these token formats.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

Box = tuple[int, ...]

BOX_START = "<|box_start|>"
BOX_END = "<|box_end|>"

_NUMBER = r"\s*(-?\d+(?:\.\d+)?)\s*"
# One coordinate list inside the box tokens: square or round brackets, spaces allowed.
_COORDS = re.compile(r"^\s*[\[(]((?:" + _NUMBER + r",)*" + _NUMBER + r")[\])]\s*$")
_TOKEN_BOX = re.compile(re.escape(BOX_START) + r"(.*?)" + re.escape(BOX_END), re.DOTALL)


class BoxError(ValueError):
    """A box that does not parse, or does not fit its image / slice stack."""


def render_box(box: Sequence[int]) -> str:
    """Render a 2D or 3D box in the shared token syntax (no spaces, square brackets)."""
    _check_arity(box)
    return f"{BOX_START}[{','.join(str(int(v)) for v in box)}]{BOX_END}"


def parse_coordinates(text: str) -> Box:
    """Parse ``[x1,y1,x2,y2]`` / ``(x1, y1, z1, x2, y2, z2)`` into integers.

    Raises:
        BoxError: when the text is not a bracketed list of 4 or 6 integers.
    """
    match = _COORDS.match(text)
    if match is None:
        raise BoxError(f"not a coordinate list: {text!r}")
    values = [v.strip() for v in match.group(1).split(",")]
    if any("." in v for v in values):
        raise BoxError(f"box coordinates must be integers: {text!r}")
    box = tuple(int(v) for v in values)
    _check_arity(box)
    return box


def find_boxes(text: str) -> list[Box]:
    """Every box written between box tokens in ``text``, in order.

    Raises:
        BoxError: when a pair of box tokens holds something that is not a 4- or 6-integer list.
    """
    return [parse_coordinates(m.group(1)) for m in _TOKEN_BOX.finditer(text)]


def count_box_tokens(text: str) -> tuple[int, int]:
    """Number of ``<|box_start|>`` and ``<|box_end|>`` tokens (a balanced trace has them equal)."""
    return text.count(BOX_START), text.count(BOX_END)


def validate_box(
    box: Sequence[int], *, width: int, height: int, n_slices: int | None = None
) -> None:
    """Check that a box is well formed and inside its image (and slice stack for 3D).

    Raises:
        BoxError: with a message that says which bound is violated.
    """
    _check_arity(box)
    if len(box) == 4:
        x1, y1, x2, y2 = box
        z1 = z2 = None
    else:
        if n_slices is None:
            raise BoxError(f"3D box {list(box)} given for a 2D image")
        x1, y1, z1, x2, y2, z2 = box
    if not 0 <= x1 < x2 <= width:
        raise BoxError(f"box {list(box)}: x range [{x1},{x2}) not inside [0,{width}]")
    if not 0 <= y1 < y2 <= height:
        raise BoxError(f"box {list(box)}: y range [{y1},{y2}) not inside [0,{height}]")
    if z1 is not None and z2 is not None and n_slices is not None and not 0 <= z1 < z2 <= n_slices:
        raise BoxError(f"box {list(box)}: slice range [{z1},{z2}) not inside [0,{n_slices}]")
    if len(box) == 4 and n_slices is not None and n_slices != 1:
        raise BoxError(f"2D box {list(box)} given for a stack of {n_slices} slices")


def box_from_mask_2d(mask: object) -> Box | None:
    """Tight half-open box of the non-zero pixels of an (H, W) mask, or None when empty."""
    import numpy as np

    arr = np.asarray(mask)
    rows = np.flatnonzero(arr.any(axis=1))
    cols = np.flatnonzero(arr.any(axis=0))
    if rows.size == 0:
        return None
    return (int(cols[0]), int(rows[0]), int(cols[-1]) + 1, int(rows[-1]) + 1)


def box_from_mask_3d(stack: object) -> Box | None:
    """Tight half-open 3D box of a (K, H, W) stack of slice masks, or None when empty."""
    import numpy as np

    arr = np.asarray(stack)
    slices = np.flatnonzero(arr.any(axis=(1, 2)))
    if slices.size == 0:
        return None
    inplane = box_from_mask_2d(arr.any(axis=0))
    assert inplane is not None  # a non-empty slice implies a non-empty projection
    x1, y1, x2, y2 = inplane
    return (x1, y1, int(slices[0]), x2, y2, int(slices[-1]) + 1)


def iou(a: Sequence[int], b: Sequence[int]) -> float:
    """Intersection over union of two boxes of the same dimensionality."""
    if len(a) != len(b):
        raise BoxError("cannot compare a 2D box with a 3D box")
    half = len(a) // 2
    inter = 1.0
    vol_a = vol_b = 1.0
    for i in range(half):
        lo, hi = max(a[i], b[i]), min(a[i + half], b[i + half])
        inter *= max(0, hi - lo)
        vol_a *= a[i + half] - a[i]
        vol_b *= b[i + half] - b[i]
    union = vol_a + vol_b - inter
    return inter / union if union > 0 else 0.0


# --- conversions ---------------------------------------------------------------------------


def to_grid(box: Sequence[int], *, width: int, height: int, scale: int = 1000) -> Box:
    """Pixel box -> 0..scale grid (Qwen2-VL, Med-GRIT); exact round trip for sides <= scale."""
    x1, y1, x2, y2 = _as_2d(box)
    return (
        round(x1 * scale / width),
        round(y1 * scale / height),
        round(x2 * scale / width),
        round(y2 * scale / height),
    )


def from_grid(box: Sequence[int], *, width: int, height: int, scale: int = 1000) -> Box:
    """0..scale grid box -> pixel box of an image of the given size."""
    g1, g2, g3, g4 = _as_2d(box)
    return (
        round(g1 * width / scale),
        round(g2 * height / scale),
        round(g3 * width / scale),
        round(g4 * height / scale),
    )


def render_grid_box(box: Sequence[int], *, width: int, height: int, style: str = "qwen2vl") -> str:
    """Render a pixel box as Qwen2-VL ``<|box_start|>(x1,y1),(x2,y2)<|box_end|>`` or
    ``<box>(x1,y1),(x2,y2)</box>`` (``style="angle"``) on the 0-1000 grid."""
    g = to_grid(box, width=width, height=height)
    body = f"({g[0]},{g[1]}),({g[2]},{g[3]})"
    if style == "qwen2vl":
        return f"{BOX_START}{body}{BOX_END}"
    if style == "angle":
        return f"<box>{body}</box>"
    raise BoxError(f"unknown grid box style {style!r}; expected 'qwen2vl' or 'angle'")


_GRID_PAIR = re.compile(r"\(\s*(\d+)\s*,\s*(\d+)\s*\)\s*,\s*\(\s*(\d+)\s*,\s*(\d+)\s*\)")


def parse_grid_box(text: str, *, width: int, height: int) -> Box:
    """Parse a ``(x1,y1),(x2,y2)`` 0-1000 grid box (with or without tokens) into pixels."""
    match = _GRID_PAIR.search(text)
    if match is None:
        raise BoxError(f"not a grid box: {text!r}")
    grid = tuple(int(v) for v in match.groups())
    return from_grid(grid, width=width, height=height)


def to_m3d(box: Sequence[int], *, width: int, height: int, n_slices: int) -> tuple[float, ...]:
    """Pixel 3D box -> M3D's normalized ``[d1,h1,w1,d2,h2,w2]`` (inclusive max / size, 3 dp)."""
    x1, y1, z1, x2, y2, z2 = _as_3d(box)
    return (
        round(z1 / n_slices, 3),
        round(y1 / height, 3),
        round(x1 / width, 3),
        round((z2 - 1) / n_slices, 3),
        round((y2 - 1) / height, 3),
        round((x2 - 1) / width, 3),
    )


def from_m3d(values: Sequence[float], *, width: int, height: int, n_slices: int) -> Box:
    """M3D ``[d1,h1,w1,d2,h2,w2]`` -> pixel box; exact inverse of ``to_m3d`` for sides < 1000."""
    if len(values) != 6:
        raise BoxError(f"an M3D box has 6 values, got {len(values)}")
    d1, h1, w1, d2, h2, w2 = values
    return (
        round(w1 * width),
        round(h1 * height),
        round(d1 * n_slices),
        round(w2 * width) + 1,
        round(h2 * height) + 1,
        round(d2 * n_slices) + 1,
    )


# The reference system's crop hygiene (UniReason-Med ``urm_bbox_utils.py``): integer coordinates
# clamped to the image, at least 4 px a side (grown symmetrically), an aspect ratio of at most
# 180 (the short side grown), and no upscaling of the crop itself.
CROP_MIN_SIDE = 4
CROP_MAX_ASPECT = 180


def crop_window(box: Sequence[int], *, width: int, height: int) -> tuple[int, int, int, int]:
    """The pixel window ``(x1, y1, x2, y2)`` to crop for the xy part of a box, half-open and
    inside a ``width`` x ``height`` image, with the reference's crop hygiene."""
    x1, y1, x2, y2 = (int(v) for v in box)
    x1, x2 = sorted((min(max(x1, 0), width), min(max(x2, 0), width)))
    y1, y2 = sorted((min(max(y1, 0), height), min(max(y2, 0), height)))
    x1, x2 = _grow(x1, x2, CROP_MIN_SIDE, width)
    y1, y2 = _grow(y1, y2, CROP_MIN_SIDE, height)
    if (x2 - x1) > CROP_MAX_ASPECT * (y2 - y1):
        y1, y2 = _grow(y1, y2, -(-(x2 - x1) // CROP_MAX_ASPECT), height)
    elif (y2 - y1) > CROP_MAX_ASPECT * (x2 - x1):
        x1, x2 = _grow(x1, x2, -(-(y2 - y1) // CROP_MAX_ASPECT), width)
    return x1, y1, x2, y2


def crop_planes(box: Sequence[int], n_images: int) -> tuple[range, tuple[int, int, int, int]]:
    """Which images a box's crops come from, and its xy part: the first image for a 2D box;
    for a 3D box every slice in ``[z1, z2)`` with ``z1`` clamped into ``[0, K-1]`` and ``z2``
    into ``[z1+1, K]``, as the reference inference does.

    Raises:
        BoxError: a box with neither 4 nor 6 values, or no image.
    """
    if n_images < 1:
        raise BoxError("no image to crop")
    _check_arity(box)
    if len(box) == 4:
        return range(1), (int(box[0]), int(box[1]), int(box[2]), int(box[3]))
    z1 = min(max(int(box[2]), 0), n_images - 1)
    z2 = min(max(int(box[5]), z1 + 1), n_images)
    return range(z1, z2), (int(box[0]), int(box[1]), int(box[3]), int(box[4]))


def _grow(lo: int, hi: int, side: int, limit: int) -> tuple[int, int]:
    """Expand ``[lo, hi)`` symmetrically to at least ``side`` pixels, kept inside ``[0, limit)``."""
    side = min(side, limit)
    if hi - lo >= side:
        return lo, hi
    lo = max(0, lo - (side - (hi - lo)) // 2)
    hi = lo + side
    if hi > limit:
        hi, lo = limit, limit - side
    return lo, hi


def _check_arity(box: Sequence[int]) -> None:
    if len(box) not in (4, 6):
        raise BoxError(f"a box has 4 (2D) or 6 (3D) coordinates, got {len(box)}: {list(box)}")


def _as_2d(box: Sequence[int]) -> tuple[int, int, int, int]:
    if len(box) != 4:
        raise BoxError(f"expected a 2D box of 4 coordinates, got {list(box)}")
    return (int(box[0]), int(box[1]), int(box[2]), int(box[3]))


def _as_3d(box: Sequence[int]) -> tuple[int, int, int, int, int, int]:
    if len(box) != 6:
        raise BoxError(f"expected a 3D box of 6 coordinates, got {list(box)}")
    return tuple(int(v) for v in box)  # type: ignore[return-value]
