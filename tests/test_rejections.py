"""Bad input is a counted rejection with a reason named on purpose; a bug is never one."""

from __future__ import annotations

import importlib
import pkgutil
from pathlib import Path

import pytest

import unimed_cot
from unimed_cot.builders import discover
from unimed_cot.builders.phantom import PhantomBuilder
from unimed_cot.imaging import LabelMismatchError
from unimed_cot.pipeline.config import BuildConfig
from unimed_cot.pipeline.stages import process_record
from unimed_cot.reasons import Reason, RecordError, Stage, reason_of
from unimed_cot.records import Case, SourceRecord
from unimed_cot.teacher import TemplateTeacher


def _record_errors() -> list[type[RecordError]]:
    for module in pkgutil.walk_packages(unimed_cot.__path__, "unimed_cot."):
        skipped = module.name.endswith("__main__") or module.name.startswith("unimed_cot.train")
        if not skipped:
            importlib.import_module(module.name)
    discover()
    found: list[type[RecordError]] = []
    pending: list[type[RecordError]] = [RecordError]
    while pending:
        cls = pending.pop()
        found.append(cls)
        pending.extend(cls.__subclasses__())
    return found


def test_every_record_error_names_its_reason_on_purpose() -> None:
    errors = _record_errors()
    assert len(errors) > 25
    for cls in errors:
        assert "reason" in vars(cls) or cls.__name__ == "RecordProblemError", cls
        assert isinstance(cls.reason, Reason), cls


def test_reason_of_refuses_errors_that_are_bugs() -> None:
    assert reason_of(LabelMismatchError("x")) == "label-mismatch"
    assert reason_of(FileNotFoundError("gone")) is Reason.FILE_NOT_FOUND
    for bug in (KeyError("k"), IndexError("i"), RuntimeError("r"), ValueError("v")):
        with pytest.raises(TypeError):
            reason_of(bug)


class _BuggyPhantom(PhantomBuilder):
    """The phantom with a bug in ``load`` (not registered: it declares no slug of its own)."""

    def load(self, record: SourceRecord) -> Case:
        case = super().load(record)
        return {"labels": case}["label"]  # type: ignore[return-value]  # a KeyError: a bug


class _BadDataPhantom(PhantomBuilder):
    def load(self, record: SourceRecord) -> Case:
        raise LabelMismatchError(f"{record.case_id}: the label map is off its image's grid")


def _first_record(tmp_path: Path) -> tuple[SourceRecord, BuildConfig]:
    builder = PhantomBuilder()
    root = builder.default_input(tmp_path)
    config = BuildConfig(source="phantom", out=tmp_path)
    return next(iter(builder.records(root))), config


def test_a_builder_bug_fails_loudly_instead_of_becoming_a_rejection(tmp_path: Path) -> None:
    record, config = _first_record(tmp_path)
    with pytest.raises(KeyError):
        process_record(record, builder=_BuggyPhantom(), teacher=TemplateTeacher(), config=config)


def test_bad_data_becomes_a_rejection_with_its_stage_and_reason(tmp_path: Path) -> None:
    record, config = _first_record(tmp_path)
    result = process_record(
        record, builder=_BadDataPhantom(), teacher=TemplateTeacher(), config=config
    )
    assert not result.rows
    (rejection,) = result.rejections
    assert (rejection.stage, rejection.reason) == (Stage.LOAD, Reason.LABEL_MISMATCH)
    assert "off its image's grid" in rejection.detail
