"""remediation/engine/lanes.py: lanes run in dependency order and no pool thread waits for another lane."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import pytest

from remediation.engine.lanes import LaneSchedule


def _note(order: list[str], name: str, gate: threading.Event | None = None) -> Callable[[], None]:
    def lane() -> None:
        if gate is not None:
            assert gate.wait(5)
        order.append(name)

    return lane


def _stamp(started: dict[str, float], name: str) -> Callable[[], None]:
    def lane() -> None:
        started[name] = time.monotonic()

    return lane


def test_on_one_thread_a_dependent_runs_after_its_dependencies() -> None:
    order: list[str] = []
    gate = threading.Event()
    with ThreadPoolExecutor(max_workers=1) as pool:
        schedule = LaneSchedule(pool)
        first = schedule.add(_note(order, "table-a", gate))
        second = schedule.add(_note(order, "table-b"))
        dependent = schedule.add(_note(order, "vnet"), after=[first, second])
        other = schedule.add(_note(order, "policy"))
        assert not dependent.done()
        gate.set()
        schedule.wait()
    assert all(f.done() for f in (first, second, dependent, other))
    # The dependent was submitted when table-b ended: after every lane already queued.
    assert order == ["table-a", "table-b", "policy", "vnet"]


def test_dependents_never_occupy_a_worker_while_waiting() -> None:
    # Two workers, four dependents of one slow lane, then an independent lane: had the dependents waited
    # inside the pool (as the old `_after` did), they would have held the second worker and the independent
    # lane would have started only after the slow one.
    started: dict[str, float] = {}
    with ThreadPoolExecutor(max_workers=2) as pool:
        schedule = LaneSchedule(pool)
        t0 = time.monotonic()
        slow = schedule.add(lambda: time.sleep(1.0))
        for i in range(4):
            schedule.add(_stamp(started, f"vnet-{i}"), after=[slow])
        schedule.add(_stamp(started, "independent"))
        schedule.wait()
    assert started["independent"] - t0 < 0.8
    assert all(started[f"vnet-{i}"] - t0 >= 1.0 for i in range(4))


def test_a_lane_after_one_that_raised_is_skipped_and_the_error_stays_with_its_lane() -> None:
    ran: list[str] = []

    def broken() -> None:
        raise RuntimeError("bug in a table lane")

    with ThreadPoolExecutor(max_workers=2) as pool:
        schedule = LaneSchedule(pool)
        bad = schedule.add(broken)
        good = schedule.add(_note(ran, "table"))
        skipped = schedule.add(_note(ran, "vnet after bad"), after=[bad, good])
        runs = schedule.add(_note(ran, "vnet after good"), after=[good])
        schedule.wait()
    assert sorted(ran) == ["table", "vnet after good"]
    assert skipped.result() is None and runs.result() is None
    with pytest.raises(RuntimeError, match="bug in a table lane"):
        bad.result()


def test_a_lane_that_raises_ends_its_future_with_the_error() -> None:
    def broken() -> None:
        raise ZeroDivisionError

    with ThreadPoolExecutor(max_workers=1) as pool:
        schedule = LaneSchedule(pool)
        lane = schedule.add(broken)
        dependent = schedule.add(lambda: None, after=[lane])
        schedule.wait()
    assert isinstance(lane.exception(), ZeroDivisionError) and dependent.result() is None
