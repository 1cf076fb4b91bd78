"""The Event Grid subscription delivers exactly what the intake handles (remediation/core/operations.py)."""

from __future__ import annotations

from typing import Any

import pytest

from remediation import storage as app_storage
from remediation.core.operations import HANDLED_EVENT_TYPES, HANDLED_OPERATIONS
from remediation.triggers.eventgrid_queue import EVENT_POISON_QUEUE_NAME, EVENT_QUEUE_NAME
from tests.infra.bicep_model import INFRA_DIR, BicepFile, body, resources_of_type

# docs/arm-notes.md section 4.2: 25 advanced filters and 25 filter values in total per event subscription,
# 512 characters per string value.
MAX_FILTER_VALUES = 25
MAX_STRING_VALUE = 512


@pytest.fixture(scope="module")
def event_subscription(bicep_files: list[BicepFile]) -> tuple[BicepFile, dict[str, Any]]:
    found = list(resources_of_type(bicep_files, "Microsoft.EventGrid/systemTopics/eventSubscriptions"))
    assert len(found) == 1, "expected exactly one system-topic event subscription declaration"
    return found[0]


def _filter(event_subscription: tuple[BicepFile, dict[str, Any]]) -> dict[str, Any]:
    bicep, body = event_subscription
    return dict(bicep.resolve(body["properties"]["filter"]))


def _advanced_filters(event_subscription: tuple[BicepFile, dict[str, Any]]) -> list[dict[str, Any]]:
    bicep, _ = event_subscription
    filters = bicep.resolve(_filter(event_subscription)["advancedFilters"])
    assert isinstance(filters, list)
    return [dict(bicep.resolve(f)) for f in filters]


def test_operations_fit_event_grid_limits() -> None:
    assert len(HANDLED_OPERATIONS) <= MAX_FILTER_VALUES
    assert len(set(HANDLED_OPERATIONS)) == len(HANDLED_OPERATIONS)
    assert all(len(op) <= MAX_STRING_VALUE for op in HANDLED_OPERATIONS)


def test_one_string_in_filter_on_operation_name(event_subscription: tuple[BicepFile, dict[str, Any]]) -> None:
    filters = _advanced_filters(event_subscription)
    assert len(filters) == 1
    (only,) = filters
    assert only["operatorType"] == "StringIn"
    assert only["key"] == "data.operationName"


def test_filter_values_are_exactly_the_handled_operations(
    event_subscription: tuple[BicepFile, dict[str, Any]],
) -> None:
    bicep, _ = event_subscription
    (only,) = _advanced_filters(event_subscription)
    values = bicep.resolve(only["values"])
    assert isinstance(values, list) and all(isinstance(v, str) for v in values), values
    assert len(values) == len(set(values)), "duplicate filter values"
    assert sorted(values) == sorted(HANDLED_OPERATIONS)
    total = sum(len(bicep.resolve(f.get("values", []))) for f in _advanced_filters(event_subscription))
    assert total <= MAX_FILTER_VALUES


def test_included_event_types(event_subscription: tuple[BicepFile, dict[str, Any]]) -> None:
    bicep, _ = event_subscription
    types = bicep.resolve(_filter(event_subscription)["includedEventTypes"])
    assert sorted(types) == sorted(HANDLED_EVENT_TYPES)
    assert len(types) == len(set(types))


def _conditional(value: dict[str, Any]) -> dict[str, Any]:
    operator = value["operator"]
    assert operator["type"] == "conditional"
    return dict(operator["operands"])


def test_queue_delivery_by_default_with_the_topic_identity(
        event_subscription: tuple[BicepFile, dict[str, Any]]) -> None:
    bicep, properties = event_subscription[0], event_subscription[1]["properties"]
    assert bicep.parameters["eventDelivery"]["default"] == "queue"
    assert bicep.resolve("deliverToQueue") == {
        "operator": {"type": "equals", "operands": {"operand_1": "eventDelivery", "operand_2": "queue"}}}
    queue = _conditional(properties["deliveryWithResourceIdentity"])
    assert queue["condition"] == "deliverToQueue" and queue["false_value"] is None
    delivery = queue["true_value"]
    assert delivery["identity"]["type"] == "SystemAssigned"  # no key or SAS
    assert delivery["destination"]["endpointType"] == "StorageQueue"
    assert delivery["destination"]["properties"]["queueName"] == "eventQueueName"
    assert delivery["destination"]["properties"]["resourceId"] == "eventsStorageAccountId"
    # Each message is one event object in this schema (intake.events_in_queue_message).
    assert properties["eventDeliverySchema"] == "EventGridSchema"


def test_webhook_delivery_is_the_opt_in(event_subscription: tuple[BicepFile, dict[str, Any]]) -> None:
    webhook = _conditional(event_subscription[1]["properties"]["destination"])
    assert webhook["condition"] == "deliverToQueue" and webhook["true_value"] is None
    destination = webhook["false_value"]
    assert destination["endpointType"] == "AzureFunction"
    assert str(destination["properties"]["resourceId"]).endswith("/functions/on_resource_event")


def test_retry_and_dead_letter_kept(event_subscription: tuple[BicepFile, dict[str, Any]]) -> None:
    properties = event_subscription[1]["properties"]
    assert set(properties["retryPolicy"]) == {"maxDeliveryAttempts", "eventTimeToLiveInMinutes"}
    dead_letter = properties["deadLetterWithResourceIdentity"]
    assert dead_letter["identity"]["type"] == "SystemAssigned"
    assert dead_letter["deadLetterDestination"]["endpointType"] == "StorageBlob"
    assert dead_letter["deadLetterDestination"]["properties"]["resourceId"] == "eventsStorageAccountId"
    assert "deadLetterDestination" not in properties, "dead-lettering must use the topic identity, not a key"


def test_main_wires_queue_delivery_at_once_and_the_webhook_after_publish(bicep_files: list[BicepFile]) -> None:
    main = next(b for b in bicep_files if b.path == INFRA_DIR / "main.bicep")
    assert main.parameters["eventDelivery"]["default"] == "queue"
    declaration = main.document["modules"]["eventSubscriptions"]
    assert declaration["config"]["condition"] == {
        "operator": {"type": "or", "operands": {"operand_1": "deliverToQueue", "operand_2": "wireEventGrid"}}}
    params = body(declaration)["params"]
    assert params["eventDelivery"] == "eventDelivery"


def test_topic_identity_may_only_send_to_the_queue_and_write_dead_letters(bicep_files: list[BicepFile]) -> None:
    rbac = next(b for b in bicep_files if b.path.name == "eventgrid-delivery-rbac.bicep")
    scopes = sorted(str(a["scope"]) for _, a in resources_of_type([rbac], "Microsoft.Authorization/roleAssignments"))
    assert scopes == ["container", "queue"]
    assert {"storageQueueDataMessageSenderRoleId", "storageBlobDataContributorRoleId"} == {
        v for v in rbac.variables if v.endswith("RoleId")}


def test_system_topic_watches_the_subscription(bicep_files: list[BicepFile]) -> None:
    topics = list(resources_of_type(bicep_files, "Microsoft.EventGrid/systemTopics"))
    assert len(topics) == 1
    _, body = topics[0]
    assert body["location"] == "global"
    assert body["properties"]["topicType"] == "Microsoft.Resources.Subscriptions"
    assert body["identity"]["type"] == "SystemAssigned"


def test_storage_names_match_the_code(bicep_files: list[BicepFile]) -> None:
    events = next(b for b in bicep_files if b.path.name == "events-storage.bicep")
    assert [events.resolve(n) for n in events.resolve("queueNames")] == [EVENT_QUEUE_NAME, EVENT_POISON_QUEUE_NAME]
    assert [events.resolve(n) for n in events.resolve("containerNames")] == ["eventgrid-deadletter"]
    storage = next(b for b in bicep_files if b.path.name == "storage.bicep")
    containers = [storage.resolve(n) for n in storage.resolve("containerNames")]
    assert app_storage.LOCK_CONTAINER in containers
    queues = [storage.resolve(n) for n in storage.resolve("queueNames")]
    assert sorted(queues) == sorted([app_storage.QUEUE_NAME, app_storage.POISON_QUEUE_NAME])
    tables = [storage.resolve(n) for n in storage.resolve("tableNames")]
    expected_tables = [app_storage.AUDIT_TABLE, app_storage.STATUS_TABLE, app_storage.DEDUPE_TABLE]
    assert sorted(tables) == sorted(expected_tables)


def test_a_reused_topic_without_identity_stops_with_a_reason() -> None:
    """The reused topic's principal id is read null-safely and ends in fail() with the remedy, instead of a
    null dereference deep in the deployment."""
    text = (INFRA_DIR / "app" / "eventgrid-topic.bicep").read_text(encoding="utf-8")
    output = next(line for line in text.splitlines() if line.startswith("output principalId"))
    assert "existingTopic.identity.?principalId ?? fail('WATCHED_SUBSCRIPTIONS: the reused system topic" in output
