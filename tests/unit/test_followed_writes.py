"""The pieces that let a write hold no thread while ARM runs its operation (issue 26): the one-thread Timer,
the retry policy one attempt at a time (`Attempts`), and `Chain` (each step starts when the previous one's
future has ended). No wall-time assertions: order and outcomes only."""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor

import pytest

from remediation.core.deadline import Deadline, DeadlineExceeded
from remediation.core.errors import TerminalError, TransientError
from remediation.core.timer import Timer
from remediation.engine.lanes import Chain, LaneSchedule
from remediation.engine.retry import MAX_BACKOFF_S, Attempts


def _noting(order: list[str], name: str) -> Callable[[], None]:
    def note() -> None:
        order.append(name)

    return note


def _busy() -> TransientError:
    return TransientError("AnotherOperationInProgress: busy", arm_code="AnotherOperationInProgress", status=409,
                          target="x")


def test_the_timer_runs_callbacks_in_due_order_on_one_thread_and_can_start_again_after_close() -> None:
    timer = Timer("test-timer")
    ran: list[tuple[str, str]] = []
    done = threading.Event()
    def note(name: str) -> Callable[[], None]:
        def noted() -> None:
            ran.append((name, threading.current_thread().name))
            if name == "late":
                done.set()

        return noted

    timer.after(0.2, note("late"))
    timer.after(0.0, note("soon"))
    assert done.wait(5)
    assert [name for name, _ in ran] == ["soon", "late"]
    assert {thread for _, thread in ran} == {"test-timer"}
    timer.close()
    again = threading.Event()
    timer.after(0.0, again.set)
    assert again.wait(5)
    timer.close()


def test_a_callback_that_raises_does_not_stop_the_timer() -> None:
    timer = Timer("test-timer")
    after = threading.Event()

    def broken() -> None:
        raise RuntimeError("bug")

    timer.after(0.0, broken)
    timer.after(0.0, after.set)
    try:
        assert after.wait(5)
    finally:
        timer.close()


def test_attempts_back_off_on_a_busy_resource_and_give_up_on_what_is_final() -> None:
    attempts = Attempts(deadline=Deadline.after(300.0), describe="put route")
    waits = [attempts.backoff(_busy()) for _ in range(4)]
    assert all(w is not None and 0 < w <= MAX_BACKOFF_S for w in waits)
    refused = TerminalError("AuthorizationFailed: no", arm_code="AuthorizationFailed", status=403, target="x")
    assert Attempts(deadline=Deadline.after(300.0), describe="x").backoff(refused) is None
    assert Attempts(deadline=Deadline.after(300.0), describe="x").backoff(DeadlineExceeded("late")) is None
    assert Attempts(deadline=Deadline.after(300.0), describe="x").backoff(ValueError("bug")) is None


def test_attempts_keep_backing_off_when_each_attempt_ends_on_another_thread() -> None:
    """A write's attempts end on a lane or a poll thread: tenacity's per-thread statistics must not end the
    retries after the first (they did: a KeyError in a fresh thread was taken for giving up)."""
    attempts = Attempts(deadline=Deadline.after(300.0), describe="put route")
    waits: list[float | None] = []
    for _ in range(3):
        thread = threading.Thread(target=lambda: waits.append(attempts.backoff(_busy())))
        thread.start()
        thread.join()
    assert len(waits) == 3 and all(w is not None and w > 0 for w in waits)


def test_attempts_stop_before_the_deadline() -> None:
    """No backoff is offered that would end after the run's deadline (the first backoff is at least 2 s)."""
    attempts = Attempts(deadline=Deadline.after(1.0), describe="put route")
    assert attempts.backoff(_busy()) is None


def test_a_chain_runs_each_step_after_the_previous_steps_future_ended() -> None:
    order: list[str] = []
    gates = [Future[None](), Future[None]()]

    def step(number: int) -> Future[None]:
        order.append(f"start {number}")
        return gates[number]

    with ThreadPoolExecutor(max_workers=1) as pool:
        schedule = LaneSchedule(pool)
        chain = Chain(pool, [lambda: step(0), lambda: step(1), _noting(order, "last")])
        lane = schedule.add(chain.start)
        other = schedule.add(_noting(order, "other lane"))
        assert other.result(timeout=5) is None  # the one thread is free while step 0's future is pending
        assert order == ["start 0", "other lane"] and not lane.done()
        gates[0].set_result(None)
        gates[1].set_result(None)
        schedule.wait()
    assert order == ["start 0", "other lane", "start 1", "last"]
    assert lane.result() is None


def test_a_chain_stops_at_a_step_whose_future_ended_with_an_unexpected_error() -> None:
    ran: list[str] = []
    broken: Future[None] = Future()
    broken.set_exception(ZeroDivisionError())
    with ThreadPoolExecutor(max_workers=1) as pool:
        lane = LaneSchedule(pool).add(Chain(pool, [lambda: broken, _noting(ran, "after")]).start)
        with pytest.raises(ZeroDivisionError):
            lane.result(timeout=5)
    assert ran == []
