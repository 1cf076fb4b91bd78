"""`on_resource_event`: Event Grid (subscription system topic) -> one queue message per target.

Acknowledge fast (Event Grid waits 30 s, arm-protocol.md 4.3): no ARM call here, only parse, map and
enqueue. Return normally for anything that must not be redelivered (ignored or malformed events); raise
only when the enqueue failed, so Event Grid redelivers the event.
"""

from __future__ import annotations

import logging
from typing import Any

import azure.functions as func

from remediation import intake
from remediation.intake import Ignored, RemediationRequest, Trigger
from remediation.telemetry import log_action
from remediation.triggers.runtime import get_runtime

log = logging.getLogger(__name__)

bp = func.Blueprint()


def event_payload(event: func.EventGridEvent | func.CloudEvent) -> dict[str, Any]:
    """The event as intake reads it. azure-functions hands over a CloudEvent for CloudEvents 1.0 JSON
    (it has `specversion`) and an EventGridEvent otherwise, whatever the annotation says."""
    if isinstance(event, func.CloudEvent):
        return {"id": event.id, "type": event.type, "subject": event.subject, "source": event.source,
                "data": event.get_json()}
    return {"id": event.id, "eventType": event.event_type, "subject": event.subject, "topic": event.topic,
            "data": event.get_json()}


@bp.function_name("on_resource_event")
@bp.event_grid_trigger(arg_name="event")
def on_resource_event(event: func.EventGridEvent) -> None:
    # The annotation must be one class for the worker's binding check; CloudEvent arrives at runtime too.
    payload = event_payload(event)
    event_id = payload.get("id") or "(no id)"
    runtime = get_runtime()
    try:
        parsed = intake.parse_event(payload)
        decision = intake.decide(parsed, runtime.settings, runtime.reconciler.resolve)
    except intake.MalformedEventError as exc:
        # Returning normally acknowledges the event: a redelivery would be just as malformed.
        log_action(log, logging.WARNING, "dropped malformed event %s: %s", event_id, exc,
                   action="drop-event", eventId=event_id)
        return
    if isinstance(decision, Ignored):
        log_action(log, logging.INFO, "ignored event %s (%s on %s): %s", parsed.id, parsed.operation_name,
                   parsed.resource_id, decision.reason, target=parsed.resource_id,
                   correlation_id=parsed.correlation_id, action="ignore-event", eventId=parsed.id)
        return
    target = decision
    key = intake.target_key(target)
    if runtime.dedupe.is_pending(key):
        log_action(log, logging.INFO, "event %s folded into the pending request for %s (within %ss)",
                   parsed.id, target, runtime.dedupe.window_s, target=target.id,
                   correlation_id=parsed.correlation_id, action="dedupe-event", eventId=parsed.id)
        return
    request = RemediationRequest(
        target=target, trigger=Trigger.EVENT, request_id=intake.new_request_id(),
        dry_run=runtime.report_mode, event_id=parsed.id, correlation_id=parsed.correlation_id)
    # Raises TransientError on failure: Event Grid then redelivers the event.
    runtime.queue.send(request, delay_s=runtime.dedupe.window_s)
    runtime.dedupe.mark(key)
    log_action(log, logging.INFO, "enqueued %s for event %s (%s on %s)", target, parsed.id,
               parsed.operation_name, parsed.resource_id, target=target.id,
               correlation_id=parsed.correlation_id, action="enqueue", eventId=parsed.id,
               requestId=request.request_id, trigger=Trigger.EVENT.value)
