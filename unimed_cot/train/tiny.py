"""A tiny, randomly initialised Qwen2-VL / Qwen2.5-VL checkpoint for smoke tests (no download).

The checkpoint is real in every respect but size: a byte-level BPE tokenizer trained on the fly
(with the chat, vision, box and think tokens as special tokens), the PIL image processor, the
chat template, and a model built from a config with two layers and a two-block vision tower. Every
``unimed-cot train`` command accepts the folder as ``--model``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

SPECIAL_TOKENS = [
    "<|endoftext|>",
    "<|im_start|>",
    "<|im_end|>",
    "<|vision_start|>",
    "<|vision_end|>",
    "<|image_pad|>",
    "<|video_pad|>",
    "<|box_start|>",
    "<|box_end|>",
    "<think>",
    "</think>",
]

# Enough text for the BPE to learn digits, brackets and common English; byte fallback covers
# everything else, so any text tokenises.
_CORPUS = [
    "The answer is A. left lung. Which structure is outlined by the box [12,34,56,78]?",
    "Looking at this CT image, I first get an overview. Next, I locate the liver region.",
    "0 1 2 3 4 5 6 7 8 9 10 20 30 40 50 60 70 80 90 100 [ ] ( ) , . : ; ? ! - \n",
    "system user assistant You are a medical expert skilled in analyzing 2D and 3D images.",
    "A. B. C. D. yes no left right upper lower heart spleen kidney lung nodule tumor",
]

Family = Literal["qwen2_5_vl", "qwen2_vl"]


def build_tokenizer(vocab_size: int = 600) -> Any:
    """A fast tokenizer trained on a small corpus, with the Qwen special tokens.

    Returns:
        a ``PreTrainedTokenizerFast`` whose eos is ``<|im_end|>`` and pad ``<|endoftext|>``.
    """
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=SPECIAL_TOKENS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
    )
    tokenizer.train_from_iterator(_CORPUS * 4, trainer=trainer)
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tokenizer,
        eos_token="<|im_end|>",
        pad_token="<|endoftext|>",
        additional_special_tokens=SPECIAL_TOKENS[1:],
    )
    return fast


def write_tiny_model(out: Path, *, family: Family = "qwen2_5_vl", seed: int = 0) -> Path:
    """Write a tiny random checkpoint (model, tokenizer, image processor, template) to ``out``.

    Args:
        out: the checkpoint folder (created).
        family: ``qwen2_5_vl`` (Qwen2.5-VL architecture) or ``qwen2_vl``.
        seed: torch seed of the random weights.

    Returns:
        ``out``.
    """
    import torch
    from transformers.models.qwen2_vl.image_processing_pil_qwen2_vl import (
        Qwen2VLImageProcessorPil,
    )

    from unimed_cot.train.processor import CHAT_TEMPLATE

    torch.manual_seed(seed)
    tokenizer = build_tokenizer()
    tokenizer.chat_template = CHAT_TEMPLATE
    ids = {t: tokenizer.convert_tokens_to_ids(t) for t in SPECIAL_TOKENS}
    text = {
        "vocab_size": len(tokenizer),
        "hidden_size": 64,
        "intermediate_size": 128,
        "num_hidden_layers": 2,
        "num_attention_heads": 4,
        "num_key_value_heads": 2,
        "max_position_embeddings": 4096,
        # head_dim 16 -> 8 rotary pairs split over (time, height, width)
        "rope_parameters": {"rope_type": "default", "mrope_section": [2, 3, 3], "rope_theta": 1e4},
        "bos_token_id": ids["<|endoftext|>"],
        "eos_token_id": ids["<|im_end|>"],
        "pad_token_id": ids["<|endoftext|>"],
    }
    common = {
        "image_token_id": ids["<|image_pad|>"],
        "video_token_id": ids["<|video_pad|>"],
        "vision_start_token_id": ids["<|vision_start|>"],
        "vision_end_token_id": ids["<|vision_end|>"],
    }
    if family == "qwen2_5_vl":
        from transformers import Qwen2_5_VLConfig, Qwen2_5_VLForConditionalGeneration

        vision = {
            "depth": 2,
            "hidden_size": 32,
            "intermediate_size": 64,
            "num_heads": 2,
            "out_hidden_size": 64,
            "window_size": 56,
            "fullatt_block_indexes": [1],
        }
        model: Any = Qwen2_5_VLForConditionalGeneration(
            Qwen2_5_VLConfig(text_config=text, vision_config=vision, **common)
        )
    elif family == "qwen2_vl":
        from transformers import Qwen2VLConfig, Qwen2VLForConditionalGeneration

        vision = {"depth": 2, "embed_dim": 32, "hidden_size": 64, "num_heads": 2, "mlp_ratio": 2}
        model = Qwen2VLForConditionalGeneration(
            Qwen2VLConfig(text_config=text, vision_config=vision, **common)
        )
    else:
        raise ValueError(f"unknown model family {family!r}; use qwen2_5_vl or qwen2_vl")
    model.generation_config.eos_token_id = ids["<|im_end|>"]
    model.generation_config.pad_token_id = ids["<|endoftext|>"]
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    # Pixel budget of the largest published 2D image (448 px side): published images reach the
    # model unresized, so box coordinates in the text are the coordinates the model sees.
    image_processor = Qwen2VLImageProcessorPil(min_pixels=28 * 28, max_pixels=448 * 448)
    image_processor.save_pretrained(out)
    return out
