"""export: the UniReason-Med release layout and TRL's conversational vision format."""

from __future__ import annotations

import json
import re
from pathlib import Path

import cv2
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from unimed_cot.boxes import crop_window, render_box
from unimed_cot.chat import interleave, system_prompt, user_text
from unimed_cot.cli import app
from unimed_cot.errors import UsageError
from unimed_cot.exports import export_release
from unimed_cot.exports.base import image_id
from unimed_cot.release.publish import publish

# load_dataset's default cache, in a per-test folder: never the user's own cache.
pytestmark = pytest.mark.usefixtures("default_hf_cache")

SYSTEM_PROMPT_3D = system_prompt(3)


def _table(folder: Path) -> pa.Table:
    return pa.concat_tables([pq.read_table(p) for p in sorted(folder.glob("*.parquet"))])


def test_crop_hygiene_matches_the_reference() -> None:
    assert crop_window([10, 10, 30, 40], width=100, height=100) == (10, 10, 30, 40)
    assert crop_window([-5, 90, 300, 120], width=100, height=100) == (0, 90, 100, 100)  # clamped
    assert crop_window([50, 50, 51, 52], width=100, height=100) == (
        49,
        49,
        53,
        53,
    )  # at least 4 px a side
    assert crop_window([0, 0, 2, 1], width=100, height=100) == (
        0,
        0,
        4,
        4,
    )  # grown inside the image
    x1, y1, x2, y2 = crop_window([0, 10, 1000, 11], width=1000, height=100)
    assert (x2 - x1) / (y2 - y1) <= 180


def test_crops_are_placed_after_each_box() -> None:
    text = f"<think>see {render_box([1, 2, 9, 9])} and {render_box([0, 0, 5, 5])}</think>A. x"
    crops = [[image_id(b"one")], [image_id(b"two"), image_id(b"three")]]
    parts = interleave(text, crops)
    assert [kind for kind, _ in parts] == ["text", "image", "text", "image", "image", "text"]
    assert parts[1] == ("image", image_id(b"one")) and parts[-1] == ("text", "</think>A. x")
    row = {"question": "Where?", "options": ["a", "b", "c", "d"], "dims": 3}
    assert (
        user_text(**row) == "Where?\n\nA. a\nB. b\nC. c\nD. d\n\nPlease answer with A, B, C, or D."
    )
    assert user_text(**{**row, "dims": 2}) == "Where?\n\nA. a\nB. b\nC. c\nD. d"


def test_unireason_export_has_the_reference_columns_and_types(
    workspace: Path, tmp_path: Path
) -> None:
    publish(workspace, version="0.1.0")
    out = tmp_path / "unireason"
    report = export_release(workspace, fmt="unireason", out=out)
    assert report.rows == 34 and report.skipped_without_pixels == 0
    sft = pa.concat_tables([_table(out / "sft"), *(_table(p) for p in out.glob("heldout/*/sft"))])
    rl = pa.concat_tables([_table(out / "rl"), *(_table(p) for p in out.glob("heldout/*/rl"))])
    images = _table(out / "images")

    message = pa.list_(pa.struct([("role", pa.string()), ("content", pa.string())]))
    assert sft.schema.field("messages").type == message
    assert sft.schema.field("image_ids").type == pa.list_(pa.string())
    assert rl.schema.field("prompt").type == message
    assert rl.schema.field("reward_model").type == pa.struct(
        [("style", pa.string()), ("ground_truth", pa.string())]
    )
    assert {"data_source", "agent_name", "ability", "extra_info"} <= set(rl.column_names)
    assert images.schema == pa.schema(
        [("image_id", pa.string()), ("path", pa.string()), ("bytes", pa.binary())]
    )
    ids = set(images.column("image_id").to_pylist())
    assert len(ids) == images.num_rows  # every image once
    for row in sft.to_pylist():
        text = "".join(m["content"] for m in row["messages"])
        assert text.count("<image>") == len(row["image_ids"])
        assert set(row["image_ids"]) <= ids
        assistant = row["messages"][2]["content"]
        assert "<|box_end|><image>" in assistant  # crop right after the box
    volume = next(r for r in sft.to_pylist() if r["messages"][0]["content"] == SYSTEM_PROMPT_3D)
    assert volume["messages"][1]["content"].startswith("<image>" * 4 + "Where is the lesion")
    # The reference reward's extract_choice on the ground truth gives the answer letter.
    for row in rl.to_pylist():
        truth = row["reward_model"]["ground_truth"]
        assert re.search(r"\b([A-D])\b", truth, re.IGNORECASE)[1] == truth[0]  # type: ignore[index]
    crop = images.filter(pa.compute.equal(images.column("image_id"), volume["image_ids"][-1]))
    pixels = cv2.imdecode(np.frombuffer(crop.column("bytes")[0].as_py(), np.uint8), 0)
    assert pixels.shape == (25, 25)  # box [5,6,1,30,31,3] of question 0 cropped on a slice

    import datasets

    loaded = datasets.load_dataset("parquet", data_files=str(out / "sft" / "*.parquet"))
    assert loaded["train"].num_rows == report.rows_by_split["train"] == 20


def _published_and_exported(workspace: Path, fmt: str, out: Path) -> str:
    """Publish the workspace, export it as ``fmt`` through the CLI; the command's output."""
    publish(workspace, version="0.1.0")
    result = CliRunner().invoke(app, ["export", str(workspace), "--format", fmt, "--out", str(out)])
    assert result.exit_code == 0, result.output
    return result.output


def test_trl_export_loads_with_images_in_order(workspace: Path, tmp_path: Path) -> None:
    out = tmp_path / "trl"
    output = _published_and_exported(workspace, "trl", out)
    assert "exported 34 rows" in output
    import datasets

    data = datasets.load_dataset("parquet", data_dir=str(out))
    assert {name: ds.num_rows for name, ds in data.items()} == {
        "train": 20,
        "validation": 6,
        "test": 8,
    }
    for row in data["train"]:
        parts = [p for m in row["prompt"] for p in m["content"]]
        assert sum(p["type"] == "image" for p in parts) == len(row["images"])
        assert [m["role"] for m in row["prompt"]] == ["system", "user"]
        (assistant,) = row["completion"]
        assert assistant["role"] == "assistant"
        assert [p["type"] for p in assistant["content"]] == ["text"]  # no crops to train on


def test_export_errors_are_usage_errors(workspace: Path) -> None:
    publish(workspace, version="0.1.0")
    with pytest.raises(UsageError, match="unknown export format"):
        export_release(workspace, fmt="llava", out=workspace.parent / "x")
    with pytest.raises(UsageError, match="inside the release"):
        export_release(workspace, fmt="trl", out=workspace / "export")
    out = workspace.parent / "trl"
    export_release(workspace, fmt="trl", out=out)
    with pytest.raises(UsageError, match=r"already holds an export \(train, validation, test"):
        export_release(workspace, fmt="trl", out=out)  # stale shards would be read as training


def test_llamafactory_export_follows_its_sharegpt_layout(workspace: Path, tmp_path: Path) -> None:
    out = tmp_path / "lf"
    _published_and_exported(workspace, "llamafactory", out)
    info = json.loads((out / "dataset_info.json").read_text())
    assert info and all(
        entry["formatting"] == "sharegpt"
        and entry["columns"] == {"messages": "messages", "images": "images", "system": "system"}
        and entry["tags"]["user_tag"] == "user"
        and (out / entry["file_name"]).is_dir()
        for entry in info.values()
    )
    assert sorted(info) == ["unimed_cot_test", "unimed_cot_train", "unimed_cot_validation"]
    records = [
        r
        for e in info.values()
        for path in sorted((out / e["file_name"]).glob("*.json"))
        for r in json.loads(path.read_text())
    ]
    assert len(records) == 34
    for record in records:
        user, assistant = record["messages"]
        assert (user["role"], assistant["role"]) == ("user", "assistant")
        # one placeholder per image, all in the user turn: no crops to be trained on
        assert user["content"].count("<image>") == len(record["images"]) >= 1
        assert "<image>" not in assistant["content"]
        assert all((out / p).is_file() for p in record["images"])
        assert record["system"].startswith("You are a medical expert")
    import datasets

    entry = info["unimed_cot_train"]
    loaded = datasets.load_dataset("json", data_dir=str(out / entry["file_name"]))["train"]
    assert {"messages", "images", "system"} <= set(loaded.column_names)
    assert loaded.num_rows == 20


def test_verl_export_has_the_rl_columns_verl_reads(workspace: Path, tmp_path: Path) -> None:
    publish(workspace, version="0.1.0")
    out = tmp_path / "verl"
    report = export_release(workspace, fmt="verl", out=out)
    assert report.rows == 34
    import datasets

    ds = datasets.load_dataset("parquet", data_files=str(out / "train.parquet"))["train"]
    assert ds.num_rows == 20
    assert {"data_source", "prompt", "images", "ability", "reward_model", "extra_info"} <= set(
        ds.column_names
    )
    for row in ds:
        user = row["prompt"][-1]
        assert user["role"] == "user"
        assert user["content"].count("<image>") == len(row["images"]) >= 1
        assert row["images"][0].size[0] > 0  # decodes as an image
        assert row["reward_model"] == {"style": "rule", "ground_truth": row["extra_info"]["answer"]}
        assert row["reward_model"]["ground_truth"][0] in "ABCDEFGH"
        assert row["data_source"].startswith("unimed-cot/")
