"""``unimed-cot train …``: thin Typer commands over the trainer (extra ``[train]``).

Heavy imports (torch, transformers, trl) happen inside the commands, so ``unimed-cot --help``
stays instant. The sub-app is built by :func:`build_train_app` with the main CLI's error wrapper,
so errors map to one line and an exit code in the same single place.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, cast

import typer

from unimed_cot.train.errors import TrainError

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


def build_train_app(wrap: Callable[[Any], Any]) -> typer.Typer:
    """The ``train`` sub-app; ``wrap`` is the main CLI's error-to-exit-code decorator."""
    app = typer.Typer(
        help=(
            "Reference trainer: SFT with region-token injection, outcome-reward GRPO with "
            "crop-and-continue rollouts, evaluation and the ablation grid. Smoke-test on a "
            "laptop: unimed-cot train tiny-model m && unimed-cot train sft --model m "
            "--max-steps 2 --output s"
        ),
        no_args_is_help=True,
    )

    @app.command("tiny-model")
    @wrap
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

    @app.command()
    @wrap
    def sft(
        output: Annotated[Path, typer.Option("--output", help="Checkpoint folder to write.")],
        data: DataOption = "unimed-cot",
        model: ModelOption = "Qwen/Qwen2.5-VL-7B-Instruct",
        mix: MixOption = "2d=1,3d=1",
        grounding: Annotated[
            bool, typer.Option("--grounding/--no-grounding", help="Keep boxes in the reasoning.")
        ] = True,
        region_tokens: Annotated[
            bool,
            typer.Option(
                "--region-tokens/--no-region-tokens",
                help="Insert the crop of each cited box after its <|box_end|> (masked from loss).",
            ),
        ] = True,
        lora: Annotated[
            bool, typer.Option(help="LoRA on the LM instead of full fine-tuning.")
        ] = False,
        max_steps: Annotated[int, typer.Option(help="Stop after N steps (-1: epochs).")] = -1,
        epochs: Annotated[float, typer.Option(help="Training epochs.")] = 1.0,
        lr: Annotated[float, typer.Option("--lr", help="Learning rate.")] = 1e-5,
        batch_size: Annotated[int, typer.Option(help="Per-device batch size.")] = 2,
        grad_accum: Annotated[int, typer.Option(help="Gradient accumulation steps.")] = 4,
        warmup: Annotated[float, typer.Option(help="Warmup ratio (<1) or steps.")] = 0.03,
        limit: LimitOption = None,
        seed: SeedOption = 0,
        bf16: Annotated[bool, typer.Option(help="bfloat16 weights and autocast (GPU).")] = False,
        device: DeviceOption = "cpu",
    ) -> None:
        """Supervised fine-tuning (vision tower and projector frozen), TRL SFTTrainer."""
        require_extra()
        from unimed_cot.train.sft import SFTOptions, run_sft

        result = run_sft(
            SFTOptions(
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
            )
        )
        last = f"{result.losses[-1]:.4f}" if result.losses else "n/a"
        typer.echo(
            f"sft: {result.steps} steps on {result.samples} rows, last loss {last} -> {output}"
        )

    @app.command()
    @wrap
    def grpo(
        output: Annotated[Path, typer.Option("--output", help="Checkpoint folder to write.")],
        data: DataOption = "unimed-cot",
        model: ModelOption = "Qwen/Qwen2.5-VL-7B-Instruct",
        mix: MixOption = "2d=1,3d=1",
        max_steps: Annotated[int, typer.Option(help="Policy updates.")] = 100,
        prompts_per_step: Annotated[int, typer.Option(help="Questions per update.")] = 1,
        num_generations: Annotated[int, typer.Option(help="Rollouts per question.")] = 16,
        lr: Annotated[float, typer.Option("--lr", help="Learning rate.")] = 1e-6,
        beta: Annotated[float, typer.Option(help="KL coefficient (k3 estimate).")] = 0.01,
        temperature: Annotated[float, typer.Option(help="Sampling temperature.")] = 1.0,
        max_new_tokens: Annotated[int, typer.Option(help="Model tokens per rollout.")] = 512,
        max_rounds: Annotated[int, typer.Option(help="Crop-and-continue rounds.")] = 10,
        limit: LimitOption = None,
        seed: SeedOption = 0,
        device: DeviceOption = "cpu",
    ) -> None:
        """GRPO, reward 0.8 × answer + 0.2 × format, crop-and-continue rollouts (2D and 3D)."""
        require_extra()
        from unimed_cot.train.grpo import GRPOOptions, run_grpo

        result = run_grpo(
            GRPOOptions(
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
            )
        )
        mean = sum(result.rewards) / len(result.rewards) if result.rewards else 0.0
        typer.echo(f"grpo: {result.steps} steps, mean reward {mean:.3f} -> {output}")

    @app.command("eval")
    @wrap
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
            )
        )
        typer.echo(markdown_table(report) + f"\nwrote {output}/eval.json and eval.md")

    @app.command()
    @wrap
    def ablate(
        output: Annotated[Path, typer.Option("--output", help="Folder for cells and the table.")],
        data: DataOption = "unimed-cot",
        model: ModelOption = "Qwen/Qwen2.5-VL-7B-Instruct",
        data_settings: Annotated[str, typer.Option(help="Subset of 2d,3d,2d+3d.")] = "2d,3d,2d+3d",
        grounding: Annotated[str, typer.Option(help="on, off or on,off.")] = "on,off",
        region_tokens: Annotated[str, typer.Option(help="on, off or on,off.")] = "on,off",
        max_steps: Annotated[int, typer.Option(help="SFT steps per cell (matched).")] = -1,
        lr: Annotated[float, typer.Option("--lr", help="SFT learning rate.")] = 1e-5,
        batch_size: Annotated[int, typer.Option(help="Per-device batch size.")] = 2,
        grad_accum: Annotated[int, typer.Option(help="Gradient accumulation steps.")] = 4,
        eval_split: Annotated[str, typer.Option(help="Split every cell is evaluated on.")] = "test",
        eval_limit: Annotated[int | None, typer.Option(help="Evaluate at most N rows.")] = None,
        max_new_tokens: Annotated[int, typer.Option(help="Model tokens per answer.")] = 512,
        limit: LimitOption = None,
        seed: SeedOption = 0,
        device: DeviceOption = "cpu",
    ) -> None:
        """Ablation grid (data × grounding × region tokens), one results table."""
        require_extra()
        from unimed_cot.train.ablate import ablation_markdown, parse_grid, run_ablation
        from unimed_cot.train.evaluate import EvalOptions
        from unimed_cot.train.sft import SFTOptions

        cells = parse_grid(data_settings, grounding, region_tokens)
        results = run_ablation(
            cells=cells,
            base=SFTOptions(
                data=data,
                model=model,
                output=output,
                max_steps=max_steps,
                learning_rate=lr,
                batch_size=batch_size,
                grad_accum=grad_accum,
                limit=limit,
                seed=seed,
                device=device,
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

    return app
