"""The release README: YAML header from ``huggingface_hub`` + ``datasets``, prose from a template.

The header is built with the libraries the Hub itself uses, so it is what ``push_to_hub`` would
write: ``MetadataConfigs`` for ``configs`` (``all`` is the default and covers both dims folders;
each carries the content identity of ``identity`` as its ``description``, so ``load_dataset``'s
cache follows the rows) and ``DatasetInfosDict`` for ``dataset_info`` (features per config as
``Features._to_yaml_list`` writes them, e.g. ``list: image``, and split row counts, which
``load_dataset`` verifies). The prose is ``dataset_card.md`` rendered with Jinja2
``StrictUndefined``, from the manifest alone.
"""

from __future__ import annotations

from collections.abc import Mapping
from importlib.resources import files
from pathlib import Path
from typing import Any

import jinja2
from datasets.info import DatasetInfo, DatasetInfosDict
from datasets.splits import SplitDict, SplitInfo
from datasets.utils.metadata import MetadataConfigs
from huggingface_hub import DatasetCard, DatasetCardData

import unimed_cot
from unimed_cot.records import SPLITS
from unimed_cot.store.features import ROW_FEATURES
from unimed_cot.store.files import write_text_atomic
from unimed_cot.store.staged import zero_usage

from .benchmarks import EVAL_CONFIG
from .identity import config_description
from .shards import CONFIGS
from .statistics import card_context as stats_context

PRETTY_NAME = "UniMed-CoT"
DEFAULT_CONFIG = "all"
TASK_CATEGORIES = ["visual-question-answering", "image-text-to-text"]
BASE_TAGS = ["medical", "grounding", "reasoning", "chain-of-thought", "vqa"]

# License ids the Hub accepts in the card's `license:` field (lower-case SPDX ids, mostly).
# Anything else is published as "other" with its name, and the per-source table in the prose.
HUB_LICENSES = frozenset(
    {
        "apache-2.0", "mit", "bsd-2-clause", "bsd-3-clause", "cc0-1.0", "cc-by-2.0", "cc-by-2.5",
        "cc-by-3.0", "cc-by-4.0", "cc-by-sa-3.0", "cc-by-sa-4.0", "cc-by-nc-2.0", "cc-by-nc-3.0",
        "cc-by-nc-4.0", "cc-by-nd-4.0", "cc-by-nc-nd-3.0", "cc-by-nc-nd-4.0", "cc-by-nc-sa-2.0",
        "cc-by-nc-sa-3.0", "cc-by-nc-sa-4.0", "odc-by", "odbl", "pddl", "gpl-3.0", "lgpl-3.0",
        "unlicense",
    }
)  # fmt: skip


def card_template() -> str:
    """The card template: package data in a wheel, the top-level file in a source checkout."""
    resource = files("unimed_cot").joinpath("dataset_card.md")
    if resource.is_file():
        return resource.read_text(encoding="utf-8")
    return (Path(unimed_cot.__file__).parent.parent / "dataset_card.md").read_text(encoding="utf-8")


def hub_license(spdx_ids: set[str]) -> tuple[str, str | None]:
    """The card's ``license`` (and ``license_name`` when it is ``other``) for a set of SPDX ids."""
    if len(spdx_ids) == 1:
        (only,) = spdx_ids
        if only.lower() in HUB_LICENSES:
            return only.lower(), None
        return "other", only
    return "other", "multiple-source-licenses"


def size_category(n: int) -> str:
    """The Hub's ``size_categories`` bucket of ``n`` rows."""
    for limit, name in (
        (1_000, "n<1K"),
        (10_000, "1K<n<10K"),
        (100_000, "10K<n<100K"),
        (1_000_000, "100K<n<1M"),
    ):
        if n < limit:
            return name
    return "1M<n<10M"


def build_card_data(
    manifest: Mapping[str, Any], *, pretty_name: str = PRETTY_NAME
) -> DatasetCardData:
    """The YAML header: license, names, tasks, tags, ``configs`` and ``dataset_info``."""
    counts = manifest["counts"]
    licenses = {lic for per in counts["by_source_license"].values() for lic in per}
    license_id, license_name = hub_license(licenses)
    present = [c for c in CONFIGS if counts["by_config"].get(c)]
    extra: dict[str, Any] = {"license_name": license_name} if license_name else {}
    data = DatasetCardData(
        language=["en"],
        license=license_id,
        pretty_name=pretty_name,
        task_categories=TASK_CATEGORIES,
        tags=BASE_TAGS + present,
        size_categories=[size_category(int(counts["total"]))],
        **extra,
    )
    configs: dict[str, dict[str, Any]] = {}
    infos = DatasetInfosDict()
    # The benchmark rows of sources that ship questions (``release.benchmarks``), when written.
    evaluation = (
        [EVAL_CONFIG] if any(s["config"] == EVAL_CONFIG for s in manifest["shards"]) else []
    )
    for name, folder in [*((c, c) for c in [*present, *evaluation]), (DEFAULT_CONFIG, "*")]:
        scope = present if name == DEFAULT_CONFIG else [name]
        splits = _split_sizes(manifest, scope)
        # ``all`` is every dims folder, never the benchmarks': list them when eval is there.
        folders = present if name == DEFAULT_CONFIG and evaluation else [folder]
        configs[name] = {
            "data_files": [
                {"split": s, "path": _paths([f"data/{f}/{s}-*.parquet" for f in folders])}
                for s in splits
            ],
            "description": config_description(manifest, scope),
            **({"default": True} if name == DEFAULT_CONFIG else {}),
        }
        split_dict = SplitDict()
        for split, (rows, size) in splits.items():
            split_dict.add(SplitInfo(name=split, num_bytes=size, num_examples=rows))
        total = sum(size for _, size in splits.values())
        infos[name] = DatasetInfo(
            features=ROW_FEATURES, splits=split_dict, download_size=total, dataset_size=total
        )
    MetadataConfigs(configs).to_dataset_card_data(data)
    infos.to_dataset_card_data(data)
    return data


def render_card(
    manifest: Mapping[str, Any], *, pretty_name: str = PRETTY_NAME, template: str | None = None
) -> str:
    """The README text of a release described by ``manifest``.

    Raises:
        jinja2.UndefinedError: when the template uses a variable the context does not define.
        ValueError: when the rendered YAML header does not parse as card metadata.
    """
    card_data = build_card_data(manifest, pretty_name=pretty_name)
    env = jinja2.Environment(
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        keep_trailing_newline=True,
        autoescape=False,
    )
    env.filters["cell"] = _cell
    text = env.from_string(template or card_template()).render(
        card_data=card_data.to_yaml(), **_context(manifest, pretty_name=pretty_name)
    )
    # Parsing back through DatasetCard proves the header is well-formed card metadata.
    return str(DatasetCard(text))


def write_card(path: Path, manifest: Mapping[str, Any], *, pretty_name: str = PRETTY_NAME) -> None:
    write_text_atomic(path, render_card(manifest, pretty_name=pretty_name))


def _paths(paths: list[str]) -> str | list[str]:
    return paths[0] if len(paths) == 1 else paths


def _split_sizes(manifest: Mapping[str, Any], configs: list[str]) -> dict[str, tuple[int, int]]:
    """(rows, bytes) per split with rows, in train/validation/test order."""
    sizes = {split: [0, 0] for split in SPLITS}
    for shard in manifest["shards"]:
        if shard["config"] in configs:
            sizes[shard["split"]][0] += int(shard["rows"])
            sizes[shard["split"]][1] += int(shard["bytes"])
    return {split: (rows, size) for split, (rows, size) in sizes.items() if rows}


def _context(manifest: Mapping[str, Any], *, pretty_name: str) -> dict[str, Any]:
    from unimed_cot.builders import registered_builders

    counts = manifest["counts"]
    builders = registered_builders()
    terms = manifest.get("licenses") or {}
    sources = []
    for slug in sorted(counts["by_source"]):
        builder = builders.get(slug)
        row_licenses = sorted(counts["by_source_license"].get(slug, {}))
        published = terms.get(slug, {})
        sources.append(
            {
                "slug": slug,
                "title": builder.title if builder else slug,
                "homepage": builder.homepage if builder else "",
                "citation": builder.citation.strip() if builder else "",
                "license": ", ".join(row_licenses) or (builder.license if builder else ""),
                "redistributable": published.get("redistributable")
                or (("yes" if builder.redistributable else "no") if builder else "unknown"),
                "annotation_only_rows": int(published.get("annotation_only_rows", 0)),
                "rows": counts["by_source"][slug],
                "configs": "/".join(sorted(counts["by_source_config"].get(slug, {}))),
                "splits": {s: counts["by_source_split"].get(slug, {}).get(s, 0) for s in SPLITS},
            }
        )
    licenses = sorted({lic for per in counts["by_source_license"].values() for lic in per})
    configs = []
    for config in CONFIGS:
        shards = [s for s in manifest["shards"] if s["config"] == config]
        if not shards:
            continue
        splits = [
            {
                "name": split,
                "rows": sum(s["rows"] for s in shards if s["split"] == split),
                "shards": sum(1 for s in shards if s["split"] == split),
                "bytes": sum(s["bytes"] for s in shards if s["split"] == split),
            }
            for split in SPLITS
            if any(s["split"] == split for s in shards)
        ]
        configs.append({"name": config, "rows": sum(s["rows"] for s in splits), "splits": splits})
    rejections = manifest["rejections"]
    return {
        "pretty_name": pretty_name,
        "version": manifest["version"],
        "package_version": manifest["package_version"],
        "config_hash": manifest["config_hash"],
        "total": counts["total"],
        "configs": configs,
        "sources": sources,
        "question_types": _ranked(counts["by_question_type"]),
        "teachers": _ranked(counts["by_teacher"]),
        "prompt_shas": _ranked(counts["by_prompt_sha"]),
        "pipeline_versions": _ranked(counts["by_pipeline_version"]),
        "uses_template_teacher": "template" in counts["by_teacher"],
        "teacher_usage": _teacher_usage(manifest),
        "ratios": "/".join(f"{100 * r:g}" for r in manifest["publish_settings"]["ratios"]),
        "rejections_total": rejections["total"],
        "rejections": [
            (stage, reason, count)
            for stage, reasons in sorted(rejections["by_stage_reason"].items())
            for reason, count in sorted(reasons.items())
        ],
        **_screening_context(manifest),
        **stats_context(manifest),
        "license_summary": licenses[0] if len(licenses) == 1 else "per source (see below)",
        "license_note": (
            f"All rows come from sources under {licenses[0]}."
            if len(licenses) == 1
            else "Sources carry different licenses; each row's `license` column holds its "
            "source's SPDX id. Use every row under the terms of its source."
        ),
    }


def _screening_context(manifest: Mapping[str, Any]) -> dict[str, Any]:
    """Dedup and decontamination figures; empty for a manifest from before screening existed."""
    screening = manifest.get("screening") or {}
    duplicates = screening.get("duplicates") or {}
    decontamination = screening.get("decontamination") or {}
    return {
        "screened": bool(duplicates),
        "duplicates": duplicates,
        "dropped_duplicates": sum((duplicates.get("dropped_rows_by_split") or {}).values()),
        "benchmarks": sorted((decontamination.get("benchmarks") or {}).items()),
        "annotation_only_total": sum(
            int(v.get("rows", 0)) for v in (manifest.get("annotation_only") or {}).values()
        ),
    }


def _ranked(counter: Mapping[str, int]) -> list[tuple[str, int]]:
    return sorted(counter.items(), key=lambda item: (-item[1], item[0]))


def _cell(value: object) -> str:
    """Text safe inside a Markdown table cell."""
    return str(value).replace("|", "\\|").replace("\n", " ")


def _teacher_usage(manifest: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Per source: what the LLM teacher's replies cost, published and rejected questions."""
    return [
        {
            "source": source,
            "published": {**zero_usage(), **(entry.get("published") or {})},
            "not_published": {**zero_usage(), **(entry.get("not_published") or {})},
        }
        for source, entry in sorted((manifest.get("teacher_usage") or {}).items())
    ]
