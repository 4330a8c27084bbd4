"""The rendered card: YAML configs and dataset_info the Hub and load_dataset read, strict prose."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jinja2
import pytest
import yaml
from datasets import Features
from datasets.utils.metadata import MetadataConfigs
from huggingface_hub import DatasetCard

from unimed_cot.release.card import card_template, hub_license, render_card, size_category
from unimed_cot.release.publish import publish
from unimed_cot.store.features import ROW_FEATURES


def _header(release: Path) -> dict:
    text = (release / "README.md").read_text()
    assert text.startswith("---\n")
    return yaml.safe_load(text.split("---\n")[1])


def test_card_yaml_declares_configs_features_and_split_sizes(workspace: Path) -> None:
    publish(workspace, version="0.1.0")
    header = _header(workspace)
    configs = {c["config_name"]: c for c in header["configs"]}
    assert set(configs) == {"2d", "3d", "all"}
    assert configs["all"]["default"] is True
    assert {f["split"]: f["path"] for f in configs["all"]["data_files"]} == {
        s: f"data/*/{s}-*.parquet" for s in ("train", "validation", "test")
    }
    assert {f["split"]: f["path"] for f in configs["3d"]["data_files"]}[
        "test"
    ] == "data/3d/test-*.parquet"
    MetadataConfigs.from_dataset_card_data(
        DatasetCard((workspace / "README.md").read_text()).data
    )  # datasets accepts it
    infos = {i["config_name"]: i for i in header["dataset_info"]}
    assert set(infos) == {"2d", "3d", "all"}
    for info in infos.values():
        assert Features._from_yaml_list(info["features"]) == ROW_FEATURES
    assert {"name": "images", "list": "image"} in infos["3d"]["features"]
    assert {s["name"]: s["num_examples"] for s in infos["all"]["splits"]} == {
        "train": 20,
        "validation": 6,
        "test": 8,
    }
    assert header["license"] == "cc-by-4.0"
    assert header["task_categories"] == ["visual-question-answering", "image-text-to-text"]
    assert {"medical", "grounding", "reasoning", "3d", "2d"} <= set(header["tags"])


def test_prose_has_counts_provenance_and_loading(workspace: Path) -> None:
    publish(workspace, version="0.3.1")
    text = (workspace / "README.md").read_text()
    assert "# UniMed-CoT 0.3.1" in text
    assert "| alpha | 2d | 16 | 4 | 4 | 24 |" in text
    assert "| lesion_analysis | 17 |" in text
    assert 'load_dataset("unimed-cot", "3d")' in text
    manifest = json.loads((workspace / "manifest.json").read_text())
    assert next(iter(manifest["counts"]["by_prompt_sha"])) in text
    assert "validate/unknown-region-id: 6" in text
    assert "{{" not in text and "{%" not in text


def test_mixed_licenses_are_other_with_a_per_source_table(
    workspace: Path, row_factory: Callable[..., dict[str, Any]], stager: Callable[..., None]
) -> None:
    row = row_factory(source="gamma", case="x", question=0, dims=2, patient="q")
    stager(workspace, "gamma", "x", [{**row, "license": "LicenseRef-custom"}])
    publish(workspace, version="0.1.0")
    header = _header(workspace)
    assert header["license"] == "other" and header["license_name"] == "multiple-source-licenses"
    assert "| gamma | gamma | LicenseRef-custom |" in (workspace / "README.md").read_text()


def test_license_and_size_helpers() -> None:
    assert hub_license({"CC-BY-SA-4.0"}) == ("cc-by-sa-4.0", None)
    assert hub_license({"LicenseRef-TCIA"}) == ("other", "LicenseRef-TCIA")
    assert size_category(999) == "n<1K" and size_category(220_000) == "100K<n<1M"


def test_template_is_found_and_strict(workspace: Path) -> None:
    assert "{{ card_data }}" in card_template()
    publish(workspace, version="0.1.0")
    manifest = json.loads((workspace / "manifest.json").read_text())
    with pytest.raises(jinja2.UndefinedError, match="no_such_variable"):
        render_card(manifest, template="---\n{{ card_data }}\n---\n{{ no_such_variable }}\n")
