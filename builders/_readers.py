"""Boxes drawn by several readers on one image -> the boxes a majority of them agree on.

VinDr-CXR's training images were each read independently by three radiologists, who often box
the same finding slightly differently; its notes say to fuse reader boxes before calling one the
ground truth. The fusion here is reader agreement, written by hand because the libraries for it
(``ensemble-boxes``: NMS, WBF) fuse *scored model predictions* and know nothing of readers: per
class, each reader's box joins the cluster whose fused box it overlaps most (IoU at least
``MERGE_IOU``) and that holds no box of the same reader yet, else starts one; a cluster's box is
the mean of its members' coordinates (weighted box fusion with equal weights). A cluster backed
by a majority of the image's readers is a finding; one backed by fewer is *uncertain*: neither
shown nor ever called absent.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

Box = tuple[float, float, float, float]
MERGE_IOU = 0.4  # the overlap at which two readers' boxes are read as one finding


@dataclass(frozen=True, slots=True)
class ReaderBox:
    reader: str
    label: str
    box: Box


@dataclass(slots=True)
class _Cluster:
    label: str
    members: list[ReaderBox] = field(default_factory=list)

    @property
    def readers(self) -> set[str]:
        return {m.reader for m in self.members}

    @property
    def box(self) -> Box:
        n = len(self.members)
        x1, y1, x2, y2 = (sum(m.box[i] for m in self.members) / n for i in range(4))
        return (x1, y1, x2, y2)


@dataclass(frozen=True, slots=True)
class Agreement:
    """What the readers of one image agree on.

    Attributes:
        boxes: (label, fused box) of every cluster backed by a majority of the readers.
        uncertain: labels with a cluster backed by fewer (never called absent).
        marked: every label any reader boxed.
    """

    boxes: tuple[tuple[str, Box], ...]
    uncertain: frozenset[str]
    marked: frozenset[str]


def box_iou(a: Box, b: Box) -> float:
    """Intersection over union of two continuous xyxy boxes."""
    width = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    height = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = width * height
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def agree(boxes: Iterable[ReaderBox], *, readers: int) -> Agreement:
    """Fuse the boxes of ``readers`` readers (see the module docstring); deterministic."""
    needed = readers // 2 + 1
    clusters: list[_Cluster] = []
    ordered = sorted(set(boxes), key=lambda b: (b.label, b.reader, b.box))
    for item in ordered:
        best: _Cluster | None = None
        best_iou = MERGE_IOU
        for cluster in clusters:
            if cluster.label != item.label or item.reader in cluster.readers:
                continue
            overlap = box_iou(cluster.box, item.box)
            if overlap >= best_iou:
                best, best_iou = cluster, overlap
        if best is None:
            best = _Cluster(label=item.label)
            clusters.append(best)
        best.members.append(item)
    agreed = tuple(sorted((c.label, c.box) for c in clusters if len(c.readers) >= needed))
    uncertain = frozenset(c.label for c in clusters if len(c.readers) < needed)
    return Agreement(boxes=agreed, uncertain=uncertain, marked=frozenset(c.label for c in clusters))
