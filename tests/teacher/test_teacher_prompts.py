"""Prompt rendering: messages, images, schema, stable sha, and a golden copy of the text."""

from __future__ import annotations

import base64
import os
from pathlib import Path

import cv2
import jinja2
import numpy as np
import pytest

from unimed_cot.samples import Sample
from unimed_cot.schemas import Trace
from unimed_cot.teacher import TeacherRequest, build_request, request_key
from unimed_cot.teacher import prompts as prompts_module
from unimed_cot.teacher.prompts import all_prompts_sha, environment, prompt_sha

GOLDEN = Path(__file__).parent / "golden"


def decode(url: str) -> np.ndarray:
    """The pixels of a PNG data URL, as OpenCV reads them (BGR for colour)."""
    data = np.frombuffer(base64.b64decode(url.split(",", 1)[1]), np.uint8)
    image = cv2.imdecode(data, cv2.IMREAD_UNCHANGED)
    assert image is not None
    return image


def prompt_text(sample: Sample) -> str:
    messages = build_request(sample, with_images=False).text_messages()
    return "\n\n".join(f"=== {m['role']} ===\n{m['content']}" for m in messages) + "\n"


@pytest.mark.parametrize("fixture", ["sample_3d", "sample_2d"])
def test_golden_prompt(fixture: str, request: pytest.FixtureRequest) -> None:
    """Pins the rendered prompt; after an intended change run with UPDATE_GOLDEN=1 and review."""
    text = prompt_text(request.getfixturevalue(fixture))
    path = GOLDEN / f"prompt_{fixture.removeprefix('sample_')}.txt"
    if os.environ.get("UPDATE_GOLDEN"):
        path.write_text(text, encoding="utf-8")
    assert text == path.read_text(encoding="utf-8")


def test_request_shape(sample_3d: Sample) -> None:
    request = build_request(sample_3d)
    assert request.prompt_id == "trace_3d" and request.images_included
    assert request.response_schema == Trace.model_json_schema()
    system, user = request.messages
    assert system["role"] == "system" and "[R1]" in system["content"]
    parts = user["content"]
    assert [p["type"] for p in parts] == ["image_url"] * 8 + ["text"]  # slices first, in order
    for part, image in zip(parts, sample_3d.pixels.images, strict=False):
        url = part["image_url"]["url"]
        assert url.startswith("data:image/png;base64,")
        np.testing.assert_array_equal(decode(url), image)
    text = parts[-1]["text"]
    assert "R3: liver tumor (lesion in the liver), box [8,16,14,22] on slices 3..4" in text
    assert "Correct answer: B. Right of the spleen" in text


def test_rgb_images_keep_their_colour(sample_2d: Sample) -> None:
    url = build_request(sample_2d).messages[1]["content"][0]["image_url"]["url"]
    bgr = decode(url)
    assert tuple(bgr[0, 0]) == (0, 0, 200)  # red stays red


def test_dry_run_drops_only_images(sample_3d: Sample) -> None:
    full, dry = build_request(sample_3d), build_request(sample_3d, with_images=False)
    assert not dry.images_included
    assert dry.messages[1]["content"] == full.messages[1]["content"][-1:]
    assert full.text_messages()[1]["content"].startswith("[8 image(s)]")

    def key(request: TeacherRequest, model: str) -> str:
        return request_key({"model": model}, request.prompt_sha, request.messages)

    assert key(full, "m") != key(dry, "m") and key(full, "m") != key(full, "n")
    assert key(full, "m") == key(build_request(sample_3d), "m")


def test_question_box_is_named(sample_3d: Sample) -> None:
    from dataclasses import replace

    from unimed_cot.boxes import render_box

    question = replace(
        sample_3d.question,
        text=f"Which structure is outlined by the box {render_box(sample_3d.regions[2].box)}?",
    )
    text = build_request(replace(sample_3d, question=question), with_images=False).messages[1][
        "content"
    ][0]["text"]
    assert "(The box in the question is R3.)" in text


def test_prompt_sha_is_stable_and_covers_includes(
    sample_3d: Sample, sample_2d: Sample, monkeypatch: pytest.MonkeyPatch
) -> None:
    sha_3d = build_request(sample_3d).prompt_sha
    assert sha_3d == prompt_sha("system.j2", "trace_3d.j2") and len(sha_3d) == 64
    assert sha_3d != build_request(sample_2d).prompt_sha
    assert all_prompts_sha() not in (sha_3d, build_request(sample_2d).prompt_sha)
    environment().get_template("trace_3d.j2")  # the include resolves
    # an included template is part of the hash: editing only the include changes it
    original = prompts_module._read
    monkeypatch.setattr(
        prompts_module,
        "_read",
        lambda name: original(name) + ("!" if name == "_question.j2" else ""),
    )
    prompt_sha.cache_clear()
    try:
        assert prompt_sha("system.j2", "trace_3d.j2") != sha_3d
    finally:
        prompt_sha.cache_clear()


def test_templates_are_strict() -> None:
    with pytest.raises(jinja2.UndefinedError):
        environment().from_string("{{ missing }}").render()
