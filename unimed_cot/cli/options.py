"""Options and arguments shared by several commands, and the console they print to."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

console = Console(highlight=False)

DEFAULT_DIR = Path("unimed-cot")

ReleaseDir = Annotated[
    Path,
    typer.Argument(
        help="Release folder (the build workspace). Default: ./unimed-cot", show_default=False
    ),
]
PublishedRelease = Annotated[Path, typer.Argument(help="Release folder written by `publish`.")]
Threshold = Annotated[
    int,
    typer.Option(min=0, max=63, help="Near-duplicate distance in bits (of 64-bit hashes)."),
]


def require_folder(path: Path, what: str) -> None:
    """A usage error unless ``path`` is a folder."""
    from unimed_cot.errors import UsageError

    if not path.is_dir():
        raise UsageError(f"{path} is not a folder; give {what}")
