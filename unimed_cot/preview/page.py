"""The gallery page: one self-contained HTML file (inline CSS, plain JS, images as data URIs).

A Content-Security-Policy in the page forbids every network request, so opening a preview never
fetches anything; the filters (source, family, split) are a few lines of plain JavaScript over
``data-`` attributes of the cards. All text is escaped (jinja2 autoescape): questions of a source
are shown as text, never as markup.
"""

from __future__ import annotations

from collections.abc import Sequence
from importlib.resources import files

import jinja2

from .cards import Assets, Card

TEMPLATE = "gallery.html.j2"  # package data beside this module


def render_page(
    cards: Sequence[Card], assets: Assets, *, title: str, total: int, origin: str
) -> str:
    """The gallery's HTML for ``cards`` (filters listed from the cards' own values)."""
    env = jinja2.Environment(
        autoescape=True, undefined=jinja2.StrictUndefined, keep_trailing_newline=True
    )
    filters = [
        ("source", sorted({c.source for c in cards})),
        ("family", sorted({c.family for c in cards})),
        ("split", sorted({c.split for c in cards})),
    ]
    template = env.from_string(files(__package__).joinpath(TEMPLATE).read_text(encoding="utf-8"))
    return template.render(
        title=title, cards=cards, assets=assets, filters=filters, total=total, origin=origin
    )
