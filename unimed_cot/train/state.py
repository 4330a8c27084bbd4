"""GRPO checkpoints that a run can resume from: trainable weights, optimizer, samplers, history.

A ``checkpoint-N`` folder holds ``trainer_state.pt`` (only the parameters that train: the LM, or
the LoRA adapters; the frozen vision tower comes back from ``--model``) and ``progress.json``
(step, updates, reward and loss history, human-readable). Resuming loads the same base model with
the same options, then this state, so step N+1 samples the questions it would have sampled.
"""

from __future__ import annotations

import json
import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from unimed_cot.train.errors import TrainError

STATE_FILE = "trainer_state.pt"
PROGRESS_FILE = "progress.json"


@dataclass
class TrainState:
    """What a checkpoint restores besides the tensors."""

    step: int
    updates: int
    rewards: list[float] = field(default_factory=list)
    losses: list[float] = field(default_factory=list)


def save_state(
    folder: Path,
    model: Any,
    optimizer: Any,
    rng: random.Random,
    *,
    step: int,
    updates: int,
    rewards: Sequence[float],
    losses: Sequence[float],
) -> Path:
    """Write ``folder`` (atomically: a temporary file renamed into place)."""
    import torch

    folder.mkdir(parents=True, exist_ok=True)
    trainable = {n: p.detach().cpu() for n, p in model.named_parameters() if p.requires_grad}
    payload = {
        "model": trainable,
        "optimizer": optimizer.state_dict(),
        "rng": rng.getstate(),
        "torch_rng": torch.get_rng_state(),
        "cuda_rng": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None,
    }
    tmp = folder / (STATE_FILE + ".tmp")
    torch.save(payload, tmp)
    tmp.replace(folder / STATE_FILE)
    progress = {"step": step, "updates": updates, "rewards": list(rewards), "losses": list(losses)}
    (folder / PROGRESS_FILE).write_text(json.dumps(progress, indent=2) + "\n")
    return folder


def load_state(folder: Path, model: Any, optimizer: Any, rng: random.Random) -> TrainState:
    """Restore ``folder`` into ``model``, ``optimizer`` and ``rng``.

    Raises:
        TrainError: a folder without a GRPO state, or one whose weights do not fit the model (a
            different ``--model`` or ``--lora`` than the run that wrote it).
    """
    import torch

    path = folder / STATE_FILE
    if not path.is_file() or not (folder / PROGRESS_FILE).is_file():
        raise TrainError(f"{folder}: not a GRPO checkpoint (no {STATE_FILE}/{PROGRESS_FILE})")
    payload = torch.load(path, map_location="cpu", weights_only=False)
    names = {n for n, p in model.named_parameters() if p.requires_grad}
    if set(payload["model"]) != names:
        raise TrainError(
            f"{folder}: its trainable weights do not match this model (same --model and --lora "
            "as the run that wrote it?)"
        )
    params = dict(model.named_parameters())
    with torch.no_grad():
        for name, value in payload["model"].items():
            params[name].copy_(value)
    optimizer.load_state_dict(payload["optimizer"])
    rng.setstate(payload["rng"])
    torch.set_rng_state(payload["torch_rng"])
    if payload.get("cuda_rng") is not None and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(payload["cuda_rng"])
    progress = json.loads((folder / PROGRESS_FILE).read_text())
    return TrainState(
        step=int(progress["step"]),
        updates=int(progress["updates"]),
        rewards=[float(v) for v in progress["rewards"]],
        losses=[float(v) for v in progress["losses"]],
    )
