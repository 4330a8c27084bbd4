"""The trainer smoke on a CUDA device (skipped without one; never run in this CPU-only CI).

With ``UNIMED_GPU_MODEL`` set to a local Qwen2.5-VL checkpoint folder (e.g. a downloaded
Qwen2.5-VL-3B-Instruct), the same chain runs on that model instead of the tiny one.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

torch = pytest.importorskip("torch", reason="needs the [train] extra")


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_sft_grpo_eval_on_cuda(tiny_model: Path, train_release: Path, tmp_path: Path) -> None:
    from unimed_cot.train.evaluate import EvalOptions, run_eval
    from unimed_cot.train.grpo import GRPOOptions, run_grpo
    from unimed_cot.train.sft import SFTOptions, run_sft

    model = os.environ.get("UNIMED_GPU_MODEL", str(tiny_model))
    sft = run_sft(
        SFTOptions(
            data=str(train_release),
            model=model,
            output=tmp_path / "s",
            max_steps=4,
            batch_size=2,
            grad_accum=1,
            learning_rate=1e-5,
            device="cuda",
            bf16=torch.cuda.is_bf16_supported(),
        )
    )
    assert sft.steps == 4 and all(loss == loss for loss in sft.losses)
    grpo = run_grpo(
        GRPOOptions(
            data=str(train_release),
            model=str(tmp_path / "s"),
            output=tmp_path / "g",
            max_steps=2,
            num_generations=4,
            max_new_tokens=128,
            device="cuda",
        )
    )
    assert grpo.steps == 2
    report = run_eval(
        EvalOptions(
            data=str(train_release),
            model=str(tmp_path / "g"),
            output=tmp_path / "e",
            limit=8,
            max_new_tokens=128,
            device="cuda",
        )
    )
    assert json.loads((tmp_path / "e" / "eval.json").read_text())["n"] == report.n > 0
