"""One module per public source. Subclassing ``Builder`` registers a source; every module in this
package is imported by ``discover()``, so adding a source touches exactly one file here."""

from __future__ import annotations

import importlib
import pkgutil

from .base import Builder, get_builder, registered_builders

__all__ = ["Builder", "discover", "get_builder", "registered_builders"]


def discover() -> None:
    """Import every builder module of this package so that their classes register."""
    for module in pkgutil.iter_modules(__path__):
        if module.name != "base" and not module.name.startswith("_"):
            importlib.import_module(f"{__name__}.{module.name}")
