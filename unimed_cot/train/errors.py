"""The trainer's typed error: one readable line, mapped to an exit code by the CLI."""

from __future__ import annotations

from unimed_cot.errors import UsageError


class TrainError(UsageError):
    """A trainer configuration or input problem (bad model folder, empty data, bad flag)."""
