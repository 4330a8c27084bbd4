"""Exports for two training frameworks' documented dataset formats: LLaMA-Factory and verl.

``llamafactory`` (SFT) writes LLaMA-Factory's multimodal ShareGPT layout::

    OUT/dataset_info.json          one entry per file: formatting "sharegpt", columns
                                   messages / images / system, role and content tags
    OUT/<config>-<shard>.json      [{"messages": [{"role", "content"}], "images": [...], "system"}]
    OUT/images/<image id>.png      every image once; "images" lists paths relative to OUT

The user turn carries one ``<image>`` per image (a volume's slices in order) before the question.
No crops are injected: LLaMA-Factory computes the loss on every assistant token, so vision
tokens placed after each ``<|box_end|>`` would be trained on; the boxes stay in the reasoning
(the ``--no-region-tokens`` setting of our trainer). Use ``trl`` or ``unireason`` for injection.

``verl`` (RL) writes the parquet layout of verl's multimodal RL datasets (as its geometry3k
example prepares it), read with ``prompt_key="prompt"`` and ``image_key="images"``::

    OUT/<config>-<shard>.parquet   data_source, prompt [{role, content}] with <image> placeholders,
                                   images [{bytes, path}], ability,
                                   reward_model {style: "rule", ground_truth}, extra_info {...}

``ground_truth`` is the row's ``"B. option"`` answer, which the reference reward compares by
letter. Rows without pixels (annotation-only, not hydrated) are skipped and counted upstream.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pyarrow as pa
from datasets import Features, Image, List, Value

from unimed_cot.store.files import write_bytes_atomic, write_text_atomic

from .exports import (
    IMAGE_TOKEN,
    SYSTEM_PROMPT_2D,
    SYSTEM_PROMPT_3D,
    ExportReport,
    Rows,
    image_id,
    user_text,
    write_table,
)

DATASET_INFO = "dataset_info.json"
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


def system_prompt(row: dict[str, Any]) -> str:
    return SYSTEM_PROMPT_2D if row["dims"] == 2 else SYSTEM_PROMPT_3D


def write_llamafactory(rows: Rows, out: Path, stem: str, report: ExportReport) -> None:
    """One ShareGPT JSON file for the rows of a shard, its images, its dataset_info entry."""
    records = []
    for row, images, _crops in rows:
        paths = []
        for data in images:
            path = out / "images" / f"{image_id(data)}.png"
            if not path.exists():
                write_bytes_atomic(path, data)
                report.images += 1
            paths.append(path.relative_to(out).as_posix())
        records.append(
            {
                "messages": [
                    {"role": "user", "content": IMAGE_TOKEN * len(images) + user_text(row)},
                    {"role": "assistant", "content": row["reasoning"]},
                ],
                "images": paths,
                "system": system_prompt(row),
                "id": row["id"],
            }
        )
    report.rows += len(records)
    path = out / f"{stem}.json"
    write_text_atomic(path, json.dumps(records, ensure_ascii=False, indent=1) + "\n")
    report.files.append(path)
    _register(out / DATASET_INFO, stem, path.name)


def _register(info_path: Path, name: str, file_name: str) -> None:
    """Add (or replace) the dataset_info.json entry of one exported file."""
    info = json.loads(info_path.read_text(encoding="utf-8")) if info_path.exists() else {}
    info[name] = {
        "file_name": file_name,
        "formatting": "sharegpt",
        "columns": {"messages": "messages", "images": "images", "system": "system"},
        "tags": {
            "role_tag": "role",
            "content_tag": "content",
            "user_tag": "user",
            "assistant_tag": "assistant",
        },
    }
    write_text_atomic(info_path, json.dumps(info, indent=2, sort_keys=True) + "\n")


def write_verl(rows: Rows, path: Path, report: ExportReport) -> None:
    """One verl RL parquet file for the rows of a shard (images embedded as PNG bytes)."""
    records = []
    for index, (row, images, _crops) in enumerate(rows):
        records.append(
            {
                "data_source": f"unimed-cot/{row['source']}",
                "prompt": [
                    {"role": "system", "content": system_prompt(row)},
                    {"role": "user", "content": IMAGE_TOKEN * len(images) + user_text(row)},
                ],
                "images": [{"bytes": data, "path": None} for data in images],
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
        report.images += len(images)
    report.rows += len(records)
    columns = {name: [r[name] for r in records] for name in VERL_FEATURES}
    table = pa.Table.from_pydict(
        VERL_FEATURES.encode_batch(columns), schema=VERL_FEATURES.arrow_schema
    )
    write_table(table, path, report)
