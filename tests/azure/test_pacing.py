"""Client-side pacing on ARM's token buckets (arm-protocol.md 3.3): wait for the refill, don't collect 429s."""

from __future__ import annotations

import pytest

from remediation.azure.pacing import LOW_WATER, BucketEstimate, bucket_of


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


@pytest.mark.parametrize(("method", "bucket"), [("GET", "reads"), ("head", "reads"), ("PUT", "writes"),
                                                 ("PATCH", "writes"), ("POST", "writes"), ("DELETE", "deletes")])
def test_bucket_of_method(method: str, bucket: str) -> None:
    assert bucket_of(method) == bucket


@pytest.mark.parametrize(
    ("bucket", "remaining", "elapsed", "wait"),
    [
        pytest.param("writes", None, 0.0, 0.0, id="nothing-observed-assumes-a-full-bucket"),
        pytest.param("writes", 199, 0.0, 0.0, id="full-bucket"),
        pytest.param("writes", LOW_WATER, 0.0, 0.0, id="at-low-water"),
        pytest.param("writes", LOW_WATER - 5, 0.0, 0.5, id="writes-refill-10-per-second"),
        pytest.param("reads", LOW_WATER - 5, 0.0, 0.2, id="reads-refill-25-per-second"),
        pytest.param("writes", LOW_WATER - 5, 0.5, 0.0, id="refilled-while-idle"),
        pytest.param("deletes", 0, 0.0, 2.0, id="empty-bucket"),
    ],
)
def test_reserve_waits_for_the_refill(bucket: str, remaining: int | None, elapsed: float, wait: float) -> None:
    clock = FakeClock()
    estimate = BucketEstimate(clock=clock)
    if remaining is not None:
        estimate.observe(bucket, remaining)
    clock.now += elapsed
    assert estimate.reserve(bucket) == pytest.approx(wait)


def test_concurrent_senders_queue_behind_each_other() -> None:
    clock = FakeClock()
    estimate = BucketEstimate(clock=clock)
    estimate.observe("writes", LOW_WATER)
    waits = [estimate.reserve("writes") for _ in range(5)]
    # Each reservation takes a token before the next header arrives: 0, then 0.1 s steps at 10 writes/s.
    assert waits == pytest.approx([0.0, 0.1, 0.2, 0.3, 0.4])


def test_headers_only_lower_the_estimate_and_the_refill_raises_it() -> None:
    clock = FakeClock()
    estimate = BucketEstimate(clock=clock)
    estimate.observe("reads", 0)
    assert estimate.reserve("reads") > 0
    # A higher header may be a stale response, or not count our requests still in flight: ignored.
    estimate.observe("reads", 249)
    assert estimate.reserve("reads") > 0
    clock.now += 2.0  # 50 tokens refilled
    assert estimate.reserve("reads") == 0.0


def test_full_burst_is_assumed_before_the_first_header() -> None:
    estimate = BucketEstimate(clock=FakeClock())
    waits = [estimate.reserve("writes") for _ in range(200)]
    assert waits[:200 - LOW_WATER] == [0.0] * (200 - LOW_WATER) and waits[-1] > 0
