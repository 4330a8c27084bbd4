"""One module per public source. Subclassing ``Builder`` registers a source; every module in this
package is imported by ``discover()``, so adding a source touches exactly one file here."""

from __future__ import annotations

from .base import Builder, discover, get_builder, load_case, registered_builders

__all__ = ["Builder", "discover", "get_builder", "load_case", "registered_builders"]
