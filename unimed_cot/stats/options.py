"""Problems of one option set: duplicates, two names of one structure, hypernyms of the answer.

A single-choice question is only fair when exactly one option is right. Two options that name the
same structure ("gallbladder" and "gall bladder"), or an option broader or narrower than the
answer ("kidney" against "right kidney"), make a second option true or the question a trick.

``option_problems`` takes the alias relation as data (``AliasRelation``), so that it can run on the
project's vocabulary (``unimed_cot.questions.vocabulary``, the default: ``DEFAULT_ALIASES``) or on
a table a user gives as JSON::

    {"synonyms": [["gallbladder", "gall bladder"]], "broader": {"liver tumor": ["tumor"]}}

Names are compared after normalization (case, ``_``/``-`` as spaces, repeated spaces), and two
names that differ only by their spaces are one name ("gall bladder" = "gallbladder"). With
``lateral=True`` a side-qualified name is narrower than the name without its side word
("left kidney" < "kidney"), which needs no table.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any, Protocol

from unimed_cot.errors import UsageError
from unimed_cot.questions import vocabulary

_SPACES = re.compile(r"[\s_\-]+")
_SIDE_WORDS = frozenset({"left", "right"})


class AliasRelation(Protocol):
    """What ``option_problems`` needs to know about names: identity and breadth."""

    def canonical(self, name: str) -> str:
        """One key per structure: two names with the same key name the same structure."""
        ...

    def broader(self, name: str) -> frozenset[str]:
        """Canonical keys of every structure strictly broader than ``name`` (transitively)."""
        ...


class OptionProblemKind(StrEnum):
    """What is wrong with an option set."""

    DUPLICATE = "duplicate"  # the same text twice (after normalization)
    SYNONYM = "synonym"  # two names of one structure
    HYPERNYM_OF_ANSWER = "hypernym-of-answer"  # an option broader than the answer
    HYPONYM_OF_ANSWER = "hyponym-of-answer"  # an option narrower than the answer


@dataclass(frozen=True, slots=True)
class OptionProblem:
    """One problem of an option set: its kind and the two options involved."""

    kind: OptionProblemKind
    first: str
    second: str

    def describe(self) -> str:
        """The problem in words, e.g. ``synonym: 'gallbladder' / 'gall bladder'``."""
        return f"{self.kind.value}: {self.first!r} / {self.second!r}"


@functools.lru_cache(maxsize=1 << 16)  # a release names a few thousand structures, often
def normalize_name(name: str) -> str:
    """Case-folded, ``_``/``-`` read as spaces, whitespace collapsed, ends stripped."""
    return _SPACES.sub(" ", name.casefold()).strip()


@dataclass(frozen=True)
class AliasTable:
    """An alias relation given as data: synonym groups and direct broader names.

    Args:
        synonyms: groups of names of one structure; the first name of a group is its key.
        broader: name -> names directly broader than it (resolved through synonyms and
            transitively, so ``liver tumor -> tumor -> lesion`` makes "lesion" broader too).
        lateral: a name with a side word ("left kidney") is narrower than the name without it.
    """

    synonyms: Sequence[Sequence[str]] = ()
    broader_names: Mapping[str, Sequence[str]] = field(default_factory=dict)
    lateral: bool = True
    _keys: dict[str, str] = field(init=False, repr=False, compare=False)
    _parents: dict[str, frozenset[str]] = field(init=False, repr=False, compare=False)
    _broader: dict[str, frozenset[str]] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        keys: dict[str, str] = {}  # squeezed name -> key of its structure
        for group in self.synonyms:
            names = [_squeezed(normalize_name(name)) for name in group]
            if names:
                # a group that shares a name with an earlier one joins that structure
                key = next((keys[name] for name in names if name in keys), names[0])
                keys.update(dict.fromkeys(names, key))
        object.__setattr__(self, "_keys", keys)
        parents: dict[str, set[str]] = {}
        for child, wider in self.broader_names.items():
            parents.setdefault(self.canonical(child), set()).update(
                self.canonical(name) for name in wider
            )
        object.__setattr__(self, "_parents", {k: frozenset(v) for k, v in parents.items()})
        object.__setattr__(self, "_broader", {})  # memo: the same names recur in every row

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any], *, lateral: bool = True) -> AliasTable:
        """Build a table from ``{"synonyms": [[...], ...], "broader": {name: [names]}}``.

        Raises:
            UsageError: the mapping does not have that shape.
        """
        synonyms = data.get("synonyms", [])
        broader = data.get("broader", {})
        if not (
            isinstance(synonyms, list)
            and all(isinstance(g, list) and all(isinstance(n, str) for n in g) for g in synonyms)
            and isinstance(broader, dict)
            and all(
                isinstance(k, str) and isinstance(v, list) and all(isinstance(n, str) for n in v)
                for k, v in broader.items()
            )
        ):
            raise UsageError(
                'an alias table is {"synonyms": [[name, ...], ...], "broader": {name: [name, ...]}}'
            )
        return cls(synonyms=synonyms, broader_names=broader, lateral=lateral)

    @classmethod
    def from_json(cls, path: Path, *, lateral: bool = True) -> AliasTable:
        """Read a table written as JSON (see ``from_mapping``).

        Raises:
            UsageError: the file is missing, not JSON, or not an alias table.
        """
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as error:
            raise UsageError(f"{path}: not a readable JSON alias table ({error})") from error
        if not isinstance(data, dict):
            raise UsageError(f"{path}: an alias table is a JSON object")
        return cls.from_mapping(data, lateral=lateral)

    def canonical(self, name: str) -> str:
        normalized = normalize_name(name)
        squeezed = _squeezed(normalized)
        return self._keys.get(squeezed, squeezed)

    def broader(self, name: str) -> frozenset[str]:
        known = self._broader.get(name)
        if known is None:
            known = self._broader[name] = self._walk_broader(name)
        return known

    def _walk_broader(self, name: str) -> frozenset[str]:
        found: set[str] = set()
        frontier = [self.canonical(name)]
        if self.lateral:
            frontier += [self.canonical(wider) for wider in _without_side(normalize_name(name))]
            found.update(frontier[1:])
        while frontier:
            for parent in self._parents.get(frontier.pop(), frozenset()):
                if parent not in found:
                    found.add(parent)
                    frontier.append(parent)
        found.discard(self.canonical(name))
        return frozenset(found)


def option_problems(
    options: Sequence[str], answer: str | None, aliases: AliasRelation
) -> list[OptionProblem]:
    """Every problem of one option set, in option order.

    Args:
        options: the option texts, without letters.
        answer: the text of the correct option (``None`` when unknown: only the pairwise
            problems are looked for).
        aliases: the alias relation to judge names by.

    Returns:
        One ``OptionProblem`` per offending pair: duplicates and synonyms over every pair, and
        hypernyms and hyponyms of the answer. Empty when the set is sound.
    """
    problems: list[OptionProblem] = []
    normalized = [normalize_name(option) for option in options]
    keys = [aliases.canonical(option) for option in options]
    for i, j in _pairs(len(options)):
        if normalized[i] == normalized[j]:
            problems.append(OptionProblem(OptionProblemKind.DUPLICATE, options[i], options[j]))
        elif keys[i] == keys[j]:
            problems.append(OptionProblem(OptionProblemKind.SYNONYM, options[i], options[j]))
    if answer is None:
        return problems
    answer_key = aliases.canonical(answer)
    above = aliases.broader(answer)
    for option, key in zip(options, keys, strict=True):
        if key == answer_key:
            continue  # the answer itself, or its duplicate/synonym (reported above)
        if key in above:
            problems.append(OptionProblem(OptionProblemKind.HYPERNYM_OF_ANSWER, option, answer))
        elif answer_key in aliases.broader(option):
            problems.append(OptionProblem(OptionProblemKind.HYPONYM_OF_ANSWER, option, answer))
    return problems


def _pairs(n: int) -> Iterable[tuple[int, int]]:
    return ((i, j) for i in range(n) for j in range(i + 1, n))


def _squeezed(normalized: str) -> str:
    return normalized.replace(" ", "")


def _without_side(normalized: str) -> list[str]:
    """The name without a leading or trailing side word ("left upper lobe" -> "upper lobe").

    Only the ends: a side word inside a phrase ("middle left of the image") is a position, not
    a qualifier of a structure.
    """
    words = normalized.split(" ")
    if len(words) < 2:
        return []
    found = []
    if words[0] in _SIDE_WORDS:
        found.append(" ".join(words[1:]))
    if words[-1] in _SIDE_WORDS:
        found.append(" ".join(words[:-1]))
    return found


class ProjectVocabulary:
    """The project's own vocabulary (``questions.vocabulary``) as an ``AliasRelation``: the one
    alias, spelling and kind table every question family uses, so ``stats`` and ``validate``
    judge option sets by the rules that built them."""

    def canonical(self, name: str) -> str:
        return vocabulary.canonical(name)

    def broader(self, name: str) -> frozenset[str]:
        return vocabulary.kinds(name) - {vocabulary.canonical(name)}


DEFAULT_ALIASES = ProjectVocabulary()
