"""A sweep that cannot finish in one run goes on where it stopped: a continuation through the queue.

Every reconcile runs under one deadline (RECONCILE_DEADLINE_SECONDS, docs/architecture.md section 4). A fleet
sweep whose writes outlast it ends with writes left: the changes apply had not reached are FAILED
`DeadlineExceeded` (retryable), or the deadline ended the run outside the apply (a lock wait, the verify read).
Retried by the host, the same message would count against maxDequeueCount (5) and, for a sweep that needs more
runs than that (about 15 at 10,000 clusters, docs/BENCHMARKS.md), end in the poison queue. Instead the worker
completes the message and enqueues a *continuation*: the same sweep target, the first run's request id (`of`),
a count, and what the chain has done. The continuation re-reads the fleet and plans only what is still
different (the reconciler is level-triggered), so nothing written is written again and nothing is dropped;
only counts travel in the message.

Bounds, so that a chain never loops:
- a continuation whose run wrote nothing stops the chain with its reason (the next drift sweep starts over);
  a FIRST run that wrote nothing is retried by the host as before (maxDequeueCount bounds it);
- at most `MAX_CONTINUATIONS` (remediation/planning/intake.py) after the first run.

One chain per sweep target at a time: the chain holds a marker in the dedupe table (`<key>-continues`, claimed
atomically, renewed by each run and when a continuation is sent, removed when the chain ends, expiring after
CHAIN_WINDOW_S if a worker dies). The timer enqueues no sweep while one is continuing, and a timer sweep that
was queued before the chain claimed it is recorded as covered by the chain instead of writing beside it. A
sweep named by an event burst or an HTTP request (whose events may have happened after the chain's current
read) asks the chain for one more read instead (`_ask_again`), which the chain's last run enqueues when it ends
unless its own read came after the ask (`leave`). A dry run (or REMEDIATION_MODE=report)
never continues, and a continuation that finds the app in report mode stops without writing.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING

from remediation.core.model import Outcome, ReconcileResult, Target, TargetKind
from remediation.planning import intake
from remediation.planning.intake import MAX_CONTINUATIONS, Continuation, RemediationRequest, Trigger

if TYPE_CHECKING:
    from remediation.triggers.runtime import Runtime

log = logging.getLogger(__name__)

# The chain's marker outlives one run (functionTimeout, 600 s) and the continuation's wait in the queue.
CHAIN_WINDOW_S = 900
# A table key suffix (no '/', '#', '?', '\'), and the marker's kind (never counted as a pending event request).
CHAIN_SUFFIX = "-continues"
CHAIN_KIND = "sweep-chain"
AGAIN_SUFFIX = "-again"  # an event burst's or HTTP sweep asked a running chain for one more read
AGAIN_KIND = "sweep-again"
# The continuation becomes visible this long after its run ended: the writes that run sent last are still
# running in ARM (its deadline ended the wait, not the operation), and they settle before it reads.
CONTINUATION_DELAY_S = 10
BUDGET_CODE = "DeadlineExceeded"  # what apply records for a change the run's deadline did not reach
_WRITTEN = frozenset({Outcome.CREATED, Outcome.UPDATED, Outcome.DELETED})


@dataclass(frozen=True)
class Chain:
    """The continuation chain a sweep run belongs to."""

    key: str  # its marker in the dedupe table
    chain_id: str  # the request id of its first run
    owned: bool  # this run holds the marker: only then may it continue
    number: int  # 0: the first run; k: the k-th continuation
    done_before: int  # writes the chain made before this run


@dataclass(frozen=True)
class NotRun:
    """A run that does not reconcile, and why (recorded by the worker)."""

    reason: str
    failed: bool  # the sweep stops unfinished (else another run does its work)
    covered_by: str | None = None


@dataclass(frozen=True)
class Step:
    """What follows a run whose budget ran out with writes left."""

    continues: bool
    stop_reason: str | None  # a continuation that stops the chain; None with continues=False: the host retries
    done: int | None  # writes made in this run (None: the run ended outside its apply)
    planned: int | None  # writes its plan had
    sent: int | None  # writes it sent (ARM's call count), when `done` is not known

    @property
    def left(self) -> int | None:
        return None if self.done is None or self.planned is None else self.planned - self.done


def chain_key(target: Target) -> str:
    return f"{intake.target_key(target)}{CHAIN_SUFFIX}"


def enter(runtime: Runtime, request: RemediationRequest, *, dry_run: bool) -> Chain | NotRun | None:
    """The chain of a sweep run (claiming or renewing its marker), a reason not to run, or None (not a sweep
    that writes: it never continues)."""
    if request.target.kind is not TargetKind.SCOPE:
        return None
    previous = request.continuation
    if dry_run:
        if previous is None:
            return None
        runtime.chains.release_own(chain_key(request.target), previous.of)  # the chain ends here
        return NotRun(f"continuation {previous.number} of sweep {previous.of} stops: REMEDIATION_MODE is report "
                      "now, and a dry run does not continue a sweep; nothing written", failed=True)
    key = chain_key(request.target)
    owned, holder = runtime.chains.claim_or_renew(key, request.chain_id, CHAIN_KIND)
    chain = Chain(key, request.chain_id, owned, previous.number if previous else 0, previous.done if previous else 0)
    if owned:
        return chain
    holder_text = holder or "(id unknown)"
    if previous is None and request.trigger is not Trigger.TIMER:
        return _ask_again(runtime, request, chain, holder_text)
    if previous is not None:
        return NotRun(f"continuation {previous.number} of sweep {previous.of} stops: sweep {holder_text} holds "
                      "the sweep now and writes what is left from its own read", failed=False, covered_by=holder)
    return NotRun(f"covered by the continuing sweep {holder_text}, which reads the fleet again in each run: "
                  "not run", failed=False, covered_by=holder)


def _ask_again(runtime: Runtime, request: RemediationRequest, chain: Chain, holder: str) -> Chain | NotRun:
    """An event burst's or HTTP sweep while another chain holds the sweep: its events may have happened after
    that chain's current run read the fleet, so it asks the chain to read once more when it ends (`leave`:
    the marker `<key>-again`, the latest request's id) instead of writing the same changes beside it. When the
    ask cannot be stored, or the chain ended meanwhile, it runs itself (dedupe only errs towards running)."""
    again = again_key(request.target)
    if not runtime.chains.touch(again, request.request_id, AGAIN_KIND):
        return chain  # runs beside the chain, and never continues
    owned, _ = runtime.chains.claim_or_renew(chain.key, request.chain_id, CHAIN_KIND)
    if owned:  # the chain ended between the two reads: this request is the sweep now
        runtime.chains.release_own(again, request.request_id)
        return Chain(chain.key, chain.chain_id, True, 0, 0)
    return NotRun(f"sweep {holder} is continuing: it reads the fleet again after this request (asked of it when "
                  "it ends), so this request writes nothing beside it: not run", failed=False, covered_by=holder)


def again_key(target: Target) -> str:
    return f"{intake.target_key(target)}{AGAIN_SUFFIX}"


def continuing(runtime: Runtime, target: Target) -> str | None:
    """The first request id of a sweep of `target` that is going on in continuations now (its marker is
    fresh), else None. A marker that cannot be read counts as none: the timer then enqueues, as before."""
    if target.kind is not TargetKind.SCOPE:
        return None
    return runtime.chains.pending_request(chain_key(target))


def budget_ended(result: ReconcileResult) -> bool:
    """Whether the run's deadline ended its apply with changes not reached (apply records them FAILED,
    retryable, with ARM-style code DeadlineExceeded)."""
    return any(o.outcome is Outcome.FAILED and o.retryable and (o.error or "").startswith(BUDGET_CODE)
               for o in result.outcomes)


def step_after(chain: Chain, result: ReconcileResult | None = None, *, sent: int | None = None) -> Step:
    """What follows a run whose budget ran out: its result (the apply counted its writes), or, when the
    deadline ended the run outside the apply, the writes it had sent (`sent`, None: unknown)."""
    done = sum(1 for o in result.outcomes if o.outcome in _WRITTEN) if result is not None else None
    planned = len(result.plan.writes) if result is not None else None
    progress = (done if done is not None else sent or 0) > 0
    stop: str | None = None
    if not chain.owned:
        return Step(False, None, done, planned, sent)  # another chain's marker: the host retries, as before
    if progress and chain.number < MAX_CONTINUATIONS:
        return Step(True, None, done, planned, sent)
    if chain.number == 0:
        return Step(False, None, done, planned, sent)  # a first run that wrote nothing: the host retries it
    if not progress:
        stop = (f"NoProgress: continuation {chain.number} of sweep {chain.chain_id} wrote nothing before its run "
                f"budget ran out ({_counted(done, planned, sent)}): the chain stops; {chain.done_before} writes "
                "were made before it, and the next drift sweep starts over")
    else:
        stop = (f"ChainTooLong: sweep {chain.chain_id} still had writes left after {MAX_CONTINUATIONS} "
                f"continuations ({chain.done_before + (done or sent or 0)} writes made): the chain stops; the next "
                "drift sweep starts over")
    return Step(False, stop, done, planned, sent)


def _counted(done: int | None, planned: int | None, sent: int | None) -> str:
    if done is not None and planned is not None:
        return f"{done} of {planned} changes done"
    return f"{sent if sent is not None else 'an unknown number of'} writes sent"


def next_request(request: RemediationRequest, chain: Chain, step: Step) -> RemediationRequest:
    """The continuation message of `request` (a new request id; the chain's first id in `of`)."""
    made = step.done if step.done is not None else step.sent or 0
    return RemediationRequest(
        target=request.target, trigger=request.trigger, request_id=intake.new_request_id(), dry_run=False,
        event_id=request.event_id, correlation_id=request.correlation_id or chain.chain_id,
        continuation=Continuation(of=chain.chain_id, number=chain.number + 1, done=chain.done_before + made,
                                  left=step.left))


def send(runtime: Runtime, request: RemediationRequest, chain: Chain, step: Step) -> RemediationRequest:
    """Enqueue the continuation and keep the chain's marker for it; raises TransientError when the queue
    refused it (the host then retries this run, which re-plans from a fresh read)."""
    follow = next_request(request, chain, step)
    runtime.queue.send(follow, delay_s=runtime.continuation_delay_s)
    # Renewed after the send: the marker must outlive the continuation's wait in the queue.
    runtime.chains.claim_or_renew(chain.key, chain.chain_id, CHAIN_KIND)
    return follow


def summary(step: Step, follow: RemediationRequest) -> str:
    return f"continued: {_counted(step.done, step.planned, step.sent)}, continuation {follow.request_id} queued"


def document(chain: Chain, step: Step, follow: RemediationRequest) -> dict[str, object]:
    """The `continued` block of a continued run's audit row and status (the next run's request id)."""
    assert follow.continuation is not None
    return {"summary": summary(step, follow), "requestId": follow.request_id, "of": chain.chain_id,
            "number": follow.continuation.number, "done": step.done, "planned": step.planned, "sent": step.sent,
            "left": step.left, "chainDone": follow.continuation.done,
            "followUps": "held back: the chain's last run names the firewall follow-up, so the group is written once"}


def chain_of(chain: Chain, result: ReconcileResult | None) -> dict[str, object]:
    """The `chain` block of a continuation's last run: how many runs and writes the whole sweep took."""
    done = sum(1 for o in result.outcomes if o.outcome in _WRITTEN) if result is not None else 0
    return {"of": chain.chain_id, "runs": chain.number + 1, "writes": chain.done_before + done}


def leave(runtime: Runtime, chain: Chain | None, request: RemediationRequest, *,
          read_after: dt.datetime | None) -> None:
    """The chain ends with this run: its marker goes (only while it is still this chain's). Then an event burst's
    or HTTP sweep that asked for another read while it ran (`_ask_again`) is enqueued under its own request id,
    unless this run read the fleet after it asked (`read_after`: when this run's read began, None when it did
    not complete one). Read after the release, so an ask that came while it was released is not lost."""
    if chain is None or not chain.owned:
        return
    runtime.chains.release_own(chain.key, chain.chain_id)
    again = again_key(request.target)
    asked = runtime.chains.window_end(again)
    if asked is None or not asked[0] or asked[1] <= dt.datetime.now(dt.UTC):
        return
    runtime.chains.release_own(again, asked[0])
    asked_at = asked[1] - dt.timedelta(seconds=runtime.chains.window_s)
    if read_after is not None and asked_at < read_after - intake.CLOCK_SKEW_MARGIN:
        return  # this run's read came after the ask: it is covered
    try:
        runtime.queue.send(RemediationRequest(request.target, Trigger.EVENT, asked[0]))
    except Exception as exc:  # the run is recorded already; the next drift sweep covers the ask
        log.warning("the sweep %s asked of %s was not enqueued: %s", asked[0], chain.chain_id, exc)
