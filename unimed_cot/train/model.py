"""Loading the policy model and choosing what trains (full LM, or LoRA on the LM)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from unimed_cot.train.errors import TrainError

# LoRA targets: attention and MLP projections of the language model only (never the vision tower).
LORA_TARGETS = r".*language_model.*\.(q_proj|k_proj|v_proj|o_proj|gate_proj|up_proj|down_proj)"


def load_model(model: str | Path, *, dtype: str = "float32", device: str = "cpu") -> Any:
    """A Qwen2-VL / Qwen2.5-VL model for image-text-to-text from a folder or Hub id.

    Raises:
        TrainError: when the checkpoint cannot be loaded.
    """
    import torch
    from transformers import AutoModelForImageTextToText

    loader: Any = AutoModelForImageTextToText.from_pretrained  # untyped in transformers' stubs
    try:
        loaded = loader(str(model), dtype=getattr(torch, dtype))
    except (OSError, ValueError) as error:
        raise TrainError(f"{model}: cannot load the model ({error})") from None
    return loaded.to(device)


def freeze_vision(model: Any) -> int:
    """Freeze the vision tower and its projector (the reference SFT setting).

    Returns:
        the number of parameters left trainable.
    """
    visual = getattr(getattr(model, "model", model), "visual", None)
    if visual is None:
        raise TrainError("the model has no vision tower to freeze (expected Qwen2-VL/Qwen2.5-VL)")
    for parameter in visual.parameters():  # the merger (projector) lives inside `visual`
        parameter.requires_grad_(False)
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def lora_config(rank: int = 16, alpha: int = 32) -> Any:
    """A PEFT LoRA config over the language model's projections."""
    from peft import LoraConfig

    return LoraConfig(
        r=rank,
        lora_alpha=alpha,
        lora_dropout=0.05,
        target_modules=LORA_TARGETS,
        task_type="CAUSAL_LM",
    )


def add_think_tokens(processor: Any, model: Any) -> int:
    """Add ``<think>``/``</think>`` as special tokens when the tokenizer lacks them.

    Qwen2.5-VL's tokenizer has the box tokens but not the think tokens; the reference SFT adds
    them as special tokens (LLaMA-Factory ``add_special_tokens``) and so do we, resizing the
    embeddings to match.

    Returns:
        the number of tokens added (0 for a tokenizer that has them, like the tiny one).
    """
    tokenizer = processor.tokenizer
    vocab = tokenizer.get_vocab()
    missing = [t for t in ("<think>", "</think>") if t not in vocab]
    if not missing:
        return 0
    added = int(tokenizer.add_tokens(missing, special_tokens=True))
    model.resize_token_embeddings(len(tokenizer))
    return added
