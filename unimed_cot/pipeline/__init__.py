"""Stage order, resumable staging and executors of a build."""

from .config import DEFAULT_SALT, BuildConfig
from .run import BuildReport, run_build

__all__ = ["DEFAULT_SALT", "BuildConfig", "BuildReport", "run_build"]
