"""The reference trainer (extra ``[train]``): reads only published rows of a release.

Modules: ``data`` (rows -> samples, prompts, mixture), ``regions`` (crops, injection),
``collator`` (SFT labels), ``sft`` (TRL SFTTrainer), ``rewards`` (strict answers, format),
``rollout`` (crop-and-continue), ``grpo``, ``evaluate``, ``ablate``, ``tiny`` (smoke checkpoint),
``processor`` (image-only Qwen2-VL processor), ``cli``. Nothing here imports torch at import time.
"""
