"""``vqa_rad``: VQA-RAD, clinician-written questions about radiology images (MedPix), as released.

Expected layout: the OSF release (https://osf.io/89kps/), file names with their spaces::

    VQA_RAD/
      VQA_RAD Dataset Public.json     one JSON array, 2,248 rows; 14 keys per row: qid,
                                      phrase_type, qid_linked_id, image_case_url, image_name,
                                      image_organ, evaluation, question, question_rephrase,
                                      question_relation, question_frame, question_type, answer,
                                      answer_type
      VQA_RAD Image Folder/
        synpicNNNNN.jpg               315 JPEGs of varying size
      (VQA_RAD Dataset Public.xlsx / .xml, Readme.docx: not read; the XLSX headers differ)

or the same image folder (or ``images/``) with the MEVF split files that most papers use::

    VQA_RAD/
      trainset.json   testset.json    3,064 + 451 rows: qid, image_name, image_organ, answer,
                                      answer_type, question_type, question, phrase_type
      VQA_RAD Image Folder/  (or images/)

When ``trainset.json`` and ``testset.json`` are there, they decide the questions and the split
(a file of that name is not necessarily the official split: random re-splits circulate under the
same names; use MEVF's). Otherwise the OSF JSON does, and its ``phrase_type`` says the split:
``test_freeform`` / ``test_para`` rows (451) are the test set, the rest train.

What a case is: one image with its questions of one split (``synpic54610-train``,
``synpic54610-test``): VQA-RAD's split is a question split, and most test images also carry
training questions. The group is the MedPix case (``image_case_url``; the image name where the
MEVF files dropped it), so both cases of an image share it. The **test split is a benchmark**:
``publish`` keeps it out of the training configs and drops training rows that show one of its
images (decontamination), so by default no benchmark image is trained on.

Questions are kept as released: ``question`` (the ``question_rephrase`` / ``question_frame``
wordings of the OSF rows are not expanded), the answer as text (10 MEVF answers are JSON
integers), ``answer_type`` ``CLOSED``/``OPEN`` (a trailing space tolerated), ``question_type`` as
released (compound values like ``PRES, ATTRIB`` and typos kept: they are the source's). No
question is grounded: VQA-RAD has no boxes or masks. The question index of a row is ``qid`` when
every ``qid`` is a distinct integer, else the entry's position (train file first).

Modality: VQA-RAD mixes CT, MR and X-ray and states none per image, so rows say ``radiology``.

Rejected with a reason: an entry without text/answer or with another answer type
(``bad-question``), an ``image_name`` that is a path (``unsafe-path``), a missing image
(``missing-image``), an unreadable or truncated JPEG (``unreadable-file``).

License: CC0 1.0 (the ``flaviagiammarino/vqa-rad`` card; the OSF licence field itself was not
checked).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, ClassVar

from unimed_cot.imaging import ImagingError
from unimed_cot.records import Case, Dims, SourceQuestion, SourceRecord, Split

from ._common import MissingImageError, UnsafePathError, is_safe_name, problem_record
from ._vqa import VqaPayload, answer_type_of, load_vqa_case, read_json_list, source_question
from .base import Builder

OSF_JSON = "VQA_RAD Dataset Public.json"
IMAGE_FOLDERS = ("VQA_RAD Image Folder", "images")
MEVF_FILES = (("trainset.json", Split.TRAIN), ("testset.json", Split.TEST))
MODALITY = "radiology"

Entry = tuple[int, Split, Mapping[str, Any]]  # position, split, the row as released


class VqaRadBuilder(Builder):
    """VQA-RAD: head, chest and abdomen CT, MR and X-ray images with clinicians' questions."""

    slug = "vqa_rad"
    title = "VQA-RAD (visual question answering in radiology)"
    homepage = "https://osf.io/89kps/"
    citation = """@article{lau2018vqarad,
  title   = {A dataset of clinically generated visual questions and answers about radiology
             images},
  author  = {Lau, Jason J. and Gayen, Soumya and Ben Abacha, Asma and Demner-Fushman, Dina},
  journal = {Scientific Data},
  volume  = {5},
  pages   = {180251},
  year    = {2018},
  doi     = {10.1038/sdata.2018.251}
}"""
    license = "CC0-1.0"
    redistributable = True
    modalities: ClassVar[tuple[str, ...]] = (MODALITY,)
    dims: ClassVar[tuple[Dims, ...]] = (2,)
    benchmark_splits: ClassVar[tuple[str, ...]] = ("test",)
    ships_questions = True
    layout = """VQA_RAD/
  VQA_RAD Dataset Public.json    the OSF JSON array: qid, phrase_type, image_case_url, image_name,
                                 question, question_type, answer, answer_type, ...
  VQA_RAD Image Folder/synpic<N>.jpg   (or images/)
  trainset.json  testset.json    MEVF split files (optional; used instead of the OSF JSON)"""

    def check_root(self, root: Path) -> None:
        if not root.is_dir():
            raise self.layout_error(root, "it is not a folder")
        if self._image_folder(root) is None:
            raise self.layout_error(root, f"there is no {' or '.join(IMAGE_FOLDERS)} folder")
        if not (root / OSF_JSON).is_file() and not self._has_split_files(root):
            raise self.layout_error(
                root, f"there is no {OSF_JSON!r} and no trainset.json + testset.json"
            )

    def records(self, root: Path) -> Iterator[SourceRecord]:
        self.check_root(root)
        entries = self._entries(root)
        qids = [entry.get("qid") for _, _, entry in entries]
        by_qid = all(isinstance(q, int) and not isinstance(q, bool) for q in qids) and len(
            set(qids)
        ) == len(qids)
        folder = self._image_folder(root)
        assert folder is not None  # check_root
        cases: dict[tuple[str, Split], list[Entry]] = defaultdict(list)
        for position, split, entry in entries:
            name = entry.get("image_name")
            cases[(str(name), split)].append((position, split, entry))
        for (name, split), members in sorted(cases.items(), key=lambda kv: (kv[0][0], kv[0][1])):
            yield self._record(folder, name, split, members, by_qid=by_qid)

    def _record(
        self, folder: Path, name: str, split: Split, members: list[Entry], *, by_qid: bool
    ) -> SourceRecord:
        stem = name.rsplit(".", 1)[0] if name.lower().endswith((".jpg", ".jpeg")) else name
        case_id = f"{stem}-{split.value}"
        try:
            if not is_safe_name(name) or "/" in name:
                raise UnsafePathError(f"image_name {name!r} is a path, not a file of the folder")
            image = folder / name
            if not image.is_file():
                raise MissingImageError(f"{folder.name}/{name} is not there")
            questions = tuple(
                _question(position, entry, by_qid=by_qid) for position, _, entry in members
            )
        except ImagingError as error:
            return problem_record(
                builder=self,
                case_id=case_id,
                image=folder / name if is_safe_name(name) and "/" not in name else folder,
                modality=MODALITY,
                dims=2,
                reason=error.reason,
                detail=f"{case_id}: {error}",
            )
        case_urls = {str(e.get("image_case_url") or "").strip() for _, _, e in members}
        case_urls.discard("")
        group = min(case_urls) if case_urls else name
        return SourceRecord(
            source=self.slug,
            case_id=case_id,
            group_key=group,
            dims=2,
            modality=MODALITY,
            image=image,
            official_split=split,
            payload=VqaPayload(questions=questions),
        )

    def _entries(self, root: Path) -> list[Entry]:
        """Every released row with its position and split (MEVF files when there, else OSF)."""
        files: list[tuple[Path, Split | None]]
        if self._has_split_files(root):
            files = [(root / name, split) for name, split in MEVF_FILES]
        else:
            files = [(root / OSF_JSON, None)]
        entries: list[Entry] = []
        for path, fixed in files:
            rows = read_json_list(path)
            if isinstance(rows, str):
                raise self.layout_error(root, rows)
            for row in rows:
                if not isinstance(row, dict):
                    raise self.layout_error(root, f"{path.name} holds {row!r}, not a row object")
                split = fixed or _osf_split(row)
                entries.append((len(entries), split, row))
        return entries

    @staticmethod
    def _has_split_files(root: Path) -> bool:
        return all((root / name).is_file() for name, _ in MEVF_FILES)

    @staticmethod
    def _image_folder(root: Path) -> Path | None:
        return next((root / n for n in IMAGE_FOLDERS if (root / n).is_dir()), None)

    def load(self, record: SourceRecord) -> Case:
        return load_vqa_case(record)


def _osf_split(row: Mapping[str, Any]) -> Split:
    """The OSF JSON's split: ``test_freeform`` / ``test_para`` rows are the test set."""
    phrase = str(row.get("phrase_type", "")).strip().casefold()
    return Split.TEST if phrase.startswith("test") else Split.TRAIN


def _question(position: int, entry: Mapping[str, Any], *, by_qid: bool) -> SourceQuestion:
    return source_question(
        entry,
        index=entry.get("qid") if by_qid else position,
        text_key="question",
        answer=entry.get("answer"),
        answer_type=answer_type_of(entry.get("answer_type"), closed=("closed",), opened=("open",)),
        question_type=entry.get("question_type"),
    )
