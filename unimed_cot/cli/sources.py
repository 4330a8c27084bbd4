"""``unimed-cot sources [SLUG]``: the registered builders, or one in full with its layout."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from .options import console


def sources(
    slug: Annotated[
        str | None, typer.Argument(help="Show one source in full, with its expected layout.")
    ] = None,
) -> None:
    """List the sources (builders): slug, license, dimensionality and where the data comes from."""
    from unimed_cot.builders import get_builder, registered_builders

    if slug is not None:
        builder = get_builder(slug)
        console.print(f"[bold]{builder.slug}[/bold] — {builder.title}")
        console.print(
            f"license: {builder.license} "
            f"(redistributable: {'yes' if builder.redistributable else 'no'})"
        )
        console.print(
            f"dims: {', '.join(f'{d}D' for d in builder.dims)}; "
            f"modalities: {', '.join(builder.modalities)}"
        )
        console.print(f"data: {builder.homepage}")
        if builder.benchmark_splits:
            held = ", ".join(builder.benchmark_splits)
            console.print(
                f"ships its own questions; benchmark split(s): {held} (kept out of training by "
                "`publish`; `publish --eval-config` writes them)",
                markup=False,
            )
        console.print("expected layout:")
        console.print(builder.layout, markup=False)
        return
    table = Table(title="sources")
    for column in ("slug", "title", "license", "redistributable", "dims", "modalities"):
        table.add_column(column)
    for name, cls in registered_builders().items():
        table.add_row(
            name,
            cls.title,
            cls.license,
            "yes" if cls.redistributable else "no",
            "/".join(f"{d}D" for d in cls.dims),
            ", ".join(cls.modalities),
        )
    console.print(table)
    console.print("`unimed-cot sources SLUG` shows the expected layout of one source.")
