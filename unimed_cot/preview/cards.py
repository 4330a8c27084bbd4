"""One published row -> one card of the gallery: text, options, trace and the boxes to draw.

Boxes come from the row's ``regions`` (never re-parsed from the trace): a 2D box
``[x1,y1,x2,y2]`` is drawn on the image, a 3D box ``[x1,y1,z1,x2,y2,z2]`` on every slice
``z1 .. z2-1``, as a rectangle whose edges are the box's half-open pixel edges, placed in percent
of the image so that any display size keeps it on the pixels it names. Each distinct image is
kept once (by sha256) and shown through a CSS class, so rows sharing slices do not repeat them.
"""

from __future__ import annotations

import base64
import hashlib
import io
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from unimed_cot.boxes import BOX_END, BOX_START, BoxError, parse_coordinates

LETTERS = "ABCDEFGHIJ"
MAX_WIDTH_2D = 448  # px on screen; larger images are shown scaled
SLICE_WIDTH_3D = 126  # px on screen per slice of a strip
PALETTE = ("#ff00ff", "#00e5ff", "#ffd400", "#00ff66", "#ff7a00", "#8c7bff", "#ff3355", "#b6ff00")
_TOKEN = re.compile(re.escape(BOX_START) + r"(.*?)" + re.escape(BOX_END), re.DOTALL)


@dataclass(frozen=True, slots=True)
class Picture:
    """A distinct image: the CSS class that shows it and its size in pixels."""

    css_class: str
    width: int
    height: int


@dataclass(frozen=True, slots=True)
class DrawnBox:
    """A box on one image, in percent of the image (left, top, width, height)."""

    region: str
    label: str
    colour: str
    box: str  # the row's coordinates, as written
    left: float
    top: float
    width: float
    height: float


@dataclass(frozen=True, slots=True)
class Panel:
    """One image of a card (the 2D image, or slice ``z`` of a 3D strip) with its boxes."""

    z: int | None
    picture: Picture | None  # None: the row has no decodable pixels here
    display_width: int
    display_height: int
    boxes: tuple[DrawnBox, ...]


@dataclass(frozen=True, slots=True)
class TracePart:
    """A run of trace text; a box citation carries its region's id and colour."""

    text: str
    region: str = ""
    colour: str = ""


@dataclass(frozen=True, slots=True)
class Card:
    """Everything the gallery shows of one row."""

    id: str
    source: str
    family: str
    split: str
    dims: int
    facts: tuple[tuple[str, str], ...]  # (name, value) shown under the title
    question: tuple[TracePart, ...]  # box tokens in a question are shown like citations
    options: tuple[tuple[str, str, bool], ...]  # (letter, text, is the answer)
    answer: str
    trace: tuple[TracePart, ...]
    regions: tuple[tuple[str, str, str, str], ...]  # (id, label, box, colour)
    panels: tuple[Panel, ...]
    note: str = ""


@dataclass(slots=True)
class Assets:
    """The distinct images of a gallery, as data URIs keyed by CSS class."""

    uris: dict[str, str] = field(default_factory=dict)
    sizes: dict[str, tuple[int, int]] = field(default_factory=dict)

    def add(self, data: bytes) -> Picture | None:
        """Keep ``data`` once; ``None`` when it is not a decodable image."""
        css_class = "i" + hashlib.sha256(data).hexdigest()[:16]
        if css_class not in self.sizes:
            size = _image_size(data)
            if size is None:
                return None
            self.sizes[css_class] = size
            mime = "image/png" if data.startswith(b"\x89PNG") else "image/jpeg"
            self.uris[css_class] = f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}"
        width, height = self.sizes[css_class]
        return Picture(css_class=css_class, width=width, height=height)


def make_card(row: Mapping[str, Any], assets: Assets) -> Card:
    """Build the card of one published (or staged) row."""
    regions = [
        (str(r["id"]), str(r["label"]), tuple(int(v) for v in r["box"]), PALETTE[k % len(PALETTE)])
        for k, r in enumerate(row["regions"] or [])
    ]
    images = [_image_bytes(image) for image in row["images"] or []]
    pictures = [assets.add(data) if data else None for data in images]
    dims = int(row["dims"])
    panels = tuple(_panels(dims, pictures, regions))
    note = ""
    if not images:
        note = "no pixels in this row (annotation-only: `unimed-cot hydrate` restores them)"
    elif any(p is None for p in pictures):
        note = "some images of this row do not decode"
    options = [str(o) for o in row["options"] or []]
    answer = str(row["answer"])
    return Card(
        id=str(row["id"]),
        source=str(row["source"]),
        family=str(row["question_type"]),
        split=str(row["split"] or "unsplit"),
        dims=dims,
        facts=_facts(row, dims, len(images)),
        question=tuple(_trace(str(row["question"]), regions)),
        options=tuple(
            (LETTERS[k], text, answer == f"{LETTERS[k]}. {text}") for k, text in enumerate(options)
        ),
        answer=answer,
        trace=tuple(_trace(str(row["reasoning"]), regions)),
        regions=tuple((rid, label, _coords(box), colour) for rid, label, box, colour in regions),
        panels=panels,
        note=note,
    )


def _panels(
    dims: int,
    pictures: Sequence[Picture | None],
    regions: Sequence[tuple[str, str, tuple[int, ...], str]],
) -> list[Panel]:
    panels = []
    for z, picture in enumerate(pictures):
        boxes = []
        for rid, label, box, colour in regions:
            if dims == 3 and len(box) == 6 and box[2] <= z < box[5]:
                flat = (box[0], box[1], box[3], box[4])
            elif dims == 2 and len(box) == 4:
                flat = box
            else:
                continue
            if picture is not None:
                boxes.append(_drawn(rid, label, colour, box, flat, picture))
        width, height = _display_size(dims, picture)
        panels.append(Panel(z if dims == 3 else None, picture, width, height, tuple(boxes)))
    return panels


def _drawn(
    rid: str,
    label: str,
    colour: str,
    box: tuple[int, ...],
    flat: tuple[int, ...],
    picture: Picture,
) -> DrawnBox:
    x1, y1, x2, y2 = flat
    return DrawnBox(
        region=rid,
        label=label,
        colour=colour,
        box=_coords(box),
        left=100.0 * x1 / picture.width,
        top=100.0 * y1 / picture.height,
        width=100.0 * (x2 - x1) / picture.width,
        height=100.0 * (y2 - y1) / picture.height,
    )


def _display_size(dims: int, picture: Picture | None) -> tuple[int, int]:
    if picture is None:
        return (SLICE_WIDTH_3D, SLICE_WIDTH_3D)
    target = SLICE_WIDTH_3D if dims == 3 else min(picture.width, MAX_WIDTH_2D)
    return (target, round(picture.height * target / picture.width))


def _trace(text: str, regions: Sequence[tuple[str, str, tuple[int, ...], str]]) -> list[TracePart]:
    """The trace as text runs and box citations, each citation coloured as its region."""
    by_box = {box: (rid, colour) for rid, _, box, colour in regions}
    parts: list[TracePart] = []
    position = 0
    for match in _TOKEN.finditer(text):
        if match.start() > position:
            parts.append(TracePart(text[position : match.start()]))
        try:
            box = parse_coordinates(match.group(1))
        except BoxError:
            parts.append(TracePart(match.group(0)))
        else:
            rid, colour = by_box.get(box, ("?", "#999999"))
            parts.append(TracePart(_coords(box), region=rid, colour=colour))
        position = match.end()
    if position < len(text):
        parts.append(TracePart(text[position:]))
    return parts


def _facts(row: Mapping[str, Any], dims: int, n_images: int) -> tuple[tuple[str, str], ...]:
    facts = [("modality", str(row["modality"])), ("dims", f"{dims}D")]
    if dims == 3:
        facts.append(("slices", str(n_images)))
        if row.get("plane"):
            facts.append(("plane", str(row["plane"])))
    spacing = row.get("spacing_mm") or []
    if spacing:
        facts.append(("spacing mm", " x ".join(f"{float(v):.3g}" for v in spacing)))
    if row.get("window"):
        facts.append(("window", str(row["window"])))
    facts.append(("teacher", str(row.get("teacher") or "")))
    return tuple(facts)


def _image_bytes(image: Any) -> bytes | None:
    data = image.get("bytes") if isinstance(image, dict) else image
    return data if isinstance(data, bytes) and data else None


def _image_size(data: bytes) -> tuple[int, int] | None:
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(io.BytesIO(data)) as image:
            return (int(image.width), int(image.height))
    except (UnidentifiedImageError, OSError, ValueError):
        return None


def _coords(box: Sequence[int]) -> str:
    return "[" + ",".join(str(v) for v in box) + "]"
