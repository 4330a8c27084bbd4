"""What every question family reads: the usable regions of one case, its truth and vocabulary,
the frame its side words use, the seeded randomness and the phrasebook."""

from __future__ import annotations

import hashlib
import random
from collections import Counter
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from importlib.resources import files

import yaml

from unimed_cot.records import Dims
from unimed_cot.samples import CaseTruth, Region, SerializedImages

from .frames import Axes, axes_3d, image_axes_2d
from .vocabulary import distinct, is_finding


def seeded_random(*parts: str) -> random.Random:
    """A ``Random`` seeded from strings through sha256: stable across processes and runs
    (``hash()`` of a str is salted per process, so it must not be used here)."""
    return random.Random(seed_int(*parts))


def seed_int(*parts: str) -> int:
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


def key(label: str) -> str:
    """The comparison key of a label (case- and surrounding-space-insensitive)."""
    return label.strip().casefold()


@dataclass(frozen=True, slots=True)
class QuestionContext:
    """One serialized case as the question families see it.

    Attributes:
        regions: the usable regions: a label, a box of the right arity and positive extent.
        dims: 2 or 3.
        modality: as the source states it.
        vocabulary: names for distractors, one per structure (the case's own spelling first).
        lesion_vocabulary: casefolded label names that denote lesions.
        pixels: the published pixels (image size, plane, spacing, slice positions).
        truth: what the annotations say at full resolution (``samples.CaseTruth``).
        axes: the frame and directions of side words; None when no direction can be stated
            (a volume of unknown orientation).
        seed: the case seed string; each family draws from its own derived ``Random``.
    """

    regions: tuple[Region, ...]
    dims: Dims
    modality: str
    vocabulary: tuple[str, ...]
    lesion_vocabulary: frozenset[str]
    pixels: SerializedImages
    truth: CaseTruth
    axes: Axes | None
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
        own = [r.label.strip() for r in regions]
        truth = pixels.truth
        wider = truth.vocabulary if truth is not None else ()
        vocab = distinct([*own, *vocabulary, *wider], prefer=own)
        if lesion_vocabulary is None:
            lesions = {v.casefold() for v in vocab if is_finding(v)}
        else:
            lesions = {v.strip().casefold() for v in lesion_vocabulary}
        lesions |= {r.label.strip().casefold() for r in regions if r.is_lesion}
        if truth is None:  # pixels made by hand: the regions are all there is to know
            present = frozenset(own)
            truth = CaseTruth(annotated=frozenset([*vocabulary, *own]), present=present)
        if dims == 3:
            axes = axes_3d() if pixels.orientation_known else None
        else:
            axes = image_axes_2d(pixels.image_axes)
        return cls(
            regions=regions,
            dims=dims,
            modality=modality.strip() or "medical",
            vocabulary=tuple(vocab),
            lesion_vocabulary=frozenset(lesions),
            pixels=pixels,
            truth=truth,
            axes=axes,
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

    @property
    def noun(self) -> str:
        return "image" if self.dims == 2 else "scan"

    def unique_regions(self) -> list[Region]:
        """Regions whose label names exactly one region of the case (an unambiguous label)."""
        counts = Counter(key(r.label) for r in self.regions)
        return [r for r in self.regions if counts[key(r.label)] == 1]

    def is_lesion_label(self, label: str) -> bool:
        return key(label) in self.lesion_vocabulary

    def rng(self, family: str) -> random.Random:
        """The family's own ``Random``: adding or changing one family never reshuffles another."""
        return seeded_random(self.seed, family)

    def phrase(self, key_: str, rng: random.Random, **slots: str) -> str:
        """One seeded variant of a phrasebook entry, with its slots filled."""
        variants = phrasebook()[key_]
        slots.setdefault("modality", self.modality)
        slots.setdefault("noun", "image" if self.dims == 2 else rng.choice(("scan", "volume")))
        return rng.choice(variants).format(**slots)
