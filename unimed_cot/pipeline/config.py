"""Build configuration: resolved once at the CLI and passed down, hashed for staging identity."""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import unimed_cot
from unimed_cot.imaging import SerializeConfig
from unimed_cot.questions import QuestionConfig
from unimed_cot.teacher import TeacherSettings

# The default salt of group ids. Public on purpose, so the same input gives the same group ids
# (and splits) on every machine; set your own with --salt when patient ids could be guessed.
DEFAULT_SALT = "unimed-cot/v1"
TEACHERS = ("template", "openai")
EXECUTORS = ("local", "ray")


@dataclass(frozen=True, slots=True)
class BuildConfig:
    """Everything a build needs. ``identity()`` covers only what changes the staged rows."""

    source: str
    out: Path
    input: Path | None = None
    limit: int | None = None
    seed: int = 0
    workers: int = 1
    teacher: str = "template"
    salt: str = DEFAULT_SALT
    serialize: SerializeConfig = field(default_factory=SerializeConfig)
    questions: QuestionConfig = field(default_factory=QuestionConfig)
    teacher_settings: TeacherSettings | None = None  # the openai teacher's endpoint and limits
    use_cache: bool = True  # the teacher reply cache (--no-cache turns it off)
    executor: str = "local"  # "local" (this machine's processes) or "ray" (Ray Data)
    ray_address: str | None = None  # --ray-address: "auto" joins a running cluster

    @property
    def workspace(self) -> Path:
        return self.out

    def identity(self) -> dict[str, Any]:
        """What staged rows depend on: the package version and the settings (not paths, limits,
        worker counts or the endpoint's operational settings; an LLM teacher adds its model and
        generation settings)."""
        identity: dict[str, Any] = {
            # another release of the package may make other pixels, questions or traces: its
            # rows are rebuilt, not mixed with these (the teacher cache still saves the calls)
            "package_version": unimed_cot.__version__,
            "source": self.source,
            "seed": self.seed,
            "teacher": self.teacher,
            "salt_sha": hashlib.sha256(self.salt.encode()).hexdigest()[:16],
            "serialize": asdict(self.serialize),
            "questions": asdict(self.questions),
        }
        if self.teacher != "template" and self.teacher_settings is not None:
            identity["teacher_generation"] = self.teacher_settings.generation()
        return identity

    def identity_hash(self) -> str:
        blob = json.dumps(self.identity(), sort_keys=True).encode()
        return hashlib.sha256(blob).hexdigest()
