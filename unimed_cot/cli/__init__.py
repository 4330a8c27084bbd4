"""The ``unimed-cot`` command line: one module per command group, thin commands over library
calls, errors mapped to one line and an exit code in one place (``errors``)."""

from .app import app, main

__all__ = ["app", "main"]
