"""A release's cache identity: the card metadata that changes whenever the rows change.

``datasets.load_dataset(DIR, config)`` caches a local folder under its name, the config and a hash
of the card's ``dataset_info`` and of the builder configs made from the card's ``configs`` (data
file *patterns* and builder parameters), not of the files' bytes. Two releases with the same folder
name and the same shard names, sizes and counts therefore share one cache entry, and a shard
rewritten in place (``hydrate``) is never read again.

Each config of the card carries the ``description`` builder parameter (every ``BuilderConfig`` has
one; the Hub passes ``configs`` parameters to the builder unchanged), holding the sha256 of the
``(path, sha256)`` list of the shards that config reads. It is part of the hashed builder config,
so any change of any row changes the key, while identical content gives the same text, the same
key, and a cache hit. On the Hub the cache is already keyed by the commit; this only matters for
local folders, and costs nothing there.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from typing import Any

IDENTITY_PREFIX = "UniMed-CoT release content sha256:"


def content_digest(shards: Iterable[Mapping[str, Any]]) -> str:
    """sha256 of the sorted ``path<TAB>sha256`` lines of ``shards`` (manifest shard entries)."""
    lines = sorted(f"{shard['path']}\t{shard['sha256']}\n" for shard in shards)
    return hashlib.sha256("".join(lines).encode()).hexdigest()


def config_description(manifest: Mapping[str, Any], configs: Iterable[str]) -> str:
    """The ``description`` of a card config that reads the shards of ``configs``."""
    scope = set(configs)
    digest = content_digest(s for s in manifest["shards"] if s["config"] in scope)
    return f"{IDENTITY_PREFIX} {digest}"
