"""Outcome-reward GRPO over crop-and-continue rollouts (2D and 3D).

Per step: for each of ``prompts_per_step`` questions, ``num_generations`` rollouts (all advanced
together, one padded ``generate`` per round: :mod:`unimed_cot.train.batched`) are scored with ``0.8
× answer + 0.2 × format`` on text decoded with the think and box tokens kept; advantages are the
rewards normalised within the group. The rollouts are then split into ``mini_batches`` policy
updates (``ppo_epochs`` passes): each update minimises the clipped surrogate ``-min(r·A, clip(r,
1-ε, 1+ε)·A)`` on the model-written tokens only (injected crop tokens have mask 0), with ``r`` the
ratio to the policy that sampled, plus ``beta`` × the k3 ("low_var_kl") estimate of KL to the frozen
initial policy, as in the reference (KL 0.01, lr 1e-6, 16 rollouts). The loss is the mean over each
rollout's tokens then over rollouts (``loss_type="sequence"``, GRPO) or the mean over every token of
the mini-batch (``"token"``, DAPO/the reference's ``token-mean``).

Mixed precision is fp32 master weights with bf16 autocast; with LoRA the reference policy is the
same model with its adapters disabled (no second copy). Checkpoints every ``save_steps`` hold the
trainable weights, the optimizer and the samplers' state, so ``resume`` continues the same run.

Why not TRL's ``GRPOTrainer``: see :mod:`unimed_cot.train.rollout` (its custom-rollout path drops
the images of injected crops from the loss forward).
"""

from __future__ import annotations

import contextlib
import random
import statistics
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from unimed_cot.train.batched import model_generate_batch_fn, rollout_batch
from unimed_cot.train.data import load_samples, parse_mix
from unimed_cot.train.errors import TrainError
from unimed_cot.train.model import add_think_tokens, freeze_vision, load_model, lora_config
from unimed_cot.train.rewards import outcome_reward
from unimed_cot.train.rollout import Rollout, model_inputs
from unimed_cot.train.sft import resume_point, save_checkpoint
from unimed_cot.train.state import load_state, save_state

LossType = Literal["sequence", "token"]


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
    bf16: bool = False
    lora: bool = False
    gradient_checkpointing: bool = False
    mini_batches: int = 1
    ppo_epochs: int = 1
    clip_epsilon: float = 0.2
    loss_type: LossType = "sequence"
    save_steps: int = 0
    resume: str | None = None
    region_tokens: bool = True


@dataclass
class GRPOResult:
    """Output folder, steps (generation rounds), optimizer updates, and per-step reward/loss."""

    output: Path
    steps: int
    rewards: list[float] = field(default_factory=list)
    losses: list[float] = field(default_factory=list)
    updates: int = 0


def group_advantages(rewards: Sequence[float]) -> list[float]:
    """GRPO advantages: rewards minus the group mean, over the group std (+1e-4)."""
    mean = statistics.fmean(rewards)
    std = statistics.pstdev(rewards) if len(rewards) > 1 else 0.0
    return [(r - mean) / (std + 1e-4) for r in rewards]


def completion_logprobs(
    model: Any, processor: Any, result: Rollout, *, temperature: float = 1.0
) -> Any:
    """Log-probabilities of the completion tokens under ``model`` (with all crops as pixels).

    The logits are divided by ``temperature``: the ratio and KL are those of the distribution the
    rollouts were sampled from.
    """
    import torch

    ids = result.prompt_ids + result.completion_ids
    device = next(model.parameters()).device
    inputs = {k: v.to(device) for k, v in model_inputs(processor, ids, result.images).items()}
    logits = model(**inputs).logits[0, len(result.prompt_ids) - 1 : -1].float() / temperature
    targets = torch.tensor(result.completion_ids, device=device)
    return torch.log_softmax(logits, dim=-1).gather(1, targets[:, None]).squeeze(1)


def grpo_loss(
    logp: Any,
    ref_logp: Any | None,
    advantage: float,
    mask: Any,
    beta: float,
    *,
    old_logp: Any | None = None,
    clip_epsilon: float = 0.2,
    reduce: bool = True,
) -> Any:
    """Clipped GRPO surrogate (+ ``beta`` × k3 KL) of one rollout.

    ``old_logp`` is the sampling policy's (None: the policy itself, ratio 1). With ``reduce``,
    the mean over model tokens; otherwise the masked per-token terms (for a token mean).
    """
    import torch

    old = logp.detach() if old_logp is None else old_logp
    ratio = torch.exp(logp - old)
    clipped = torch.clamp(ratio, 1 - clip_epsilon, 1 + clip_epsilon)
    per_token = -torch.minimum(ratio * advantage, clipped * advantage)
    if ref_logp is not None and beta:
        delta = ref_logp - logp
        per_token = per_token + beta * (torch.exp(delta) - delta - 1)
    if not reduce:
        return per_token * mask
    return (per_token * mask).sum() / mask.sum().clamp(min=1)


@dataclass
class _Item:
    rollout: Rollout
    advantage: float
    old_logp: Any = None
    ref_logp: Any = None


def _autocast(device: str, enabled: bool) -> contextlib.AbstractContextManager[Any]:
    import torch

    kind = "cuda" if device.startswith("cuda") else "cpu"
    return torch.autocast(device_type=kind, dtype=torch.bfloat16, enabled=enabled)


def _reference_context(model: Any, lora: bool) -> contextlib.AbstractContextManager[Any]:
    """With LoRA, the reference policy is the base model: the adapters disabled."""
    return model.disable_adapter() if lora else contextlib.nullcontext()


def _chunks(items: list[_Item], parts: int) -> Iterator[list[_Item]]:
    size = -(-len(items) // max(1, parts))
    for start in range(0, len(items), size):
        yield items[start : start + size]


def prepare_policy(options: GRPOOptions, processor: Any) -> tuple[Any, Any | None]:
    """The policy (fp32 master weights, LoRA when asked) and the frozen reference (or None)."""
    model = load_model(options.model, device=options.device)
    added = add_think_tokens(processor, model)  # starting from a base model, not an SFT one
    freeze_vision(model)
    if options.gradient_checkpointing:
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
        model.config.use_cache = False
    reference = None
    if options.lora:
        from peft import get_peft_model

        model = get_peft_model(model, lora_config())
    elif options.beta:
        dtype = "bfloat16" if options.bf16 else "float32"  # frozen: bf16 weights lose nothing
        reference = load_model(options.model, dtype=dtype, device=options.device).eval()
        if added:
            reference.resize_token_embeddings(len(processor.tokenizer))
        reference.requires_grad_(False)
    return model, reference


def run_grpo(options: GRPOOptions) -> GRPOResult:
    """Train ``options.model`` with GRPO on a release and save the checkpoint."""
    import torch

    from unimed_cot.train.processor import load_processor

    if options.mini_batches < 1 or options.ppo_epochs < 1:
        raise TrainError("--mini-batches and --ppo-epochs must be at least 1")
    torch.manual_seed(options.seed)
    rng = random.Random(options.seed)
    samples = load_samples(
        options.data, mix=parse_mix(options.mix), limit=options.limit, seed=options.seed
    )
    processor = load_processor(options.model)
    model, reference = prepare_policy(options, processor)
    trainable = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(trainable, lr=options.learning_rate)
    result = GRPOResult(output=options.output, steps=0)
    start = resume_point(options.resume, options.output)
    if start is not None:
        state = load_state(Path(start), model, optimizer, rng)
        result.steps, result.updates = state.step, state.updates
        result.rewards, result.losses = list(state.rewards), list(state.losses)
    generate = model_generate_batch_fn(
        model, processor, do_sample=True, temperature=options.temperature
    )
    autocast = lambda: _autocast(options.device, options.bf16)  # noqa: E731
    while result.steps < options.max_steps:
        batch = rng.sample(list(range(len(samples))), min(options.prompts_per_step, len(samples)))
        model.eval()
        items: list[_Item] = []
        step_rewards: list[float] = []
        chosen = [samples[index] for index in batch]
        repeated = [sample for sample in chosen for _ in range(options.num_generations)]
        with autocast():  # one padded generate per round over prompts × generations
            rollouts = rollout_batch(
                repeated,
                processor,
                generate,
                max_rounds=options.max_rounds,
                max_new_tokens=options.max_new_tokens,
                region_tokens=options.region_tokens,
            )
        for g, sample in enumerate(chosen):
            group = rollouts[g * options.num_generations : (g + 1) * options.num_generations]
            rewards = [outcome_reward(r.text, sample.answer, sample.options) for r in group]
            step_rewards.extend(rewards)
            items.extend(
                _Item(r, a)
                for r, a in zip(group, group_advantages(rewards), strict=True)
                if r.completion_ids
            )
        several = options.mini_batches > 1 or options.ppo_epochs > 1
        with torch.no_grad(), autocast():
            for item in items:
                if several:  # the sampling policy's log-probs, before any update
                    item.old_logp = completion_logprobs(
                        model, processor, item.rollout, temperature=options.temperature
                    )
                if options.beta and (reference is not None or options.lora):
                    with _reference_context(model, options.lora):
                        item.ref_logp = completion_logprobs(
                            reference if reference is not None else model,
                            processor,
                            item.rollout,
                            temperature=options.temperature,
                        )
        model.train()
        total = 0.0
        for _ in range(options.ppo_epochs):
            for chunk in _chunks(items, options.mini_batches):
                total += _update(model, processor, optimizer, trainable, chunk, options, autocast)
                result.updates += 1
        result.steps += 1
        result.losses.append(total)
        result.rewards.append(statistics.fmean(step_rewards))
        if options.save_steps and result.steps % options.save_steps == 0:
            save_state(
                options.output / f"checkpoint-{result.steps}",
                model,
                optimizer,
                rng,
                step=result.steps,
                updates=result.updates,
                rewards=result.rewards,
                losses=result.losses,
            )
    if options.save:
        save_checkpoint(model, processor, options.output, merge_lora=options.lora)
    return result


def _update(
    model: Any,
    processor: Any,
    optimizer: Any,
    trainable: list[Any],
    chunk: list[_Item],
    options: GRPOOptions,
    autocast: Any,
) -> float:
    """One optimizer step on a mini-batch of rollouts; returns its loss."""
    import torch

    optimizer.zero_grad()
    tokens = sum(sum(item.rollout.mask) for item in chunk) or 1
    total = 0.0
    for item in chunk:
        with autocast():
            logp = completion_logprobs(
                model, processor, item.rollout, temperature=options.temperature
            )
        mask = torch.tensor(item.rollout.mask, dtype=logp.dtype, device=logp.device)
        kwargs = {"old_logp": item.old_logp, "clip_epsilon": options.clip_epsilon}
        if options.loss_type == "token":
            terms = grpo_loss(
                logp, item.ref_logp, item.advantage, mask, options.beta, reduce=False, **kwargs
            )
            loss = terms.sum() / tokens
        else:
            loss = grpo_loss(logp, item.ref_logp, item.advantage, mask, options.beta, **kwargs)
            loss = loss / len(chunk)
        loss.backward()
        total += float(loss.detach())
    torch.nn.utils.clip_grad_norm_(trainable, 1.0)
    optimizer.step()
    return total
