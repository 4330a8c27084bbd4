"""publish: shards, manifest, changelog, determinism, stale shards, errors, load_dataset."""

from __future__ import annotations

import json
import shutil
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from unimed_cot.errors import ReleaseError
from unimed_cot.release.publish import publish


def _shard_bytes(release: Path) -> dict[str, bytes]:
    return {
        p.relative_to(release).as_posix(): p.read_bytes()
        for p in sorted((release / "data").rglob("*.parquet"))
    }


def _shard_rows(release: Path) -> list[dict]:
    rows: list[dict] = []
    for path in sorted((release / "data").rglob("*.parquet")):
        rows.extend(
            pq.read_table(path, columns=["id", "dims", "split", "group_id", "source"]).to_pylist()
        )
    return rows


def test_publish_writes_the_release_layout(workspace: Path) -> None:
    report = publish(workspace, version="0.1.0")
    names = sorted(_shard_bytes(workspace))
    assert names == [
        f"data/{c}/{s}-00000-of-00001.parquet"
        for c in ("2d", "3d")
        for s in ("test", "train", "validation")
    ]
    assert report.rows == 34 and report.rows_by_source == {"alpha": 24, "beta": 10}
    assert report.rows_by_config_split == {
        "2d": {"train": 16, "validation": 4, "test": 4},
        "3d": {"train": 4, "validation": 2, "test": 4},
    }
    assert {p.name for p in report.shards} == {Path(n).name for n in names}
    assert report.rejections == 6
    assert "34 rows in 6 shards" in report.summary()
    for name in ("README.md", "manifest.json", "CHANGELOG.md"):
        assert (workspace / name).is_file()


def test_splits_never_split_a_group_and_official_test_is_kept(workspace: Path) -> None:
    publish(workspace, version="0.1.0")
    rows = _shard_rows(workspace)
    splits_of_group: dict[str, set[str]] = defaultdict(set)
    for row in rows:
        splits_of_group[row["group_id"]].add(row["split"])
    assert all(len(s) == 1 for s in splits_of_group.values())
    for source in ("alpha", "beta"):
        assert {r["split"] for r in rows if r["source"] == source} == {
            "train",
            "validation",
            "test",
        }
    assert {r["split"] for r in rows if r["id"].startswith("beta/vol00/")} == {
        "test"
    }  # official split


def test_manifest_lists_shards_counts_and_rejections(workspace: Path) -> None:
    publish(workspace, version="0.1.0", seed=3)
    manifest = json.loads((workspace / "manifest.json").read_text())
    assert manifest["version"] == "0.1.0"
    assert manifest["publish_settings"] == {
        "seed": 3,
        "ratios": [0.8, 0.1, 0.1],
        "max_shard_bytes": 500_000_000,
    }
    import hashlib

    for shard in manifest["shards"]:
        data = (workspace / shard["path"]).read_bytes()
        assert shard["sha256"] == hashlib.sha256(data).hexdigest() and shard["bytes"] == len(data)
        assert shard["rows"] == pq.read_metadata(workspace / shard["path"]).num_rows
    counts = manifest["counts"]
    assert counts["total"] == 34 and counts["by_config"] == {"2d": 24, "3d": 10}
    assert counts["by_question_type"] == {"lesion_analysis": 17, "spatial_localization": 17}
    assert sum(counts["by_split"].values()) == 34
    assert manifest["rejections"]["by_stage_reason"] == {"validate": {"unknown-region-id": 6}}
    assert len(manifest["config_hash"]) == 64
    text = (workspace / "manifest.json").read_text()
    assert text == json.dumps(manifest, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def test_publishing_twice_gives_byte_identical_shards(make_workspace: Callable[..., Path]) -> None:
    first = make_workspace("one")
    publish(first, version="0.1.0")
    shards, manifest = _shard_bytes(first), (first / "manifest.json").read_text()
    publish(first, version="0.1.0")
    assert _shard_bytes(first) == shards
    shutil.rmtree(first / "data")
    (first / "manifest.json").unlink()
    publish(first, version="0.1.0")
    assert _shard_bytes(first) == shards and (first / "manifest.json").read_text() == manifest
    other = make_workspace("two")  # the same staged inputs in another folder
    publish(other, version="0.1.0")
    assert _shard_bytes(other) == shards


def test_stale_shards_are_removed_and_changelog_compares(
    workspace: Path, stager: Callable[..., None]
) -> None:
    publish(workspace, version="0.1.0", max_shard_bytes=20_000)
    many = _shard_bytes(workspace)
    assert any("-00001-of-" in name for name in many)
    stager(workspace, "alpha", "late-case", [])
    report = publish(workspace, version="0.2.0")
    assert set(_shard_bytes(workspace)) == {
        n for n in _shard_bytes(workspace) if n.endswith("-00000-of-00001.parquet")
    }
    assert report.previous_version == "0.1.0" and report.removed_stale_shards == len(many)
    changelog = (workspace / "CHANGELOG.md").read_text()
    assert changelog.index("## 0.2.0") < changelog.index("## 0.1.0")
    assert "Compared with 0.1.0" in changelog and "| rows | 34 | 34 |" in changelog
    publish(workspace, version="0.2.0")
    assert (workspace / "CHANGELOG.md").read_text().count("## 0.2.0") == 1


def test_nothing_staged_and_bad_version_are_readable_errors(
    tmp_path: Path, workspace: Path
) -> None:
    with pytest.raises(ReleaseError, match=r"run `unimed-cot build --out .*empty` first"):
        publish(tmp_path / "empty", version="0.1.0")
    for bad in ("1.0", "v1.0.0", "01.2.3", "latest"):
        with pytest.raises(ReleaseError, match="not a semantic version"):
            publish(workspace, version=bad)
    assert not (workspace / "data").exists()
    publish(workspace, version="1.0.0-rc.1+build.5")


def test_duplicate_ids_and_unreadable_staged_files_are_release_errors(workspace: Path) -> None:
    staged = workspace / ".build" / "staged" / "alpha"
    first = sorted(staged.glob("*.parquet"))[0]
    shutil.copy(first, staged / "zz-copy.parquet")
    with pytest.raises(ReleaseError, match="staged twice"):
        publish(workspace, version="0.1.0")
    (staged / "zz-copy.parquet").write_bytes(first.read_bytes()[:100])
    with pytest.raises(ReleaseError, match=r"zz-copy\.parquet is not readable"):
        publish(workspace, version="0.1.0")


def test_load_dataset_reads_both_configs(
    workspace: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    import datasets

    from unimed_cot.store.features import ROW_FEATURES

    publish(workspace, version="0.1.0")
    expected = {
        "2d": {"train": 16, "validation": 4, "test": 4},
        "3d": {"train": 4, "validation": 2, "test": 4},
    }
    for config, sizes in expected.items():
        ds = datasets.load_dataset(str(workspace), config, cache_dir=str(tmp_path / "cache"))
        assert {split: ds[split].num_rows for split in ds} == sizes
        assert ds["train"].features == ROW_FEATURES
        row = ds["train"][0]
        assert row["dims"] == int(config[0])
        assert all(image.__class__.__module__.startswith("PIL") for image in row["images"])
        if config == "3d":
            assert len(row["images"]) == len(row["slice_positions_mm"]) == 4
            assert {image.size for image in row["images"]} == {(56, 56)}
        else:
            assert row["images"][0].size == (84, 56)
    everything = datasets.load_dataset(str(workspace), cache_dir=str(tmp_path / "cache"))
    assert everything["train"].num_rows == 20 and everything["test"].num_rows == 8
