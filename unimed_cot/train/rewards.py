"""Strict answer extraction and the GRPO outcome reward ``0.8 × answer + 0.2 × format``.

Two faults of the reference code are fixed here (reference-system notes §1.7):

- Completions are decoded **without** stripping special tokens (only padding, end-of-turn and
  vision tokens are dropped, see :func:`decode_completion`), so ``<think>``/``</think>`` and the box
  tokens survive and the format term can vary.
- The answer is read strictly from the text after the last ``</think>``: an optional "answer is",
  then the option letter, optionally ``. option content``. A stray letter or article in the
  reasoning never counts; an unclosed ``<think>`` gives no answer.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from unimed_cot.boxes import BOX_END, BOX_START

THINK_OPEN, THINK_CLOSE = "<think>", "</think>"
ANSWER_WEIGHT, FORMAT_WEIGHT = 0.8, 0.2
LETTERS = "ABCDEFGHIJ"
# Tokens that are not part of what the model "wrote" for reward purposes.
DROP_TOKENS = ("<|im_end|>", "<|endoftext|>", "<|vision_start|>", "<|image_pad|>", "<|vision_end|>")

# The prefix is case-insensitive; the letter is not, so the article "a" is never an answer.
_FINAL = re.compile(
    r"^(?i:(?:the\s+)?(?:final\s+)?answer\s*(?:is)?\s*[:：]?\s*)?"
    r"\(?([A-J])\)?(?:\s*[.:)]\s*(.*?))?\s*\.?\s*$",
    re.DOTALL,
)


def _norm(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip().strip(".").casefold()


def final_text(completion: str) -> str | None:
    """The text after the last ``</think>``, or the whole text when there is no ``<think>``.

    None when a ``<think>`` is never closed (the model did not finish reasoning).
    """
    for token in DROP_TOKENS:
        completion = completion.replace(token, "")
    if THINK_CLOSE in completion:
        return completion.rsplit(THINK_CLOSE, 1)[1].strip()
    if THINK_OPEN in completion:
        return None
    return completion.strip()


def extract_choice(completion: str, options: Sequence[str] = ()) -> str | None:
    """The option letter a completion answers with, or None when it does not answer strictly.

    Accepted final answers: ``B``, ``B.``, ``(B)``, ``B. option text``, ``Answer: B``, ``The answer
    is B. option text``, or the option text alone when ``options`` are given. A letter whose
    written content contradicts ``options`` (``B. spleen`` when B is ``liver``) is no answer. Only
    the last non-empty line counts, and the letter must be uppercase.
    """
    tail = final_text(completion)
    if not tail:
        return None
    lines = [line for line in tail.splitlines() if line.strip()]
    tail = lines[-1].strip() if lines else ""
    match = _FINAL.match(tail)
    if match is not None:
        letter, content = match.group(1), match.group(2)
        index = LETTERS.index(letter)
        if options and index >= len(options):
            return None
        if content and options and _norm(content) != _norm(options[index]):
            return None
        return letter
    for index, option in enumerate(options):
        if _norm(tail) == _norm(option):
            return LETTERS[index]
    return None


def answer_reward(completion: str, answer: str, options: Sequence[str] = ()) -> float:
    """1.0 when the completion's choice equals the ground truth's, else 0.0.

    Free-text answers (no options) compare normalised text after ``</think>``.
    """
    truth = extract_choice(answer, options)
    if truth is None:
        tail = final_text(completion)
        return float(tail is not None and _norm(tail) == _norm(answer))
    return float(extract_choice(completion, options) == truth)


def format_reward(completion: str) -> float:
    """0.5·[#``<think>`` == #``</think>``] + 0.5·[#``<|box_start|>`` == #``<|box_end|>``]."""
    think = completion.count(THINK_OPEN) == completion.count(THINK_CLOSE)
    boxes = completion.count(BOX_START) == completion.count(BOX_END)
    return 0.5 * think + 0.5 * boxes


def outcome_reward(completion: str, answer: str, options: Sequence[str] = ()) -> float:
    """``0.8 × answer + 0.2 × format`` (no IoU or Dice term, as in the reference)."""
    return ANSWER_WEIGHT * answer_reward(completion, answer, options) + FORMAT_WEIGHT * (
        format_reward(completion)
    )


def decode_completion(tokenizer: Any, ids: Sequence[int]) -> str:
    """Decode keeping ``<think>`` and box tokens; drop padding, end-of-turn and vision tokens."""
    text = str(tokenizer.decode(list(ids), skip_special_tokens=False))
    pad = getattr(tokenizer, "pad_token", None)
    for token in (*DROP_TOKENS, *([pad] if pad else [])):
        text = text.replace(token, "")
    return text
