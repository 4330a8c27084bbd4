"""Published rows -> training samples (conversational, TRL style), with the reference prompts.

The trainer reads only published rows: a local release folder or a Hub dataset id, through
``datasets.load_dataset(path, config)``. A 2D row is one image then the question; a 3D row is its
K slice images in order, then the question (as in the reference system).
"""

from __future__ import annotations

import random
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, overload

from PIL import Image

from unimed_cot.boxes import BOX_END, BOX_START
from unimed_cot.chat import system_prompt, user_text
from unimed_cot.train.errors import TrainError

# The reference prompts live once in ``chat`` (package data ``prompts/reference.yaml``); the
# exports render rows through the same helpers, so a model trained here is prompted as one trained
# on an export.
SYSTEM_PROMPT_2D = system_prompt(2)
SYSTEM_PROMPT_3D = system_prompt(3)

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
    """The user text of :func:`unimed_cot.chat.user_text` (the exports' own)."""
    return user_text(
        question=str(row["question"]),
        options=[str(o) for o in row.get("options") or []],
        dims=int(row["dims"]),
    )


def row_to_sample(row: Mapping[str, Any], *, grounding: bool = True) -> TrainSample:
    """Turn one published row (as ``datasets`` yields it) into a :class:`TrainSample`."""
    dims = int(row["dims"])
    images = [image.convert("RGB") for image in row["images"]]  # no-op once decoded
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


def _decode_images(batch: dict[str, list[Any]]) -> dict[str, list[Any]]:
    """``with_transform`` hook: decode a batch's images to RGB only when the batch is read."""
    if "images" in batch:
        batch["images"] = [[image.convert("RGB") for image in row] for row in batch["images"]]
    return batch


def _open_config(data: str, config: str, split: str) -> Any | None:
    """The memory-mapped ``datasets.Dataset`` of one config, or None when it has no such split."""
    import datasets

    try:
        return datasets.load_dataset(data, config, split=split)
    except ValueError as error:  # unknown split/config: treat as empty for this config
        if "split" in str(error).lower() or "config" in str(error).lower():
            return None
        raise TrainError(f"{data}: cannot load config {config!r} ({error})") from None
    except (FileNotFoundError, OSError) as error:
        raise TrainError(f"{data}: cannot load config {config!r} ({error})") from None


class LazyRows(Sequence[dict[str, Any]]):
    """Rows of a release mixed by config weight and shuffled, decoded only when read.

    Holds the memory-mapped Arrow tables and an index of ``(config, row)`` pairs; each access
    reads one row through ``Dataset.with_transform`` (images decoded then, and dropped with the
    row), so memory stays flat in the number of rows (issue 16, item 3).
    """

    def __init__(self, datasets_: Sequence[Any], index: Sequence[tuple[int, int]]) -> None:
        self._datasets = [d.with_transform(_decode_images) for d in datasets_]
        self._index = list(index)

    def __len__(self) -> int:
        return len(self._index)

    @overload
    def __getitem__(self, item: int) -> dict[str, Any]: ...

    @overload
    def __getitem__(self, item: slice) -> list[dict[str, Any]]: ...

    def __getitem__(self, item: int | slice) -> dict[str, Any] | list[dict[str, Any]]:
        if isinstance(item, slice):
            return [self[i] for i in range(*item.indices(len(self)))]
        config, row = self._index[item]
        return dict(self._datasets[config][row])


def load_rows(
    data: str,
    *,
    mix: Mapping[str, float],
    split: str = "train",
    limit: int | None = None,
    seed: int = 0,
) -> LazyRows:
    """Rows of a release (folder or Hub id) mixed by config weight, shuffled with ``seed``.

    With weights ``w_c``, config ``c`` contributes ``round(w_c / max(w) * n_c)`` rows (the largest
    weighted config is used whole; others are subsampled), so ``2d=1,3d=1`` keeps everything.

    Raises:
        TrainError: when the release cannot be read or holds no rows for the request.
    """
    rng = random.Random(seed)
    top = max(mix.values())
    opened: list[Any] = []
    index: list[tuple[int, int]] = []
    for config, weight in sorted(mix.items()):
        dataset = _open_config(data, config, split)
        if dataset is None:
            continue
        indices = list(range(len(dataset)))
        rng.shuffle(indices)
        index.extend((len(opened), i) for i in indices[: round(weight / top * len(indices))])
        opened.append(dataset)
    rng.shuffle(index)
    if limit is not None:
        index = index[:limit]
    if not index:
        raise TrainError(f"{data}: no {split} rows for configs {sorted(mix)}")
    return LazyRows(opened, index)


class LazySamples(Sequence[TrainSample]):
    """:class:`TrainSample` views of :class:`LazyRows`: one row decoded per access."""

    def __init__(self, rows: LazyRows, *, grounding: bool = True) -> None:
        self.rows = rows
        self.grounding = grounding

    def __len__(self) -> int:
        return len(self.rows)

    @overload
    def __getitem__(self, item: int) -> TrainSample: ...

    @overload
    def __getitem__(self, item: slice) -> list[TrainSample]: ...

    def __getitem__(self, item: int | slice) -> TrainSample | list[TrainSample]:
        if isinstance(item, slice):
            return [self[i] for i in range(*item.indices(len(self)))]
        return row_to_sample(self.rows[item], grounding=self.grounding)


def load_samples(
    data: str,
    *,
    mix: Mapping[str, float],
    split: str = "train",
    limit: int | None = None,
    grounding: bool = True,
    seed: int = 0,
) -> LazySamples:
    """:func:`load_rows` seen through :func:`row_to_sample` (lazily: a row is decoded when read)."""
    return LazySamples(
        load_rows(data, mix=mix, split=split, limit=limit, seed=seed), grounding=grounding
    )


def to_conversation(sample: TrainSample) -> dict[str, Any]:
    """TRL's conversational format (``messages`` + ``images``), target as plain assistant text."""
    messages = sample.prompt_messages()
    messages.append({"role": "assistant", "content": [{"type": "text", "text": sample.target}]})
    return {"messages": messages, "images": list(sample.images)}


def iter_conversations(samples: Iterable[TrainSample]) -> Iterable[dict[str, Any]]:
    """:func:`to_conversation` over ``samples``."""
    return (to_conversation(s) for s in samples)
