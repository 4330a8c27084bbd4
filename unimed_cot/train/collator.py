"""SFT batches: chat template, region-token injection, and labels that train only the trace.

Labels are -100 (ignored by the loss) on the prompt (system + user turns and the assistant
header), on every vision token (``<|vision_start|>``, the ``<|image_pad|>`` run, ``<|vision_end|>``
— both the input images and the injected crops, as the reference SFT code masks them) and on
padding. What remains is the text the model writes: reasoning, box coordinates, box tokens, the
answer and ``<|im_end|>``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from PIL import Image

from unimed_cot.train.data import TrainSample
from unimed_cot.train.regions import check_unresized, inject_regions

IGNORE_INDEX = -100
VISION_TOKENS = ("<|vision_start|>", "<|image_pad|>", "<|vision_end|>")


def assistant_messages(
    sample: TrainSample, *, region_tokens: bool
) -> tuple[list[dict[str, Any]], list[Image.Image]]:
    """The full conversation of a sample and its images in placeholder order."""
    messages = sample.prompt_messages()
    if region_tokens:
        content, crops = inject_regions(sample.target, sample.images, dims=sample.dims)
    else:
        content, crops = [{"type": "text", "text": sample.target}], []
    messages.append({"role": "assistant", "content": content})
    return messages, [*sample.images, *crops]


@dataclass
class SFTCollator:
    """Turns samples into a padded batch with masked labels.

    ``SFTTrainer`` hands it dataset rows that hold only an ``index`` into ``samples`` (images stay
    PIL objects in memory instead of round-tripping through Arrow).

    Attributes:
        processor: an (image-only) Qwen2-VL processor.
        samples: the training samples, addressed by ``index``.
        region_tokens: inject the crops of cited boxes (off: ``--no-region-tokens``).
    """

    processor: Any
    samples: Sequence[TrainSample]
    region_tokens: bool = True
    label_tokens: int = 0  # trained (unmasked) tokens over every batch made so far

    def __call__(self, features: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
        return self.encode([self.samples[int(f["index"])] for f in features])

    def encode(self, samples: Sequence[TrainSample]) -> dict[str, Any]:
        """Tokenize ``samples`` (right padding) and build ``labels``."""
        import torch

        texts: list[str] = []
        images: list[Image.Image] = []
        published: list[int] = []  # positions of the rows' own images (not crops) in `images`
        for sample in samples:
            messages, sample_images = assistant_messages(sample, region_tokens=self.region_tokens)
            texts.append(self.processor.apply_chat_template(messages, tokenize=False))
            published.extend(range(len(images), len(images) + len(sample.images)))
            images.extend(sample_images)
        tokenizer = self.processor.tokenizer
        tokenizer.padding_side = "right"
        batch = dict(
            self.processor(text=texts, images=images or None, return_tensors="pt", padding=True)
        )
        if images:
            grids = batch["image_grid_thw"]
            check_unresized(self.processor, [images[i] for i in published], grids[published])
        input_ids: torch.Tensor = batch["input_ids"]
        labels = input_ids.clone()
        vision_ids = torch.tensor(tokenizer.convert_tokens_to_ids(list(VISION_TOKENS)))
        labels[torch.isin(input_ids, vision_ids)] = IGNORE_INDEX
        labels[batch["attention_mask"] == 0] = IGNORE_INDEX
        im_start = tokenizer.convert_tokens_to_ids("<|im_start|>")
        header = len(tokenizer("assistant\n", add_special_tokens=False)["input_ids"])
        for row in range(input_ids.shape[0]):
            starts = (input_ids[row] == im_start).nonzero().flatten()
            # The assistant turn is the last one; everything up to its header is prompt.
            labels[row, : int(starts[-1]) + 1 + header] = IGNORE_INDEX
        batch["labels"] = labels
        self.label_tokens += int((labels != IGNORE_INDEX).sum())
        return batch
