"""``verl``: the parquet layout of verl's multimodal RL datasets (as its geometry3k example
prepares it), read with ``prompt_key="prompt"`` and ``image_key="images"``::

    OUT/train.parquet, OUT/validation.parquet, OUT/test.parquet
                     data_source, prompt [{role, content}] with <image> placeholders,
                     images [{bytes, path}], ability, reward_model {style: "rule", ground_truth},
                     extra_info {id, split, index (unique across the export), options, ...}
    OUT/reward.py    the outcome reward (``verl_reward``), for ``custom_reward_function``

``ground_truth`` is the row's ``"B. option"`` answer, which the reward compares by letter: verl
has no built-in reward for ``data_source`` ``unimed-cot/<source>``, so the export ships one.
Rows without pixels (annotation-only, not hydrated) are skipped and counted.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import ClassVar

import pyarrow as pa
import pyarrow.parquet as pq
from datasets import Features, Image, List, Value

from unimed_cot.chat import system_prompt
from unimed_cot.store import write_text_atomic

from . import verl_reward
from .base import Exporter, ExportReport, ExportRow, Guide
from .lengths import round_up
from .unireason import placeholder_user_turn

REWARD_FILE = "reward.py"

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
            "options": List(Value("string")),
            "answer": Value("string"),
        },
    }
)


class VerlExporter(Exporter):
    name = "verl"
    owned: ClassVar[tuple[str, ...]] = (
        "train.parquet",
        "validation.parquet",
        "test.parquet",
        "reward.py",
    )

    def __init__(self) -> None:
        self.index = 0  # extra_info.index, unique across the export
        self.writers: dict[str, tuple[pq.ParquetWriter, Path]] = {}

    def write_shard(
        self, rows: Sequence[ExportRow], *, out: Path, stem: str, split: str, report: ExportReport
    ) -> None:
        records = []
        for item in rows:
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
                        "split": split,
                        "index": self.index,
                        "dims": int(row["dims"]),
                        "question_type": row["question_type"],
                        "question": row["question"],
                        "options": list(row["options"] or []),
                        "answer": row["answer"],
                    },
                }
            )
            self.index += 1
            report.images += len(item.images)
        report.rows += len(records)
        columns = {name: [r[name] for r in records] for name in VERL_FEATURES}
        table = pa.Table.from_pydict(
            VERL_FEATURES.encode_batch(columns), schema=VERL_FEATURES.arrow_schema
        )
        if split not in self.writers:
            final = out / f"{split}.parquet"
            final.parent.mkdir(parents=True, exist_ok=True)
            partial = final.with_name(f".{final.name}.partial")
            writer = pq.ParquetWriter(partial, VERL_FEATURES.arrow_schema, compression="zstd")
            self.writers[split] = (writer, partial)
        self.writers[split][0].write_table(table)

    def finish(self, *, out: Path, report: ExportReport) -> None:
        """Close each split's file (renamed into place only now) and ship ``reward.py``."""
        for split, (writer, partial) in sorted(self.writers.items()):
            writer.close()
            final = out / f"{split}.parquet"
            partial.replace(final)
            report.files.append(final)
        reward = out / REWARD_FILE
        write_text_atomic(reward, Path(verl_reward.__file__).read_text(encoding="utf-8"))
        report.files.append(reward)

    def guide(self, report: ExportReport) -> Guide:
        longest = report.longest
        prompt = longest.prompt.prompt if longest.prompt else 0
        completion = longest.completion.completion if longest.completion else 0
        settings = {
            "data.train_files": "OUT/train.parquet",
            "data.val_files": "OUT/validation.parquet"
            if report.rows_by_split.get("validation")
            else None,
            "data.prompt_key": "prompt",
            "data.image_key": "images",
            "data.max_prompt_length": round_up(prompt),
            "data.max_response_length": round_up(completion),
            "reward.custom_reward_function.path": f"OUT/{REWARD_FILE}",
            "reward.custom_reward_function.name": "compute_score",
        }
        how = f"""## Layout

- `train.parquet`, `validation.parquet`, `test.parquet`: one file per split, verl's multimodal
  RL columns (`prompt` with `<image>` placeholders, `images`, `reward_model.ground_truth`,
  `extra_info` with a unique `index` and the row's `options`).
- `{REWARD_FILE}`: the outcome reward `0.8 * answer + 0.2 * format` (answer letter after the last
  `</think>`; format: balanced `<think>` and box tokens), standard library only. verl has no
  built-in reward for `data_source` `unimed-cot/<source>`.

## What to run next

```bash
python -m verl.trainer.main_ppo \\
  data.train_files=OUT/train.parquet data.val_files=OUT/validation.parquet \\
  data.image_key=images data.max_prompt_length={settings["data.max_prompt_length"]} \\
  data.max_response_length={settings["data.max_response_length"]} \\
  reward.custom_reward_function.path=OUT/{REWARD_FILE} \\
  reward.custom_reward_function.name=compute_score \\
  actor_rollout_ref.model.path=Qwen/Qwen2.5-VL-3B-Instruct ...
```

(older verl versions take the top-level `custom_reward_function.path` / `.name`.)
`max_prompt_length` covers this export's longest prompt; verl's default is 512, and with
`filter_overlong_prompts` every longer prompt (every 3D row at 32 slices) is dropped.
`max_response_length` below is the longest reference reasoning; a
policy may write more. verl decodes completions with special tokens skipped, so the box tokens
are gone and the box half of the format term always holds there."""
        return Guide(settings=settings, how=how)
