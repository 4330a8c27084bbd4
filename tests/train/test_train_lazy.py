"""Lazy data: rows are decoded when read, so memory stays flat in the number of rows (issue 16)."""

from __future__ import annotations

import io
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml
from PIL import Image

pytest.importorskip("datasets")

SIDE = 256  # decoded: 4 slices × 256² × 3 B ≈ 0.75 MiB per row; 400 rows eager ≈ 300 MiB

_PROBE = """
import resource, sys
SIDE = int(sys.argv[3])
from unimed_cot.train.data import load_samples
samples = load_samples(sys.argv[1], mix={"3d": 1}, limit=int(sys.argv[2]))
kept = []
for i in range(len(samples)):
    sample = samples[i]
    assert sample.images[0].size == (SIDE, SIDE)
    kept.append(sample.id)  # what a trainer keeps between batches: not the pixels
print(len(kept), resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024)
"""


def _png(seed: int) -> bytes:
    rng = np.random.default_rng(seed)
    gradient = np.linspace(0, 255, SIDE, dtype=np.uint8)[None, :, None]
    pixels = np.broadcast_to(gradient, (SIDE, SIDE, 3)).copy()
    pixels[rng.integers(0, SIDE, 50), rng.integers(0, SIDE, 50)] = 255
    out = io.BytesIO()
    Image.fromarray(pixels).save(out, format="PNG")
    return out.getvalue()


@pytest.fixture(scope="module")
def big_release(train_release: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The phantom release with its 3D train split grown to 400 rows of 256 px slices."""
    root = tmp_path_factory.mktemp("big") / "release"
    shutil.copytree(train_release, root, ignore=shutil.ignore_patterns(".build", "cases"))
    shard = next((root / "data" / "3d").glob("train-*.parquet"))
    table = pq.read_table(shard)
    rows = table.to_pylist()
    grown = []
    for i in range(400):
        row = dict(rows[i % len(rows)])
        row["id"] = f"{row['id']}#{i}"
        row["images"] = [{"bytes": _png(i * 10 + z), "path": None} for z in range(4)]
        grown.append(row)
    pq.write_table(pa.Table.from_pylist(grown, schema=table.schema), shard)
    # the card records split sizes; drop them so datasets accepts the grown split
    card = root / "README.md"
    _, front, body = card.read_text().split("---\n", 2)
    meta = yaml.safe_load(front)
    meta.pop("dataset_info", None)
    card.write_text("---\n" + yaml.safe_dump(meta, sort_keys=False) + "---\n" + body)
    return root


def _peak_mib(release: Path, rows: int) -> int:
    out = subprocess.run(
        [sys.executable, "-c", _PROBE, str(release), str(rows), str(SIDE)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    assert int(out[0]) == rows
    return int(out[1])


@pytest.mark.slow
def test_memory_does_not_grow_with_rows(big_release: Path) -> None:
    few, many = _peak_mib(big_release, 40), _peak_mib(big_release, 400)
    print(f"peak RSS reading every row: 40 rows {few} MiB, 400 rows {many} MiB")
    # eager decoding would add ~0.75 MiB per row, ~270 MiB for the 360 more rows
    assert many - few < 60
