"""The published row (DESIGN.md §5): one question about one image or volume.

This model is the contract of a release. ``validate`` checks every row of a release against it,
and ``row.schema.json`` beside this file is generated from it (a test fails when they drift).
"""

from __future__ import annotations

import re
from typing import Annotated, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

RegionId = Annotated[
    str, Field(pattern=r"^R[1-9]\d*$", description="R1, R2, ... as cited in the trace")
]
LETTERS = "ABCDEFGHIJ"
_CHOICE_ANSWER = re.compile(r"^([A-J])\. (.+)$", re.DOTALL)


class RegionRow(BaseModel):
    """One evidence region: its id, label and box in the shared syntax (4 ints 2D, 6 ints 3D)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: RegionId
    label: str = Field(min_length=1)
    box: list[int] = Field(min_length=4, max_length=6)

    @model_validator(mode="after")
    def _box_arity(self) -> Self:
        if len(self.box) not in (4, 6):
            raise ValueError(f"region {self.id}: a box has 4 or 6 coordinates, got {len(self.box)}")
        return self


class Row(BaseModel):
    """One published row. Field meanings are those of DESIGN.md §5."""

    model_config = ConfigDict(extra="forbid")

    id: str = Field(
        pattern=r"^[a-z0-9_\-]+/.+/\d+$", description="{source}/{native case id}/{question index}"
    )
    source: str = Field(pattern=r"^[a-z0-9_\-]+$")
    dims: Literal[2, 3]
    modality: str = Field(min_length=1)
    images: list[bytes] = Field(
        min_length=0, description="encoded image files (PNG); K slices for 3D"
    )
    slice_positions_mm: list[float]
    plane: Literal["", "axial", "coronal", "sagittal"]
    spacing_mm: list[float]
    window: str
    question_type: str = Field(min_length=1)
    question: str = Field(min_length=1)
    options: list[str]
    answer: str = Field(min_length=1)
    answer_type: Literal["closed", "open"] = Field(
        description="closed: chosen from `options` (or a source's closed answer kept as text); "
        "open: a free-text answer, as a VQA source ships it"
    )
    regions: list[RegionRow]
    grounded: bool = Field(
        description="true when the source's own annotation supports the evidence: always for "
        "questions generated from annotations; for a source's own question (VQA-RAD, SLAKE, "
        "PathVQA) only when one of its boxes or masks shows what is asked, and then `regions` "
        "holds that evidence. False: the answer is the source's, no region backs it"
    )
    reasoning: str = Field(min_length=1)
    split: Literal["train", "validation", "test"]
    group_id: str = Field(
        pattern=r"^[0-9a-f]{16,64}$", description="salted hash of the patient/case id"
    )
    license: str = Field(min_length=1, description="SPDX id of the source's data license")
    teacher: str = Field(min_length=1)
    prompt_sha: str = Field(pattern=r"^[0-9a-f]{64}$")
    pipeline_version: str = Field(min_length=1)

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        if not self.id.startswith(f"{self.source}/"):
            raise ValueError(f"id {self.id!r} does not start with its source {self.source!r}")
        box_len = 4 if self.dims == 2 else 6
        for region in self.regions:
            if len(region.box) != box_len:
                raise ValueError(
                    f"region {region.id} has a {len(region.box)}-value box in a {self.dims}D row"
                )
        if len({r.id for r in self.regions}) != len(self.regions):
            raise ValueError("region ids are not unique")
        if self.dims == 2:
            if self.slice_positions_mm or self.plane:
                raise ValueError("a 2D row has no slice positions and no plane")
        elif self.images and len(self.slice_positions_mm) != len(self.images):
            raise ValueError(
                f"{len(self.images)} slices but {len(self.slice_positions_mm)} slice positions"
            )
        if self.options and self.answer_type != "closed":
            raise ValueError("a row with options is a closed question")
        if not self.grounded and self.regions:
            raise ValueError("an ungrounded row cites no region")
        if self.options:
            match = _CHOICE_ANSWER.match(self.answer)
            if match is None:
                raise ValueError(f"choice answer {self.answer!r} is not 'X. option text'")
            index = LETTERS.index(match.group(1))
            if index >= len(self.options) or self.options[index] != match.group(2):
                raise ValueError(
                    f"answer {self.answer!r} does not match the options {self.options}"
                )
        return self
