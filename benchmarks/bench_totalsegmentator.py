"""TotalSegmentator: 117 per-class masks -> one label map, ours vs the release converter's recipe.

The converter (``resources/convert_dataset_to_nnunet.py``) does ``combined[img.get_fdata() > 0]
= idx + 1`` per class; the builder reads each mask as stored and writes only its voxels in the
file's memory order. Both maps must be equal. Run: ``python benchmarks/bench_totalsegmentator.py
[WORKDIR]`` (writes one synthetic 192x192x160 subject there once, a third of the classes set).
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

import nibabel as nib
import numpy as np

from unimed_cot.builders import get_builder
from unimed_cot.builders._totalseg_names import TOTAL_V2

SHAPE = (192, 192, 160)
AFFINE = np.diag([1.5, 1.5, 2.0, 1.0])


def write_subject(root: Path) -> Path:
    case = root / "s0000"
    if (root / "meta.csv").exists():
        return case
    (case / "segmentations").mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    ct = rng.integers(-1000, 1000, SHAPE, dtype=np.int16)
    nib.save(nib.Nifti1Image(ct, AFFINE), str(case / "ct.nii.gz"))
    for index, stem in enumerate(TOTAL_V2):
        mask = np.zeros(SHAPE, np.uint8)
        if index % 3 == 0:
            x, y, z = 20 + (index * 7) % 150, 20 + (index * 13) % 150, 10 + (index * 5) % 130
            mask[x : x + 20, y : y + 20, z : z + 20] = 1
        nib.save(nib.Nifti1Image(mask, AFFINE), str(case / "segmentations" / f"{stem}.nii.gz"))
    (root / "meta.csv").write_text("image_id;split\ns0000;train\n", encoding="utf-8")
    return case


def main() -> None:
    root = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(tempfile.mkdtemp())
    case = write_subject(root)
    builder = get_builder("totalsegmentator")
    (record,) = list(builder.records(root))
    start = time.perf_counter()
    loaded = builder.load(record)
    ours = time.perf_counter() - start
    start = time.perf_counter()
    combined = np.zeros(SHAPE, np.uint8)
    for index, stem in enumerate(TOTAL_V2):
        image = nib.load(str(case / "segmentations" / f"{stem}.nii.gz"))
        combined[image.get_fdata() > 0] = index + 1
    recipe = time.perf_counter() - start
    assert loaded.label_map is not None
    equal = np.array_equal(np.asarray(loaded.label_map.array), combined)
    print(f"builder.load {ours:.2f} s | converter recipe {recipe:.2f} s | x{recipe / ours:.1f}")
    print(f"same label map: {equal}")


if __name__ == "__main__":
    main()
