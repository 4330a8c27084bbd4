"""Published rows -> training samples (conversational, TRL style), with the reference prompts.

The trainer reads only published rows: a local release folder or a Hub dataset id, through
``datasets.load_dataset(path, config)``. A 2D row is one image then the question; a 3D row is its
K slice images in order, then the question (as in the reference system).
"""

from __future__ import annotations

import random
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from PIL import Image

from unimed_cot.boxes import BOX_END, BOX_START
from unimed_cot.train.errors import TrainError

LETTERS = "ABCDEFGHIJ"

# The reference system's prompts (UniReason-Med inference script), with the reply format
# stated for both dims and yes/no questions allowed for.
SYSTEM_PROMPT_2D = (
    "You are a medical expert skilled in analyzing 2D medical images. You are capable of "
    "interleaved image-text thinking. In the <think></think> tag, you can use "
    "<|box_start|>[x1,y1,x2,y2]<|box_end|> to focus on that region of the image. You can inspect "
    "it once or multiple times and think in an interleaved manner to answer the question. You "
    "need to answer a single-choice question. You only need to reply with option_letter. "
    "option_content."
)
SYSTEM_PROMPT_3D = (
    "You are a medical expert skilled in analyzing 3D medical images, shown as an ordered stack "
    "of slices. You are capable of interleaved image-text thinking. In the <think></think> tag, "
    "you can use <|box_start|>[x1,y1,z1,x2,y2,z2]<|box_end|> to focus on that region of the "
    "volume (z: slice indices, half-open). You can inspect it once or multiple times and think "
    "in an interleaved manner to answer the question. You need to answer a single-choice "
    "question. You only need to reply with option_letter. option_content."
)

_BOX_SPAN = re.compile(r"\s*" + re.escape(BOX_START) + r".*?" + re.escape(BOX_END), re.DOTALL)


@dataclass(frozen=True)
class Region:
    """An evidence region of a row: id, label and box (4 ints 2D, 6 ints 3D)."""

    id: str
    label: str
    box: tuple[int, ...]


@dataclass
class TrainSample:
    """One row, ready to become a conversation.

    Attributes:
        id: the row id.
        dims: 2 or 3.
        source: builder slug.
        question_type: question family.
        system: system prompt.
        question: user text (question and lettered options).
        images: the row's images (one for 2D, K slices for 3D), RGB.
        target: the reasoning trace (``<think>…</think>`` + answer).
        answer: the ground-truth answer (``"B. option"`` for choice questions).
        regions: evidence regions (for IoU in evaluation only).
        options: choice texts without letters (empty for free-text questions).
    """

    id: str
    dims: int
    source: str
    question_type: str
    system: str
    question: str
    images: list[Image.Image]
    target: str
    answer: str
    regions: list[Region] = field(default_factory=list)
    options: list[str] = field(default_factory=list)

    def prompt_messages(self) -> list[dict[str, Any]]:
        """System and user turns: the images, then the question."""
        user: list[dict[str, Any]] = [{"type": "image"} for _ in self.images]
        user.append({"type": "text", "text": self.question})
        return [
            {"role": "system", "content": [{"type": "text", "text": self.system}]},
            {"role": "user", "content": user},
        ]


def strip_grounding(text: str) -> str:
    """The trace with every ``<|box_start|>…<|box_end|>`` span removed (``--no-grounding``)."""
    return _BOX_SPAN.sub("", text)


def question_text(row: Mapping[str, Any]) -> str:
    """The user text: question, then ``A. …`` lines for choice questions."""
    text = str(row["question"])
    options = list(row.get("options") or [])
    if options:
        text += "\n\n" + "\n".join(f"{LETTERS[i]}. {o}" for i, o in enumerate(options))
        if int(row["dims"]) == 3:
            text += f"\n\nPlease answer with {', '.join(LETTERS[: len(options)])}."
    return text


def row_to_sample(row: Mapping[str, Any], *, grounding: bool = True) -> TrainSample:
    """Turn one published row (as ``datasets`` yields it) into a :class:`TrainSample`."""
    dims = int(row["dims"])
    images = [image.convert("RGB") for image in row["images"]]
    target = str(row["reasoning"])
    return TrainSample(
        id=str(row["id"]),
        dims=dims,
        source=str(row["source"]),
        question_type=str(row["question_type"]),
        system=SYSTEM_PROMPT_2D if dims == 2 else SYSTEM_PROMPT_3D,
        question=question_text(row),
        images=images,
        target=target if grounding else strip_grounding(target),
        answer=str(row["answer"]),
        regions=[
            Region(id=str(r["id"]), label=str(r["label"]), box=tuple(int(v) for v in r["box"]))
            for r in row.get("regions") or []
        ],
        options=[str(o) for o in row.get("options") or []],
    )


def parse_mix(text: str) -> dict[str, float]:
    """Parse ``2d=1,3d=1`` (or ``2d`` / ``3d``) into config weights.

    Raises:
        TrainError: an unknown config or a non-positive weight.
    """
    weights: dict[str, float] = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        name, _, value = part.partition("=")
        name = name.strip().lower()
        if name not in ("2d", "3d"):
            raise TrainError(f"--mix: unknown config {name!r}; use 2d and/or 3d, e.g. 2d=1,3d=1")
        try:
            weight = float(value) if value else 1.0
        except ValueError:
            raise TrainError(f"--mix: weight {value!r} of {name} is not a number") from None
        if weight <= 0:
            raise TrainError(f"--mix: weight of {name} must be positive, got {weight}")
        weights[name] = weight
    if not weights:
        raise TrainError("--mix is empty; use e.g. 2d=1,3d=1")
    return weights


def load_rows(
    data: str,
    *,
    mix: Mapping[str, float],
    split: str = "train",
    limit: int | None = None,
    seed: int = 0,
) -> list[dict[str, Any]]:
    """Rows of a release (folder or Hub id) mixed by config weight, shuffled with ``seed``.

    With weights ``w_c``, config ``c`` contributes ``round(w_c / max(w) * n_c)`` rows (the largest
    weighted config is used whole; others are subsampled), so ``2d=1,3d=1`` keeps everything.

    Raises:
        TrainError: when the release cannot be read or holds no rows for the request.
    """
    import datasets

    rng = random.Random(seed)
    top = max(mix.values())
    rows: list[dict[str, Any]] = []
    for config, weight in sorted(mix.items()):
        try:
            dataset = datasets.load_dataset(data, config, split=split)
        except ValueError as error:  # unknown split/config: treat as empty for this config
            if "split" in str(error).lower() or "config" in str(error).lower():
                continue
            raise TrainError(f"{data}: cannot load config {config!r} ({error})") from None
        except (FileNotFoundError, OSError) as error:
            raise TrainError(f"{data}: cannot load config {config!r} ({error})") from None
        indices = list(range(len(dataset)))
        rng.shuffle(indices)
        keep = indices[: round(weight / top * len(indices))]
        rows.extend(dataset[i] for i in keep)
    rng.shuffle(rows)
    if limit is not None:
        rows = rows[:limit]
    if not rows:
        raise TrainError(f"{data}: no {split} rows for configs {sorted(mix)}")
    return rows


def load_samples(
    data: str,
    *,
    mix: Mapping[str, float],
    split: str = "train",
    limit: int | None = None,
    grounding: bool = True,
    seed: int = 0,
) -> list[TrainSample]:
    """:func:`load_rows` then :func:`row_to_sample` on each row."""
    rows = load_rows(data, mix=mix, split=split, limit=limit, seed=seed)
    return [row_to_sample(row, grounding=grounding) for row in rows]


def to_conversation(sample: TrainSample) -> dict[str, Any]:
    """TRL's conversational format (``messages`` + ``images``), target as plain assistant text."""
    messages = sample.prompt_messages()
    messages.append({"role": "assistant", "content": [{"type": "text", "text": sample.target}]})
    return {"messages": messages, "images": list(sample.images)}


def iter_conversations(samples: Iterable[TrainSample]) -> Iterable[dict[str, Any]]:
    """:func:`to_conversation` over ``samples``."""
    return (to_conversation(s) for s in samples)
