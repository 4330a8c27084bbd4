"""``validate DIR``: check a release folder without trusting any of it.

Checks, in order: the manifest parses; every listed shard exists with the listed sha256, size
and row count, and no shard is unlisted; shard names follow ``data/<config>/<split>-NNNNN-of-
NNNNN.parquet`` and number consistently; every shard reads with the declared features; every row
validates against ``schemas.Row``, sits in the file of its dims and split, and has images that
decode (one for 2D; for 3D one per slice position, all the same size); every box in the
reasoning lies inside its image and slice range and the boxes in the text are exactly the
region boxes; ids are unique; no group is in two splits; no near-duplicate images link two
splits and no training row matches a benchmark the release was decontaminated against
(``audit``, from the hash lists in ``decontamination/``); answer letters are balanced per config
(a warning); per source and family, the answer priors are within ``stats.Tolerance`` and no
option set holds aliases (``priors``); the card's YAML parses, declares the configs and
features, its split sizes match the shards, and each config's content identity names the
shards. With a ``rows.tsv`` (``rowindex``), every image's sha256 matches the one recorded at
publish, and a row without images is accepted only from a source published annotation-only.

Bad data never raises: every finding is a ``Problem`` in the report.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pyarrow as pa
from datasets import Features
from huggingface_hub import DatasetCard

from unimed_cot.errors import ReleaseError, UsageError
from unimed_cot.records import SPLITS
from unimed_cot.release.benchmarks import EVAL_CONFIG
from unimed_cot.release.card import DEFAULT_CONFIG
from unimed_cot.release.identity import IDENTITY_PREFIX, config_description
from unimed_cot.release.manifest import MANIFEST_NAME, check_version, read_manifest
from unimed_cot.release.rowindex import load_expected_images
from unimed_cot.release.shards import CONFIGS, SHARD_NAME
from unimed_cot.screening import DEFAULT_THRESHOLD, ImageHash, read_hash_list
from unimed_cot.stats import Tolerance
from unimed_cot.store import ROW_FEATURES, sha256_file
from unimed_cot.store.layout import layout_problems

from .priors import check_priors
from .report import ValidationReport
from .rows import check_shard


def validate_release(
    path: Path,
    *,
    benchmarks: Mapping[str, Sequence[ImageHash]] | None = None,
    allow_skew: bool = False,
    allow_aliases: bool = False,
    tolerance: Tolerance | None = None,
) -> ValidationReport:
    """Check the release folder ``path`` and collect every problem (never raises on bad data).

    ``benchmarks`` (name -> image hashes) are checked against the training split on top of
    the benchmarks whose hash lists the release keeps. Answer priors beyond ``tolerance`` (the
    default ``stats.Tolerance``) and option sets holding aliases are problems, or warnings with
    ``allow_skew`` / ``allow_aliases``.
    """
    report = ValidationReport(release=path)
    if not path.is_dir():
        report.add(str(path), "not a folder")
        return report
    manifest = _load_manifest(path, report)
    if manifest is not None:
        expected, problems = load_expected_images(path, manifest)
        for where, what in problems:
            report.add(where, what)
        report.expected_images = expected
        report.pixel_free_sources = set(manifest.get("annotation_only") or {})
    listed: dict[str, dict[str, Any]] = (
        {str(s["path"]): s for s in manifest["shards"]} if manifest else {}
    )
    shard_files = (p for p in (path / "data").rglob("*.parquet") if p.is_file())
    on_disk = sorted(p.relative_to(path).as_posix() for p in shard_files)
    for name in sorted(set(listed) - set(on_disk)):
        report.add(name, "listed in manifest.json but missing")
    if manifest is not None:
        for name in sorted(set(on_disk) - set(listed)):
            report.add(name, "shard not listed in manifest.json")
    _check_numbering(on_disk, report)

    ids: dict[str, str] = {}
    groups: dict[str, Counter[str]] = defaultdict(Counter)
    for name in on_disk:
        report.shards += 1
        check_shard(path, name, listed.get(name), report, ids=ids, groups=groups)
    if manifest is not None and manifest.get("layout"):
        _check_layout(path, on_disk, report)
    for group, splits in sorted(groups.items()):
        if len(splits) > 1:
            spread = ", ".join(f"{s} ({n} rows)" for s, n in sorted(splits.items()))
            report.add(f"group {group}", f"is in more than one split: {spread}")
    screening = (manifest or {}).get("screening") or {}
    threshold = (screening.get("duplicates") or {}).get("threshold_bits", DEFAULT_THRESHOLD)
    kept = _benchmark_hashes(path, screening, report)
    report.audit.finish(report, threshold=int(threshold), benchmarks={**kept, **(benchmarks or {})})
    _check_card(path, report, manifest)
    if on_disk:
        check_priors(
            path,
            report,
            tolerance=tolerance,
            allow_skew=allow_skew,
            allow_aliases=allow_aliases,
        )
    return report


def _benchmark_hashes(
    path: Path, screening: dict[str, Any], report: ValidationReport
) -> dict[str, list[ImageHash]]:
    """The hashes of the benchmarks the release was decontaminated against, from the lists
    ``publish`` keeps in the release; a missing or unreadable list is a problem."""
    found: dict[str, list[ImageHash]] = {}
    benchmarks = (screening.get("decontamination") or {}).get("benchmarks") or {}
    for name, entry in sorted(benchmarks.items()):
        listed = entry.get("hash_list") if isinstance(entry, dict) else None
        if not listed:
            continue  # a release published before the lists were kept
        file = path / str(listed)
        expected = entry.get("hash_list_sha256")
        if expected and file.is_file() and sha256_file(file) != expected:
            report.add(str(listed), "sha256 differs from manifest.json")
        try:
            found[name] = [value for _, value in read_hash_list(file)]
        except UsageError as error:
            report.add(str(listed), f"benchmark hash list unreadable: {error}")
    return found


def _check_layout(path: Path, names: list[str], report: ValidationReport) -> None:
    """Shards of a release whose manifest records the layout follow it (``store.layout``)."""
    for name in names:
        try:
            problems = layout_problems(path / name)
        except (OSError, pa.ArrowException):  # unreadable: reported once, by check_shard
            continue
        for problem in problems:
            report.add(name, problem)


def _load_manifest(path: Path, report: ValidationReport) -> dict[str, Any] | None:
    try:
        manifest = read_manifest(path / MANIFEST_NAME)
        check_version(str(manifest["version"]))
    except ReleaseError as error:
        report.add(MANIFEST_NAME, str(error))
        return None
    return manifest


def _check_numbering(names: list[str], report: ValidationReport) -> None:
    """Names are data/<config>/<split>-i-of-n, and each (config, split) has files 0..n-1 of n."""
    seen: dict[tuple[str, str], list[tuple[int, int]]] = defaultdict(list)
    for name in names:
        parts = name.split("/")
        match = SHARD_NAME.match(parts[-1]) if len(parts) == 3 else None
        if match is None or parts[1] not in (*CONFIGS, EVAL_CONFIG) or match["split"] not in SPLITS:
            report.add(
                name, f"not a shard name data/<{'|'.join(CONFIGS)}>/<split>-NNNNN-of-NNNNN.parquet"
            )
            continue
        seen[(parts[1], match["split"])].append((int(match["index"]), int(match["total"])))
    for (config, split), numbers in sorted(seen.items()):
        totals = {total for _, total in numbers}
        indexes = sorted(index for index, _ in numbers)
        if len(totals) != 1 or indexes != list(range(len(numbers))) or totals != {len(numbers)}:
            report.add(
                f"data/{config}/{split}-*", f"shard numbering is inconsistent: {sorted(numbers)}"
            )


def _check_identity(
    name: str,
    config: Mapping[str, Any],
    present: Sequence[str],
    manifest: Mapping[str, Any],
    report: ValidationReport,
) -> None:
    """The config's content identity (``release.identity``) names the shards as they are on disk
    (a wrong checksum in the manifest is reported once, by the shard check)."""
    declared = config.get("description")
    shards = [
        {**s, "sha256": report.shard_sha256.get(str(s["path"]), s["sha256"])}
        for s in manifest["shards"]
    ]
    # ``all`` reads every dims folder, never the benchmarks' (``eval``): as the card writes it.
    everything = [c for c in present if c != EVAL_CONFIG]
    scope = everything if name == DEFAULT_CONFIG else [name]
    expected = config_description({"shards": shards}, scope)
    if not declared or not str(declared).startswith(IDENTITY_PREFIX):
        report.warn(
            "README.md",
            f"config {name!r} has no content identity (published before releases carried one): "
            f"load_dataset may serve rows cached from another release of the same folder name; "
            f"publish again, or load with download_mode='force_redownload'",
        )
    elif declared != expected:
        report.add(
            "README.md",
            f"config {name!r}: content identity differs from the shards (changed after publish?); "
            f"load_dataset would key its cache on other rows",
        )


def _check_card(root: Path, report: ValidationReport, manifest: Mapping[str, Any] | None) -> None:
    path = root / "README.md"
    if not path.is_file():
        report.add("README.md", "missing (the dataset card)")
        return
    try:
        data = DatasetCard(path.read_text(encoding="utf-8")).data.to_dict()
    except Exception as error:  # yaml and huggingface_hub raise several types for a bad header
        report.add("README.md", f"YAML header does not parse: {error}")
        return
    configs = {c.get("config_name"): c for c in data.get("configs") or [] if isinstance(c, dict)}
    present = sorted(c for c, counts in report.rows_by_config_split.items() if sum(counts.values()))
    for name in [*present, DEFAULT_CONFIG]:
        if name not in configs:
            report.add("README.md", f"configs has no {name!r} config")
        elif manifest is not None:
            _check_identity(name, configs[name], present, manifest, report)
    infos = data.get("dataset_info") or []
    infos = [infos] if isinstance(infos, dict) else infos
    expected = {c: dict(report.rows_by_config_split.get(c, {})) for c in present}
    expected[DEFAULT_CONFIG] = dict(
        sum((Counter(v) for c, v in expected.items() if c != EVAL_CONFIG), Counter())
    )
    for info in infos:
        name = info.get("config_name", "default")
        try:
            if Features._from_yaml_list(info.get("features") or []) != ROW_FEATURES:
                report.add(
                    "README.md", f"dataset_info of {name!r} declares other features than the rows"
                )
        except Exception as error:  # malformed YAML features raise TypeError/ValueError/KeyError
            report.add("README.md", f"dataset_info of {name!r} has unreadable features: {error}")
        declared = {s.get("name"): s.get("num_examples") for s in info.get("splits") or []}
        if name in expected and declared != expected[name]:
            report.add(
                "README.md",
                f"dataset_info of {name!r} lists splits {declared}, shards hold {expected[name]}",
            )
    missing = sorted(set(expected) - {i.get("config_name", "default") for i in infos})
    if missing:
        report.add("README.md", f"dataset_info has no entry for {missing}")
