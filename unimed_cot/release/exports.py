"""``export RELEASE --format unireason|trl|llamafactory|verl --out PATH``: other projects' layouts.

``unireason`` reproduces the UniReason-Med data release (IQuestLab/UniReason-Med-Data, read by
``materialize_unireason_med_sft.py`` and ``unireason_med_2d3dmix.py``)::

    OUT/images/*.parquet   image_id, path, bytes            (every image once, crops included)
    OUT/sft/*.parquet      messages [{role, content}], image_ids
    OUT/rl/*.parquet       prompt [{role, content}], image_ids, data_source, agent_name, ability,
                           reward_model {style, ground_truth}, extra_info {id, split, ...}

The system prompts are the reference's, verbatim. The user turn is one ``<image>`` per image
(the slices of a volume in order) then the question and its ``"A. ..."`` lines (3D adds the
reference's ``Please answer with ...`` line). In SFT the assistant turn is the reasoning with the
crop of each cited box placed as ``<image>`` right after its ``<|box_end|>`` (one crop per slice
of a 3D box, ``z`` half-open), and ``image_ids`` lists the originals then the crops in order,
which is what the reference SFT code expects. Crops follow the reference's hygiene: integer,
clamped, at least 4 px a side, aspect ratio at most 180, no upscaling.

``trl`` writes TRL's conversational vision format: ``messages`` whose ``content`` is a list of
``{"type": "image"}`` / ``{"type": "text", "text": ...}`` parts, and ``images`` (the originals
then the crops, in the order of the image parts). Rows without pixels (annotation-only, not
hydrated) are skipped and counted. ``llamafactory`` and ``verl``: ``exports_trainers``.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from datasets import Features, Image, List, Value

from unimed_cot.boxes import BOX_END, find_boxes
from unimed_cot.errors import UsageError
from unimed_cot.store.features import read_table
from unimed_cot.store.files import atomic_path

from .manifest import MANIFEST_NAME, read_manifest

FORMATS = ("unireason", "trl", "llamafactory", "verl")
IMAGE_TOKEN = "<image>"
SYSTEM_PROMPT_2D = (
    "You are a medical expert skilled in analyzing 2D medical images. You are capable of "
    "interleaved image-text thinking. In the <think></think> tag, you can use "
    "<|box_start|>[x1,y1,x2,y2]<|box_end|> to focus on that region of the image. You can inspect "
    "it once or multiple times and think in an interleaved manner to answer the question. You "
    "need to answer a single-choice question. You only need to reply with option_letter. "
    "option_content."
)
SYSTEM_PROMPT_3D = (
    "You are a medical expert skilled in analyzing 3D medical images. You are capable of "
    "interleaved image-text thinking. In the <think></think> tag, you can use "
    "<|box_start|>[x1,y1,z1,x2,y2,z2]<|box_end|> to focus on that region of the image. You can "
    "inspect it once or multiple times and think in an interleaved manner to answer the question."
)
_MIN_SIDE = 4
_MAX_ASPECT = 180
_PART = {"type": Value("string"), "text": Value("string")}
TRL_FEATURES = Features(
    {
        "id": Value("string"),
        "messages": List({"role": Value("string"), "content": List(_PART)}),
        "images": List(Image()),
    }
)
IMAGES_SCHEMA = pa.schema(
    [("image_id", pa.string()), ("path", pa.string()), ("bytes", pa.binary())]
)


# (row, its images, the PNG crops of each box its reasoning cites)
Rows = list[tuple[dict[str, Any], list[bytes], list[list[bytes]]]]


@dataclass(slots=True)
class ExportReport:
    """What an export wrote."""

    out: Path
    format: str
    rows: int = 0
    images: int = 0
    skipped_without_pixels: int = 0
    files: list[Path] = field(default_factory=list)

    def summary(self) -> str:
        text = (
            f"exported {self.rows} rows ({self.images} images incl. crops) as {self.format} "
            f"to {self.out} in {len(self.files)} files"
        )
        if self.skipped_without_pixels:
            text += f"; skipped {self.skipped_without_pixels} rows without pixels (hydrate first)"
        return text


def user_text(row: dict[str, Any]) -> str:
    """Question, choice lines, and (3D) the reference's answer instruction."""
    letters = [chr(ord("A") + i) for i in range(len(row["options"]))]
    text = row["question"]
    if row["options"]:
        text += "\n\n" + "\n".join(
            f"{k}. {o}" for k, o in zip(letters, row["options"], strict=True)
        )
    if row["dims"] == 3 and letters:
        listed = (
            letters[0] if len(letters) == 1 else ", ".join(letters[:-1]) + f", or {letters[-1]}"
        )
        if len(letters) == 2:
            listed = f"{letters[0]} or {letters[1]}"
        text += f"\n\nPlease answer with {listed}."
    return text


def crop_box(box: Sequence[int], width: int, height: int) -> tuple[int, int, int, int]:
    """The reference's crop hygiene: clamp, at least 4 px a side, aspect ratio at most 180."""
    x1, y1, x2, y2 = (int(v) for v in box)
    x1, x2 = sorted((min(max(x1, 0), width), min(max(x2, 0), width)))
    y1, y2 = sorted((min(max(y1, 0), height), min(max(y2, 0), height)))
    x1, x2 = _grow(x1, x2, _MIN_SIDE, width)
    y1, y2 = _grow(y1, y2, _MIN_SIDE, height)
    if (x2 - x1) > _MAX_ASPECT * (y2 - y1):
        y1, y2 = _grow(y1, y2, -(-(x2 - x1) // _MAX_ASPECT), height)
    elif (y2 - y1) > _MAX_ASPECT * (x2 - x1):
        x1, x2 = _grow(x1, x2, -(-(y2 - y1) // _MAX_ASPECT), width)
    return x1, y1, x2, y2


def _grow(lo: int, hi: int, side: int, limit: int) -> tuple[int, int]:
    """Expand ``[lo, hi)`` symmetrically to at least ``side`` pixels, kept inside ``[0, limit)``."""
    side = min(side, limit)
    if hi - lo >= side:
        return lo, hi
    lo = max(0, lo - (side - (hi - lo)) // 2)
    hi = lo + side
    if hi > limit:
        hi, lo = limit, limit - side
    return lo, hi


def box_crops(images: Sequence[bytes], box: Sequence[int]) -> list[bytes]:
    """PNG crops of one box: one for 2D, one per slice ``z1 <= z < z2`` for 3D."""
    if len(box) == 4:
        planes, xy = [images[0]], box
    else:
        z1 = min(max(int(box[2]), 0), len(images) - 1)
        z2 = min(max(int(box[5]), z1 + 1), len(images))
        planes, xy = list(images[z1:z2]), (box[0], box[1], box[3], box[4])
    crops = []
    for data in planes:
        pixels = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
        if pixels is None:
            raise ValueError("an image of the row does not decode")
        x1, y1, x2, y2 = crop_box(xy, pixels.shape[1], pixels.shape[0])
        ok, buffer = cv2.imencode(".png", pixels[y1:y2, x1:x2])
        if not ok:
            raise ValueError(f"could not encode a crop of box {list(box)}")
        crops.append(bytes(buffer.tobytes()))
    return crops


def image_id(data: bytes) -> str:
    """A neutral, content-derived image id (the same image always gets the same id)."""
    return hashlib.sha256(data).hexdigest()[:32]


def interleave(reasoning: str, crops: Sequence[Sequence[bytes]]) -> list[tuple[str, str]]:
    """Split the reasoning into ``("text", ...)`` and ``("image", id)`` parts, crops after boxes."""
    parts: list[tuple[str, str]] = []
    pieces = re.split(f"({re.escape(BOX_END)})", reasoning)
    box = 0
    text = ""
    for piece in pieces:
        text += piece
        if piece == BOX_END and box < len(crops):
            parts.append(("text", text))
            parts.extend(("image", image_id(c)) for c in crops[box])
            text, box = "", box + 1
    if text:
        parts.append(("text", text))
    return parts


def export_release(release: Path, *, fmt: str, out: Path) -> ExportReport:
    """Write ``release`` in the layout ``fmt`` under ``out``, one output file per input shard.

    Raises:
        UsageError: for an unknown format or an ``out`` inside the release.
        ReleaseError: when ``release`` has no readable manifest.
    """
    from .exports_trainers import write_llamafactory, write_verl

    if fmt not in FORMATS:
        raise UsageError(f"unknown export format {fmt!r}; choose one of {', '.join(FORMATS)}")
    if out.resolve().is_relative_to(release.resolve()):
        raise UsageError(f"--out {out} is inside the release {release}; choose another folder")
    manifest = read_manifest(release / MANIFEST_NAME)
    report = ExportReport(out=out, format=fmt)
    seen: set[str] = set()
    for shard in sorted(manifest["shards"], key=lambda s: str(s["path"])):
        stem = f"{shard['config']}-{Path(str(shard['path'])).stem}"
        table = read_table(release / str(shard["path"]))
        # LLaMA-Factory and verl rows carry no crops (see exports_trainers): none are cut
        rows = list(_rows_with_crops(table, report, crops=fmt in ("unireason", "trl")))
        if not rows:
            continue
        if fmt == "unireason":
            _write_unireason(rows, out, stem, seen, report)
        elif fmt == "trl":
            _write_trl(rows, out / f"{stem}.parquet", report)
        elif fmt == "llamafactory":
            write_llamafactory(rows, out, stem, report)
        else:
            write_verl(rows, out / f"{stem}.parquet", report)
    return report


def _rows_with_crops(
    table: pa.Table, report: ExportReport, *, crops: bool = True
) -> Iterator[tuple[dict[str, Any], list[bytes], list[list[bytes]]]]:
    for row in table.to_pylist():
        images = [image["bytes"] for image in row["images"] or []]
        if not images:
            report.skipped_without_pixels += 1
            continue
        boxes = find_boxes(row["reasoning"]) if crops else []
        yield row, images, [box_crops(images, box) for box in boxes]


def _write_unireason(
    rows: Rows,
    out: Path,
    stem: str,
    seen: set[str],
    report: ExportReport,
) -> None:
    sft, rl, new_images = [], [], []
    for row, images, crops in rows:
        for data in [*images, *(c for box in crops for c in box)]:
            key = image_id(data)
            if key not in seen:
                seen.add(key)
                new_images.append({"image_id": key, "path": f"{key}.png", "bytes": data})
        system = SYSTEM_PROMPT_2D if row["dims"] == 2 else SYSTEM_PROMPT_3D
        user = IMAGE_TOKEN * len(images) + user_text(row)
        parts = interleave(row["reasoning"], crops)
        assistant = "".join(IMAGE_TOKEN if kind == "image" else value for kind, value in parts)
        originals = [image_id(d) for d in images]
        sft.append(
            {
                "messages": [
                    {"role": "system", "content": system},
                    {"role": "user", "content": user},
                    {"role": "assistant", "content": assistant},
                ],
                "image_ids": originals + [v for kind, v in parts if kind == "image"],
            }
        )
        rl.append(
            {
                "prompt": [
                    {"role": "system", "content": system},
                    {"role": "user", "content": user},
                ],
                "image_ids": originals,
                "data_source": row["source"],
                "agent_name": "urm_single_assistant",
                "ability": "medical_vqa",
                "reward_model": {"style": "rule", "ground_truth": row["answer"]},
                "extra_info": {
                    "id": row["id"],
                    "split": row["split"],
                    "dims": int(row["dims"]),
                    "question_type": row["question_type"],
                    "answer": row["answer"],
                },
            }
        )
    report.rows += len(rows)
    report.images += len(new_images)
    for kind, records, schema in (
        ("sft", sft, None),
        ("rl", rl, None),
        ("images", new_images, IMAGES_SCHEMA),
    ):
        if records:
            table = pa.Table.from_pylist(records, schema=schema)
            write_table(table, out / kind / f"{stem}.parquet", report)


def _write_trl(
    rows: Rows,
    path: Path,
    report: ExportReport,
) -> None:
    records = []
    for row, images, crops in rows:
        system = SYSTEM_PROMPT_2D if row["dims"] == 2 else SYSTEM_PROMPT_3D
        user = [{"type": "image", "text": None} for _ in images]
        user.append({"type": "text", "text": user_text(row)})
        parts = interleave(row["reasoning"], crops)
        assistant = [
            {"type": "image", "text": None} if kind == "image" else {"type": "text", "text": value}
            for kind, value in parts
        ]
        records.append(
            {
                "id": row["id"],
                "messages": [
                    {"role": "system", "content": [{"type": "text", "text": system}]},
                    {"role": "user", "content": user},
                    {"role": "assistant", "content": assistant},
                ],
                "images": [*images, *(c for box in crops for c in box)],
            }
        )
        report.images += len(records[-1]["images"])
    report.rows += len(records)
    columns = {name: [r[name] for r in records] for name in TRL_FEATURES}
    table = pa.Table.from_pydict(
        TRL_FEATURES.encode_batch(columns), schema=TRL_FEATURES.arrow_schema
    )
    write_table(table, path, report)


def write_table(table: pa.Table, path: Path, report: ExportReport) -> None:
    with atomic_path(path) as tmp:
        pq.write_table(table, tmp, compression="zstd")
    report.files.append(path)
