"""One absolute deadline per reconcile, passed to every wait (docs/architecture.md section 4).

A reconcile runs inside a Function invocation that the host kills at `functionTimeout`. Giving each phase
its own fresh budget (retries, a `Retry-After`, LRO polling, a lease wait) lets the sum run past it, so the
reconcile creates ONE `Deadline` at its start and every wait asks it how long is left. When the time is up,
`check` raises `DeadlineExceeded`, a TransientError: the queue message comes back later and the next
attempt re-reads everything (level-triggered), instead of the invocation being killed mid-write.

Pure: no azure imports; the clock is injected so tests never wait.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from remediation.core.errors import TransientError

Clock = Callable[[], float]


class RunEnds(TransientError):
    """Something that ends the whole run at once (time ran out, a lock was lost): retryable as a whole (the
    queue brings the message back and the next run re-reads everything), never retried inside the run, where
    each retry could only fail the same way or wait for nothing (remediation/engine/retry.py)."""

    # The writes the run had sent when it ended (set by Reconciler.reconcile; None: not known). A sweep whose
    # budget ran out goes on in a continuation only when its run wrote something (triggers/continuation.py).
    writes_sent: int | None = None


class DeadlineExceeded(RunEnds):
    """The reconcile's time budget ran out before `what` could start or finish; retry the whole run later."""

    def __init__(self, message: str, *, target: str | None = None, status: int | None = None) -> None:
        # `status`: what ARM last answered when the wait it asked for could not fit (429, 503...).
        super().__init__(message, arm_code="DeadlineExceeded", status=status, target=target)


@dataclass(frozen=True)
class Deadline:
    """An absolute point on a monotonic clock."""

    at: float
    clock: Clock = time.monotonic

    @classmethod
    def after(cls, seconds: float, clock: Clock = time.monotonic) -> Deadline:
        return cls(clock() + seconds, clock)

    def remaining(self) -> float:
        return max(0.0, self.at - self.clock())

    def expired(self) -> bool:
        return self.remaining() <= 0.0

    def check(self, what: str) -> None:
        """Raise DeadlineExceeded when no time is left for `what`."""
        if self.expired():
            raise DeadlineExceeded(f"deadline exceeded before {what}: the run is retried later")

    def within(self, seconds: float) -> Deadline:
        """This deadline, or `seconds` from now when that comes first (a bounded wait inside the run)."""
        return Deadline(min(self.at, self.clock() + seconds), self.clock)

    def allows(self, seconds: float) -> bool:
        """Whether a wait of `seconds` ends before the deadline."""
        return seconds < self.remaining()


# The budget of one reconcile. host.json's functionTimeout is 10 minutes; this leaves two of them for the
# audit and status writes and for the host's own shutdown (a test keeps the two in step).
DEFAULT_RUN_BUDGET_S = 480.0
