"""Per-question CT windows: a question's evidence structures choose the preset of its slices."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from test_serialize import CONFIG, LABELS, LPS, lps_phantom, make_case

from unimed_cot.imaging import serialize_case
from unimed_cot.imaging.views import CtWindowViews
from unimed_cot.imaging.window import CT_PRESETS, WindowPreset
from unimed_cot.records import Volume


def test_each_question_gets_the_window_of_its_evidence(tmp_path: Path) -> None:
    """A CT case under the abdomen window (liver, spleen) with a small vertebra: a question
    about the vertebra sees the same slices under the bone window, pixel for pixel what a
    case whose only structure is the vertebra gets; the others keep the case's window."""
    ct, labels = lps_phantom()
    labels[60:66, 70:76, :] = 4  # a small vertebra, posterior midline, on every slice
    ct[labels == 4] = 700.0
    names = {**LABELS, 4: "vertebra"}
    case = make_case(Volume(array=ct, affine=LPS), Volume(array=labels, affine=LPS), labels=names)
    out = serialize_case(case, CONFIG)
    assert out.window == "CT abdomen W400 L50" and out.views is not None
    bone_only = np.where(labels == 4, 4, 0).astype(np.uint8)
    alone = serialize_case(
        make_case(Volume(array=ct, affine=LPS), Volume(array=bone_only, affine=LPS), labels=names),
        CONFIG,
    )
    assert alone.window == "CT bone W1800 L400"

    window, images = out.views.for_labels({"vertebra"})
    assert window == alone.window
    for mine, reference in zip(images, alone.images, strict=True):
        np.testing.assert_array_equal(mine, reference)
    assert not np.array_equal(images[2], out.images[2])  # a different rendering of slice 2
    assert out.views.for_labels({"liver", "tumor"})[1] is out.images  # the case's own view
    assert out.views.for_labels(set())[0] == out.window  # no evidence: the case's window
    assert out.views.for_labels({"vertebra"})[1] is images  # rendered once, then kept
    assert set(out.views.all_views()) == {"CT abdomen W400 L50", "CT bone W1800 L400"}


def test_preset_rules_of_window_views() -> None:
    rendered: list[str] = []

    def render(preset: WindowPreset) -> list[np.ndarray]:
        rendered.append(preset.name)
        return [np.zeros((2, 2), np.uint8)]

    views = CtWindowViews(
        default=CT_PRESETS["abdomen"],
        default_images=[np.ones((2, 2), np.uint8)],
        volumes_ml={"liver": 1500.0, "lung nodule": 0.5, "rib": 40.0, "mass": 30.0, "gone": 0.0},
        lesions=frozenset({"lung nodule", "mass"}),
        render=render,
    )
    assert views.preset_for({"liver", "lung nodule"}).name == "lung"  # a lung lesion rules
    assert views.preset_for({"liver", "rib"}).name == "abdomen"  # volumes vote
    assert views.preset_for({"rib"}).name == "bone"
    assert views.preset_for({"mass"}) == views.default  # no preset recognises it
    assert views.preset_for({"gone", "unknown"}) == views.default  # absent: nothing to show
    assert rendered == []  # choosing renders nothing
    assert set(views.all_views()) == {
        "CT abdomen W400 L50",
        "CT lung W1500 L-600",
        "CT bone W1800 L400",
    }
    views.all_views()
    assert sorted(rendered) == ["bone", "lung"]  # each other preset rendered exactly once
