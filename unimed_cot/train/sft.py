"""Supervised fine-tuning with TRL's ``SFTTrainer`` and region-token injection."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from unimed_cot.train.collator import SFTCollator
from unimed_cot.train.data import load_samples, parse_mix
from unimed_cot.train.errors import TrainError
from unimed_cot.train.model import add_think_tokens, freeze_vision, load_model, lora_config


@dataclass
class SFTOptions:
    """One SFT run. Defaults are the reference recipe (lr 1e-5, 1 epoch, cosine, warmup 0.03).

    Attributes:
        data: release folder or Hub dataset id.
        model: checkpoint folder or Hub model id.
        output: where the trained checkpoint is written.
        mix: config weights, e.g. ``2d=1,3d=1``.
        grounding: keep the boxes in the reasoning (off: ``--no-grounding``).
        region_tokens: inject crops after each box (off: ``--no-region-tokens``).
        lora: train LoRA adapters on the LM instead of the full LM.
        bf16: mixed precision: fp32 master weights (the model is loaded in fp32) with bf16
            autocast (``SFTConfig(bf16=True)``), so small updates are not rounded away.
        gradient_checkpointing: recompute activations in the backward pass (less memory).
        save_steps: write ``output/checkpoint-N`` every N optimizer steps (0: only the end).
        resume: continue from a checkpoint folder, or ``latest`` for the newest in ``output``.
    """

    data: str
    model: str
    output: Path
    mix: str = "2d=1,3d=1"
    grounding: bool = True
    region_tokens: bool = True
    lora: bool = False
    max_steps: int = -1
    epochs: float = 1.0
    learning_rate: float = 1e-5
    batch_size: int = 1
    grad_accum: int = 1
    warmup: float = 0.03
    scheduler: str = "cosine"
    limit: int | None = None
    seed: int = 0
    bf16: bool = False
    device: str = "cpu"
    save: bool = True
    gradient_checkpointing: bool = False
    save_steps: int = 0
    save_total_limit: int | None = None
    resume: str | None = None


@dataclass
class SFTResult:
    """What a run did: the output folder, steps taken and the per-step training losses."""

    output: Path
    steps: int
    samples: int
    losses: list[float] = field(default_factory=list)
    label_tokens: int = 0


def resume_point(resume: str | None, output: Path) -> str | None:
    """The checkpoint folder to resume from: ``latest`` is the newest ``checkpoint-N`` of
    ``output``.

    Raises:
        TrainError: ``latest`` with no checkpoint, or a folder that does not exist.
    """
    if resume is None:
        return None
    if resume == "latest":
        found = sorted(
            (p for p in output.glob("checkpoint-*") if p.name.split("-")[-1].isdigit()),
            key=lambda p: int(p.name.split("-")[-1]),
        )
        if not found:
            raise TrainError(f"--resume latest: no checkpoint-N folder in {output}")
        return str(found[-1])
    if not Path(resume).is_dir():
        raise TrainError(f"--resume: no such checkpoint folder {resume}")
    return resume


def run_sft(options: SFTOptions) -> SFTResult:
    """Fine-tune ``options.model`` on a release and save the checkpoint (model + processor)."""
    import datasets
    from trl import SFTConfig, SFTTrainer

    from unimed_cot.train.processor import load_processor

    samples = load_samples(
        options.data,
        mix=parse_mix(options.mix),
        limit=options.limit,
        grounding=options.grounding,
        seed=options.seed,
    )
    processor = load_processor(options.model)
    start = resume_point(options.resume, options.output)
    # A full-LM checkpoint is loaded with from_pretrained (which maps Qwen2.5-VL's legacy key
    # names); the Trainer's own resume load does not map them and would leave the base weights.
    own_load = start is not None and not options.lora
    # Always fp32 weights: with --bf16 the trainer autocasts the forward to bf16 while AdamW
    # updates the fp32 master copy (bf16 weights would round most 1e-5 updates away).
    model = load_model(start if own_load and start else options.model, dtype="float32")
    add_think_tokens(processor, model)
    freeze_vision(model)
    config = SFTConfig(
        output_dir=str(options.output),
        max_steps=options.max_steps,
        num_train_epochs=options.epochs,
        learning_rate=options.learning_rate,
        lr_scheduler_type=options.scheduler,
        warmup_steps=options.warmup,
        per_device_train_batch_size=options.batch_size,
        gradient_accumulation_steps=options.grad_accum,
        logging_steps=1,
        save_strategy="steps" if options.save_steps > 0 else "no",
        save_steps=max(options.save_steps, 1),
        save_total_limit=options.save_total_limit,
        activation_checkpointing=options.gradient_checkpointing,
        activation_checkpointing_kwargs={"use_reentrant": False},
        report_to="none",
        seed=options.seed,
        bf16=options.bf16,
        use_cpu=options.device == "cpu",
        # The collator does all tokenisation; TRL must neither prepare nor truncate (truncation
        # would cut image tokens).
        remove_unused_columns=False,
        dataset_kwargs={"skip_prepare_dataset": True},
        max_length=None,
        disable_tqdm=True,
    )
    collator = SFTCollator(processor, samples, region_tokens=options.region_tokens)

    class Trainer(SFTTrainer):
        def _load_from_checkpoint(self, resume_from_checkpoint: str, model: Any = None) -> None:
            if not own_load:  # LoRA: the adapters come back through PEFT's loader
                super()._load_from_checkpoint(resume_from_checkpoint, model)

    trainer = Trainer(
        model=model,
        args=config,
        train_dataset=datasets.Dataset.from_dict({"index": list(range(len(samples)))}),
        data_collator=collator,
        processing_class=processor,
        peft_config=lora_config() if options.lora else None,
    )
    trainer.train(resume_from_checkpoint=start)
    losses = [float(e["loss"]) for e in trainer.state.log_history if "loss" in e]
    if options.save:
        save_checkpoint(trainer.model, processor, options.output, merge_lora=options.lora)
    return SFTResult(
        output=options.output,
        steps=trainer.state.global_step,
        samples=len(samples),
        losses=losses,
        label_tokens=collator.label_tokens,
    )


def save_checkpoint(model: Any, processor: Any, output: Path, *, merge_lora: bool) -> None:
    """Save a checkpoint every train command can load as ``--model`` (LoRA merged in)."""
    if merge_lora and hasattr(model, "merge_and_unload"):
        model = model.merge_and_unload()
    output.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(output)
    processor.tokenizer.save_pretrained(output)
    processor.image_processor.save_pretrained(output)
