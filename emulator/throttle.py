"""ARM's per-subscription token buckets and the x-ms-ratelimit-remaining-* headers.

docs/arm-notes.md §3.3: reads 250 burst / 25 per s, writes and deletes 200 / 10 per s, per subscription and
principal; the subscription-global buckets (all principals) are 15x larger.

Which headers a response carries depends on the operation kind, as real ARM sends them (docs/arm-notes.md §6,
counted over the recordings in tests/replay/recordings): reads carry only
`x-ms-ratelimit-remaining-subscription-global-reads` (never `...-subscription-reads`); writes carry
`...-subscription-writes` and `...-global-writes`; deletes `...-subscription-deletes` and `...-global-deletes`.
The per-principal read bucket is still enforced: ARM does not report it, so a client must count its own reads.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

LIMITS: dict[str, tuple[float, float]] = {"reads": (250, 25), "writes": (200, 10), "deletes": (200, 10)}
GLOBAL_FACTOR = 15


def op_kind(method: str) -> str:
    if method == "DELETE":
        return "deletes"
    if method in ("GET", "HEAD"):
        return "reads"
    return "writes"


@dataclass
class Bucket:
    capacity: float
    rate: float
    clock: Callable[[], float] = time.monotonic
    tokens: float = -1.0
    stamp: float = -1.0

    def __post_init__(self) -> None:
        if self.tokens < 0:
            self.tokens = self.capacity
        if self.stamp < 0:
            self.stamp = self.clock()

    def _refill(self) -> None:
        now = self.clock()
        self.tokens = min(self.capacity, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now

    def try_take(self) -> bool:
        self._refill()
        if self.tokens >= 1:
            self.tokens -= 1
            return True
        return False

    def take_anyway(self) -> None:
        self._refill()
        self.tokens = max(0.0, self.tokens - 1)

    def wait_seconds(self) -> int:
        """Whole seconds until one token is back (ARM sends integer Retry-After)."""
        return max(1, math.ceil((1 - self.tokens) / self.rate))


class RateLimiter:
    def __init__(self, enforce: bool, clock: Callable[[], float] = time.monotonic) -> None:
        self.enforce = enforce
        self._clock = clock
        self._lock = threading.Lock()
        self._buckets: dict[tuple[str, str, bool], Bucket] = {}

    def _bucket(self, subscription: str, kind: str, is_global: bool) -> Bucket:
        key = (subscription.lower(), kind, is_global)
        bucket = self._buckets.get(key)
        if bucket is None:
            cap, rate = LIMITS[kind]
            factor = GLOBAL_FACTOR if is_global else 1
            bucket = Bucket(cap * factor, rate * factor, self._clock)
            self._buckets[key] = bucket
        return bucket

    def charge(self, subscription: str, method: str) -> tuple[dict[str, str], int | None]:
        """Take a token; returns (headers, retry_after) where retry_after is set when throttled."""
        kind = op_kind(method)
        with self._lock:
            sub = self._bucket(subscription, kind, False)
            glob = self._bucket(subscription, kind, True)
            retry: int | None = None
            if self.enforce:
                if not sub.try_take():
                    retry = sub.wait_seconds()
                elif not glob.try_take():
                    retry = glob.wait_seconds()
            else:
                sub.take_anyway()
                glob.take_anyway()
            return remaining_headers(kind, sub.tokens, glob.tokens), retry


def remaining_headers(kind: str, subscription_tokens: float, global_tokens: float) -> dict[str, str]:
    """The x-ms-ratelimit-remaining-* headers real ARM sends for one operation kind."""
    headers = {f"x-ms-ratelimit-remaining-subscription-global-{kind}": str(int(global_tokens))}
    if kind != "reads":
        headers[f"x-ms-ratelimit-remaining-subscription-{kind}"] = str(int(subscription_tokens))
    return headers
