"""Perceptual hashes, near-duplicate search, cross-split dedup and benchmark decontamination."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from unimed_cot.cli import app
from unimed_cot.errors import UsageError
from unimed_cot.release.publish import publish
from unimed_cot.screening.dedup import naive_near_pairs, near_pairs
from unimed_cot.screening.hashing import (
    ImageHash,
    hash_image_bytes,
    read_hash_list,
    stack_hash,
    write_hash_list,
)
from unimed_cot.store.files import sha256_file
from unimed_cot.validate import validate_release


def _decode(data: bytes) -> np.ndarray:
    return cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)


def _distance(a: ImageHash, b: ImageHash) -> tuple[int, int]:
    return (a.phash ^ b.phash).bit_count(), (a.dhash ^ b.dhash).bit_count()


def _rows(release: Path) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for path in sorted((release / "data").rglob("*.parquet")):
        rows.extend(pq.read_table(path).to_pylist())
    return rows


def test_hashes_survive_re_encoding_and_separate_different_images() -> None:
    rng = np.random.default_rng(0)
    image = cv2.GaussianBlur(rng.integers(0, 255, (120, 160), dtype=np.uint8), (7, 7), 0)
    other = cv2.GaussianBlur(rng.integers(0, 255, (120, 160), dtype=np.uint8), (7, 7), 0)
    base = hash_image_bytes(cv2.imencode(".png", image)[1].tobytes())
    jpeg = hash_image_bytes(
        cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, 85])[1].tobytes()
    )
    bigger = hash_image_bytes(cv2.imencode(".png", cv2.resize(image, (320, 240)))[1].tobytes())
    brighter = hash_image_bytes(cv2.imencode(".png", cv2.add(image, 5))[1].tobytes())
    for variant in (jpeg, bigger, brighter):
        assert max(_distance(base, variant)) <= 4
    assert min(_distance(base, hash_image_bytes(cv2.imencode(".png", other)[1].tobytes()))) > 16
    with pytest.raises(ValueError, match="not a decodable image"):
        hash_image_bytes(b"not an image")


def test_stack_hash_is_the_bitwise_majority() -> None:
    slices = [ImageHash(0b1100, 0b1), ImageHash(0b1010, 0b1), ImageHash(0b1001, 0b0)]
    assert stack_hash(slices) == ImageHash(0b1000, 0b1)
    assert stack_hash(slices[:1]) == slices[0]


@pytest.mark.parametrize("threshold", [0, 3, 6, 9, 14])
def test_multi_index_search_equals_all_pairs(threshold: int) -> None:
    rng = np.random.default_rng(threshold)
    n = 1500
    phash = rng.integers(0, 2**63, n, dtype=np.uint64) * np.uint64(2)
    dhash = rng.integers(0, 2**63, n, dtype=np.uint64)
    for _ in range(60):  # plant near copies at distances 0..12
        i, j = rng.integers(n, size=2)
        flips = rng.choice(64, size=int(rng.integers(0, 13)), replace=False)
        phash[j] = phash[i] ^ np.uint64(sum(1 << int(b) for b in flips))
        dhash[j] = dhash[i]
    fast = near_pairs(phash, dhash, threshold)
    assert np.array_equal(fast, naive_near_pairs(phash, dhash, threshold))
    assert len(fast) > 0
    cross = near_pairs(phash[:700], dhash[:700], threshold, other_phash=phash, other_dhash=dhash)
    assert {(int(i), int(j)) for i, j in cross} >= {(int(i), int(i)) for i in range(700)}


def test_hash_list_round_trip_and_bad_lines(tmp_path: Path) -> None:
    hashes = [("a/b.png", ImageHash(1, 2**64 - 1)), ("c d.jpg", ImageHash(0xABC, 5))]
    assert write_hash_list(tmp_path / "h.txt", hashes) == 2
    assert read_hash_list(tmp_path / "h.txt") == hashes
    (tmp_path / "bad.txt").write_text("# header\nzz 00 name\n")
    with pytest.raises(UsageError, match=r"bad\.txt:2: not a hash list line"):
        read_hash_list(tmp_path / "bad.txt")


def test_planted_benchmark_near_duplicate_loses_exactly_that_row(
    make_workspace: Callable[..., Path], tmp_path: Path
) -> None:
    workspace = make_workspace(questions=1)
    publish(workspace, version="0.1.0")
    before = _rows(workspace)
    train_2d = sorted(
        (r for r in before if r["split"] == "train" and r["dims"] == 2), key=lambda r: r["id"]
    )
    victim = train_2d[0]
    bench = tmp_path / "bench-test-images"
    bench.mkdir()
    # The benchmark holds a re-encoded, brightened, upscaled copy: a near, not exact, duplicate.
    pixels = cv2.add(cv2.resize(_decode(victim["images"][0]["bytes"]), (168, 112)), 3)
    cv2.imwrite(str(bench / "case1.jpg"), pixels, [cv2.IMWRITE_JPEG_QUALITY, 95])
    cv2.imwrite(str(bench / "unrelated.png"), np.full((64, 64), 90, np.uint8))
    (bench / "notes.txt").write_text("not an image")

    report = publish(workspace, version="0.1.1", decontaminate_against=[bench])
    after = {r["id"] for r in _rows(workspace)}
    assert {r["id"] for r in before} - after == {victim["id"]}
    assert report.dropped_contaminated == {"bench-test-images": 1}
    entry = json.loads((workspace / "manifest.json").read_text())["screening"]["decontamination"]
    assert entry["benchmarks"]["bench-test-images"] == {
        "images": 2,
        "unreadable_files": 0,
        "matched_benchmark_images": 1,
        "dropped_train_rows": 1,
        "matching_rows_in_validation_or_test": 0,
        "hash_list": "decontamination/bench-test-images.txt",
        "hash_list_sha256": sha256_file(workspace / "decontamination" / "bench-test-images.txt"),
    }
    assert validate_release(workspace).ok  # re-checked from the kept hash list
    card = (workspace / "README.md").read_text()
    assert "bench-test-images" in card

    # The same benchmark as a hash list written by `unimed-cot hash` drops the same row.
    hashes = tmp_path / "bench.txt"
    result = CliRunner().invoke(app, ["hash", str(bench), "--out", str(hashes)])
    assert result.exit_code == 0, result.output
    assert "wrote 2 image hashes" in result.output
    result = CliRunner().invoke(
        app,
        ["publish", str(workspace), "-v", "0.1.2", "--decontaminate-against", str(hashes)],
    )
    assert result.exit_code == 0, result.output
    assert "dropped from train as matches of benchmark bench: 1" in result.output
    assert {r["id"] for r in before} - {r["id"] for r in _rows(workspace)} == {victim["id"]}
    kept = sorted(p.name for p in (workspace / "decontamination").iterdir())
    assert kept == ["bench.txt"]  # the list of the benchmark no longer used is gone

    # A release that claims a decontamination it does not hold: validate catches the row.
    publish(workspace, version="0.1.3")  # no benchmark: the victim is back in train
    assert not (workspace / "decontamination").exists() or not any(
        (workspace / "decontamination").iterdir()
    )
    assert validate_release(workspace).ok  # it claims no decontamination
    checked = CliRunner().invoke(
        app, ["validate", str(workspace), "--decontaminate-against", str(bench)]
    )  # the user's own benchmark, checked on the spot
    assert checked.exit_code == 3
    assert f"row {victim['id']}: training row matches an image of benchmark" in checked.output
    manifest_path = workspace / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    (workspace / "decontamination").mkdir(exist_ok=True)
    (workspace / "decontamination" / "bench.txt").write_bytes(hashes.read_bytes())
    manifest["screening"]["decontamination"]["benchmarks"] = {
        "bench": {"hash_list": "decontamination/bench.txt"}
    }
    manifest_path.write_text(json.dumps(manifest))
    problems = validate_release(workspace).problems
    assert [(p.where, p.what) for p in problems] == [
        (f"row {victim['id']}", "training row matches an image of benchmark bench")
    ]
    manifest["screening"]["decontamination"]["benchmarks"]["bench"]["hash_list_sha256"] = "0" * 64
    manifest_path.write_text(json.dumps(manifest))
    problems = validate_release(workspace).problems
    assert ("decontamination/bench.txt", "sha256 differs from manifest.json") in [
        (p.where, p.what) for p in problems
    ]


def test_cross_split_duplicate_is_dropped_from_train(
    workspace: Path, stager: Callable[..., None], row_factory: Callable[..., dict[str, Any]]
) -> None:
    test_volume = row_factory(source="beta", case="vol00", question=0, dims=3, patient="v0")
    copies = []
    for q in range(2):  # another patient whose volume is the official-test volume, in train
        row = row_factory(
            source="beta", case="copy", question=q, dims=3, patient="other", official="train"
        )
        row["images"] = test_volume["images"]
        copies.append(row)
    stager(workspace, "beta", "copy", copies)
    report = publish(workspace, version="0.1.0")
    ids = {r["id"] for r in _rows(workspace)}
    assert not any(i.startswith("beta/copy/") for i in ids)
    assert {"beta/vol00/0", "beta/vol00/1"} <= ids
    assert report.dropped_duplicates == 2
    screening = json.loads((workspace / "manifest.json").read_text())["screening"]
    assert screening["duplicates"]["links_across_splits"] == 1
    assert screening["duplicates"]["exact_duplicate_images_across_groups"] == 1
    assert screening["duplicates"]["dropped_rows_by_split"] == {"train": 2}


def test_bad_benchmark_paths_are_usage_errors(workspace: Path, tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="does not exist"):
        publish(workspace, version="0.1.0", decontaminate_against=[tmp_path / "missing"])
    result = CliRunner().invoke(app, ["hash", str(tmp_path / "missing")])
    assert result.exit_code == 2 and "is not a folder of images" in result.output
