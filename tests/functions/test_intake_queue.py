"""The Event Grid -> Storage queue intake (`on_resource_event_queued`), and the one intake it shares with
the EventGridTrigger (`on_resource_event`): both schemas, filtering, ignore-own-writes and dedupe, tested
through both delivery paths with real azure.functions objects and real Azurite queues."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from azure.core.exceptions import ResourceExistsError
from azure.storage.queue import QueueClient, TextBase64DecodePolicy, TextBase64EncodePolicy

from remediation.core.errors import TransientError
from remediation.core.model import TargetKind
from remediation.planning import intake
from remediation.planning.intake import Admitted, Trigger
from remediation.triggers.event_intake import admit_event
from remediation.triggers.eventgrid_queue import EVENT_QUEUE_NAME
from tests.functions.helpers import (
    AKS,
    OTHER_SUB,
    PRINCIPAL_ID,
    ROOT,
    SPOKE,
    SUB,
    Azurite,
    as_queue_message,
    event_from_json,
    functions,
    queued_count,
    resource_event,
    user_function,
)

MESSAGES = ROOT / "tests" / "functions" / "data" / "queue-messages"
SCHEMAS = ["eventgrid-schema.json", "cloudevents-schema.json"]
PATHS = ["webhook", "queue"]


def _recorded(name: str) -> dict[str, Any]:
    return dict(json.loads((MESSAGES / name).read_text(encoding="utf-8")))


@pytest.fixture
def event_queue(storage: Azurite) -> Iterator[QueueClient]:
    """The `resource-events` queue, empty. Event Grid writes the event JSON as base64 message text, and
    the host decodes base64 (host.json messageEncoding) before the function sees the body."""
    client = QueueClient.from_connection_string(storage.connection_string(), EVENT_QUEUE_NAME,
                                                message_encode_policy=TextBase64EncodePolicy(),
                                                message_decode_policy=TextBase64DecodePolicy())
    try:
        client.create_queue()
    except ResourceExistsError:
        client.clear_messages()
    yield client


def _through_queue(queue: QueueClient, text: str) -> None:
    queue.send_message(text)
    (message,) = list(queue.receive_messages(max_messages=32, visibility_timeout=60))
    user_function("on_resource_event_queued")(as_queue_message(message))
    queue.delete_message(message)  # what the host does when the function returns normally


def _deliver(path: str, queue: QueueClient, body: dict[str, Any]) -> None:
    if path == "webhook":
        user_function("on_resource_event")(event_from_json(body))
    else:
        _through_queue(queue, json.dumps(body))


# ------------------------------------------------------------------------------------ the message body


def test_the_queue_function_reads_the_event_queue_of_the_events_account() -> None:
    (binding,) = [json.loads(raw) for raw in functions()["on_resource_event_queued"].get_raw_bindings()]
    assert binding["type"] == "queueTrigger"
    assert binding["queueName"] == EVENT_QUEUE_NAME == "resource-events"
    assert binding["connection"] == "EventsStorage"


@pytest.mark.parametrize("name", SCHEMAS)
def test_message_body_is_one_event_object_in_any_text_encoding(name: str) -> None:
    raw = (MESSAGES / name).read_text(encoding="utf-8")
    expected = [json.loads(raw)]
    as_base64 = base64.b64encode(raw.encode("utf-8")).decode("ascii")
    assert intake.events_in_queue_message(raw.encode("utf-8")) == expected  # host decoded base64
    assert intake.events_in_queue_message(as_base64) == expected  # host messageEncoding none
    assert intake.events_in_queue_message("\ufeff" + raw) == expected
    assert intake.events_in_queue_message(f"[{raw}, {raw}]") == expected * 2


@pytest.mark.parametrize("body", ["", "not json", "bm90IGpzb24=", "[]", "[1, 2]", '"text"', "{"],
                         ids=["empty", "text", "base64-text", "empty-array", "numbers", "string", "truncated"])
def test_malformed_message_bodies_raise_malformed(body: str) -> None:
    with pytest.raises(intake.MalformedEventError):
        intake.events_in_queue_message(body)


# ------------------------------------------------------------------------------------ through both paths


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("name", SCHEMAS, ids=["eventgrid", "cloudevents"])
def test_recorded_event_enqueues_one_request(app_env: Callable[..., None], storage: Azurite,
                                             event_queue: QueueClient, path: str, name: str) -> None:
    _deliver(path, event_queue, _recorded(name))
    assert queued_count(storage) == 1


@pytest.mark.parametrize("name", SCHEMAS, ids=["eventgrid", "cloudevents"])
def test_the_request_carries_the_event_id_and_correlation(app_env: Callable[..., None], storage: Azurite,
                                                          name: str) -> None:
    body = _recorded(name)
    admission = admit_event(body, via="queue")
    assert admission.outcome is Admitted.ENQUEUED
    request = admission.request
    assert request is not None
    assert request.trigger is Trigger.EVENT
    assert request.target.kind is TargetKind.CLUSTER
    assert request.target.id.lower() == body["subject"].lower()
    assert (request.event_id, request.correlation_id) == (body["id"], body["data"]["correlationId"])
    assert request.dry_run is False  # base settings: REMEDIATION_MODE=enforce


NOT_ENQUEUED = {
    "own-identity-evidence": resource_event(f"{SPOKE}/routeTables/rt-spoke-nodes",
                                            "Microsoft.Network/routeTables/write", evidence_principal=PRINCIPAL_ID),
    "own-identity-claim": resource_event(f"{AKS}/aks-cni", "Microsoft.ContainerService/managedClusters/write",
                                         caller_oid=PRINCIPAL_ID.upper(), cloud=True),
    "out-of-scope": resource_event(f"/subscriptions/{OTHER_SUB}/resourceGroups/rg/providers/"
                                   "Microsoft.Network/routeTables/rt", "Microsoft.Network/routeTables/write"),
    "other-operation": resource_event(f"/subscriptions/{SUB}/resourceGroups/rg/providers/Microsoft.Compute/"
                                      "virtualMachines/vm", "Microsoft.Compute/virtualMachines/write"),
    "deployment": resource_event(f"/subscriptions/{SUB}/resourceGroups/rg-spoke/providers/Microsoft.Resources/"
                                 "deployments/d1", "Microsoft.ContainerService/managedClusters/write"),
    "failure-type": resource_event(f"{AKS}/aks-cni", "Microsoft.ContainerService/managedClusters/write",
                                   event_type="Microsoft.Resources.ResourceWriteFailure", cloud=True),
    "no-data": {"id": "m1", "eventType": "Microsoft.Resources.ResourceWriteSuccess", "subject": f"{AKS}/a",
                "dataVersion": "2"},
    "bad-subject": resource_event("garbage", "Microsoft.ContainerService/managedClusters/write"),
}


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("case", sorted(NOT_ENQUEUED))
def test_filtered_events_return_normally_without_enqueueing(app_env: Callable[..., None], storage: Azurite,
                                                            event_queue: QueueClient, path: str,
                                                            case: str) -> None:
    _deliver(path, event_queue, NOT_ENQUEUED[case])
    assert queued_count(storage) == 0


@pytest.mark.parametrize("path", PATHS)
def test_a_burst_for_one_target_enqueues_once(app_env: Callable[..., None], storage: Azurite,
                                              event_queue: QueueClient, path: str) -> None:
    burst = [
        resource_event(f"{AKS}/aks-cni", "Microsoft.ContainerService/managedClusters/write", event_id="a"),
        resource_event(f"{AKS}/aks-cni/agentPools/np1", "Microsoft.ContainerService/managedClusters/agentPools/write",
                       event_id="b", cloud=True),
        resource_event(f"{AKS}/AKS-CNI", "Microsoft.ContainerService/managedClusters/write", event_id="a"),
        resource_event(f"{AKS}/aks-overlay", "Microsoft.ContainerService/managedClusters/write", event_id="c"),
    ]
    for body in burst:
        _deliver(path, event_queue, body)
    assert queued_count(storage) == 2  # aks-cni once, aks-overlay once


def test_dedupe_spans_both_paths(app_env: Callable[..., None], storage: Azurite, event_queue: QueueClient) -> None:
    """A deployment moving from webhook to queue delivery (or running both for a while) still enqueues once."""
    cluster_write = resource_event(f"{AKS}/aks-cni", "Microsoft.ContainerService/managedClusters/write", event_id="w")
    _deliver("webhook", event_queue, cluster_write)
    _deliver("queue", event_queue, _recorded("cloudevents-schema.json"))
    assert queued_count(storage) == 1


def test_malformed_queue_message_is_completed_without_enqueueing(app_env: Callable[..., None], storage: Azurite,
                                                                 event_queue: QueueClient) -> None:
    _through_queue(event_queue, "this is not an event")  # returns normally: the host deletes it
    assert queued_count(storage) == 0


def test_a_message_with_several_events_admits_each(app_env: Callable[..., None], storage: Azurite,
                                                   event_queue: QueueClient) -> None:
    events = [resource_event(f"{AKS}/aks-cni", "Microsoft.ContainerService/managedClusters/write"),
              resource_event(f"{SPOKE}/applicationGateways/agw-spoke", "Microsoft.Network/applicationGateways/write",
                             cloud=True, event_id="g")]
    _through_queue(event_queue, json.dumps(events))
    assert queued_count(storage) == 2


@pytest.mark.parametrize("path", PATHS)
def test_failed_enqueue_raises_so_the_transport_redelivers(app_env: Callable[..., None], storage: Azurite,
                                                           event_queue: QueueClient, path: str) -> None:
    from tests.functions.conftest import _free_ports

    (dead_port,) = _free_ports(1)
    app_env(AzureWebJobsStorage=storage.connection_string(queue_port=dead_port))
    with pytest.raises(TransientError):
        _deliver(path, event_queue, _recorded("eventgrid-schema.json"))
    # The dedupe marker is written only after a successful send: the redelivery is not folded away.
    app_env()
    _deliver(path, event_queue, _recorded("eventgrid-schema.json"))
    assert queued_count(storage) == 1


def test_recorded_bodies_are_the_documented_shapes() -> None:
    """Guards the samples: Event Grid schema has eventType/topic/dataVersion, CloudEvents specversion 1.0
    with type/source; both describe the same ARM write."""
    grid, cloud = (_recorded(n) for n in SCHEMAS)
    assert {"id", "eventType", "subject", "eventTime", "data", "dataVersion", "metadataVersion", "topic"} <= set(grid)
    assert cloud["specversion"] == "1.0" and {"id", "type", "source", "subject", "time", "data"} <= set(cloud)
    assert grid["data"]["operationName"] == cloud["data"]["operationName"]
    assert Path(MESSAGES / "README.md").is_file()


@pytest.mark.parametrize(("body", "outcome"), [
    (NOT_ENQUEUED["own-identity-evidence"], Admitted.IGNORED),
    (NOT_ENQUEUED["out-of-scope"], Admitted.IGNORED),
    (NOT_ENQUEUED["no-data"], Admitted.DROPPED),
    (NOT_ENQUEUED["bad-subject"], Admitted.DROPPED),
], ids=["own-identity", "out-of-scope", "no-data", "bad-subject"])
def test_the_shared_intake_says_what_became_of_an_event(app_env: Callable[..., None], storage: Azurite,
                                                        body: dict[str, Any], outcome: Admitted) -> None:
    admission = admit_event(body, via="queue")
    assert admission.outcome is outcome
    assert admission.reason and admission.request is None
    again = admit_event(_recorded("eventgrid-schema.json"), via="queue")
    assert again.outcome is Admitted.ENQUEUED
    assert admit_event(_recorded("cloudevents-schema.json"), via="webhook").outcome is Admitted.FOLDED


def test_report_mode_enqueues_dry_runs(app_env: Callable[..., None], storage: Azurite) -> None:
    app_env(REMEDIATION_MODE="report")
    admission = admit_event(_recorded("cloudevents-schema.json"), via="queue")
    assert admission.request is not None and admission.request.dry_run is True
