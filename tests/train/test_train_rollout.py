"""Crop-and-continue rollouts (scripted policy and the tiny model) and the GRPO step."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="needs the [train] extra")
pytest.importorskip("transformers", reason="needs the [train] extra")

from unimed_cot.train.data import load_samples  # noqa: E402
from unimed_cot.train.grpo import (  # noqa: E402
    GRPOOptions,
    completion_logprobs,
    group_advantages,
    grpo_loss,
    run_grpo,
)
from unimed_cot.train.model import load_model  # noqa: E402
from unimed_cot.train.processor import load_processor  # noqa: E402
from unimed_cot.train.rewards import format_reward  # noqa: E402
from unimed_cot.train.rollout import model_generate_fn, rollout  # noqa: E402


def _scripted(processor, chunks: list[str]):  # type: ignore[no-untyped-def]
    """A policy that writes ``chunks`` one per call and records what it was shown."""
    encoded = [processor.tokenizer(c, add_special_tokens=False)["input_ids"] for c in chunks]
    seen: list[dict] = []

    def generate(inputs, max_new_tokens):  # type: ignore[no-untyped-def]
        seen.append(inputs)
        return encoded[len(seen) - 1]

    return generate, seen


def test_3d_box_gets_crops_from_the_right_slices_and_continues(
    tiny_model: Path, train_release: Path
) -> None:
    processor = load_processor(tiny_model)
    sample = load_samples(str(train_release), mix={"3d": 1}, limit=1)[0]
    generate, seen = _scripted(
        processor,
        ["<think>look <|box_start|>[4,6,1,30,40,3]<|box_end|>", " fine</think>A. x<|im_end|>"],
    )
    result = rollout(sample, processor, generate)
    assert result.rounds == 2 and result.finished
    assert result.boxes == [(4, 6, 1, 30, 40, 3)]
    crops = result.images[len(sample.images) :]
    assert len(crops) == 2  # slices 1 and 2 of the half-open [1, 3)
    for z, crop in zip((1, 2), crops, strict=True):
        assert np.array_equal(np.asarray(crop), np.asarray(sample.images[z])[6:40, 4:30])
    # The second call saw the crops as pixels, and their tokens right after the box.
    assert len(seen[1]["image_grid_thw"]) == len(sample.images) + 2
    injected = [t for t, m in zip(result.completion_ids, result.mask, strict=True) if not m]
    tokenizer = processor.tokenizer
    assert tokenizer.decode(injected).count("<|vision_start|>") == 2
    assert set(tokenizer.convert_ids_to_tokens(injected)) == {
        "<|vision_start|>",
        "<|image_pad|>",
        "<|vision_end|>",
    }
    assert result.text == "<think>look <|box_start|>[4,6,1,30,40,3]<|box_end|> fine</think>A. x"
    assert format_reward(result.text) == 1.0


def test_2d_box_and_a_malformed_box(tiny_model: Path, train_release: Path) -> None:
    processor = load_processor(tiny_model)
    sample = load_samples(str(train_release), mix={"2d": 1}, limit=1)[0]
    generate, _ = _scripted(
        processor,
        [
            "<think><|box_start|>[1,2,3]<|box_end|>",  # malformed: no crop, goes on
            " and <|box_start|>[10,12,40,50]<|box_end|>",
            "</think>B<|im_end|>",
        ],
    )
    result = rollout(sample, processor, generate)
    assert result.rounds == 3 and result.boxes == [(10, 12, 40, 50)]
    (crop,) = result.images[1:]
    assert np.array_equal(np.asarray(crop), np.asarray(sample.images[0])[12:50, 10:40])


def test_rounds_are_bounded(tiny_model: Path, train_release: Path) -> None:
    processor = load_processor(tiny_model)
    sample = load_samples(str(train_release), mix={"2d": 1}, limit=1)[0]
    generate, _ = _scripted(processor, ["<|box_start|>[1,1,20,20]<|box_end|>"] * 5)
    result = rollout(sample, processor, generate, max_rounds=3)
    assert result.rounds == 3 and not result.finished and len(result.boxes) == 3


def test_tiny_model_rollout_and_masked_loss(tiny_model: Path, train_release: Path) -> None:
    torch.manual_seed(0)
    processor = load_processor(tiny_model)
    model = load_model(tiny_model)
    sample = load_samples(str(train_release), mix={"3d": 1}, limit=1)[0]
    result = rollout(
        sample, processor, model_generate_fn(model, processor, do_sample=True), max_new_tokens=12
    )
    assert 0 < sum(result.mask) <= 12
    logp = completion_logprobs(model, processor, result)
    assert logp.shape == (len(result.completion_ids),) and torch.isfinite(logp).all()
    # Injected positions carry no gradient: mask 0 zeroes them out of the loss.
    mask = torch.tensor([1.0, 0.0, 1.0])
    values = torch.tensor([-1.0, -2.0, -3.0], requires_grad=True)
    grpo_loss(values, values.detach() - 0.1, 0.5, mask, beta=0.01).backward()
    assert values.grad is not None and values.grad[1] == 0 and values.grad[0] != 0


def test_group_advantages() -> None:
    advantages = group_advantages([1.0, 0.0, 0.5, 0.5])
    assert sum(advantages) == pytest.approx(0.0)
    assert advantages[0] > advantages[2] > advantages[1]
    assert group_advantages([0.2, 0.2]) == [0.0, 0.0]


def test_grpo_steps_run_and_save(tiny_model: Path, train_release: Path, tmp_path: Path) -> None:
    result = run_grpo(
        GRPOOptions(
            data=str(train_release),
            model=str(tiny_model),
            output=tmp_path / "grpo",
            max_steps=2,
            num_generations=2,
            max_new_tokens=16,
            learning_rate=1e-3,
            limit=4,
        )
    )
    assert result.steps == 2 and len(result.rewards) == 2
    assert all(0.0 <= r <= 1.0 for r in result.rewards)
    reloaded = load_model(tmp_path / "grpo")
    original = load_model(tiny_model)
    assert any(
        not torch.equal(a, b)
        for a, b in zip(reloaded.parameters(), original.parameters(), strict=True)
    )
