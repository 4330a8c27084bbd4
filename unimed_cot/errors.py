"""Errors that stop a run: configuration and environment problems, never a single bad record.

A bad record is a ``records.Rejection`` (counted, kept, reported). These exceptions are mapped to
one readable line and an exit code in exactly one place, ``cli.py``.
"""

from __future__ import annotations


class UnimedError(Exception):
    """Base of the errors the CLI reports as one line; ``exit_code`` is the process's."""

    exit_code = 1


class UsageError(UnimedError):
    """The user asked for something that cannot be done as asked (bad flag value, bad path)."""

    exit_code = 2


class UnknownSourceError(UsageError):
    """A source slug that no builder registers."""


class SourceLayoutError(UsageError):
    """An input folder that does not look like the source it was given as."""


class ReleaseError(UnimedError):
    """A release folder that cannot be published or read (missing staging, bad manifest)."""


class ValidationFailedError(UnimedError):
    """``validate`` found problems; the message lists them."""

    exit_code = 3
