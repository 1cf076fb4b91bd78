"""The one deadline of a reconcile (remediation/core/deadline.py) and tenacity bounded by it, on a fake clock."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from remediation.core.deadline import DEFAULT_RUN_BUDGET_S, Deadline, DeadlineExceeded
from remediation.core.errors import TransientError
from remediation.engine.retry import run_with_retries

ROOT = Path(__file__).resolve().parents[2]


class Clock:
    def __init__(self) -> None:
        self.now = 50.0

    def __call__(self) -> float:
        return self.now


@pytest.mark.parametrize(("budget", "elapsed", "remaining", "expired"), [
    (10.0, 0.0, 10.0, False),
    (10.0, 9.5, 0.5, False),
    (10.0, 10.0, 0.0, True),
    (10.0, 25.0, 0.0, True),
    (0.0, 0.0, 0.0, True),
])
def test_remaining_and_expired(budget: float, elapsed: float, remaining: float, expired: bool) -> None:
    clock = Clock()
    deadline = Deadline.after(budget, clock)
    clock.now += elapsed
    assert deadline.remaining() == pytest.approx(remaining)
    assert deadline.expired() is expired


def test_check_raises_a_retryable_error_naming_what_could_not_start() -> None:
    clock = Clock()
    deadline = Deadline.after(1.0, clock)
    deadline.check("put route")
    clock.now += 1.0
    with pytest.raises(DeadlineExceeded, match="put route") as raised:
        deadline.check("put route")
    assert isinstance(raised.value, TransientError)  # the queue message comes back later


@pytest.mark.parametrize(("wait", "allowed"), [(1.0, True), (9.99, True), (10.0, False), (1800.0, False)])
def test_allows_only_waits_that_end_before_the_deadline(wait: float, allowed: bool) -> None:
    assert Deadline.after(10.0, Clock()).allows(wait) is allowed


def test_tenacity_never_sleeps_past_the_deadline() -> None:
    clock = Clock()
    deadline = Deadline.after(30.0, clock)
    slept: list[float] = []

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        clock.now += seconds

    def busy() -> None:
        raise TransientError("busy", arm_code="AnotherOperationInProgress", status=409, target="x")

    with pytest.raises(TransientError, match="busy"):
        run_with_retries(busy, deadline=deadline, describe="put", sleep=sleep)
    assert slept and sum(slept) <= 30.0


def test_deadline_exceeded_is_not_retried() -> None:
    calls: list[int] = []

    def late() -> None:
        calls.append(1)
        raise DeadlineExceeded("too late")

    with pytest.raises(DeadlineExceeded):
        run_with_retries(late, deadline=Deadline.after(100.0, Clock()), describe="x", sleep=lambda _s: None)
    assert calls == [1]


def test_the_run_budget_ends_safely_before_the_function_timeout() -> None:
    host = json.loads((ROOT / "host.json").read_text(encoding="utf-8"))
    match = re.fullmatch(r"(\d+):(\d+):(\d+)", host["functionTimeout"])
    assert match is not None
    hours, minutes, seconds = (int(p) for p in match.groups())
    timeout_s = hours * 3600 + minutes * 60 + seconds
    # Room for the audit and status writes after the reconcile, and for a lease release.
    assert timeout_s - 60 >= DEFAULT_RUN_BUDGET_S
