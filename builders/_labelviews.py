"""Label views: one source label map read as several disjoint label maps (sub-regions, unions).

Some sources define regions that overlap: BraTS's tumour core is necrosis + enhancing tumour,
its whole tumour all three sub-regions; nnU-Net's region-based ``dataset.json`` maps a name to a
*list* of label values. One published label map cannot hold overlapping regions, so a builder
lists one record per *view* of a case: the sub-regions as stored, and each union as a label map
of its own, derived voxel by voxel from the full-resolution source map (``np.isin``) before any
slice is picked. Every view is measured, sliced and asked about like any label map, so a union's
size, extent and sides are those of the union's voxels, never a sum of boxes.

A union and its members are related in the question vocabulary (``questions.vocabulary``: the
members lie within the union), so no option set offers a part next to its whole.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from ._common import UndeclaredLabelError


@dataclass(frozen=True, slots=True)
class LabelView:
    """One disjoint label map derived from a source label map.

    Attributes:
        key: the view's suffix in case ids ("" for the sub-regions as stored).
        regions: view value -> (name, the source values it unions).
    """

    key: str
    regions: Mapping[int, tuple[str, tuple[int, ...]]]

    @property
    def labels(self) -> dict[int, str]:
        """View value -> name, the ``Case.labels`` of the view."""
        return {value: name for value, (name, _) in self.regions.items()}

    def describe(self) -> str:
        """One history line: which source values each view label unions."""
        parts = [
            f"{name} = source label{'s' if len(values) > 1 else ''} "
            f"{' + '.join(str(v) for v in values)}"
            for name, values in self.regions.values()
        ]
        return f"label view {self.key or 'sub-regions'}: " + "; ".join(parts)


def union_view(key: str, name: str, values: tuple[int, ...]) -> LabelView:
    """A view holding one union region (value 1) of the given source values."""
    return LabelView(key=key, regions={1: (name, tuple(values))})


def apply_view(source: npt.NDArray[np.generic], view: LabelView) -> npt.NDArray[np.integer]:
    """The view's label map, voxel for voxel from ``source`` (full resolution).

    A view whose regions share a source value is a bug of its builder (views are disjoint).
    """
    used = [v for _, values in view.regions.values() for v in values]
    if len(used) != len(set(used)):
        raise ValueError(f"label view {view.key!r} uses a source value twice: {used}")
    dtype = np.uint8 if max(view.regions, default=0) < 256 else np.uint16
    out: npt.NDArray[np.integer] = np.zeros(source.shape, dtype=dtype)
    for value, (_, members) in view.regions.items():
        out[np.isin(source, members)] = value
    return out


def check_declared(
    source: npt.NDArray[np.generic], declared: set[int], *, case_id: str, name: str
) -> None:
    """Raise ``UndeclaredLabelError`` when ``source`` holds a value outside ``declared`` (0 is
    background), naming up to five of them."""
    values = np.unique(source)
    unexpected = sorted(int(v) for v in values if int(v) != 0 and int(v) not in declared)
    if unexpected:
        raise UndeclaredLabelError(
            f"{case_id}: {name} holds label values {unexpected[:5]} that the source does not "
            f"declare (declared: {sorted(declared)})"
        )
