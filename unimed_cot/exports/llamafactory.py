"""``llamafactory``: LLaMA-Factory's multimodal ShareGPT layout (SFT)::

    OUT/dataset_info.json          one entry per split (``unimed_cot_train``,
                                   ``unimed_cot_validation``, ``unimed_cot_test``) whose
                                   ``file_name`` is the split's folder: formatting "sharegpt",
                                   columns messages / images / system, role and content tags
    OUT/<split>/<config>-<shard>.json
                                   [{"messages": [{"role", "content"}], "images": [...], "system"}]
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
from typing import Any, ClassVar

from unimed_cot.chat import system_prompt
from unimed_cot.store import write_bytes_atomic, write_text_atomic

from .base import Exporter, ExportReport, ExportRow, Guide, image_id
from .lengths import pixel_count, round_up
from .unireason import placeholder_user_turn

DATASET_INFO = "dataset_info.json"
ENTRY_PREFIX = "unimed_cot_"
LF_DEFAULT_MAX_PIXELS = 768 * 768  # LLaMA-Factory's image_max_pixels default


class LlamaFactoryExporter(Exporter):
    name = "llamafactory"
    owned: ClassVar[tuple[str, ...]] = ("train", "validation", "test", "images")

    def __init__(self) -> None:
        self.entries: dict[str, dict[str, Any]] = {}
        self.max_pixels = LF_DEFAULT_MAX_PIXELS  # at least the largest image's pixels

    def write_shard(
        self, rows: Sequence[ExportRow], *, out: Path, stem: str, split: str, report: ExportReport
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
                self.max_pixels = max(self.max_pixels, pixel_count(data))
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
        path = out / split / f"{stem}.json"
        write_text_atomic(path, json.dumps(records, ensure_ascii=False, indent=1) + "\n")
        report.files.append(path)
        self.entries[f"{ENTRY_PREFIX}{split}"] = _entry(split)

    def finish(self, *, out: Path, report: ExportReport) -> None:
        if not self.entries:
            return
        info_path = out / DATASET_INFO
        info = json.loads(info_path.read_text(encoding="utf-8")) if info_path.exists() else {}
        info.update(self.entries)
        write_text_atomic(info_path, json.dumps(info, indent=2, sort_keys=True) + "\n")
        report.files.append(info_path)

    def guide(self, report: ExportReport) -> Guide:
        total = report.longest.total.total if report.longest.total else 0
        settings = {
            "dataset_dir": "OUT",
            "dataset": f"{ENTRY_PREFIX}train",
            # None when the release has no validation rows
            "eval_dataset": f"{ENTRY_PREFIX}validation"
            if report.rows_by_split.get("validation")
            else None,
            "template": "qwen2_vl",
            "cutoff_len": round_up(total),
            "image_max_pixels": self.max_pixels,
        }
        how = f"""## Layout

- `dataset_info.json`: one entry per split, `{ENTRY_PREFIX}train`, `{ENTRY_PREFIX}validation`,
  `{ENTRY_PREFIX}test`; each names its split's folder (`train/`, `validation/`, `test/`) of
  ShareGPT JSON files. `images/`: every image once, paths relative to this folder.
- No crops are injected: LLaMA-Factory trains every assistant token, so vision tokens after each
  `<|box_end|>` would be trained on; the boxes stay in the reasoning.

## What to run next

Add to your LLaMA-Factory training YAML (paths relative to where you run it):

```yaml
dataset_dir: OUT
dataset: {ENTRY_PREFIX}train
eval_dataset: {ENTRY_PREFIX}validation
template: qwen2_vl
cutoff_len: {settings["cutoff_len"]}
image_max_pixels: {self.max_pixels}
```

then `llamafactory-cli train your.yaml`. `cutoff_len` covers this export's longest row
(LLaMA-Factory's default is 2048; a shorter one cuts prompts inside their vision tokens).
`image_max_pixels` at least the largest image keeps
LLaMA-Factory from downscaling (the lengths below assume unscaled images)."""
        return Guide(settings=settings, how=how)


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
