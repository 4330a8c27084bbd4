"""``unireason``: the UniReason-Med data release layout (IQuestLab/UniReason-Med-Data), read by
its ``materialize_unireason_med_sft.py`` and ``unireason_med_2d3dmix.py``::

    OUT/images/*.parquet   image_id, path, bytes            (every image once, crops included)
    OUT/sft/*.parquet      messages [{role, content}], image_ids
    OUT/rl/*.parquet       prompt [{role, content}], image_ids, data_source, agent_name, ability,
                           reward_model {style, ground_truth}, extra_info {id, split, ...}

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

from .base import Exporter, ExportReport, ExportRow, image_id, write_table

IMAGE_TOKEN = "<image>"
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
    injects_crops: ClassVar[bool] = True

    def __init__(self) -> None:
        self.seen: set[str] = set()  # image ids already written (images are stored once)

    def write_shard(
        self, rows: Sequence[ExportRow], *, out: Path, stem: str, report: ExportReport
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
                        "split": row["split"],
                        "dims": int(row["dims"]),
                        "question_type": row["question_type"],
                        "answer": row["answer"],
                    },
                }
            )
        report.rows += len(rows)
        report.images += len(new_images)
        for kind, records, schema in (
            ("sft", sft, None),
            ("rl", rl, None),
            ("images", new_images, IMAGES_SCHEMA),
        ):
            if records:
                table = pa.Table.from_pylist(records, schema=schema)
                write_table(table, out / kind / f"{stem}.parquet", report)
