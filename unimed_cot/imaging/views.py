"""Per-question CT windows: the same slices under the preset that shows a question's structures.

A case's slices are published under one window chosen from everything its label map covers
(``window.choose_ct_window``). A question about a smaller structure that another preset shows
better (the lungs of an abdominal CT, a vertebra, a lung nodule) gets its slices under that
preset instead: the question's evidence labels vote with the same rule, restricted to them.
Views are rendered on demand, once per preset, from the slices the case already picked, so a
case whose questions all agree with its window costs nothing extra. The choice is recorded on
every row (``window``). Labels that no preset recognises keep the case's window, which was
chosen with the whole label map as context.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from dataclasses import dataclass, field

from unimed_cot.records import UInt8Array

from .window import WindowPreset, choose_ct_window, window_group


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
