"""``unimed-cot train ...``: the reference trainer's commands (extra ``[train]``)."""

from __future__ import annotations

from unimed_cot.train.cli import build_train_app

# Errors of the trainer's commands are mapped by the root group (``errors.UnimedGroup``).
train_app = build_train_app(lambda command: command)
