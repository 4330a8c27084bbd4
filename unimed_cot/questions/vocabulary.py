"""One vocabulary for every question family: aliases, kinds, parts, and what a finding is.

Sources name one structure many ways ("gall bladder" / "gallbladder", "postcava" / "inferior
vena cava", ``kidney_left`` / "left kidney", "tumour" / "tumor") and pool names of different
granularity ("kidney" next to "right kidney", "tumor" next to "liver tumor"). A question whose
options hold two names of one structure, or a name and its hypernym, has two right answers. This
module says when two names are related, in three ways:

* **alias** — the same structure: both names have one ``canonical`` form (spelling, separators,
  word order of side words, plurals, and the alias table ``ALIASES``);
* **kind** — one is a kind of the other (``kinds``): "left kidney" is a "kidney", "liver tumor"
  is a "tumor" is a "lesion", "rib 3" is a "rib" (side and number qualifiers, the head noun of a
  finding, and the table ``KIND_OF``);
* **part** — one lies within the other (``wholes``): "liver left lobe" and "liver tumor" lie in
  the "liver", "caudate lobe" in the liver, "renal pelvis" in the kidney (a name that extends
  another name word by word lies within it, plus the table ``PART_OF``).

``related`` (any of the three) keeps option sets apart; ``same_or_kind`` (alias or kind, not
part) decides whether a structure can be called absent: a case with a "liver tumor" has a
"tumor", but a case with a "liver" need not have a "liver tumor".

``is_finding`` is the one home of "does this label name a finding (lesion) rather than anatomy",
for sources that do not say which of their labels are lesions.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from functools import cache

# Words that name findings rather than anatomy (the union of the lists the question generator
# and the seed-source builders kept separately before). "cystic duct" is anatomy.
FINDING_WORDS = re.compile(
    r"tumou?r|lesion|nodule|mass\b|masses|cyst(?!ic duct)|kyst|metasta|cancer|carcinoma|"
    r"neoplasm|polyp|h(a)?emorrhage|bleed|o?edema|infarct|stone|calcul|fracture|effusion|"
    r"pneumothorax|consolidation|opacity|abscess|necro|enhancing|malignan|benign|aneurysm|"
    r"thromb|embol|pneumonia|melanoma|nevus|ulcer|infection|covid|stroke|plaque",
    re.IGNORECASE,
)

# Spelling variants, applied word by word after lower-casing (British -> American, typos seen
# in public class lists: 3D-IRCADb's "kyst"/"kyste", "small intestin").
_SPELLING = {
    "tumour": "tumor",
    "tumours": "tumors",
    "oesophagus": "esophagus",
    "oedema": "edema",
    "haemorrhage": "hemorrhage",
    "haemorrhages": "hemorrhages",
    "kyst": "cyst",
    "kyste": "cyst",
    "intestin": "intestine",
    "foetus": "fetus",
    "haematoma": "hematoma",
    "vertebrae": "vertebra",
}
# Plurals that name the same class as their singular ("kidneys" annotates both kidneys).
_PLURALS = {
    "kidneys": "kidney",
    "lungs": "lung",
    "tumors": "tumor",
    "cysts": "cyst",
    "nodules": "nodule",
    "lesions": "lesion",
    "stones": "stone",
    "ribs": "rib",
    "metastases": "metastasis",
    "masses": "mass",
    "vessels": "vessel",
    "polyps": "polyp",
    "hemorrhages": "hemorrhage",
    "adrenals": "adrenal",
    "adrenal glands": "adrenal gland",
}
_SIDES = ("left", "right")
# A trailing instance number: "rib 3", "liver tumor 01", "vertebra l1", "c7".
_INSTANCE = re.compile(r"^(?:[a-z]?\d+[a-z]?|[ivx]+)$")
_CONNECTORS = {"of", "and", "or", "the", "with"}

# Different names of one structure: canonical form -> other (already normalized) spellings.
ALIASES: dict[str, tuple[str, ...]] = {
    "gallbladder": ("gall bladder",),
    # Latin-rooted adjectives of the organ in finding names.
    "kidney cyst": ("renal cyst",),
    "kidney tumor": ("renal tumor", "renal mass"),
    "liver tumor": ("hepatic tumor",),
    "inferior vena cava": ("postcava", "ivc", "vena cava inferior", "inferior vena cava ivc"),
    "superior vena cava": ("svc", "vena cava superior"),
    "urinary bladder": ("bladder",),
    "adrenal gland": ("adrenal", "suprarenal gland", "suprarenal"),
    "small bowel": ("small intestine", "intestine small"),
    "colon": ("large bowel", "large intestine"),
    "portal vein and splenic vein": ("portal and splenic vein", "portal vein splenic vein"),
    "hepatic vessel": ("hepatic vessels", "liver vessel"),
    "femoral head": ("head of femur", "femur head"),
    "autochthonous muscle": ("autochthon",),
    "clavicle": ("clavicula",),
    "brainstem": ("brain stem",),
    "spinal cord": ("cord",),
    "lung tumor": ("pulmonary tumor",),
    "lung nodule": ("pulmonary nodule",),
    "pancreatic lesion": ("pancreas lesion",),
    "tumor": ("neoplasm",),
    "metastasis": ("metastatic lesion",),
    "interstitial lung disease": ("ild",),
    "enlarged pulmonary artery": ("enlarged pa",),
    # TotalSegmentator's Latin file stems (iliac_vena_left, costal_cartilages).
    "iliac vein": ("iliac vena",),
    "costal cartilage": ("costal cartilages",),
    # BraTS 2023+ calls the oedema "surrounding non-enhancing FLAIR hyperintensity" (SNFH).
    "peritumoral edema": ("surrounding non enhancing flair hyperintensity", "snfh"),
}
# Is-a links beyond the rules (child -> parents), between canonical forms.
KIND_OF: dict[str, tuple[str, ...]] = {
    "tumor": ("lesion",),
    "cyst": ("lesion",),
    "nodule": ("lesion",),
    "mass": ("lesion",),
    "polyp": ("lesion",),
    "abscess": ("lesion",),
    "metastasis": ("tumor",),
    "cancer": ("tumor",),
    "carcinoma": ("cancer",),
    "enhancing tumor": ("tumor",),
    "non enhancing tumor": ("tumor",),
    "hepatic vessel": ("vessel",),
    "lumbar spine": ("vertebra",),
    "thoracic spine": ("vertebra",),
    "cervical spine": ("vertebra",),
    "inferior vena cava": ("vena cava",),
    "superior vena cava": ("vena cava",),
    "small bowel": ("bowel", "intestine"),
    "colon": ("bowel", "intestine"),
    "duodenum": ("small bowel",),
    # VinDr-CXR: "Lung Opacity" is the readers' umbrella for the parenchymal opacities, and
    # "Nodule/Mass" is one class for both.
    "consolidation": ("lung opacity",),
    "infiltration": ("lung opacity",),
    "atelectasis": ("lung opacity",),
    "edema": ("lung opacity",),
    "nodule mass": ("nodule", "mass", "lung opacity"),
    "pulmonary fibrosis": ("interstitial lung disease",),
}
# Part-of links beyond the word-prefix rule (part -> wholes), between canonical forms.
PART_OF: dict[str, tuple[str, ...]] = {
    "caudate lobe": ("liver",),
    "renal pelvis": ("kidney",),
    "renal cortex": ("kidney",),
    "renal medulla": ("kidney",),
    "vertebra": ("spine",),
    "lateral ventricle": ("brain",),
    "third ventricle": ("brain",),
    "fourth ventricle": ("brain",),
    "white matter": ("brain",),
    "grey matter": ("brain",),
    "gray matter": ("brain",),
    "cerebellum": ("brain",),
    "brainstem": ("brain",),
    "hippocampus": ("brain",),
    "thalamus": ("brain",),
    "myocardium": ("heart",),
    "atrial appendage": ("heart",),
    "heart atrium": ("heart",),
    "heart ventricle": ("heart",),
    "heart myocardium": ("heart",),
    "upper lobe": ("lung",),
    "middle lobe": ("lung",),
    "lower lobe": ("lung",),
    "trachea": ("airway",),
    "bronchus": ("airway",),
    "atrium": ("heart",),
    "anterior hippocampus": ("hippocampus",),
    "posterior hippocampus": ("hippocampus",),
    # Brain tumour sub-regions and their unions (BraTS, MSD Task01): the tumour core is the
    # necrotic / non-enhancing core plus the enhancing tumour; the whole tumour adds the oedema.
    "necrotic tumor core": ("tumor core",),
    "non enhancing tumor core": ("tumor core",),
    "non enhancing tumor": ("tumor core",),
    "enhancing tumor": ("tumor core",),
    "tumor core": ("whole tumor",),
    "peritumoral edema": ("whole tumor",),
}

_ALIAS_OF = {alias: name for name, aliases in ALIASES.items() for alias in aliases}


def is_finding(label: str) -> bool:
    """Whether a label names a finding (tumor, cyst, nodule, ...) rather than anatomy."""
    return FINDING_WORDS.search(label) is not None


@cache
def canonical(name: str) -> str:
    """The one spelling of a structure: lower case, single spaces, American spelling, side word
    first ("kidney_left" -> "left kidney"), singular, and the alias table applied."""
    words = re.sub(r"[_\s/]+", " ", name.replace("-", " ")).casefold().split()
    words = [_SPELLING.get(w, w) for w in words]
    side = [w for w in words if w in _SIDES]
    if len(side) == 1 and words[0] != side[0]:
        words.remove(side[0])
        words.insert(0, side[0])
    text = " ".join(words)
    for plural, singular in _PLURALS.items():
        text = re.sub(rf"\b{plural}\b", singular, text)
    return _alias(text)


def _alias(text: str) -> str:
    if text in _ALIAS_OF:
        return _ALIAS_OF[text]
    side, _, rest = text.partition(" ")
    if side in _SIDES and rest in _ALIAS_OF:
        return f"{side} {_ALIAS_OF[rest]}"
    return text


@cache
def kinds(name: str) -> frozenset[str]:
    """Every canonical name that ``name`` is a kind of, itself included (transitive)."""
    found: set[str] = set()
    pending = [canonical(name)]
    while pending:
        current = pending.pop()
        if current in found:
            continue
        found.add(current)
        pending.extend(_kind_parents(current))
    return frozenset(found)


def _kind_parents(name: str) -> list[str]:
    words = name.split()
    parents = list(KIND_OF.get(name, ()))
    if len(words) > 1 and words[0] in _SIDES:
        parents.append(" ".join(words[1:]))  # "left kidney" is a kidney
    if len(words) > 1 and _INSTANCE.match(words[-1]):
        parents.append(" ".join(words[:-1]))  # "rib 3" is a rib
    if len(words) > 1 and is_finding(words[-1]):
        parents.append(words[-1])  # "liver tumor" is a tumor
    return [_alias(p) for p in parents]


@cache
def wholes(name: str) -> frozenset[str]:
    """Every canonical name that ``name`` (or anything it is a kind of) lies within."""
    found: set[str] = set()
    pending = list(kinds(name))
    seen: set[str] = set()
    while pending:
        current = pending.pop()
        if current in seen:
            continue
        seen.add(current)
        for whole in _part_parents(current):
            for kind in kinds(whole):
                found.add(kind)
                pending.append(kind)
    return frozenset(found)


def _part_parents(name: str) -> list[str]:
    words = name.split()
    parents = list(PART_OF.get(name, ()))
    for cut in range(1, len(words)):
        prefix = words[:cut]
        if prefix[-1] in _CONNECTORS or (cut == 1 and prefix[0] in _SIDES):
            continue
        parents.append(" ".join(prefix))  # "liver left lobe" lies in the liver
    side, _, rest = name.partition(" ")
    if side in _SIDES and rest in PART_OF:  # "left upper lobe" lies in a lung
        parents.extend(PART_OF[rest])
    own = kinds(name)
    # A prefix that is an alias of the name itself ("adrenal" of "adrenal gland") is no whole.
    return [whole for whole in (_alias(p) for p in parents) if whole not in own]


def same_or_kind(a: str, b: str) -> bool:
    """True when ``a`` and ``b`` name one structure or one is a kind of the other."""
    return canonical(b) in kinds(a) or canonical(a) in kinds(b)


def within(part: str, whole: str) -> bool:
    """True when ``part`` (or what it is a kind of) lies within ``whole``."""
    return canonical(whole) in wholes(part)


def related(a: str, b: str) -> bool:
    """True when ``a`` and ``b`` are aliases, kinds, or parts of one another: two options that
    both could be right."""
    return same_or_kind(a, b) or within(a, b) or within(b, a)


def distinct(names: Iterable[str], *, prefer: Sequence[str] = ()) -> list[str]:
    """``names`` with one entry per structure (aliases merged), in first-seen order, each spelled
    as in ``prefer`` (e.g. the case's own labels) when ``prefer`` names it."""
    spelling: dict[str, str] = {}
    for name in prefer:
        spelling.setdefault(canonical(name.strip()), name.strip())
    kept: dict[str, str] = {}
    for name in names:
        text = name.strip()
        if text:
            key = canonical(text)
            kept.setdefault(key, spelling.get(key, text))
    return list(kept.values())


def pairwise_distinct(names: Iterable[str]) -> list[str]:
    """The names in order, dropping any that is an alias or a kind of one already kept."""
    kept: list[str] = []
    for name in names:
        if not any(same_or_kind(name, other) for other in kept):
            kept.append(name)
    return kept
