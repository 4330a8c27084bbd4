"""One-GPU check of the recipes' mechanics at real size, offline: ``scripts/gpu_check.sh``.

Builds a randomly initialised Qwen2.5-VL of the 3B (or 7B) architecture from its config (no
download: the public config's sizes are written below; the tokenizer and image processor are
the tiny checkpoint's, whose ids fit any vocabulary), then runs SFT and GRPO steps with the 1-GPU
LoRA recipe's settings — fp32 master weights with bf16 autocast, gradient checkpointing, LoRA on
the LM, vision tower frozen — on the phantom release, and prints one JSON line: peak memory and
seconds per step of each stage. ``--arch tiny --device cpu`` is the same path on the tiny model
(what the tests run). Random weights make the losses meaningless; memory and time are what count.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

# Sizes of the public Qwen2.5-VL configs (Qwen/Qwen2.5-VL-{3B,7B}-Instruct config.json).
ARCHS: dict[str, dict[str, Any]] = {
    "3b": {
        "text": {
            "hidden_size": 2048,
            "intermediate_size": 11008,
            "num_hidden_layers": 36,
            "num_attention_heads": 16,
            "num_key_value_heads": 2,
            "vocab_size": 151936,
            "rms_norm_eps": 1e-6,
            "rope_parameters": {
                "rope_type": "default",
                "mrope_section": [16, 24, 24],
                "rope_theta": 1e6,
            },
            "max_position_embeddings": 128000,
        },
        "vision": {"out_hidden_size": 2048},
        "tie_word_embeddings": True,
    },
    "7b": {
        "text": {
            "hidden_size": 3584,
            "intermediate_size": 18944,
            "num_hidden_layers": 28,
            "num_attention_heads": 28,
            "num_key_value_heads": 4,
            "vocab_size": 152064,
            "rms_norm_eps": 1e-6,
            "rope_parameters": {
                "rope_type": "default",
                "mrope_section": [16, 24, 24],
                "rope_theta": 1e6,
            },
            "max_position_embeddings": 128000,
        },
        "vision": {"out_hidden_size": 3584},
        "tie_word_embeddings": False,
    },
}
VISION = {
    "depth": 32,
    "hidden_size": 1280,
    "intermediate_size": 3420,
    "num_heads": 16,
    "window_size": 112,
    "fullatt_block_indexes": [7, 15, 23, 31],
}


def build_model(tiny: Path, arch: str, device: str) -> Any:
    """The tiny checkpoint itself (``tiny``), or a random model of ``arch`` with its token ids."""
    import torch
    from transformers import Qwen2_5_VLConfig, Qwen2_5_VLForConditionalGeneration

    from unimed_cot.train.model import load_model

    if arch == "tiny":
        return load_model(tiny, device=device)
    base = json.loads((tiny / "config.json").read_text())
    spec = ARCHS[arch]
    text = {**base["text_config"], **spec["text"]}
    text.pop("layer_types", None)  # derived from the layer count
    vision = {**base["vision_config"], **VISION, **spec["vision"]}
    common = {k: base[k] for k in base if k.endswith("token_id")}
    config = Qwen2_5_VLConfig(
        text_config=text,
        vision_config=vision,
        tie_word_embeddings=spec["tie_word_embeddings"],
        **common,
    )
    with torch.device(device):
        model = Qwen2_5_VLForConditionalGeneration(config)
    model.generation_config.eos_token_id = base["text_config"]["eos_token_id"]
    return model


def _peak_mib(device: str) -> float:
    import torch

    if device.startswith("cuda"):
        return torch.cuda.max_memory_allocated() / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _sync(device: str) -> None:
    import torch

    if device.startswith("cuda"):
        torch.cuda.synchronize()


def run_check(
    *, arch: str, device: str, steps: int, generations: int, max_new_tokens: int, lora: bool
) -> dict[str, Any]:
    """SFT then GRPO steps at the recipe's settings; the measurements as a dict."""
    import torch

    from unimed_cot.demo.phantom import generate_phantom
    from unimed_cot.imaging.serialize import SerializeConfig
    from unimed_cot.pipeline import BuildConfig, run_build
    from unimed_cot.release.publish import publish
    from unimed_cot.train.batched import model_generate_batch_fn, rollout_batch
    from unimed_cot.train.collator import SFTCollator
    from unimed_cot.train.data import load_samples
    from unimed_cot.train.grpo import completion_logprobs, group_advantages, grpo_loss
    from unimed_cot.train.model import freeze_vision, lora_config
    from unimed_cot.train.processor import load_processor
    from unimed_cot.train.rewards import outcome_reward
    from unimed_cot.train.tiny import write_tiny_model

    root = Path(tempfile.mkdtemp(prefix="gpu-check-"))
    release = root / "unimed-cot"
    run_build(
        BuildConfig(
            source="phantom",
            out=release,
            input=generate_phantom(root / "src", n_images_2d=2, n_volumes_3d=1),
            serialize=SerializeConfig(n_slices=8, slice_size=224, max_side_2d=448)
            if arch != "tiny"
            else SerializeConfig(n_slices=4, slice_size=56, max_side_2d=112, min_side_2d=56),
        )
    )
    publish(release, version="0.0.0")
    tiny = write_tiny_model(root / "tiny")
    processor = load_processor(tiny)
    torch.manual_seed(0)
    model = build_model(tiny, arch, device)
    freeze_vision(model)
    model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    if lora:
        from peft import get_peft_model

        model = get_peft_model(model, lora_config())
    trainable = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(trainable, lr=1e-5)
    autocast = torch.autocast("cuda" if device.startswith("cuda") else "cpu", torch.bfloat16)
    samples = load_samples(str(release), mix={"2d": 1, "3d": 1})
    collator = SFTCollator(processor, samples)
    report: dict[str, Any] = {
        "arch": arch,
        "device": device,
        "lora": lora,
        "parameters": sum(p.numel() for p in model.parameters()),
        "trainable": sum(p.numel() for p in trainable),
    }
    sft_times, sft_losses = [], []
    model.train()
    for step in range(steps):
        encoded = collator.encode([samples[step % len(samples)]])
        batch = {k: v.to(device) for k, v in encoded.items()}
        _sync(device)
        start = time.perf_counter()
        optimizer.zero_grad()
        with autocast:
            loss = model(**batch).loss
        loss.backward()
        optimizer.step()
        _sync(device)
        sft_times.append(time.perf_counter() - start)
        sft_losses.append(float(loss.detach()))
    report["sft"] = {"s_per_step": statistics.fmean(sft_times), "losses": sft_losses}
    report["sft"]["peak_mib"] = _peak_mib(device)
    generate = model_generate_batch_fn(model, processor, do_sample=True)
    grpo_times, rewards_seen = [], []
    for step in range(steps):
        sample = samples[step % len(samples)]
        _sync(device)
        start = time.perf_counter()
        model.eval()
        with autocast:  # one padded generate per round, as GRPO does
            rollouts = rollout_batch(
                [sample] * generations, processor, generate, max_new_tokens=max_new_tokens
            )
        rewards = [outcome_reward(r.text, sample.answer, sample.options) for r in rollouts]
        model.train()
        optimizer.zero_grad()
        for item, advantage in zip(rollouts, group_advantages(rewards), strict=True):
            if not item.completion_ids:
                continue
            with autocast:
                logp = completion_logprobs(model, processor, item)
            mask = torch.tensor(item.mask, dtype=logp.dtype, device=logp.device)
            (grpo_loss(logp, None, advantage, mask, 0.0) / generations).backward()
        optimizer.step()
        _sync(device)
        grpo_times.append(time.perf_counter() - start)
        rewards_seen.extend(rewards)
    report["grpo"] = {
        "s_per_step": statistics.fmean(grpo_times),
        "generations": generations,
        "max_new_tokens": max_new_tokens,
        "mean_reward": statistics.fmean(rewards_seen),
        "peak_mib": _peak_mib(device),
    }
    return report


def main(argv: list[str] | None = None) -> int:
    """Command line of ``scripts/gpu_check.sh``."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--arch", choices=["tiny", *ARCHS], default="3b")
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--generations", type=int, default=4)
    parser.add_argument("--max-new-tokens", type=int, default=128)
    parser.add_argument("--full", action="store_true", help="full LM instead of LoRA")
    args = parser.parse_args(argv)
    report = run_check(
        arch=args.arch,
        device=args.device,
        steps=args.steps,
        generations=args.generations,
        max_new_tokens=args.max_new_tokens,
        lora=not args.full,
    )
    print(json.dumps(report))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
