"""Write lanes in dependency order on one thread pool, with no pool thread ever waiting for another lane.

A lane that must follow others (a VNet's subnet associations follow the route tables they point at:
remediation/engine/apply.py) is submitted to the pool only when every lane it depends on has finished, from
the done-callback of the last one. So a pool thread only ever runs a lane whose inputs are ready: no size of
the pool and no submission order can deadlock it (a lane that blocked a worker while waiting for a queued
lane would, once every worker did the same).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Executor, Future, wait


class LaneSchedule:
    """Lanes on `pool`; `add` returns a future that ends when the lane has run (or was skipped)."""

    def __init__(self, pool: Executor) -> None:
        self._pool = pool
        self._lock = threading.Lock()
        self._lanes: list[Future[None]] = []

    def add(self, lane: Callable[[], None], *, after: Sequence[Future[None]] = ()) -> Future[None]:
        """Run `lane` once every future of `after` has ended. When one of them ended in an exception the lane
        is skipped (its future ends with no result: the dependency's own future carries the error)."""
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

    def _submit(self, lane: Callable[[], None], done: Future[None]) -> None:
        try:
            inner = self._pool.submit(lane)
        except BaseException as exc:  # a pool shut down: the lane's future must still end
            done.set_exception(exc)
            return

        def copy(result: Future[None]) -> None:
            error = result.exception()
            if error is not None:
                done.set_exception(error)
            else:
                done.set_result(None)

        inner.add_done_callback(copy)

    def wait(self) -> None:
        """Return when every lane added has ended (ran, failed or was skipped)."""
        wait(list(self._lanes))
