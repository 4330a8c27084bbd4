"""Strict answer extraction and the format/outcome rewards (the reference's faults fixed)."""

from __future__ import annotations

import pytest

from unimed_cot.train.rewards import (
    answer_reward,
    extract_choice,
    format_reward,
    outcome_reward,
)

OPTIONS = ["liver", "spleen", "heart", "a mass"]


@pytest.mark.parametrize(
    ("completion", "expected"),
    [
        ("<think>a b c</think>B. spleen", "B"),
        ("<think>x</think>B", "B"),
        ("<think>x</think>(C)", "C"),
        ("<think>x</think>The answer is C.", "C"),
        ("<think>x</think>\nAnswer: D", "D"),
        ("<think>x</think>heart", "C"),  # option text alone
        ("<think>x</think>B. spleen<|im_end|>", "B"),
        # A stray letter or the article "a" in the reasoning never counts:
        ("<think>A is a big organ, a lot of A here</think>", None),
        ("<think>I think A. liver is right", None),  # unclosed think: no answer
        ("a", None),
        ("<think>x</think>b. spleen", None),  # lowercase letter is not an answer
        ("<think>x</think>B. liver", None),  # letter contradicts its content
        ("<think>x</think>E. foo", None),  # no option E
        ("<think>x</think>A. Liver.", "A"),
        ("<think>x</think>I would say the liver and the spleen", None),
    ],
)
def test_extract_choice_table(completion: str, expected: str | None) -> None:
    assert extract_choice(completion, OPTIONS) == expected


def test_reference_extractor_fault_is_fixed() -> None:
    # The reference strips <think> and takes the first \b[A-D]\b, IGNORECASE: "a" from the
    # reasoning scores as "A" once special tokens are stripped. Here only the final answer counts.
    stripped_style = "I see a lesion near the liver. B. spleen"
    assert extract_choice(stripped_style, OPTIONS) is None
    assert answer_reward("<think>a lesion</think>B. spleen", "B. spleen", OPTIONS) == 1.0
    assert answer_reward("<think>a lesion</think>A. liver", "B. spleen", OPTIONS) == 0.0


def test_format_reward_varies_across_crafted_completions() -> None:
    good = "<think>look <|box_start|>[1,2,3,4]<|box_end|></think>B. spleen"
    open_box = "<think>look <|box_start|>[1,2,3,4]</think>B. spleen"
    open_think = "<think>look <|box_start|>[1,2,3,4]<|box_end|>B. spleen"
    both_bad = "<think>look <|box_start|>[1,2"
    assert [format_reward(c) for c in (good, open_box, open_think, both_bad)] == [
        1.0,
        0.5,
        0.5,
        0.0,
    ]
    assert outcome_reward(good, "B. spleen", OPTIONS) == pytest.approx(1.0)
    assert outcome_reward(open_box, "B. spleen", OPTIONS) == pytest.approx(0.9)
    assert outcome_reward(both_bad, "B. spleen", OPTIONS) == pytest.approx(0.0)


def test_decoding_keeps_think_and_box_tokens() -> None:
    pytest.importorskip("transformers", reason="needs the [train] extra")
    from unimed_cot.train.rewards import decode_completion
    from unimed_cot.train.tiny import build_tokenizer

    tokenizer = build_tokenizer()
    text = (
        "<think>x <|box_start|>[1,2,3,4]<|box_end|><|vision_start|><|image_pad|><|vision_end|>"
        "</think>B. spleen<|im_end|>"
    )
    ids = tokenizer(text, add_special_tokens=False)["input_ids"]
    decoded = decode_completion(tokenizer, ids)
    assert decoded == "<think>x <|box_start|>[1,2,3,4]<|box_end|></think>B. spleen"
    assert format_reward(decoded) == 1.0
    # What the reference did: stripping special tokens makes the format term constant.
    stripped = tokenizer.decode(ids, skip_special_tokens=True)
    assert "<think>" not in stripped and format_reward(stripped) == 1.0
