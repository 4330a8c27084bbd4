"""Imaging path vs the decode floor, MONAI and TorchIO: same CT in, K x 252 x 252 PNGs out.

One synthetic 512x512x300 int16 CT ``.nii.gz`` (0.7 x 0.7 x 1.0 mm, stored RAS, with a uint8
label map: lungs, liver, kidneys, spine and a small liver tumour) goes through:

* ``floor``: nibabel load + ``np.asanyarray(img.dataobj)`` of the image and the label map: the
  decompression nobody can skip;
* ``ours``: ``read_volume``/``read_label_volume`` -> ``normalize_case`` (LPS) -> ``serialize_case``
  (body extent, window, K slices padded and resized to 252, label slices, regions + facts) ->
  ``encode_png`` of every slice;
* ``monai``: LoadImage -> EnsureChannelFirst -> Orientation -> ScaleIntensityRange -> Resize to
  (252, 252, K) for the image and nearest for the labels, then PNG of every slice;
* ``torchio``: ToCanonical -> RescaleIntensity (window) -> Resize (labels nearest), then PNGs;

and the same three with resampling to 1 mm isotropic first (``*_1mm``; MONAI ``Spacing``, TorchIO
``Resample``, ours ``SerializeConfig.target_spacing_mm``). Every variant runs in a fresh
subprocess; wall time is measured inside it after imports, peak RSS is the child's ``ru_maxrss``
(``os.wait4``). Ratios are printed against the floor; nothing is asserted.

2D: images/s for a 1024x1024 8-bit PNG -> published image (``read_image_2d`` -> normalize ->
serialize -> ``encode_png``), against the floor of decoding the file and encoding the same
published image.

Run: ``.venv/bin/python benchmarks/bench_imaging.py`` (``--quick``: 256x256x120; ``--repeat 3``
keeps the best of three runs per variant, for a busy machine).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

K = 32
SIZE = 252
WINDOW = (-1350.0, 150.0)  # CT lung W1500 L-600: the lungs are the largest structures here
TARGET_MM = (1.0, 1.0, 1.0)
SPACING = (0.7, 0.7, 1.0)
LABELS = {
    1: "liver",
    2: "left kidney",
    3: "right kidney",
    4: "left lung",
    5: "right lung",
    6: "vertebra",
    7: "liver tumor",
}
VARIANTS = ("floor", "ours", "monai", "torchio", "ours_1mm", "monai_1mm", "torchio_1mm")


# --- data ---------------------------------------------------------------------------------------


def make_volume(folder: Path, shape: tuple[int, int, int]) -> tuple[Path, Path]:
    """Write the synthetic CT and label map (cached by shape)."""
    import nibabel as nib

    ct_path = folder / f"ct_{'x'.join(map(str, shape))}.nii.gz"
    seg_path = folder / f"seg_{'x'.join(map(str, shape))}.nii.gz"
    if ct_path.exists() and seg_path.exists():
        return ct_path, seg_path
    nx, ny, nz = shape
    x, y = np.meshgrid(np.linspace(-1, 1, nx), np.linspace(-1, 1, ny), indexing="ij")
    rng = np.random.default_rng(0)
    ct = np.empty(shape, dtype=np.int16)
    seg = np.zeros(shape, dtype=np.uint8)
    # Stored RAS: +x points to the patient's right, so the right-sided organs sit at x > 0.
    for k in range(nz):
        t = k / nz  # 0 = feet, 1 = head
        body = (x / 0.85) ** 2 + (y / 0.65) ** 2 < 1
        hu = np.where(body, 40, -1000).astype(np.float32)
        labels = np.zeros((nx, ny), dtype=np.uint8)
        spine = (x**2 + (y + 0.45) ** 2) < 0.012
        labels[spine] = 6
        if t > 0.55:
            r = 0.35 * np.sqrt(max(0.0, 1 - ((t - 0.8) / 0.25) ** 2))
            labels[((x - 0.4) ** 2 + y**2) < r**2] = 5  # right lung (RAS: +x is patient right)
            labels[((x + 0.4) ** 2 + y**2) < r**2] = 4
        if 0.3 < t < 0.6:
            r = 0.3 * np.sqrt(max(0.0, 1 - ((t - 0.45) / 0.15) ** 2))
            labels[((x - 0.35) ** 2 + (y - 0.1) ** 2) < r**2] = 1
            if 0.44 < t < 0.47:
                labels[((x - 0.35) ** 2 + (y - 0.1) ** 2) < 0.003] = 7
        if 0.2 < t < 0.35:
            r = 0.08 * np.sqrt(max(0.0, 1 - ((t - 0.275) / 0.075) ** 2))
            labels[((x - 0.35) ** 2 + (y + 0.3) ** 2) < r**2] = 3
            labels[((x + 0.35) ** 2 + (y + 0.3) ** 2) < r**2] = 2
        hu[labels == 1] = 60
        hu[labels == 7] = 20
        hu[(labels == 2) | (labels == 3)] = 30
        hu[(labels == 4) | (labels == 5)] = -850
        hu[labels == 6] = 700
        noise = rng.normal(0, 12, (nx, ny)).astype(np.float32)
        ct[:, :, k] = np.rint(hu + noise * body).astype(np.int16)
        seg[:, :, k] = labels
    affine = np.diag([*SPACING, 1.0])
    affine[:3, 3] = [-(nx - 1) * SPACING[0] / 2, -(ny - 1) * SPACING[1] / 2, -500.0]
    for array, path in ((ct, ct_path), (seg, seg_path)):
        image = nib.Nifti1Image(array, affine)
        image.set_qform(affine, code=1)
        image.set_sform(affine, code=1)
        nib.save(image, path)
    return ct_path, seg_path


# --- variants (each runs in its own process) ----------------------------------------------------


def _png(slices: list[np.ndarray]) -> int:
    from unimed_cot.imaging.png import encode_png

    return sum(len(encode_png(np.ascontiguousarray(s))) for s in slices)


def run_floor(ct: Path, seg: Path) -> dict[str, Any]:
    import nibabel as nib

    start = time.perf_counter()
    arrays = [np.asanyarray(nib.load(path).dataobj) for path in (ct, seg)]
    return {"seconds": time.perf_counter() - start, "bytes": sum(a.nbytes for a in arrays)}


def run_ours(ct: Path, seg: Path, target: tuple[float, float, float] | None) -> dict[str, Any]:
    from unimed_cot.imaging import (
        SerializeConfig,
        normalize_case,
        read_label_volume,
        read_volume,
        serialize_case,
    )
    from unimed_cot.records import Case, SourceRecord

    start = time.perf_counter()
    record = SourceRecord(
        source="bench", case_id="c", group_key="g", dims=3, modality="CT", image=ct
    )
    case = Case(
        record=record,
        image=read_volume(ct),
        labels=dict(LABELS),
        label_map=read_label_volume(seg),
        lesion_labels=frozenset({"liver tumor"}),
    )
    case = normalize_case(case)
    pixels = serialize_case(
        case, SerializeConfig(n_slices=K, slice_size=SIZE, target_spacing_mm=target)
    )
    png_bytes = _png(pixels.images)
    return {
        "seconds": time.perf_counter() - start,
        "png_bytes": png_bytes,
        "window": pixels.window,
        "regions": len(pixels.regions),
    }


def _to_uint8_slices(volume: Any) -> list[np.ndarray]:
    array = np.asarray(volume)[0]
    return [np.rint(array[:, :, k] * 255).astype(np.uint8).T for k in range(array.shape[2])]


def run_monai(ct: Path, seg: Path, target: tuple[float, float, float] | None) -> dict[str, Any]:
    import torch
    from monai.transforms import (
        EnsureChannelFirst,
        LoadImage,
        Orientation,
        Resize,
        ScaleIntensityRange,
        Spacing,
    )

    torch.set_num_threads(2)
    start = time.perf_counter()
    load, channel = LoadImage(image_only=True), EnsureChannelFirst()
    orient = Orientation(axcodes="LPS")
    image = orient(channel(load(str(ct))))
    labels = orient(channel(load(str(seg))))
    if target is not None:
        image = Spacing(pixdim=target, mode="bilinear")(image)
        labels = Spacing(pixdim=target, mode="nearest")(labels)
    image = ScaleIntensityRange(a_min=WINDOW[0], a_max=WINDOW[1], b_min=0.0, b_max=1.0, clip=True)(
        image
    )
    image = Resize(spatial_size=(SIZE, SIZE, K), mode="area")(image)
    labels = Resize(spatial_size=(SIZE, SIZE, K), mode="nearest")(labels)
    png_bytes = _png(_to_uint8_slices(image)) + _png(
        [np.asarray(labels)[0, :, :, k].astype(np.uint8).T for k in range(K)]
    )
    return {"seconds": time.perf_counter() - start, "png_bytes": png_bytes}


def run_torchio(ct: Path, seg: Path, target: tuple[float, float, float] | None) -> dict[str, Any]:
    import torch
    import torchio as tio

    torch.set_num_threads(2)
    start = time.perf_counter()
    subject = tio.Subject(image=tio.ScalarImage(ct), labels=tio.LabelMap(seg))
    steps: list[Any] = [tio.ToCanonical()]
    if target is not None:
        steps.append(tio.Resample(target))
    steps += [
        tio.RescaleIntensity(out_min_max=(0.0, 1.0), in_min_max=WINDOW, include=["image"]),
        tio.Clamp(0.0, 1.0, include=["image"]),
        tio.Resize((SIZE, SIZE, K)),
    ]
    out = tio.Compose(steps)(subject)
    png_bytes = _png(_to_uint8_slices(out["image"].data.numpy())) + _png(
        [out["labels"].data.numpy()[0, :, :, k].astype(np.uint8).T for k in range(K)]
    )
    return {"seconds": time.perf_counter() - start, "png_bytes": png_bytes}


def run_variant(name: str, ct: Path, seg: Path) -> dict[str, Any]:
    target = TARGET_MM if name.endswith("_1mm") else None
    base = name.removesuffix("_1mm")
    if base == "floor":
        return run_floor(ct, seg)
    if base == "ours":
        return run_ours(ct, seg, target)
    if base == "monai":
        return run_monai(ct, seg, target)
    return run_torchio(ct, seg, target)


def spawn(name: str, ct: Path, seg: Path) -> dict[str, Any]:
    """Run one variant in a fresh interpreter; returns its report plus the child's peak RSS."""
    command = [sys.executable, __file__, "--child", name, "--ct", str(ct), "--seg", str(seg)]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    stdout, stderr = process.communicate()
    # RUSAGE_CHILDREN is a running maximum over all children, so each child reports its own
    # high-water mark (VmHWM in /proc/self/status), which is the same number per process.
    if process.returncode != 0:
        last = (stderr.strip().splitlines() or ["no output"])[-1]
        return {"error": last}
    report: dict[str, Any] = json.loads(stdout.strip().splitlines()[-1])
    return report


def _peak_rss_mb() -> float:
    with Path("/proc/self/status").open(encoding="ascii") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def _warm_imports(name: str) -> None:
    """Import what a variant uses before its clock starts (imports are paid once per worker)."""
    import cv2  # noqa: F401
    import nibabel  # noqa: F401
    import scipy.ndimage  # noqa: F401

    import unimed_cot.imaging
    import unimed_cot.imaging.png  # noqa: F401

    if name.startswith("monai"):
        import monai.transforms  # noqa: F401
    if name.startswith("torchio"):
        import torchio  # noqa: F401


def child_main(name: str, ct: Path, seg: Path) -> None:
    _warm_imports(name)
    baseline = _peak_rss_mb()
    report = run_variant(name, ct, seg)
    report["peak_rss_mb"] = _peak_rss_mb()
    report["baseline_rss_mb"] = baseline
    print(json.dumps(report))


# --- 2D -----------------------------------------------------------------------------------------


def bench_2d(folder: Path, n: int) -> tuple[float, float]:
    """Images/s of our 2D path and of the decode + encode floor, on the same PNG files."""
    import cv2

    from unimed_cot.imaging import (
        SerializeConfig,
        normalize_case,
        qwen_fixed_size,
        read_image_2d,
        serialize_case,
    )
    from unimed_cot.imaging.png import encode_png
    from unimed_cot.records import Case, SourceRecord

    rng = np.random.default_rng(1)
    paths = []
    for i in range(4):
        low = rng.integers(0, 255, (32, 32)).astype(np.uint8)
        image = cv2.resize(low, (1024, 1024), interpolation=cv2.INTER_CUBIC)
        image = cv2.add(image, rng.integers(0, 6, image.shape, dtype=np.uint8))
        path = folder / f"xray_{i}.png"
        cv2.imwrite(str(path), image)
        paths.append(path)
    config = SerializeConfig()
    out_h, out_w = qwen_fixed_size(1024, 1024, max_side=config.max_side_2d)

    # The floor decodes each file and encodes the very image we publish (precomputed), so both
    # sides write the same PNG bytes: PNG cost depends on content, not only on size.
    published = [
        cv2.resize(
            cv2.imread(str(p), cv2.IMREAD_UNCHANGED), (out_w, out_h), interpolation=cv2.INTER_AREA
        )
        for p in paths
    ]
    start = time.perf_counter()
    for i in range(n):
        cv2.imdecode(np.fromfile(paths[i % 4], np.uint8), cv2.IMREAD_UNCHANGED)
        encode_png(published[i % 4])
    floor = n / (time.perf_counter() - start)

    start = time.perf_counter()
    for i in range(n):
        path = paths[i % 4]
        record = SourceRecord(
            source="bench", case_id=str(i), group_key="g", dims=2, modality="X-ray", image=path
        )
        case = normalize_case(Case(record=record, image=read_image_2d(path), labels={}))
        encode_png(serialize_case(case, config).images[0])
    ours = n / (time.perf_counter() - start)
    return ours, floor


# --- main ---------------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--quick", action="store_true", help="256x256x120 instead of 512x512x300")
    parser.add_argument("--data", type=Path, default=Path(tempfile.gettempdir()) / "bench_imaging")
    parser.add_argument("--only", nargs="*", choices=VARIANTS, help="run only these variants")
    parser.add_argument("--n2d", type=int, default=60, help="2D images to time")
    parser.add_argument("--repeat", type=int, default=1, help="runs per variant; the best counts")
    parser.add_argument("--child", choices=VARIANTS, help=argparse.SUPPRESS)
    parser.add_argument("--ct", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--seg", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child_main(args.child, args.ct, args.seg)
        return

    shape = (256, 256, 120) if args.quick else (512, 512, 300)
    args.data.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    ct, seg = make_volume(args.data, shape)
    print(f"data: {ct.name} + {seg.name} ({time.perf_counter() - start:.1f} s to prepare)")
    decoded_mb = np.prod(shape) * 2 / 2**20  # the int16 CT, the size the targets refer to
    print(f"decoded int16 CT: {decoded_mb:.0f} MB; cores: {os.cpu_count()}; K={K}, {SIZE}px")

    results: dict[str, dict[str, Any]] = {}
    for name in args.only or VARIANTS:
        # Best of N: other jobs on a shared machine only ever add time.
        runs = [spawn(name, ct, seg) for _ in range(args.repeat)]
        timed = [run for run in runs if "seconds" in run]
        results[name] = min(timed, key=lambda run: run["seconds"]) if timed else runs[0]
    floor = results.get("floor", {})
    print(f"\n{'variant':<13}{'wall s':>8}{'x floor':>9}{'peak MB':>9}{'x CT':>7}{'x floor':>9}")
    for name, report in results.items():
        if "error" in report:
            print(f"{name:<13}skipped: {report['error']}")
            continue
        seconds, peak = report["seconds"], report["peak_rss_mb"]
        time_ratio = seconds / floor["seconds"] if "seconds" in floor else float("nan")
        rss_ratio = peak / floor["peak_rss_mb"] if "peak_rss_mb" in floor else float("nan")
        print(
            f"{name:<13}{seconds:>8.2f}{time_ratio:>9.2f}{peak:>9.0f}{peak / decoded_mb:>7.2f}"
            f"{rss_ratio:>9.2f}"
        )
    for ours, other in (("ours", "monai"), ("ours_1mm", "monai_1mm"), ("ours", "torchio")):
        if "seconds" in results.get(ours, {}) and "seconds" in results.get(other, {}):
            speedup = results[other]["seconds"] / results[ours]["seconds"]
            print(f"{ours} is {speedup:.2f}x faster than {other}")
    if "ours" in results and "window" in results["ours"]:
        print(f"ours: window {results['ours']['window']}, {results['ours']['regions']} regions")

    ours_2d, floor_2d = max(bench_2d(args.data, args.n2d) for _ in range(args.repeat))
    print(
        f"\n2D 1024x1024 PNG -> published: ours {ours_2d:.1f} img/s, decode+encode floor "
        f"{floor_2d:.1f} img/s, ratio {ours_2d / floor_2d:.2f}"
    )


if __name__ == "__main__":
    main()
