"""Sequence lengths of exported rows under Qwen2.5-VL, to state the settings a trainer needs.

Vision tokens follow the Qwen2.5-VL image processor exactly (``smart_resize`` to a multiple of
``patch 14 × merge 2 = 28`` within ``min_pixels``/``max_pixels``, then one token per 2×2 patches),
plus ``<|vision_start|>`` and ``<|vision_end|>`` around each image. Text is bounded from above
without the model's tokenizer: a byte-level BPE token covers at least one UTF-8 byte, and each
special token counts once. The chat template's own text (``<|im_start|>role\\n``…) is counted the
same way. So a stated length always covers the row; it may exceed the exact count by the text's
bytes-per-token ratio (hand-written: no library offers this arithmetic without the tokenizer).
"""

from __future__ import annotations

import io
import math
from collections.abc import Sequence
from dataclasses import dataclass

from PIL import Image

PATCH_SIZE, MERGE_SIZE = 14, 2
FACTOR = PATCH_SIZE * MERGE_SIZE
MIN_PIXELS = 56 * 56  # Qwen2.5-VL's preprocessor_config.json
MAX_PIXELS = 14 * 14 * 4 * 16384
# Tokens of Qwen2.5-VL's vocabulary that are one token each, whatever their spelling's length.
SPECIAL_TOKENS = (
    "<|im_start|>",
    "<|im_end|>",
    "<|endoftext|>",
    "<|vision_start|>",
    "<|vision_end|>",
    "<|image_pad|>",
    "<|box_start|>",
    "<|box_end|>",
)
ROUND_TO = 64  # stated settings are rounded up to a multiple of this


def smart_resize(
    height: int, width: int, *, min_pixels: int = MIN_PIXELS, max_pixels: int = MAX_PIXELS
) -> tuple[int, int]:
    """The ``(height, width)`` the Qwen2.5-VL image processor resizes an image to."""
    h_bar = round(height / FACTOR) * FACTOR
    w_bar = round(width / FACTOR) * FACTOR
    if h_bar * w_bar > max_pixels:
        beta = math.sqrt((height * width) / max_pixels)
        h_bar = max(FACTOR, math.floor(height / beta / FACTOR) * FACTOR)
        w_bar = max(FACTOR, math.floor(width / beta / FACTOR) * FACTOR)
    elif h_bar * w_bar < min_pixels:
        beta = math.sqrt(min_pixels / (height * width))
        h_bar = math.ceil(height * beta / FACTOR) * FACTOR
        w_bar = math.ceil(width * beta / FACTOR) * FACTOR
    return h_bar, w_bar


def image_tokens(height: int, width: int) -> int:
    """``<|image_pad|>`` tokens of one image (its merged patches)."""
    h_bar, w_bar = smart_resize(height, width)
    return (h_bar // PATCH_SIZE) * (w_bar // PATCH_SIZE) // (MERGE_SIZE * MERGE_SIZE)


def image_size(data: bytes) -> tuple[int, int]:
    """``(height, width)`` of an encoded image (read from its header)."""
    with Image.open(io.BytesIO(data)) as image:
        width, height = image.size
    return height, width


def pixel_count(data: bytes) -> int:
    """Pixels of an encoded image."""
    height, width = image_size(data)
    return height * width


def png_tokens(data: bytes) -> int:
    """Vision tokens of one encoded image: its pads plus ``<|vision_start|>``/``<|vision_end|>``."""
    return image_tokens(*image_size(data)) + 2


def text_token_bound(text: str) -> int:
    """An upper bound of the tokens of ``text`` under a byte-level BPE with ``SPECIAL_TOKENS``."""
    specials = 0
    for token in SPECIAL_TOKENS:
        specials += text.count(token)
        text = text.replace(token, "")
    return specials + len(text.encode("utf-8"))


def turn(role: str, text: str) -> str:
    """One turn of the Qwen chat template (without its images)."""
    return f"<|im_start|>{role}\n{text}<|im_end|>\n"


@dataclass(frozen=True, slots=True)
class RowLength:
    """The token counts of one exported row: prompt (system, user and the assistant header,
    input images included), completion (the assistant turn, injected crops included)."""

    id: str
    split: str
    prompt: int
    completion: int
    vision: int  # of the two above, vision tokens

    @property
    def total(self) -> int:
        return self.prompt + self.completion


def row_length(
    *,
    id: str,
    split: str,
    system: str,
    user: str,
    images: Sequence[bytes],
    assistant: str,
    crops: Sequence[bytes] = (),
) -> RowLength:
    """The lengths of one row: ``user`` and ``assistant`` are the texts without image placeholders;
    ``images`` go in the prompt, ``crops`` in the completion."""
    prompt_vision = sum(png_tokens(data) for data in images)
    crop_vision = sum(png_tokens(data) for data in crops)
    prompt = (
        text_token_bound(turn("system", system) + turn("user", user) + "<|im_start|>assistant\n")
        + prompt_vision
    )
    completion = text_token_bound(f"{assistant}<|im_end|>\n") + crop_vision
    return RowLength(
        id=id,
        split=split,
        prompt=prompt,
        completion=completion,
        vision=prompt_vision + crop_vision,
    )


def round_up(tokens: int) -> int:
    """``tokens`` rounded up to a multiple of ``ROUND_TO`` (the setting to state)."""
    return -(-tokens // ROUND_TO) * ROUND_TO


@dataclass(slots=True)
class Longest:
    """The longest rows of an export, by prompt, completion and total."""

    prompt: RowLength | None = None
    completion: RowLength | None = None
    total: RowLength | None = None

    def add(self, length: RowLength) -> None:
        if self.prompt is None or length.prompt > self.prompt.prompt:
            self.prompt = length
        if self.completion is None or length.completion > self.completion.completion:
            self.completion = length
        if self.total is None or length.total > self.total.total:
            self.total = length

    def as_dict(self) -> dict[str, object]:
        """The measured longest rows (JSON-ready)."""
        return {
            "prompt_tokens": self.prompt.prompt if self.prompt else 0,
            "prompt_row": self.prompt.id if self.prompt else None,
            "completion_tokens": self.completion.completion if self.completion else 0,
            "completion_row": self.completion.id if self.completion else None,
            "total_tokens": self.total.total if self.total else 0,
            "total_row": self.total.id if self.total else None,
            "total_row_vision_tokens": self.total.vision if self.total else 0,
            "counting": {
                "model": "Qwen2.5-VL",
                "patch_size": PATCH_SIZE,
                "merge_size": MERGE_SIZE,
                "min_pixels": MIN_PIXELS,
                "max_pixels": MAX_PIXELS,
                "text": "upper bound: UTF-8 bytes, special tokens once",
            },
        }
