"""``dataset.json`` of a Decathlon task or an nnU-Net v2 raw dataset, parsed into one ``TaskSpec``.

The two formats differ (``shared/sources/3d-sources.md`` §1, §1.1):

* MSD (``TaskNN_Name``): ``labels`` value -> name, ``modality`` index -> channel name,
  ``tensorImageSize`` "3D"/"4D" (4D: channels on the last NIfTI axis), ``training`` a list of
  ``{"image", "label"}`` paths, ``test`` a list of plain image paths, ``licence`` (British).
* nnU-Net v2 (``DatasetNNN_Name``): ``labels`` name -> value, where a value may be a *list*
  (a region that unions labels), ``channel_names`` index -> name, ``file_ending``; cases are the
  ``imagesTr`` file names minus their ``_XXXX`` channel suffix.

One channel is read per case, chosen by name (``CHANNEL_PREFERENCE``: CT; else FLAIR, then T2,
then contrast T1, ...; else channel 0) and recorded in the case's history. A channel named CT
makes the record CT (HU windows); every other name is MR-like (percentile windows).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from unimed_cot.records import Terms

from ._labelviews import LabelView, union_view

# MR channel names, best first: FLAIR shows the whole tumour and oedema; T2 prostate zones.
CHANNEL_PREFERENCE = ("ct", "flair", "t2f", "t2", "t2w", "t1gd", "t1ce", "t1c", "t1", "t1w")
VOLUME_ENDINGS = (".nii.gz", ".nii", ".nrrd", ".mha")

# Decathlon label names that need their task to mean something ("Anterior", "cancer", "PZ").
TASK_LABELS: dict[str, dict[str, str]] = {
    "BrainTumour": {
        "edema": "peritumoral edema",
        "non-enhancing tumor": "non-enhancing tumor",
        "enhancing tumour": "enhancing tumor",
    },
    "Hippocampus": {"Anterior": "anterior hippocampus", "Posterior": "posterior hippocampus"},
    "Prostate": {"PZ": "prostate peripheral zone", "TZ": "prostate transition zone"},
    "Liver": {"cancer": "liver tumor"},
    "Lung": {"cancer": "lung tumor"},
    "Pancreas": {"cancer": "pancreas tumor"},
    "HepaticVessel": {"Vessel": "hepatic vessel", "Tumour": "liver tumor"},
    "Colon": {"colon cancer primaries": "colon cancer"},
}
# Unions the Decathlon BrainTumour task implies (the BraTS regions), by renamed label.
TASK_UNIONS: dict[str, dict[str, tuple[str, ...]]] = {
    "BrainTumour": {
        "tumor core": ("non-enhancing tumor", "enhancing tumor"),
        "whole tumor": ("peritumoral edema", "non-enhancing tumor", "enhancing tumor"),
    },
}
# Task03 Liver is LiTS: its CC-BY-SA label conflicts with LiTS's non-commercial terms.
TASK_TERMS = {"Liver": Terms(license="CC-BY-NC-SA-4.0", redistributable=True)}
_SPDX_OF = {
    "ccbysa40": "CC-BY-SA-4.0",
    "ccby40": "CC-BY-4.0",
    "ccbync40": "CC-BY-NC-4.0",
    "ccbyncsa40": "CC-BY-NC-SA-4.0",
    "ccbyncnd40": "CC-BY-NC-ND-4.0",
    "cc040": "CC0-1.0",
    "cc0": "CC0-1.0",
}
TASK_DIR = re.compile(r"^Task(\d{2,3})_(\w+)$")
DATASET_DIR = re.compile(r"^Dataset(\d{3})_(\w+)$")


class SpecError(ValueError):
    """A ``dataset.json`` that follows neither format (shown as a layout error)."""


@dataclass(frozen=True, slots=True)
class TaskSpec:
    """What one task folder's ``dataset.json`` says, in one shape for both formats.

    Attributes:
        nnunet: True for the nnU-Net v2 layout, False for the Decathlon release.
        labels: scalar label value -> name (renamed for Decathlon tasks, background dropped).
        views: the sub-regions view (when it has names) and one view per union region.
        declared: every label value the maps may hold.
        channel: the channel read, its name and how many channels the task has.
        file_ending: nnU-Net's ``file_ending`` (Decathlon: ".nii.gz").
        terms: the task's license terms.
        training: Decathlon ``training`` entries (raw JSON), nnU-Net: empty.
        test: Decathlon ``test`` entries (raw JSON), nnU-Net: empty.
    """

    nnunet: bool
    labels: dict[int, str]
    views: tuple[LabelView, ...]
    declared: frozenset[int]
    channel: tuple[int, str, int]
    file_ending: str
    terms: Terms
    modality: str
    training: tuple[Any, ...] = ()
    test: tuple[Any, ...] = ()

    @property
    def vocabulary(self) -> tuple[str, ...]:
        """Every region name of the task (distractors for one view's cases)."""
        return tuple(name for view in self.views for name in view.labels.values())

    def channel_line(self) -> str:
        index, name, count = self.channel
        return f"channel {index} ({name}) of {count}" if count > 1 else f"channel {name}"


def task_name(folder: str) -> str:
    """``BrainTumour`` of ``Task01_BrainTumour`` / ``Dataset001_BrainTumour``; else the name."""
    found = TASK_DIR.match(folder) or DATASET_DIR.match(folder)
    return found.group(2) if found else folder


def parse_spec(data: Any, folder: str) -> TaskSpec:
    """The ``TaskSpec`` of a parsed ``dataset.json`` of the task folder ``folder``."""
    if not isinstance(data, dict):
        raise SpecError("dataset.json must hold a JSON object")
    name = task_name(folder)
    if "channel_names" in data or "file_ending" in data:
        return _nnunet(data, name)
    if "modality" in data and "training" in data:
        return _decathlon(data, name)
    raise SpecError(
        "dataset.json has neither the Decathlon keys (modality, labels, training) nor nnU-Net "
        "v2's (channel_names, labels, file_ending)"
    )


def _channels(raw: Any, key: str) -> dict[int, str]:
    if not isinstance(raw, dict) or not raw:
        raise SpecError(f"dataset.json {key!r} must map channel indices to names")
    try:
        channels = {int(k): str(v).strip() for k, v in raw.items()}
    except ValueError as error:
        raise SpecError(f"dataset.json {key!r}: {error}") from error
    if sorted(channels) != list(range(len(channels))):
        raise SpecError(f"dataset.json {key!r} indices are not 0..N-1")
    return channels


def choose_channel(channels: Mapping[int, str]) -> tuple[int, str, int]:
    """(index, name, count) of the channel to read: the first name of ``CHANNEL_PREFERENCE``."""
    lowered = {index: name.casefold() for index, name in channels.items()}
    for wanted in CHANNEL_PREFERENCE:
        for index in sorted(lowered):
            if lowered[index] == wanted:
                return index, channels[index], len(channels)
    return 0, channels[0], len(channels)


def _terms(data: Mapping[str, Any], name: str) -> Terms:
    if name in TASK_TERMS:
        return TASK_TERMS[name]
    text = data.get("licence", data.get("license"))
    key = re.sub(r"[^a-z0-9]", "", str(text).casefold()) if text else ""
    spdx = _SPDX_OF.get(key)
    if spdx is None:
        return Terms(license="other", redistributable=False)
    return Terms(license=spdx, redistributable="nd" not in key)


def _modality(channel_name: str) -> str:
    return "CT" if channel_name.casefold() == "ct" else "MR"


def _decathlon(data: dict[str, Any], name: str) -> TaskSpec:
    channels = _channels(data["modality"], "modality")
    raw = data.get("labels")
    if not isinstance(raw, dict):
        raise SpecError("dataset.json 'labels' must map values to names")
    try:
        by_value = {int(k): str(v).strip() for k, v in raw.items()}
    except ValueError as error:
        raise SpecError(f"dataset.json 'labels': {error}") from error
    renames = TASK_LABELS.get(name, {})
    labels = {v: renames.get(n, n) for v, n in sorted(by_value.items()) if v != 0}
    values = {n: v for v, n in labels.items()}
    unions = {
        union: tuple(sorted(values[m] for m in members))
        for union, members in TASK_UNIONS.get(name, {}).items()
        if all(m in values for m in members)
    }
    training, test = data.get("training", []), data.get("test", [])
    if not isinstance(training, list) or not isinstance(test, list):
        raise SpecError("dataset.json 'training' and 'test' must be lists")
    channel = choose_channel(channels)
    four_d = str(data.get("tensorImageSize", "3D")).upper() == "4D"
    if four_d != (len(channels) > 1):
        raise SpecError(
            f"dataset.json: tensorImageSize {data.get('tensorImageSize')!r} but "
            f"{len(channels)} modality channels"
        )
    return TaskSpec(
        nnunet=False,
        labels=labels,
        views=_views(labels, unions),
        declared=frozenset(labels),
        channel=channel,
        file_ending=".nii.gz",
        terms=_terms(data, name),
        modality=_modality(channel[1]),
        training=tuple(training),
        test=tuple(test),
    )


def _nnunet(data: dict[str, Any], name: str) -> TaskSpec:
    channels = _channels(data.get("channel_names"), "channel_names")
    ending = data.get("file_ending")
    if not isinstance(ending, str) or not ending.startswith("."):
        raise SpecError("dataset.json 'file_ending' must be a suffix such as '.nii.gz'")
    raw = data.get("labels")
    if not isinstance(raw, dict) or "background" not in raw:
        raise SpecError("dataset.json 'labels' must map names to values, background included")
    labels: dict[int, str] = {}
    unions: dict[str, tuple[int, ...]] = {}
    renames = TASK_LABELS.get(name, {})  # a converted Decathlon task keeps its short names
    for label, value in raw.items():
        members = value if isinstance(value, list) else [value]
        if not members or not all(isinstance(v, int) and v >= 0 for v in members):
            raise SpecError(f"dataset.json label {label!r}: {value!r} is not a label value")
        if label == "background":
            continue
        if len(members) == 1 and members[0] not in labels:
            labels[members[0]] = renames.get(str(label), str(label))
        else:
            unions[str(label)] = tuple(sorted(set(members)))
    declared = frozenset(labels) | frozenset(v for m in unions.values() for v in m)
    channel = choose_channel(channels)
    return TaskSpec(
        nnunet=True,
        labels=dict(sorted(labels.items())),
        views=_views(dict(sorted(labels.items())), unions),
        declared=declared,
        channel=channel,
        file_ending=ending,
        terms=_terms(data, name),
        modality=_modality(channel[1]),
    )


def view_key(name: str) -> str:
    """A union's suffix in case ids: "tumor core" -> "tumor_core"."""
    return re.sub(r"[^a-z0-9]+", "_", name.casefold()).strip("_") or "region"


def _views(labels: dict[int, str], unions: dict[str, tuple[int, ...]]) -> tuple[LabelView, ...]:
    views: list[LabelView] = []
    if labels:
        views.append(LabelView(key="", regions={v: (n, (v,)) for v, n in sorted(labels.items())}))
    keys = {view_key(n) for n in unions}
    if len(keys) != len(unions):
        raise SpecError("dataset.json: two region names give one case-id suffix")
    views += [union_view(view_key(n), n, values) for n, values in unions.items()]
    if not views:
        raise SpecError("dataset.json names no label besides background")
    return tuple(views)
