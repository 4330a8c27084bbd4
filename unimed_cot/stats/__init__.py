"""What a release holds, measured: priors, option sets, questions per case, regions, figures.

``compute_stats(DIR, aliases=DEFAULT_ALIASES)`` measures a release folder (its published shards)
or a workspace (its staged rows) from the light columns only; ``check_stats`` turns the numbers
into typed findings against a ``Tolerance``; ``print_stats`` shows them as tables and
``write_plots`` draws the card's figures. ``option_problems`` judges one option set against any
alias relation given as data.
"""

from .checks import Finding, FindingKind, Severity, Tolerance, check_stats, problems_of
from .compute import (
    FamilyStats,
    RegionSizes,
    ReleaseStats,
    SourceStats,
    compute_stats,
    stats_of_rows,
)
from .options import (
    DEFAULT_ALIASES,
    AliasRelation,
    AliasTable,
    OptionProblem,
    OptionProblemKind,
    normalize_name,
    option_problems,
)
from .plots import PLOT_NAMES, FigureData, figure_data, write_plots
from .reading import Origin, RowFiles, find_row_files
from .tables import print_stats

__all__ = [
    "DEFAULT_ALIASES",
    "PLOT_NAMES",
    "AliasRelation",
    "AliasTable",
    "FamilyStats",
    "FigureData",
    "Finding",
    "FindingKind",
    "OptionProblem",
    "OptionProblemKind",
    "Origin",
    "RegionSizes",
    "ReleaseStats",
    "RowFiles",
    "Severity",
    "SourceStats",
    "Tolerance",
    "check_stats",
    "compute_stats",
    "figure_data",
    "find_row_files",
    "normalize_name",
    "option_problems",
    "print_stats",
    "problems_of",
    "stats_of_rows",
    "write_plots",
]
