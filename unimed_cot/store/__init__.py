"""What the pipeline and the release share: the workspace layout, atomic writes, checksums, the
declared row features and the project's one Parquet writer.

This package sits below both ``pipeline`` and ``release`` and imports neither (a test walks the
imports): a build stages through it, a publish reads through it.
"""

from .features import (
    COLUMNS,
    ROW_FEATURES,
    ROW_SCHEMA,
    read_table,
    rows_to_table,
    table_to_rows,
    write_parquet,
)
from .files import atomic_path, sha256_file, write_bytes_atomic, write_text_atomic
from .workspace import Workspace, case_key

__all__ = [
    "COLUMNS",
    "ROW_FEATURES",
    "ROW_SCHEMA",
    "Workspace",
    "atomic_path",
    "case_key",
    "read_table",
    "rows_to_table",
    "sha256_file",
    "table_to_rows",
    "write_bytes_atomic",
    "write_parquet",
    "write_text_atomic",
]
