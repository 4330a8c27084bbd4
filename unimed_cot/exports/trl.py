"""``trl``: TRL's conversational vision format, as prompt / completion pairs::

    OUT/<split>/<config>-<shard>.parquet   id, prompt [system, user], completion [assistant],
                                           images (the user turn's images, in order)

Every turn's ``content`` is a list of ``{"type": "image"}`` / ``{"type": "text", "text": ...}``
parts. With prompt / completion data TRL's ``SFTTrainer`` computes the loss on the completion
only (``completion_only_loss``, on by default), so the images of the prompt are never trained on.
No crops are injected into the completion: TRL's ``DataCollatorForVisionLanguageModeling`` leaves
every vision token in the labels, so crops placed after each ``<|box_end|>`` would be trained on;
the boxes stay in the reasoning. (Our own trainer, ``unimed-cot train sft``, injects and masks
them.) One folder per split, so ``load_dataset("parquet", data_dir=OUT)`` gives ``train``,
``validation`` and ``test`` apart.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import ClassVar

import pyarrow as pa
from datasets import Features, Image, List, Value

from unimed_cot.chat import system_prompt, user_text

from .base import Exporter, ExportReport, ExportRow, Guide, write_table
from .lengths import round_up

_PART = {"type": Value("string"), "text": Value("string")}
_TURNS = List({"role": Value("string"), "content": List(_PART)})
TRL_FEATURES = Features(
    {"id": Value("string"), "prompt": _TURNS, "completion": _TURNS, "images": List(Image())}
)


def _text(text: str) -> dict[str, str | None]:
    return {"type": "text", "text": text}


class TRLExporter(Exporter):
    name = "trl"
    owned: ClassVar[tuple[str, ...]] = ("train", "validation", "test")

    def write_shard(
        self, rows: Sequence[ExportRow], *, out: Path, stem: str, split: str, report: ExportReport
    ) -> None:
        records = []
        for item in rows:
            row = item.row
            dims = int(row["dims"])
            user: list[dict[str, str | None]] = [{"type": "image", "text": None}] * len(item.images)
            text = user_text(question=row["question"], options=row["options"], dims=dims)
            user.append(_text(text))
            records.append(
                {
                    "id": row["id"],
                    "prompt": [
                        {"role": "system", "content": [_text(system_prompt(dims))]},
                        {"role": "user", "content": user},
                    ],
                    "completion": [{"role": "assistant", "content": [_text(row["reasoning"])]}],
                    "images": list(item.images),
                }
            )
            report.images += len(item.images)
        report.rows += len(records)
        columns = {name: [r[name] for r in records] for name in TRL_FEATURES}
        table = pa.Table.from_pydict(
            TRL_FEATURES.encode_batch(columns), schema=TRL_FEATURES.arrow_schema
        )
        write_table(table, out / split / f"{stem}.parquet", report)

    def guide(self, report: ExportReport) -> Guide:
        total = report.longest.total.total if report.longest.total else 0
        settings = {
            "max_length": round_up(total),
            "completion_only_loss": True,
            "dataset_format": "conversational prompt-completion with images",
        }
        how = f"""## Layout

- `train/`, `validation/`, `test/`: one folder per split, Parquet with `prompt`, `completion`
  and `images` (the user turn's images in order). No crops: every vision token is in the
  prompt, which TRL does not train on with prompt / completion data.

## What to run next

```python
from datasets import load_dataset
from trl import SFTConfig, SFTTrainer

data = load_dataset("parquet", data_dir="OUT")  # train / validation / test
config = SFTConfig(max_length={settings["max_length"]}, completion_only_loss=True)
trainer = SFTTrainer(model="Qwen/Qwen2.5-VL-3B-Instruct", args=config,
                     train_dataset=data["train"], eval_dataset=data["validation"])
```

`max_length` covers this export's longest row. TRL's default is 1024; a row longer than
`max_length` is cut inside its vision tokens (an image-token mismatch)."""
        return Guide(settings=settings, how=how)
