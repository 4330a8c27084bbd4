"""The release's measured statistics: into ``manifest.json``, as PNGs beside it, and into the card.

``measure_release`` runs ``stats.compute_stats`` on the shards just published, checks them against
the default ``stats.Tolerance`` and draws the four figures into ``RELEASE/stats/*.png``. The
manifest keeps the numbers (``stats``), the findings (``stats_findings``), the tolerance they were
judged by (``stats_tolerance``) and each figure's path and sha256 (``stats_plots``); the card is
rendered from the manifest alone (``card_context``), referencing the PNGs by relative path, so the
Hub shows them and ``hydrate`` re-renders the same section.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import asdict
from pathlib import Path
from typing import Any

from unimed_cot.stats import (
    DEFAULT_ALIASES,
    PLOT_NAMES,
    Tolerance,
    check_stats,
    compute_stats,
    write_plots,
)
from unimed_cot.store.files import sha256_file

STATS_DIR = "stats"
PLOT_TITLES = {
    "modality_mix": "Modality mix",
    "family_mix": "Question family mix",
    "answer_priors": "Answer priors",
    "box_sizes": "Evidence box sizes",
}


def measure_release(release: Path, tolerance: Tolerance | None = None) -> dict[str, Any]:
    """The manifest sections of the rows published in ``release/data`` (plots written).

    Raises:
        UsageError: when the release has no shards. ReleaseError: a shard is unreadable.
    """
    tolerance = tolerance or Tolerance()
    stats = compute_stats(release, aliases=DEFAULT_ALIASES, staged=False)
    findings = check_stats(stats, tolerance)
    written = write_plots(stats, release / STATS_DIR)
    settings = asdict(tolerance)
    settings["families"] = sorted(tolerance.families) if tolerance.families is not None else None
    return {
        "stats": stats.to_json(),
        "stats_findings": [f.to_json() for f in findings],
        "stats_tolerance": settings,
        "stats_plots": {
            name: {
                "path": f"{STATS_DIR}/{name}.png",
                "sha256": sha256_file(written[name]),
            }
            for name in PLOT_NAMES
        },
    }


def card_context(manifest: Mapping[str, Any]) -> dict[str, Any]:
    """The card's statistics section; empty for a manifest from before releases measured it."""
    stats = manifest.get("stats")
    if not stats:
        return {"stats": None}
    sources = []
    modalities: Counter[str] = Counter()
    for slug, entry in sorted(stats["sources"].items()):
        per_case = entry["questions_per_case"]
        sources.append(
            {
                "slug": slug,
                "rows": entry["rows"],
                "cases": entry["cases"],
                "per_case": (
                    f"{per_case['mean']} (median {per_case['median']}, "
                    f"{per_case['min']}-{per_case['max']})"
                    if per_case.get("n")
                    else "-"
                ),
            }
        )
        for modality, by_dims in entry["modalities"].items():
            for dims, count in by_dims.items():
                modalities[f"{modality} {dims.upper()}"] += int(count)
    families = []
    for family in stats["families"]:
        yes, no = family["yes_no"]["yes"], family["yes_no"]["no"]
        letters = "; ".join(
            f"{n} options: " + " / ".join(f"{k} {v}" for k, v in counts.items())
            for n, counts in family["letters"].items()
        )
        families.append(
            {
                "source": family["source"],
                "family": family["family"],
                "rows": family["rows"],
                "yes_no": f"{yes} / {no} ({100 * yes / (yes + no):.0f}% yes)" if yes + no else "-",
                "letters": letters or "-",
                "option_problems": family["option_problems"]["rows"],
            }
        )
    plots = manifest.get("stats_plots") or {}
    tolerance = manifest.get("stats_tolerance") or {}
    return {
        "stats": {
            "sources": sources,
            "modalities": sorted(modalities.items(), key=lambda item: (-item[1], item[0])),
            "families": families,
            "findings": manifest.get("stats_findings") or [],
            "plots": [
                {"title": PLOT_TITLES.get(name, name), "path": plots[name]["path"]}
                for name in PLOT_NAMES
                if name in plots
            ],
            "yes_no_points": 100 * float(tolerance.get("yes_no_points", 0.03)),
            "letter_points": 100 * float(tolerance.get("letter_points", 0.03)),
            "alpha": tolerance.get("alpha", 0.01),
        }
    }
