"""How failures reach the user: one line and an exit code, decided in two places only.

* A ``UnimedError`` (a usage, layout, release or validation problem) prints ``error: <one line>``
  and exits with its ``exit_code``; Ctrl-C says finished cases are kept and exits 130. The root
  group (``UnimedGroup``) does this around every command, so it holds under the console script
  and under ``CliRunner`` alike.
* Anything else is a bug. The console-script entry (``app.main``) turns it into one line that
  says so, exit 1 (``report_bug``); under ``CliRunner`` it stays an exception, so a bug fails a
  test instead of passing as a clean exit.

``UNIMED_DEBUG=1`` re-raises instead, for the traceback.
"""

from __future__ import annotations

import os
from typing import Any

import typer
from typer.core import TyperGroup

from unimed_cot.errors import UnimedError

INTERRUPTED = 130


def debugging() -> bool:
    return bool(os.environ.get("UNIMED_DEBUG"))


class UnimedGroup(TyperGroup):
    """The root command group: maps the library's errors to messages and exit codes."""

    def invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)
        except UnimedError as error:
            if debugging():
                raise
            typer.echo(f"error: {error}", err=True)
            raise typer.Exit(error.exit_code) from None
        except KeyboardInterrupt:
            typer.echo(
                "interrupted: finished cases are kept; run the same command to continue", err=True
            )
            raise typer.Exit(INTERRUPTED) from None


def report_bug(error: Exception) -> int:
    """Print the one line of an unexpected exception; the exit code to use."""
    typer.echo(
        f"internal error: {type(error).__name__}: {error}\n"
        "This is a bug; rerun with UNIMED_DEBUG=1 for the traceback and report it.",
        err=True,
    )
    return 1
