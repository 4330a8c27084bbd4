"""Crop-and-continue generation, 2D and 3D: the rollout of GRPO and of evaluation.

Generation stops at ``<|box_end|>`` (or end of turn). When a chunk ends with a box, the box is
parsed, its crops (2D: one; 3D: one per slice in ``[z1, z2)``) are appended to the same assistant
turn as ``<|vision_start|><|image_pad|>…<|vision_end|>`` tokens, and generation continues, for at
most ``max_rounds`` rounds. Each completion token carries a mask bit: 1 for tokens the model wrote,
0 for injected vision tokens, which are never trained on (the reference RL's ``response_mask``).

TRL's ``GRPOTrainer`` (1.16, checked) does not fit this loop: on its ``rollout_func`` path
``_generate`` returns no images and the trainer falls back to the dataset's images, so the loss
forward would see the crops' ``<|image_pad|>`` tokens without their pixels (a feature/token count
mismatch); its tool loop can carry images but only for tool-call JSON, not the box syntax.
:mod:`unimed_cot.train.grpo` therefore runs its own small GRPO step on these rollouts, and its
reward reads the text this module decodes (special tokens kept), not TRL's stripped decode.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from PIL import Image

from unimed_cot.boxes import BOX_END, BOX_START
from unimed_cot.train.data import TrainSample
from unimed_cot.train.regions import check_unresized, crop_region, last_box
from unimed_cot.train.rewards import decode_completion

# (model inputs for the whole sequence so far, max new tokens) -> the new token ids
GenerateFn = Callable[[dict[str, Any], int], list[int]]


@dataclass
class Rollout:
    """One finished rollout.

    Attributes:
        prompt_ids: the prompt (system + user with image tokens + assistant header).
        completion_ids: model tokens and injected vision tokens, in order.
        mask: 1 for model tokens, 0 for injected tokens (same length as ``completion_ids``).
        images: prompt images then crops, in the order of their image tokens.
        text: what the model wrote, decoded with think and box tokens kept.
        boxes: the boxes that got crops.
        rounds: generation calls made.
        finished: the model ended its turn (not cut by a budget).
    """

    prompt_ids: list[int]
    completion_ids: list[int] = field(default_factory=list)
    mask: list[int] = field(default_factory=list)
    images: list[Image.Image] = field(default_factory=list)
    text: str = ""
    boxes: list[tuple[int, ...]] = field(default_factory=list)
    rounds: int = 0
    finished: bool = False


def model_inputs(processor: Any, ids: list[int], images: list[Image.Image]) -> dict[str, Any]:
    """Tensors for a sequence whose image tokens are already expanded (batch of one)."""
    import torch

    inputs: dict[str, Any] = {
        "input_ids": torch.tensor([ids]),
        "attention_mask": torch.ones(1, len(ids), dtype=torch.long),
    }
    if images:
        pixels = processor.image_processor(images=images, return_tensors="pt")
        inputs["pixel_values"] = pixels["pixel_values"]
        inputs["image_grid_thw"] = pixels["image_grid_thw"]
        inputs["mm_token_type_ids"] = (inputs["input_ids"] == processor.image_token_id).long()
    return inputs


def image_tokens(processor: Any, image: Image.Image) -> list[int]:
    """The token ids one image occupies: vision start, its ``<|image_pad|>`` run, vision end."""
    grid = processor.image_processor(images=[image], return_tensors="pt")["image_grid_thw"][0]
    count = int(grid.prod()) // processor.image_processor.merge_size**2
    tokenizer = processor.tokenizer
    start, end = tokenizer.convert_tokens_to_ids(["<|vision_start|>", "<|vision_end|>"])
    return [start, *([processor.image_token_id] * count), end]


END_TOKENS = ("<|im_end|>", "<|endoftext|>")


def end_token_ids(tokenizer: Any) -> set[int]:
    """Ids that end a turn: the tokenizer's eos, ``<|im_end|>`` and ``<|endoftext|>`` if known."""
    ids = {int(tokenizer.eos_token_id)} if tokenizer.eos_token_id is not None else set()
    unk = getattr(tokenizer, "unk_token_id", None)
    for token in END_TOKENS:
        found = tokenizer.convert_tokens_to_ids(token)
        if isinstance(found, int) and found != unk:
            ids.add(found)
    return ids


def sampling_config(
    model: Any, tokenizer: Any, *, do_sample: bool, temperature: float, max_new_tokens: int
) -> Any:
    """A fresh ``GenerationConfig``: plain sampling at ``temperature`` (or greedy), nothing else.

    The checkpoint's own ``generation_config`` (``repetition_penalty``, ``top_k``, ``top_p`` of an
    Instruct release) is not inherited: the GRPO log-probabilities are those of the plain
    tempered softmax, so sampling must be from exactly that distribution.
    """
    from transformers import GenerationConfig

    stop = sorted(end_token_ids(tokenizer) | {tokenizer.convert_tokens_to_ids(BOX_END)})
    # Vision tokens are only ever injected; a policy that wrote one would break the pixel count.
    suppress = tokenizer.convert_tokens_to_ids(
        ["<|vision_start|>", "<|image_pad|>", "<|vision_end|>", "<|video_pad|>"]
    )
    return GenerationConfig(
        max_new_tokens=max_new_tokens,
        do_sample=do_sample,
        temperature=temperature if do_sample else None,
        top_k=None,
        top_p=None,
        repetition_penalty=1.0,
        eos_token_id=stop,
        suppress_tokens=suppress,
        pad_token_id=tokenizer.pad_token_id,
        bos_token_id=getattr(model.generation_config, "bos_token_id", None),
    )


def model_generate_fn(
    model: Any, processor: Any, *, do_sample: bool = False, temperature: float = 1.0
) -> GenerateFn:
    """A :data:`GenerateFn` over ``model.generate`` that stops at end of turn or ``<|box_end|>``."""
    import torch

    tokenizer = processor.tokenizer

    def generate(inputs: dict[str, Any], max_new_tokens: int) -> list[int]:
        length = inputs["input_ids"].shape[1]
        device = next(model.parameters()).device
        config = sampling_config(
            model,
            tokenizer,
            do_sample=do_sample,
            temperature=temperature,
            max_new_tokens=max_new_tokens,
        )
        # transformers fills a passed config's default-valued fields from the checkpoint's
        # generation_config; swapping it out for the call is the only way none leaks in.
        saved = model.generation_config
        model.generation_config = config
        try:
            with torch.no_grad():
                out = model.generate(
                    **{k: v.to(device) for k, v in inputs.items()}, generation_config=config
                )
        finally:
            model.generation_config = saved
        return [int(t) for t in out[0, length:]]

    return generate


@dataclass
class RolloutState:
    """A rollout in progress (see :func:`start_rollout` and :func:`advance`)."""

    sample: TrainSample
    result: Rollout
    per_round: int
    written: int = 0
    injected: int = 0
    done: bool = False

    def budget(self, max_new_tokens: int) -> int:
        """Tokens the next generation call may write."""
        return min(self.per_round, max_new_tokens - self.written)


def start_rollout(
    sample: TrainSample, processor: Any, *, tokens_per_round: int | None = None
) -> RolloutState:
    """The prompt of ``sample`` encoded (its images checked unresized), nothing generated yet."""
    prompt = processor.apply_chat_template(
        sample.prompt_messages(), tokenize=False, add_generation_prompt=True
    )
    images = list(sample.images)
    encoded = processor(text=[prompt], images=images or None)
    if images:
        check_unresized(processor, images, encoded["image_grid_thw"])
    result = Rollout(prompt_ids=[int(t) for t in encoded["input_ids"][0]], images=images)
    per_round = tokens_per_round or (256 if sample.dims == 2 else 128)
    return RolloutState(sample=sample, result=result, per_round=per_round)


def advance(
    state: RolloutState,
    new: list[int],
    processor: Any,
    *,
    max_rounds: int,
    max_new_tokens: int,
    max_injected_tokens: int,
    region_tokens: bool,
) -> None:
    """Take one generation call's tokens: end the turn, or inject a box's crops, or go on."""
    tokenizer = processor.tokenizer
    result, sample = state.result, state.sample
    result.rounds += 1
    result.completion_ids.extend(new)
    result.mask.extend([1] * len(new))
    state.written += len(new)
    if not new or new[-1] in end_token_ids(tokenizer):
        result.finished = bool(new)
        state.done = True
    elif new[-1] == tokenizer.convert_tokens_to_ids(BOX_END) and region_tokens:
        chunk = decode_completion(
            tokenizer, [t for t, m in zip(result.completion_ids, result.mask, strict=True) if m]
        )
        box = last_box(chunk[chunk.rfind(BOX_START) :])
        # a malformed or wrong-arity box gets no crop: the model goes on
        if box is not None and len(box) == (4 if sample.dims == 2 else 6):
            crops = crop_region(sample.images, box, dims=sample.dims)
            tokens = [t for crop in crops for t in image_tokens(processor, crop)]
            if state.injected + len(tokens) > max_injected_tokens:
                state.done = True
            else:
                state.injected += len(tokens)
                result.boxes.append(box)
                result.images.extend(crops)
                result.completion_ids.extend(tokens)
                result.mask.extend([0] * len(tokens))
    if result.rounds >= max_rounds or state.written >= max_new_tokens:
        state.done = True
    if state.done:
        model_ids = [t for t, m in zip(result.completion_ids, result.mask, strict=True) if m]
        result.text = decode_completion(tokenizer, model_ids)


def rollout(
    sample: TrainSample,
    processor: Any,
    generate: GenerateFn,
    *,
    max_rounds: int = 10,
    max_new_tokens: int = 512,
    tokens_per_round: int | None = None,
    max_injected_tokens: int = 8192,
    region_tokens: bool = True,
) -> Rollout:
    """Generate one answer to ``sample`` with crop-and-continue.

    Args:
        sample: the question (its images are the crop sources).
        processor: the (image-only) processor of the policy.
        generate: the policy, see :func:`model_generate_fn`.
        max_rounds: generation calls at most (the reference uses 10).
        max_new_tokens: model-written tokens at most, over all rounds.
        tokens_per_round: tokens per call (default: 256 for 2D, 128 for 3D, as the reference).
        max_injected_tokens: injected vision tokens at most; a crop that would pass it ends the
            rollout instead of being truncated.
        region_tokens: inject the crops of each box (off: the model goes on after its box with
            no crop, as a model trained with ``--no-region-tokens`` was taught).
    """
    state = start_rollout(sample, processor, tokens_per_round=tokens_per_round)
    result = state.result
    state.done = max_rounds < 1 or max_new_tokens < 1
    while not state.done:
        inputs = model_inputs(processor, result.prompt_ids + result.completion_ids, result.images)
        new = generate(inputs, state.budget(max_new_tokens))
        advance(
            state,
            new,
            processor,
            max_rounds=max_rounds,
            max_new_tokens=max_new_tokens,
            max_injected_tokens=max_injected_tokens,
            region_tokens=region_tokens,
        )
    return result
