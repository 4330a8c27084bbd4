"""The ``unimed-cot`` application: the root group, its commands, and the console-script entry.

Each command group lives in its own module with its declaration and body (``sources``,
``build``, ``release``, ``export``, ``inspect``, ``train``); this module only assembles them.
Errors are mapped to one line and an exit code in ``errors`` (the root group; ``main`` for bugs).
"""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from unimed_cot import __version__

from .build import build
from .errors import UnimedGroup, debugging, report_bug
from .export import export
from .inspect import preview, stats
from .release import hash_images, hydrate, publish, validate
from .sources import sources
from .train import train_app

app = typer.Typer(
    name="unimed-cot",
    cls=UnimedGroup,
    help=(
        "Build grounded medical reasoning data from public 2D and 3D sources, publish it as a "
        "versioned Hugging Face dataset, and validate any release.\n\n"
        "Start with the demo: unimed-cot build --source phantom && unimed-cot publish "
        "unimed-cot --version 0.1.0 && unimed-cot validate unimed-cot"
    ),
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _version_callback(value: bool) -> None:
    if value:
        typer.echo(f"unimed-cot {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option(
            "--version",
            callback=_version_callback,
            is_eager=True,
            help="Print the version and exit.",
        ),
    ] = False,
) -> None:
    """Grounded medical visual reasoning across 2D images and 3D volumes."""


app.command()(sources)
app.command()(build)
app.command()(publish)
app.command()(validate)
app.command()(hydrate)
app.command()(export)
app.command("hash")(hash_images)
app.command()(stats)
app.command()(preview)
app.add_typer(train_app, name="train")


def main() -> None:
    """Console-script entry point: the app, with any unexpected exception reported as a bug."""
    try:
        app()
    except Exception as error:  # a bug: every expected failure is a UnimedError (errors.py)
        if debugging():
            raise
        sys.exit(report_bug(error))
