"""A published row as a chat: the reference system prompts, the user turn, and the assistant turn
with region crops interleaved after each box.

The one chat-rendering helper of the project: every export format (``exports``) and the trainer
(``train``) render rows through it, so a model trained on an export is prompted the same way when
it is evaluated. The prompts are package data (``prompts/reference.yaml``), the reference's
verbatim.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from importlib.resources import files

import yaml

from unimed_cot.boxes import BOX_END
from unimed_cot.schemas import LETTERS


@dataclass(frozen=True, slots=True)
class ReferencePrompts:
    """The reference system's prompts."""

    system_2d: str
    system_3d: str
    answer_instruction_3d: str  # with a ``{letters}`` field


@cache
def reference_prompts() -> ReferencePrompts:
    """The prompts from ``prompts/reference.yaml`` (read once)."""
    text = files("unimed_cot.prompts").joinpath("reference.yaml").read_text(encoding="utf-8")
    data = yaml.safe_load(text)
    return ReferencePrompts(
        system_2d=str(data["system_2d"]),
        system_3d=str(data["system_3d"]),
        answer_instruction_3d=str(data["answer_instruction_3d"]),
    )


def system_prompt(dims: int) -> str:
    """The reference system prompt of a 2D or 3D row."""
    prompts = reference_prompts()
    return prompts.system_2d if dims == 2 else prompts.system_3d


def listed_letters(n: int) -> str:
    """``A``, ``A or B``, ``A, B, or C``: the letters of ``n`` options as the reference lists
    them."""
    letters = list(LETTERS[:n])
    if len(letters) <= 1:
        return "".join(letters)
    if len(letters) == 2:
        return f"{letters[0]} or {letters[1]}"
    return ", ".join(letters[:-1]) + f", or {letters[-1]}"


def user_text(*, question: str, options: Sequence[str], dims: int) -> str:
    """Question, then the ``A. ...`` lines, then (3D) the reference's answer instruction."""
    text = question
    if options:
        text += "\n\n" + "\n".join(f"{LETTERS[i]}. {o}" for i, o in enumerate(options))
        if dims == 3:
            instruction = reference_prompts().answer_instruction_3d
            text += "\n\n" + instruction.format(letters=listed_letters(len(options)))
    return text


def interleave(reasoning: str, crops: Sequence[Sequence[str]]) -> list[tuple[str, str]]:
    """Split ``reasoning`` into ``("text", ...)`` and ``("image", key)`` parts: after the k-th
    ``<|box_end|>``, the keys of the k-th box's crops (one per slice for a 3D box)."""
    parts: list[tuple[str, str]] = []
    box = 0
    text = ""
    for piece in re.split(f"({re.escape(BOX_END)})", reasoning):
        text += piece
        if piece == BOX_END and box < len(crops):
            parts.append(("text", text))
            parts.extend(("image", key) for key in crops[box])
            text, box = "", box + 1
    if text:
        parts.append(("text", text))
    return parts
