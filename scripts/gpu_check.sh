#!/usr/bin/env bash
# One-GPU check, offline, < 10 min: a random-init Qwen2.5-VL-3B (architecture from its config,
# no download), SFT and GRPO steps in bf16 autocast with the 1-GPU LoRA recipe's settings; prints
# one JSON line per setting with peak GPU memory (MiB) and seconds per step.
#   scripts/gpu_check.sh                 # 3B LoRA, then 3B full LM, on cuda
#   scripts/gpu_check.sh --arch tiny --device cpu   # the CPU path (what the tests run)
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${PYTHON:-.venv/bin/python}"
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 HF_DATASETS_OFFLINE=1
if [ "$#" -gt 0 ]; then
  exec timeout 600 "$PY" -m unimed_cot.train.gpu_check "$@"
fi
timeout 300 "$PY" -m unimed_cot.train.gpu_check --arch 3b --device cuda --steps 3
timeout 280 "$PY" -m unimed_cot.train.gpu_check --arch 3b --device cuda --steps 3 --full
