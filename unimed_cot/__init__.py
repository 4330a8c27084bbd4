"""unimed-cot: grounded medical visual reasoning data across 2D images and 3D volumes."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("unimed-cot")
except PackageNotFoundError:  # running from a source tree without an install
    __version__ = "0.0.0+source"

__all__ = ["__version__"]
