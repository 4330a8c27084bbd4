"""The card's figures: the numbers they draw, and deterministic PNG bytes."""

from __future__ import annotations

import hashlib
import struct
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from PIL import Image
from rich.console import Console

from unimed_cot.stats import (
    DEFAULT_ALIASES,
    PLOT_NAMES,
    Tolerance,
    check_stats,
    compute_stats,
    figure_data,
    print_stats,
    stats_of_rows,
    write_plots,
)

Row = dict[str, Any]


def mixed_rows(row: Callable[..., Row]) -> list[Row]:
    rows = [
        row(
            case=f"c{k}",
            index=0,
            family="existence_verification",
            options=("Yes", "No"),
            answer=int(k % 3 != 0),
        )
        for k in range(9)
    ]  # answer 1 (No) unless k % 3 == 0: yes 3, no 6
    rows += [row(case=f"c{k}", index=1, answer=k % 4, modality="X-ray") for k in range(8)]
    rows += [
        row(source="beta", case=f"v{k}", dims=3, modality="MR", options=("a", "b", "c"), answer=0)
        for k in range(3)
    ]
    return rows


def test_figure_data_sums_every_source(row: Callable[..., Row]) -> None:
    data = figure_data(stats_of_rows(mixed_rows(row), aliases=DEFAULT_ALIASES))
    assert data.modalities == {"CT": {2: 9}, "MR": {3: 3}, "X-ray": {2: 8}}
    assert data.families == {"existence_verification": 9, "structure_localization": 11}
    assert data.yes_share == {"existence_verification": (3, 9)}
    assert data.letter_rows == {2: 9, 3: 3, 4: 8}
    assert data.letter_shares[2] == pytest.approx({"A": 3 / 9, "B": 6 / 9})
    assert data.letter_shares[3] == {"A": 1.0, "B": 0.0, "C": 0.0}
    assert data.letter_shares[4] == {"A": 0.25, "B": 0.25, "C": 0.25, "D": 0.25}
    # one distinct box per case: 9 CT/X-ray 2D cases (c0..c8) and 3 MR volumes
    assert len(data.side_px[2]) == 9 and len(data.side_px[3]) == 3


def png_chunks(data: bytes) -> list[bytes]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    chunks, offset = [], 8
    while offset < len(data):
        (length,) = struct.unpack(">I", data[offset : offset + 4])
        kind = data[offset + 4 : offset + 8]
        chunks.append(kind + data[offset + 8 : offset + 8 + length][:40])
        offset += 12 + length
    return chunks


def digests(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())}


def test_plots_are_pngs_with_deterministic_bytes(
    tmp_path: Path, row: Callable[..., Row], as_release: Callable[..., Path]
) -> None:
    release = as_release(tmp_path / "rel", mixed_rows(row))
    stats = compute_stats(release, aliases=DEFAULT_ALIASES)
    written = write_plots(stats, tmp_path / "a")
    assert list(written) == list(PLOT_NAMES)
    for path in written.values():
        with Image.open(path) as image:
            assert (image.format, image.size) == ("PNG", (700, 400))
        kinds = [chunk[:4] for chunk in png_chunks(path.read_bytes())]
        assert b"tIME" not in kinds  # no timestamp
        assert not [
            c for c in png_chunks(path.read_bytes()) if c[:4] == b"tEXt" and b"Software" in c
        ]
    write_plots(stats, tmp_path / "b")
    assert digests(tmp_path / "a") == digests(tmp_path / "b")
    # a fresh interpreter (fresh font cache state, fresh matplotlib import) draws the same bytes
    script = (
        "import sys; from pathlib import Path; "
        "from unimed_cot.stats import DEFAULT_ALIASES, compute_stats, write_plots; "
        "write_plots(compute_stats(Path(sys.argv[1]), aliases=DEFAULT_ALIASES), Path(sys.argv[2]))"
    )
    subprocess.run([sys.executable, "-c", script, str(release), str(tmp_path / "c")], check=True)
    assert digests(tmp_path / "a") == digests(tmp_path / "c")


def test_plots_of_a_release_without_choices_or_boxes(
    tmp_path: Path, row: Callable[..., Row]
) -> None:
    rows = [
        row(case=f"q{k}", family="open", options=(), answer="a cyst", regions=[]) for k in range(3)
    ]
    written = write_plots(stats_of_rows(rows, aliases=DEFAULT_ALIASES), tmp_path / "plots")
    assert sorted(p.name for p in (tmp_path / "plots").iterdir()) == sorted(
        f"{name}.png" for name in PLOT_NAMES
    )
    assert all(path.stat().st_size > 1000 for path in written.values())


def test_the_tables_show_the_numbers(row: Callable[..., Row]) -> None:
    stats = stats_of_rows(mixed_rows(row), aliases=DEFAULT_ALIASES)
    console = Console(record=True, width=220)
    print_stats(stats, check_stats(stats, Tolerance(alpha=None)), console)
    text = console.export_text()
    assert "3 / 6 (33% yes)" in text
    assert "2 opt: A 3 B 6" in text
    assert "4 opt: A 2 B 2 C 2 D 2" in text
    assert "yes 3 / no 6: 33.3% yes" in text  # the finding
    assert "20 rows (release); 3 problems, 0 warnings" in text
