"""Serialization: slice picking, radiological view, windows, padding, sizes and exact boxes."""

from __future__ import annotations

import itertools
import math
from pathlib import Path

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from unimed_cot.imaging import (
    ImagingError,
    SerializeConfig,
    normalize_case,
    qwen_fixed_size,
    read_label_volume,
    read_volume,
    serialize_case,
    write_nifti,
)
from unimed_cot.records import Case, Dims, Image2D, SourceRecord, Volume

# Canonical phantom: 126 (L axis) x 84 (P axis) x 16 (S axis) voxels of 1 x 1 x 2 mm.
SHAPE = (126, 84, 16)
X, Y, Z = SHAPE
LPS = np.array([[-1.0, 0, 0, 60], [0, -1.0, 0, 40], [0, 0, 2.0, -50], [0, 0, 0, 1]])
LABELS = {1: "liver", 2: "spleen", 3: "tumor"}


def lps_phantom() -> tuple[np.ndarray, np.ndarray]:
    """CT in HU and labels: liver on patient RIGHT (small i), spleen on patient LEFT (large i)."""
    ct = np.full(SHAPE, -1000.0, dtype=np.float32)
    labels = np.zeros(SHAPE, dtype=np.uint8)
    ct[3:123, 2:82, :] = 0.0  # body
    labels[20:50, 10:40, 2:8] = 1  # liver: right, anterior, inferior half
    labels[80:100, 46:70, 8:14] = 2  # spleen: left, posterior, superior half
    labels[30:36, 20:26, 4:6] = 3  # tumor inside the liver
    ct[labels == 1] = 100.0
    ct[labels == 2] = 200.0
    ct[labels == 3] = 30.0
    return ct, labels


def as_ras(array: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    flip = np.array([[-1.0, 0, 0, X - 1], [0, -1, 0, Y - 1], [0, 0, 1, 0], [0, 0, 0, 1]])
    return np.ascontiguousarray(array[::-1, ::-1, :]), LPS @ flip


def as_pir(array: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    # pir[a, b, c] = lps[X-1-c, a, Z-1-b]
    voxel_map = np.array([[0.0, 0, -1, X - 1], [1, 0, 0, 0], [0, -1, 0, Z - 1], [0, 0, 0, 1]])
    return np.ascontiguousarray(np.transpose(array, (1, 2, 0))[:, ::-1, ::-1]), LPS @ voxel_map


def make_case(
    image: Volume | Image2D,
    label_map: Volume | Image2D | None,
    *,
    modality: str = "CT",
    labels: dict[int, str] | None = None,
    lesions: frozenset[str] = frozenset({"tumor"}),
) -> Case:
    dims: Dims = 3 if isinstance(image, Volume) else 2
    record = SourceRecord(
        source="test", case_id="c1", group_key="p1", dims=dims, modality=modality, image=Path("x")
    )
    return Case(
        record=record,
        image=image,
        labels=dict(LABELS if labels is None else labels),
        label_map=label_map,
        lesion_labels=lesions,
    )


def phantom_case(orientation: str, tmp_path: Path) -> Case:
    """Write the phantom in the given orientation as NIfTI, read it back, normalize it."""
    ct, labels = lps_phantom()
    convert = {"LPS": lambda a: (a, LPS), "RAS": as_ras, "PIR": as_pir}[orientation]
    image_array, affine = convert(ct)
    label_array, _ = convert(labels)
    write_nifti(Volume(array=image_array, affine=affine), tmp_path / f"{orientation}.nii.gz")
    write_nifti(Volume(array=label_array, affine=affine), tmp_path / f"{orientation}_seg.nii.gz")
    image = read_volume(tmp_path / f"{orientation}.nii.gz")
    assert "".join(image.axcodes) == orientation
    label_map = read_label_volume(tmp_path / f"{orientation}_seg.nii.gz")
    return normalize_case(make_case(image, label_map))


# Uniform picking: these tests pin exact slice positions and boxes (the default "roi" strategy has
# its own tests below).
CONFIG = SerializeConfig(n_slices=8, slice_size=252, strategy="uniform")


def test_laterality_is_radiological_whatever_the_input_orientation(tmp_path: Path) -> None:
    results = {o: serialize_case(phantom_case(o, tmp_path), CONFIG) for o in ("LPS", "RAS", "PIR")}
    reference = results["LPS"]
    for other in ("RAS", "PIR"):
        assert len(results[other].images) == 8
        for mine, theirs in zip(reference.images, results[other].images, strict=True):
            np.testing.assert_array_equal(mine, theirs)
        assert results[other].regions == reference.regions
        assert results[other].slice_positions_mm == pytest.approx(reference.slice_positions_mm)

    # Slice 2 is k=5: liver (k 2..7) but no spleen. Liver (patient right) is in the image LEFT half.
    slice_2 = reference.images[2]
    assert slice_2.shape == (252, 252) and slice_2.dtype == np.uint8
    assert slice_2[110, 90] == 159  # liver, 100 HU in W400 L50: (100 + 150) / 400 * 255
    assert slice_2[110, 252 - 90] == 96  # body, 0 HU, mirror position
    assert slice_2[88, 66] == 115  # the tumor inside the liver, 30 HU
    slice_5 = reference.images[5]  # k=11: spleen only, on the image RIGHT
    assert slice_5[158, 180] == 223  # 200 HU
    assert slice_5[158, 252 - 180] == 96

    liver, spleen = reference.regions[0], reference.regions[1]
    assert (liver.label, spleen.label) == ("liver", "spleen")
    assert liver.facts is not None and spleen.facts is not None
    assert liver.facts.centroid[0] < 126 < spleen.facts.centroid[0]
    assert (liver.facts.side, liver.facts.ap) == ("right", "anterior")
    assert (spleen.facts.side, spleen.facts.ap) == ("left", "posterior")
    assert reference.orientation_known


def test_boxes_positions_and_spacing_are_exact(tmp_path: Path) -> None:
    case = phantom_case("RAS", tmp_path)
    out = serialize_case(case, CONFIG)
    # 16 body slices -> K=8 at bin centres k = 1, 3, ..., 15; 84 rows padded to 126 (21 on top),
    # then every axis x2 to 252.
    assert out.slice_positions_mm == pytest.approx([-50 + 2 * k for k in range(1, 16, 2)])
    assert out.spacing_mm == pytest.approx([0.5, 0.5, 4.0])
    assert out.plane == "axial"
    assert out.window == "CT abdomen W400 L50"
    by_id = {region.id: region for region in out.regions}
    assert [by_id[i].label for i in ("R1", "R2", "R3")] == ["liver", "spleen", "tumor"]
    # liver i 20..49 -> x 40..99; j 10..39 -> y (10+21)*2..; k 2..7 -> picked 3, 5, 7 = z 1..3
    assert by_id["R1"].box == (40, 62, 1, 100, 122, 4)
    assert by_id["R2"].box == (160, 134, 4, 200, 182, 7)  # k 8..13 -> picked 9, 11, 13
    tumor = by_id["R3"]
    assert tumor.box == (60, 82, 2, 72, 94, 3)  # k 4..5 -> picked 5 only
    assert tumor.is_lesion and tumor.host == "liver"
    assert not by_id["R1"].is_lesion and by_id["R1"].host == ""
    assert tumor.facts is not None and by_id["R1"].facts is not None
    assert tumor.facts.area_px == 144
    assert tumor.facts.size_mm == pytest.approx(0.144)  # published grid: 144 x 0.5 x 0.5 x 4 mm³
    # Organs are measured exactly on the canonical grid: (30*30*6 - 6*6*2) voxels of 2 mm³.
    assert by_id["R1"].facts.size_mm == pytest.approx((30 * 30 * 6 - 72) * 2 / 1000)
    assert by_id["R1"].facts.centroid == pytest.approx((70.0, 92.0, 2.5), abs=0.2)
    assert any(line.startswith("regions: 3 kept, 0 component(s)") for line in case.history)


def test_short_volume_gives_fewer_slices_without_repeats(tmp_path: Path) -> None:
    case = phantom_case("LPS", tmp_path)
    out = serialize_case(case, SerializeConfig(n_slices=32))
    assert len(out.images) == 16
    assert out.slice_positions_mm == pytest.approx([-50 + 2 * k for k in range(16)])
    assert out.spacing_mm[2] == pytest.approx(2.0)
    assert any("16 axial slices" in line and "fewer than the 32" in line for line in case.history)


def test_slices_are_picked_over_the_body_extent_only() -> None:
    ct, labels = lps_phantom()
    ct[:, :, :2] = -1000.0
    ct[:, :, 14:] = -1000.0
    case = make_case(Volume(array=ct, affine=LPS), Volume(array=labels, affine=LPS))
    out = serialize_case(case, SerializeConfig(n_slices=6, strategy="uniform"))
    # body slices 2..13 (12) -> 6 bins of 2 -> k = 3, 5, ..., 13
    assert out.slice_positions_mm == pytest.approx([-50 + 2 * k for k in (3, 5, 7, 9, 11, 13)])


def test_ct_window_follows_the_labels() -> None:
    ct, _ = lps_phantom()
    image = Volume(array=ct, affine=LPS)
    lung = serialize_case(make_case(image, None, labels={1: "lung nodule"}), CONFIG)
    brain = serialize_case(make_case(image, None, labels={1: "lateral ventricle"}), CONFIG)
    assert lung.window == "CT lung W1500 L-600"
    assert brain.window == "CT brain W80 L40"
    assert lung.regions == []
    # Air (-1000 HU) and the padding are (−1000 + 1350) / 1500 in the lung window, not black.
    assert lung.images[0][0, 0] == lung.images[0][126, 1] == 60
    assert brain.images[2][110, 90] == 255  # 100 HU is above the brain window


def test_mr_uses_foreground_percentiles_and_pads_with_the_minimum() -> None:
    rng = np.random.default_rng(1)
    mr = np.zeros(SHAPE, dtype=np.float32)
    mr[3:123, 2:82, :] = rng.uniform(200, 1200, size=(120, 80, Z))
    case = make_case(Volume(array=mr, affine=LPS), None, modality="MR", labels={})
    out = serialize_case(case, CONFIG)
    assert out.window == "MR percentile p1-p99"
    stack = np.stack(out.images)
    assert stack[:, :40, :].max() == 0  # padded rows and air
    body = stack[:, 70:190, 20:230]
    # p1..p99 stretched to the full range (bilinear upsampling smooths the extremes a little)
    assert body.min() <= 5 and body.max() >= 250
    assert 100 < body.mean() < 155


def test_unnormalized_or_blank_volumes_are_refused() -> None:
    ct, _ = lps_phantom()
    ras_ct, ras_affine = as_ras(ct)
    with pytest.raises(ImagingError, match="normalized"):
        serialize_case(make_case(Volume(array=ras_ct, affine=ras_affine), None), CONFIG)
    blank = np.full(SHAPE, -1000.0, dtype=np.float32)
    with pytest.raises(ImagingError, match="blank"):
        serialize_case(make_case(Volume(array=blank, affine=LPS), None), CONFIG)


def test_2d_uint8_is_kept_and_boxes_are_exact() -> None:
    image = np.tile(np.arange(504, dtype=np.uint16) // 2, (504, 1)).astype(np.uint8)
    labels = np.zeros((504, 504), dtype=np.uint8)
    labels[100:200, 50:150] = 1
    labels[300:302, 300:302] = 2  # -> 1 published pixel: dropped
    labels[400:404, 400:404] = 2  # -> 2x2 published pixels: kept
    case = make_case(
        Image2D(array=image, spacing_mm=(0.5, 0.5)),
        Image2D(array=labels),
        labels={1: "liver", 2: "nodule"},
        lesions=frozenset({"nodule"}),
    )
    out = serialize_case(case, SerializeConfig(max_side_2d=252))
    assert out.images[0].shape == (252, 252)
    assert out.window == ""
    np.testing.assert_array_equal(out.images[0][0, :4], [0, 1, 2, 3])  # area average of 2x2
    assert out.spacing_mm == [1.0, 1.0]
    assert out.slice_positions_mm == [] and out.plane == "" and not out.orientation_known
    liver, nodule = out.regions
    assert (liver.id, liver.box) == ("R1", (25, 50, 75, 100))
    assert (nodule.id, nodule.box, nodule.is_lesion) == ("R2", (200, 200, 202, 202), True)
    assert liver.facts is not None and liver.facts.size_mm == pytest.approx(2500.0)
    assert liver.facts.side == ""
    assert case.history[-1] == "regions: 2 kept, 1 component(s) smaller than 4 px dropped"


def test_2d_sizes_are_qwen_fixed_and_16_bit_is_windowed() -> None:
    rng = np.random.default_rng(2)
    image = rng.integers(0, 4096, size=(300, 500)).astype(np.uint16)
    case = make_case(Image2D(array=image), None, modality="X-ray", labels={})
    out = serialize_case(case, SerializeConfig())
    assert out.images[0].shape == (280, 448)
    assert out.images[0].dtype == np.uint8
    assert out.window == "X-ray percentile p1-p99"
    assert out.spacing_mm == []


def test_2d_rgb_stays_rgb() -> None:
    image = np.zeros((100, 60, 3), dtype=np.uint8)
    image[..., 0] = 250
    out = serialize_case(make_case(Image2D(array=image), None, labels={}), SerializeConfig())
    assert out.images[0].shape == (112, 56, 3)
    assert out.images[0][5, 5].tolist() == [250, 0, 0]


@pytest.mark.parametrize(
    "kwargs", [{"slice_size": 250}, {"n_slices": 0}, {"plane": "coronal"}, {"max_side_2d": 28}]
)
def test_bad_config_is_refused(kwargs: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        SerializeConfig(**kwargs)  # type: ignore[arg-type]


# --- qwen_fixed_size ----------------------------------------------------------------------------


def smart_resize(
    height: int,
    width: int,
    factor: int = 28,
    min_pixels: int = 3136,
    max_pixels: int = 12_845_056,
) -> tuple[int, int]:
    """Qwen2.5-VL's ``smart_resize`` (transformers ``image_processing_qwen2_vl``), rewritten."""
    if max(height, width) / min(height, width) > 200:
        raise ValueError("absolute aspect ratio must be smaller than 200")
    h_bar = max(factor, round(height / factor) * factor)
    w_bar = max(factor, round(width / factor) * factor)
    if h_bar * w_bar > max_pixels:
        beta = math.sqrt((height * width) / max_pixels)
        h_bar = max(factor, math.floor(height / beta / factor) * factor)
        w_bar = max(factor, math.floor(width / beta / factor) * factor)
    elif h_bar * w_bar < min_pixels:
        beta = math.sqrt(min_pixels / (height * width))
        h_bar = math.ceil(height * beta / factor) * factor
        w_bar = math.ceil(width * beta / factor) * factor
    return h_bar, w_bar


@settings(max_examples=400, deadline=None)
@given(
    height=st.integers(1, 8000),
    width=st.integers(1, 8000),
    max_side=st.integers(56, 5000),
    min_side=st.integers(1, 120),
)
def test_qwen_fixed_size_is_a_smart_resize_fixed_point(
    height: int, width: int, max_side: int, min_side: int
) -> None:
    largest = min(max_side // 28 * 28, 3584)
    smallest = max(28, math.ceil(min_side / 28) * 28)
    assume(largest >= smallest)
    h, w = qwen_fixed_size(height, width, max_side=max_side, min_side=min_side)
    assert h % 28 == 0 and w % 28 == 0
    assert smallest <= min(h, w) and max(h, w) <= min(max_side, 3584)
    assert smart_resize(h, w) == (h, w)

    ratio = max(height, width) / min(height, width)
    if smallest < 56:
        return  # sides below 56 may be enlarged further to reach Qwen's 56x56 pixel minimum
    if max(height, width) > largest and ratio * smallest <= largest:
        # Shrunk to fit: the long side is the largest allowed, the short side the nearest
        # multiple of 28 to its exact scaled length (the best aspect for that long side).
        long_side, short_side = max(h, w), min(h, w)
        assert long_side == largest
        assert abs(short_side - largest / ratio) <= 14 or short_side == smallest
    if smallest <= min(height, width) and max(height, width) <= largest:
        # Already fits: each side moves to its nearest multiple of 28.
        assert abs(h - height) <= 14 and abs(w - width) <= 14


@pytest.mark.parametrize(
    ("size", "max_side", "expected"),
    [((504, 504), 448, (448, 448)), ((300, 500), 448, (280, 448)), ((10, 10), 448, (56, 56))],
)
def test_qwen_fixed_size_examples(
    size: tuple[int, int], max_side: int, expected: tuple[int, int]
) -> None:
    assert qwen_fixed_size(*size, max_side=max_side) == expected


# --- strategies and resampling ------------------------------------------------------------------


def _long_case() -> Case:
    """300 slices of 1 mm; a liver over slices 40..259 and a 2-slice tumor at slices 151..152."""
    shape = (64, 64, 300)
    ct = np.full(shape, -1000.0, dtype=np.float32)
    ct[4:60, 4:60, 10:290] = 40.0
    labels = np.zeros(shape, dtype=np.uint8)
    labels[10:40, 10:40, 40:260] = 1
    labels[20:30, 20:30, 151:153] = 3
    labels[21:29, 21:29, 152] = 0  # slice 151 is the tumor's largest
    affine = np.diag([-1.0, -1.0, 1.0, 1.0])
    return make_case(Volume(array=ct, affine=affine), Volume(array=labels, affine=affine))


def test_roi_strategy_keeps_every_region_span() -> None:
    uniform_case, roi_case = _long_case(), _long_case()
    uniform = serialize_case(uniform_case, SerializeConfig(n_slices=32, strategy="uniform"))
    roi = serialize_case(roi_case, SerializeConfig(n_slices=32))  # roi is the default
    assert [r.label for r in uniform.regions] == ["liver"]  # uniform bins skip slices 151-152
    assert len(roi.images) == 32
    positions = roi.slice_positions_mm
    assert all(b > a for a, b in itertools.pairwise(positions))
    for needed in (40.0, 259.0, 151.0, 152.0):  # liver first/largest and last, tumor span
        assert needed in positions
    tumor = next(r for r in roi.regions if r.label == "tumor")
    assert tumor.is_lesion and tumor.host == "liver"
    z1, z2 = tumor.box[2], tumor.box[5]
    assert [positions[z] for z in range(z1, z2)] == [151.0, 152.0]
    assert tumor.facts is not None and tumor.facts.largest_slice == z1
    assert any("roi: 2 region span(s) need 4 slice(s)" in line for line in roi_case.history)
    # The rest is spread over the body (slices 10..289): first and last picks are near its ends.
    assert positions[0] < 25 and positions[-1] > 275


def test_roi_without_labels_is_uniform() -> None:
    ct, _ = lps_phantom()
    plain = serialize_case(make_case(Volume(array=ct, affine=LPS), None), CONFIG)
    roi = serialize_case(
        make_case(Volume(array=ct, affine=LPS), None),
        SerializeConfig(n_slices=8, strategy="roi"),
    )
    assert roi.slice_positions_mm == plain.slice_positions_mm


@pytest.mark.parametrize(
    "config",
    [
        SerializeConfig(n_slices=8, strategy="roi"),
        SerializeConfig(n_slices=8, target_spacing_mm=(1.5, 1.5, 1.0)),
    ],
)
def test_ras_and_lps_serialize_identically_with_roi_and_resampling(
    tmp_path: Path, config: SerializeConfig
) -> None:
    lps = serialize_case(phantom_case("LPS", tmp_path), config)
    ras = serialize_case(phantom_case("RAS", tmp_path), config)
    assert len(lps.images) == len(ras.images) == 8
    for mine, theirs in zip(lps.images, ras.images, strict=True):
        np.testing.assert_array_equal(mine, theirs)
    assert ras.regions == lps.regions and len(lps.regions) == 3
    assert ras.slice_positions_mm == pytest.approx(lps.slice_positions_mm)


def test_bad_strategy_is_refused() -> None:
    with pytest.raises(ValueError, match="strategy"):
        SerializeConfig(strategy="random")  # type: ignore[arg-type]
