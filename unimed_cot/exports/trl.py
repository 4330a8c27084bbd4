"""``trl``: TRL's conversational vision format.

``messages`` whose ``content`` is a list of ``{"type": "image"}`` / ``{"type": "text", "text":
...}`` parts, and ``images`` (the originals then the crops, in the order of the image parts).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import ClassVar

import pyarrow as pa
from datasets import Features, Image, List, Value

from unimed_cot.chat import interleave, system_prompt, user_text

from .base import Exporter, ExportReport, ExportRow, write_table

_PART = {"type": Value("string"), "text": Value("string")}
TRL_FEATURES = Features(
    {
        "id": Value("string"),
        "messages": List({"role": Value("string"), "content": List(_PART)}),
        "images": List(Image()),
    }
)


class TRLExporter(Exporter):
    name = "trl"
    injects_crops: ClassVar[bool] = True

    def write_shard(
        self, rows: Sequence[ExportRow], *, out: Path, stem: str, report: ExportReport
    ) -> None:
        records = []
        for item in rows:
            row = item.row
            dims = int(row["dims"])
            user = [{"type": "image", "text": None} for _ in item.images]
            text = user_text(question=row["question"], options=row["options"], dims=dims)
            user.append({"type": "text", "text": text})
            parts = interleave(row["reasoning"], [["crop"] * len(b) for b in item.crops])
            assistant = [
                {"type": "image", "text": None}
                if kind == "image"
                else {"type": "text", "text": value}
                for kind, value in parts
            ]
            images = [*item.images, *(c for box in item.crops for c in box)]
            system = [{"type": "text", "text": system_prompt(dims)}]
            records.append(
                {
                    "id": row["id"],
                    "messages": [
                        {"role": "system", "content": system},
                        {"role": "user", "content": user},
                        {"role": "assistant", "content": assistant},
                    ],
                    "images": images,
                }
            )
            report.images += len(images)
        report.rows += len(records)
        columns = {name: [r[name] for r in records] for name in TRL_FEATURES}
        table = pa.Table.from_pydict(
            TRL_FEATURES.encode_batch(columns), schema=TRL_FEATURES.arrow_schema
        )
        write_table(table, out / f"{stem}.parquet", report)
