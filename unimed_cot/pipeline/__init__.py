"""Stage order, resumable staging and executors of a build."""

from .config import DEFAULT_SALT, BuildConfig
from .run import BuildReport, run_build
from .workspace import Workspace

__all__ = ["DEFAULT_SALT", "BuildConfig", "BuildReport", "Workspace", "run_build"]
