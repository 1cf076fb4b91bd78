"""Client-side pacing on ARM's token buckets, so a fleet sweep slows down instead of collecting 429s.

ARM throttles per subscription and principal with token buckets (reads: 250 burst, 25/s refill; writes and
deletes: 200 burst, 10/s; docs/arm-notes.md 3.3; the subscription-global buckets across all principals are 15x
larger). What is left is reported per operation kind, and not the same way for each kind (docs/arm-notes.md
§6, as the recorded traffic shows): reads carry only `x-ms-ratelimit-remaining-subscription-global-reads`;
writes carry `...-subscription-writes` and `...-global-writes`; deletes `...-subscription-deletes` and
`...-global-deletes`. The pacer learns from whichever of the two is present, the lower when both are; the per-
principal read bucket is never reported, so our own count of reads (`reserve`) stands in for it. azure-core
retries a 429 after its Retry-After, but only 3 times (docs/arm-notes.md 1.1); under a sustained burst the
retries run out and the write fails. Pacing keeps a reserve instead: when the estimated bucket falls below a
low-water mark, the next request waits for the refill. Status polls and the SDK's final GET count as reads, so
they are paced too (the policy sits per retry, after the SDK's own requests are formed).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

from azure.core.pipeline import PipelineRequest, PipelineResponse
from azure.core.pipeline.policies import SansIOHTTPPolicy

log = logging.getLogger(__name__)

# Size and refill per second of ARM's per-subscription buckets (docs/arm-notes.md 3.3).
CAPACITY: dict[str, float] = {"reads": 250.0, "writes": 200.0, "deletes": 200.0}
REFILL_PER_S: dict[str, float] = {"reads": 25.0, "writes": 10.0, "deletes": 10.0}
LOW_WATER = 20  # tokens kept in reserve for other callers of the same principal (and our own retries)
MAX_WAIT_S = 30.0


def bucket_of(method: str) -> str:
    method = method.upper()
    if method in {"GET", "HEAD"}:
        return "reads"
    if method == "DELETE":
        return "deletes"
    return "writes"


class BucketEstimate:
    """Our estimate of one subscription's remaining tokens per bucket, from the last header we saw."""

    def __init__(self, *, clock: Callable[[], float] = time.monotonic, low_water: int = LOW_WATER) -> None:
        self._clock = clock
        self._low_water = low_water
        self._lock = threading.Lock()
        self._remaining: dict[str, float] = {}
        self._seen_at: dict[str, float] = {}

    def _estimate(self, bucket: str, now: float) -> float:
        if bucket not in self._remaining:
            return CAPACITY[bucket]  # nothing seen yet: assume the full burst allowance
        return min(CAPACITY[bucket], self._remaining[bucket] + REFILL_PER_S[bucket] * (now - self._seen_at[bucket]))

    def reserve(self, bucket: str) -> float:
        """Take one token for a request about to be sent; return how long to wait first (0 if none)."""
        with self._lock:
            now = self._clock()
            rate = REFILL_PER_S[bucket]
            estimate = self._estimate(bucket, now)
            wait = 0.0 if estimate >= self._low_water else min(MAX_WAIT_S, (self._low_water - estimate) / rate)
            # Count the request now, so that concurrent senders see each other before the next header.
            self._remaining[bucket] = estimate - 1 + rate * wait
            self._seen_at[bucket] = now + wait
            return wait

    def observe(self, bucket: str, remaining: int) -> None:
        """Learn from a response header. Responses of concurrent requests arrive out of order, and a header
        does not count our requests still in flight, so it may only lower the estimate, never raise it:
        the estimate rises by the refill alone."""
        with self._lock:
            now = self._clock()
            current = self._estimate(bucket, now)
            if bucket not in self._remaining or remaining < current:
                self._remaining[bucket] = min(current, float(remaining))
                self._seen_at[bucket] = now


class RatePacingPolicy(SansIOHTTPPolicy[Any, Any]):
    """Waits before a request when the subscription's bucket is nearly empty; learns from each response."""

    def __init__(self, estimate: BucketEstimate, *, sleep: Callable[[float], None] = time.sleep) -> None:
        super().__init__()
        self._estimate = estimate
        self._sleep = sleep

    def on_request(self, request: PipelineRequest[Any]) -> None:
        bucket = bucket_of(request.http_request.method)
        wait = self._estimate.reserve(bucket)
        if wait > 0:
            log.info("ARM %s bucket nearly empty: waiting %.2f s before %s %s", bucket, wait,
                     request.http_request.method, request.http_request.url.split("?", 1)[0])
            self._sleep(wait)

    def on_response(self, request: PipelineRequest[Any], response: PipelineResponse[Any, Any]) -> None:
        bucket = bucket_of(request.http_request.method)
        remaining = remaining_from_headers(bucket, response.http_response.headers)
        if remaining is not None:
            self._estimate.observe(bucket, remaining)


def remaining_from_headers(bucket: str, headers: Mapping[str, str]) -> int | None:
    """Tokens left for `bucket` by the response headers: the lower of the subscription (per principal) and the
    subscription-global header, whichever are present; None when neither is (or neither is a number)."""
    values = []
    for name in (f"x-ms-ratelimit-remaining-subscription-{bucket}",
                 f"x-ms-ratelimit-remaining-subscription-global-{bucket}"):
        value = headers.get(name)
        if value is not None and value.strip().isdigit():
            values.append(int(value))
    return min(values) if values else None


_estimates: dict[str, BucketEstimate] = {}
_estimates_lock = threading.Lock()


def estimate_for(endpoint: str, subscription: str) -> BucketEstimate:
    """One estimate per ARM endpoint and subscription in this process: every gateway shares the bucket."""
    key = f"{endpoint.rstrip('/').lower()}|{subscription.lower()}"
    with _estimates_lock:
        estimate = _estimates.get(key)
        if estimate is None:
            estimate = _estimates[key] = BucketEstimate()
        return estimate
