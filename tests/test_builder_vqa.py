"""Sources that ship their own questions (SLAKE, VQA-RAD, PathVQA): questions kept as released,
grounding only where the source's boxes show what is asked, languages, the alternative layouts,
and benchmark test splits kept out of training (and written as the ``eval`` config on request).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
from fixtures import make_fixture

from unimed_cot.imaging import SerializeConfig
from unimed_cot.pipeline.config import BuildConfig
from unimed_cot.pipeline.run import run_build
from unimed_cot.questions import QuestionConfig
from unimed_cot.questions.source import normalize_answer, source_questions
from unimed_cot.records import AnswerType, SourceQuestion
from unimed_cot.release.publish import publish
from unimed_cot.samples import Region
from unimed_cot.validate import validate_release

SERIALIZE = SerializeConfig(n_slices=8, slice_size=112, max_side_2d=224)


def _build(slug: str, base: Path, **questions: Any) -> Path:
    (base / "input").mkdir()
    info = make_fixture(slug, base / "input")
    release = base / "unimed-cot"
    config = BuildConfig(
        source=slug,
        out=release,
        input=info.root,
        serialize=SERIALIZE,
        questions=QuestionConfig(**questions),
    )
    run_build(config, progress=False)
    return release


def _staged(release: Path, slug: str) -> dict[str, dict[str, Any]]:
    rows: dict[str, dict[str, Any]] = {}
    for path in sorted((release / ".build" / "staged" / slug).glob("*.parquet")):
        rows.update({row["id"]: row for row in pq.read_table(path).to_pylist()})
    return rows


def _published(release: Path, config: str | None = None) -> dict[str, dict[str, Any]]:
    rows: dict[str, dict[str, Any]] = {}
    for path in sorted((release / "data").rglob("*.parquet")):
        if config is None or path.parent.name == config:
            for row in pq.read_table(path, columns=["id", "split", "source"]).to_pylist():
                rows[row["id"]] = row
    return rows


# --- questions.source ----------------------------------------------------------------------------


def _asked(text: str, answer: str, kind: AnswerType = AnswerType.CLOSED) -> SourceQuestion:
    return SourceQuestion(index=7, text=text, answer=answer, answer_type=kind, question_type="X")


@pytest.mark.parametrize(
    ("text", "answer", "options", "expected"),
    [
        ("Is there a mass?", "No", ("Yes", "No"), "B. No"),
        ("Is this an MRI or a CT?", "CT", ("MRI", "CT"), "B. CT"),
        ("Which is bigger, liver or spleen?", "Liver", ("Liver", "Spleen"), "A. Liver"),
        ("Is the heart enlarged?", "Enlarged", (), "Enlarged"),  # no alternatives offered
        ("Is it on the left or right?", "Midline", (), "Midline"),  # the answer is neither
    ],
)
def test_closed_answers_become_choices_where_the_question_offers_them(
    text: str, answer: str, options: tuple[str, ...], expected: str
) -> None:
    [(index, question)] = source_questions([_asked(text, answer)], [], languages={"en"})
    assert index == 7
    assert question.options == options and question.answer == expected
    assert question.answer_type == AnswerType.CLOSED and not question.grounded


def test_open_answers_stay_free_text_and_grounding_follows_the_evidence_labels() -> None:
    region = Region(id="R1", label="Liver", box=(1, 2, 30, 40))
    asked = SourceQuestion(
        index=3,
        text="Which organ is abnormal?",
        answer="Liver",
        answer_type=AnswerType.OPEN,
        question_type="Organ",
        evidence_labels=("Liver",),
    )
    [(_, question)] = source_questions([asked], [region], languages={"en"})
    assert question.options == () and question.answer == "Liver"
    assert question.grounded and question.evidence == ("R1",)
    zh = SourceQuestion(3, "这是什么?", "肝脏", AnswerType.OPEN, "Organ", language="zh")
    assert source_questions([zh], [region], languages={"en"}) == []


def test_answers_are_normalized_as_text() -> None:
    assert normalize_answer(4) == "4"  # VQA-RAD's JSON integers
    assert normalize_answer("yes") == "Yes" and normalize_answer(" NO ") == "No"
    assert normalize_answer("right  lower\tlobe") == "right lower lobe"


# --- slake ---------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def slake_release(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _build("slake", tmp_path_factory.mktemp("slake"))


def test_slake_rows_are_grounded_only_on_boxes_that_show_what_is_asked(slake_release: Path) -> None:
    rows = _staged(slake_release, "slake")
    grounded = {rid: [r["label"] for r in row["regions"]] for rid, row in rows.items()}
    assert grounded["slake/xmlab0-en/0"] == ["Liver"]  # "Which organ ...?" -> Liver
    assert grounded["slake/xmlab0-en/1"] == ["Spleen"]  # contains spleen? Yes
    assert grounded["slake/xmlab0-en/4"] == ["Liver", "Spleen"]  # liver or spleen bigger
    assert grounded["slake/xmlab2-en/15"] == ["Atelectasis"]
    for ungrounded in ("xmlab0-en/2", "xmlab0-en/3", "xmlab1-en/13", "xmlab2-en/16"):
        row = rows[f"slake/{ungrounded}"]
        assert not row["grounded"] and row["regions"] == [], ungrounded
        assert "<|box_start|>" not in row["reasoning"]
    assert all(row["grounded"] == bool(row["regions"]) for row in rows.values())
    assert rows["slake/xmlab0-en/4"]["options"] == ["Liver", "Spleen"]
    assert rows["slake/xmlab0-en/4"]["answer"] == "A. Liver"
    assert rows["slake/xmlab0-en/0"]["answer_type"] == "open"
    assert {row["split"] for row in rows.values()} == {"train", "validation", "test"}
    assert not any(rid.endswith(("-zh/5", "-zh/6")) for rid in rows)  # Chinese skipped


def test_slake_test_split_is_a_benchmark_kept_out_of_training(slake_release: Path) -> None:
    report = publish(slake_release, version="0.1.0")
    assert report.benchmark_rows == {"slake-test": 2}
    published = _published(slake_release)
    assert published and not any("/xmlab2-en/" in rid for rid in published)
    assert (slake_release / "decontamination" / "slake-test.txt").is_file()
    manifest = json.loads((slake_release / "manifest.json").read_text())
    assert manifest["benchmarks"] == {"slake-test": {"rows": 2, "config": None}}
    assert validate_release(slake_release).problems == []


def test_slake_chinese_questions_are_kept_by_the_language_flag(tmp_path: Path) -> None:
    release = _build("slake", tmp_path, languages=("en", "zh"))
    rows = _staged(release, "slake")
    assert rows["slake/xmlab0-zh/5"]["question"] == "这张图片的成像方式是什么?"
    assert rows["slake/xmlab2-zh/6"]["answer"] == "肺不张"
    # xmlab2's Chinese question is in train, its English ones in the test benchmark: the
    # training row shows a benchmark image, so publish drops it.
    report = publish(release, version="0.1.0")
    assert report.dropped_contaminated == {"slake-test": 1}
    assert "slake/xmlab2-zh/6" not in _published(release)
    assert "slake/xmlab0-zh/5" in _published(release)


def test_slake_accepts_the_renamed_validation_file(tmp_path: Path) -> None:
    (tmp_path / "input").mkdir()
    info = make_fixture("slake", tmp_path / "input")
    (info.root / "validate.json").rename(info.root / "validation.json")
    from unimed_cot.builders import get_builder

    records = {r.case_id: r for r in get_builder("slake").records(info.root)}
    assert records["xmlab1-en"].official_split == "validation"


# --- vqa_rad -------------------------------------------------------------------------------------


def test_vqa_rad_benchmark_images_are_never_trained_on(tmp_path: Path) -> None:
    release = _build("vqa_rad", tmp_path)
    staged = _staged(release, "vqa_rad")
    assert staged["vqa_rad/synpic200-train/5"]["answer"] == "4"  # a JSON integer, as text
    assert staged["vqa_rad/synpic200-train/6"]["question"] == (
        "was the patient positioned appropriately without tilting?"
    )
    assert staged["vqa_rad/synpic200-train/6"]["answer_type"] == "closed"  # "CLOSED "
    assert staged["vqa_rad/synpic100-test/4"]["answer_type"] == "open"
    report = publish(release, version="0.1.0")
    published = _published(release)
    # The test questions are held out, and so are the training questions on their images
    # (VQA-RAD's split is a question split): only synpic600's questions are trained on.
    assert set(published) == {"vqa_rad/synpic600-train/12", "vqa_rad/synpic600-train/13"}
    assert report.benchmark_rows == {"vqa_rad-test": 3}
    assert report.dropped_contaminated == {"vqa_rad-test": 4}  # qids 1, 2, 5, 6
    assert validate_release(release).problems == []

    report = publish(release, version="0.1.1", eval_config=True)
    evaluation = _published(release, "eval")
    assert set(evaluation) == {
        "vqa_rad/synpic100-test/3",
        "vqa_rad/synpic100-test/4",
        "vqa_rad/synpic200-test/7",
    }
    assert {row["split"] for row in evaluation.values()} == {"test"}
    assert validate_release(release).problems == []

    import datasets

    cache = str(tmp_path / "cache")
    loaded = datasets.load_dataset(str(release), "eval", cache_dir=cache)
    assert sorted(loaded["test"]["id"]) == sorted(evaluation)
    everything = datasets.load_dataset(str(release), "all", cache_dir=cache)
    assert not set(everything["train"]["id"]) & set(evaluation)


def test_vqa_rad_reads_the_mevf_split_files(tmp_path: Path) -> None:
    from fixtures.vqa_rad import write_images

    root = tmp_path / "data_RAD"
    write_images(root / "images")
    keys = ("qid", "image_name", "image_organ", "answer", "answer_type", "question_type")

    def row(qid: int, image: str, question: str, answer: Any, kind: str) -> dict[str, Any]:
        values = (qid, image, "HEAD", answer, kind, "PRES")
        return {
            **dict(zip(keys, values, strict=True)),
            "question": question,
            "phrase_type": "freeform",
        }

    train = [row(0, "synpic100.jpg", "Is there a bleed?", "no", "CLOSED")]
    test = [row(1, "synpic100.jpg", "How many lesions?", 2, "OPEN")]
    (root / "trainset.json").write_text(json.dumps(train), encoding="utf-8")
    (root / "testset.json").write_text(json.dumps(test), encoding="utf-8")
    from unimed_cot.builders import get_builder

    records = {r.case_id: r for r in get_builder("vqa_rad").records(root)}
    assert set(records) == {"synpic100-train", "synpic100-test"}
    assert records["synpic100-test"].official_split == "test"
    [asked] = records["synpic100-test"].payload.questions
    assert (asked.index, asked.answer, asked.answer_type) == (1, "2", AnswerType.OPEN)
    assert records["synpic100-train"].group_key == records["synpic100-test"].group_key


# --- pathvqa -------------------------------------------------------------------------------------


class _Payload:  # any class: a pickle that names it must not be loaded
    def __reduce__(self) -> tuple[Any, tuple[str]]:
        return (print, ("this ran",))


def test_pathvqa_refuses_a_pickle_that_names_code(tmp_path: Path) -> None:
    import pickle

    from unimed_cot.builders import get_builder
    from unimed_cot.errors import SourceLayoutError

    (tmp_path / "input").mkdir()
    info = make_fixture("pathvqa", tmp_path / "input")
    (info.root / "split" / "qas" / "val_vqa.pkl").write_bytes(pickle.dumps([_Payload()]))
    with pytest.raises(SourceLayoutError, match=r"builtins\.print"):
        list(get_builder("pathvqa").records(info.root))


def test_pathvqa_rows_are_published_without_pixels_and_its_test_split_held_out(
    tmp_path: Path,
) -> None:
    release = _build("pathvqa", tmp_path)
    staged = _staged(release, "pathvqa")
    assert staged["pathvqa/train_0001/100001001"]["options"] == ["Yes", "No"]
    assert staged["pathvqa/train_0001/100001000"]["answer"] == "in the canals of hering"
    assert not any(row["grounded"] for row in staged.values())
    report = publish(release, version="0.1.0")
    assert report.benchmark_rows == {"pathvqa-test": 2}
    published = _published(release)
    assert set(published) == {
        "pathvqa/train_0001/100001000",
        "pathvqa/train_0001/100001001",
        "pathvqa/train_0002/100002000",
        "pathvqa/val_0261/200261000",
    }
    for path in (release / "data").rglob("*.parquet"):
        assert all(not images for images in pq.read_table(path).column("images").to_pylist())
    assert validate_release(release).problems == []
    publish(release, version="0.1.1", eval_config=True)
    assert set(_published(release, "eval")) == {
        "pathvqa/test_0007/300007000",
        "pathvqa/test_0007/300007001",
    }
    assert validate_release(release).problems == []


# --- the LLM teacher and source questions ---------------------------------------------------


def test_llm_replies_to_source_questions_are_validated_like_any_other(tmp_path: Path) -> None:
    """An LLM reply for a source question must give the released answer and cite only regions
    the sample has: an ungrounded question has none, a grounded one must cite its evidence."""
    from unimed_cot.builders import get_builder
    from unimed_cot.cases import render_case
    from unimed_cot.pipeline.stages import make_samples
    from unimed_cot.teacher import TraceRejected, build_request, validate_reply

    (tmp_path / "input").mkdir()
    info = make_fixture("slake", tmp_path / "input")
    builder = get_builder("slake")
    record = next(r for r in builder.records(info.root) if r.case_id == "xmlab0-en")
    rendered = render_case(builder, record, SERIALIZE)
    samples = {
        s.question_index: s
        for s in make_samples(rendered.case, rendered.pixels, license="CC-BY-4.0", seed=0)
    }
    modality, liver = samples[3], samples[0]  # "What modality ...?" (open), "Which organ ...?"
    assert modality.regions == [] and [r.label for r in liver.regions] == ["Liver", "Spleen"]
    request = build_request(modality, with_images=False)
    user = request.messages[-1]["content"]
    text = user if isinstance(user, str) else " ".join(p.get("text", "") for p in user)
    assert "Correct answer: CT" in text and "Options:" not in text
    system = request.messages[0]["content"]
    assert "No region is annotated for this question: cite none" in str(system)

    def reply(steps: list[dict[str, Any]], answer: str) -> str:
        return json.dumps({"steps": steps, "answer": answer})

    looks = {"text": "The image is an axial cross-section with HU-like contrast.", "cites": []}
    assert validate_reply(reply([looks], "ct"), modality).answer == "CT"
    with pytest.raises(TraceRejected, match="unknown-region-id"):
        validate_reply(reply([{"text": "The liver [R1].", "cites": ["R1"]}], "CT"), modality)
    with pytest.raises(TraceRejected, match="wrong-answer"):
        validate_reply(reply([looks], "MRI"), modality)
    with pytest.raises(TraceRejected, match="missing-evidence"):
        validate_reply(reply([looks], "Liver"), liver)
    cited = {"text": "The largest organ outlined is the liver [R1].", "cites": ["R1"]}
    assert validate_reply(reply([looks, cited], "Liver"), liver).answer == "Liver"
