"""``slake``: SLAKE 1.0, a bilingual (English/Chinese) medical VQA set, as released.

Expected layout (the Google Drive / ``BoKelvin/SLAKE`` release)::

    Slake1.0/
      imgs/
        xmlab0/ source.jpg  mask.png  detection.json  question.json
        xmlab1/ ...
      KG/ ...                                  (not read)
      mask.txt                                 (not read)
      train.json
      validate.json   (or validation.json: the HF copy renamed it)
      test.json

Each split file is a JSON array of question entries: ``img_id``, ``img_name``
(``xmlab<img_id>/source.jpg``), ``question``, ``answer``, ``q_lang`` (``en``/``zh``),
``location``, ``modality`` (``CT``/``MRI``/``X-Ray``), ``answer_type`` (``OPEN``/``CLOSED``),
``base_type``, ``content_type``, ``triple``, ``qid`` (unique across the three files).
``detection.json`` is a JSON list of one-key objects ``{"<label>": [x, y, w, h]}`` in float
pixels, x/y the top-left corner (SLAKE's own evaluation code draws ``x + w``, ``y + h``).

What a case is: one image with the questions of one language (``xmlab<N>-en``,
``xmlab<N>-zh``), in the split of the file they come from; the group is the image. The release's
splits are image-disjoint only within one language: when both are kept, the training questions
of an image whose other-language questions are in the test split (the benchmark) are dropped at
publish by the benchmark decontamination, and validation/train overlaps go to the more held-out
split by group.
Chinese cases are listed, and rejected unread (``language-not-kept``) unless the build keeps
them (``--language zh``).

Questions are kept as released (``questions.source``): closed answers become choices, open
answers stay free text with their type; ``content_type`` is the question type. A question is
grounded on a ``detection.json`` box whose label names what it asks about: the label (as a
whole word, case-insensitive) is in the question or the answer, the content type is one that
looks at a structure (organ, position, abnormality, size, shape, colour, quantity), and it is not
an absence answered "No". Every other question is published ungrounded. ``mask.png`` is not read:
the format of its id table (``mask.txt``) is not documented in what we could check, and a guessed
mapping would make wrong evidence look grounded.

Rejected with a reason, the build going on: a question entry without text/answer or with an
unknown answer type (``bad-question``), an ``img_name`` that is absolute or climbs out
(``unsafe-path``) or does not match its ``img_id`` (``bad-name``), a missing ``source.jpg``
(``missing-image``), a ``detection.json`` that is not the documented list or has a box of
non-positive size (``bad-box``), a box outside its image (``bad-box``), a truncated image
(``unreadable-file``).

License: CC BY 4.0 (the ``BoKelvin/SLAKE`` card); the images come from MSD (CC BY-SA 4.0),
CHAOS and NIH ChestX-ray8, whose attribution terms also apply. The test split is a benchmark.
"""

from __future__ import annotations

import json
import math
import re
from collections import defaultdict
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, ClassVar

from unimed_cot.imaging import ImagingError
from unimed_cot.records import AnnotatedBox, Case, Dims, SourceQuestion, SourceRecord, Split

from ._common import (
    BadBoxError,
    BadNameError,
    MissingImageError,
    UnsafePathError,
    is_safe_name,
    problem_record,
)
from ._vqa import (
    BadQuestionError,
    VqaPayload,
    answer_type_of,
    load_vqa_case,
    read_json_list,
    source_question,
)
from .base import Builder

SPLIT_FILES: tuple[tuple[tuple[str, ...], Split], ...] = (
    (("train.json",), Split.TRAIN),
    (("validate.json", "validation.json"), Split.VALIDATION),
    (("test.json",), Split.TEST),
)
MODALITIES = {"CT": "CT", "MRI": "MR", "X-Ray": "X-ray"}
# Content types whose questions look at a structure a box can show.
GROUNDABLE = frozenset({"organ", "position", "abnormality", "size", "shape", "color", "quantity"})
ABSENCE = frozenset({"organ", "abnormality"})  # "is there X?" -> "No" has no region to show


class SlakeBuilder(Builder):
    """SLAKE 1.0: CT, MR and chest X-ray images with English and Chinese questions."""

    slug = "slake"
    title = "SLAKE 1.0 (semantically-labeled knowledge-enhanced medical VQA)"
    homepage = "https://www.med-vqa.com/slake/"
    citation = """@inproceedings{liu2021slake,
  title     = {SLAKE: A Semantically-Labeled Knowledge-Enhanced Dataset for Medical Visual
               Question Answering},
  author    = {Liu, Bo and Zhan, Li-Ming and Xu, Li and Ma, Lin and Yang, Yan and Wu, Xiao-Ming},
  booktitle = {IEEE 18th International Symposium on Biomedical Imaging (ISBI)},
  pages     = {1650--1654},
  year      = {2021}
}"""
    license = "CC-BY-4.0"
    redistributable = True
    modalities: ClassVar[tuple[str, ...]] = ("CT", "MR", "X-ray")
    dims: ClassVar[tuple[Dims, ...]] = (2,)
    benchmark_splits: ClassVar[tuple[str, ...]] = ("test",)
    ships_questions = True
    layout = """Slake1.0/
  imgs/xmlab<N>/source.jpg        the image (also mask.png, detection.json, question.json)
  imgs/xmlab<N>/detection.json    [{"<label>": [x, y, w, h]}, ...] (optional)
  train.json                      [{"img_id", "img_name", "question", "answer", "q_lang",
  validate.json | validation.json   "modality", "answer_type", "content_type", "qid", ...}]
  test.json"""

    def check_root(self, root: Path) -> None:
        if not root.is_dir():
            raise self.layout_error(root, "it is not a folder")
        if not (root / "imgs").is_dir():
            raise self.layout_error(root, "there is no imgs/ folder")
        for names, _ in SPLIT_FILES:
            if not any((root / name).is_file() for name in names):
                raise self.layout_error(root, f"there is no {' or '.join(names)}")

    def records(self, root: Path) -> Iterator[SourceRecord]:
        self.check_root(root)
        cases: dict[tuple[int, str], list[tuple[Split, Mapping[str, Any]]]] = defaultdict(list)
        for names, split in SPLIT_FILES:
            path = next(root / name for name in names if (root / name).is_file())
            entries = read_json_list(path)
            if isinstance(entries, str):
                raise self.layout_error(root, entries)
            for position, entry in enumerate(entries):
                if not isinstance(entry, dict) or not isinstance(entry.get("img_id"), int):
                    raise self.layout_error(
                        root, f"{path.name} entry {position} has no integer img_id"
                    )
                language = str(entry.get("q_lang", "")).strip() or "en"
                cases[(int(entry["img_id"]), language)].append((split, entry))
        for (img_id, language), entries in sorted(cases.items()):
            yield self._record(root, img_id, language, entries)

    def _record(
        self,
        root: Path,
        img_id: int,
        language: str,
        entries: list[tuple[Split, Mapping[str, Any]]],
    ) -> SourceRecord:
        case_id = f"xmlab{img_id}-{language}"
        folder = root / "imgs" / f"xmlab{img_id}"
        modality = MODALITIES.get(str(entries[0][1].get("modality", "")), "")
        try:
            image = self._image_path(root, img_id, entries)
            boxes = read_detection(folder / "detection.json")
            questions = tuple(_question(entry, language, boxes) for _, entry in entries)
            if not modality:
                raise BadQuestionError(
                    f"modality {entries[0][1].get('modality')!r} is none of {sorted(MODALITIES)}"
                )
        except ImagingError as error:
            return problem_record(
                builder=self,
                case_id=case_id,
                image=folder / "source.jpg",
                modality=modality or "CT",
                dims=2,
                reason=error.reason,
                detail=f"{case_id}: {error}",
            )
        splits = {split for split, _ in entries}
        # One image's questions of one language sit in one file; if a copy spreads them over
        # two, the most held-out split keeps them all (evaluation data stays unseen).
        split = max(splits, key=[Split.TRAIN, Split.VALIDATION, Split.TEST].index)
        return SourceRecord(
            source=self.slug,
            case_id=case_id,
            group_key=f"xmlab{img_id}",
            dims=2,
            modality=modality,
            image=image,
            official_split=split,
            payload=VqaPayload(questions=questions, boxes=boxes),
            language=language,
        )

    def _image_path(
        self, root: Path, img_id: int, entries: list[tuple[Split, Mapping[str, Any]]]
    ) -> Path:
        expected = f"xmlab{img_id}/source.jpg"
        for _, entry in entries:
            name = entry.get("img_name")
            if not isinstance(name, str) or not is_safe_name(name):
                raise UnsafePathError(f"img_name {name!r} is a path outside imgs/")
            if name != expected:
                raise BadNameError(f"img_name {name!r} of img_id {img_id} is not {expected!r}")
        path = root / "imgs" / expected
        if not path.is_file():
            raise MissingImageError(f"imgs/{expected} is not there")
        return path

    def load(self, record: SourceRecord) -> Case:
        return load_vqa_case(record)


def read_detection(path: Path) -> tuple[AnnotatedBox, ...]:
    """The boxes of a ``detection.json`` (xywh floats -> x1, y1, x2, y2); none if absent.

    Raises:
        BadBoxError: the file is not the documented list of one-key objects, or a box is not
            four finite numbers with a non-negative corner and positive width and height.
    """
    if not path.is_file():
        return ()
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise BadBoxError(f"{path.parent.name}/detection.json is not JSON ({error})") from error
    if not isinstance(data, list):
        raise BadBoxError(f"{path.parent.name}/detection.json is not a list")
    boxes: list[AnnotatedBox] = []
    for item in data:
        if not isinstance(item, dict) or len(item) != 1:
            raise BadBoxError(f"{path.parent.name}/detection.json: {item!r} is not {{label: box}}")
        ((label, values),) = item.items()
        if not isinstance(values, list) or len(values) != 4:
            raise BadBoxError(f"{path.parent.name}/detection.json: {label}: {values!r}")
        if not all(isinstance(v, int | float) and not isinstance(v, bool) for v in values):
            raise BadBoxError(f"{path.parent.name}/detection.json: {label}: {values!r}")
        x, y, w, h = (float(v) for v in values)
        if not all(math.isfinite(v) for v in (x, y, w, h)) or x < 0 or y < 0 or w <= 0 or h <= 0:
            raise BadBoxError(
                f"{path.parent.name}/detection.json: {label}: [x, y, w, h] = {values} is not a box"
            )
        name = str(label).strip()
        if not name:
            raise BadBoxError(f"{path.parent.name}/detection.json: a box without a label")
        boxes.append(AnnotatedBox(label=name, box=(x, y, x + w, y + h)))
    return tuple(boxes)


def _question(
    entry: Mapping[str, Any], language: str, boxes: tuple[AnnotatedBox, ...]
) -> SourceQuestion:
    kind = str(entry.get("content_type", "")).strip()
    answer_type = answer_type_of(entry.get("answer_type"), closed=("closed",), opened=("open",))
    asked = source_question(
        entry,
        index=entry.get("qid"),
        text_key="question",
        answer=entry.get("answer"),
        answer_type=answer_type,
        question_type=kind,
        language=language,
    )
    return SourceQuestion(
        index=asked.index,
        text=asked.text,
        answer=asked.answer,
        answer_type=asked.answer_type,
        question_type=asked.question_type,
        language=language,
        evidence_labels=evidence_labels(asked, boxes),
    )


def evidence_labels(asked: SourceQuestion, boxes: tuple[AnnotatedBox, ...]) -> tuple[str, ...]:
    """The box labels that show what a question asks about (module docstring)."""
    kind = asked.question_type.casefold()
    if kind not in GROUNDABLE:
        return ()
    if kind in ABSENCE and asked.answer == "No":
        return ()
    said = f"{asked.text} {asked.answer}".casefold()
    found: list[str] = []
    for box in boxes:
        name = box.label.replace("_", " ").casefold()
        if re.search(rf"(?<!\w){re.escape(name)}(?!\w)", said) and box.label not in found:
            found.append(box.label)
    return tuple(found)
