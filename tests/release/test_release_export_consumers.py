"""Exports as their consumers read them: held-out splits never read as training, length settings
that cover every row (vision tokens counted as the Qwen2.5-VL processor counts them), the verl
reward equal to the trainer's, and no vision token trained by TRL's own collator."""

from __future__ import annotations

import ast
import importlib.util
import json
from pathlib import Path
from types import ModuleType
from typing import Any

import pyarrow.parquet as pq
import pytest

from unimed_cot.exports import export_release
from unimed_cot.exports.lengths import MAX_PIXELS, MIN_PIXELS, image_tokens, smart_resize
from unimed_cot.release.manifest import read_manifest
from unimed_cot.release.publish import publish
from unimed_cot.train.rewards import outcome_reward

FORMATS = ["unireason", "trl", "llamafactory", "verl"]


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory, workspace_builder: Any) -> dict[str, Path]:
    """A published synthetic release (20 train, 6 validation, 8 test rows) and its four exports;
    ``"release"`` is the release itself."""
    root = tmp_path_factory.mktemp("exports")
    release = workspace_builder(root / "unimed-cot")
    publish(release, version="0.1.0")
    paths = {"release": release}
    for fmt in FORMATS:
        export_release(release, fmt=fmt, out=root / fmt)
        paths[fmt] = root / fmt
    return paths


def _release_rows(release: Path) -> dict[str, dict[str, Any]]:
    """Every published row by id, with the split of its shard."""
    rows = {}
    for shard in read_manifest(release / "manifest.json")["shards"]:
        for row in pq.read_table(release / shard["path"], columns=["id", "question"]).to_pylist():
            rows[row["id"]] = {**row, "split": shard["split"]}
    return rows


def _trained_ids(fmt: str, out: Path, rows: dict[str, dict[str, Any]]) -> list[str]:
    """The ids of the rows ``fmt``'s consumer reads as training, read as it reads them."""
    import datasets

    if fmt == "unireason":  # the reference scripts: every *.parquet of sft/ and rl/
        rl = pq.read_table(sorted((out / "rl").glob("*.parquet"))).to_pylist()
        sft = pq.read_table(sorted((out / "sft").glob("*.parquet"))).to_pylist()
        by_question = {}
        for row in rows.values():
            by_question.setdefault(row["question"], set()).add(row["split"])
        # SFT rows carry no id: their question names the case, and a case is in one split.
        for record in sft:
            user = record["messages"][1]["content"].replace("<image>", "")
            question = user.split("\n\n")[0]
            assert by_question[question] == {"train"}, question
        assert len(sft) == len(rl)
        return [r["extra_info"]["id"] for r in rl]
    if fmt == "trl":
        return list(datasets.load_dataset("parquet", data_dir=str(out))["train"]["id"])
    if fmt == "llamafactory":
        info = json.loads((out / "dataset_info.json").read_text())
        folder = out / info["unimed_cot_train"]["file_name"]
        return [r["id"] for p in sorted(folder.glob("*.json")) for r in json.loads(p.read_text())]
    table = pq.read_table(out / "train.parquet", columns=["extra_info"])
    return [e["id"] for e in table.column("extra_info").to_pylist()]


@pytest.mark.parametrize("fmt", FORMATS)
def test_held_out_rows_are_not_read_as_training(exported: dict[str, Path], fmt: str) -> None:
    rows = _release_rows(exported["release"])
    trained = _trained_ids(fmt, exported[fmt], rows)
    train = sorted(i for i, r in rows.items() if r["split"] == "train")
    assert sorted(trained) == train and len(train) == 20
    info = json.loads((exported[fmt] / "export.json").read_text())
    assert info["rows_by_split"] == {"test": 8, "train": 20, "validation": 6}
    readme = (exported[fmt] / "README.md").read_text()
    assert "What to run next" in readme and "validation" in readme


def test_held_out_splits_have_their_own_place(exported: dict[str, Path]) -> None:
    import datasets

    rows = _release_rows(exported["release"])
    ids = {s: sorted(i for i, r in rows.items() if r["split"] == s) for s in ("validation", "test")}
    for split in ids:
        unireason = pq.read_table(
            sorted((exported["unireason"] / "heldout" / split / "rl").iterdir())
        )
        assert sorted(e["id"] for e in unireason.column("extra_info").to_pylist()) == ids[split]
        trl = datasets.load_dataset("parquet", data_dir=str(exported["trl"]))[split]
        assert sorted(trl["id"]) == ids[split]
        verl = pq.read_table(exported["verl"] / f"{split}.parquet").column("extra_info")
        assert sorted(e["id"] for e in verl.to_pylist()) == ids[split]
    info = json.loads((exported["llamafactory"] / "dataset_info.json").read_text())
    assert sorted(info) == ["unimed_cot_test", "unimed_cot_train", "unimed_cot_validation"]
    for split in ids:
        folder = exported["llamafactory"] / info[f"unimed_cot_{split}"]["file_name"]
        records = [r for p in folder.glob("*.json") for r in json.loads(p.read_text())]
        assert sorted(r["id"] for r in records) == ids[split]


def test_verl_index_is_unique_across_the_export(exported: dict[str, Path]) -> None:
    indices = [
        e["index"]
        for split in ("train", "validation", "test")
        for e in pq.read_table(exported["verl"] / f"{split}.parquet")
        .column("extra_info")
        .to_pylist()
    ]
    assert sorted(indices) == list(range(34))


def test_vision_token_arithmetic_is_the_qwen_processor_s() -> None:
    pytest.importorskip("transformers", reason="needs the [train] extra")
    import numpy as np
    from PIL import Image
    from transformers.models.qwen2_vl.image_processing_pil_qwen2_vl import (
        Qwen2VLImageProcessorPil,
    )
    from transformers.models.qwen2_vl.image_processing_pil_qwen2_vl import (
        smart_resize as hf_smart_resize,
    )

    sizes = [(4, 4), (10, 500), (56, 84), (255, 256), (512, 512), (29, 27), (4000, 3000)]
    sizes += [(h, w) for h in (5, 33, 97, 301) for w in (7, 64, 180, 449)]
    for h, w in sizes:
        expected = hf_smart_resize(h, w, factor=28, min_pixels=MIN_PIXELS, max_pixels=MAX_PIXELS)
        assert smart_resize(h, w) == expected, (h, w)
    processor = Qwen2VLImageProcessorPil(min_pixels=MIN_PIXELS, max_pixels=MAX_PIXELS)
    for h, w in [(4, 4), (56, 84), (255, 256), (33, 449)]:
        image = Image.fromarray(np.zeros((h, w, 3), np.uint8))
        grid = processor(images=[image], return_tensors="np")["image_grid_thw"][0]
        assert image_tokens(h, w) == int(np.prod(grid)) // 4, (h, w)


def _processor() -> Any:
    """A Qwen2.5-VL-style processor: tokenizer trained on the fly, the real image processor at
    Qwen2.5-VL's pixel limits, the trainer's chat template."""
    pytest.importorskip("transformers", reason="needs the [train] extra")
    from transformers.models.qwen2_vl.image_processing_pil_qwen2_vl import (
        Qwen2VLImageProcessorPil,
    )

    from unimed_cot.train.processor import CHAT_TEMPLATE, ImageOnlyQwen2VLProcessor
    from unimed_cot.train.tiny import build_tokenizer

    tokenizer = build_tokenizer()
    image_processor = Qwen2VLImageProcessorPil(min_pixels=MIN_PIXELS, max_pixels=MAX_PIXELS)
    return ImageOnlyQwen2VLProcessor(image_processor, tokenizer, chat_template=CHAT_TEMPLATE)


def _trl_batches(out: Path, split: str, *, max_length: int | None) -> list[tuple[dict, Any]]:
    """Each row of the TRL export's ``split`` and its batch from TRL's own vision collator."""
    import datasets
    from trl.trainer.sft_trainer import DataCollatorForVisionLanguageModeling

    processor = _processor()
    collator = DataCollatorForVisionLanguageModeling(
        processor, max_length=max_length, completion_only_loss=True
    )
    data = datasets.load_dataset("parquet", data_dir=str(out))[split]
    return [(row, collator([dict(row)])) for row in data], processor


def test_trl_trains_no_vision_token_and_fits_max_length(exported: dict[str, Path]) -> None:
    pytest.importorskip("trl", reason="needs the [train] extra")
    import torch

    settings = json.loads((exported["trl"] / "export.json").read_text())["settings"]
    for split in ("train", "test"):
        batches, processor = _trl_batches(exported["trl"], split, max_length=None)
        vision = torch.tensor(
            processor.tokenizer.convert_tokens_to_ids(
                ["<|vision_start|>", "<|image_pad|>", "<|vision_end|>"]
            )
        )
        for row, batch in batches:
            ids, labels = batch["input_ids"][0], batch["labels"][0]
            trained = labels != -100
            assert int((trained & torch.isin(ids, vision)).sum()) == 0  # no vision token trained
            assert int(torch.isin(ids, vision).sum()) > 0  # ... though the images are there
            text = processor.tokenizer.decode(ids[trained])
            assert row["completion"][0]["content"][0]["text"] in text
            assert len(ids) <= settings["max_length"], row["id"]


def test_trl_collator_would_train_crops_in_the_messages_layout(exported: dict[str, Path]) -> None:
    """Why the TRL export has no crops: the same collator trains a crop placed in the turn."""
    pytest.importorskip("trl", reason="needs the [train] extra")
    import datasets
    from trl.trainer.sft_trainer import DataCollatorForVisionLanguageModeling

    row = datasets.load_dataset("parquet", data_dir=str(exported["trl"]))["train"][0]
    processor = _processor()
    reasoning = row["completion"][0]["content"][0]["text"]
    head, tail = reasoning.split("<|box_end|>", 1)
    assistant = [
        {"type": "text", "text": head + "<|box_end|>"},
        {"type": "image", "text": None},
        {"type": "text", "text": tail},
    ]
    example = {
        "messages": [*row["prompt"], {"role": "assistant", "content": assistant}],
        "images": [*row["images"], row["images"][0]],
    }
    batch = DataCollatorForVisionLanguageModeling(processor)([example])
    pad = processor.tokenizer.convert_tokens_to_ids("<|image_pad|>")
    assert int(((batch["labels"][0] != -100) & (batch["input_ids"][0] == pad)).sum()) > 0


def test_length_settings_cover_the_longest_row(exported: dict[str, Path]) -> None:
    """Each export's stated lengths cover its rows tokenized with the real processor."""
    pytest.importorskip("trl", reason="needs the [train] extra")
    batches = []
    for split in ("train", "validation", "test"):
        split_batches, processor = _trl_batches(exported["trl"], split, max_length=None)
        batches += split_batches
    prompt_len = {}
    total_len = {}
    for row, batch in batches:
        total_len[row["id"]] = int(batch["attention_mask"][0].sum())
        prompt_len[row["id"]] = int((batch["labels"][0] == -100).sum())  # prompt tokens
    for fmt in FORMATS:
        info = json.loads((exported[fmt] / "export.json").read_text())
        settings, longest = info["settings"], info["longest"]
        assert longest["total_tokens"] >= max(total_len.values())
        assert longest["prompt_tokens"] >= max(prompt_len.values())
        total_setting = {
            "unireason": "sft_max_length",
            "trl": "max_length",
            "llamafactory": "cutoff_len",
        }.get(fmt)
        if total_setting:
            assert settings[total_setting] >= longest["total_tokens"]
        if fmt == "verl":
            assert settings["data.max_prompt_length"] >= longest["prompt_tokens"]
    # vision tokens of the longest row are the processor's count exactly (no crops in TRL)
    info = json.loads((exported["trl"] / "export.json").read_text())["longest"]
    row, batch = next((r, b) for r, b in batches if r["id"] == info["total_row"])
    vision = processor.tokenizer.convert_tokens_to_ids(
        ["<|vision_start|>", "<|image_pad|>", "<|vision_end|>"]
    )
    ids = batch["input_ids"][0].tolist()
    assert sum(i in vision for i in ids) == info["total_row_vision_tokens"]


def _load_by_path(path: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location("shipped_reward", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


COMPLETIONS = [
    "<think>The lesion <|box_start|>[1,2,3,4]<|box_end|> is left.</think>B. left",
    "<think>The lesion <|box_start|>[1,2,3,4]<|box_end|> is left.</think>B",
    "<think>reasoning</think>The answer is B. left",
    "<think>reasoning</think>(B)",
    "<think>reasoning</think>Answer: A",
    "<think>reasoning</think>B. right",
    "<think>reasoning</think>left",
    "<think>reasoning</think>a",
    "<think>unclosed B. left",
    "<think>x <|box_start|>[1,2<|box_end|></think><think>B. left",
    "B. left",
    "</think>D",
    "<think>a</think>\n\nfirst line A\nB. left<|im_end|>",
    "<think>two</think><think>boxes <|box_start|>[1]</think>C. upper",
    "<think><|box_start|>[1,2]</think></think>B. left",  # both halves of the format broken
    "",
]
TRUTHS = [
    ("B. left", ["right", "left"]),
    ("A. right", ["right", "left"]),
    ("C. upper", ["right", "left", "upper", "lower"]),
    ("D. lower", ["right", "left", "upper", "lower"]),
    ("B. left", []),
]


def test_shipped_verl_reward_equals_the_trainer_reward(exported: dict[str, Path]) -> None:
    path = exported["verl"] / "reward.py"
    tree = ast.parse(path.read_text())
    imported = {
        alias.name.split(".")[0]
        for n in ast.walk(tree)
        if isinstance(n, ast.Import)
        for alias in n.names
    } | {
        n.module.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module
    }
    assert imported <= {"__future__", "re", "collections", "typing"}  # loads by path, alone
    reward = _load_by_path(path)
    values = set()
    for completion in COMPLETIONS:
        for truth, options in TRUTHS:
            extra = {"options": options, "index": 0}
            got = reward.compute_score("unimed-cot/alpha", completion, truth, extra)
            assert got == outcome_reward(completion, truth, options), (completion, truth)
            values.add(round(got, 6))
    assert values == {0.0, 0.1, 0.2, 0.8, 0.9, 1.0}  # every answer x format combination occurs
    # the export's own ground truths score 1.0 for the reference answer
    table = pq.read_table(exported["verl"] / "train.parquet").to_pylist()
    for row in table:
        truth, extra = row["reward_model"]["ground_truth"], row["extra_info"]
        assert (
            reward.compute_score(row["data_source"], f"<think>x</think>{truth}", truth, extra)
            == 1.0
        )


# The consumers' own loaders. Each installs without CUDA (verl and LLaMA-Factory with
# ``pip install --no-deps``, see the README); skipped with the reason when not installed.


@pytest.mark.slow
def test_verl_rl_dataset_keeps_every_train_row_at_the_stated_length(
    exported: dict[str, Path], tmp_path: Path
) -> None:
    pytest.importorskip("verl.utils.dataset.rl_dataset", reason="verl is not installed")
    # verl's multimodal path imports qwen_vl_utils, which imports torchvision at import time
    pytest.importorskip("qwen_vl_utils", reason="verl's image loader needs qwen_vl_utils")
    from omegaconf import OmegaConf
    from verl.utils.dataset.rl_dataset import RLHFDataset

    out = exported["verl"]
    settings = json.loads((out / "export.json").read_text())["settings"]
    processor = _processor()

    def dataset(max_prompt_length: int) -> Any:
        config = {
            "prompt_key": settings["data.prompt_key"],
            "image_key": settings["data.image_key"],
            "max_prompt_length": max_prompt_length,
            "filter_overlong_prompts": True,
            "filter_overlong_prompts_workers": 1,
            "cache_dir": str(tmp_path / "cache"),
        }
        return RLHFDataset(
            [str(out / "train.parquet")], processor.tokenizer, OmegaConf.create(config), processor
        )

    data = dataset(settings["data.max_prompt_length"])
    assert len(data) == 20  # the filter keeps every train row at the stated length
    items = [data[i] for i in range(len(data))]
    assert len({item["index"] for item in items}) == 20
    assert all(item["multi_modal_data"]["image"] for item in items)
    assert len(dataset(64)) == 0  # ... and is active: a too-short prompt length drops rows


@pytest.mark.slow
def test_verl_loads_and_runs_the_shipped_reward(exported: dict[str, Path]) -> None:
    pytest.importorskip("verl.utils.import_utils", reason="verl is not installed")
    from verl.utils.import_utils import load_extern_object

    out = exported["verl"]
    settings = json.loads((out / "export.json").read_text())["settings"]
    assert settings["reward.custom_reward_function.path"] == "OUT/reward.py"
    reward = load_extern_object(
        module_path=str(out / "reward.py"),
        object_name=settings["reward.custom_reward_function.name"],
    )
    first = pq.read_table(out / "train.parquet").slice(0, 1).to_pylist()[0]
    truth = first["reward_model"]["ground_truth"]
    right = reward(
        data_source=first["data_source"],
        solution_str=f"<think>look</think>{truth}",
        ground_truth=truth,
        extra_info=first["extra_info"],
    )
    wrong = reward(
        data_source=first["data_source"],
        solution_str="<think>look</think>Z",
        ground_truth=truth,
        extra_info=first["extra_info"],
    )
    assert (right, wrong) == (1.0, pytest.approx(0.2))


@pytest.mark.slow
def test_trl_sft_trainer_trains_a_step_on_the_export(
    exported: dict[str, Path], tmp_path: Path
) -> None:
    pytest.importorskip("trl", reason="needs the [train] extra")
    import datasets
    from transformers import Qwen2_5_VLForConditionalGeneration
    from trl import SFTConfig, SFTTrainer

    from unimed_cot.train.processor import load_processor
    from unimed_cot.train.tiny import write_tiny_model

    out = exported["trl"]
    settings = json.loads((out / "export.json").read_text())["settings"]
    model_dir = write_tiny_model(tmp_path / "model")
    data = datasets.load_dataset("parquet", data_dir=str(out))
    config = SFTConfig(
        output_dir=str(tmp_path / "run"),
        max_steps=1,
        per_device_train_batch_size=2,
        max_length=settings["max_length"],
        completion_only_loss=settings["completion_only_loss"],
        report_to="none",
        save_strategy="no",
        use_cpu=True,
        disable_tqdm=True,
    )
    trainer = SFTTrainer(
        model=Qwen2_5_VLForConditionalGeneration.from_pretrained(model_dir),
        args=config,
        train_dataset=data["train"],
        eval_dataset=data["validation"],
        processing_class=load_processor(model_dir),
    )
    result = trainer.train()
    assert result.global_step == 1 and result.training_loss > 0


def _llamafactory_loader() -> ModuleType:
    """LLaMA-Factory's own dataset loader (``llamafactory.data.loader``: dataset_info parsing,
    file loading, ShareGPT alignment). The package's ``__init__`` is bypassed: it imports the
    chat templates and multimodal plugins, which import torchaudio (no CPU build for this torch);
    the loader itself does not need them."""
    import importlib.machinery
    import sys

    llamafactory = pytest.importorskip("llamafactory", reason="LLaMA-Factory is not installed")
    if "llamafactory.data" not in sys.modules:
        spec = importlib.machinery.ModuleSpec("llamafactory.data", None, is_package=True)
        package = importlib.util.module_from_spec(spec)
        package.__path__ = [str(Path(llamafactory.__file__).parent / "data")]
        sys.modules["llamafactory.data"] = package
    return importlib.import_module("llamafactory.data.loader")


@pytest.mark.slow
def test_llamafactory_loads_one_entry_per_split(
    exported: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # LLaMA-Factory 0.9.5 pins transformers <= 5.6; its documented switch skips the check
    monkeypatch.setenv("DISABLE_VERSION_CHECK", "1")
    loader = _llamafactory_loader()
    from llamafactory.hparams import DataArguments, ModelArguments
    from transformers import Seq2SeqTrainingArguments

    out = exported["llamafactory"]
    settings = json.loads((out / "export.json").read_text())["settings"]
    data_args = DataArguments(
        dataset_dir=str(out),
        dataset=settings["dataset"],
        eval_dataset=settings["eval_dataset"],
        template=settings["template"],
        cutoff_len=settings["cutoff_len"],
    )
    model_args = ModelArguments(model_name_or_path=str(tmp_path))
    training_args = Seq2SeqTrainingArguments(output_dir=str(tmp_path / "run"), use_cpu=True)
    rows = _release_rows(exported["release"])
    for split, name in (("train", settings["dataset"]), ("validation", settings["eval_dataset"])):
        data = loader._get_merged_dataset([name], model_args, data_args, training_args, "sft")
        assert data.num_rows == sum(r["split"] == split for r in rows.values())
        for record in data:
            user = record["_prompt"][0]["content"]
            assert user.count("<image>") == len(record["_images"]) >= 1
            assert all((out / path).is_file() for path in record["_images"])
            assert record["_system"].startswith("You are a medical expert")
            assert "<image>" not in record["_response"][0]["content"]
            question = user.replace("<image>", "").split("\n\n")[0]
            assert {r["split"] for r in rows.values() if r["question"] == question} == {split}
