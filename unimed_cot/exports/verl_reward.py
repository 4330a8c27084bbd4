"""The unimed-cot outcome reward for verl: ``0.8 × answer + 0.2 × format``.

Shipped as ``reward.py`` in every ``verl`` export and loaded by verl from its file path
(``reward.custom_reward_function.path``), so it imports nothing but the standard library. It
equals ``unimed_cot.train.rewards.outcome_reward`` (the reference trainer's GRPO reward; a test
compares the two on a set of completions):

- answer (1 or 0): the option letter read strictly from the last non-empty line after the last
  ``</think>`` (``B``, ``B.``, ``(B)``, ``B. option``, ``Answer: B``, ``The answer is B``; or the
  option text alone), against the letter of ``ground_truth`` (``"B. left"``). An unclosed
  ``<think>`` answers nothing. ``extra_info["options"]`` lets written option text be checked.
- format: 0.5 when ``<think>``/``</think>`` counts match, plus 0.5 when
  ``<|box_start|>``/``<|box_end|>`` counts match.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

ANSWER_WEIGHT, FORMAT_WEIGHT = 0.8, 0.2
THINK_OPEN, THINK_CLOSE = "<think>", "</think>"
BOX_START, BOX_END = "<|box_start|>", "<|box_end|>"
LETTERS = "ABCDEFGHIJ"
DROP_TOKENS = ("<|im_end|>", "<|endoftext|>", "<|vision_start|>", "<|image_pad|>", "<|vision_end|>")
_FINAL = re.compile(
    r"^(?i:(?:the\s+)?(?:final\s+)?answer\s*(?:is)?\s*[:：]?\s*)?"
    r"\(?([A-J])\)?(?:\s*[.:)]\s*(.*?))?\s*\.?\s*$",
    re.DOTALL,
)


def _norm(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip().strip(".").casefold()


def _final_text(completion: str) -> str | None:
    for token in DROP_TOKENS:
        completion = completion.replace(token, "")
    if THINK_CLOSE in completion:
        return completion.rsplit(THINK_CLOSE, 1)[1].strip()
    if THINK_OPEN in completion:
        return None
    return completion.strip()


def extract_choice(completion: str, options: Sequence[str] = ()) -> str | None:
    """The option letter ``completion`` answers with, or None."""
    tail = _final_text(completion)
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


def answer_score(completion: str, answer: str, options: Sequence[str] = ()) -> float:
    """1.0 when the completion's choice is the ground truth's, else 0.0."""
    truth = extract_choice(answer, options)
    if truth is None:
        tail = _final_text(completion)
        return float(tail is not None and _norm(tail) == _norm(answer))
    return float(extract_choice(completion, options) == truth)


def format_score(completion: str) -> float:
    """0.5·[#<think> == #</think>] + 0.5·[#<|box_start|> == #<|box_end|>]."""
    think = completion.count(THINK_OPEN) == completion.count(THINK_CLOSE)
    boxes = completion.count(BOX_START) == completion.count(BOX_END)
    return 0.5 * think + 0.5 * boxes


def compute_score(
    data_source: str,
    solution_str: str,
    ground_truth: str,
    extra_info: dict[str, Any] | None = None,
    **kwargs: Any,
) -> float:
    """verl's reward-function signature: the outcome reward of one completion."""
    options = list((extra_info or {}).get("options") or [])
    return ANSWER_WEIGHT * answer_score(solution_str, ground_truth, options) + (
        FORMAT_WEIGHT * format_score(solution_str)
    )
