"""Recipes per paper setting (one CPU step each on the tiny model) and the GPU check's CPU path."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest
import yaml

torch = pytest.importorskip("torch", reason="needs the [train] extra")
pytest.importorskip("trl", reason="needs the [train] extra")

from unimed_cot.train.errors import TrainError  # noqa: E402
from unimed_cot.train.grpo import GRPOOptions, run_grpo  # noqa: E402
from unimed_cot.train.recipes import (  # noqa: E402
    apply_recipe,
    builtin_recipes,
    load_recipe,
    recipe_path,
)
from unimed_cot.train.sft import SFTOptions, run_sft  # noqa: E402

RECIPES = [
    "qwen2.5-vl-3b-1gpu-lora",
    "qwen2.5-vl-3b-8gpu-zero3",
    "qwen2.5-vl-7b-1gpu-lora",
    "qwen2.5-vl-7b-8gpu-zero3",
]
# What the CPU test overrides (as flags would): the model, the device and the sizes.
CPU = {"device", "model", "max_steps", "batch_size", "grad_accum", "limit"}
CPU_GRPO = {"device", "model", "max_steps", "prompts_per_step", "num_generations"}
CPU_GRPO |= {"max_new_tokens", "limit", "mini_batches", "save_steps"}


def test_the_shipped_recipes_and_their_settings() -> None:
    assert builtin_recipes() == RECIPES
    for name in RECIPES:
        recipe = load_recipe(name)
        sft = apply_recipe(
            SFTOptions(data="d", model="m", output=Path("o")), recipe, "sft", explicit=set()
        )
        assert sft.model.startswith("Qwen/Qwen2.5-VL-") and sft.bf16 and sft.gradient_checkpointing
        assert sft.lora == ("lora" in name)
        grpo = apply_recipe(
            GRPOOptions(data="d", model="m", output=Path("o")), recipe, "grpo", explicit={"model"}
        )
        assert grpo.model == "m" and grpo.bf16 and grpo.loss_type == "token"
        if "8gpu" in name:  # the reference schedule
            assert (grpo.prompts_per_step, grpo.num_generations, grpo.max_new_tokens) == (
                128,
                16,
                2048,
            )
            launch = yaml.safe_load(
                (recipe_path(name).parent / recipe.launch["accelerate_config"]).read_text()
            )
            assert launch["deepspeed_config"]["zero_stage"] == 3
            assert launch["num_processes"] == recipe.launch["num_processes"] == 8


def test_a_bad_recipe_is_one_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("sft:\n  learning_rat: 1\n")
    with pytest.raises(TrainError, match="learning_rat is not a recipe setting"):
        apply_recipe(
            SFTOptions(data="d", model="m", output=Path("o")),
            load_recipe(str(bad)),
            "sft",
            explicit=set(),
        )
    bad.write_text("sft:\n  batch_size: many\n")
    with pytest.raises(TrainError, match="batch_size"):
        apply_recipe(
            SFTOptions(data="d", model="m", output=Path("o")),
            load_recipe(str(bad)),
            "sft",
            explicit=set(),
        )
    with pytest.raises(TrainError, match="no shipped recipe"):
        load_recipe("qwen-9000")


@pytest.mark.slow
@pytest.mark.parametrize("name", RECIPES)
def test_recipe_runs_one_cpu_step(
    name: str, tiny_model: Path, train_release: Path, tmp_path: Path
) -> None:
    recipe = load_recipe(name)
    sft = apply_recipe(
        SFTOptions(
            data=str(train_release),
            model=str(tiny_model),
            output=tmp_path / "s",
            device="cpu",
            max_steps=1,
            batch_size=1,
            grad_accum=1,
            limit=2,
        ),
        recipe,
        "sft",
        explicit=CPU,
    )
    assert sft.device == "cpu" and sft.model == str(tiny_model) and sft.bf16
    assert run_sft(replace(sft, save_steps=0)).steps == 1
    grpo = apply_recipe(
        GRPOOptions(
            data=str(train_release),
            model=str(tmp_path / "s"),
            output=tmp_path / "g",
            device="cpu",
            max_steps=1,
            prompts_per_step=1,
            num_generations=2,
            max_new_tokens=4,
            limit=2,
            mini_batches=1,
            save_steps=0,
        ),
        recipe,
        "grpo",
        explicit=CPU_GRPO,
    )
    assert grpo.bf16 and grpo.loss_type == "token"
    assert run_grpo(grpo).steps == 1


@pytest.mark.slow
def test_gpu_check_cpu_path(capsys: pytest.CaptureFixture[str]) -> None:
    from unimed_cot.train.gpu_check import ARCHS, main

    assert ARCHS["3b"]["text"]["num_hidden_layers"] == 36
    assert (
        main(
            [
                "--arch",
                "tiny",
                "--device",
                "cpu",
                "--steps",
                "1",
                "--generations",
                "2",
                "--max-new-tokens",
                "4",
            ]
        )
        == 0
    )
    report = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert report["arch"] == "tiny" and report["lora"] is True
    assert 0 < report["trainable"] < report["parameters"]
    for stage in ("sft", "grpo"):
        assert report[stage]["s_per_step"] > 0 and report[stage]["peak_mib"] > 0
    assert all(loss == loss for loss in report["sft"]["losses"])
