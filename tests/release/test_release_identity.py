"""A release's cache identity follows its content (issue 17), through the *default* HF cache.

``load_dataset`` keys its cache of a local folder on the folder's name and the card's metadata,
not on the shards' bytes. These tests load releases exactly as a user does (no ``cache_dir``;
``default_hf_cache`` points the default at a temporary folder) and check that each load returns
the rows that are in the shards at that moment.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from huggingface_hub import DatasetCard

from unimed_cot.release.hydrate import hydrate
from unimed_cot.release.identity import IDENTITY_PREFIX
from unimed_cot.release.publish import publish
from unimed_cot.store import read_table, write_parquet
from unimed_cot.store.workspace import CASE_TERMS_KEY, Workspace
from unimed_cot.validate import validate_release

SPLITS = ("train", "validation", "test")


def _load(release: Path, config: str) -> Any:
    import datasets

    return datasets.load_dataset(str(release), config)


def _questions_on_disk(release: Path, config: str) -> dict[str, str]:
    found: dict[str, str] = {}
    for path in sorted((release / "data" / config).glob("*.parquet")):
        for row in pq.read_table(path, columns=["id", "question"]).to_pylist():
            found[row["id"]] = row["question"]
    return found


def _questions_loaded(loaded: Any) -> dict[str, str]:
    return {
        row["id"]: row["question"]
        for split in SPLITS
        if split in loaded
        for row in loaded[split].select_columns(["id", "question"])
    }


def _swap_questions(workspace: Path) -> None:
    """Swap two questions of one staged case and rename the case in their text: other rows,
    same lengths, so the shards keep their byte sizes (checked by the test)."""
    staged = workspace / ".build" / "staged" / "beta" / "vol01.parquet"
    table = read_table(staged)
    questions = table.column("question").to_pylist()
    questions[0], questions[1] = questions[1], questions[0]
    questions = [q.replace("vol01", "vol10") for q in questions]
    column = table.schema.get_field_index("question")
    write_parquet(table.set_column(column, "question", pa.array(questions)), staged)


def _card_metadata_before_the_fix(release: Path) -> dict[str, Any]:
    """What ``datasets`` hashed before content identities: dataset_info and the data files."""
    data = DatasetCard.load(release / "README.md").data.to_dict()
    configs = [{k: v for k, v in c.items() if k != "description"} for c in data["configs"]]
    return {"dataset_info": data["dataset_info"], "configs": configs}


def test_same_folder_name_equal_sizes_other_rows_each_load_their_own(
    make_workspace: Callable[..., Path], default_hf_cache: Path
) -> None:
    first = make_workspace("a/unimed-cot")
    second = make_workspace("b/unimed-cot")
    _swap_questions(second)
    publish(first, version="0.1.0")
    publish(second, version="0.1.0")
    # The trap the issue describes: everything datasets used to key on is equal...
    shards_a = json.loads((first / "manifest.json").read_text())["shards"]
    shards_b = json.loads((second / "manifest.json").read_text())["shards"]
    assert [(s["path"], s["bytes"], s["rows"]) for s in shards_a] == [
        (s["path"], s["bytes"], s["rows"]) for s in shards_b
    ]
    assert _card_metadata_before_the_fix(first) == _card_metadata_before_the_fix(second)
    # ...while the rows differ.
    on_disk_a, on_disk_b = _questions_on_disk(first, "3d"), _questions_on_disk(second, "3d")
    assert on_disk_a != on_disk_b and set(on_disk_a) == set(on_disk_b)

    assert _questions_loaded(_load(first, "3d")) == on_disk_a
    assert _questions_loaded(_load(second, "3d")) == on_disk_b
    assert _questions_loaded(_load(first, "3d")) == on_disk_a  # and back again
    entries = sorted(p.name for p in (default_hf_cache / "unimed-cot" / "3d" / "0.0.0").iterdir())
    assert len([e for e in entries if "." not in e and not e.endswith("_builder")]) == 2


def test_identical_content_keeps_hitting_the_cache(
    make_workspace: Callable[..., Path], default_hf_cache: Path
) -> None:
    first = make_workspace("a/unimed-cot")
    publish(first, version="0.1.0")
    loaded = _load(first, "3d")
    cached = loaded["train"].cache_files[0]["filename"]
    publish(first, version="0.1.1")  # the same staged rows, published again
    copy = make_workspace("c/unimed-cot")  # an identical build in another folder
    publish(copy, version="0.1.0")
    assert (first / "data").is_dir() and (copy / "data").is_dir()
    for release in (first, copy):
        again = _load(release, "3d")
        assert again["train"].cache_files[0]["filename"] == cached  # no new Arrow files
        assert _questions_loaded(again) == _questions_loaded(loaded)


def test_validate_names_a_card_whose_identity_is_stale(workspace: Path) -> None:
    publish(workspace, version="0.1.0")
    card = DatasetCard.load(workspace / "README.md")
    for config in card.data["configs"]:
        assert str(config["description"]).startswith(IDENTITY_PREFIX)
    stale = card.data["configs"][0]["description"]
    card.data["configs"][1]["description"] = stale  # 3d (or all) now claims 2d's shards
    card.save(workspace / "README.md")
    whats = [p.what for p in validate_release(workspace).problems]
    assert any("content identity differs from the shards" in w for w in whats), whats

    for config in card.data["configs"]:  # a card written before identities existed
        config.pop("description")
    card.save(workspace / "README.md")
    report = validate_release(workspace)
    assert report.ok
    assert any("has no content identity" in w.what for w in report.warnings)


CASES = ("phantom2d-0000", "phantom3d-0000")


@pytest.fixture
def annotation_only_release(demo_release: Path, tmp_path: Path) -> Path:
    """The demo release with two phantom cases marked not redistributable, republished."""
    copy = tmp_path / "unimed-cot"
    shutil.copytree(demo_release, copy)
    terms = json.dumps({"license": "LicenseRef-test", "redistributable": False})
    for case in CASES:  # the terms the pipeline stages for such a case
        staged = Workspace(copy).staged_path("phantom", case)
        write_parquet(read_table(staged), staged, extra_metadata={CASE_TERMS_KEY: terms})
    publish(copy, version="0.2.0")
    return copy


def _images_per_row(loaded: Any, case: str) -> dict[str, int]:
    return {
        row["id"]: len(row["images"])
        for split in SPLITS
        if split in loaded
        for row in loaded[split]
        if row["id"].split("/")[1] == case
    }


@pytest.mark.slow
def test_load_hydrate_load_returns_the_pixels(
    annotation_only_release: Path, default_hf_cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(annotation_only_release.parent)
    import datasets

    before = _images_per_row(datasets.load_dataset("unimed-cot", "3d"), CASES[1])
    assert before and set(before.values()) == {0}  # annotation-only: no pixels yet
    card_before = (annotation_only_release / "README.md").read_text()
    manifest_before = (annotation_only_release / "manifest.json").read_text()

    report = hydrate(
        annotation_only_release,
        source="phantom",
        input_path=annotation_only_release / ".build" / "inputs" / "phantom",
    )
    assert report.cases_filled == 2 and report.shards_rewritten >= 1

    after = _images_per_row(datasets.load_dataset("unimed-cot", "3d"), CASES[1])
    assert set(after) == set(before) and set(after.values()) == {32}
    assert (annotation_only_release / "README.md").read_text() != card_before
    assert (annotation_only_release / "manifest.json").read_text() != manifest_before
    validated = validate_release(annotation_only_release)
    assert validated.ok, validated.problems
    assert not [w for w in validated.warnings if "content identity" in w.what]
    loaded_2d = datasets.load_dataset("unimed-cot", "2d")
    assert set(_images_per_row(loaded_2d, CASES[0]).values()) == {1}
