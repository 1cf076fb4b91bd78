"""Operations ARM runs, followed to their end without a thread each (issue 26).

A write is a request (the PUT or DELETE, answered in well under a second) and then an operation that ARM runs
for seconds to minutes (a subnet about 8 s, a rule collection group behind a firewall minutes:
docs/arm-notes.md 1.2, 2.3). azure-core's LROPoller follows each operation in a thread of its own that sleeps
between status polls, and `.result()` blocks its caller as well, so a write held one of apply's lanes for
the whole operation. Here the caller's thread does the request only: `Tracker.follow` takes the initialized
polling method (remediation/azure/polling.py `Handoff`) and polls it from ONE timer thread, each poll's
round trip on one of `pollers` threads, and resolves a future with the operation's value (or its classified
error) when it ends. The requests, their order and their waits are those the SDK's poller makes.

At most `limit` operations are followed at once (OPERATIONS_IN_FLIGHT, remediation/core/config.py: why 200):
`admit` (or `slot`, before the read of a read-modify-write) takes a slot before a write's request is sent and
waits, at most until the run's deadline, while all are taken; the slot is given back when the operation ends.
Every wait for a poll is checked against the run's deadline first (the same refusal as the transport's sleep,
clients.DeadlineBox): a poll that cannot fit ends the operation's future with DeadlineExceeded, which nothing
retries inside the run.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from remediation.azure.clients import DeadlineBox
from remediation.azure.polling import TerminalStatusPolling
from remediation.core.deadline import DeadlineExceeded
from remediation.core.errors import TransientError
from remediation.core.timer import Timer


@dataclass(eq=False)
class _Followed:
    polling: TerminalStatusPolling
    finish: Callable[[Any], Any]  # the operation's value from the polling method's resource
    fail: Callable[[Exception], Exception]  # the project error for what the SDK raised
    ended: Callable[[], None]  # called once when the operation ends, however it ends
    result: Future[Any] = field(default_factory=Future)


class Slot:
    """One admitted slot of the operations in flight. A read-modify-write takes it BEFORE its read, so no wait
    for a slot falls between the read and the write built from it (remediation/azure/arm.py)."""

    def __init__(self, tracker: Tracker) -> None:
        self.tracker = tracker
        self.taken = False  # an operation followed by the tracker owns it now

    def __enter__(self) -> Slot:
        return self

    def __exit__(self, *_: object) -> None:
        if not self.taken:
            self.tracker.release()


class Tracker:
    def __init__(self, *, limit: int, pollers: int, box: DeadlineBox) -> None:
        self.limit = limit
        self._box = box
        self._slots = threading.Semaphore(limit)
        self._lock = threading.Lock()
        self._followed: set[_Followed] = set()
        self._admitted = 0
        self.peak = 0  # the most operations in flight at once (admitted and not ended), for tests and logs
        self._timer = Timer("lro-timer")
        self._pollers = pollers
        self._pool = ThreadPoolExecutor(max_workers=pollers, thread_name_prefix="lro-poll")
        self._closed = False

    @staticmethod
    def _closed_error(why: str = "") -> TransientError:
        return TransientError(f"the ARM client was closed while an operation was followed{why}",
                              arm_code="ClientClosed", status=None, target=None)

    # ------------------------------------------------------------------------------------- slots

    def admit(self) -> None:
        """Take a slot for one write about to be sent; `release` it when no operation follows (the request
        failed), else `follow` owns it."""
        deadline = self._box.deadline
        if not self._slots.acquire(timeout=None if deadline is None else deadline.remaining()):
            raise DeadlineExceeded(f"deadline exceeded waiting for one of the {self.limit} operations in "
                                   "flight to end: the run is retried later")
        with self._lock:
            self._admitted += 1
            self.peak = max(self.peak, self._admitted)

    def release(self) -> None:
        with self._lock:
            self._admitted -= 1
        self._slots.release()

    def slot(self) -> Slot:
        """`admit`, as a context: the slot is released on exit unless an operation took it (`Slot.taken`)."""
        self.admit()
        return Slot(self)

    # ------------------------------------------------------------------------------------- following

    def follow(self, polling: TerminalStatusPolling, *, finish: Callable[[Any], Any],
               fail: Callable[[Exception], Exception], ended: Callable[[], None]) -> Future[Any]:
        """The future of the operation whose request `polling` was initialized with (its slot taken by
        `admit`). An operation already terminal in the request's answer ends here, in the caller's thread."""
        op = _Followed(polling, finish, fail, ended)
        with self._lock:
            closed = self._closed
            if not closed:
                self._followed.add(op)
        if closed:
            self._end(op, self._closed_error())
        elif polling.finished():
            self._settle(op)
        else:
            self._next_poll(op, polling.first_poll_after_s)
        return op.result

    def _next_poll(self, op: _Followed, delay: float) -> None:
        # Only a wait is refused: a poll due now costs the run no time, as the SDK's own poller never asked
        # the deadline about a zero sleep (a write ARM answers at once still ends as a write past the budget).
        refused = self._box.refusal(delay) if delay > 0 else None
        if refused is not None:
            self._end(op, refused)
            return
        self._timer.after(delay, lambda: self._submit(op))

    def _submit(self, op: _Followed) -> None:
        try:
            self._pool.submit(self._poll, op)
        except RuntimeError as exc:
            self._end(op, self._closed_error(f": {exc}"))

    def _poll(self, op: _Followed) -> None:
        if op.result.done():  # ended by `close` meanwhile
            return
        try:
            op.polling.poll_step()
        except Exception as exc:
            self._end(op, op.fail(exc))
            return
        if op.polling.finished():
            self._settle(op)
        else:
            self._next_poll(op, op.polling.next_poll_after())

    def _settle(self, op: _Followed) -> None:
        try:
            value = op.finish(op.polling.resource())
        except Exception as exc:
            self._end(op, op.fail(exc))
            return
        self._end(op, None, value)

    def _end(self, op: _Followed, error: Exception | None, value: Any = None) -> None:
        with self._lock:
            if op.result.done():
                return
            self._followed.discard(op)
        try:
            op.ended()
        finally:
            self.release()
            # Last: the future's callbacks (the caller's outcome, its next write) see the slot free.
            if error is not None:
                op.result.set_exception(error)
            else:
                op.result.set_result(value)

    def close(self) -> None:
        """Stop following: an operation still followed ends with a retryable error (its run is ending). The
        threads end; a later write starts new ones (the client stays usable, as its SDK clients do)."""
        with self._lock:
            self._closed = True
            left = list(self._followed)
        self._timer.close()
        pool, self._pool = self._pool, ThreadPoolExecutor(max_workers=self._pollers, thread_name_prefix="lro-poll")
        pool.shutdown(wait=True, cancel_futures=True)
        for op in left:
            self._end(op, self._closed_error())
        with self._lock:
            self._closed = False
