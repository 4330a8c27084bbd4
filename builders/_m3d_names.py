"""M3D-Seg dataset codes, per-code terms, mask file names and index paths.

The 25 constituent datasets are coded ``0000``-``0024`` in the card's order (``0025`` exists
only in the M3D code). Their licenses are the upstream ones (``shared/sources/3d-sources.md``
§0); where the notes found none, the code is ``other`` and not redistributable.
"""

from __future__ import annotations

import re
from pathlib import PurePosixPath, PureWindowsPath

from ._common import is_safe_name

# code -> (dataset, SPDX license, may derivatives of the images be redistributed?)
DATASETS: dict[str, tuple[str, str, bool]] = {
    "0000": ("CHAOS", "other", False),
    "0001": ("HaN-Seg", "CC-BY-NC-ND-4.0", False),  # no derivatives
    "0002": ("AMOS22", "CC-BY-NC-4.0", True),  # conflicting terms: NC to be safe
    "0003": ("AbdomenCT-1K", "other", False),
    "0004": ("KiTS23", "CC-BY-NC-SA-4.0", True),
    "0005": ("KiPA22", "other", False),
    "0006": ("KiTS19", "CC-BY-NC-SA-4.0", True),
    "0007": ("BTCV", "other", False),
    "0008": ("Pancreas-CT", "other", False),
    "0009": ("3D-IRCADb", "other", False),
    "0010": ("FLARE22", "other", False),
    "0011": ("TotalSegmentator", "CC-BY-4.0", True),
    "0012": ("CT-ORG", "other", False),
    "0013": ("WORD", "other", False),
    "0014": ("VerSe19", "other", False),
    "0015": ("VerSe20", "other", False),
    "0016": ("SLIVER07", "other", False),
    "0017": ("QUBIQ", "other", False),
    "0018": ("MSD-Colon", "CC-BY-SA-4.0", True),
    "0019": ("MSD-HepaticVessel", "CC-BY-SA-4.0", True),
    "0020": ("MSD-Liver", "CC-BY-NC-SA-4.0", True),  # LiTS volumes: NC to be safe
    "0021": ("MSD-Lung", "CC-BY-SA-4.0", True),
    "0022": ("MSD-Pancreas", "CC-BY-SA-4.0", True),
    "0023": ("MSD-Spleen", "CC-BY-SA-4.0", True),
    "0024": ("LUNA16", "CC-BY-3.0", True),  # LIDC-IDRI via TCIA
    "0025": ("unknown (code only)", "other", False),
}
CODE = re.compile(r"^\d{4}$")
# Current layout: <code>/<case>/mask_(C, X, Y, Z).npz; older: <code>/gt/<case>.(C, X, Y, Z).npz
_SHAPE = re.compile(r"[_.]\((\s*\d+\s*(?:,\s*\d+\s*){3})\)\.npz$")
# The label-bug of VerSe (0014/0015): channel 20 repeats "lumbar spine L1" where L2 is meant.
_VERSE_CODES = frozenset({"0014", "0015"})


class LayoutError(ValueError):
    """An index entry or file name that does not follow either documented layout."""


class EscapingPathError(LayoutError):
    """An index path that is absolute (with a foreign tail) or climbs out of the folder."""


def terms(code: str) -> tuple[str, bool]:
    """(SPDX license, redistributable) of a dataset code; unknown codes are ``other``/no."""
    _, license_id, redistributable = DATASETS.get(code, ("", "other", False))
    return license_id, redistributable


def mask_shape(file_name: str) -> tuple[int, int, int, int]:
    """``(C, X, Y, Z)`` from ``mask_(C, X, Y, Z).npz`` (or the older ``<case>.(C, ...).npz``).

    Raises:
        LayoutError: the name holds no 4-integer shape or a zero size.
    """
    match = _SHAPE.search(file_name)
    if match is None:
        raise LayoutError(f"mask {file_name!r} does not end in (C, X, Y, Z).npz")
    c, x, y, z = (int(v) for v in match.group(1).split(","))
    if min(c, x, y, z) < 1:
        raise LayoutError(f"mask {file_name!r} has an empty dimension")
    return c, x, y, z


def class_names(code: str, names: list[str]) -> tuple[list[str], list[str]]:
    """Channel names made unique, and a history line per rename.

    VerSe's second ``lumbar spine L1`` (channel 20) is ``lumbar spine L2``; any other repeated
    name gets a ``#n`` suffix so that two channels never read as one structure.
    """
    fixed: list[str] = []
    notes: list[str] = []
    for channel, name in enumerate(names):
        new = name
        if new in fixed and code in _VERSE_CODES and name == "lumbar spine L1":
            new = "lumbar spine L2"
        count = 2
        while new in fixed:
            new = f"{name} #{count}"
            count += 1
        if new != name:
            notes.append(f"channel {channel} {name!r} repeats an earlier name; read as {new!r}")
        fixed.append(new)
    return fixed, notes


def entry_parts(path: str, code: str) -> tuple[str, ...]:
    """The parts of an index path below the ``M3D_Seg/`` root: ``(code, case, file)`` or the
    older ``(code, "ct"|"gt", file)``.

    Paths may be relative to the root (``0000/1/image.npy``) or to the code folder
    (``1/image.npy``). An absolute path (the generator can write its author's ``save_root``) is
    re-rooted only when its tail is ``<code>/<case>/<file>`` of this code; nothing outside the
    root is ever read.

    Raises:
        LayoutError: a path that escapes, is absolute with another tail, or has another depth.
    """
    if PurePosixPath(path).is_absolute() or PureWindowsPath(path).anchor:
        parts = PurePosixPath(path.replace("\\", "/")).parts
        if len(parts) >= 4 and parts[-3] == code and ".." not in parts:
            return tuple(parts[-3:])
        raise EscapingPathError(f"index path {path!r} is absolute and not under {code}/")
    if not is_safe_name(path):
        raise EscapingPathError(f"index path {path!r} leaves the M3D_Seg folder")
    parts = PurePosixPath(path).parts
    if parts and parts[0] == code and len(parts) == 3:
        return tuple(parts)
    if len(parts) == 2:
        return (code, *parts)
    raise LayoutError(f"index path {path!r} is not [<code>/]<case>/<file>")


# Entries of the release's class list that are no structure a distractor can stand for: numbered
# or misspelt copies of another entry (3D-IRCADb's "liver tumor 01", "liver kyst", "portal vein
# 1"), non-anatomical classes ("metal", "stones", "metastasectomie") and catch-alls that are a
# kind of many structures ("bone", "artery", "prostate or uterus"): as an option, a hypernym of
# the answer would be true too.
_NOT_DISTRACTORS = frozenset(
    {
        "additional 13th thoracic vertebra t13",
        "additional 13th thoracic vertebra, t13",
        "artery",
        "bone",
        "face",
        "liver kyst",
        "liver kyste",
        "metal",
        "metastasectomie",
        "prostate or uterus",
        "skin",
        "stones",
        "venous system",
    }
)
_NUMBERED = re.compile(r"^(?P<base>.+?) \d+$")


def distractor_names() -> frozenset[str]:
    """The structure names of M3D-Seg's whole class list (``_m3d_classes``) that can serve as
    distractors: the entries above and numbered copies of another entry left out (``rib left 9``
    stays: no entry is named ``rib left``)."""
    from ._m3d_classes import M3D_CLASSES

    every = {name for names in M3D_CLASSES.values() for name in names}
    kept = set()
    for name in every:
        numbered = _NUMBERED.match(name)
        if name.casefold() in _NOT_DISTRACTORS:
            continue
        if numbered and numbered["base"] in every:
            continue
        kept.add(name)
    return frozenset(kept)
