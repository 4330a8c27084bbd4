"""``preview``: a static, self-contained HTML gallery of a release's rows, to look at them.

Per row: the question, options (the answer marked), answer and trace (box citations coloured as
their regions), and the image (2D) or the slice strip (3D) with every region's box drawn on the
slices it covers. Filterable by source, family and split; opens from disk, offline.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from unimed_cot.errors import UsageError
from unimed_cot.stats.reading import Origin, find_row_files
from unimed_cot.store.files import write_text_atomic

from .cards import Assets, Card, make_card
from .page import render_page
from .select import choose_rows, list_rows, read_rows

DEFAULT_ROWS = 50

__all__ = ["DEFAULT_ROWS", "Card", "PreviewReport", "write_preview"]


@dataclass(frozen=True, slots=True)
class PreviewReport:
    """What a preview holds."""

    path: Path
    origin: Origin
    rows_shown: int
    rows_total: int
    images: int  # distinct images inlined
    bytes: int  # size of the HTML file

    def summary(self) -> str:
        return (
            f"{self.path}: {self.rows_shown} of {self.rows_total} rows ({self.origin.value}), "
            f"{self.images} distinct images, {self.bytes / 1e6:.1f} MB"
        )


def write_preview(
    directory: Path, out: Path, *, n: int = DEFAULT_ROWS, staged: bool | None = None
) -> PreviewReport:
    """Write the gallery of up to ``n`` rows of a release (or workspace) to ``out``.

    Args:
        directory: release folder or workspace (see ``stats.reading.find_row_files``).
        out: the HTML file to write (atomically).
        n: how many rows to show, spread over sources, families, splits and cases.
        staged: read the staged rows instead of the published shards (``None``: whichever
            exists, shards first).

    Raises:
        UsageError: ``n`` below 1, or a folder without rows. ReleaseError: a damaged row file.
    """
    if n < 1:
        raise UsageError(f"--n must be at least 1, got {n}")
    files = find_row_files(directory, staged=staged)
    refs = list_rows(files)
    chosen = choose_rows(refs, n)
    assets = Assets()
    cards = [make_card(row, assets) for row in read_rows(chosen)]
    html = render_page(
        cards,
        assets,
        title=f"unimed-cot preview: {directory.resolve().name}",
        total=len(refs),
        origin=files.origin.value,
    )
    write_text_atomic(out, html)
    return PreviewReport(
        path=out,
        origin=files.origin,
        rows_shown=len(cards),
        rows_total=len(refs),
        images=len(assets.uris),
        bytes=out.stat().st_size,
    )
