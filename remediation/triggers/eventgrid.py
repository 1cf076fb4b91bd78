"""`on_resource_event`: Event Grid (subscription system topic) -> one queue message per target.

The webhook delivery path, for deployments that choose it (infra parameter eventDelivery=webhook); the
default path is Event Grid -> Storage queue -> `on_resource_event_queued` (eventgrid_queue.py). Both share
one intake (event_intake.admit_event).

Acknowledge fast (Event Grid waits 30 s, docs/arm-notes.md 4.3): no ARM call here, only parse, map and
enqueue. Return normally for anything that must not be redelivered (ignored or malformed events); raise
only when the enqueue failed, so Event Grid redelivers the event.
"""

from __future__ import annotations

from typing import Any

import azure.functions as func

from remediation.triggers.event_intake import admit_event

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
    # Raises TransientError when the enqueue failed: Event Grid then redelivers the event.
    admit_event(event_payload(event), via="webhook")
