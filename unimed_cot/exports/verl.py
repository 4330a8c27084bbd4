"""``verl``: the parquet layout of verl's multimodal RL datasets (as its geometry3k example
prepares it), read with ``prompt_key="prompt"`` and ``image_key="images"``::

    OUT/<config>-<shard>.parquet   data_source, prompt [{role, content}] with <image> placeholders,
                                   images [{bytes, path}], ability,
                                   reward_model {style: "rule", ground_truth}, extra_info {...}

``ground_truth`` is the row's ``"B. option"`` answer, which the reference reward compares by
letter. Rows without pixels (annotation-only, not hydrated) are skipped and counted.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pyarrow as pa
from datasets import Features, Image, List, Value

from unimed_cot.chat import system_prompt

from .base import Exporter, ExportReport, ExportRow, write_table
from .unireason import placeholder_user_turn

VERL_FEATURES = Features(
    {
        "data_source": Value("string"),
        "prompt": List({"role": Value("string"), "content": Value("string")}),
        "images": List(Image()),
        "ability": Value("string"),
        "reward_model": {"style": Value("string"), "ground_truth": Value("string")},
        "extra_info": {
            "id": Value("string"),
            "split": Value("string"),
            "index": Value("int64"),
            "dims": Value("int64"),
            "question_type": Value("string"),
            "question": Value("string"),
            "answer": Value("string"),
        },
    }
)


class VerlExporter(Exporter):
    name = "verl"

    def write_shard(
        self, rows: Sequence[ExportRow], *, out: Path, stem: str, report: ExportReport
    ) -> None:
        records = []
        for index, item in enumerate(rows):
            row = item.row
            records.append(
                {
                    "data_source": f"unimed-cot/{row['source']}",
                    "prompt": [
                        {"role": "system", "content": system_prompt(int(row["dims"]))},
                        {"role": "user", "content": placeholder_user_turn(row, len(item.images))},
                    ],
                    "images": [{"bytes": data, "path": None} for data in item.images],
                    "ability": "medical_vqa",
                    "reward_model": {"style": "rule", "ground_truth": row["answer"]},
                    "extra_info": {
                        "id": row["id"],
                        "split": row["split"],
                        "index": index,
                        "dims": int(row["dims"]),
                        "question_type": row["question_type"],
                        "question": row["question"],
                        "answer": row["answer"],
                    },
                }
            )
            report.images += len(item.images)
        report.rows += len(records)
        columns = {name: [r[name] for r in records] for name in VERL_FEATURES}
        table = pa.Table.from_pydict(
            VERL_FEATURES.encode_batch(columns), schema=VERL_FEATURES.arrow_schema
        )
        write_table(table, out / f"{stem}.parquet", report)
