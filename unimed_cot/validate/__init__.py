"""``validate DIR``: check a release folder without trusting any of it (``release``: the checks
of the folder, manifest and card; ``rows``: the checks of every shard and row)."""

from .release import validate_release
from .report import Problem, ValidationReport, format_problems

__all__ = ["Problem", "ValidationReport", "format_problems", "validate_release"]
