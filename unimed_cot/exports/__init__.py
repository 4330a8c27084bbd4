"""``export RELEASE --format NAME --out PATH``: a release in another project's training layout.

One module per format, each an ``Exporter`` registered by subclassing (``unireason``, ``trl``,
``llamafactory``, ``verl``); every format renders rows through ``unimed_cot.chat`` (the reference
prompts, the user turn, crops interleaved after boxes). Adding a format is one module here.
"""

from __future__ import annotations

import importlib
import pkgutil
from pathlib import Path

from unimed_cot.errors import UsageError
from unimed_cot.release.manifest import MANIFEST_NAME, read_manifest
from unimed_cot.store import read_table

from .base import (
    Exporter,
    ExportReport,
    ExportRow,
    export_rows,
    measure,
    registered_exporters,
    write_guide,
)

__all__ = ["ExportReport", "ExportRow", "Exporter", "export_formats", "export_release"]


def export_formats() -> list[str]:
    """The names of every export format."""
    for module in pkgutil.iter_modules(__path__):
        if module.name != "base":
            importlib.import_module(f"{__name__}.{module.name}")
    return list(registered_exporters())


def export_release(release: Path, *, fmt: str, out: Path) -> ExportReport:
    """Write ``release`` in the layout ``fmt`` under ``out``, each split where the consumer keeps
    it, with a ``README.md`` and ``export.json`` stating the settings the consumer needs.

    Raises:
        UsageError: for an unknown format, an ``out`` inside the release, or an ``out`` that
            already holds an export (its stale files would be read with the new ones).
        ReleaseError: when ``release`` has no readable manifest.
    """
    formats = export_formats()
    if fmt not in formats:
        raise UsageError(f"unknown export format {fmt!r}; choose one of {', '.join(formats)}")
    if out.resolve().is_relative_to(release.resolve()):
        raise UsageError(f"--out {out} is inside the release {release}; choose another folder")
    manifest = read_manifest(release / MANIFEST_NAME)
    exporter = registered_exporters()[fmt]()
    taken = [n for n in (*exporter.owned, "export.json") if (out / n).exists()]
    if taken:
        raise UsageError(
            f"--out {out} already holds an export ({', '.join(taken)}); remove it or choose"
            " another folder"
        )
    report = ExportReport(out=out, format=fmt)
    for shard in sorted(manifest["shards"], key=lambda s: str(s["path"])):
        stem = f"{shard['config']}-{Path(str(shard['path'])).stem}"
        table = read_table(release / str(shard["path"]))
        split = str(shard["split"])
        rows = list(export_rows(table, report, crops=exporter.injects_crops))
        for item in rows:
            report.longest.add(measure(item, split=split, crops=exporter.injects_crops))
        if rows:
            exporter.write_shard(rows, out=out, stem=stem, split=split, report=report)
            report.rows_by_split[split] = report.rows_by_split.get(split, 0) + len(rows)
    exporter.finish(out=out, report=report)
    write_guide(exporter, out=out, report=report, version=str(manifest["version"]))
    return report
