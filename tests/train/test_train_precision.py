"""Mixed precision that updates like fp32, LoRA and gradient checkpointing for SFT and GRPO,
checkpoints and resume (issue 16, items 2, 4 and 7)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

torch = pytest.importorskip("torch", reason="needs the [train] extra")
pytest.importorskip("trl", reason="needs the [train] extra")

from unimed_cot.train.grpo import GRPOOptions, run_grpo  # noqa: E402
from unimed_cot.train.model import load_model  # noqa: E402
from unimed_cot.train.sft import SFTOptions, run_sft  # noqa: E402


def _changed_fraction(trained: Path, base: Path) -> float:
    """Share of the language model's elements that differ from the base checkpoint."""
    a, b = load_model(trained), load_model(base)
    changed = total = 0
    for (name, p), (_, q) in zip(a.named_parameters(), b.named_parameters(), strict=True):
        if "visual" in name:
            continue
        changed += int((p != q).sum())
        total += p.numel()
    return changed / total


def _sft(tiny_model: Path, release: Path, out: Path, **kwargs: object) -> object:
    options = {
        "data": str(release),
        "model": str(tiny_model),
        "output": out,
        "max_steps": 3,
        "batch_size": 1,
        "learning_rate": 1e-5,
        "warmup": 0,
        "scheduler": "constant",
        "limit": 3,
        **kwargs,
    }
    return run_sft(SFTOptions(**options))  # type: ignore[arg-type]


def test_bf16_sft_updates_like_fp32(tiny_model: Path, train_release: Path, tmp_path: Path) -> None:
    full = _sft(tiny_model, train_release, tmp_path / "fp32")
    mixed = _sft(tiny_model, train_release, tmp_path / "bf16", bf16=True)
    # the forward really ran under bf16 autocast (its losses differ in the low digits) ...
    assert mixed.losses != full.losses  # type: ignore[attr-defined]
    assert mixed.losses == pytest.approx(full.losses, rel=0.02)  # type: ignore[attr-defined]
    fp32 = _changed_fraction(tmp_path / "fp32", tiny_model)
    bf16 = _changed_fraction(tmp_path / "bf16", tiny_model)
    print(f"LM elements changed over 3 steps at lr 1e-5: fp32 {fp32:.1%}, bf16 autocast {bf16:.1%}")
    assert fp32 > 0.8
    assert bf16 >= 0.8 and bf16 >= 0.95 * fp32
    # the saved checkpoint is fp32 (the master copy), not bf16
    assert next(load_model(tmp_path / "bf16").parameters()).dtype == torch.float32


def test_sft_lora_with_gradient_checkpointing(
    tiny_model: Path, train_release: Path, tmp_path: Path
) -> None:
    result = _sft(
        tiny_model,
        train_release,
        tmp_path / "lora",
        max_steps=2,
        lora=True,
        gradient_checkpointing=True,
        learning_rate=1e-3,
        bf16=True,
    )
    assert result.steps == 2  # type: ignore[attr-defined]
    assert 0 < _changed_fraction(tmp_path / "lora", tiny_model) < 1


def test_sft_saves_checkpoints_and_resumes(
    tiny_model: Path, train_release: Path, tmp_path: Path
) -> None:
    out = tmp_path / "run"
    fast = {"learning_rate": 1e-3}
    straight = _sft(tiny_model, train_release, tmp_path / "straight", **fast)
    first = _sft(tiny_model, train_release, out, max_steps=2, save_steps=1, **fast)
    assert {p.name for p in out.glob("checkpoint-*")} == {"checkpoint-1", "checkpoint-2"}
    result = _sft(tiny_model, train_release, out, save_steps=1, resume="latest", **fast)
    assert result.steps == 3 and (out / "checkpoint-3").is_dir()  # type: ignore[attr-defined]
    # the history comes back, and step 3 trains from the checkpoint's weights, not the base's
    assert result.losses[:2] == first.losses  # type: ignore[attr-defined]
    assert result.losses == pytest.approx(straight.losses, abs=1e-4)  # type: ignore[attr-defined]
    a, b = load_model(out), load_model(tmp_path / "straight")
    for (name, p), (_, q) in zip(a.named_parameters(), b.named_parameters(), strict=True):
        assert torch.allclose(p, q, atol=1e-5), name


def _grpo(tiny_model: Path, release: Path, out: Path, **kwargs: object) -> object:
    options = {
        "data": str(release),
        "model": str(tiny_model),
        "output": out,
        "max_steps": 2,
        "num_generations": 2,
        "max_new_tokens": 6,
        "learning_rate": 1e-3,
        "limit": 4,
        **kwargs,
    }
    return run_grpo(GRPOOptions(**options))  # type: ignore[arg-type]


def test_grpo_resume_continues_the_same_run(
    tiny_model: Path, train_release: Path, tmp_path: Path
) -> None:
    straight = _grpo(tiny_model, train_release, tmp_path / "straight")
    _grpo(tiny_model, train_release, tmp_path / "cut", max_steps=1, save_steps=1)
    state = json.loads((tmp_path / "cut" / "checkpoint-1" / "progress.json").read_text())
    assert state["step"] == 1 and len(state["rewards"]) == 1
    resumed = _grpo(tiny_model, train_release, tmp_path / "cut", resume="latest")
    assert resumed.steps == straight.steps == 2  # type: ignore[attr-defined]
    assert resumed.rewards == straight.rewards  # type: ignore[attr-defined]
    a, b = load_model(tmp_path / "straight"), load_model(tmp_path / "cut")
    for (name, p), (_, q) in zip(a.named_parameters(), b.named_parameters(), strict=True):
        assert torch.allclose(p, q, atol=1e-6), name


def test_grpo_bf16_lora_checkpointing_minibatches_token_mean(
    tiny_model: Path, train_release: Path, tmp_path: Path
) -> None:
    result = _grpo(
        tiny_model,
        train_release,
        tmp_path / "g",
        max_steps=1,
        prompts_per_step=2,
        bf16=True,
        lora=True,
        gradient_checkpointing=True,
        mini_batches=2,
        ppo_epochs=2,
        loss_type="token",
    )
    assert result.steps == 1 and result.updates == 4  # type: ignore[attr-defined]
    assert all(loss == loss for loss in result.losses)  # type: ignore[attr-defined]
    # LoRA merged into a plain checkpoint
    assert not any("lora" in n for n, _ in load_model(tmp_path / "g").named_parameters())
    # only the adapters train, and the reference is the same model with adapters off
    from unimed_cot.train.grpo import prepare_policy
    from unimed_cot.train.processor import load_processor

    options = GRPOOptions(data="", model=str(tiny_model), output=tmp_path / "x", lora=True)
    model, reference = prepare_policy(options, load_processor(tiny_model))
    trainable = [n for n, p in model.named_parameters() if p.requires_grad]
    assert reference is None and trainable and all("lora_" in n for n in trainable)
    assert not any("visual" in n for n in trainable)
