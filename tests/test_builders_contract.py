"""The builder contract, over every registered builder with its fixture (``tests/fixtures``).

For each source: its declarations, a wrong folder's error, a stable and unique listing, dims and
modalities as declared, published geometry, boxes equal to those recomputed from the fixture's
ground truth, malformed entries rejected with their reasons while the build goes on, and an
end-to-end build + publish + validate + ``load_dataset``.
"""

from __future__ import annotations

import inspect
import io
import itertools
import json
import math
import re
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
from fixtures import FixtureInfo, fixture_modules, make_fixture
from PIL import Image
from truth.phantom_oracle import frame_problems, labels_in
from truth.priors import priors

from unimed_cot.boxes import validate_box
from unimed_cot.errors import SourceLayoutError
from unimed_cot.imaging import SerializeConfig, normalize_case, serialize_case
from unimed_cot.pipeline.config import BuildConfig
from unimed_cot.pipeline.run import BuildReport, run_build
from unimed_cot.release.licensing import case_id_of
from unimed_cot.release.publish import publish
from unimed_cot.validate import validate_release

# Small published sizes keep the contract fast; they are still Qwen-fixed sizes.
SERIALIZE = SerializeConfig(n_slices=8, slice_size=112, max_side_2d=224)
# An SPDX id or expression (``other`` is the Hub's id for a license of its own).
SPDX = re.compile(r"^[A-Za-z0-9.+-]+(?: (?:AND|OR|WITH) [A-Za-z0-9.+-]+)*$")


def _registered() -> dict[str, Any]:
    from unimed_cot.builders import registered_builders

    return registered_builders()


SLUGS = sorted(_registered())


@dataclass
class Built:
    slug: str
    builder: Any
    info: FixtureInfo
    release: Path
    report: BuildReport
    staged: list[dict[str, Any]]
    rejections: dict[str, set[str]]  # case id -> reason slugs


def _staged_rows(release: Path, slug: str) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for path in sorted((release / ".build" / "staged" / slug).glob("*.parquet")):
        rows.extend(pq.read_table(path).to_pylist())
    return rows


def _rejections(release: Path, slug: str) -> dict[str, set[str]]:
    found: dict[str, set[str]] = defaultdict(set)
    for path in sorted((release / ".build" / "rejections" / slug).glob("*.jsonl")):
        for line in path.read_text(encoding="utf-8").splitlines():
            record = json.loads(line)
            found[record["case_id"]].add(record["reason"])
    return found


@pytest.fixture(scope="module", params=SLUGS)
def built(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Built:
    slug: str = request.param
    if slug not in fixture_modules():
        pytest.fail(f"builder {slug!r} has no fixture module in tests/fixtures/")
    base = tmp_path_factory.mktemp(f"contract-{slug}")
    (base / "input").mkdir()
    info = make_fixture(slug, base / "input")
    release = base / "unimed-cot"
    config = BuildConfig(source=slug, out=release, input=info.root, serialize=SERIALIZE)
    report = run_build(config, progress=False)
    builder = _registered()[slug]()
    staged = _staged_rows(release, slug)
    return Built(slug, builder, info, release, report, staged, _rejections(release, slug))


def test_every_registered_builder_has_a_fixture() -> None:
    missing = sorted(set(SLUGS) - set(fixture_modules()))
    assert not missing, f"builders without a fixture in tests/fixtures/: {missing}"


def test_declarations(built: Built) -> None:
    cls = type(built.builder)
    assert cls.slug == built.slug
    for name in ("title", "homepage", "citation", "layout"):
        assert isinstance(getattr(cls, name), str) and getattr(cls, name).strip(), name
    assert cls.homepage.startswith("https://")
    assert SPDX.match(cls.license), cls.license
    assert isinstance(cls.redistributable, bool)
    assert cls.dims and set(cls.dims) <= {2, 3}
    assert cls.modalities and all(m.strip() for m in cls.modalities)


def test_docstring_shows_the_layout(built: Built) -> None:
    cls = type(built.builder)
    # The module docstring shows the expected tree: it names every entry of the layout.
    doc = inspect.getmodule(cls).__doc__ or ""
    entries = {line.split()[0] for line in cls.layout.splitlines()[1:] if line.startswith("  ")}
    missing = sorted(e for e in entries if e.split("/")[0].split("<")[0] not in doc)
    assert not missing, f"layout entries absent from the module docstring: {missing}"


def test_check_root_on_an_empty_folder_shows_the_layout(built: Built, tmp_path: Path) -> None:
    with pytest.raises(SourceLayoutError) as raised:
        built.builder.check_root(tmp_path)
    assert built.builder.layout in str(raised.value)
    assert str(tmp_path) in str(raised.value)


def test_listing_is_stable_unique_and_complete(built: Built) -> None:
    first = [r.case_id for r in built.builder.records(built.info.root)]
    second = [r.case_id for r in built.builder.records(built.info.root)]
    assert first == second
    assert len(first) == len(set(first))
    assert set(first) == set(built.info.case_ids)


def test_records_match_declared_dims_and_modalities(built: Built) -> None:
    cls = type(built.builder)
    records = list(built.builder.records(built.info.root))
    assert {r.dims for r in records} == set(built.info.dims)
    for record in records:
        assert record.source == built.slug
        assert record.dims in cls.dims, record
        assert record.modality in cls.modalities, record
        assert record.group_key, record


def test_malformed_entries_are_rejected_and_the_build_goes_on(built: Built) -> None:
    assert built.report.listed == len(built.info.case_ids)
    assert built.report.processed == built.report.listed
    for case_id, reason in built.info.rejected.items():
        assert reason in built.rejections.get(case_id, set()), (case_id, built.rejections)
    staged_cases = {
        row["id"].removeprefix(f"{built.slug}/").rpartition("/")[0] for row in built.staged
    }
    good = set(built.info.case_ids) - set(built.info.rejected)
    assert good and staged_cases == good


def test_staged_geometry_is_sane(built: Built) -> None:
    assert built.staged
    for row in built.staged:
        assert row["dims"] in built.info.dims
        assert row["source"] == built.slug and SPDX.match(row["license"]), row["license"]
        sizes = [Image.open(io.BytesIO(image["bytes"])).size for image in row["images"]]
        if row["dims"] == 3:
            assert 1 <= len(sizes) <= SERIALIZE.n_slices
            assert set(sizes) == {(SERIALIZE.slice_size, SERIALIZE.slice_size)}, row["id"]
            positions = row["slice_positions_mm"]
            assert len(positions) == len(sizes)
            if row["spacing_mm"]:
                assert all(b > a for a, b in itertools.pairwise(positions))
            else:  # geometry unknown (m3d_seg): positions are NaN, never invented mm
                assert all(math.isnan(p) for p in positions)
        else:
            assert len(sizes) == 1
            width, height = sizes[0]
            assert width % 28 == 0 and height % 28 == 0, row["id"]
            assert max(width, height) <= SERIALIZE.max_side_2d
        width, height = sizes[0]
        for region in row["regions"]:
            assert len(region["box"]) == (6 if row["dims"] == 3 else 4)
            validate_box(
                region["box"],
                width=width,
                height=height,
                n_slices=len(sizes) if row["dims"] == 3 else None,
            )


def test_published_boxes_equal_the_recomputed_ones(built: Built) -> None:
    checked = 0
    for row in built.staged:
        expected = built.info.expected_regions(row, SERIALIZE)
        got = {(r["label"], tuple(r["box"])) for r in row["regions"]}
        assert got <= expected, (row["id"], sorted(got - expected), sorted(expected))
        checked += len(got)
        # An ungrounded row (a source's own question no annotation supports) shows no box.
        assert row["grounded"] or not row["regions"], row["id"]
    if type(built.builder).ships_questions:
        # Grounded source questions cite their evidence; a source with no boxes (VQA-RAD,
        # PathVQA) has none to cite.
        grounded = [row for row in built.staged if row["grounded"]]
        assert all(row["regions"] for row in grounded), [r["id"] for r in grounded]
        assert checked > 0 or not any(
            built.info.expected_regions(row, SERIALIZE) for row in built.staged
        )
    else:
        assert checked > 0
        assert all(row["grounded"] for row in built.staged)


def test_serialized_cases_hold_exactly_the_recomputed_regions(built: Built) -> None:
    records = {r.case_id: r for r in built.builder.records(built.info.root)}
    for case_id in sorted(set(built.info.case_ids) - set(built.info.rejected)):
        record = records[case_id]
        case = normalize_case(built.builder.load(record))
        pixels = serialize_case(case, SERIALIZE)
        row = {
            "id": f"{built.slug}/{case_id}/0",
            "dims": record.dims,
            "slice_positions_mm": pixels.slice_positions_mm,
        }
        got = {(r.label, tuple(r.box)) for r in pixels.regions}
        assert got == built.info.expected_regions(row, SERIALIZE), case_id


def test_build_publish_validate_load(
    built: Built, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    publish(built.release, version="0.1.0")
    report = validate_release(built.release)
    assert report.problems == [], report.problems[:5]
    published: set[str] = set()
    pixelless: set[str] = set()
    for path in sorted((built.release / "data").rglob("*.parquet")):
        for row in pq.read_table(path, columns=["id", "images"]).to_pylist():
            published.add(row["id"])
            if not row["images"]:
                pixelless.add(row["id"])
    # Exactly the rows whose own record's terms forbid redistribution go out annotation-only.
    records = {r.case_id: r for r in built.builder.records(built.info.root)}
    forbidden = {
        row_id
        for row_id in published
        if not built.builder.terms_of(records[case_id_of(row_id, built.slug)]).redistributable
    }
    assert pixelless == forbidden
    # Release screening (near duplicates, decontamination) may drop rows, never invent them.
    assert published and published <= {row["id"] for row in built.staged}

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    import datasets

    loaded: set[str] = set()
    for dims in sorted(built.info.dims):
        ds = datasets.load_dataset(
            str(built.release), f"{dims}d", cache_dir=str(tmp_path / "cache")
        )
        for split in ds.values():
            assert set(split["source"]) == {built.slug}
            assert set(split["dims"]) == {dims}
            loaded.update(split["id"])
    assert loaded == published


def test_questions_are_framed_balanced_and_never_deny_what_is_there(built: Built) -> None:
    """Every builder's rows: no side word without its frame, no option set with two names of
    one structure, Yes/No in pairs per case, and never "No" for a label the case's ground truth
    shows. Sources that ship their own questions keep the source's wording and answers: for them
    see ``test_source_questions_are_kept_as_released``."""
    if type(built.builder).ships_questions:
        pytest.skip("the source's own questions are kept as released")
    by_case: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for row in built.staged:
        by_case[case_id_of(row["id"], built.slug)].append(row)
    records = {r.case_id: r for r in built.builder.records(built.info.root)}
    for case_id, case_rows in by_case.items():
        shown = {
            label for row in case_rows for label, _ in built.info.expected_regions(row, SERIALIZE)
        }
        case = built.builder.load(records[case_id])
        names = set(case.labels.values()) | shown
        names |= {r["label"] for row in case_rows for r in row["regions"]}
        names |= {
            option
            for row in case_rows
            if row["question_type"] in ("structure_localization", "lesion_analysis")
            for option in row["options"]
        }
        answers = []
        for row in case_rows:
            problems = frame_problems(
                row, names=tuple(sorted(names)), dims=row["dims"], oriented=bool(case.image_axes)
            )
            assert problems == [], (row["id"], problems)
            if row["options"] == ["Yes", "No"]:
                answers.append(row["answer"])
                if row["answer"] == "B. No" and "patient's" not in row["question"]:
                    asked = labels_in(row["question"], tuple(sorted(names)))[:1]
                    assert not set(asked) & shown, (row["id"], asked)
        assert answers.count("A. Yes") == answers.count("B. No"), answers
    assert priors(built.staged).alias_option_sets == []


def test_source_questions_are_kept_as_released(built: Built) -> None:
    """A source that ships questions publishes them with their answers: closed answers as
    choices where the question offers them, open answers as free text, every row typed."""
    if not type(built.builder).ships_questions:
        pytest.skip("questions generated from annotations")
    records = {r.case_id: r for r in built.builder.records(built.info.root)}
    released: dict[str, Any] = {}
    for record in records.values():
        if record.problem is None:
            for asked in record.payload.questions:
                released[f"{built.slug}/{record.case_id}/{asked.index}"] = asked
    assert built.staged
    for row in built.staged:
        asked = released[row["id"]]
        assert row["question"] == asked.text and row["question_type"] == asked.question_type
        assert row["answer_type"] == asked.answer_type.value
        if row["options"]:
            assert row["answer_type"] == "closed"
            assert row["answer"].partition(". ")[2].casefold() == asked.answer.casefold()
        else:
            assert row["answer"] == asked.answer
        assert row["reasoning"].endswith(row["answer"])
