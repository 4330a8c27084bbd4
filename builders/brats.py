"""``brats``: the BraTS glioma (and other sub-challenge) training sets, 2021 and 2023+ layouts.

Expected layout (the training folder as unpacked from Synapse)::

    BraTS2021_Training_Data/                    2021: label 4 is the enhancing tumour
      BraTS2021_00000/
        BraTS2021_00000_flair.nii.gz
        BraTS2021_00000_t1.nii.gz
        BraTS2021_00000_t1ce.nii.gz
        BraTS2021_00000_t2.nii.gz
        BraTS2021_00000_seg.nii.gz              0, 1 NCR, 2 ED, 4 ET
    ASNR-MICCAI-BraTS2023-GLI-Challenge-TrainingData/   2023 (GLI, PED, MEN, MET, SSA): label 3
      BraTS-GLI-00000-000/
        BraTS-GLI-00000-000-t1c.nii.gz
        BraTS-GLI-00000-000-t1n.nii.gz
        BraTS-GLI-00000-000-t2f.nii.gz
        BraTS-GLI-00000-000-t2w.nii.gz
        BraTS-GLI-00000-000-seg.nii.gz          0, 1 NETC, 2 SNFH, 3 ET (2024 GLI: 4 RC)

Labels are keyed on the edition, never on the value alone (``shared/sources/3d-sources.md`` §3):
2021 ``{1: necrotic tumor core, 2: peritumoral edema, 4: enhancing tumor}``; 2023 and later
``{1: non-enhancing tumor core, 2: peritumoral edema, 3: enhancing tumor}``, where the 2024 GLI
release adds ``4: resection cavity`` (label 4 never occurs in 2023 files). Any other value is
``undeclared-label``. A 2021 map holding 3, or a 2023 map holding 4 outside GLI, is refused.

**Sub-regions and unions.** Each case is listed as three records (label views, ``_labelviews``):

* ``<case>``: the sub-regions as stored (on the T1 contrast-enhanced image, t1ce / t1c);
* ``<case>/tumor_core``: the tumour core, necrosis + enhancing tumour (TC = {1, 4} in 2021,
  {1, 3} in 2023), on t1ce / t1c;
* ``<case>/whole_tumor``: the whole tumour, all three sub-regions (WT = {1, 2, 4} / {1, 2, 3}),
  on FLAIR (flair / t2f), where oedema shows.

Both unions are derived voxel by voxel from the full-resolution segmentation, so their sizes and
positions are the union's own. The resection cavity belongs to no union. The vocabulary relates
every sub-region to its unions, so no option set offers "whole tumor" next to one of its parts.
The chosen image is recorded in each case's history.

Geometry: 240 x 240 x 155, 1 mm, skull-stripped and co-registered, stored LPS; reoriented from
the affine like every volume. The images are MR (percentile windows).

Grouping and splits: the patient key is the 5-digit id (``BraTS2021_00000`` -> ``00000``;
``BraTS-GLI-00099-001`` -> ``GLI-00099``: the ``-YYY`` suffix looks like a time point, so all of
a patient's time points share one split; the notes mark its meaning unconfirmed). Only the
training data has public labels, so there is no official split to keep: the release draws its
seeded group split. BraTS 2023 GLI re-releases the 2021 cases under new ids with no public map
between them: do not build both editions into one release.

License: access through Synapse under the challenge's data-use terms, which users report forbid
redistribution; the exact text is not confirmed. Declared ``other`` and not redistributable, so
``publish`` writes annotation-only rows (no pixels).

Bad entries (a case folder with no segmentation, a missing image, a truncated file, a label map
on another grid, undeclared label values) are rejected with their reason; the build goes on.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import ClassVar

from unimed_cot.imaging import read_label_volume, read_volume
from unimed_cot.reasons import Reason
from unimed_cot.records import Case, Dims, SourceRecord, Volume

from ._common import NoAnnotationError, lesion_names, problem_record, read_guarded
from ._grids import on_one_grid
from ._labelviews import LabelView, apply_view, check_declared, union_view
from .base import Builder

_CASE_2021 = re.compile(r"^BraTS2021_(\d{5})$")
_CASE_2023 = re.compile(r"^BraTS-([A-Z]{3})-(\d{5})-(\d{3})$")
_LOOKS_LIKE = re.compile(r"^BraTS", re.IGNORECASE)

NCR_2021, ED, ET_2021 = 1, 2, 4
NETC, ET_2023, RC = 1, 3, 4
LABELS_2021 = {NCR_2021: "necrotic tumor core", ED: "peritumoral edema", ET_2021: "enhancing tumor"}
LABELS_2023 = {
    NETC: "non-enhancing tumor core",
    ED: "peritumoral edema",
    ET_2023: "enhancing tumor",
}
RESECTION_CAVITY = "resection cavity"
TUMOR_CORE, WHOLE_TUMOR = "tumor core", "whole tumor"


@dataclass(frozen=True, slots=True)
class Edition:
    """What one BraTS edition names its files and labels."""

    year: str
    separator: str  # between the case id and the file kind
    contrast: str  # T1 contrast-enhanced
    flair: str
    kinds: tuple[str, ...]
    labels: dict[int, str]
    core: tuple[int, ...]  # tumour core = necrosis + enhancing tumour
    whole: tuple[int, ...]  # every tumour sub-region


EDITION_2021 = Edition(
    year="2021",
    separator="_",
    contrast="t1ce",
    flair="flair",
    kinds=("flair", "t1", "t1ce", "t2", "seg"),
    labels=LABELS_2021,
    core=(NCR_2021, ET_2021),
    whole=(NCR_2021, ED, ET_2021),
)
EDITION_2023 = Edition(
    year="2023",
    separator="-",
    contrast="t1c",
    flair="t2f",
    kinds=("t1c", "t1n", "t2f", "t2w", "seg"),
    labels=LABELS_2023,
    core=(NETC, ET_2023),
    whole=(NETC, ED, ET_2023),
)


@dataclass(frozen=True, slots=True)
class BratsPayload:
    """A BraTS record's view of its case, the edition's label values and the image kind."""

    view: LabelView
    declared: frozenset[int]
    image_kind: str
    others: tuple[str, ...]  # the edition's other names, distractors only


def views_of(edition: Edition) -> tuple[LabelView, LabelView, LabelView]:
    """The sub-regions as stored, the tumour core and the whole tumour of ``edition``."""
    regions = {value: (name, (value,)) for value, name in edition.labels.items()}
    return (
        LabelView(key="", regions=regions),
        union_view("tumor_core", TUMOR_CORE, edition.core),
        union_view("whole_tumor", WHOLE_TUMOR, edition.whole),
    )


class BratsBuilder(Builder):
    """BraTS 2021 / 2023+ training data: multi-parametric brain MR with tumour sub-regions."""

    slug = "brats"
    title = "BraTS 2021 / 2023 (brain tumour segmentation)"
    homepage = "https://www.synapse.org/#!Synapse:syn51156910/wiki/"
    citation = """@article{baid2021rsna,
  title   = {The RSNA-ASNR-MICCAI BraTS 2021 Benchmark on Brain Tumor Segmentation and
             Radiogenomic Classification},
  author  = {Baid, Ujjwal and Ghodasara, Satyam and Mohan, Suyash and others},
  journal = {arXiv preprint arXiv:2107.02314},
  year    = {2021}
}
@article{menze2015brats,
  title   = {The Multimodal Brain Tumor Image Segmentation Benchmark (BRATS)},
  author  = {Menze, Bjoern H. and Jakab, Andras and Bauer, Stefan and others},
  journal = {IEEE Transactions on Medical Imaging},
  volume  = {34},
  number  = {10},
  pages   = {1993--2024},
  year    = {2015}
}"""
    license = "other"  # Synapse data-use terms; exact text unconfirmed
    redistributable = False
    modalities: ClassVar[tuple[str, ...]] = ("MR",)
    dims: ClassVar[tuple[Dims, ...]] = (3,)
    layout = """BraTS2021_Training_Data/            (or a 2023 ...-TrainingData/ folder)
  BraTS2021_00000/                   2023: BraTS-GLI-00000-000/
    BraTS2021_00000_flair.nii.gz     2023: BraTS-GLI-00000-000-t2f.nii.gz
    BraTS2021_00000_t1.nii.gz        2023: ...-t1n.nii.gz
    BraTS2021_00000_t1ce.nii.gz      2023: ...-t1c.nii.gz
    BraTS2021_00000_t2.nii.gz        2023: ...-t2w.nii.gz
    BraTS2021_00000_seg.nii.gz       2021: 1 NCR, 2 ED, 4 ET; 2023: 1 NETC, 2 SNFH, 3 ET"""

    def check_root(self, root: Path) -> None:
        if _edition(root.name) is not None:
            raise self.layout_error(root, "this is one case folder; pass the folder holding them")
        if not root.is_dir() or not any(_edition(p.name) for p in _folders(root)):
            raise self.layout_error(
                root, "no BraTS2021_NNNNN/ or BraTS-XXX-NNNNN-NNN/ case folders"
            )

    def records(self, root: Path) -> Iterator[SourceRecord]:
        self.check_root(root)
        for folder in _folders(root):
            if not _LOOKS_LIKE.match(folder.name):
                continue  # other files of the download (name mappings, survival CSVs)
            edition = _edition(folder.name)
            if edition is None:
                yield self._problem(
                    folder, Reason.BAD_NAME, f"{folder.name} is not a BraTS case folder name"
                )
                continue
            yield from self._case_records(folder, edition)

    def load(self, record: SourceRecord) -> Case:
        payload = record.payload_as(BratsPayload)
        if record.label is None:  # never: sound records carry their segmentation
            raise NoAnnotationError(f"{record.case_id}: no segmentation")
        seg = read_guarded(read_label_volume, record.label)
        check_declared(
            seg.array, set(payload.declared), case_id=record.case_id, name=record.label.name
        )
        image = read_guarded(read_volume, record.image)
        image, seg, moved = on_one_grid(
            image, seg, case_id=record.case_id, names=(record.image.name, record.label.name)
        )
        view = payload.view
        labels = view.labels
        return Case(
            record=record,
            image=image,
            labels=labels,
            label_map=Volume(array=apply_view(seg.array, view), affine=seg.affine.copy()),
            lesion_labels=lesion_names(labels.values()),
            vocabulary=payload.others,
            history=[
                f"image {record.image.name} ({payload.image_kind})",
                view.describe(),
                *moved,
            ],
        )

    # --- listing ---------------------------------------------------------------------------------

    def _problem(self, folder: Path, reason: Reason, detail: str) -> SourceRecord:
        return problem_record(
            builder=self,
            case_id=folder.name,
            image=folder,
            modality="MR",
            dims=3,
            reason=reason,
            detail=detail,
        )

    def _case_records(self, folder: Path, edition: Edition) -> Iterator[SourceRecord]:
        case = folder.name
        seg = folder / f"{case}{edition.separator}seg.nii.gz"
        declared = set(edition.labels)
        prefix = _CASE_2023.match(case)
        cavity = prefix is not None and prefix.group(1) == "GLI"
        if cavity:
            declared.add(RC)  # BraTS 2024 GLI: resection cavity (absent from 2023 files)
        names = [*edition.labels.values(), TUMOR_CORE, WHOLE_TUMOR]
        if cavity:
            names.append(RESECTION_CAVITY)
        for view in views_of(edition):
            case_id = f"{case}/{view.key}" if view.key else case
            kind = edition.flair if view.key == "whole_tumor" else edition.contrast
            image = folder / f"{case}{edition.separator}{kind}.nii.gz"
            labels = dict(view.labels)
            if not view.key and cavity:
                labels[RC] = RESECTION_CAVITY
                view = LabelView(key="", regions={**view.regions, RC: (RESECTION_CAVITY, (RC,))})
            problem = None
            if not seg.is_file():
                problem = (Reason.MISSING_MASK, f"{seg.name} is not there")
            elif not image.is_file():
                problem = (Reason.MISSING_IMAGE, f"{image.name} is not there")
            if problem is not None:
                yield replace(self._problem(folder, *problem), case_id=case_id)
                continue
            yield SourceRecord(
                source=self.slug,
                case_id=case_id,
                group_key=_patient(case),
                dims=3,
                modality="MR",
                image=image,
                label=seg,
                payload=BratsPayload(
                    view=view,
                    declared=frozenset(declared),
                    image_kind=kind,
                    others=tuple(n for n in names if n not in labels.values()),
                ),
            )


def _folders(root: Path) -> list[Path]:
    return sorted(p for p in root.iterdir() if p.is_dir()) if root.is_dir() else []


def _edition(name: str) -> Edition | None:
    if _CASE_2021.match(name):
        return EDITION_2021
    if _CASE_2023.match(name):
        return EDITION_2023
    return None


def _patient(case: str) -> str:
    """The patient key: the 5-digit id (with the 2023 sub-challenge), time points together."""
    found = _CASE_2021.match(case)
    if found is not None:
        return found.group(1)
    found = _CASE_2023.match(case)
    assert found is not None  # only called for matching case folders
    return f"{found.group(1)}-{found.group(2)}"
