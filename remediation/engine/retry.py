"""tenacity retries for what azure-core cannot see: TransientError (classified by ARM error code).

azure-core already retries 408/429/5xx and anything carrying Retry-After inside each SDK call
(docs/arm-notes.md 1.1), so this layer retries only `TransientError`: busy lock domains
(AnotherOperationInProgress, superseded operations, FirewallPolicyUpdateNotAllowed...), 412 after If-Match,
and throttling that outlived azure-core. A `TerminalError` (or anything else) is raised at once.

The backoff is sized for Azure Firewall, whose updates take 3-5 minutes and accept one write at a time:
exponential from 2 s up to 60 s with full jitter, so that concurrent reconcilers spread out. The total is
bounded by `deadline_s` so the work stays inside the Function timeout; a message still failing then goes
back to the queue (and eventually the poison queue), with the drift sweep as backstop. With a `Deadline`
(the reconcile's one deadline, remediation/core/deadline.py) a backoff that would end after it is not slept:
the last error is raised at once; `DeadlineExceeded` and a lost lock (`RunEnds`) are never retried here.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import TypeVar

from tenacity import (
    DoAttempt,
    DoSleep,
    RetryCallState,
    Retrying,
    retry_if_exception,
    wait_random_exponential,
)
from tenacity.stop import stop_base

from remediation.core.deadline import Deadline, RunEnds
from remediation.core.errors import TransientError

log = logging.getLogger(__name__)

T = TypeVar("T")

INITIAL_BACKOFF_S = 2.0
MAX_BACKOFF_S = 60.0


class stop_before_deadline(stop_base):
    """Stop when the next attempt would start after `deadline_s`.

    Time is the larger of the wall clock since the first attempt and the total backoff handed to `sleep`,
    so an injected sleep that returns at once still reaches the deadline.
    """

    def __init__(self, deadline_s: float, deadline: Deadline | None = None) -> None:
        self.deadline_s = deadline_s
        self.deadline = deadline

    def __call__(self, retry_state: RetryCallState) -> bool:
        elapsed = max(retry_state.seconds_since_start or 0.0, retry_state.idle_for)
        if self.deadline is not None and not self.deadline.allows(retry_state.upcoming_sleep):
            return True
        return elapsed + retry_state.upcoming_sleep >= self.deadline_s


def _retryable(exc: BaseException) -> bool:
    # RunEnds (DeadlineExceeded, a lost lease) ends the run: the queue retries the whole run instead.
    return isinstance(exc, TransientError) and not isinstance(exc, RunEnds)


def run_with_retries(
    fn: Callable[[], T],
    *,
    deadline_s: float | None = None,
    deadline: Deadline | None = None,
    describe: str,
    sleep: Callable[[float], None] = time.sleep,
    initial_backoff_s: float = INITIAL_BACKOFF_S,
    max_backoff_s: float = MAX_BACKOFF_S,
) -> T:
    """Call `fn`, retrying TransientError with jittered exponential backoff until `deadline_s` would be
    passed; then the last TransientError is raised. `sleep` is how the wait happens (tenacity's `sleep=`).
    Give `deadline` (the reconcile's) or `deadline_s` (a budget from now), or both: the earlier one wins."""
    return _retrying(deadline_s=deadline_s, deadline=deadline, describe=describe, sleep=sleep,
                     initial_backoff_s=initial_backoff_s, max_backoff_s=max_backoff_s)(fn)


def _retrying(*, deadline_s: float | None, deadline: Deadline | None, describe: str,
              sleep: Callable[[float], None], initial_backoff_s: float, max_backoff_s: float) -> Retrying:
    """The one retry policy (what is retried, the backoff, the stop at the deadline)."""
    if deadline is None and deadline_s is None:
        raise ValueError("run_with_retries needs deadline or deadline_s")
    budget = deadline_s if deadline_s is not None else deadline.remaining()  # type: ignore[union-attr]
    if deadline is not None:
        budget = min(budget, deadline.remaining())

    def before_sleep(state: RetryCallState) -> None:
        exc = state.outcome.exception() if state.outcome is not None else None
        code = getattr(exc, "arm_code", None)
        wait = state.next_action.sleep if state.next_action is not None else 0.0
        log.warning("%s: transient ARM error %s (attempt %d), retrying in %.1f s: %s",
                    describe, code, state.attempt_number, wait, exc)

    return Retrying(
        retry=retry_if_exception(_retryable),
        # wait_random_exponential: uniform in [0, min(max, multiplier * 2**n)]; floor at the initial value.
        wait=wait_random_exponential(multiplier=initial_backoff_s, max=max_backoff_s, min=initial_backoff_s),
        stop=stop_before_deadline(budget, deadline),
        sleep=sleep,
        before_sleep=before_sleep,
        reraise=True,
    )



class Attempts:
    """The policy of `run_with_retries`, one attempt at a time, for a caller that does not wait in a thread
    between attempts (apply: a write's operation ends on another thread, and the next attempt is scheduled
    after the backoff, remediation/engine/apply.py). Make one per write, before its first attempt."""

    def __init__(self, *, deadline: Deadline, describe: str,
                 initial_backoff_s: float = INITIAL_BACKOFF_S, max_backoff_s: float = MAX_BACKOFF_S) -> None:
        self._retrying = _retrying(deadline_s=None, deadline=deadline, describe=describe, sleep=_never,
                                   initial_backoff_s=initial_backoff_s, max_backoff_s=max_backoff_s)
        self._retrying.begin()
        self._state = RetryCallState(self._retrying, fn=None, args=(), kwargs={})
        first = self._retrying.iter(self._state)
        assert isinstance(first, DoAttempt)

    def backoff(self, error: BaseException) -> float | None:
        """After an attempt failed with `error`: the seconds to wait before the next attempt, or None when
        `error` is final (not retryable, a RunEnds, or the next attempt would start after the deadline)."""
        # tenacity keeps its statistics per thread, and a write's attempts end on different threads (a lane, a
        # poll thread): they are made here before the policy runs. Only the statistics are reset: the decision
        # rests on the call state (attempt number, time slept, outcome), which stays this write's.
        self._retrying.begin()
        self._state.set_exception((type(error), error, error.__traceback__))
        try:
            action = self._retrying.iter(self._state)
        except BaseException as raised:  # reraise=True: the policy gives up with the error itself
            if raised is error:
                return None
            raise
        if not isinstance(action, DoSleep):
            return None
        self._state.prepare_for_next_attempt()
        again = self._retrying.iter(self._state)
        assert isinstance(again, DoAttempt)
        return float(action)


def _never(seconds: float) -> None:
    raise AssertionError("Attempts never sleeps: its caller waits")
