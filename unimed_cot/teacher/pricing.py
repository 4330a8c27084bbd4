"""Token usage and its cost: a per-model price table (US$ per million tokens), configurable.

Prices change; the built-in table is a convenience dated in ``PRICES_AS_OF``, and a config file's
``prices`` table overrides or extends it. A model with no price costs 0 (local servers).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

PRICES_AS_OF = "2025-01"
# model id prefix -> (input, output) US$ per 1M tokens. The longest matching prefix wins, so
# "gpt-4o-mini-2024-07-18" is priced as "gpt-4o-mini", not as "gpt-4o".
DEFAULT_PRICES: dict[str, tuple[float, float]] = {
    "gpt-4o": (2.50, 10.00),
    "gpt-4o-mini": (0.15, 0.60),
    "gpt-4.1": (2.00, 8.00),
    "gpt-4.1-mini": (0.40, 1.60),
    "gpt-4.1-nano": (0.10, 0.40),
}


@dataclass(slots=True)
class Usage:
    """Tokens and cost of one or more requests (adds up with ``+=``)."""

    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float = 0.0

    def __iadd__(self, other: Usage) -> Usage:
        self.prompt_tokens += other.prompt_tokens
        self.completion_tokens += other.completion_tokens
        self.cost_usd += other.cost_usd
        return self

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens


class PriceTable:
    """Looks up the price of a model by longest id prefix."""

    def __init__(self, extra: Iterable[tuple[str, float, float]] = ()) -> None:
        self.prices = dict(DEFAULT_PRICES)
        self.prices.update({model: (inp, out) for model, inp, out in extra})

    def cost(self, model: str, prompt_tokens: int, completion_tokens: int) -> float:
        """US$ for the tokens; 0.0 for a model with no known price."""
        matches = [m for m in self.prices if model.startswith(m)]
        if not matches:
            return 0.0
        inp, out = self.prices[max(matches, key=len)]
        return (prompt_tokens * inp + completion_tokens * out) / 1_000_000

    def usage(self, model: str, prompt_tokens: int, completion_tokens: int) -> Usage:
        return Usage(
            prompt_tokens, completion_tokens, self.cost(model, prompt_tokens, completion_tokens)
        )
