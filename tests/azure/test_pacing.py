"""Client-side pacing on ARM's token buckets (docs/arm-notes.md 3.3): wait for the refill, don't collect 429s."""

from __future__ import annotations

import pytest

from remediation.azure.pacing import LOW_WATER, BucketEstimate, bucket_of, remaining_from_headers


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


# Response headers exactly as real ARM sent them, from tests/replay/recordings (see SOURCES.md there):
# test_azure_firewall_policy.yaml interactions 0 (the policy PUT), 1 (a poll), 69 (the RCG DELETE), and
# test_network_route_table_operation.yaml interaction 1 (a 2023 PUT: the older hourly write limit, no global one).
RECORDED_POLICY_PUT = {"x-ms-ratelimit-remaining-subscription-global-writes": "2998",
                       "x-ms-ratelimit-remaining-subscription-writes": "198"}
RECORDED_POLL_GET = {"x-ms-ratelimit-remaining-subscription-global-reads": "3749"}
RECORDED_RCG_DELETE = {"x-ms-ratelimit-remaining-subscription-deletes": "199",
                       "x-ms-ratelimit-remaining-subscription-global-deletes": "2999"}
RECORDED_2023_PUT = {"x-ms-ratelimit-remaining-subscription-writes": "1197"}


@pytest.mark.parametrize(
    ("bucket", "headers", "remaining"),
    [
        pytest.param("writes", RECORDED_POLICY_PUT, 198, id="write-both-headers-the-lower"),
        pytest.param("reads", RECORDED_POLL_GET, 3749, id="read-only-the-global-header"),
        pytest.param("deletes", RECORDED_RCG_DELETE, 199, id="delete-both-headers-the-lower"),
        pytest.param("writes", RECORDED_2023_PUT, 1197, id="write-only-the-subscription-header"),
        pytest.param("reads", RECORDED_POLICY_PUT, None, id="no-header-for-this-bucket"),
        pytest.param("reads", {"x-ms-ratelimit-remaining-subscription-global-reads": "n/a"}, None, id="not-a-number"),
    ],
)
def test_remaining_from_recorded_headers(bucket: str, headers: dict[str, str], remaining: int | None) -> None:
    assert remaining_from_headers(bucket, headers) == remaining


def test_recorded_read_header_feeds_the_pacer() -> None:
    """Real ARM reports reads only on the global bucket. A healthy global count leaves the pacer on its own
    read count; a nearly empty global bucket (other principals draining it) makes it wait."""
    clock = FakeClock()
    estimate = BucketEstimate(clock=clock)
    healthy = remaining_from_headers("reads", RECORDED_POLL_GET)
    assert healthy is not None
    estimate.observe("reads", healthy)
    assert estimate.reserve("reads") == 0.0
    drained = remaining_from_headers("reads", {"x-ms-ratelimit-remaining-subscription-global-reads": "5"})
    assert drained == 5
    estimate.observe("reads", drained)
    assert estimate.reserve("reads") > 0


def test_recorded_write_headers_pace_on_the_subscription_bucket() -> None:
    clock = FakeClock()
    estimate = BucketEstimate(clock=clock)
    low = {"x-ms-ratelimit-remaining-subscription-global-writes": "2990",
           "x-ms-ratelimit-remaining-subscription-writes": str(LOW_WATER - 10)}
    remaining = remaining_from_headers("writes", low)
    assert remaining == LOW_WATER - 10
    estimate.observe("writes", remaining)
    assert estimate.reserve("writes") == pytest.approx(1.0)  # 10 tokens short at 10 writes/s


def test_a_pacing_wait_past_the_run_deadline_ends_the_run_as_retryable() -> None:
    """The pacer waits through the reconcile's deadline (remediation/azure/clients.py DeadlineBox): a refill
    that would outlast the run raises DeadlineExceeded (retryable) instead of sleeping past it."""
    from azure.core.pipeline import PipelineRequest
    from azure.core.pipeline.transport import HttpRequest

    from remediation.azure.clients import DeadlineBox
    from remediation.azure.pacing import RatePacingPolicy
    from remediation.core.deadline import Deadline, DeadlineExceeded
    from remediation.core.errors import TransientError

    clock = FakeClock()
    slept: list[float] = []
    box = DeadlineBox(sleep=slept.append)
    estimate = BucketEstimate(clock=clock)
    estimate.observe("writes", 0)  # empty: the next write waits for the refill
    policy = RatePacingPolicy(estimate, sleep=box.wait)
    request = PipelineRequest(HttpRequest("PUT", "https://127.0.0.1/x"), None)  # type: ignore[arg-type]

    box.deadline = Deadline.after(60.0, clock)
    policy.on_request(request)  # a short refill fits in the deadline: waited for
    assert len(slept) == 1 and 0 < slept[0] < 60

    box.deadline = Deadline.after(0.01, clock)
    with pytest.raises(DeadlineExceeded) as raised:
        policy.on_request(request)
    assert isinstance(raised.value, TransientError) and len(slept) == 1
