"""`on_resource_event_queued`: Event Grid -> Storage queue `resource-events` -> the shared event intake.

The default event path (docs/deploy.md, "Event path"): the system topic's event subscription delivers to a
queue in the app's events storage account with the topic's managed identity, so Event Grid never calls
the app and the app needs no public endpoint; that account's firewall admits Event Grid only as a trusted
service, and the app reads the queue through a private endpoint.
Each message holds one event object in the subscription's delivery schema (Event Grid schema or
CloudEvents 1.0); intake.events_in_queue_message reads it.

Return normally for anything a retry cannot fix (malformed, ignored, folded); raise only when the enqueue
of the remediation request failed, so the host makes the message visible again and, after host.json
`maxDequeueCount` attempts, moves it to `resource-events-poison`.
"""

from __future__ import annotations

import logging

import azure.functions as func

from remediation.core.telemetry import log_action
from remediation.planning import intake
from remediation.triggers.event_intake import admit_event

log = logging.getLogger(__name__)

bp = func.Blueprint()

# infra/app/events-storage.bicep creates both queues in the events account; the event subscription
# delivers to EVENT_QUEUE_NAME.
EVENT_QUEUE_NAME = "resource-events"
EVENT_POISON_QUEUE_NAME = EVENT_QUEUE_NAME + "-poison"
# The events account's connection (app settings EventsStorage__queueServiceUri + __credential in Azure,
# EventsStorage=UseDevelopmentStorage=true locally). Not AzureWebJobsStorage: the app's own account has
# public network access disabled, which Event Grid cannot deliver to (docs/deploy.md, "Event path").
EVENTS_CONNECTION = "EventsStorage"


@bp.function_name("on_resource_event_queued")
@bp.queue_trigger(arg_name="msg", queue_name=EVENT_QUEUE_NAME, connection=EVENTS_CONNECTION)
def on_resource_event_queued(msg: func.QueueMessage) -> None:
    try:
        events = intake.events_in_queue_message(msg.get_body())
    except intake.MalformedEventError as exc:
        # Completing the message keeps one that can never parse out of the retry loop.
        log_action(log, logging.WARNING, "dropped malformed event message %s: %s", msg.id, exc,
                   action="drop-event", messageId=msg.id, via="queue")
        return
    for payload in events:
        # Raises TransientError when the enqueue failed; events of this message admitted before it are
        # folded by dedupe when the message is redelivered.
        admit_event(payload, via="queue")
