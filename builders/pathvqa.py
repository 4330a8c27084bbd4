"""``pathvqa``: PathVQA, pathology questions generated from textbook and PEIR captions.

Expected layout (the authors' Google Drive release, "Updated Google Drive link 2022")::

    PathVQA/
      split/
        images/train/<img_id>.jpg     img_id like train_0422
        images/val/<img_id>.jpg       val_0261
        images/test/<img_id>.jpg
        qas/train_vqa.pkl             a pickled list of dicts (LXMERT style)
        qas/val_vqa.pkl
        qas/test_vqa.pkl
        (qas/train/train_qa.pkl, ans2label.pkl, ... : not read)

``--input`` is the folder holding ``split/`` (or ``split/`` itself). Each ``{split}_vqa.pkl``
entry is ``{'answer_type': 'yes/no' | 'other', 'img_id': 'train_0422', 'label': {answer: 1},
'question_id': 100422000, 'question_type': 'where', 'sent': question}``; the answer is the one
key of ``label`` and the image ``images/{split}/{img_id}.jpg`` (keys read: img_id, sent, label,
answer_type, question_type, question_id).

Unpickling can run code, so the pickles are read with an unpickler that refuses every global
(class or function): the released files hold only lists, dicts, strings and numbers, and a file
that needs anything else is refused as not the release.

What a case is: one image with its questions, in the split of its file (``val`` is
``validation``); the group is the image (PathVQA has no patient ids). ``yes/no`` answers become
``Yes``/``No`` choices, ``other`` answers stay open; ``question_type`` is the source's. No question
is grounded: PathVQA has no boxes or masks. The test split is a benchmark.

Rejected with a reason: an entry without a question or whose ``label`` is not one answer, or of
another answer type (``bad-question``), an ``img_id`` that is a path (``unsafe-path``), a missing
image (``missing-image``), a truncated JPEG (``unreadable-file``).

License: the code is MIT, but the images' copyright stays with the two textbooks' publishers and
the PEIR library, so rows carry ``other`` and are published without pixels (annotation-only;
``unimed-cot hydrate`` rebuilds them from your copy). The HF Parquet copy
(``flaviagiammarino/path-vqa``, no image ids) is not read.
"""

from __future__ import annotations

import io
import pickle
from collections import defaultdict
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, ClassVar

from unimed_cot.imaging import ImagingError
from unimed_cot.records import Case, Dims, SourceQuestion, SourceRecord, Split

from ._common import MissingImageError, UnsafePathError, is_safe_name, problem_record
from ._vqa import BadQuestionError, VqaPayload, answer_type_of, load_vqa_case, source_question
from .base import Builder

SPLITS: tuple[tuple[str, Split], ...] = (
    ("train", Split.TRAIN),
    ("val", Split.VALIDATION),
    ("test", Split.TEST),
)
MODALITY = "pathology"


class _PlainUnpickler(pickle.Unpickler):
    """Loads lists, dicts, strings and numbers; refuses every class or function."""

    def find_class(self, module: str, name: str) -> Any:
        raise pickle.UnpicklingError(f"the file needs {module}.{name}; only plain data is read")


def read_plain_pickle(path: Path) -> Any:
    """A pickle of plain data, never executing what it names (``_PlainUnpickler``)."""
    return _PlainUnpickler(io.BytesIO(path.read_bytes())).load()


class PathVqaBuilder(Builder):
    """PathVQA: pathology images with yes/no and open questions from their captions."""

    slug = "pathvqa"
    title = "PathVQA (pathology visual question answering)"
    homepage = "https://github.com/UCSD-AI4H/PathVQA"
    citation = """@article{he2020pathvqa,
  title   = {PathVQA: 30000+ Questions for Medical Visual Question Answering},
  author  = {He, Xuehai and Zhang, Yichen and Mou, Luntian and Xing, Eric and Xie, Pengtao},
  journal = {arXiv preprint arXiv:2003.10286},
  year    = {2020}
}"""
    license = "other"
    redistributable = False
    modalities: ClassVar[tuple[str, ...]] = (MODALITY,)
    dims: ClassVar[tuple[Dims, ...]] = (2,)
    benchmark_splits: ClassVar[tuple[str, ...]] = ("test",)
    ships_questions = True
    layout = """PathVQA/
  split/images/{train,val,test}/<img_id>.jpg   img_id like train_0422
  split/qas/{train,val,test}_vqa.pkl           pickled list of {img_id, sent, label: {answer: 1},
                                               answer_type, question_type, question_id}"""

    def check_root(self, root: Path) -> None:
        if not root.is_dir():
            raise self.layout_error(root, "it is not a folder")
        split = self._split_dir(root)
        for name, _ in SPLITS:
            if not (split / "qas" / f"{name}_vqa.pkl").is_file():
                raise self.layout_error(root, f"there is no split/qas/{name}_vqa.pkl")
        if not (split / "images").is_dir():
            raise self.layout_error(root, "there is no split/images/ folder")

    @staticmethod
    def _split_dir(root: Path) -> Path:
        return root if (root / "qas").is_dir() and not (root / "split").is_dir() else root / "split"

    def records(self, root: Path) -> Iterator[SourceRecord]:
        self.check_root(root)
        folder = self._split_dir(root)
        for name, split in SPLITS:
            path = folder / "qas" / f"{name}_vqa.pkl"
            try:
                entries = read_plain_pickle(path)
            except (pickle.UnpicklingError, EOFError, ValueError, TypeError) as error:
                problem = f"{path.name} is not the released pickle ({error})"
                raise self.layout_error(root, problem) from error
            if not isinstance(entries, list):
                raise self.layout_error(root, f"{path.name} holds no list of question entries")
            cases: dict[str, list[Mapping[str, Any]]] = defaultdict(list)
            for position, entry in enumerate(entries):
                if not isinstance(entry, dict) or not isinstance(entry.get("img_id"), str):
                    raise self.layout_error(root, f"{path.name} entry {position} has no img_id")
                cases[entry["img_id"]].append(entry)
            for img_id, members in sorted(cases.items()):
                yield self._record(folder / "images" / name, img_id, split, members)

    def _record(
        self, images: Path, img_id: str, split: Split, members: list[Mapping[str, Any]]
    ) -> SourceRecord:
        try:
            if not is_safe_name(img_id) or "/" in img_id:
                raise UnsafePathError(f"img_id {img_id!r} is a path, not an image name")
            image = images / f"{img_id}.jpg"
            if not image.is_file():
                raise MissingImageError(f"images/{images.name}/{img_id}.jpg is not there")
            questions = tuple(_question(entry) for entry in members)
        except ImagingError as error:
            return problem_record(
                builder=self,
                case_id=img_id,
                image=images,
                modality=MODALITY,
                dims=2,
                reason=error.reason,
                detail=f"{img_id}: {error}",
            )
        return SourceRecord(
            source=self.slug,
            case_id=img_id,
            group_key=img_id,
            dims=2,
            modality=MODALITY,
            image=image,
            official_split=split,
            payload=VqaPayload(questions=questions),
        )

    def load(self, record: SourceRecord) -> Case:
        return load_vqa_case(record)


def _question(entry: Mapping[str, Any]) -> SourceQuestion:
    label = entry.get("label")
    if not isinstance(label, dict) or len(label) != 1:
        raise BadQuestionError(
            f"question {entry.get('question_id')!r}: label {label!r} is not one answer"
        )
    (answer,) = label
    return source_question(
        entry,
        index=entry.get("question_id"),
        text_key="sent",
        answer=answer,
        answer_type=answer_type_of(entry.get("answer_type"), closed=("yes/no",), opened=("other",)),
        question_type=entry.get("question_type"),
    )
