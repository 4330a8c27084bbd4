"""Option-set problems: duplicates, synonyms, hypernyms and hyponyms of the answer."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from unimed_cot.errors import UsageError
from unimed_cot.stats import (
    DEFAULT_ALIASES,
    AliasTable,
    OptionProblem,
    OptionProblemKind,
    option_problems,
)

K = OptionProblemKind
PLAIN = AliasTable(lateral=False)  # no data at all: only normalization


def kinds(problems: list[OptionProblem]) -> list[tuple[str, str, str]]:
    return [(p.kind.value, p.first, p.second) for p in problems]


def test_a_sound_option_set_has_no_problem() -> None:
    options = ["liver", "spleen", "aorta", "vertebra"]
    assert option_problems(options, "liver", DEFAULT_ALIASES) == []


def test_duplicates_after_normalization() -> None:
    options = ["Left kidney", "spleen", "left_kidney ", "liver"]
    assert kinds(option_problems(options, "spleen", PLAIN)) == [
        ("duplicate", "Left kidney", "left_kidney ")
    ]


def test_the_m3d_seg_gall_bladder_set_of_issue_13() -> None:
    """['gallbladder', 'stomach', 'bladder', 'gall bladder'] for a gall bladder box: one
    synonym pair; the urinary bladder is a fair distractor, not a hypernym."""
    options = ["gallbladder", "stomach", "bladder", "gall bladder"]
    problems = option_problems(options, "gall bladder", DEFAULT_ALIASES)
    assert kinds(problems) == [("synonym", "gallbladder", "gall bladder")]
    # names equal but for spaces are one name even with no table
    assert kinds(option_problems(options, "gall bladder", PLAIN)) == kinds(problems)


def test_table_synonyms() -> None:
    options = ["renal cyst", "liver", "kidney cyst"]
    assert kinds(option_problems(options, "liver", DEFAULT_ALIASES)) == [
        ("synonym", "renal cyst", "kidney cyst")
    ]
    assert option_problems(options, "liver", PLAIN) == []


def test_side_qualified_names_are_narrower() -> None:
    """'kidney' against 'right kidney', and the reverse (108/400 M3D-Seg questions)."""
    assert kinds(option_problems(["kidney", "right kidney", "liver"], "right kidney", PLAIN)) == []
    lateral = AliasTable()
    assert kinds(option_problems(["kidney", "right kidney", "liver"], "right kidney", lateral)) == [
        ("hypernym-of-answer", "kidney", "right kidney")
    ]
    assert kinds(option_problems(["right kidney", "kidney", "liver"], "kidney", lateral)) == [
        ("hyponym-of-answer", "right kidney", "kidney")
    ]
    # siblings are fair: the left kidney is not a kind of right kidney
    assert option_problems(["left kidney", "right kidney", "spleen"], "right kidney", lateral) == []
    assert kinds(
        option_problems(["upper lobe", "left upper lobe"], "left upper lobe", lateral)
    ) == [("hypernym-of-answer", "upper lobe", "left upper lobe")]


def test_a_side_word_inside_a_position_is_not_a_qualifier() -> None:
    options = ["Middle left of the image", "Middle of the image", "Upper right of the image"]
    assert option_problems(options, "Middle left of the image", AliasTable()) == []


def test_broader_names_resolve_through_synonyms_and_transitively() -> None:
    table = AliasTable(
        synonyms=[["liver tumor", "hepatic tumour"]],
        broader_names={"liver tumor": ["tumor"], "tumor": ["lesion"]},
    )
    assert table.broader("Hepatic Tumour") == frozenset({"tumor", "lesion"})
    problems = option_problems(["lesion", "hepatic tumour", "cyst"], "hepatic tumour", table)
    assert kinds(problems) == [("hypernym-of-answer", "lesion", "hepatic tumour")]
    problems = option_problems(["liver tumor", "spleen"], "lesion", table)
    assert kinds(problems) == [("hyponym-of-answer", "liver tumor", "lesion")]


def test_groups_sharing_a_name_are_one_structure() -> None:
    table = AliasTable(synonyms=[["a", "b"], ["b", "c"]], lateral=False)
    assert table.canonical("a") == table.canonical("c")


def test_any_alias_relation_given_as_data_works() -> None:
    """The interface is a protocol: another vocabulary plugs in without AliasTable."""

    class Vocabulary:
        def __init__(self) -> None:
            self.names = {"lv": "left ventricle", "left ventricle": "left ventricle"}
            self.parents = {"left ventricle": frozenset({"heart"})}

        def canonical(self, name: str) -> str:
            return self.names.get(name.lower(), name.lower())

        def broader(self, name: str) -> frozenset[str]:
            return self.parents.get(self.canonical(name), frozenset())

    problems = option_problems(
        ["LV", "heart", "left ventricle", "aorta"], "left ventricle", Vocabulary()
    )
    assert kinds(problems) == [
        ("synonym", "LV", "left ventricle"),
        ("hypernym-of-answer", "heart", "left ventricle"),
    ]


def test_without_an_answer_only_pairs_are_judged() -> None:
    problems = option_problems(["kidney", "right kidney", "kidney"], None, AliasTable())
    assert kinds(problems) == [("duplicate", "kidney", "kidney")]


def test_alias_table_from_json(tmp_path: Path) -> None:
    path = tmp_path / "aliases.json"
    path.write_text(json.dumps({"synonyms": [["ivc", "inferior vena cava"]], "broader": {}}))
    table = AliasTable.from_json(path)
    assert table.canonical("IVC") == table.canonical("inferior vena cava")
    assert option_problems(["ivc", "aorta", "inferior vena cava"], "aorta", table)[0].kind is (
        K.SYNONYM
    )


@pytest.mark.parametrize(
    "text",
    ['{"synonyms": "ivc"}', '{"broader": {"a": "b"}}', "[1, 2]", "not json"],
)
def test_a_malformed_alias_table_is_a_usage_error(tmp_path: Path, text: str) -> None:
    path = tmp_path / "aliases.json"
    path.write_text(text)
    with pytest.raises(UsageError, match="alias table"):
        AliasTable.from_json(path)
