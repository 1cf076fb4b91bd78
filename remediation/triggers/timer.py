"""`drift_sweep`: the backstop. Enqueues every sweep target; the worker finds and repairs drift.

Events can be lost (dead-lettered, filtered, delayed for hours) and poison messages stop retrying, so the
periodic sweep is what guarantees convergence (docs/architecture.md section 4).
"""

from __future__ import annotations

import logging

import azure.functions as func

from remediation.core.telemetry import log_action
from remediation.planning import intake
from remediation.planning.intake import RemediationRequest, Trigger
from remediation.triggers import continuation
from remediation.triggers.runtime import get_runtime

log = logging.getLogger(__name__)

bp = func.Blueprint()


@bp.function_name("drift_sweep")
@bp.timer_trigger(arg_name="timer", schedule="%DRIFT_SCHEDULE%", run_on_startup=False, use_monitor=True)
def drift_sweep(timer: func.TimerRequest) -> None:
    if timer.past_due:
        log_action(log, logging.WARNING, "drift sweep is running late (past due): the app was stopped or "
                   "busy at the scheduled time", action="sweep-past-due")
    runtime = get_runtime()
    targets = runtime.reconciler.sweep_targets()
    sent = 0
    for target in targets:
        chain = continuation.continuing(runtime, target)
        if chain is not None:
            # A sweep of it is going on in continuations, each re-reading the fleet: a second sweep beside it
            # would only write the same changes twice (remediation/triggers/continuation.py).
            log_action(log, logging.INFO, "drift sweep: %s is still being swept (request %s continues): not "
                       "enqueued", target, chain, target=target.id, action="sweep-continuing", requestId=chain)
            continue
        request = RemediationRequest(target=target, trigger=Trigger.TIMER, request_id=intake.new_request_id(),
                                     dry_run=runtime.report_mode)
        # A failure raises: the invocation is logged as failed and the next schedule tries again.
        runtime.queue.send(request)
        log_action(log, logging.INFO, "drift sweep enqueued %s", target, target=target.id, action="enqueue",
                   requestId=request.request_id, trigger=Trigger.TIMER.value)
        sent += 1
    log_action(log, logging.INFO, "drift sweep enqueued %d of %d targets", sent, len(targets), action="sweep")
