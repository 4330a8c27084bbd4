"""Regressions of issue 16: region tokens off at evaluation, per-box scoring, the processor's
resizing, tempered log-probs, plain sampling, box arity, ``<|endoftext|>``, the shared prompts."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

torch = pytest.importorskip("torch", reason="needs the [train] extra")
pytest.importorskip("transformers", reason="needs the [train] extra")

from unimed_cot.boxes import BOX_END, BOX_START  # noqa: E402
from unimed_cot.chat import system_prompt, user_text  # noqa: E402
from unimed_cot.train.collator import SFTCollator  # noqa: E402
from unimed_cot.train.data import Region, TrainSample, load_rows, load_samples  # noqa: E402
from unimed_cot.train.errors import TrainError  # noqa: E402
from unimed_cot.train.evaluate import evaluate_samples, score_boxes  # noqa: E402
from unimed_cot.train.grpo import completion_logprobs  # noqa: E402
from unimed_cot.train.model import load_model  # noqa: E402
from unimed_cot.train.processor import load_processor  # noqa: E402
from unimed_cot.train.regions import inject_regions  # noqa: E402
from unimed_cot.train.rollout import (  # noqa: E402
    end_token_ids,
    model_generate_fn,
    model_inputs,
    rollout,
)


def _scripted(processor, chunks: list[str]):  # type: ignore[no-untyped-def]
    encoded = [processor.tokenizer(c, add_special_tokens=False)["input_ids"] for c in chunks]
    seen: list[dict] = []

    def generate(inputs, max_new_tokens):  # type: ignore[no-untyped-def]
        seen.append(inputs)
        return encoded[len(seen) - 1]

    return generate, seen


def _sample(dims: int, box: tuple[int, ...]) -> TrainSample:
    k = 1 if dims == 2 else 4
    images = [Image.fromarray(np.full((56, 84, 3), 40 * i, np.uint8)) for i in range(k)]
    return TrainSample(
        id="s/1/0",
        dims=dims,
        source="s",
        question_type="t",
        system="",
        question="q",
        images=images,
        target="",
        answer="A. x",
        regions=[Region("R1", "x", box)],
        options=["x"],
    )


# 1. region tokens off is off at evaluation


def test_eval_without_region_tokens_injects_no_crop(tiny_model: Path, train_release: Path) -> None:
    processor = load_processor(tiny_model)
    sample = load_samples(str(train_release), mix={"2d": 1}, limit=1)[0]
    chunks = ["<think><|box_start|>[10,12,40,50]<|box_end|>", " ok</think>A<|im_end|>"]
    generate, seen = _scripted(processor, chunks)
    report = evaluate_samples([sample], processor, generate, region_tokens=False)
    assert len(seen) == 2 and all(len(s["image_grid_thw"]) == 1 for s in seen)
    assert report.region_tokens is False
    assert report.predictions[0].boxes_written == 1
    generate, seen = _scripted(processor, chunks)
    evaluate_samples([sample], processor, generate)  # on: the crop is shown
    assert len(seen[1]["image_grid_thw"]) == 2


# 5. one malformed box spoils no other


def test_a_malformed_box_does_not_zero_the_good_one() -> None:
    text = f"<think>{BOX_START}[10,10,30,30]{BOX_END} {BOX_START}[1,2,3]{BOX_END}</think>A. x"
    assert score_boxes(text, _sample(2, (10, 10, 30, 30))) == (2, 1, [1.0])
    text = f"{BOX_START}[10,10,1,30,30,3]{BOX_END}{BOX_START}oops{BOX_END}"
    assert score_boxes(text, _sample(3, (10, 10, 1, 30, 30, 3))) == (2, 1, [1.0])


# 9. the processor must not resize published images


def test_a_processor_that_resizes_is_refused(
    tiny_model: Path, train_release: Path, tmp_path: Path
) -> None:
    small = tmp_path / "small"
    shutil.copytree(tiny_model, small)
    config_path = small / "preprocessor_config.json"
    config = json.loads(config_path.read_text())
    config["max_pixels"] = 28 * 28 * 4
    config["size"] = {"shortest_edge": 28 * 28, "longest_edge": 28 * 28 * 4}
    config_path.write_text(json.dumps(config))
    processor = load_processor(small)
    sample = next(s for s in load_samples(str(train_release), mix={"2d": 1}))
    assert max(sample.images[0].size) > 56
    with pytest.raises(TrainError, match="max_pixels"):
        SFTCollator(processor, [sample]).encode([sample])
    generate, _ = _scripted(processor, ["A<|im_end|>"])
    with pytest.raises(TrainError, match="resizes"):
        rollout(sample, processor, generate)
    # the shipped tiny processor keeps them as they are
    SFTCollator(load_processor(tiny_model), [sample]).encode([sample])


# 9. log-probs at the sampling temperature


def test_logprobs_are_those_of_the_tempered_distribution(
    tiny_model: Path, train_release: Path
) -> None:
    processor = load_processor(tiny_model)
    model = load_model(tiny_model).eval()
    sample = load_samples(str(train_release), mix={"2d": 1}, limit=1)[0]
    generate, _ = _scripted(processor, ["<think>a</think>B<|im_end|>"])
    result = rollout(sample, processor, generate)
    ids = result.prompt_ids + result.completion_ids
    with torch.no_grad():
        logits = model(**model_inputs(processor, ids, result.images)).logits[0]
        start = len(result.prompt_ids) - 1
        manual = torch.log_softmax(logits[start:-1] / 2.0, dim=-1)
        manual = manual.gather(1, torch.tensor(result.completion_ids)[:, None]).squeeze(1)
        got = completion_logprobs(model, processor, result, temperature=2.0)
        plain = completion_logprobs(model, processor, result)
    assert torch.allclose(got, manual, atol=1e-5)
    assert not torch.allclose(got, plain, atol=1e-3)


# 9. the checkpoint's generation settings do not leak into sampling


def test_generation_ignores_the_checkpoints_repetition_penalty(
    tiny_model: Path, train_release: Path
) -> None:
    processor = load_processor(tiny_model)
    model = load_model(tiny_model).eval()
    sample = load_samples(str(train_release), mix={"2d": 1}, limit=1)[0]
    prompt = processor.apply_chat_template(
        sample.prompt_messages(), tokenize=False, add_generation_prompt=True
    )
    encoded = processor(text=[prompt], images=sample.images)
    inputs = model_inputs(processor, [int(t) for t in encoded["input_ids"][0]], sample.images)
    # Greedy by hand: argmax of the plain logits (vision tokens suppressed, as in generation).
    ids = inputs["input_ids"][0].tolist()
    banned = processor.tokenizer.convert_tokens_to_ids(
        ["<|vision_start|>", "<|image_pad|>", "<|vision_end|>", "<|video_pad|>"]
    )
    expected = []
    for _ in range(6):
        step = model_inputs(processor, ids, sample.images)
        with torch.no_grad():
            logits = model(**step).logits[0, -1]
        logits[banned] = -float("inf")
        token = int(logits.argmax())
        expected.append(token)
        ids.append(token)
        if token in end_token_ids(processor.tokenizer):
            break
    model.generation_config.repetition_penalty = 1e4
    model.generation_config.no_repeat_ngram_size = 1
    got = model_generate_fn(model, processor)(inputs, len(expected))
    assert got[: len(expected)] == expected


# 9. SFT and RL agree on wrong-arity boxes


def test_wrong_arity_boxes_get_no_crop_in_sft() -> None:
    six = f"<think>{BOX_START}[1,1,0,20,20,1]{BOX_END}</think>A"
    assert inject_regions(six, _sample(2, (0, 0, 1, 1)).images, dims=2)[1] == []
    four = f"<think>{BOX_START}[1,1,20,20]{BOX_END}</think>A"
    assert inject_regions(four, _sample(3, (0, 0, 1, 1)).images, dims=3)[1] == []
    assert len(inject_regions(four, _sample(2, (0, 0, 1, 1)).images, dims=2)[1]) == 1


# 9. <|endoftext|> ends the turn


def test_endoftext_ends_a_rollout(tiny_model: Path, train_release: Path) -> None:
    processor = load_processor(tiny_model)
    tokenizer = processor.tokenizer
    assert tokenizer.convert_tokens_to_ids("<|endoftext|>") in end_token_ids(tokenizer)
    sample = load_samples(str(train_release), mix={"2d": 1}, limit=1)[0]
    generate, seen = _scripted(processor, ["<think>a</think>B<|endoftext|>", "never"])
    result = rollout(sample, processor, generate)
    assert result.finished and result.rounds == 1 and len(seen) == 1
    assert result.text == "<think>a</think>B"


# 9. the trainer prompts rows as the exports do


def test_prompts_are_the_exports_own(train_release: Path) -> None:
    rows = load_rows(str(train_release), mix={"2d": 1, "3d": 1})
    samples = load_samples(str(train_release), mix={"2d": 1, "3d": 1})
    for row, sample in zip(rows, samples, strict=True):
        dims = int(row["dims"])
        assert sample.system == system_prompt(dims)
        expected = user_text(question=row["question"], options=row["options"] or [], dims=dims)
        assert sample.question == expected
    assert any(s.dims == 3 for s in samples)
