"""Client-side limits: a rate bucket for requests and tokens per minute, and retry with backoff.

Retries are for transient failures only: 429 (honouring ``Retry-After``), 5xx, timeouts and
dropped connections. Anything else (a bad request, a wrong key, an unknown model) is not retried:
repeating it cannot help and would only cost money.
"""

from __future__ import annotations

import asyncio
import math
import random
import time
from collections.abc import Awaitable, Callable
from email.utils import parsedate_to_datetime
from typing import TypeVar

import openai

T = TypeVar("T")
MAX_BACKOFF_S = 60.0
TRANSIENT = (
    openai.RateLimitError,
    openai.InternalServerError,
    openai.APITimeoutError,
    openai.APIConnectionError,  # includes connection resets and refused connections
)


class RateBucket:
    """A token bucket of ``per_minute`` units that refills continuously.

    Its burst is one second's worth (at least one unit, at least the largest single request), so
    no minute ever sees more than ``per_minute`` units plus that burst. ``per_minute <= 0`` means
    unlimited.
    """

    def __init__(self, per_minute: float, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.rate = per_minute / 60.0
        self.capacity = max(1.0, math.ceil(self.rate))
        self.level = self.capacity
        self.clock = clock
        self.stamp = clock()
        self._lock = asyncio.Lock()

    @property
    def unlimited(self) -> bool:
        return self.rate <= 0

    async def acquire(self, units: float = 1.0) -> None:
        """Wait until ``units`` are available, then take them."""
        if self.unlimited:
            return
        # a single request larger than the burst may still pass, once the bucket is full for it
        ceiling = max(self.capacity, units)
        async with self._lock:  # one waiter at a time keeps the order fair (FIFO)
            while True:
                now = self.clock()
                self.level = min(ceiling, self.level + (now - self.stamp) * self.rate)
                self.stamp = now
                if self.level >= units:
                    self.level -= units
                    return
                await asyncio.sleep((units - self.level) / self.rate)

    def refund(self, units: float) -> None:
        """Give back units that were estimated but not used (e.g. tokens of a shorter reply)."""
        if not self.unlimited and units > 0:
            self.level = min(self.capacity, self.level + units)


def retry_after_s(error: BaseException) -> float | None:
    """The server's ``Retry-After`` (seconds or an HTTP date; ``retry-after-ms`` too), if any."""
    response = getattr(error, "response", None)
    headers = getattr(response, "headers", None)
    if headers is None:
        return None
    millis = headers.get("retry-after-ms")
    if millis is not None:
        try:
            return max(0.0, float(millis) / 1000)
        except ValueError:
            pass
    value = headers.get("retry-after")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        return max(0.0, parsedate_to_datetime(value).timestamp() - time.time())
    except (TypeError, ValueError):
        return None


def backoff_s(attempt: int, base: float, error: BaseException) -> float:
    """Delay before retry ``attempt`` (0-based): Retry-After if given, else full jitter."""
    hinted = retry_after_s(error)
    if hinted is not None:
        return min(hinted, MAX_BACKOFF_S)
    return random.uniform(0, min(MAX_BACKOFF_S, base * 2**attempt))


async def with_retries(
    call: Callable[[], Awaitable[T]],
    *,
    max_retries: int,
    base_s: float,
    on_retry: Callable[[BaseException], None] | None = None,
) -> T:
    """Run ``call``; on a transient error wait and try again, at most ``max_retries`` times.

    Raises:
        The last error once retries are used up, or any non-transient error at once.
    """
    attempt = 0
    while True:
        try:
            return await call()
        except TRANSIENT as error:
            if attempt >= max_retries:
                raise
            if on_retry is not None:
                on_retry(error)
            await asyncio.sleep(backoff_s(attempt, base_s, error))
            attempt += 1
