"""Per-question CT windows: the same slices under the preset that shows a question's structures.

A case's slices are published under one window chosen from everything its label map covers
(``window.choose_ct_window``). A question about a smaller structure that another preset shows
better (the lungs of an abdominal CT, a vertebra, a lung nodule) gets its slices under that
preset instead: the question's evidence labels vote with the same rule, restricted to them.
Views are rendered on demand, once per preset, from the slices the case already picked, so a
case whose questions all agree with its window costs nothing extra. The choice is recorded on
every row (``window``). Labels that no preset recognises keep the case's window, which was
chosen with the whole label map as context. 2D CT in HU (``ct_views_2d``) works the same way,
with annotated areas voting instead of volumes.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from unimed_cot.records import Case, Image2D, UInt8Array

from .resize import resize_intensity
from .window import (
    WindowPreset,
    choose_ct_preset,
    choose_ct_window,
    to_unit,
    unit_to_uint8,
    window_group,
)


@dataclass(slots=True)
class CtWindowViews:
    """The slices of one CT case under any preset, rendered lazily and kept.

    Attributes:
        default: the case's own preset (its ``images`` are already rendered).
        volumes_ml: volume of every present label, by name.
        lesions: names of the labels that are lesions.
        render: renders the picked slices under a preset (same slices, padding and size).
    """

    default: WindowPreset
    default_images: list[UInt8Array]
    volumes_ml: dict[str, float]
    lesions: frozenset[str]
    render: Callable[[WindowPreset], list[UInt8Array]]
    _rendered: dict[str, list[UInt8Array]] = field(default_factory=dict)

    def preset_for(self, labels: Collection[str]) -> WindowPreset:
        """The preset for a question whose evidence shows ``labels`` (the case's when none)."""
        present = {name: self.volumes_ml.get(name, 0.0) for name in labels}
        if not any(ml > 0 and window_group(name) for name, ml in present.items()):
            return self.default
        preset, _ = choose_ct_window(present, self.lesions)
        return preset

    def for_labels(self, labels: Collection[str]) -> tuple[str, list[UInt8Array]]:
        """(published window string, slices) for a question about ``labels``."""
        preset = self.preset_for(labels)
        return preset.describe(), self._images(preset)

    def all_views(self) -> dict[str, list[UInt8Array]]:
        """Every view a question of this case can get, by window string (for ``hydrate``)."""
        presets = {self.default, *(self.preset_for([name]) for name in self.volumes_ml)}
        return {preset.describe(): self._images(preset) for preset in presets}

    def _images(self, preset: WindowPreset) -> list[UInt8Array]:
        if preset == self.default:
            return self.default_images
        if preset.name not in self._rendered:
            self._rendered[preset.name] = self.render(preset)
        return self._rendered[preset.name]


def ct_views_2d(
    case: Case, hounsfield: npt.NDArray[np.generic], size: tuple[int, int]
) -> CtWindowViews:
    """A 2D CT image in HU under the preset of its annotated structures (areas vote, as
    volumes do for a 3D case), other presets on demand for questions about other structures.
    A window the source gives for the image (``Case.source_window``, DeepLesion's
    ``DICOM_windows``) is used for every question instead, published as ``CT source W.. L..``."""
    areas: dict[str, float] = {}
    label_map = case.label_map
    if isinstance(label_map, Image2D):
        counts = np.bincount(np.asarray(label_map.array, dtype=np.int64).ravel())
        for value, name in case.labels.items():
            if 0 < value < counts.size and counts[value]:
                areas[name] = areas.get(name, 0.0) + float(counts[value])
    for annotation in case.boxes:
        x1, y1, x2, y2 = annotation.box
        areas[annotation.label] = areas.get(annotation.label, 0.0) + (x2 - x1) * (y2 - y1)
    if case.source_window is not None:
        # The source's own window for this image wins; with no votes every question keeps it.
        low, high = case.source_window
        preset = WindowPreset("source", high - low, (low + high) / 2)
        areas = {}
    elif areas:
        preset, _ = choose_ct_window(areas, case.lesion_labels)
    else:
        preset = choose_ct_preset(case.labels.values())

    def render(preset: WindowPreset) -> list[UInt8Array]:
        unit = to_unit(hounsfield, preset.low, preset.high)
        return [unit_to_uint8(np.asarray(resize_intensity(unit, *size)))]

    return CtWindowViews(
        default=preset,
        default_images=render(preset),
        volumes_ml=areas,  # areas in source pixels: only their ratios vote
        lesions=frozenset(case.lesion_labels),
        render=render,
    )
