"""The build workspace ``DIR/.build/`` (DESIGN.md §6): staged rows, rejections, run records.

A case is finished when its staged Parquet file exists. The file is written last and atomically
(temporary name, then rename), after the case's rejections, so a run killed at any point leaves
either a finished case or nothing for that case, and a rerun redoes only unfinished cases::

    DIR/.build/staged/<source>/<case_key>.parquet      rows of one case (possibly none), with the
                                                       case's terms in its schema metadata
    DIR/.build/rejections/<source>/<case_key>.jsonl    rejections of one case, with reasons
    DIR/.build/usage/<source>/<case_key>.jsonl         LLM teachers: tokens and cost per question
    DIR/.build/runs/<source>.json                      identity of the staged rows, last summary
    DIR/.build/inputs/<source>/                        generated inputs (the demo phantom)
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
from collections.abc import Iterable, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

from unimed_cot.records import Rejection, Terms

from .features import rows_to_table, write_parquet
from .files import write_bytes_atomic
from .rows import RowRecord

# Schema-metadata key of a staged case file that records the terms its record carried, so the
# pixels' license travels with the rows themselves (one file, written atomically).
CASE_TERMS_KEY = "unimed_cot.case_terms"

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def case_key(case_id: str) -> str:
    """A file name for a case id: readable, unique even when ids differ in odd characters."""
    readable = _UNSAFE.sub("_", case_id).strip("._")[:80] or "case"
    return f"{readable}-{hashlib.sha256(case_id.encode()).hexdigest()[:8]}"


class Workspace:
    """Paths and staging I/O of one build folder."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.build = root / ".build"

    @property
    def staged_root(self) -> Path:
        return self.build / "staged"

    @property
    def publish_dir(self) -> Path:
        """Where ``publish`` assembles shards before swapping them into the release."""
        return self.build / "publish"

    def staged_dir(self, source: str) -> Path:
        return self.staged_root / source

    def staged_files(self) -> list[Path]:
        """Every staged case file of every source, in a deterministic order."""
        return sorted(self.staged_root.glob("*/*.parquet")) if self.staged_root.is_dir() else []

    def rejection_files(self) -> list[Path]:
        """Every staged rejections file (``<source>/<case_key>.jsonl``), in order."""
        return _listed(self.build / "rejections", "*/*.jsonl")

    def usage_files(self) -> list[Path]:
        """Every usage ledger file (``<source>/<case_key>.jsonl``), in order."""
        return _listed(self.build / "usage", "*/*.jsonl")

    def run_files(self) -> list[Path]:
        """The run record of every built source, in order."""
        return _listed(self.build / "runs", "*.json")

    def staged_path(self, source: str, case_id: str) -> Path:
        return self.staged_dir(source) / f"{case_key(case_id)}.parquet"

    def rejections_path(self, source: str, case_id: str) -> Path:
        return self.build / "rejections" / source / f"{case_key(case_id)}.jsonl"

    def usage_path(self, source: str, case_id: str) -> Path:
        return self.build / "usage" / source / f"{case_key(case_id)}.jsonl"

    def run_path(self, source: str) -> Path:
        return self.build / "runs" / f"{source}.json"

    def inputs_dir(self, source: str) -> Path:
        return self.build / "inputs" / source

    def is_staged(self, source: str, case_id: str) -> bool:
        return self.staged_path(source, case_id).is_file()

    def stage_case(
        self,
        *,
        source: str,
        case_id: str,
        rows: Sequence[RowRecord],
        rejections: Iterable[Rejection],
        terms: Terms,
        usage: Sequence[dict[str, Any]] = (),
    ) -> None:
        """Record one finished case: rejections and usage first, then the rows file that marks
        it done and records the case's terms (license, may its pixels be redistributed)."""
        if usage:
            ledger = "".join(json.dumps(line, sort_keys=True) + "\n" for line in usage)
            write_bytes_atomic(self.usage_path(source, case_id), ledger.encode())
        lines = "".join(json.dumps(asdict(r), sort_keys=True) + "\n" for r in rejections)
        write_bytes_atomic(self.rejections_path(source, case_id), lines.encode())
        blob = json.dumps(
            {"license": terms.license, "redistributable": terms.redistributable}, sort_keys=True
        )
        write_parquet(
            rows_to_table([row.as_dict() for row in rows]),
            self.staged_path(source, case_id),
            extra_metadata={CASE_TERMS_KEY: blob},
        )

    def read_run(self, source: str) -> dict[str, Any] | None:
        path = self.run_path(source)
        if not path.is_file():
            return None
        data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
        return data

    def write_run(self, source: str, record: dict[str, Any]) -> None:
        blob = json.dumps(record, indent=2, sort_keys=True) + "\n"
        write_bytes_atomic(self.run_path(source), blob.encode())

    def discard_source(self, source: str) -> int:
        """Remove a source's staged rows and rejections; return how many cases were dropped."""
        staged = self.staged_dir(source)
        count = len(list(staged.glob("*.parquet"))) if staged.is_dir() else 0
        shutil.rmtree(staged, ignore_errors=True)
        shutil.rmtree(self.build / "rejections" / source, ignore_errors=True)
        shutil.rmtree(self.build / "usage" / source, ignore_errors=True)
        return count


def _listed(folder: Path, pattern: str) -> list[Path]:
    return sorted(folder.glob(pattern)) if folder.is_dir() else []


def staged_terms(metadata: dict[bytes, bytes] | None) -> Terms | None:
    """The terms a staged case file records (None for files staged by other tooling).

    Raises:
        ValueError: when the key is there but does not hold ``{"license", "redistributable"}``.
    """
    raw = (metadata or {}).get(CASE_TERMS_KEY.encode())
    if raw is None:
        return None
    data = json.loads(raw)
    if not (
        isinstance(data, dict)
        and isinstance(data.get("license"), str)
        and isinstance(data.get("redistributable"), bool)
    ):
        raise ValueError(f"{CASE_TERMS_KEY} is {raw!r}, not a license and a redistributable flag")
    return Terms(license=data["license"], redistributable=data["redistributable"])
