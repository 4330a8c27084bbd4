"""The release's figures as PNGs for the dataset card: modality mix, family mix, answer priors and
box sizes.

Drawn with matplotlib's Agg canvas (no pyplot, no display, no global figure state) under the
default style and a fixed DPI, and saved without the ``Software`` metadata key; PNGs carry no
timestamp, so the same stats give the same bytes with the same matplotlib version, and an
unchanged release re-publishes unchanged figures. What each figure shows comes from
``figure_data``, so it can be tested as numbers.
"""

from __future__ import annotations

import io
import math
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from unimed_cot.store.files import write_bytes_atomic

from .compute import LETTERS, ReleaseStats

if TYPE_CHECKING:
    from matplotlib.figure import Figure
    from matplotlib.typing import RcKeyType

DPI = 100
SIZE_INCHES = (7.0, 4.0)
PLOT_NAMES = ("modality_mix", "family_mix", "answer_priors", "box_sizes")
_RC: dict[RcKeyType, Any] = {
    "font.family": "DejaVu Sans",  # shipped with matplotlib: the same glyphs on every machine
    "font.size": 9,
    "savefig.dpi": DPI,
    "figure.dpi": DPI,
    "axes.grid": True,
    "grid.alpha": 0.3,
}


@dataclass(frozen=True, slots=True)
class FigureData:
    """The numbers behind the figures (release-wide, every source together)."""

    modalities: dict[str, dict[int, int]]  # modality -> dims -> rows
    families: dict[str, int]  # family -> rows
    yes_share: dict[str, tuple[int, int]]  # family -> (yes, yes + no)
    letter_shares: dict[int, dict[str, float]]  # option count -> letter -> share of answers
    letter_rows: dict[int, int]  # option count -> rows
    side_px: dict[int, list[float]]  # dims -> sqrt(w * h) of distinct boxes, published pixels


def figure_data(stats: ReleaseStats) -> FigureData:
    """Sum the per-source stats into the release-wide series the figures draw."""
    modalities: dict[str, Counter[int]] = {}
    for source in stats.sources.values():
        for (modality, dims), rows in source.modalities.items():
            modalities.setdefault(modality, Counter())[dims] += rows
    families: Counter[str] = Counter()
    yes: Counter[str] = Counter()
    asked: Counter[str] = Counter()
    letters: dict[int, Counter[str]] = {}
    for family in stats.families.values():
        families[family.family] += family.rows
        yes[family.family] += family.yes
        asked[family.family] += family.yes + family.no
        for n, counts in family.letters.items():
            letters.setdefault(n, Counter()).update(counts)
    letter_rows = {n: sum(c.values()) for n, c in letters.items()}
    return FigureData(
        modalities={m: dict(sorted(c.items())) for m, c in sorted(modalities.items())},
        families=dict(sorted(families.items())),
        yes_share={f: (yes[f], asked[f]) for f in sorted(asked) if asked[f]},
        letter_shares={
            n: {letter: c[letter] / letter_rows[n] for letter in LETTERS[:n]}
            for n, c in sorted(letters.items())
        },
        letter_rows=dict(sorted(letter_rows.items())),
        side_px={
            2: sorted(v for s in stats.sources.values() for v in s.regions.side_px_2d),
            3: sorted(v for s in stats.sources.values() for v in s.regions.side_px_3d),
        },
    )


def write_plots(stats: ReleaseStats, folder: Path) -> dict[str, Path]:
    """Write the four figures as ``folder/<name>.png``; return name -> path.

    The card references them as ``stats/<name>.png`` when ``folder`` is ``release/stats``.
    """
    data = figure_data(stats)
    drawers: dict[str, Callable[[Figure, FigureData], None]] = {
        "modality_mix": _modality_mix,
        "family_mix": _family_mix,
        "answer_priors": _answer_priors,
        "box_sizes": _box_sizes,
    }
    written: dict[str, Path] = {}
    for name in PLOT_NAMES:
        path = folder / f"{name}.png"
        write_bytes_atomic(path, render_png(drawers[name], data))
        written[name] = path
    return written


def render_png(draw: Callable[[Figure, FigureData], None], data: FigureData) -> bytes:
    """Draw one figure on a fresh Agg canvas and return its PNG bytes (deterministic)."""
    import matplotlib.style
    from matplotlib import rc_context
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    with matplotlib.style.context("default"), rc_context(_RC):
        figure = Figure(figsize=SIZE_INCHES, dpi=DPI, layout="constrained")
        FigureCanvasAgg(figure)
        draw(figure, data)
        buffer = io.BytesIO()
        figure.savefig(buffer, format="png", dpi=DPI, metadata={"Software": None})
    return buffer.getvalue()


def _empty(figure: Figure, title: str) -> None:
    axes = figure.subplots()
    axes.set_title(title)
    axes.text(0.5, 0.5, "no rows", ha="center", va="center", transform=axes.transAxes)
    axes.set_axis_off()


def _modality_mix(figure: Figure, data: FigureData) -> None:
    if not data.modalities:
        _empty(figure, "Rows per modality")
        return
    axes = figure.subplots()
    names = list(data.modalities)
    left = [0] * len(names)
    for dims, colour in ((2, "#4C72B0"), (3, "#DD8452")):
        values = [data.modalities[m].get(dims, 0) for m in names]
        axes.barh(names, values, left=left, color=colour, label=f"{dims}D")
        left = [a + b for a, b in zip(left, values, strict=True)]
    axes.invert_yaxis()
    axes.set_xlabel("rows")
    axes.set_title("Rows per modality")
    axes.legend(loc="lower right")


def _family_mix(figure: Figure, data: FigureData) -> None:
    if not data.families:
        _empty(figure, "Rows per question family")
        return
    axes = figure.subplots()
    names = list(data.families)
    axes.barh(names, [data.families[n] for n in names], color="#55A868")
    axes.invert_yaxis()
    axes.set_xlabel("rows")
    axes.set_title("Rows per question family")


def _answer_priors(figure: Figure, data: FigureData) -> None:
    if not data.yes_share and not data.letter_shares:
        _empty(figure, "Answer priors")
        return
    left, right = figure.subplots(1, 2, width_ratios=(1, 2))
    names = list(data.yes_share)
    left.bar(range(len(names)), [y / n for y, n in data.yes_share.values()], color="#4C72B0")
    left.axhline(0.5, color="black", linewidth=1, linestyle="--")
    left.set_xticks(range(len(names)), [n.replace("_", "\n") for n in names])
    left.set_ylim(0, 1)
    left.set_ylabel("share of yes answers")
    left.set_title("Yes/no (50% dashed)")
    position = 0.0
    ticks, labels = [], []
    for n, shares in data.letter_shares.items():
        xs = [position + k for k in range(n)]
        right.bar(xs, list(shares.values()), color="#DD8452")
        right.hlines(1 / n, xs[0] - 0.4, xs[-1] + 0.4, color="black", linewidth=1, linestyle="--")
        ticks += xs
        labels += [f"{letter}\n{n} opt" if k == 0 else letter for k, letter in enumerate(shares)]
        position += n + 1
    right.set_xticks(ticks, labels)
    right.set_ylim(0, 1)
    right.set_ylabel("share of answers")
    right.set_title("Answer letter per option count (uniform dashed)")


def _box_sizes(figure: Figure, data: FigureData) -> None:
    values = [v for series in data.side_px.values() for v in series if v > 0]
    if not values:
        _empty(figure, "Evidence box sizes")
        return
    axes = figure.subplots()
    top = max(2.0, math.log2(max(values)))
    edges = [2.0 ** (k / 2) for k in range(0, math.ceil(top * 2) + 2)]  # half-octave bins
    for dims, colour in ((2, "#4C72B0"), (3, "#DD8452")):
        series = [v for v in data.side_px[dims] if v > 0]
        if series:
            axes.hist(series, bins=edges, alpha=0.6, color=colour, label=f"{dims}D ({len(series)})")
    axes.set_xscale("log", base=2)
    axes.set_xlabel("box size: sqrt(width x height), published pixels")
    axes.set_ylabel("distinct regions")
    axes.set_title("Evidence box sizes")
    axes.legend()
