"""``llamafactory``: LLaMA-Factory's multimodal ShareGPT layout (SFT)::

    OUT/dataset_info.json          one entry per file: formatting "sharegpt", columns
                                   messages / images / system, role and content tags
    OUT/<config>-<shard>.json      [{"messages": [{"role", "content"}], "images": [...], "system"}]
    OUT/images/<image id>.png      every image once; "images" lists paths relative to OUT

The user turn carries one ``<image>`` per image (a volume's slices in order) before the question.
No crops are injected: LLaMA-Factory computes the loss on every assistant token, so vision
tokens placed after each ``<|box_end|>`` would be trained on; the boxes stay in the reasoning
(the ``--no-region-tokens`` setting of our trainer). Use ``trl`` or ``unireason`` for injection.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from unimed_cot.chat import system_prompt
from unimed_cot.store import write_bytes_atomic, write_text_atomic

from .base import Exporter, ExportReport, ExportRow, image_id
from .unireason import placeholder_user_turn

DATASET_INFO = "dataset_info.json"


class LlamaFactoryExporter(Exporter):
    name = "llamafactory"

    def __init__(self) -> None:
        self.entries: dict[str, dict[str, Any]] = {}

    def write_shard(
        self, rows: Sequence[ExportRow], *, out: Path, stem: str, report: ExportReport
    ) -> None:
        records = []
        for item in rows:
            row = item.row
            paths = []
            for data in item.images:
                path = out / "images" / f"{image_id(data)}.png"
                if not path.exists():
                    write_bytes_atomic(path, data)
                    report.images += 1
                paths.append(path.relative_to(out).as_posix())
            records.append(
                {
                    "messages": [
                        {"role": "user", "content": placeholder_user_turn(row, len(item.images))},
                        {"role": "assistant", "content": row["reasoning"]},
                    ],
                    "images": paths,
                    "system": system_prompt(int(row["dims"])),
                    "id": row["id"],
                }
            )
        report.rows += len(records)
        path = out / f"{stem}.json"
        write_text_atomic(path, json.dumps(records, ensure_ascii=False, indent=1) + "\n")
        report.files.append(path)
        self.entries[stem] = _entry(path.name)

    def finish(self, *, out: Path, report: ExportReport) -> None:
        if not self.entries:
            return
        info_path = out / DATASET_INFO
        info = json.loads(info_path.read_text(encoding="utf-8")) if info_path.exists() else {}
        info.update(self.entries)
        write_text_atomic(info_path, json.dumps(info, indent=2, sort_keys=True) + "\n")


def _entry(file_name: str) -> dict[str, Any]:
    """The dataset_info.json entry of one exported file."""
    return {
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
