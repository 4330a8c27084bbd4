"""DICOM series -> volume: ``read_dicom_series`` vs SimpleITK's ImageSeriesReader vs a bare floor.

One synthetic CT series (512 x 512 x N int16 slices built from pydicom's real ``CT_small.dcm``
header, shuffled InstanceNumbers) is read three ways and checked to give the same voxels:

* ``floor``: ``pydicom.dcmread`` of every file + ``pixel_array``, stacked in file order (no
  sorting, no checks, no rescale) - the decode cost nobody can avoid;
* ``ours``: ``read_dicom_series`` (header pass, sort on the normal, geometry checks, pixel pass,
  float32 rescale);
* ``sitk``: ``GetGDCMSeriesFileNames`` + ``ImageSeriesReader`` (GDCM, C++).

Run: ``.venv/bin/python benchmarks/bench_dicom.py --slices 64``. Ratios are printed; nothing is
asserted.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pydicom
import SimpleITK as sitk  # noqa: N813
from pydicom.data import get_testdata_file
from pydicom.uid import generate_uid

from unimed_cot.imaging import read_dicom_series


def write_series(folder: Path, slices: int, side: int) -> None:
    template = pydicom.dcmread(get_testdata_file("CT_small.dcm"))
    rng = np.random.default_rng(0)
    uid = generate_uid()
    for k, number in enumerate(rng.permutation(slices)):
        ds = template.copy()
        ds.Rows = ds.Columns = side
        ds.SeriesInstanceUID, ds.SOPInstanceUID = uid, generate_uid()
        ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
        ds.InstanceNumber = int(number) + 1
        ds.ImagePositionPatient = [-150.0, -150.0, -100.0 + 1.25 * k]
        ds.PixelData = rng.integers(0, 2000, (side, side), dtype=np.int16).tobytes()
        ds.save_as(folder / f"{number:05d}.dcm", enforce_file_format=True)


def floor(folder: Path) -> np.ndarray:
    return np.stack([pydicom.dcmread(p).pixel_array for p in sorted(folder.iterdir())], axis=-1)


def ours(folder: Path) -> np.ndarray:
    return read_dicom_series(folder)[0]


def simpleitk(folder: Path) -> np.ndarray:
    reader = sitk.ImageSeriesReader()
    reader.SetFileNames(reader.GetGDCMSeriesFileNames(str(folder)))
    return np.transpose(sitk.GetArrayFromImage(reader.Execute()), (2, 1, 0))


def best_of(run: Callable[[Path], np.ndarray], folder: Path, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        run(folder)
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--slices", type=int, default=64)
    parser.add_argument("--side", type=int, default=512)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        write_series(folder, args.slices, args.side)
        np.testing.assert_array_equal(ours(folder), simpleitk(folder).astype(np.float32))
        seconds = {
            name: best_of(run, folder, args.repeats)
            for name, run in (("floor", floor), ("ours", ours), ("sitk", simpleitk))
        }
    print(f"series {args.side}x{args.side}x{args.slices} int16, best of {args.repeats}")
    for name, value in seconds.items():
        print(f"  {name:6s} {value:7.3f} s   {value / seconds['floor']:5.2f}x floor")
    print(f"  ours / sitk = {seconds['ours'] / seconds['sitk']:.2f}")


if __name__ == "__main__":
    main()
