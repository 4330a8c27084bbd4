"""Outcome-reward GRPO over crop-and-continue rollouts (2D and 3D).

Per step: for each prompt, ``num_generations`` rollouts (:func:`~unimed_cot.train.rollout.rollout`)
are scored with ``0.8 × answer + 0.2 × format`` on text decoded with the think and box tokens kept;
advantages are the rewards normalised within the group; the loss is the GRPO surrogate on the
model-written tokens only (injected crop tokens have mask 0) plus ``beta`` × the k3 ("low_var_kl")
estimate of KL to the frozen initial policy, as in the reference (KL 0.01, lr 1e-6, 16 rollouts).
One policy update per generation batch, so the importance ratio is 1 and needs no clipping.

Why not TRL's ``GRPOTrainer``: see :mod:`unimed_cot.train.rollout` (its custom-rollout path drops
the images of injected crops from the loss forward).
"""

from __future__ import annotations

import random
import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from unimed_cot.train.data import load_samples, parse_mix
from unimed_cot.train.model import add_think_tokens, freeze_vision, load_model
from unimed_cot.train.rewards import outcome_reward
from unimed_cot.train.rollout import Rollout, model_generate_fn, model_inputs, rollout
from unimed_cot.train.sft import save_checkpoint


@dataclass
class GRPOOptions:
    """One GRPO run (reference: 16 generations, lr 1e-6, KL 0.01, start from the SFT model)."""

    data: str
    model: str
    output: Path
    mix: str = "2d=1,3d=1"
    max_steps: int = 100
    prompts_per_step: int = 1
    num_generations: int = 16
    learning_rate: float = 1e-6
    beta: float = 0.01
    temperature: float = 1.0
    max_new_tokens: int = 512
    max_rounds: int = 10
    limit: int | None = None
    seed: int = 0
    device: str = "cpu"
    save: bool = True


@dataclass
class GRPOResult:
    """Output folder, steps, and per-step mean reward and loss."""

    output: Path
    steps: int
    rewards: list[float] = field(default_factory=list)
    losses: list[float] = field(default_factory=list)


def group_advantages(rewards: Sequence[float]) -> list[float]:
    """GRPO advantages: rewards minus the group mean, over the group std (+1e-4)."""
    mean = statistics.fmean(rewards)
    std = statistics.pstdev(rewards) if len(rewards) > 1 else 0.0
    return [(r - mean) / (std + 1e-4) for r in rewards]


def completion_logprobs(model: Any, processor: Any, result: Rollout) -> Any:
    """Log-probabilities of the completion tokens under ``model`` (with all crops as pixels)."""
    import torch

    ids = result.prompt_ids + result.completion_ids
    device = next(model.parameters()).device
    inputs = {k: v.to(device) for k, v in model_inputs(processor, ids, result.images).items()}
    logits = model(**inputs).logits[0, len(result.prompt_ids) - 1 : -1].float()
    targets = torch.tensor(result.completion_ids, device=device)
    return torch.log_softmax(logits, dim=-1).gather(1, targets[:, None]).squeeze(1)


def grpo_loss(logp: Any, ref_logp: Any | None, advantage: float, mask: Any, beta: float) -> Any:
    """Masked GRPO surrogate (+ ``beta`` × k3 KL) of one rollout, mean over model tokens."""
    import torch

    per_token = -advantage * torch.exp(logp - logp.detach())
    if ref_logp is not None and beta:
        delta = ref_logp - logp
        per_token = per_token + beta * (torch.exp(delta) - delta - 1)
    return (per_token * mask).sum() / mask.sum().clamp(min=1)


def run_grpo(options: GRPOOptions) -> GRPOResult:
    """Train ``options.model`` with GRPO on a release and save the checkpoint."""
    import torch

    from unimed_cot.train.processor import load_processor

    torch.manual_seed(options.seed)
    rng = random.Random(options.seed)
    samples = load_samples(
        options.data, mix=parse_mix(options.mix), limit=options.limit, seed=options.seed
    )
    processor = load_processor(options.model)
    model = load_model(options.model, device=options.device)
    added = add_think_tokens(processor, model)  # starting from a base model, not an SFT one
    freeze_vision(model)
    reference = None
    if options.beta:
        reference = load_model(options.model, device=options.device).eval()
        if added:
            reference.resize_token_embeddings(len(processor.tokenizer))
        reference.requires_grad_(False)
    optimizer = torch.optim.AdamW(
        [p for p in model.parameters() if p.requires_grad], lr=options.learning_rate
    )
    generate = model_generate_fn(model, processor, do_sample=True, temperature=options.temperature)
    result = GRPOResult(output=options.output, steps=0)
    for _ in range(options.max_steps):
        batch = rng.sample(samples, min(options.prompts_per_step, len(samples)))
        model.eval()
        groups = []
        for sample in batch:
            rollouts = [
                rollout(
                    sample,
                    processor,
                    generate,
                    max_rounds=options.max_rounds,
                    max_new_tokens=options.max_new_tokens,
                )
                for _ in range(options.num_generations)
            ]
            rewards = [outcome_reward(r.text, sample.answer, sample.options) for r in rollouts]
            groups.append((rollouts, rewards))
        model.train()
        optimizer.zero_grad()
        total, count = 0.0, sum(len(g[0]) for g in groups)
        for rollouts, rewards in groups:
            for item, advantage in zip(rollouts, group_advantages(rewards), strict=True):
                if not item.completion_ids:
                    continue
                logp = completion_logprobs(model, processor, item)
                ref_logp = None
                if reference is not None:
                    with torch.no_grad():
                        ref_logp = completion_logprobs(reference, processor, item)
                mask = torch.tensor(item.mask, dtype=logp.dtype, device=logp.device)
                loss = grpo_loss(logp, ref_logp, advantage, mask, options.beta) / count
                loss.backward()
                total += float(loss.detach())
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        result.steps += 1
        result.losses.append(total)
        result.rewards.append(statistics.fmean(r for _, rs in groups for r in rs))
    if options.save:
        save_checkpoint(model, processor, options.output, merge_lora=False)
    return result
