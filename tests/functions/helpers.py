"""Constants and builders shared by the Function app tests (real azure.functions objects, real storage)."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import azure.functions as func
from azure.core.exceptions import ResourceNotFoundError
from azure.functions import meta
from azure.functions.eventgrid import EventGridEventInConverter
from azure.functions.queue import QueueMessage as HostQueueMessage
from azure.storage.queue import QueueClient, TextBase64DecodePolicy, TextBase64EncodePolicy

from remediation.storage import QUEUE_NAME

ROOT = Path(__file__).resolve().parents[2]
SUB = "00000000-0000-0000-0000-000000000000"
OTHER_SUB = "11111111-1111-1111-1111-111111111111"
HUB = f"/subscriptions/{SUB}/resourceGroups/rg-hub/providers/Microsoft.Network"
SPOKE = f"/subscriptions/{SUB}/resourceGroups/rg-spoke/providers/Microsoft.Network"
AKS = f"/subscriptions/{SUB}/resourcegroups/rg-spoke/providers/Microsoft.ContainerService/managedClusters"
FIREWALL_ID = f"{HUB}/azureFirewalls/fw-hub"
PRINCIPAL_ID = "9f3c1b2a-0000-4000-8000-00000000abcd"

# Azurite's well-known development account (public, documented; not a secret).
DEV_ACCOUNT = "devstoreaccount1"
DEV_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="


@dataclass(frozen=True)
class Azurite:
    blob_port: int
    queue_port: int
    table_port: int

    def connection_string(self, *, queue_port: int | None = None) -> str:
        return (f"DefaultEndpointsProtocol=http;AccountName={DEV_ACCOUNT};AccountKey={DEV_KEY};"
                f"BlobEndpoint=http://127.0.0.1:{self.blob_port}/{DEV_ACCOUNT};"
                f"QueueEndpoint=http://127.0.0.1:{queue_port or self.queue_port}/{DEV_ACCOUNT};"
                f"TableEndpoint=http://127.0.0.1:{self.table_port}/{DEV_ACCOUNT};")


def base_settings(**extra: str) -> dict[str, str]:
    return {
        "REMEDIATION_SCOPE": f"/subscriptions/{SUB}",
        "FIREWALL_ID": FIREWALL_ID,
        "REMEDIATION_MODE": "enforce",
        "REMEDIATION_PRINCIPAL_ID": PRINCIPAL_ID,
        "DRIFT_SCHEDULE": "0 */30 * * * *",
        "FUNCTIONS_WORKER_RUNTIME": "python",
        **extra,
    }


# ------------------------------------------------------------------------------------ function objects


def functions() -> dict[str, Any]:
    """The app's functions as Microsoft's worker indexed and reported them, by name (each with
    `get_raw_bindings()` and `get_user_function()`, like azure.functions' Function)."""
    from tests.functions.worker_harness import worker

    return dict(worker().functions)


def user_function(name: str) -> Callable[..., Any]:
    """The function as Microsoft's worker indexed it from function_app.py (tests/functions/worker_harness.py),
    for tests that call it with azure.functions objects they build themselves."""
    from tests.functions.worker_harness import worker

    return worker().user_function(name)


def event_from_json(body: dict[str, Any]) -> func.EventGridEvent | func.CloudEvent:
    """Decode an event exactly as the worker does: the host passes each array element as JSON."""
    datum = meta.Datum(json.dumps(body), "json")
    return EventGridEventInConverter.decode(datum, trigger_metadata={})


def resource_event(resource_id: str, operation: str, *,
                   event_type: str = "Microsoft.Resources.ResourceWriteSuccess", event_id: str = "ev-1",
                   caller_oid: str = "5e0e0e0e-0000-4000-8000-000000000001", cloud: bool = False,
                   correlation_id: str = "corr-1", evidence_principal: str | None = None) -> dict[str, Any]:
    """An ARM resource event in the Event Grid schema (or CloudEvents 1.0), shaped like the doc samples."""
    data: dict[str, Any] = {
        "authorization": {"scope": resource_id, "action": operation,
                          "evidence": {"role": "Contributor", "principalId": evidence_principal or caller_oid,
                                       "principalType": "ServicePrincipal"}},
        "claims": {"http://schemas.microsoft.com/identity/claims/objectidentifier": caller_oid},
        "correlationId": correlation_id,
        "httpRequest": {"clientRequestId": "c1", "clientIpAddress": "10.0.0.1", "method": "PUT",
                        "url": f"https://management.azure.com{resource_id}?api-version=2024-05-01"},
        "resourceProvider": operation.split("/")[0],
        "resourceUri": resource_id,
        "operationName": operation,
        "status": "Succeeded",
        "subscriptionId": SUB,
        "tenantId": "72f988bf-0000-0000-0000-000000000000",
    }
    if cloud:
        return {"specversion": "1.0", "id": event_id, "source": f"/subscriptions/{SUB}",
                "subject": resource_id, "type": event_type, "time": "2026-01-10T10:00:00.0000000Z",
                "data": data}
    return {"id": event_id, "topic": f"/subscriptions/{SUB}", "subject": resource_id, "eventType": event_type,
            "eventTime": "2026-01-10T10:00:00.0000000Z", "data": data, "dataVersion": "2",
            "metadataVersion": "1"}


def http_request(method: str, url: str, *, body: bytes | str = b"",
                 route_params: dict[str, str] | None = None,
                 headers: dict[str, str] | None = None) -> func.HttpRequest:
    return func.HttpRequest(method=method, url=url, headers=headers or {"Content-Type": "application/json"},
                            params={}, route_params=route_params or {},
                            body=body.encode() if isinstance(body, str) else body)


def request_queue(azurite: Azurite) -> QueueClient:
    return QueueClient.from_connection_string(azurite.connection_string(), QUEUE_NAME,
                                              message_encode_policy=TextBase64EncodePolicy(),
                                              message_decode_policy=TextBase64DecodePolicy())


def queued_count(azurite: Azurite) -> int:
    """All messages, including those still invisible (events are sent with a visibility delay)."""
    try:
        return int(request_queue(azurite).get_queue_properties().approximate_message_count or 0)
    except ResourceNotFoundError:
        return 0


def receive_all(azurite: Azurite, *, wait_s: float = 0.0) -> list[Any]:
    """Messages visible now (or within wait_s), as the host's queue listener would receive them."""
    queue = request_queue(azurite)
    deadline = time.monotonic() + wait_s
    while True:
        try:
            messages = list(queue.receive_messages(max_messages=32, visibility_timeout=60))
        except ResourceNotFoundError:
            messages = []
        if messages or time.monotonic() >= deadline:
            return messages
        time.sleep(0.5)


def as_queue_message(message: Any) -> HostQueueMessage:
    """The host's view of a received message: body decoded from base64, dequeue count, insertion time."""
    return HostQueueMessage(id=message.id, body=message.content.encode("utf-8"),
                             dequeue_count=message.dequeue_count, pop_receipt=message.pop_receipt,
                             insertion_time=message.inserted_on)


