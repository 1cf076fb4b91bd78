"""`reconcile_worker`: one queue message -> one reconcile, recorded in the audit and status tables.

Who retries what (docs/architecture.md section 4): azure-core and tenacity retry single ARM calls inside the
reconciler. What still fails transiently here is re-raised, so the host makes the message visible again
after `visibilityTimeout` and, after host.json `maxDequeueCount` attempts, moves it to
`remediation-requests-poison`; the last attempt writes that reason into the audit record. Terminal errors
and malformed messages are recorded and the message is completed: retrying them cannot help. A sweep whose run
budget ran out after writing something is not retried but continued: its message completes and a continuation
message goes on where it stopped (remediation/triggers/continuation.py).
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Sequence
from functools import partial
from typing import Any

import azure.functions as func

from remediation.core.deadline import DeadlineExceeded
from remediation.core.errors import RemediationError, TerminalError, TransientError
from remediation.core.model import Outcome, ReconcileResult, Target, TargetKind
from remediation.core.telemetry import log_action
from remediation.planning import intake
from remediation.planning.intake import MalformedMessageError, RemediationRequest, Trigger
from remediation.storage import POISON_QUEUE_NAME, QUEUE_NAME, AuditRecord, RunState
from remediation.triggers import continuation
from remediation.triggers.runtime import Runtime, get_runtime

log = logging.getLogger(__name__)

bp = func.Blueprint()

# Must equal host.json extensions.queues.maxDequeueCount (a test compares them).
MAX_DEQUEUE_COUNT = 5


@bp.function_name("reconcile_worker")
@bp.queue_trigger(arg_name="msg", queue_name=QUEUE_NAME, connection="AzureWebJobsStorage")
def reconcile_worker(msg: func.QueueMessage) -> None:
    runtime = get_runtime()
    # The host passes azure.functions.queue.QueueMessage, which adds dequeue_count to the base class.
    attempt = int(getattr(msg, "dequeue_count", None) or 1)
    started = dt.datetime.now(dt.UTC)
    clock = time.monotonic()
    try:
        request = RemediationRequest.from_json(msg.get_body())
    except MalformedMessageError as exc:
        # Completing the message (returning) keeps a message that can never parse out of the retry loop.
        log_action(log, logging.ERROR, "dropped malformed queue message %s: %s", msg.id, exc,
                   action="drop-message", messageId=msg.id)
        _audit(runtime, AuditRecord(run_id=str(msg.id or "unknown"), attempt=attempt, partition="malformed",
                                    state=RunState.FAILED, started=started, duration_s=0.0,
                                    error=f"{exc.code}: {exc}"))
        return
    run(runtime, request, attempt=attempt, started=started, clock=clock, enqueued_at=msg.insertion_time)


def run(runtime: Runtime, request: RemediationRequest, *, attempt: int, started: dt.datetime,
        clock: float, enqueued_at: dt.datetime | None = None) -> ReconcileResult | None:
    """Reconcile one request and record it. Re-raises only what a later attempt can fix.

    The steps, in order: the covering check (a pending burst sweep does this request's work), a sweep's chain
    (a continuing sweep covers a timer sweep; remediation/triggers/continuation.py), the reconcile (a failure
    is recorded there), then either the continuation of a sweep whose run budget ran out with writes left, or
    the follow-ups (enqueued before the records, which name their request ids), the audit row, the status row
    with the log line and the published event, and last a re-raise when a write kept meeting a busy
    resource."""
    common = _record_fields(runtime, request, attempt=attempt, started=started)
    if _covered_by_sweep(runtime, request, common, clock, enqueued_at):
        return None
    chain = continuation.enter(runtime, request, dry_run=common["dry_run"])
    if isinstance(chain, continuation.NotRun):
        _not_run(runtime, request, common, clock, chain)
        return None
    ends_chain, read_after = True, None
    try:
        try:
            result = _reconcile(runtime, request, common, clock, budget_raises=chain is not None and chain.owned)
        except DeadlineExceeded as exc:  # only for a chain's owner: the deadline ended the run outside apply
            assert chain is not None
            ends_chain = not _after_budget(runtime, request, common, clock, chain,
                                           continuation.step_after(chain, sent=exc.writes_sent), exc=exc)
            return None
        if result is None:
            return None
        if chain is not None and continuation.budget_ended(result):
            step = continuation.step_after(chain, result)
            if _after_budget(runtime, request, common, clock, chain, step, result=result):
                ends_chain = False
                return result
            return _recorded(runtime, request, common, clock, result, chain, stop=step.stop_reason)
        if result.error is None and not any(o.outcome is Outcome.FAILED for o in result.outcomes):
            read_after = started  # a whole pass, whose read began after this run started
        return _recorded(runtime, request, common, clock, result, chain)
    except BaseException:
        # The host delivers this message again (the same chain) unless this was its last attempt.
        ends_chain = common["final_attempt"]
        raise
    finally:
        if ends_chain:
            continuation.leave(runtime, chain, request, read_after=read_after)


def _recorded(runtime: Runtime, request: RemediationRequest, common: dict[str, Any], clock: float,
              result: ReconcileResult, chain: continuation.Chain | None, *, stop: str | None = None) -> ReconcileResult:
    """The follow-ups, the audit and status rows of a run that ended (a chain's last run says how many runs and
    writes the sweep took; `stop`: why a chain stops unfinished), then the re-raise of busy writes."""
    document = _follow_ups(runtime, request, result)
    if chain is not None and chain.number > 0:
        document["chain"] = continuation.chain_of(chain, result)
    if stop is not None:
        document["chainStopped"] = stop
    failed = stop is not None or result.error is not None or any(o.outcome is Outcome.FAILED for o in result.outcomes)
    state = RunState.FAILED if failed else RunState.SUCCEEDED
    _audit_result(runtime, request, common, clock, result, document, state, error=stop or result.error)
    _status_result(runtime, request, result, document, state, dry_run=common["dry_run"], attempt=common["attempt"],
                   error=stop or result.error)
    busy = [o for o in result.outcomes if o.retryable]
    if busy and stop is None:
        # A write that kept meeting a busy resource (e.g. a firewall update of several minutes) is worth
        # another attempt: the host redelivers the message, then parks it in the poison queue. (A chain that
        # stopped is not retried: its message completes with the reason.)
        raise TransientError(f"{len(busy)} change(s) still failing transiently, first: {busy[0].error}",
                             arm_code=None, status=None, target=request.target.id)
    return result


def _after_budget(runtime: Runtime, request: RemediationRequest, common: dict[str, Any], clock: float,
                  chain: continuation.Chain, step: continuation.Step, *, result: ReconcileResult | None = None,
                  exc: DeadlineExceeded | None = None) -> bool:
    """A sweep whose run budget ran out with writes left. True when its continuation was queued (this message
    completes; the firewall follow-up waits for the chain's last run). Otherwise, with a `result`, False and the
    caller records the run as usual; without one (the deadline ended the run outside its apply), a chain that
    stops is recorded here and a first run that wrote nothing is re-raised for the host's retry."""
    if step.continues:
        follow = continuation.send(runtime, request, chain, step)
        document: dict[str, Any] = {"target": str(request.target), "converged": None}
        if result is not None:
            from remediation.views.render import to_json

            document = to_json(result)
        document["continued"] = continuation.document(chain, step, follow)
        error = f"{exc.arm_code}: {exc}" if exc is not None else None
        _audit_result(runtime, request, common, clock, result, document, RunState.CONTINUED, error=error)
        _status(runtime, request, RunState.CONTINUED, attempt=common["attempt"], result=document)
        log_action(log, logging.INFO, "%s: %s", request.target, document["continued"]["summary"],
                   target=request.target.id, correlation_id=request.correlation_id, action="sweep-continued",
                   requestId=request.request_id, continuation=follow.request_id, chain=chain.chain_id)
        return True
    if exc is None:
        return False
    if step.stop_reason is None:
        _fail(runtime, request, common, clock, exc, reraised=True)
        raise exc
    _fail(runtime, request, common, clock, exc, reraised=False, reason=step.stop_reason)
    return False


def _record_fields(runtime: Runtime, request: RemediationRequest, *, attempt: int,
                   started: dt.datetime) -> dict[str, Any]:
    """The fields every audit row of this attempt carries."""
    return {
        "run_id": request.request_id, "attempt": attempt, "partition": intake.target_key(request.target),
        "started": started, "target": request.target.id, "target_kind": request.target.kind.value,
        "trigger": request.trigger.value, "event_id": request.event_id,
        "correlation_id": request.correlation_id, "dry_run": request.dry_run or runtime.report_mode,
        "final_attempt": attempt >= MAX_DEQUEUE_COUNT,
    }


def _covered_by_sweep(runtime: Runtime, request: RemediationRequest, common: dict[str, Any], clock: float,
                      enqueued_at: dt.datetime | None) -> bool:
    """True (and recorded) when a pending burst sweep covers this request (intake.covering_sweep)."""
    sweep_id = intake.covering_sweep(request, enqueued_at, settings=runtime.settings, pending=runtime.dedupe,
                                     sweep=Target.sweep_of(runtime.settings.scope))
    if sweep_id is None:
        return False
    _covered(runtime, request, common, clock, sweep_id, attempt=common["attempt"])
    return True


def _reconcile(runtime: Runtime, request: RemediationRequest, common: dict[str, Any],
               clock: float, *, budget_raises: bool = False) -> ReconcileResult | None:
    """The reconcile itself, marked running first. A failure is recorded here: None when retrying cannot help,
    re-raised when the host's retry can. `budget_raises`: a sweep chain's owner, whose run budget running out
    is the caller's to record (it may continue the sweep)."""
    dry_run = common["dry_run"]
    _status(runtime, request, RunState.RUNNING, attempt=common["attempt"])
    log_action(log, logging.INFO, "reconciling %s (%s, attempt %d, %s)", request.target,
               request.trigger.value, common["attempt"], "dry run" if dry_run else "apply",
               target=request.target.id, correlation_id=request.correlation_id, action="reconcile-start",
               requestId=request.request_id)
    try:
        return runtime.reconciler.reconcile(
            request.target, dry_run=dry_run,
            # An explicit HTTP request for a target that does not exist is an error for the caller; an
            # event or sweep for a deleted resource is the clean-up case.
            require_exists=request.trigger is Trigger.HTTP,
            # The firewall follow-up of a cluster whose routing is about to be written goes on the queue now,
            # visible at once, so its group write runs beside the routing (Runtime.enqueue_beside). The one
            # named after the run still goes through the dedupe window as before: it reads after the writes,
            # and finds the rules in place when the early one wrote them.
            early_follow_ups=partial(_send_early, runtime, request))
    except TerminalError as exc:
        _fail(runtime, request, common, clock, exc, reraised=False)
        return None
    except DeadlineExceeded as exc:
        if budget_raises:
            raise
        _fail(runtime, request, common, clock, exc, reraised=True)
        raise
    except TransientError as exc:
        _fail(runtime, request, common, clock, exc, reraised=True)
        raise
    except RemediationError as exc:
        # TargetNotFoundError, bad input: the same request will fail the same way.
        _fail(runtime, request, common, clock, exc, reraised=False)
        return None
    except Exception as exc:
        # A bug: record it and let the host retry and finally park the message in the poison queue,
        # where it can be re-driven once fixed.
        log.exception("reconcile of %s failed unexpectedly", request.target,
                      extra={"target": request.target.id, "action": "reconcile-error"})
        _fail(runtime, request, common, clock, exc, reraised=True)
        raise


def _follow_ups(runtime: Runtime, request: RemediationRequest, result: ReconcileResult) -> dict[str, Any]:
    """Enqueue the follow-ups and return the result's JSON document, each pending follow-up named with the
    request id it runs under (which a caller can poll like any other request)."""
    from remediation.views.render import to_json

    follow_up_ids = _enqueue_follow_ups(runtime, request, result)
    document = to_json(result)
    pending = {str(t).lower(): request_id
               for t, request_id in zip(result.pending_follow_ups, follow_up_ids, strict=False)}
    for item in document.get("followUps") or []:
        if item["target"].lower() in pending:
            item["requestId"] = pending[item["target"].lower()]
    return document


def _audit_result(runtime: Runtime, request: RemediationRequest, common: dict[str, Any], clock: float,
                  result: ReconcileResult | None, document: dict[str, Any], state: RunState, *,
                  error: str | None) -> None:
    outcomes = result.outcomes if result is not None else ()
    calls = result.arm_calls if result is not None else None
    _audit(runtime, AuditRecord(
        **common, state=state, duration_s=time.monotonic() - clock, plan=document,
        outcomes=[{"address": o.change.address, "kind": o.change.kind.value, "action": o.change.action.value,
                   "outcome": o.outcome.value, "error": o.error} for o in outcomes],
        arm_reads=calls.reads if calls else 0, arm_writes=calls.writes if calls else 0, error=error,
        # A continued run does not end the sweep: the compliance is its last run's.
        compliance=_sweep_compliance(runtime, request, result)
        if result is not None and state is not RunState.CONTINUED else None))


def _status_result(runtime: Runtime, request: RemediationRequest, result: ReconcileResult,
                   document: dict[str, Any], state: RunState, *, dry_run: bool, attempt: int,
                   error: str | None) -> None:
    """The status row a caller polls, the log line and the event published for the target."""
    _status(runtime, request, state, attempt=attempt, result=document, error=error)
    changed = [o for o in result.outcomes if o.outcome not in (Outcome.UNCHANGED, Outcome.FAILED)]
    log_action(log, logging.INFO, "%s %s: %d changes planned, %d applied, %d conflicts, converged=%s",
               "planned" if dry_run else "reconciled", request.target, len(result.plan.writes), len(changed),
               len(result.plan.conflicts), result.converged, target=request.target.id,
               correlation_id=request.correlation_id, action="reconcile-done", requestId=request.request_id,
               state=state.value, armReads=result.arm_calls.reads, armWrites=result.arm_calls.writes)
    runtime.publisher.publish(request.target.id, {
        "requestId": request.request_id, "trigger": request.trigger.value, "status": state.value,
        "dryRun": dry_run, "summary": document.get("summary"), "converged": result.converged,
        "correlationId": request.correlation_id})


def _enqueue_follow_ups(runtime: Runtime, request: RemediationRequest,
                        result: ReconcileResult) -> list[str | None]:
    """The firewall target after a routing target, through the dedupe window the Event Grid intake uses:
    the follow-ups of a burst of cluster runs coalesce into one firewall run that reads the fleet once.
    Also after a failed routing write: the firewall's inputs (clusters and their ranges) are what they are.
    Not after a run that stopped with an error (nothing was decided; its retry enqueues them)."""
    if result.error is not None:
        return []
    # A sweep may have run its firewall follow-up itself.
    return _send_follow_ups(runtime, request, result.pending_follow_ups, early=False)


def _send_early(runtime: Runtime, request: RemediationRequest, targets: Sequence[Target]) -> None:
    _send_follow_ups(runtime, request, targets, early=True)


def _send_follow_ups(runtime: Runtime, request: RemediationRequest, targets: Sequence[Target], *,
                     early: bool) -> list[str | None]:
    """Each follow-up through Runtime.enqueue_coalesced; the request id each runs under (ours or a pending
    one's). `early`: named before the routing writes (Reconciler.reconcile `early_follow_ups`)."""
    ids: list[str | None] = []
    for target in targets:
        follow_up = RemediationRequest(
            target=target, trigger=request.trigger, request_id=intake.new_request_id(), dry_run=request.dry_run,
            event_id=request.event_id, correlation_id=request.correlation_id or request.request_id)
        # A failure raises TransientError: this message is retried, and the retry enqueues again.
        runs_as = runtime.enqueue_beside(follow_up) if early else runtime.enqueue_coalesced(follow_up)
        sent = runs_as == follow_up.request_id
        ids.append(runs_as)
        log_action(log, logging.INFO, "%s follow-up %s of %s%s", "enqueued" if sent else "coalesced", target,
                   request.target, " beside its routing writes" if early else "", target=target.id,
                   correlation_id=follow_up.correlation_id,
                   action="enqueue-follow-up" if sent else "dedupe-follow-up", requestId=runs_as,
                   trigger=follow_up.trigger.value, early=early)
    return ids


def _covered(runtime: Runtime, request: RemediationRequest, common: dict[str, Any], clock: float,
             sweep_id: str, *, attempt: int) -> None:
    """A request a pending burst sweep covers (intake.covering_sweep): recorded as done by that sweep, with
    its request id, so a caller polling this request knows where the outcome is."""
    reason = f"covered by the burst sweep {sweep_id}, which reads the fleet after this event: not run"
    document = {"target": str(request.target), "coveredBy": sweep_id, "summary": reason, "converged": None}
    _audit(runtime, AuditRecord(**common, state=RunState.SUCCEEDED, duration_s=time.monotonic() - clock,
                                plan=document))
    _status(runtime, request, RunState.SUCCEEDED, attempt=attempt, result=document)
    log_action(log, logging.INFO, "%s: %s", request.target, reason, target=request.target.id,
               correlation_id=request.correlation_id, action="covered-by-sweep", requestId=request.request_id,
               sweep=sweep_id)


def _not_run(runtime: Runtime, request: RemediationRequest, common: dict[str, Any], clock: float,
             not_run: continuation.NotRun) -> None:
    """A sweep run that does not reconcile (remediation/triggers/continuation.py `enter`): covered by a chain
    that is continuing, or a continuation that stops; recorded with the reason, nothing written."""
    document: dict[str, Any] = {"target": str(request.target), "summary": not_run.reason, "converged": None}
    if not_run.covered_by is not None:
        document["coveredBy"] = not_run.covered_by
    state = RunState.FAILED if not_run.failed else RunState.SUCCEEDED
    error = f"ContinuationStopped: {not_run.reason}" if not_run.failed else None
    _audit(runtime, AuditRecord(**common, state=state, duration_s=time.monotonic() - clock, plan=document,
                                error=error))
    _status(runtime, request, state, attempt=common["attempt"], result=document, error=error)
    log_action(log, logging.WARNING if not_run.failed else logging.INFO, "%s: %s", request.target, not_run.reason,
               target=request.target.id, correlation_id=request.correlation_id, action="sweep-not-run",
               requestId=request.request_id, coveredBy=not_run.covered_by)


def _fail(runtime: Runtime, request: RemediationRequest, common: dict[str, Any], clock: float,
          exc: BaseException, *, reraised: bool, reason: str | None = None) -> None:
    """Record a failed attempt. `reraised`: the host will retry it, or on the last attempt poison it.
    `reason`: recorded before the error (a sweep chain that stops)."""
    code = getattr(exc, "arm_code", None) or getattr(exc, "code", None) or type(exc).__name__
    error = f"{code}: {exc}" if reason is None else f"{reason} ({code}: {exc})"
    poisoned = reraised and common["final_attempt"]
    if poisoned:
        error = f"{error} (attempt {common['attempt']} of {MAX_DEQUEUE_COUNT}: moved to {POISON_QUEUE_NAME})"
    retry = reraised and not poisoned
    state = RunState.QUEUED if retry else RunState.FAILED
    _audit(runtime, AuditRecord(**common, state=state, duration_s=time.monotonic() - clock, error=error))
    _status(runtime, request, state, attempt=common["attempt"], error=error)
    log_action(log, logging.WARNING if retry else logging.ERROR, "reconcile of %s %s: %s", request.target,
               "will be retried" if retry else "failed", error, target=request.target.id,
               correlation_id=request.correlation_id, action="reconcile-failed", requestId=request.request_id,
               attempt=common["attempt"], poisoned=poisoned)


def _status(runtime: Runtime, request: RemediationRequest, state: RunState, *, attempt: int,
            result: dict[str, Any] | None = None, error: str | None = None) -> None:
    """The request's status row; a continuation's also goes to its chain's first request, which is what the
    caller that asked for the sweep polls (continued, then the last run's outcome)."""
    for request_id in dict.fromkeys((request.request_id, request.chain_id)):
        try:
            runtime.status.set(request_id, state, target=request.target.id, trigger=request.trigger.value,
                               dry_run=request.dry_run or runtime.report_mode, attempt=attempt, result=result,
                               error=error)
        except Exception as exc:  # status is for callers polling; losing one update must not fail the run
            log.warning("status of request %s not stored: %s", request_id, exc)


def _audit(runtime: Runtime, record: AuditRecord) -> None:
    try:
        runtime.audit.write(record)
    except Exception as exc:  # the reconcile already happened; a lost audit row must not re-run it
        log.error("audit record of request %s not stored: %s", record.run_id, exc,
                  extra={"target": record.target, "action": "audit-failed"})


def _sweep_compliance(runtime: Runtime, request: RemediationRequest,
                      result: ReconcileResult) -> dict[str, Any] | None:
    """The drift sweep ends with its firewall follow-up (same trigger, docs/architecture.md section 2): that
    run's audit row records the compliance of the scope after both (a fresh read). A sweep with no follow-up
    left to run (its rules were already in place, or it ran the firewall part itself inside the lease)
    records it in its own row. Other runs and a failed read
    record none: the reconcile already happened and must not be re-run for its audit row. (A sweep whose
    follow-up coalesced into an event's pending firewall run records none; the next sweep does.)"""
    if request.trigger is not Trigger.TIMER:
        return None
    ends_the_sweep = request.target.kind is TargetKind.FIREWALL or (
        request.target.kind is TargetKind.SCOPE and not result.pending_follow_ups and result.error is None)
    if not ends_the_sweep:
        return None
    from remediation.engine.status import scope_compliance
    from remediation.views.render_status import to_json

    try:
        return to_json(scope_compliance(runtime.reconciler))
    except Exception as exc:
        log.warning("compliance of %s not recorded: %s", request.target, exc)
        return None
