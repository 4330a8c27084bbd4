"""``unireason``: the UniReason-Med data release layout (IQuestLab/UniReason-Med-Data), read by
its ``materialize_unireason_med_sft.py`` and ``unireason_med_2d3dmix.py``::

    OUT/images/*.parquet   image_id, path, bytes            (every image once, crops included)
    OUT/sft/*.parquet      messages [{role, content}], image_ids          (train rows only)
    OUT/rl/*.parquet       prompt [{role, content}], image_ids, data_source, agent_name, ability,
                           reward_model {style, ground_truth}, extra_info {id, split, ...}
                                                                          (train rows only)
    OUT/heldout/<split>/{sft,rl}/*.parquet   the validation and test rows, same columns

The reference scripts read every ``*.parquet`` of ``sft/`` and ``rl/`` as training data, so the
held-out splits live outside those folders.

The user turn is one ``<image>`` per image (the slices of a volume in order) then the question
(``chat.user_text``). In SFT the assistant turn is the reasoning with the crop of each cited box
placed as ``<image>`` right after its ``<|box_end|>`` (one crop per slice of a 3D box), and
``image_ids`` lists the originals then the crops in order, as the reference SFT code expects.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar

import pyarrow as pa

from unimed_cot.chat import interleave, system_prompt, user_text

from .base import Exporter, ExportReport, ExportRow, Guide, image_id, write_table
from .lengths import round_up

IMAGE_TOKEN = "<image>"
HELDOUT = "heldout"
IMAGES_SCHEMA = pa.schema(
    [("image_id", pa.string()), ("path", pa.string()), ("bytes", pa.binary())]
)


def placeholder_user_turn(row: dict[str, Any], n_images: int) -> str:
    """One ``<image>`` placeholder per image, then the question (LLaMA-Factory, verl, UniReason)."""
    return IMAGE_TOKEN * n_images + user_text(
        question=row["question"], options=row["options"], dims=int(row["dims"])
    )


class UniReasonExporter(Exporter):
    name = "unireason"
    owned: ClassVar[tuple[str, ...]] = ("images", "sft", "rl", "heldout")
    injects_crops: ClassVar[bool] = True

    def __init__(self) -> None:
        self.seen: set[str] = set()  # image ids already written (images are stored once)

    def write_shard(
        self, rows: Sequence[ExportRow], *, out: Path, stem: str, split: str, report: ExportReport
    ) -> None:
        sft, rl, new_images = [], [], []
        for item in rows:
            row = item.row
            for data in [*item.images, *(c for box in item.crops for c in box)]:
                key = image_id(data)
                if key not in self.seen:
                    self.seen.add(key)
                    new_images.append({"image_id": key, "path": f"{key}.png", "bytes": data})
            system = system_prompt(int(row["dims"]))
            user = placeholder_user_turn(row, len(item.images))
            parts = interleave(row["reasoning"], [[image_id(c) for c in b] for b in item.crops])
            assistant = "".join(IMAGE_TOKEN if kind == "image" else value for kind, value in parts)
            originals = [image_id(d) for d in item.images]
            sft.append(
                {
                    "messages": [
                        {"role": "system", "content": system},
                        {"role": "user", "content": user},
                        {"role": "assistant", "content": assistant},
                    ],
                    "image_ids": originals + [v for kind, v in parts if kind == "image"],
                }
            )
            rl.append(
                {
                    "prompt": [
                        {"role": "system", "content": system},
                        {"role": "user", "content": user},
                    ],
                    "image_ids": originals,
                    "data_source": row["source"],
                    "agent_name": "urm_single_assistant",
                    "ability": "medical_vqa",
                    "reward_model": {"style": "rule", "ground_truth": row["answer"]},
                    "extra_info": {
                        "id": row["id"],
                        "split": split,
                        "dims": int(row["dims"]),
                        "question_type": row["question_type"],
                        "answer": row["answer"],
                    },
                }
            )
        report.rows += len(rows)
        report.images += len(new_images)
        base = out if split == "train" else out / HELDOUT / split
        for folder, records, schema in (
            (base / "sft", sft, None),
            (base / "rl", rl, None),
            (out / "images", new_images, IMAGES_SCHEMA),
        ):
            if records:
                table = pa.Table.from_pylist(records, schema=schema)
                write_table(table, folder / f"{stem}.parquet", report)

    def guide(self, report: ExportReport) -> Guide:
        longest = report.longest
        total = longest.total.total if longest.total else 0
        prompt = longest.prompt.prompt if longest.prompt else 0
        completion = longest.completion.completion if longest.completion else 0
        settings = {
            "sft_max_length": round_up(total),
            "rl_max_prompt_length": round_up(prompt),
            "rl_max_response_length": round_up(completion),
            "reward": "0.8 * answer + 0.2 * format (answer letter after the last </think>)",
            "chat_template": "qwen2_vl",
        }
        how = f"""## Layout

- `sft/`, `rl/`: the **train** rows only (the reference scripts read every `*.parquet` there).
- `{HELDOUT}/validation/{{sft,rl}}/`, `{HELDOUT}/test/{{sft,rl}}/`: the held-out rows, same
  columns; never read by the reference scripts unless pointed at them.
- `images/`: every image once (originals and the box crops the SFT turns cite).

## What to run next

1. `python materialize_unireason_med_sft.py` with its data root at this folder: it reads `sft/`
   and `images/` (train only).
2. `python unireason_med_2d3dmix.py` with its data root at this folder for the RL parquet. Its
   own `val.parquet` is the first rows of `rl/` (train rows): for a held-out validation set use
   `{HELDOUT}/validation/rl/*.parquet` instead.
3. Set the SFT maximum sequence length to at least `sft_max_length`, the RL maximum prompt
   length to at least `rl_max_prompt_length` (below: 3D rows are the longest)."""
        return Guide(settings=settings, how=how)
