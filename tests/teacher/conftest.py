"""Hand-made samples for the teacher tests (no imaging code needed): small uint8 slices,
a few regions with facts, and questions both hand-written and generated."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

from unimed_cot.questions import generate_questions
from unimed_cot.records import Dims
from unimed_cot.samples import Question, Region, RegionFacts, Sample, SerializedImages


def _slices(k: int, size: int) -> list[np.ndarray]:
    rng = np.random.default_rng(0)
    return [rng.integers(0, 256, (size, size), dtype=np.uint8) for _ in range(k)]


def pixels_3d() -> SerializedImages:
    return SerializedImages(
        images=_slices(8, 56),
        slice_positions_mm=[10.0 * i for i in range(8)],
        plane="axial",
        spacing_mm=[6.0, 6.0, 10.0],
        window="CT abdomen W400 L40",
        regions=[
            Region(
                "R1",
                "liver",
                (2, 10, 1, 24, 40, 7),
                RegionFacts(3000, 1500.0, (13.0, 25.0, 4.0), "right", "anterior", voxels=3000),
            ),
            Region(
                "R2",
                "spleen",
                (36, 20, 2, 50, 36, 6),
                RegionFacts(800, 320.5, (43.0, 28.0, 4.0), "left", "posterior", voxels=800),
            ),
            Region(
                "R3",
                "liver tumor",
                (8, 16, 3, 14, 22, 5),
                RegionFacts(70, 12.0, (11.0, 19.0, 4.0), "right", "anterior", voxels=70),
                is_lesion=True,
                host="liver",
            ),
        ],
        orientation_known=True,
    )


def pixels_2d() -> SerializedImages:
    rgb = np.zeros((56, 84, 3), np.uint8)
    rgb[..., 0] = 200  # a red image: checks the RGB -> PNG channel order
    return SerializedImages(
        images=[rgb],
        slice_positions_mm=[],
        plane="",
        spacing_mm=[0.5, 0.5],
        window="",
        regions=[
            Region(
                "R1",
                "polyp",
                (10, 12, 30, 40),
                RegionFacts(500, 125.0, (20.0, 26.0), voxels=500),
                is_lesion=True,
                host="colon",
            ),
            Region(
                "R2",
                "instrument",
                (60, 5, 80, 50),
                RegionFacts(900, 225.0, (70.0, 27.5), voxels=900),
            ),
        ],
        orientation_known=False,
    )


def sample_of(
    pixels: SerializedImages, question: Question, *, dims: Dims, index: int = 0
) -> Sample:
    return Sample(
        source="toy",
        case_id=f"case{dims}d",
        question_index=index,
        dims=dims,
        modality="CT" if dims == 3 else "endoscopy",
        group_key="patient-1",
        license="CC-BY-4.0",
        pixels=pixels,
        question=question,
    )


RELATION_QUESTION = Question(
    family="spatial_relationship",
    text="What is the position of the liver relative to the spleen?",
    options=(
        "Left of the spleen",
        "Right of the spleen",
        "Anterior to the spleen",
        "Inferior to the spleen",
    ),
    answer="B. Right of the spleen",
    evidence=("R1", "R2"),
    rationale=(
        "R1 (liver) lies right of the spleen (R2) in patient terms",
        "their centres are 180 mm apart along that axis",
    ),
)

SIZE_QUESTION_2D = Question(
    family="size_comparison",
    text="Which is larger, the polyp or the instrument?",
    options=("instrument", "polyp", "They are about the same size"),
    answer="A. instrument",
    evidence=("R1", "R2"),
    rationale=("the polyp has an area of 125.0 mm²", "the instrument has an area of 225.0 mm²"),
)


@pytest.fixture
def make_sample() -> Callable[..., Sample]:
    """``sample_of`` as a fixture, for tests that build samples from their own questions."""
    return sample_of


@pytest.fixture
def sample_3d() -> Sample:
    return sample_of(pixels_3d(), RELATION_QUESTION, dims=3)


@pytest.fixture
def sample_2d() -> Sample:
    return sample_of(pixels_2d(), SIZE_QUESTION_2D, dims=2)


@pytest.fixture
def generated_samples() -> list[Sample]:
    """Every generated question of a 3D and a 2D case, over a few seeds."""
    samples = []
    cases: list[tuple[Dims, SerializedImages, list[str]]] = [
        (3, pixels_3d(), ["liver", "spleen", "liver tumor", "kidney", "kidney cyst", "pancreas"]),
        (2, pixels_2d(), ["polyp", "instrument", "colon", "stomach", "ulcer"]),
    ]
    for dims, pixels, vocab in cases:
        for seed in range(4):
            questions = generate_questions(
                pixels,
                dims=dims,
                modality="CT" if dims == 3 else "endoscopy",
                vocabulary=vocab,
                seed=str(seed),
            )
            samples += [
                sample_of(pixels, q, dims=dims, index=10 * seed + i)
                for i, q in enumerate(questions)
            ]
    return samples
