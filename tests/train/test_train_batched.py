"""Batched crop-and-continue rollouts: one padded generate per round, as one by one."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="needs the [train] extra")
pytest.importorskip("transformers", reason="needs the [train] extra")

from unimed_cot.train.batched import model_generate_batch_fn, rollout_batch  # noqa: E402
from unimed_cot.train.data import load_samples  # noqa: E402
from unimed_cot.train.model import load_model  # noqa: E402
from unimed_cot.train.processor import load_processor  # noqa: E402
from unimed_cot.train.rollout import model_generate_fn, rollout  # noqa: E402


def test_scripted_batch_injects_each_rows_own_crops(tiny_model: Path, train_release: Path) -> None:
    processor = load_processor(tiny_model)
    two = load_samples(str(train_release), mix={"2d": 1}, limit=1)[0]
    three = load_samples(str(train_release), mix={"3d": 1}, limit=1)[0]
    scripts = [
        ["<think><|box_start|>[10,12,40,50]<|box_end|>", " a</think>A<|im_end|>"],
        ["<think><|box_start|>[4,6,1,30,40,3]<|box_end|>", " b</think>B<|im_end|>"],
    ]
    encoded = [
        [processor.tokenizer(c, add_special_tokens=False)["input_ids"] for c in s] for s in scripts
    ]
    calls: list[int] = []

    def generate(rows, max_new_tokens):  # type: ignore[no-untyped-def]
        calls.append(len(rows))
        return [encoded[i][len(calls) - 1] for i in range(len(rows))]

    batched = rollout_batch([two, three], processor, generate)
    assert calls == [2, 2]  # one call per round for both rows
    for sample, script, got in zip([two, three], encoded, batched, strict=True):
        it = iter(script)
        alone = rollout(sample, processor, lambda inputs, n: next(it))  # noqa: B023
        assert got.completion_ids == alone.completion_ids and got.mask == alone.mask
        assert got.text == alone.text and got.boxes == alone.boxes
        assert all(
            np.array_equal(np.asarray(a), np.asarray(b))
            for a, b in zip(got.images, alone.images, strict=True)
        )
    assert len(batched[1].images) == len(three.images) + 2  # slices 1 and 2


def test_one_padded_generate_matches_one_by_one(tiny_model: Path, train_release: Path) -> None:
    processor = load_processor(tiny_model)
    model = load_model(tiny_model).eval()
    sample = load_samples(str(train_release), mix={"2d": 1}, limit=1)[0]
    alone = rollout(sample, processor, model_generate_fn(model, processor), max_new_tokens=8)
    batch = rollout_batch(
        [sample, sample], processor, model_generate_batch_fn(model, processor), max_new_tokens=8
    )
    assert [r.completion_ids for r in batch] == [alone.completion_ids] * 2
    three = load_samples(str(train_release), mix={"3d": 1}, limit=1)[0]
    mixed = rollout_batch(  # rows of different lengths: left padding, own images per row
        [sample, three], processor, model_generate_batch_fn(model, processor), max_new_tokens=6
    )
    assert mixed[0].completion_ids == alone.completion_ids[: len(mixed[0].completion_ids)]
    assert all(
        0 < len(r.completion_ids) <= 6 and len(r.mask) == len(r.completion_ids) for r in mixed
    )
