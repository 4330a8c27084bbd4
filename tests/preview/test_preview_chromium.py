"""The gallery in a real browser (headless Chromium): boxes render where the regions are.

Two looks at the same page at the same window size: ``--dump-dom`` of a copy with a measuring
script appended (element geometry, and what the filters leave visible), and ``--screenshot`` of
the page itself (the drawn pixels). The truth is the fixture's own regions, never the page's
attributes. Skipped, with the reason shown, where Chromium is not installed.
"""

from __future__ import annotations

import html
import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from fixtures._preview import BOXES_2D, BOXES_3D, GREY
from PIL import Image

from unimed_cot.preview import write_preview
from unimed_cot.preview.cards import PALETTE

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = pytest.mark.skipif(
    CHROMIUM is None,
    reason="Chromium is not installed (Debian: apt-get install -y chromium); "
    "the gallery was not opened in a browser",
)
WINDOW = (1300, 1600)
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-dev-shm-usage",
    "--hide-scrollbars",
    "--force-device-scale-factor=1",
    f"--window-size={WINDOW[0]},{WINDOW[1]}",
)
MEASURE = """<script>
(function () {
  function rect(el) {
    var r = el.getBoundingClientRect();
    return [r.left + window.scrollX, r.top + window.scrollY, r.width, r.height];
  }
  function visible() {
    return Array.prototype.filter.call(document.querySelectorAll("section.card"),
      function (c) { return c.offsetParent !== null; }).map(function (c) { return c.id; });
  }
  function pick(id, value) {
    var select = document.getElementById(id);
    select.value = value;
    select.dispatchEvent(new Event("change"));
  }
  var out = {panels: [], boxes: [], filters: {}};
  document.querySelectorAll("section.card").forEach(function (card) {
    card.querySelectorAll(".panel").forEach(function (panel) {
      var z = panel.dataset.z === undefined ? null : Number(panel.dataset.z);
      var p = rect(panel);
      out.panels.push({card: card.id, z: z, rect: p});
      panel.querySelectorAll(".box").forEach(function (box) {
        out.boxes.push({card: card.id, z: z, region: box.dataset.region, rect: rect(box),
                        panel: p, color: getComputedStyle(box).borderTopColor});
      });
    });
  });
  out.filters.all = visible();
  pick("filter-source", "b3d");
  out.filters.source_b3d = visible();
  out.filters.shown = document.getElementById("shown").textContent;
  pick("filter-source", "");
  pick("filter-split", "test");
  out.filters.split_test = visible();
  pick("filter-family", "structure_localization");
  out.filters.split_test_structure = visible();
  pick("filter-split", "");
  pick("filter-family", "");
  out.filters.reset = visible();
  var pre = document.createElement("pre");
  pre.id = "measured";
  pre.textContent = JSON.stringify(out);
  document.body.appendChild(pre);
})();
</script>
"""
# image size of each card's panels, from the fixture
SIZES = {"a2d/img0/0": (112, 84), "a2d/img0/1": (112, 84), "b3d/vol0/0": (56, 56)}


def chromium(profile: Path, *args: str) -> subprocess.CompletedProcess[str]:
    assert CHROMIUM is not None
    done = subprocess.run(
        [CHROMIUM, *FLAGS, f"--user-data-dir={profile}", *args],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return done


@pytest.fixture
def gallery(known_release: Path, tmp_path: Path) -> Path:
    out = tmp_path / "preview.html"
    write_preview(known_release, out)
    return out


@pytest.fixture
def measured(gallery: Path, tmp_path: Path) -> dict[str, Any]:
    page = gallery.read_text()
    probe = tmp_path / "probe.html"
    probe.write_text(page.replace("</body>", MEASURE + "</body>"))
    dom = chromium(tmp_path / "profile", "--dump-dom", probe.as_uri()).stdout
    match = re.search(r'<pre id="measured">(.*?)</pre>', dom, re.DOTALL)
    assert match, dom[-2000:]
    data: dict[str, Any] = json.loads(html.unescape(match.group(1)))
    return data


def expected_boxes() -> set[tuple[str, int | None, str]]:
    drawn: set[tuple[str, int | None, str]] = {
        ("a2d/img0/0", None, "R1"),
        ("a2d/img0/0", None, "R2"),
        ("a2d/img0/1", None, "R2"),
    }
    for region, box in BOXES_3D.items():
        drawn |= {("b3d/vol0/0", z, region) for z in range(box[2], box[5])}
    return drawn


def truth(card: str, region: str) -> tuple[int, int, int, int]:
    if card.startswith("b3d"):
        x1, y1, _, x2, y2, _ = BOXES_3D[region]
        return (x1, y1, x2, y2)
    return BOXES_2D[region]


def test_boxes_sit_on_the_pixels_of_their_regions(measured: dict[str, Any]) -> None:
    assert {(b["card"], b["z"], b["region"]) for b in measured["boxes"]} == expected_boxes()
    assert len(measured["boxes"]) == len(expected_boxes())
    for box in measured["boxes"]:
        left, top, width, height = box["rect"]
        p_left, p_top, p_width, p_height = box["panel"]
        image_w, image_h = SIZES[box["card"]]
        found = (
            (left - p_left) * image_w / p_width,
            (top - p_top) * image_h / p_height,
            (left + width - p_left) * image_w / p_width,
            (top + height - p_top) * image_h / p_height,
        )
        assert found == pytest.approx(truth(box["card"], box["region"]), abs=0.1), box
    # 2D shown at its own size, 3D slices as a strip of 126 px thumbnails
    sizes = {(p["card"], p["z"]): tuple(p["rect"][2:]) for p in measured["panels"]}
    assert sizes[("a2d/img0/0", None)] == (112, 84)
    assert {sizes[("b3d/vol0/0", z)] for z in range(4)} == {(126, 126)}


def test_filters_show_the_chosen_rows(measured: dict[str, Any]) -> None:
    filters = measured["filters"]
    everything = ["a2d/img0/0", "a2d/img0/1", "b3d/vol0/0", "c2d/hidden/0"]
    assert filters["all"] == everything
    assert (filters["source_b3d"], filters["shown"]) == (["b3d/vol0/0"], "1")
    assert filters["split_test"] == ["a2d/img0/1"]
    assert filters["split_test_structure"] == []
    assert filters["reset"] == everything


def rgb(hex_colour: str) -> tuple[int, int, int]:
    return (int(hex_colour[1:3], 16), int(hex_colour[3:5], 16), int(hex_colour[5:7], 16))


def test_the_screenshot_shows_the_boxes(
    gallery: Path, measured: dict[str, Any], tmp_path: Path
) -> None:
    shot = tmp_path / "shot.png"
    chromium(tmp_path / "profile-shot", f"--screenshot={shot}", gallery.as_uri())
    pixels = np.asarray(Image.open(shot).convert("RGB")).astype(int)
    assert pixels.shape[:2] == (WINDOW[1], WINDOW[0])

    def at(x: float, y: float) -> tuple[int, ...]:
        return tuple(int(v) for v in pixels[int(y), int(x)])

    colours = {"R1": rgb(PALETTE[0]), "R2": rgb(PALETTE[1])}
    for box in measured["boxes"]:
        if box["card"] != "a2d/img0/0":
            continue
        left, top, width, height = box["rect"]
        colour = colours[box["region"]]
        middle_y = top + height / 2
        # the 2 px border lies inside the box's pixel edges, on all four sides
        assert at(left + 1, middle_y) == colour, box
        assert at(left + width - 1, middle_y) == colour, box
        assert at(left + width / 2, top + 1) == colour, box
        assert at(left + width / 2, top + height - 1) == colour, box
        # inside and just outside the border: the image itself (flat grey)
        assert at(left + width / 2, middle_y) == (GREY, GREY, GREY), box
        assert at(left - 2, middle_y) == (GREY, GREY, GREY), box

    # 3D: the liver box is drawn on slices 1 and 2 and nowhere else
    magenta = np.array(colours["R1"])
    for panel in measured["panels"]:
        if panel["card"] != "b3d/vol0/0":
            continue
        left, top, width, height = (round(v) for v in panel["rect"])
        area = pixels[top : top + height, left : left + width]
        hits = int((np.abs(area - magenta).sum(axis=2) < 30).sum())
        if panel["z"] in (1, 2):
            assert hits > 100, panel
        else:
            assert hits == 0, panel
