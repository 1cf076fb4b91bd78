"""Write lanes in dependency order on one thread pool, with no pool thread ever waiting for another lane.

A lane that must follow others (a VNet's subnet associations follow the route tables they point at:
remediation/engine/apply.py) is submitted to the pool only when every lane it depends on has finished, from
the done-callback of the last one. So a pool thread only ever runs a lane whose inputs are ready: no size of
the pool and no submission order can deadlock it (a lane that blocked a worker while waiting for a queued
lane would, once every worker did the same).

A lane's task may return a future instead of running to its end (issue 26: its writes' operations run in
ARM while it holds no thread, remediation/azure/inflight.py): the lane has ended when that future has.
`Chain` is such a lane: steps one after another, each a pool task that starts something and returns the
future of its end; the next step is submitted from that future's callback.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Executor, Future, wait
from typing import Any

Lane = Callable[[], "Future[Any] | None"]


class LaneSchedule:
    """Lanes on `pool`; `add` returns a future that ends when the lane has run (or was skipped)."""

    def __init__(self, pool: Executor) -> None:
        self._pool = pool
        self._lock = threading.Lock()
        self._lanes: list[Future[None]] = []

    def add(self, lane: Lane, *, after: Sequence[Future[None]] = ()) -> Future[None]:
        """Run `lane` once every future of `after` has ended. When one of them ended in an exception the lane
        is skipped (its future ends with no result: the dependency's own future carries the error). A lane
        that returns a future has ended when that future has."""
        done: Future[None] = Future()
        self._lanes.append(done)
        if not after:
            self._submit(lane, done)
            return done
        waiting = [len(after)]

        def one_ended(_: Future[None]) -> None:
            with self._lock:
                waiting[0] -= 1
                last = waiting[0] == 0
            if not last:
                return
            if any(dependency.exception() is not None for dependency in after):
                done.set_result(None)  # nothing more is written after a lane that failed unexpectedly
            else:
                self._submit(lane, done)

        for dependency in after:
            dependency.add_done_callback(one_ended)
        return done

    def _submit(self, lane: Lane, done: Future[None]) -> None:
        try:
            inner = self._pool.submit(lane)
        except BaseException as exc:  # a pool shut down: the lane's future must still end
            done.set_exception(exc)
            return

        inner.add_done_callback(lambda ran: _follow(ran, done))

    def wait(self) -> None:
        """Return when every lane added has ended (ran, failed or was skipped)."""
        wait(list(self._lanes))


def _follow(ran: Future[Any], done: Future[None]) -> None:
    """End `done` as `ran` ended; when `ran`'s value is itself a future, as that one ends."""
    error = ran.exception()
    if error is not None:
        done.set_exception(error)
        return
    value = ran.result()
    if isinstance(value, Future):
        value.add_done_callback(lambda inner: _follow(inner, done))
    else:
        done.set_result(None)


class Chain:
    """Steps run one after another, each as a pool task: a step starts something (a write's request) and returns
    the future of its end, or None when it is done at once; the next step is submitted when that future ends.
    So between its steps, and while ARM runs a step's operation, the chain holds no thread. `start` runs the
    first step in the caller's thread (a lane task) and returns `done`, which ends after the last step or with
    what a step raised (or its future ended with) unexpectedly; the steps after it are not run."""

    def __init__(self, pool: Executor, steps: Sequence[Callable[[], Future[Any] | None]]) -> None:
        self.pool, self.steps = pool, list(steps)
        self.done: Future[None] = Future()

    def start(self) -> Future[None]:
        self._step(0)
        return self.done

    def _step(self, position: int) -> None:
        if position >= len(self.steps):
            self.done.set_result(None)
            return
        try:
            pending = self.steps[position]()
        except BaseException as exc:  # unexpected (attempts record ARM failures): stop here, re-raised by apply
            self.done.set_exception(exc)
            return
        if pending is None:
            self._submit(position + 1)
        else:
            pending.add_done_callback(lambda ended: self._ended(ended, position))

    def _ended(self, ended: Future[Any], position: int) -> None:
        error = ended.exception()
        if error is not None:
            self.done.set_exception(error)
        else:
            self._submit(position + 1)

    def _submit(self, position: int) -> None:
        if position >= len(self.steps):
            self.done.set_result(None)
            return
        try:
            self.pool.submit(self._step, position)
        except RuntimeError as exc:  # the pool shut down: apply_changes is already raising something else
            self.done.set_exception(exc)
