"""The gallery without a browser: which rows, which boxes on which slices, a self-contained page."""

from __future__ import annotations

import re
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from fixtures._preview import BOXES_3D
from fixtures._rows import make_row, write_release

from unimed_cot.errors import UsageError
from unimed_cot.preview import write_preview
from unimed_cot.preview.cards import Assets, make_card
from unimed_cot.preview.select import choose_rows, list_rows, read_rows
from unimed_cot.stats.reading import find_row_files
from unimed_cot.store.features import rows_to_table


def test_boxes_are_drawn_on_exactly_the_slices_they_cover() -> None:
    row = make_row(
        dims=3,
        regions=[("R1", "liver", BOXES_3D["R1"]), ("R2", "body", BOXES_3D["R2"])],
    )
    card = make_card(row, Assets())
    drawn = {panel.z: [box.region for box in panel.boxes] for panel in card.panels}
    assert drawn == {0: ["R2"], 1: ["R1", "R2"], 2: ["R1", "R2"], 3: ["R2"]}  # z1=1, z2=3
    liver = card.panels[1].boxes[0]
    # half-open pixel edges in percent of the 56 x 56 slice
    assert (liver.left, liver.top) == pytest.approx((100 * 5 / 56, 100 * 6 / 56))
    assert (liver.width, liver.height) == pytest.approx((100 * 25 / 56, 100 * 25 / 56))
    assert [p.display_width for p in card.panels] == [126] * 4


def test_a_2d_box_and_the_trace_citations() -> None:
    row = make_row(regions=[("R1", "liver", (4, 4, 20, 30)), ("R2", "aorta", (30, 2, 50, 10))])
    row["reasoning"] = (
        "<think>The liver <|box_start|>[4,4,20,30]<|box_end|> and a box nobody has "
        "<|box_start|>[1,1,2,2]<|box_end|>.</think>A. liver"
    )
    card = make_card(row, Assets())
    (panel,) = card.panels
    assert panel.z is None and [b.region for b in panel.boxes] == ["R1", "R2"]
    cited = [(part.region, part.text) for part in card.trace if part.region]
    assert cited == [("R1", "[4,4,20,30]"), ("?", "[1,1,2,2]")]
    assert card.options[0] == ("A", "liver", True) and not card.options[1][2]


def test_rows_are_spread_over_groups_and_cases(tmp_path: Path) -> None:
    rows = [
        make_row(source=source, case=f"c{c}", index=q, dims=dims, split="train")
        for source, dims in (("alpha", 2), ("alpha", 3), ("beta", 2))
        for c in range(3)
        for q in range(4)
    ]
    refs = list_rows(find_row_files(write_release(tmp_path / "rel", rows)))
    chosen = choose_rows(refs, 6)
    # each of the three groups (source, dims, family, split) gives two rows, of two cases,
    # each its case's first question
    assert sorted((r.source, r.dims, r.id) for r in chosen) == [
        ("alpha", 2, "alpha/c0/0"),
        ("alpha", 2, "alpha/c1/0"),
        ("alpha", 3, "alpha/c0/0"),
        ("alpha", 3, "alpha/c1/0"),
        ("beta", 2, "beta/c0/0"),
        ("beta", 2, "beta/c1/0"),
    ]
    assert choose_rows(refs, 6) == chosen
    assert len(choose_rows(refs, 1000)) == len(refs)


def test_rows_are_read_from_the_row_groups_that_hold_them(tmp_path: Path) -> None:
    rows = [make_row(case=f"c{k}", index=0) for k in range(10)]
    path = tmp_path / "data" / "2d" / "train-00000-of-00001.parquet"
    path.parent.mkdir(parents=True)
    pq.write_table(rows_to_table(rows), path, row_group_size=3)  # groups of 3, 3, 3, 1
    assert pq.ParquetFile(path).metadata.num_row_groups == 4
    refs = list_rows(find_row_files(tmp_path))
    wanted = [refs[9], refs[2], refs[4], refs[3]]
    assert [row["id"] for row in read_rows(wanted)] == [r.id for r in wanted]
    assert [row["id"] for row in read_rows(wanted)] == [
        "alpha/c9/0",
        "alpha/c2/0",
        "alpha/c4/0",
        "alpha/c3/0",
    ]


def test_the_page_is_self_contained_escaped_and_deduplicated(
    known_release: Path, tmp_path: Path
) -> None:
    report = write_preview(known_release, tmp_path / "p.html")
    html = (tmp_path / "p.html").read_text()
    assert (report.rows_shown, report.rows_total) == (4, 4)
    assert report.images == 1 + 4  # the 2D image shared by two rows is inlined once
    assert len(re.findall(r"data:image/png;base64,", html)) == 5
    assert "Content-Security-Policy" in html and "default-src 'none'" in html
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:|//)""", html)
    assert "http://" not in html and "https://" not in html
    # a source's text is shown as text, never run as markup
    assert "<script>document.title" not in html
    assert "&lt;script&gt;document.title=&#34;pwned&#34;&lt;/script&gt; &amp; &lt;b&gt;bold" in html
    assert "annotation-only" in html
    for family in ("structure_localization", "existence_verification", "size_comparison"):
        assert f"<option>{family}</option>" in html


def test_the_staged_rows_of_a_workspace_can_be_previewed(
    known_workspace: Path, tmp_path: Path
) -> None:
    report = write_preview(known_workspace, tmp_path / "p.html", n=2)
    assert (report.origin.value, report.rows_shown, report.rows_total) == ("staged", 2, 4)
    assert 'data-split="unsplit"' in (tmp_path / "p.html").read_text()


def test_n_below_one_is_a_usage_error(known_release: Path, tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="at least 1"):
        write_preview(known_release, tmp_path / "p.html", n=0)
