"""The shared event intake of both event triggers: `on_resource_event` (EventGridTrigger, webhook
delivery) and `on_resource_event_queued` (Event Grid -> Storage queue). One function, so filtering,
ignore-own-writes, dedupe and the log lines cannot differ between the two paths.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from remediation.core.telemetry import log_action
from remediation.planning import intake
from remediation.planning.intake import Admission, Admitted, Trigger
from remediation.triggers.runtime import get_runtime

log = logging.getLogger(__name__)


def admit_event(payload: Mapping[str, Any], *, via: str) -> Admission:
    """Admit one event and log what became of it. `via` names the delivery path in the log.

    Raises TransientError when the enqueue failed, so the transport redelivers the event.
    """
    runtime = get_runtime()
    reconciler = runtime.reconciler
    admission = intake.admit(payload, settings=runtime.settings, resolve=reconciler.resolve,
                             pending=runtime.dedupe, sender=runtime.queue, dry_run=runtime.report_mode,
                             sweep=reconciler.scope_target())
    event, target = admission.event, admission.target
    common: dict[str, Any] = {"action": admission.outcome.value, "eventId": admission.event_id, "via": via}
    if admission.outcome is Admitted.DROPPED:
        # Acknowledged: a redelivery would be just as malformed.
        log_action(log, logging.WARNING, "dropped malformed event %s: %s", admission.event_id, admission.reason,
                   **common)
    elif admission.outcome is Admitted.IGNORED and event is not None:
        log_action(log, logging.INFO, "ignored event %s (%s on %s): %s", event.id, event.operation_name,
                   event.resource_id, admission.reason, target=event.resource_id,
                   correlation_id=event.correlation_id, **common)
    elif admission.outcome is Admitted.FOLDED and event is not None:
        log_action(log, logging.INFO, "event %s folded into the pending request for %s: %s", event.id, target,
                   admission.reason, target=target.id if target else None, correlation_id=event.correlation_id,
                   **common)
    elif admission.request is not None and event is not None:
        request = admission.request
        log_action(log, logging.INFO, "enqueued %s for event %s (%s on %s)%s", request.target, event.id,
                   event.operation_name, event.resource_id,
                   f": {admission.reason}" if admission.reason else "", target=request.target.id,
                   correlation_id=event.correlation_id, requestId=request.request_id,
                   trigger=Trigger.EVENT.value, **common)
    return admission
