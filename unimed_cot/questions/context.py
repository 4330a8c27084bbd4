"""What every question family reads: the usable regions of one case, its vocabulary, the seeded
randomness, the phrasebook, and the one way a single-choice ``Question`` is assembled."""

from __future__ import annotations

import hashlib
import random
import re
from collections import Counter
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from importlib.resources import files

import yaml

from unimed_cot.records import Dims, Question, Region, SerializedImages
from unimed_cot.schemas import LETTERS

MAX_OPTIONS = 4  # A-D, as in the reference system

# Fallback when a caller gives no lesion vocabulary: words that name findings rather than anatomy.
# Used only to ask about absent lesions and to keep lesions out of the organ options.
_LESION_WORDS = re.compile(
    r"tumou?r|lesion|nodule|mass|cyst|metasta|cancer|carcinoma|neoplasm|polyp|h(a)?emorrhage|"
    r"bleed|o?edema|infarct|stone|calcul|fracture|effusion|pneumothorax|consolidation|opacity|"
    r"abscess|necro|enhancing|malignan|benign|aneurysm|thromb|embol|pneumonia|melanoma|nevus|ulcer",
    re.IGNORECASE,
)


# Answer-slot ordinal of each family that asks A-D questions (QuestionFamily values). The four
# 4-option families get distinct ordinals, so a case that asks them all uses each letter once;
# size comparison has 3 options and only needs a uniform offset. Unknown families share 0.
_SLOT_ORDINALS = {
    "structure_localization": 0,
    "spatial_localization": 1,
    "spatial_relationship": 2,
    "lesion_analysis": 3,
    "size_comparison": 0,
}
# 12 = lcm(2, 3, 4): a case offset drawn from range(12) is uniform modulo every option count.
_SLOT_CYCLE = 12


class FamilyRandom(random.Random):
    """A family's seeded ``Random`` that also deals the correct option's position.

    Drawing each position independently (a shuffle) leaves letter skews over a few hundred
    questions that nothing corrects (the phantom demo had B 109 vs D 55 of 323), and a model
    learns such priors. Instead the n-th choice question of a family goes to slot
    ``case offset + family ordinal + n`` modulo its option count: within a case the families
    take different letters (a case asking the four 4-option families uses A, B, C, D once
    each), and the seeded case offset (uniform over ``range(12)``) makes every family's letter
    uniform over cases. Deterministic; no state crosses cases.
    """

    def __init__(self, seed: int, first_slot: int) -> None:
        super().__init__(seed)
        self._slot = first_slot

    def next_slot(self) -> int:
        """The next answer slot (reduce it modulo the option count)."""
        slot = self._slot
        self._slot += 1
        return slot


def seeded_random(*parts: str) -> random.Random:
    """A ``Random`` seeded from strings through sha256: stable across processes and runs
    (``hash()`` of a str is salted per process, so it must not be used here)."""
    return random.Random(_seed_int(*parts))


def _seed_int(*parts: str) -> int:
    digest = hashlib.sha256("\x1f".join(parts).encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big")


def with_article(phrase: str) -> str:
    """``"liver tumor"`` -> ``"a liver tumor"``, ``"enhancing tumor"`` -> ``"an enhancing tumor"``.

    Upper-case initialisms and letter prefixes are read letter by letter (``"an MR"``,
    ``"a CT"``, ``"an X-ray"``).
    """
    word = phrase.split(" ", 1)[0]
    if (len(word) > 1 and word.isupper()) or word[1:2] == "-":  # "CT", "MRI", "X-ray"
        vowel_sound = word[0] in "AEFHILMNORSX"
    else:
        vowel_sound = word[:1].lower() in "aeiou"
    return f"{'an' if vowel_sound else 'a'} {phrase}"


def capitalize(text: str) -> str:
    """Upper-case the first character only (labels such as ``IVC`` keep their case)."""
    return text[:1].upper() + text[1:]


@cache
def phrasebook() -> Mapping[str, tuple[str, ...]]:
    """The question phrasings of ``prompts/questions.yaml`` (package data), by key."""
    text = files("unimed_cot.prompts").joinpath("questions.yaml").read_text(encoding="utf-8")
    data = yaml.safe_load(text)
    return {str(key): tuple(str(v) for v in values) for key, values in data.items()}


@dataclass(frozen=True, slots=True)
class QuestionContext:
    """One serialized case as the question families see it.

    Attributes:
        regions: the usable regions: a label, a box of the right arity and positive extent.
        dims: 2 or 3.
        modality: as the source states it.
        vocabulary: the source's label names (deduplicated, original spelling), for distractors.
        lesion_vocabulary: casefolded label names that denote lesions.
        pixels: the published pixels (image size, plane, spacing, slice positions).
        seed: the case seed string; each family draws from its own derived ``Random``.
    """

    regions: tuple[Region, ...]
    dims: Dims
    modality: str
    vocabulary: tuple[str, ...]
    lesion_vocabulary: frozenset[str]
    pixels: SerializedImages
    seed: str

    @classmethod
    def build(
        cls,
        pixels: SerializedImages,
        *,
        dims: Dims,
        modality: str,
        vocabulary: Sequence[str],
        lesion_vocabulary: Collection[str] | None,
        seed: str,
    ) -> QuestionContext:
        """Filter the regions and vocabulary down to what questions can use."""
        arity = 4 if dims == 2 else 6
        half = arity // 2
        regions = tuple(
            r
            for r in pixels.regions
            if r.label.strip()
            and len(r.box) == arity
            and all(r.box[i] < r.box[i + half] for i in range(half))
        )
        seen: set[str] = set()
        vocab: list[str] = []
        for label in [*vocabulary, *(r.label for r in regions)]:
            key = label.strip().casefold()
            if key and key not in seen:
                seen.add(key)
                vocab.append(label.strip())
        if lesion_vocabulary is None:
            lesions = {v.casefold() for v in vocab if _LESION_WORDS.search(v)}
        else:
            lesions = {v.strip().casefold() for v in lesion_vocabulary}
        lesions |= {r.label.strip().casefold() for r in regions if r.is_lesion}
        return cls(
            regions=regions,
            dims=dims,
            modality=modality.strip() or "medical",
            vocabulary=tuple(vocab),
            lesion_vocabulary=frozenset(lesions),
            pixels=pixels,
            seed=seed,
        )

    # --- reading the case -------------------------------------------------------------------

    @property
    def image_size(self) -> tuple[int, int] | None:
        """(width, height) of the published images, or None when there are none."""
        if not self.pixels.images:
            return None
        shape = self.pixels.images[0].shape
        return (int(shape[1]), int(shape[0]))

    @property
    def n_slices(self) -> int:
        return len(self.pixels.images)

    def unique_regions(self) -> list[Region]:
        """Regions whose label names exactly one region of the case (an unambiguous label)."""
        counts = Counter(key(r.label) for r in self.regions)
        return [r for r in self.regions if counts[key(r.label)] == 1]

    def is_lesion_label(self, label: str) -> bool:
        return key(label) in self.lesion_vocabulary

    # --- writing questions ------------------------------------------------------------------

    def rng(self, family: str) -> random.Random:
        """The family's own ``Random``: adding or changing one family never reshuffles another.

        It also deals the positions of the correct options (``FamilyRandom``).
        """
        offset = seeded_random(self.seed, "answer slots").randrange(_SLOT_CYCLE)
        return FamilyRandom(_seed_int(self.seed, family), offset + _SLOT_ORDINALS.get(family, 0))

    def noun(self, rng: random.Random) -> str:
        return "image" if self.dims == 2 else rng.choice(("scan", "volume"))

    def phrase(self, key_: str, rng: random.Random, **slots: str) -> str:
        """One seeded variant of a phrasebook entry, with its slots filled."""
        variants = phrasebook()[key_]
        slots.setdefault("modality", self.modality)
        slots.setdefault("noun", self.noun(rng))
        return rng.choice(variants).format(**slots)


def key(label: str) -> str:
    """The comparison key of a label (case- and surrounding-space-insensitive)."""
    return label.strip().casefold()


def choice_question(
    *,
    family: str,
    text: str,
    correct: str,
    distractors: Sequence[str],
    rng: random.Random,
    evidence: Sequence[str],
    rationale: Sequence[str],
) -> Question | None:
    """A single-choice question with up to ``MAX_OPTIONS`` options, or None without a distractor.

    Distractors equal to the correct option (case-insensitively) or to each other are dropped;
    the correct option lands at a seeded position: the family's rotating slot when ``rng`` is
    a ``FamilyRandom`` (balanced letters), else a uniform shuffle.
    """
    pool: list[str] = []
    seen = {key(correct)}
    for option in distractors:
        if key(option) not in seen:
            seen.add(key(option))
            pool.append(option)
    if not pool:
        return None
    options = rng.sample(pool, min(len(pool), MAX_OPTIONS - 1))
    if isinstance(rng, FamilyRandom):
        options.insert(rng.next_slot() % (len(options) + 1), correct)
    else:
        options.append(correct)
        rng.shuffle(options)
    return _question(family, text, options, correct, evidence, rationale)


def yes_no_question(
    *, family: str, text: str, yes: bool, evidence: Sequence[str], rationale: Sequence[str]
) -> Question:
    """A Yes/No question; the options keep their natural order ("A. Yes", "B. No")."""
    return _question(family, text, ["Yes", "No"], "Yes" if yes else "No", evidence, rationale)


def _question(
    family: str,
    text: str,
    options: list[str],
    correct: str,
    evidence: Sequence[str],
    rationale: Sequence[str],
) -> Question:
    index = options.index(correct)
    return Question(
        family=str(family),  # a QuestionFamily member is stored as its plain value
        text=text,
        options=tuple(options),
        answer=f"{LETTERS[index]}. {correct}",
        evidence=tuple(evidence),
        rationale=tuple(rationale),
    )
