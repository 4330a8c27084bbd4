"""Release layout: shard bytes over distinct images, publish memory, what a new version uploads.

Builds two phantom workspaces (``--cases-2d``/``--cases-3d`` and ``--scale`` times as many), then:

1. bytes: the larger release's shards as published (dictionary-encoded image bytes, whole cases
   per row group: ``unimed_cot.store.layout``) and the same tables rewritten with the writer of
   2215b18 (image bytes PLAIN, fixed-count row groups), each over the distinct image bytes the
   shards hold (images compared by sha256), per config;
2. memory: ``publish`` of each workspace in a fresh process, peak RSS (``VmHWM``: ``ru_maxrss``
   of a child counts its parent's peak) next to the
   rows, the largest shard and its decoded size; the row group bound is lowered to
   ``--row-group-mb`` in that process so that the phantom's few MB span many row groups, as a
   real release's GB span many 100 MB ones;
3. upload: a second version that drops every 10th case, written with each layout with and without
   pyarrow's content-defined page boundaries; the bytes of its chunks (content-defined, gear hash,
   64 KiB average, 8 KiB min, 128 KiB max: the chunk sizes of the Hub's Xet storage, hand-written
   below since no installed package chunks offline) that the first version does not hold.

Run: ``.venv/bin/python benchmarks/bench_release.py`` (about two minutes on 2 cores, mostly the
phantom build). The ratios are printed; nothing is asserted.
"""

from __future__ import annotations

import argparse
import hashlib
import itertools
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from unimed_cot.demo.phantom import generate_phantom
from unimed_cot.store.features import ROW_SCHEMA, _leaves, read_table
from unimed_cot.store.layout import (
    DICTIONARY_PAGE_LIMIT,
    ROW_GROUP_BYTES,
    case_of,
    row_groups,
    row_nbytes,
)

_IMAGE_LEAVES = ("images.list.element.bytes", "images.list.element.path")

_PUBLISH = r"""
import json, re, sys, time
from pathlib import Path
from unimed_cot.store import layout
layout.ROW_GROUP_BYTES = int(sys.argv[2])
from unimed_cot.release.publish import publish
start = time.perf_counter()
report = publish(Path(sys.argv[1]), version=sys.argv[3], max_shard_bytes=int(sys.argv[4]))
hwm = re.search(r"VmHWM:\s+(\d+) kB", Path("/proc/self/status").read_text())
print(json.dumps({"seconds": time.perf_counter() - start, "rss": int(hwm[1]) * 1024}))
"""
_IMPORTS = r"""
import re
from pathlib import Path
from unimed_cot.release.publish import publish
print(int(re.search(r"VmHWM:\s+(\d+) kB", Path("/proc/self/status").read_text())[1]) * 1024)
"""


def _build(root: Path, n2: int, n3: int) -> Path:
    source = generate_phantom(root / "phantom", n_images_2d=n2, n_volumes_3d=n3)
    workspace = root / "unimed-cot"
    command = [sys.executable, "-m", "unimed_cot", "build", "--source", "phantom"]
    command += ["--input", str(source), "--out", str(workspace)]
    subprocess.run(command, check=True, capture_output=True)
    return workspace


def _publish(workspace: Path, version: str, row_group_bytes: int, max_shard: int) -> dict:
    args = [str(workspace), str(row_group_bytes), version, str(max_shard)]
    out = subprocess.run(
        [sys.executable, "-c", _PUBLISH, *args], check=True, capture_output=True, text=True
    )
    return dict(json.loads(out.stdout.strip().splitlines()[-1]))


def _shards(workspace: Path) -> list[tuple[str, pa.Table, int]]:
    manifest = json.loads((workspace / "manifest.json").read_text())
    return [
        (s["config"], read_table(workspace / s["path"]), int(s["bytes"]))
        for s in manifest["shards"]
    ]


def _images(table: pa.Table) -> list[bytes]:
    return pc.list_flatten(table.column("images").combine_chunks()).field("bytes").to_pylist()


def _write(table: pa.Table, path: Path, *, layout: str, cdc: bool) -> int:
    """``table`` written with the 2215b18 writer (``plain``) or ours (``dictionary``)."""
    leaves = _leaves(ROW_SCHEMA)
    common = {
        "compression": {leaf: "none" if leaf in _IMAGE_LEAVES else "zstd" for leaf in leaves},
        "compression_level": {leaf: 9 for leaf in leaves if leaf not in _IMAGE_LEAVES},
        "write_statistics": [leaf for leaf in leaves if leaf not in _IMAGE_LEAVES],
        "use_content_defined_chunking": cdc,
        "write_page_index": True,
    }
    if layout == "plain":
        rows = max(1, table.num_rows * 100 * 1024 * 1024 // max(1, table.nbytes))
        pq.write_table(
            table,
            path,
            row_group_size=rows,
            use_dictionary=[leaf for leaf in leaves if leaf not in _IMAGE_LEAVES],
            column_encoding={leaf: "PLAIN" for leaf in _IMAGE_LEAVES},
            **common,
        )
    else:
        ids = table.column("id").to_pylist()
        with pq.ParquetWriter(
            path,
            table.schema,
            use_dictionary=True,
            dictionary_pagesize_limit=DICTIONARY_PAGE_LIMIT,
            **common,
        ) as writer:
            for group in row_groups(ids, row_nbytes(table).tolist()):
                writer.write_table(table.slice(group.start, len(group)), len(group))
    return path.stat().st_size


_GEAR = np.random.default_rng(0x6765617268617368).integers(0, 2**63, 256, dtype=np.uint64) * 2 + 1
_MASK = np.uint64(0xFFFF << 48)  # 16 bits: one boundary per 64 KiB on average
_MIN, _MAX = 8 * 1024, 128 * 1024


def _chunks(data: bytes) -> list[bytes]:
    """Content-defined chunks: gear rolling hash (a window of the last 64 bytes)."""
    gear = _GEAR[np.frombuffer(data, np.uint8)]
    rolling = np.zeros(len(gear), np.uint64)
    for k in range(64):  # h_i = sum_k gear[b_{i-k}] << k  (mod 2^64)
        rolling[k:] += gear[: len(gear) - k] << np.uint64(k)
    candidates = np.flatnonzero((rolling & _MASK) == 0) + 1
    cuts, last = [], 0
    for cut in candidates.tolist():
        while cut - last > _MAX:
            last += _MAX
            cuts.append(last)
        if cut - last >= _MIN:
            cuts.append(cut)
            last = cut
    while len(data) - last > _MAX:
        last += _MAX
        cuts.append(last)
    bounds = [0, *cuts, len(data)]
    return [data[a:b] for a, b in itertools.pairwise(bounds) if b > a]


def _new_bytes(old: list[Path], new: list[Path]) -> int:
    known = {hashlib.sha256(c).digest() for path in old for c in _chunks(path.read_bytes())}
    return sum(
        len(c)
        for path in new
        for c in _chunks(path.read_bytes())
        if hashlib.sha256(c).digest() not in known
    )


def _drop_every_tenth_case(table: pa.Table) -> pa.Table:
    cases = [case_of(i) for i in table.column("id").to_pylist()]
    order = {c: k for k, c in enumerate(dict.fromkeys(cases))}
    return table.filter(pa.array([order[c] % 10 != 9 for c in cases]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases-2d", type=int, default=12)
    parser.add_argument("--cases-3d", type=int, default=3)
    parser.add_argument("--scale", type=int, default=2, help="size of the second workspace")
    parser.add_argument("--row-group-mb", type=float, default=4.0)
    parser.add_argument("--max-shard-mb", type=float, default=500.0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        start = time.perf_counter()
        sizes = [(args.cases_2d, args.cases_3d)]
        sizes.append((args.cases_2d * args.scale, args.cases_3d * args.scale))
        workspaces = [_build(root / f"w{k}", n2, n3) for k, (n2, n3) in enumerate(sizes)]
        print(f"built {sizes} phantom cases in {time.perf_counter() - start:.0f} s")

        imports = int(
            subprocess.run(
                [sys.executable, "-c", _IMPORTS], check=True, capture_output=True, text=True
            ).stdout.split()[-1]
        )
        bounds = {"1 GiB (a whole shard, as 2215b18 held it)": 2**30}
        bounds[f"{args.row_group_mb:g} MiB"] = int(args.row_group_mb * 2**20)
        print(f"\npublish memory (imports alone: {imports / 2**20:.0f} MB peak RSS)")
        print(
            "| row group bound | cases 2D+3D | rows | largest shard MB | its decoded MB | "
            "peak RSS MB | RSS - imports MB | s |"
        )
        print("|---|---|---:|---:|---:|---:|---:|---:|")
        for label, bound in bounds.items():
            for (n2, n3), workspace in zip(sizes, workspaces, strict=True):
                result = _publish(workspace, "0.1.0", bound, int(args.max_shard_mb * 2**20))
                shards = _shards(workspace)
                big = max(shards, key=lambda s: s[2])
                decoded = int(row_nbytes(big[1]).sum())
                print(
                    f"| {label} | {n2}+{n3} | {sum(t.num_rows for _, t, _ in shards)} | "
                    f"{big[2] / 2**20:.1f} | {decoded / 2**20:.1f} | "
                    f"{result['rss'] / 2**20:.0f} | {(result['rss'] - imports) / 2**20:.0f} | "
                    f"{result['seconds']:.1f} |"
                )
        # The byte figures below are those of the shipped layout (100 MiB row groups).
        _publish(workspaces[-1], "0.1.0", ROW_GROUP_BYTES, int(args.max_shard_mb * 2**20))

        # Bytes: the larger release, per config, ours vs the 2215b18 writer on the same tables.
        shards = _shards(workspaces[-1])
        print("\nrelease bytes over distinct image bytes (larger workspace)")
        print(
            "| config | rows | images shown | distinct | distinct MB | "
            "2215b18 MB | x distinct | ours MB | x distinct |"
        )
        print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
        for config in ("2d", "3d"):
            tables = [t for c, t, _ in shards if c == config]
            ours = sum(b for c, _, b in shards if c == config)
            plain = sum(
                _write(t, root / f"plain-{config}-{k}.parquet", layout="plain", cdc=True)
                for k, t in enumerate(tables)
            )
            shown = [png for t in tables for png in _images(t)]
            distinct = {hashlib.sha256(png).digest(): len(png) for png in shown}
            total = sum(distinct.values())
            print(
                f"| {config} | {sum(t.num_rows for t in tables)} | {len(shown)} | "
                f"{len(distinct)} | {total / 2**20:.2f} | {plain / 2**20:.2f} | "
                f"{plain / total:.2f} | {ours / 2**20:.2f} | **{ours / total:.2f}** |"
            )

        # Upload: version 2 drops every 10th case of every shard.
        print("\nbytes a second version uploads (every 10th case dropped; 64 KiB CDC chunks)")
        print("| layout | pyarrow CDC | v2 MB | new chunk MB | new / v2 |")
        print("|---|---|---:|---:|---:|")
        for layout in ("plain", "dictionary"):
            for cdc in (False, True):
                folder = root / f"upload-{layout}-{cdc}"
                folder.mkdir()
                old, new = [], []
                for k, (_, table, _) in enumerate(shards):
                    old.append(folder / f"v1-{k}.parquet")
                    new.append(folder / f"v2-{k}.parquet")
                    _write(table, old[-1], layout=layout, cdc=cdc)
                    _write(_drop_every_tenth_case(table), new[-1], layout=layout, cdc=cdc)
                v2 = sum(p.stat().st_size for p in new)
                fresh = _new_bytes(old, new)
                print(
                    f"| {layout} | {'on' if cdc else 'off'} | {v2 / 2**20:.2f} | "
                    f"{fresh / 2**20:.2f} | {fresh / v2:.3f} |"
                )


if __name__ == "__main__":
    main()
