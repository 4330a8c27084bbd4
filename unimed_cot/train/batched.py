"""Batched crop-and-continue: every live rollout of a step advances in one padded ``generate``.

GRPO's rollouts (``prompts_per_step`` × ``num_generations``) each need their own images (prompt
images, then the crops they asked for), so a round gathers the live rollouts, left-pads their
token ids, concatenates their pixels in order, and calls ``model.generate`` once; each row's new
tokens are cut after its first stop token (``<|box_end|>`` or end of turn) and at its own budget,
then :func:`~unimed_cot.train.rollout.advance` injects crops exactly as the one-at-a-time
:func:`~unimed_cot.train.rollout.rollout` does. Tokens a row wrote after its stop are discarded
(HF pads finished rows, and a row stopped at a box needs its crops before going on).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from PIL import Image

from unimed_cot.boxes import BOX_END
from unimed_cot.train.data import TrainSample
from unimed_cot.train.rollout import (
    Rollout,
    advance,
    end_token_ids,
    sampling_config,
    start_rollout,
)

# ([(token ids, images)] of the live rollouts, max new tokens) -> new tokens per rollout
BatchGenerateFn = Callable[[Sequence[tuple[list[int], list[Image.Image]]], int], list[list[int]]]


def batch_inputs(
    processor: Any, rows: Sequence[tuple[list[int], list[Image.Image]]]
) -> dict[str, Any]:
    """Left-padded ids and mask, and every row's images in row order (pixels and grids)."""
    import torch

    pad = processor.tokenizer.pad_token_id
    width = max(len(ids) for ids, _ in rows)
    input_ids = torch.full((len(rows), width), pad, dtype=torch.long)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    for row, (ids, _) in enumerate(rows):
        input_ids[row, width - len(ids) :] = torch.tensor(ids)
        mask[row, width - len(ids) :] = 1
    inputs: dict[str, Any] = {"input_ids": input_ids, "attention_mask": mask}
    images = [image for _, row_images in rows for image in row_images]
    if images:
        pixels = processor.image_processor(images=images, return_tensors="pt")
        inputs["pixel_values"] = pixels["pixel_values"]
        inputs["image_grid_thw"] = pixels["image_grid_thw"]
        inputs["mm_token_type_ids"] = (input_ids == processor.image_token_id).long() * mask
    return inputs


def model_generate_batch_fn(
    model: Any, processor: Any, *, do_sample: bool = False, temperature: float = 1.0
) -> BatchGenerateFn:
    """A :data:`BatchGenerateFn` over one ``model.generate`` call per round."""
    import torch

    tokenizer = processor.tokenizer
    stops = end_token_ids(tokenizer) | {tokenizer.convert_tokens_to_ids(BOX_END)}

    def generate(
        rows: Sequence[tuple[list[int], list[Image.Image]]], max_new_tokens: int
    ) -> list[list[int]]:
        inputs = batch_inputs(processor, rows)
        width = inputs["input_ids"].shape[1]
        device = next(model.parameters()).device
        config = sampling_config(
            model,
            tokenizer,
            do_sample=do_sample,
            temperature=temperature,
            max_new_tokens=max_new_tokens,
        )
        saved, model.generation_config = model.generation_config, config
        try:
            with torch.no_grad():
                out = model.generate(
                    **{k: v.to(device) for k, v in inputs.items()}, generation_config=config
                )
        finally:
            model.generation_config = saved
        news = []
        for row in out[:, width:].tolist():
            cut = next((i + 1 for i, t in enumerate(row) if t in stops), len(row))
            news.append([int(t) for t in row[:cut]])
        return news

    return generate


def rollout_batch(
    samples: Sequence[TrainSample],
    processor: Any,
    generate: BatchGenerateFn,
    *,
    max_rounds: int = 10,
    max_new_tokens: int = 512,
    tokens_per_round: int | None = None,
    max_injected_tokens: int = 8192,
    region_tokens: bool = True,
) -> list[Rollout]:
    """One rollout per entry of ``samples`` (repeat a sample for several generations), advanced
    together: one ``generate`` per round over every rollout still going."""
    states = [start_rollout(s, processor, tokens_per_round=tokens_per_round) for s in samples]
    for state in states:
        state.done = max_rounds < 1 or max_new_tokens < 1
    while live := [s for s in states if not s.done]:
        budgets = [s.budget(max_new_tokens) for s in live]
        rows = [(s.result.prompt_ids + s.result.completion_ids, s.result.images) for s in live]
        news = generate(rows, max(budgets))
        for state, new, budget in zip(live, news, budgets, strict=True):
            advance(
                state,
                new[:budget],
                processor,
                max_rounds=max_rounds,
                max_new_tokens=max_new_tokens,
                max_injected_tokens=max_injected_tokens,
                region_tokens=region_tokens,
            )
    return [s.result for s in states]
