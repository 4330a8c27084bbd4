"""Loading a Qwen2-VL / Qwen2.5-VL processor without torchvision (DESIGN.md §8).

``Qwen2VLProcessor`` declares a video processor, and building one imports torchvision, which
cannot be imported next to the CPU torch wheel used here. The trainer feeds images only, so
:class:`ImageOnlyQwen2VLProcessor` drops the video processor from ``__init__`` (ProcessorMixin
derives its sub-processors from that signature) and the image side uses the PIL backend.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from transformers import AutoTokenizer, ProcessorMixin
from transformers.models.qwen2_vl.image_processing_pil_qwen2_vl import Qwen2VLImageProcessorPil
from transformers.models.qwen2_vl.processing_qwen2_vl import Qwen2VLProcessor

from unimed_cot.train.errors import TrainError

# The Qwen2-VL chat template without its video branch; any role may hold images, which is what
# region-token injection needs (crops inside the assistant turn).
CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "{% if loop.first and message['role'] != 'system' %}"
    "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n{% endif %}"
    "<|im_start|>{{ message['role'] }}\n"
    "{% if message['content'] is string %}{{ message['content'] }}<|im_end|>\n"
    "{% else %}{% for content in message['content'] %}"
    "{% if content['type'] == 'image' %}<|vision_start|><|image_pad|><|vision_end|>"
    "{% elif content['type'] == 'text' %}{{ content['text'] }}{% endif %}"
    "{% endfor %}<|im_end|>\n{% endif %}{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)


class ImageOnlyQwen2VLProcessor(Qwen2VLProcessor):
    """``Qwen2VLProcessor`` with no video processor (so no torchvision import)."""

    def __init__(
        self,
        image_processor: Any = None,
        tokenizer: Any = None,
        chat_template: str | None = None,
        **kwargs: Any,
    ) -> None:
        self.image_token = getattr(tokenizer, "image_token", None) or "<|image_pad|>"
        self.video_token = "<|video_pad|>"
        self.image_token_id = tokenizer.convert_tokens_to_ids(self.image_token)
        self.video_token_id = tokenizer.convert_tokens_to_ids(self.video_token)
        ProcessorMixin.__init__(self, image_processor, tokenizer, chat_template=chat_template)


def load_processor(model: str | Path) -> ImageOnlyQwen2VLProcessor:
    """The image-only processor of a local checkpoint folder or a Hub model id.

    Raises:
        TrainError: when the tokenizer or image processor cannot be loaded.
    """
    text = str(model)
    if (text.startswith((".", "/", "~")) or text.count("/") > 1) and not Path(text).is_dir():
        raise TrainError(f"{model}: no such checkpoint folder (give a folder or a Hub model id)")
    try:
        tokenizer = AutoTokenizer.from_pretrained(text)
        image_processor = Qwen2VLImageProcessorPil.from_pretrained(text)
    except (OSError, ValueError) as error:
        raise TrainError(f"{model}: cannot load the tokenizer/image processor ({error})") from None
    template = getattr(tokenizer, "chat_template", None) or CHAT_TEMPLATE
    processor = ImageOnlyQwen2VLProcessor(image_processor, tokenizer, chat_template=template)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return processor
