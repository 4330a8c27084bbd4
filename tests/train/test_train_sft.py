"""SFT: the collator's labels, region-token injection, a few real training steps on CPU."""

from __future__ import annotations

from pathlib import Path

import pytest

torch = pytest.importorskip("torch", reason="needs the [train] extra")
pytest.importorskip("trl", reason="needs the [train] extra")

from unimed_cot.boxes import BOX_END  # noqa: E402
from unimed_cot.train.collator import IGNORE_INDEX, SFTCollator  # noqa: E402
from unimed_cot.train.data import load_samples  # noqa: E402
from unimed_cot.train.model import freeze_vision, load_model  # noqa: E402
from unimed_cot.train.processor import load_processor  # noqa: E402
from unimed_cot.train.regions import inject_regions  # noqa: E402
from unimed_cot.train.sft import SFTOptions, run_sft  # noqa: E402


@pytest.fixture(scope="module")
def samples_3d(train_release: Path):  # type: ignore[no-untyped-def]
    grounded = [s for s in load_samples(str(train_release), mix={"3d": 1}) if BOX_END in s.target]
    return grounded[:2]


def _ids(processor, *tokens: str) -> list[int]:  # type: ignore[no-untyped-def]
    return processor.tokenizer.convert_tokens_to_ids(list(tokens))


def test_labels_mask_prompt_and_every_vision_token(tiny_model: Path, samples_3d) -> None:  # type: ignore[no-untyped-def]
    processor = load_processor(tiny_model)
    sample = samples_3d[0]
    batch = SFTCollator(processor, samples_3d).encode([sample])
    ids, labels = batch["input_ids"][0], batch["labels"][0]
    vision = torch.tensor(_ids(processor, "<|vision_start|>", "<|image_pad|>", "<|vision_end|>"))
    is_vision = torch.isin(ids, vision)
    # Everything up to and including the assistant header is masked ...
    think = _ids(processor, "<think>")[0]
    header_end = int((ids == think).nonzero().flatten()[-1])  # the trace opens with <think>
    assert (labels[:header_end] == IGNORE_INDEX).all()
    assert int(labels[header_end]) == think
    # ... after it, exactly the vision tokens (the injected crops) are masked.
    after = slice(header_end, len(ids))
    assert torch.equal(labels[after] == IGNORE_INDEX, is_vision[after])
    assert is_vision[after].any()
    text = processor.tokenizer.decode(labels[labels != IGNORE_INDEX], skip_special_tokens=False)
    assert text.startswith("<think>") and text.endswith(sample.answer + "<|im_end|>\n")
    assert BOX_END in text


def test_injected_pads_match_the_crops_grids(tiny_model: Path, samples_3d) -> None:  # type: ignore[no-untyped-def]
    processor = load_processor(tiny_model)
    sample = samples_3d[0]
    _, crops = inject_regions(sample.target, sample.images)
    z_slices = sum(len(range(r.box[2], r.box[5])) for r in sample.regions)
    assert len(crops) == z_slices > 0
    batch = SFTCollator(processor, samples_3d).encode([sample])
    grids = batch["image_grid_thw"]
    assert len(grids) == len(sample.images) + len(crops)
    merge = processor.image_processor.merge_size**2
    expected = [int(g.prod()) // merge for g in grids[len(sample.images) :]]
    ids = batch["input_ids"][0].tolist()
    pad, start, end = _ids(processor, "<|image_pad|>", "<|vision_start|>", "<|vision_end|>")
    box_end = _ids(processor, BOX_END)[0]
    trace = len(ids) - 1 - ids[::-1].index(_ids(processor, "<think>")[0])
    # In the trace, every vision block sits right after a <|box_end|> or another vision block.
    runs, position = [], trace
    while start in ids[position:]:
        position = ids.index(start, position)
        assert ids[position - 1] in (box_end, end)
        close = ids.index(end, position)
        assert set(ids[position + 1 : close]) == {pad}
        runs.append(close - position - 1)
        position = close
    assert runs == expected


def test_no_region_tokens_injects_nothing(tiny_model: Path, samples_3d) -> None:  # type: ignore[no-untyped-def]
    processor = load_processor(tiny_model)
    batch = SFTCollator(processor, samples_3d, region_tokens=False).encode(samples_3d)
    assert len(batch["image_grid_thw"]) == sum(len(s.images) for s in samples_3d)


def test_loss_is_finite_and_decreases_on_a_repeated_batch(tiny_model: Path, samples_3d) -> None:  # type: ignore[no-untyped-def]
    torch.manual_seed(0)
    processor = load_processor(tiny_model)
    model = load_model(tiny_model)
    trainable = freeze_vision(model)
    assert trainable < sum(p.numel() for p in model.parameters())
    assert not any(p.requires_grad for p in model.model.visual.parameters())
    batch = SFTCollator(processor, samples_3d).encode(samples_3d)
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=3e-3)
    losses = []
    for _ in range(5):
        optimizer.zero_grad()
        loss = model(**batch).loss
        loss.backward()
        optimizer.step()
        losses.append(float(loss.detach()))
    assert all(torch.isfinite(torch.tensor(losses)))
    # 6.16 -> 5.87 with the exports' prompts and crop geometry (the bar was 0.5 before them)
    assert losses[-1] < losses[0] - 0.2


def test_sft_trainer_runs_and_saves_a_reloadable_checkpoint(
    tiny_model: Path, train_release: Path, tmp_path: Path
) -> None:
    result = run_sft(
        SFTOptions(
            data=str(train_release),
            model=str(tiny_model),
            output=tmp_path / "sft",
            max_steps=2,
            batch_size=2,
            learning_rate=1e-3,
            limit=6,
            warmup=0,
        )
    )
    assert result.steps == 2 and len(result.losses) == 2
    assert all(0 < loss < 20 for loss in result.losses)
    reloaded = load_model(tmp_path / "sft")
    original = load_model(tiny_model)
    changed = [
        name
        for (name, a), (_, b) in zip(
            reloaded.named_parameters(), original.named_parameters(), strict=True
        )
        if not torch.equal(a, b)
    ]
    assert changed and not any("visual" in name for name in changed)
    assert load_processor(tmp_path / "sft").tokenizer.convert_tokens_to_ids("<think>") > 0


def test_lora_trains_adapters_and_merges(
    tiny_model: Path, train_release: Path, tmp_path: Path
) -> None:
    pytest.importorskip("peft", reason="needs the [train] extra")
    result = run_sft(
        SFTOptions(
            data=str(train_release),
            model=str(tiny_model),
            output=tmp_path / "lora",
            max_steps=1,
            lora=True,
            learning_rate=1e-3,
            limit=2,
            warmup=0,
        )
    )
    assert result.steps == 1
    assert not any("lora" in n for n, _ in load_model(tmp_path / "lora").named_parameters())


def test_qwen2_vl_family_trains_too(tmp_path: Path, samples_3d) -> None:  # type: ignore[no-untyped-def]
    from unimed_cot.train.tiny import write_tiny_model

    folder = write_tiny_model(tmp_path / "q2", family="qwen2_vl")
    processor = load_processor(folder)
    model = load_model(folder)
    freeze_vision(model)
    loss = model(**SFTCollator(processor, samples_3d).encode(samples_3d[:1])).loss
    loss.backward()
    assert torch.isfinite(loss)


def test_think_tokens_are_added_when_missing(tiny_model: Path) -> None:
    from types import SimpleNamespace

    from tokenizers import Tokenizer, models
    from transformers import PreTrainedTokenizerFast

    from unimed_cot.train.model import add_think_tokens

    model = load_model(tiny_model)
    assert add_think_tokens(load_processor(tiny_model), model) == 0  # the tiny one has them
    vocab = {"<unk>": 0, "a": 1, "<|box_start|>": 2, "<|box_end|>": 3}
    bare = PreTrainedTokenizerFast(
        tokenizer_object=Tokenizer(models.WordLevel(vocab, unk_token="<unk>")), unk_token="<unk>"
    )
    assert add_think_tokens(SimpleNamespace(tokenizer=bare), model) == 2
    assert model.get_input_embeddings().weight.shape[0] == len(bare) == 6
    assert bare.convert_tokens_to_ids("</think>") == 5
