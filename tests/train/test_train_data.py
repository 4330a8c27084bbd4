"""Rows -> samples, prompts, mixture, grounding ablation, crops and injection (no torch needed)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from unimed_cot.boxes import BOX_END, BOX_START
from unimed_cot.train.data import (
    SYSTEM_PROMPT_2D,
    SYSTEM_PROMPT_3D,
    load_samples,
    parse_mix,
    strip_grounding,
    to_conversation,
)
from unimed_cot.train.errors import TrainError
from unimed_cot.train.regions import crop_region, inject_regions, last_box


def _stack(k: int = 5, size: int = 40) -> list[Image.Image]:
    rng = np.random.default_rng(0)
    return [
        Image.fromarray(rng.integers(0, 255, (size, size, 3), dtype=np.uint8)) for _ in range(k)
    ]


def test_samples_follow_the_reference_prompts(train_release: Path) -> None:
    samples = load_samples(str(train_release), mix=parse_mix("2d=1,3d=1"))
    two = next(s for s in samples if s.dims == 2)
    three = next(s for s in samples if s.dims == 3)
    assert two.system == SYSTEM_PROMPT_2D and "[x1,y1,x2,y2]" in two.system
    assert three.system == SYSTEM_PROMPT_3D and "[x1,y1,z1,x2,y2,z2]" in three.system
    assert "option_letter. option_content" in two.system
    user = three.prompt_messages()[1]["content"]
    # 3D: the K slices as separate images, then the question with lettered options.
    assert [c["type"] for c in user] == ["image"] * len(three.images) + ["text"]
    assert len(three.images) == 4
    assert "\nA. " in user[-1]["text"] and "Please answer with A, B" in user[-1]["text"]
    conversation = to_conversation(two)
    assert conversation["messages"][-1]["content"][0]["text"] == two.target
    assert conversation["images"] == two.images


def test_mix_selects_configs(train_release: Path) -> None:
    only_2d = load_samples(str(train_release), mix=parse_mix("2d"))
    assert {s.dims for s in only_2d} == {2} and len(only_2d) == 11
    both = load_samples(str(train_release), mix=parse_mix("2d=1,3d=1"))
    assert len(both) == 29  # 11 2D rows + 18 3D rows (the volumes ask ~9 questions each)
    half_3d = load_samples(str(train_release), mix=parse_mix("2d=1,3d=0.5"))
    assert sum(s.dims == 3 for s in half_3d) == 9


@pytest.mark.parametrize("text", ["4d=1", "2d=0", "2d=x", ""])
def test_bad_mix_is_a_usage_error(text: str) -> None:
    with pytest.raises(TrainError):
        parse_mix(text)


def test_no_grounding_strips_every_box(train_release: Path) -> None:
    samples = load_samples(str(train_release), mix={"3d": 1}, grounding=False)
    assert all(BOX_START not in s.target and BOX_END not in s.target for s in samples)
    assert strip_grounding(f"I see it {BOX_START}[1,2,3,4]{BOX_END}.") == "I see it."


def test_2d_crop_is_the_right_pixels() -> None:
    image = _stack(1)[0]
    (crop,) = crop_region([image], (3, 5, 20, 31))
    assert np.array_equal(np.asarray(crop), np.asarray(image)[5:31, 3:20])


def test_3d_crop_takes_every_slice_of_the_half_open_range() -> None:
    stack = _stack(5)
    crops = crop_region(stack, (2, 4, 1, 30, 22, 4))
    assert len(crops) == 3
    for z, crop in zip(range(1, 4), crops, strict=True):
        assert np.array_equal(np.asarray(crop), np.asarray(stack[z])[4:22, 2:30])


def test_crop_hygiene_clamps_and_grows_tiny_boxes() -> None:
    stack = _stack(3)
    (tiny,) = crop_region(stack, (10, 10, 11, 11))
    assert min(tiny.size) >= 4
    (clamped,) = crop_region(stack, (-5, -5, 100, 100))
    assert clamped.size == (40, 40)
    # z beyond the stack is clamped to the last slice, as the reference inference does.
    assert len(crop_region(stack, (0, 0, 7, 10, 10, 9))) == 1


def test_injection_puts_crops_right_after_each_box() -> None:
    stack = _stack(4)
    target = (
        f"<think>first {BOX_START}[1,1,0,20,20,2]{BOX_END} then "
        f"{BOX_START}[5,5,3,30,30,4]{BOX_END} done</think>A. x"
    )
    content, crops = inject_regions(target, stack)
    kinds = [c["type"] for c in content]
    assert kinds == ["text", "image", "image", "text", "image", "text"]
    assert content[0]["text"].endswith(BOX_END) and content[3]["text"].endswith(BOX_END)
    assert len(crops) == 3
    assert np.array_equal(np.asarray(crops[2]), np.asarray(stack[3])[5:30, 5:30])
    assert "".join(c.get("text", "") for c in content) == target


def test_malformed_box_gets_no_crop() -> None:
    content, crops = inject_regions(f"<think>{BOX_START}[1,2]{BOX_END}</think>B", _stack(1))
    assert crops == [] and all(c["type"] == "text" for c in content)
    assert last_box(f"x {BOX_START}(1, 2, 3, 4){BOX_END}") == (1, 2, 3, 4)
