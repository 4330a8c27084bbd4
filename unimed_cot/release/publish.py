"""``publish DIR``: turn what ``build`` staged in ``DIR/.build/`` into a release beside it.

::

    DIR/README.md                                   card (configs, dataset_info features, prose)
    DIR/data/{2d,3d}/{split}-NNNNN-of-NNNNN.parquet shards
    DIR/manifest.json                               shard checksums, counts, provenance
    DIR/rows.tsv                                    per-row content and image sha256s
    DIR/stats/*.png                                 figures of the measured stats (card)
    DIR/CHANGELOG.md                                one section per version, newest first

Before sharding, the rows are screened (``screening``): near duplicates that link two splits are
dropped from the less held-out one, training rows matching a benchmark given with
``decontaminate_against`` are dropped, and rows of sources that may not be redistributed lose
their pixels (``licensing``). A version older than the one already published is refused unless
``force``.

Shards are written into ``DIR/.build/publish/data`` and swapped in at the end, so a publish that
fails half-way leaves the previous release untouched, and the stale shards of the previous
publish are gone once it succeeds. The same staged inputs always give byte-identical shards.
"""

from __future__ import annotations

import shutil
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import unimed_cot
from unimed_cot.errors import ReleaseError, UsageError
from unimed_cot.screening import (
    DEFAULT_THRESHOLD,
    decontaminate,
    find_duplicates,
    hash_rows,
    load_benchmarks,
    write_benchmark_lists,
)
from unimed_cot.store import Workspace, sha256_file
from unimed_cot.store.layout import layout_record
from unimed_cot.store.staged import (
    StagedRow,
    rejection_counts,
    scan_staged,
    serialize_settings,
    staged_config_hash,
    teacher_usage,
)

from .benchmarks import (
    EVAL_CONFIG,
    EVAL_SPLIT,
    benchmark_hashes,
    declared_benchmarks,
    partition,
)
from .card import write_card
from .changelog import write_changelog
from .licensing import annotation_only
from .manifest import (
    MANIFEST_NAME,
    build_manifest,
    check_version,
    check_version_order,
    count_rejections,
    count_rows,
    read_manifest,
    write_manifest,
)
from .rowindex import (
    ROW_INDEX_NAME,
    IndexedRow,
    diff_rows,
    diff_summary,
    read_row_index,
    write_row_index,
)
from .shards import (
    DEFAULT_MAX_SHARD_BYTES,
    id_sort_key,
    plan_config_shards,
    plan_shards,
    write_shard,
)
from .splits import DEFAULT_RATIOS, assign_splits, merge_official
from .statistics import measure_release


@dataclass(slots=True)
class PublishReport:
    """What a publish wrote, with the counts a user checks first."""

    release: Path
    version: str
    rows: int
    rows_by_config_split: dict[str, dict[str, int]]
    groups_by_split: dict[str, int]
    rows_by_source: dict[str, int]
    rejections: int
    shards: list[Path] = field(default_factory=list)
    card: Path | None = None
    manifest: Path | None = None
    changelog: Path | None = None
    previous_version: str | None = None
    removed_stale_shards: int = 0
    dropped_duplicates: int = 0
    dropped_contaminated: dict[str, int] = field(default_factory=dict)
    annotation_only_rows: int = 0
    benchmark_rows: dict[str, int] = field(default_factory=dict)  # held out, by benchmark
    eval_config: bool = False

    def summary(self) -> str:
        """A few readable lines for the command line."""
        head = f"published {self.release} version {self.version}"
        lines = [f"{head}: {self.rows} rows in {len(self.shards)} shards"]
        for config, splits in sorted(self.rows_by_config_split.items()):
            parts = ", ".join(f"{split} {count}" for split, count in splits.items())
            lines.append(f"  {config}: {parts}")
        groups = ", ".join(f"{split} {count}" for split, count in self.groups_by_split.items())
        lines.append(f"  groups: {groups}")
        lines.append(
            "  sources: " + ", ".join(f"{s} {n}" for s, n in sorted(self.rows_by_source.items()))
        )
        lines.append(f"  rejected during the build: {self.rejections}")
        lines.append(f"  dropped as cross-split near duplicates: {self.dropped_duplicates}")
        for name, count in self.dropped_contaminated.items():
            lines.append(f"  dropped from train as matches of benchmark {name}: {count}")
        where = f"written as the {EVAL_CONFIG} config" if self.eval_config else "not published"
        for name, count in sorted(self.benchmark_rows.items()):
            lines.append(f"  benchmark {name}: {count} rows kept out of training, {where}")
        if self.annotation_only_rows:
            lines.append(f"  annotation-only rows (no pixels): {self.annotation_only_rows}")
        if self.previous_version is not None:
            removed = f"{self.removed_stale_shards} old shards removed"
            lines.append(f"  replaced version {self.previous_version} ({removed})")
        return "\n".join(lines)


def publish(
    workspace: Path,
    *,
    version: str,
    seed: int = 0,
    ratios: Sequence[float] = DEFAULT_RATIOS,
    max_shard_bytes: int = DEFAULT_MAX_SHARD_BYTES,
    decontaminate_against: Sequence[Path] = (),
    threshold: int = DEFAULT_THRESHOLD,
    force: bool = False,
    benchmarks: Mapping[str, Sequence[str]] | None = None,
    eval_config: bool = False,
) -> PublishReport:
    """Write the release files of ``workspace`` from its staged build.

    Args:
        workspace: the folder given to ``build --out``; the release is written into it.
        version: semantic version of this release (``0.1.0``).
        seed: seed of the group-wise split.
        ratios: (train, validation, test) fractions of groups per (source, dims) stratum.
        max_shard_bytes: upper bound of one shard (what it stores: each distinct image of a
            case once, plus the text; see ``shards``).
        decontaminate_against: folders of benchmark images or hash list files; training rows
            with an image within ``threshold`` bits of one of them are dropped.
        threshold: Hamming distance (bits of 64, on pHash and dHash) of a near duplicate.
        force: publish even when ``version`` is older than the version already published.
        benchmarks: source slug -> its benchmark splits (default: as the builders declare,
            ``Builder.benchmark_splits``). Their rows stay out of the ``2d``/``3d`` configs and
            their images decontaminate the training split (``release.benchmarks``).
        eval_config: also publish the benchmark rows as the ``eval`` config.

    Raises:
        ReleaseError: when the version is not semver or older than the published one, nothing
            is staged, a staged file is unreadable, or two staged rows share an id.
        UsageError: for bad ratios, a bad threshold, or an unreadable benchmark path.
    """
    check_version(version)
    if max_shard_bytes <= 0:
        raise ReleaseError(f"max shard size must be positive, got {max_shard_bytes} bytes")
    if not 0 <= threshold < 64:
        raise UsageError(f"the near-duplicate threshold must be 0..63 bits, got {threshold}")
    external = load_benchmarks(decontaminate_against)
    store = Workspace(workspace)
    if not store.staged_files():
        raise ReleaseError(
            f"nothing is staged in {store.staged_root}: "
            f"run `unimed-cot build --out {workspace}` first"
        )
    rows = scan_staged(workspace)
    if not rows:
        raise ReleaseError(
            f"the staged cases in {store.build} hold no rows (every sample was rejected); "
            f"see the rejection reasons in {store.build / 'rejections'}"
        )
    _check_unique_ids(rows)
    previous = _previous_manifest(workspace / MANIFEST_NAME)
    check_version_order(version, str(previous["version"]) if previous else None, force=force)
    held = partition(rows, declared_benchmarks() if benchmarks is None else benchmarks)
    rows = held.release
    if not rows and not (eval_config and held.benchmark):
        raise ReleaseError(
            f"every staged row of {workspace} belongs to a benchmark split "
            f"({', '.join(held.names())}); publish with --eval-config to write them"
        )
    split_of = assign_row_splits(rows, seed=seed, ratios=ratios)

    hashes = hash_rows([*rows, *held.benchmark])
    duplicates = find_duplicates(rows, hashes, split_of, threshold=threshold)
    against = [*external, *benchmark_hashes(held.benchmark, hashes)]
    contaminated = decontaminate(rows, hashes, split_of, against, threshold=threshold)
    for name, path in write_benchmark_lists(workspace, against).items():
        contaminated.report["benchmarks"][name]["hash_list"] = path
        contaminated.report["benchmarks"][name]["hash_list_sha256"] = sha256_file(workspace / path)
    dropped = {**duplicates.dropped, **contaminated.dropped}
    rows = [row for row in rows if row.id not in dropped]
    evaluation = held.benchmark if eval_config else []
    eval_ids = {row.id for row in evaluation}
    stripped, licenses = annotation_only([*rows, *evaluation])
    index = [
        IndexedRow(
            row.id,
            EVAL_SPLIT if row.id in eval_ids else split_of[row.group_id],
            hashes[row.id].content_sha256,
            hashes[row.id].image_sha256,
        )
        for row in sorted([*rows, *evaluation], key=lambda r: id_sort_key(r.id))
    ]
    old_index = read_row_index(workspace / ROW_INDEX_NAME) if previous else {}
    diff = diff_rows(old_index, {r.id: r for r in index}) if previous else None

    staging = store.publish_dir
    shutil.rmtree(staging, ignore_errors=True)
    plans = plan_shards(rows, split_of=split_of, max_shard_bytes=max_shard_bytes)
    plans += plan_config_shards(
        evaluation, config=EVAL_CONFIG, split=EVAL_SPLIT, max_shard_bytes=max_shard_bytes
    )
    infos = [write_shard(plan, staging, annotation_only=stripped) for plan in plans]
    removed = _swap_data(staging / "data", workspace / "data")
    shutil.rmtree(staging, ignore_errors=True)
    write_row_index(workspace / ROW_INDEX_NAME, index)
    measured = measure_release(workspace)  # stats of the published rows, plots in stats/

    counts = count_rows(rows, split_of)
    rejections = count_rejections(rejection_counts(workspace))
    usage = teacher_usage(workspace, {row.id for row in rows})
    manifest = build_manifest(
        version=version,
        package_version=unimed_cot.__version__,
        config_hash=staged_config_hash(workspace),
        settings={
            "seed": seed,
            "ratios": [float(r) for r in ratios],
            "max_shard_bytes": max_shard_bytes,
        },
        shards=infos,
        counts=counts,
        rejections=rejections,
        extra={
            "screening": {
                "duplicates": duplicates.report,
                "decontamination": contaminated.report,
                "dropped_rows": len(dropped),
            },
            "licenses": licenses,
            "benchmarks": {
                name: {"rows": count, "config": EVAL_CONFIG if eval_config else None}
                for name, count in held.counts().items()
            },
            "layout": layout_record(),
            "annotation_only": {
                source: {
                    "rows": entry["annotation_only_rows"],
                    **serialize_settings(workspace, source),
                }
                for source, entry in licenses.items()
                if entry["annotation_only_rows"]
            },
            "row_index": {
                "path": ROW_INDEX_NAME,
                "sha256": sha256_file(workspace / ROW_INDEX_NAME),
                "rows": len(index),
            },
            **measured,
            **({"changes": diff_summary(diff)} if diff is not None else {}),
            **({"teacher_usage": usage} if usage else {}),
        },
    )
    paths = {name: workspace / name for name in (MANIFEST_NAME, "README.md", "CHANGELOG.md")}
    write_manifest(paths[MANIFEST_NAME], manifest)
    write_card(paths["README.md"], manifest)
    write_changelog(paths["CHANGELOG.md"], manifest, previous, diff)
    return PublishReport(
        release=workspace,
        version=version,
        rows=counts["total"],
        rows_by_config_split=counts["by_config_split"],
        groups_by_split=counts["groups_by_split"],
        rows_by_source=counts["by_source"],
        rejections=rejections["total"],
        shards=[workspace / info.path for info in infos],
        card=paths["README.md"],
        manifest=paths[MANIFEST_NAME],
        changelog=paths["CHANGELOG.md"],
        previous_version=str(previous["version"]) if previous else None,
        removed_stale_shards=removed,
        dropped_duplicates=len(duplicates.dropped),
        dropped_contaminated={
            name: int(entry["dropped_train_rows"])
            for name, entry in contaminated.report["benchmarks"].items()
        },
        annotation_only_rows=len(stripped),
        benchmark_rows=held.counts(),
        eval_config=eval_config,
    )


def assign_row_splits(
    rows: Sequence[StagedRow], *, seed: int = 0, ratios: Sequence[float] = DEFAULT_RATIOS
) -> dict[str, str]:
    """Split of every group, assigned per (source, dims) stratum.

    A group's official split is the most held-out one among its rows. A group that appears in
    two strata (a patient with both a 2D image and a volume) keeps the split of the first
    stratum it was assigned in, so it never straddles two splits.
    """
    official: dict[str, str] = {}
    strata: dict[tuple[str, int], set[str]] = defaultdict(set)
    for row in rows:
        official[row.group_id] = merge_official(official.get(row.group_id, ""), row.official_split)
        strata[(row.source, row.dims)].add(row.group_id)
    split_of: dict[str, str] = {}
    for key in sorted(strata):
        groups = sorted(strata[key])
        fixed = {g: split_of.get(g) or official.get(g, "") for g in groups}
        split_of.update(assign_splits(groups, ratios=ratios, seed=seed, official=fixed))
    return split_of


def _check_unique_ids(rows: Sequence[StagedRow]) -> None:
    seen: dict[str, Path] = {}
    for row in rows:
        if row.id in seen:
            raise ReleaseError(
                f"row id {row.id!r} is staged twice ({seen[row.id]} and {row.file}); "
                f"remove one of the files and build again"
            )
        seen[row.id] = row.file


def _previous_manifest(path: Path) -> dict[str, Any] | None:
    if not path.is_file():
        return None
    try:
        return read_manifest(path)
    except ReleaseError:
        return None  # an unreadable old manifest only loses the before/after in the changelog


def _swap_data(new: Path, target: Path) -> int:
    """Replace ``target`` by ``new``; returns how many old shard files were removed."""
    removed = len(list(target.rglob("*.parquet"))) if target.is_dir() else 0
    shutil.rmtree(target, ignore_errors=True)
    if new.is_dir():
        new.replace(target)
    else:
        target.mkdir(parents=True, exist_ok=True)
    return removed
