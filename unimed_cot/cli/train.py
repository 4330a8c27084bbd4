"""``unimed-cot train …``: the reference trainer's commands (extra ``[train]``).

Heavy imports (torch, transformers, trl) happen inside the commands, so ``unimed-cot --help``
stays instant. Errors (``TrainError`` is a ``UsageError``) are mapped by the root group. A
``--recipe`` (a shipped name or a YAML file, see ``unimed_cot/train/recipes``) sets the options of
a paper setting; a flag given on the command line wins over the recipe.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Annotated, Any, TypeVar, cast

import typer
from click.core import ParameterSource

from unimed_cot.train.errors import TrainError

T = TypeVar("T")

DataOption = Annotated[
    str, typer.Option("--data", help="Release folder or Hub dataset id (published rows only).")
]
ModelOption = Annotated[
    str, typer.Option("--model", help="Checkpoint folder or Hub model id (Qwen2-VL/Qwen2.5-VL).")
]
MixOption = Annotated[
    str, typer.Option("--mix", help="Config weights, e.g. 2d=1,3d=1 (or 2d, or 3d).")
]
LimitOption = Annotated[int | None, typer.Option("--limit", help="Use at most N rows.")]
DeviceOption = Annotated[str, typer.Option("--device", help="cpu or cuda.")]
SeedOption = Annotated[int, typer.Option("--seed", help="Seed of shuffling and sampling.")]
RecipeOption = Annotated[
    str | None,
    typer.Option(
        "--recipe",
        help="A paper setting: shipped name (e.g. qwen2.5-vl-7b-1gpu-lora) or YAML file; "
        "flags given here override it.",
    ),
]
Bf16Option = Annotated[
    bool, typer.Option(help="Mixed precision: fp32 master weights, bf16 autocast.")
]
LoraOption = Annotated[bool, typer.Option(help="LoRA on the LM instead of full fine-tuning.")]
CheckpointingOption = Annotated[
    bool, typer.Option(help="Gradient checkpointing (recompute activations, less memory).")
]
SaveStepsOption = Annotated[
    int, typer.Option(help="Write output/checkpoint-N every N steps (0: only at the end).")
]
ResumeOption = Annotated[
    str | None, typer.Option(help="Resume from a checkpoint folder, or 'latest' in --output.")
]
RegionTokensOption = Annotated[
    bool,
    typer.Option(
        "--region-tokens/--no-region-tokens",
        help="Insert the crop of each cited box after its <|box_end|> (masked from loss).",
    ),
]
# CLI parameter name -> options field, where they differ.
_FIELDS = {"lr": "learning_rate", "grpo_lr": "learning_rate"}

train_app = typer.Typer(
    help=(
        "Reference trainer: SFT with region-token injection, outcome-reward GRPO with "
        "crop-and-continue rollouts, evaluation and the ablation grid. Smoke-test on a "
        "laptop: unimed-cot train tiny-model m && unimed-cot train sft --model m "
        "--max-steps 2 --output s"
    ),
    no_args_is_help=True,
)


def require_extra() -> None:
    """Raise a one-line error when the ``[train]`` extra is missing."""
    missing = [
        m for m in ("torch", "transformers", "trl", "peft") if importlib.util.find_spec(m) is None
    ]
    if missing:
        raise TrainError(
            f"the trainer needs the [train] extra (missing: {', '.join(missing)}); "
            "install torch, then: pip install 'unimed-cot[train]'"
        )


def with_recipe(ctx: typer.Context, options: T, recipe: str | None, section: str) -> T:
    """``options`` with the recipe's section applied under the flags given on the command line."""
    if recipe is None:
        return options
    from unimed_cot.train.recipes import apply_recipe, load_recipe

    given = (ParameterSource.COMMANDLINE, ParameterSource.ENVIRONMENT)
    explicit = {
        _FIELDS.get(name, name) for name in ctx.params if ctx.get_parameter_source(name) in given
    }
    return apply_recipe(options, load_recipe(recipe), section, explicit=explicit)


@train_app.command("tiny-model")
def tiny_model(
    out: Annotated[Path, typer.Argument(help="Checkpoint folder to write.")],
    family: Annotated[str, typer.Option(help="qwen2_5_vl or qwen2_vl.")] = "qwen2_5_vl",
    seed: SeedOption = 0,
) -> None:
    """Write a tiny random Qwen2.5-VL/Qwen2-VL checkpoint (for smoke tests; no download)."""
    require_extra()
    if family not in ("qwen2_5_vl", "qwen2_vl"):
        raise TrainError(f"--family: use qwen2_5_vl or qwen2_vl, not {family!r}")
    from unimed_cot.train.tiny import Family, write_tiny_model

    write_tiny_model(out, family=cast(Family, family), seed=seed)
    typer.echo(f"wrote tiny {family} checkpoint to {out}")


@train_app.command()
def sft(
    ctx: typer.Context,
    output: Annotated[Path, typer.Option("--output", help="Checkpoint folder to write.")],
    data: DataOption = "unimed-cot",
    model: ModelOption = "Qwen/Qwen2.5-VL-7B-Instruct",
    mix: MixOption = "2d=1,3d=1",
    grounding: Annotated[
        bool, typer.Option("--grounding/--no-grounding", help="Keep boxes in the reasoning.")
    ] = True,
    region_tokens: RegionTokensOption = True,
    lora: LoraOption = False,
    max_steps: Annotated[int, typer.Option(help="Stop after N steps (-1: epochs).")] = -1,
    epochs: Annotated[float, typer.Option(help="Training epochs.")] = 1.0,
    lr: Annotated[float, typer.Option("--lr", help="Learning rate.")] = 1e-5,
    batch_size: Annotated[int, typer.Option(help="Per-device batch size.")] = 2,
    grad_accum: Annotated[int, typer.Option(help="Gradient accumulation steps.")] = 4,
    warmup: Annotated[float, typer.Option(help="Warmup ratio (<1) or steps.")] = 0.03,
    limit: LimitOption = None,
    seed: SeedOption = 0,
    bf16: Bf16Option = False,
    gradient_checkpointing: CheckpointingOption = False,
    save_steps: SaveStepsOption = 0,
    resume: ResumeOption = None,
    device: DeviceOption = "cpu",
    recipe: RecipeOption = None,
) -> None:
    """Supervised fine-tuning (vision tower and projector frozen), TRL SFTTrainer."""
    require_extra()
    from unimed_cot.train.sft import SFTOptions, run_sft

    options = SFTOptions(
        data=data,
        model=model,
        output=output,
        mix=mix,
        grounding=grounding,
        region_tokens=region_tokens,
        lora=lora,
        max_steps=max_steps,
        epochs=epochs,
        learning_rate=lr,
        batch_size=batch_size,
        grad_accum=grad_accum,
        warmup=warmup,
        limit=limit,
        seed=seed,
        bf16=bf16,
        device=device,
        gradient_checkpointing=gradient_checkpointing,
        save_steps=save_steps,
        resume=resume,
    )
    result = run_sft(with_recipe(ctx, options, recipe, "sft"))
    last = f"{result.losses[-1]:.4f}" if result.losses else "n/a"
    typer.echo(f"sft: {result.steps} steps on {result.samples} rows, last loss {last} -> {output}")


@train_app.command()
def grpo(
    ctx: typer.Context,
    output: Annotated[Path, typer.Option("--output", help="Checkpoint folder to write.")],
    data: DataOption = "unimed-cot",
    model: ModelOption = "Qwen/Qwen2.5-VL-7B-Instruct",
    mix: MixOption = "2d=1,3d=1",
    max_steps: Annotated[int, typer.Option(help="Generation rounds (policy steps).")] = 100,
    prompts_per_step: Annotated[int, typer.Option(help="Questions per step.")] = 1,
    num_generations: Annotated[int, typer.Option(help="Rollouts per question.")] = 16,
    lr: Annotated[float, typer.Option("--lr", help="Learning rate.")] = 1e-6,
    beta: Annotated[float, typer.Option(help="KL coefficient (k3 estimate).")] = 0.01,
    temperature: Annotated[float, typer.Option(help="Sampling temperature.")] = 1.0,
    max_new_tokens: Annotated[int, typer.Option(help="Model tokens per rollout.")] = 512,
    max_rounds: Annotated[int, typer.Option(help="Crop-and-continue rounds.")] = 10,
    mini_batches: Annotated[int, typer.Option(help="Optimizer updates per step's rollouts.")] = 1,
    ppo_epochs: Annotated[int, typer.Option(help="Passes over a step's rollouts.")] = 1,
    clip_epsilon: Annotated[float, typer.Option(help="Ratio clip of the surrogate.")] = 0.2,
    loss_type: Annotated[
        str, typer.Option(help="sequence (mean per rollout) or token (mean over all tokens).")
    ] = "sequence",
    region_tokens: RegionTokensOption = True,
    lora: LoraOption = False,
    bf16: Bf16Option = False,
    gradient_checkpointing: CheckpointingOption = False,
    save_steps: SaveStepsOption = 0,
    resume: ResumeOption = None,
    limit: LimitOption = None,
    seed: SeedOption = 0,
    device: DeviceOption = "cpu",
    recipe: RecipeOption = None,
) -> None:
    """GRPO, reward 0.8 × answer + 0.2 × format, crop-and-continue rollouts (2D and 3D)."""
    require_extra()
    from unimed_cot.train.grpo import GRPOOptions, run_grpo

    if loss_type not in ("sequence", "token"):
        raise TrainError(f"--loss-type: use sequence or token, not {loss_type!r}")
    options = GRPOOptions(
        data=data,
        model=model,
        output=output,
        mix=mix,
        max_steps=max_steps,
        prompts_per_step=prompts_per_step,
        num_generations=num_generations,
        learning_rate=lr,
        beta=beta,
        temperature=temperature,
        max_new_tokens=max_new_tokens,
        max_rounds=max_rounds,
        limit=limit,
        seed=seed,
        device=device,
        bf16=bf16,
        lora=lora,
        gradient_checkpointing=gradient_checkpointing,
        mini_batches=mini_batches,
        ppo_epochs=ppo_epochs,
        clip_epsilon=clip_epsilon,
        loss_type=cast(Any, loss_type),
        save_steps=save_steps,
        resume=resume,
        region_tokens=region_tokens,
    )
    result = run_grpo(with_recipe(ctx, options, recipe, "grpo"))
    mean = sum(result.rewards) / len(result.rewards) if result.rewards else 0.0
    typer.echo(
        f"grpo: {result.steps} steps ({result.updates} updates), mean reward {mean:.3f} -> {output}"
    )


@train_app.command("eval")
def evaluate(
    model: ModelOption,
    data: DataOption = "unimed-cot",
    output: Annotated[Path, typer.Option("--output", help="Folder for eval.json/.md.")] = Path(
        "eval"
    ),
    mix: MixOption = "2d=1,3d=1",
    split: Annotated[str, typer.Option(help="Split to evaluate.")] = "test",
    limit: LimitOption = None,
    max_new_tokens: Annotated[int, typer.Option(help="Model tokens per answer.")] = 512,
    max_rounds: Annotated[int, typer.Option(help="Crop-and-continue rounds.")] = 10,
    region_tokens: Annotated[
        bool,
        typer.Option(
            "--region-tokens/--no-region-tokens",
            help="Inject crops after boxes (off for a model trained with --no-region-tokens).",
        ),
    ] = True,
    device: DeviceOption = "cpu",
) -> None:
    """Accuracy per config/source/question type, box validity, IoU (analysis only)."""
    require_extra()
    from unimed_cot.train.evaluate import EvalOptions, markdown_table, run_eval

    report = run_eval(
        EvalOptions(
            data=data,
            model=model,
            output=output,
            mix=mix,
            split=split,
            limit=limit,
            max_new_tokens=max_new_tokens,
            max_rounds=max_rounds,
            device=device,
            region_tokens=region_tokens,
        )
    )
    typer.echo(markdown_table(report) + f"\nwrote {output}/eval.json and eval.md")


@train_app.command()
def ablate(
    output: Annotated[Path, typer.Option("--output", help="Folder for cells and the table.")],
    data: DataOption = "unimed-cot",
    model: ModelOption = "Qwen/Qwen2.5-VL-7B-Instruct",
    data_settings: Annotated[str, typer.Option(help="Subset of 2d,3d,2d+3d.")] = "2d,3d,2d+3d",
    grounding: Annotated[str, typer.Option(help="on, off or on,off.")] = "on,off",
    region_tokens: Annotated[str, typer.Option(help="on, off or on,off.")] = "on,off",
    max_steps: Annotated[
        int, typer.Option(help="SFT steps of every cell (-1: epochs of the largest cell).")
    ] = -1,
    epochs: Annotated[float, typer.Option(help="SFT epochs of the largest cell.")] = 1.0,
    lr: Annotated[float, typer.Option("--lr", help="SFT learning rate.")] = 1e-5,
    batch_size: Annotated[int, typer.Option(help="Per-device batch size.")] = 2,
    grad_accum: Annotated[int, typer.Option(help="Gradient accumulation steps.")] = 4,
    grpo_steps: Annotated[int, typer.Option(help="GRPO steps of every cell (0: SFT only).")] = 0,
    grpo_lr: Annotated[float, typer.Option("--grpo-lr", help="GRPO learning rate.")] = 1e-6,
    num_generations: Annotated[int, typer.Option(help="GRPO rollouts per question.")] = 8,
    prompts_per_step: Annotated[int, typer.Option(help="GRPO questions per step.")] = 1,
    eval_split: Annotated[str, typer.Option(help="Split every cell is evaluated on.")] = "test",
    eval_limit: Annotated[int | None, typer.Option(help="Evaluate at most N rows.")] = None,
    max_new_tokens: Annotated[int, typer.Option(help="Model tokens per answer/rollout.")] = 512,
    lora: LoraOption = False,
    bf16: Bf16Option = False,
    gradient_checkpointing: CheckpointingOption = False,
    limit: LimitOption = None,
    seed: SeedOption = 0,
    device: DeviceOption = "cpu",
) -> None:
    """Ablation grid (data × grounding × region tokens), SFT → GRPO per cell, one table."""
    require_extra()
    from unimed_cot.train.ablate import ablation_markdown, parse_grid, run_ablation
    from unimed_cot.train.evaluate import EvalOptions
    from unimed_cot.train.grpo import GRPOOptions
    from unimed_cot.train.sft import SFTOptions

    cells = parse_grid(data_settings, grounding, region_tokens)
    common: dict[str, Any] = {
        "data": data,
        "model": model,
        "output": output,
        "limit": limit,
        "seed": seed,
        "device": device,
        "lora": lora,
        "bf16": bf16,
        "gradient_checkpointing": gradient_checkpointing,
    }
    results = run_ablation(
        cells=cells,
        base=SFTOptions(
            **common,
            max_steps=max_steps,
            epochs=epochs,
            learning_rate=lr,
            batch_size=batch_size,
            grad_accum=grad_accum,
        ),
        grpo=GRPOOptions(
            **common,
            max_steps=grpo_steps,
            learning_rate=grpo_lr,
            num_generations=num_generations,
            prompts_per_step=prompts_per_step,
            max_new_tokens=max_new_tokens,
        ),
        eval_options=EvalOptions(
            data=data,
            model=model,
            output=output,
            split=eval_split,
            limit=eval_limit,
            max_new_tokens=max_new_tokens,
            device=device,
        ),
        output=output,
    )
    typer.echo(ablation_markdown(results) + f"\nwrote {output}/ablation.json and ablation.md")
