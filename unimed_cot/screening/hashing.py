"""Perceptual hashes of published images and slice stacks, and the hash-list file format.

Two 64-bit hashes per image, both on the grayscale image:

* **pHash** — the sign of the 8x8 lowest-frequency DCT-II coefficients of the image resized to
  32x32 (area interpolation), against their median (DC excluded from the median). Robust to
  re-encoding, rescaling, mild contrast changes. ``cv2.img_hash`` would compute the same thing
  but lives in opencv-contrib, which the project does not depend on; the DCT is scipy's.
* **dHash** — the sign of horizontal gradients of the image resized to 9x8. Cheap, and a second
  opinion: a pair counts as a near duplicate only when both hashes are close, which removes most
  chance pHash collisions between different images of similar anatomy.

A 3D slice stack gets a **stack hash**: the bitwise majority of its slice hashes, so two stacks
whose slices are near duplicates have close stack hashes, and the stack hash is comparable with
the same Hamming distance as a single image.

Hash list files (``unimed-cot hash``) hold one image per line: ``PHASH DHASH NAME`` with both
hashes as 16 hex digits, after a ``#`` header line naming the format.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from scipy.fft import dctn

from unimed_cot.errors import UsageError
from unimed_cot.store.files import write_text_atomic

HASH_LIST_HEADER = "# unimed-cot image hashes v1: phash64 dhash64 name"
IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp"})
_PHASH_SIDE = 32
_PHASH_LOW = 8
_BITS = 1 << np.arange(63, -1, -1, dtype=np.uint64)  # bit weights, most significant first


@dataclass(frozen=True, slots=True)
class ImageHash:
    """The two perceptual hashes of one image (or one slice stack)."""

    phash: int
    dhash: int

    def hex(self) -> str:
        return f"{self.phash:016x} {self.dhash:016x}"


def _pack(bits: np.ndarray) -> int:
    return int(np.bitwise_or.reduce(_BITS[bits.ravel().astype(bool)], initial=np.uint64(0)))


def _gray(image: np.ndarray) -> np.ndarray:
    """2D float32 array of an image given as HxW, HxWx3 or HxWx4."""
    if image.ndim == 3:
        channels = image.shape[2]
        code = cv2.COLOR_BGRA2GRAY if channels == 4 else cv2.COLOR_BGR2GRAY
        image = cv2.cvtColor(image, code) if channels in (3, 4) else image[..., 0]
    if image.ndim != 2 or image.size == 0:
        raise ValueError(f"not an image: array of shape {image.shape}")
    return np.asarray(image, dtype=np.float32)


def hash_array(image: np.ndarray) -> ImageHash:
    """pHash and dHash of an image array (any dtype; colour is converted to gray)."""
    gray = _gray(image)
    small = cv2.resize(gray, (_PHASH_SIDE, _PHASH_SIDE), interpolation=cv2.INTER_AREA)
    low = dctn(small, type=2, norm="ortho")[:_PHASH_LOW, :_PHASH_LOW]
    phash = _pack(low > np.median(low.ravel()[1:]))
    tiny = cv2.resize(gray, (9, 8), interpolation=cv2.INTER_AREA)
    dhash = _pack(tiny[:, 1:] > tiny[:, :-1])
    return ImageHash(phash, dhash)


def hash_image_bytes(data: bytes) -> ImageHash:
    """Hashes of an encoded image (PNG, JPEG, ...), decoded as it is stored (8 or 16 bit).

    Raises:
        ValueError: when the bytes are not an image OpenCV can decode.
    """
    image = cv2.imdecode(np.frombuffer(data, dtype=np.uint8), cv2.IMREAD_UNCHANGED)
    if image is None:
        raise ValueError("bytes are not a decodable image")
    return hash_array(image)


def stack_hash(slices: Sequence[ImageHash]) -> ImageHash:
    """Bitwise majority of the slice hashes (ties count as 1); one slice gives its own hash."""
    if not slices:
        raise ValueError("a stack hash needs at least one slice")
    if len(slices) == 1:
        return slices[0]
    result = []
    for values in ([s.phash for s in slices], [s.dhash for s in slices]):
        words = np.array(values, dtype=np.uint64)
        bits = (words[:, None] & _BITS[None, :]) != 0
        result.append(_pack(bits.sum(axis=0) * 2 >= len(values)))
    return ImageHash(result[0], result[1])


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class HashCache:
    """Hashes of encoded images keyed by their sha256, so repeated images are decoded once.

    The rows of one case share their images (one row per question), so a release decodes each
    distinct image once.
    """

    def __init__(self) -> None:
        self._by_sha: dict[str, ImageHash] = {}

    def __len__(self) -> int:
        return len(self._by_sha)

    def of_sha(self, sha: str) -> ImageHash:
        """The hashes of an image already seen by ``get``, by its sha256."""
        return self._by_sha[sha]

    def get(self, data: bytes) -> tuple[str, ImageHash]:
        """(sha256, hashes) of ``data``.

        Raises:
            ValueError: when the bytes are not a decodable image.
        """
        sha = sha256_bytes(data)
        found = self._by_sha.get(sha)
        if found is None:
            found = self._by_sha[sha] = hash_image_bytes(data)
        return sha, found


def image_files(folder: Path) -> list[Path]:
    """Image files under ``folder`` (recursive), in a deterministic order."""
    return sorted(
        p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES
    )


def hash_folder(folder: Path) -> tuple[list[tuple[str, ImageHash]], list[str]]:
    """Hash every image under ``folder``.

    Returns:
        ``(name, hashes)`` per readable image (name relative to ``folder``), and the names of the
        files that could not be decoded.

    Raises:
        UsageError: when ``folder`` is not a folder.
    """
    if not folder.is_dir():
        raise UsageError(f"{folder} is not a folder of images")
    hashes: list[tuple[str, ImageHash]] = []
    unreadable: list[str] = []
    for path in image_files(folder):
        name = path.relative_to(folder).as_posix()
        try:
            hashes.append((name, hash_image_bytes(path.read_bytes())))
        except (OSError, ValueError):
            unreadable.append(name)
    return hashes, unreadable


def write_hash_list(path: Path, hashes: Iterable[tuple[str, ImageHash]]) -> int:
    """Write a hash list file; returns the number of lines written."""
    lines = [HASH_LIST_HEADER]
    for name, value in hashes:
        if any(c in name for c in "\r\n"):
            raise ValueError(f"image name {name!r} holds a line break")
        lines.append(f"{value.hex()} {name}")
    write_text_atomic(path, "\n".join(lines) + "\n")
    return len(lines) - 1


def read_hash_list(path: Path) -> list[tuple[str, ImageHash]]:
    """Read a file written by ``write_hash_list`` (or any ``PHASH DHASH NAME`` lines).

    Raises:
        UsageError: naming the file and line when a line is not two hex hashes and a name.
    """
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise UsageError(f"{path}: cannot read the hash list ({error})") from error
    result: list[tuple[str, ImageHash]] = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip() or line.startswith("#"):
            continue
        parts = line.split(" ", 2)
        try:
            if len(parts) < 2 or len(parts[0]) != 16 or len(parts[1]) != 16:
                raise ValueError("two hashes of 16 hex digits expected")
            phash, dhash = int(parts[0], 16), int(parts[1], 16)
        except ValueError as error:
            raise UsageError(
                f"{path}:{number}: not a hash list line 'PHASH DHASH NAME' ({error})"
            ) from error
        result.append((parts[2] if len(parts) > 2 else f"line{number}", ImageHash(phash, dhash)))
    return result


def load_hashes(path: Path) -> tuple[list[tuple[str, ImageHash]], list[str]]:
    """Hashes of a folder of images, or of a hash list file.

    Raises:
        UsageError: when ``path`` does not exist or is not readable as either.
    """
    if path.is_dir():
        return hash_folder(path)
    if path.is_file():
        return read_hash_list(path), []
    raise UsageError(f"{path} does not exist (give a folder of images or a hash list file)")
