"""The builder contract: what a source declares and the two methods it implements."""

from __future__ import annotations

import importlib
import pkgutil
from abc import ABC, abstractmethod
from collections.abc import Iterator
from pathlib import Path
from typing import ClassVar

from unimed_cot.errors import SourceLayoutError, UnknownSourceError, UsageError
from unimed_cot.reasons import RecordProblemError
from unimed_cot.records import Case, Dims, SourceRecord, Terms

_REGISTRY: dict[str, type[Builder]] = {}


class Builder(ABC):
    """A public source. Subclasses declare the class attributes and implement ``records``/``load``.

    ``records(root)`` lists cases cheaply (paths and annotations, no pixels); ``load(record)``
    reads pixels through ``unimed_cot.imaging`` and maps labels. When ``root`` does not look like
    the source, ``check_root`` raises ``SourceLayoutError`` naming the expected ``layout``.
    """

    slug: ClassVar[str]
    title: ClassVar[str]
    homepage: ClassVar[str]
    citation: ClassVar[str]
    license: ClassVar[str]  # SPDX id of the data license
    redistributable: ClassVar[bool]  # may derivatives (pixels) be published?
    modalities: ClassVar[tuple[str, ...]]
    dims: ClassVar[tuple[Dims, ...]]
    layout: ClassVar[str]  # the expected on-disk tree, shown in errors and `unimed-cot sources`
    # Official splits that are benchmarks (the test split of a VQA source): ``publish`` keeps
    # their rows out of the training configs and decontaminates the training rows against
    # their images; ``publish --eval-config`` writes them as the ``eval`` config.
    benchmark_splits: ClassVar[tuple[str, ...]] = ()
    # The source ships its own questions (kept as released, not generated): their wording,
    # answer priors and side words are the source's, not bound by the generated families' rules.
    ships_questions: ClassVar[bool] = False

    def __init_subclass__(cls, **kwargs: object) -> None:
        super().__init_subclass__(**kwargs)
        slug = cls.__dict__.get("slug")
        if slug is None:  # an abstract intermediate class
            return
        if slug in _REGISTRY and _REGISTRY[slug] is not cls:
            raise TypeError(f"builder slug {slug!r} is registered twice")
        _REGISTRY[slug] = cls

    @abstractmethod
    def check_root(self, root: Path) -> None:
        """Raise ``SourceLayoutError`` when ``root`` does not look like this source."""

    @abstractmethod
    def records(self, root: Path) -> Iterator[SourceRecord]:
        """List the cases under ``root`` in a deterministic order."""

    @abstractmethod
    def load(self, record: SourceRecord) -> Case:
        """Read one case's pixels and labels; raise a ``reasons.RecordError`` if they are bad.

        Never called for a record listed with a ``problem`` (see ``load_case``).
        """

    @classmethod
    def declared_terms(cls) -> Terms:
        """The source's terms as declared (what ``unimed-cot sources`` shows)."""
        return Terms(license=cls.license, redistributable=bool(cls.redistributable))

    def terms_of(self, record: SourceRecord) -> Terms:
        """A record's terms: its own where the source mixes licenses, else the declared ones."""
        return record.terms if record.terms is not None else self.declared_terms()

    def default_input(self, workspace: Path) -> Path:
        """The input folder when ``--input`` is not given; real sources have none."""
        raise UsageError(
            f"source {self.slug!r} needs --input PATH: the folder of your downloaded copy.\n"
            f"Expected layout:\n{self.layout}\nGet it from {self.homepage}"
        )

    def layout_error(self, root: Path, problem: str) -> SourceLayoutError:
        """The error for a folder that is not this source: what is wrong and what was expected."""
        return SourceLayoutError(
            f"{root} does not look like {self.title} ({self.slug}): {problem}.\n"
            f"Expected layout:\n{self.layout}\nData: {self.homepage}"
        )


def load_case(builder: Builder, record: SourceRecord) -> Case:
    """``builder.load(record)``, unless the record was listed with a problem: then the problem
    is raised as a ``RecordProblemError`` with its reason, and nothing it names is read."""
    if record.problem is not None:
        raise RecordProblemError(
            f"{record.case_id}: {record.problem.detail}", reason=record.problem.reason
        )
    return builder.load(record)


def discover() -> None:
    """Import every builder module of this package so that their classes register."""
    package = __name__.rpartition(".")[0]
    for module in pkgutil.iter_modules([str(Path(__file__).parent)]):
        if module.name != "base" and not module.name.startswith("_"):
            importlib.import_module(f"{package}.{module.name}")


def registered_builders() -> dict[str, type[Builder]]:
    """Every registered builder by slug (importing the builder modules first)."""
    discover()
    return dict(sorted(_REGISTRY.items()))


def get_builder(slug: str) -> Builder:
    """An instance of the builder registered as ``slug``."""
    builders = registered_builders()
    if slug not in builders:
        known = ", ".join(builders) or "none"
        raise UnknownSourceError(f"unknown source {slug!r}; known sources: {known}")
    return builders[slug]()
