"""The Event Grid subscription delivers exactly what the intake handles (remediation/operations.py)."""

from __future__ import annotations

from typing import Any

import pytest

from remediation import storage as app_storage
from remediation.operations import HANDLED_EVENT_TYPES, HANDLED_OPERATIONS
from tests.infra.bicep_model import BicepFile, resources_of_type

# arm-protocol.md section 4.2: 25 advanced filters and 25 filter values in total per event subscription,
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


def test_delivery_retry_and_dead_letter(event_subscription: tuple[BicepFile, dict[str, Any]]) -> None:
    properties = event_subscription[1]["properties"]
    destination = properties["destination"]
    assert destination["endpointType"] == "AzureFunction"
    assert str(destination["properties"]["resourceId"]).endswith("/functions/on_resource_event")
    assert properties["eventDeliverySchema"] == "EventGridSchema"
    assert set(properties["retryPolicy"]) == {"maxDeliveryAttempts", "eventTimeToLiveInMinutes"}
    dead_letter = properties["deadLetterWithResourceIdentity"]
    assert dead_letter["identity"]["type"] == "SystemAssigned"
    assert dead_letter["deadLetterDestination"]["endpointType"] == "StorageBlob"
    assert "deadLetterDestination" not in properties, "dead-lettering must use the topic identity, not a key"


def test_system_topic_watches_the_subscription(bicep_files: list[BicepFile]) -> None:
    topics = list(resources_of_type(bicep_files, "Microsoft.EventGrid/systemTopics"))
    assert len(topics) == 1
    _, body = topics[0]
    assert body["location"] == "global"
    assert body["properties"]["topicType"] == "Microsoft.Resources.Subscriptions"
    assert body["identity"]["type"] == "SystemAssigned"


def test_storage_names_match_the_code(bicep_files: list[BicepFile]) -> None:
    storage = next(b for b in bicep_files if b.path.name == "storage.bicep")
    containers = [storage.resolve(n) for n in storage.resolve("containerNames")]
    assert {"eventgrid-deadletter", app_storage.LOCK_CONTAINER} <= set(containers)
    queues = [storage.resolve(n) for n in storage.resolve("queueNames")]
    assert sorted(queues) == sorted([app_storage.QUEUE_NAME, app_storage.POISON_QUEUE_NAME])
    tables = [storage.resolve(n) for n in storage.resolve("tableNames")]
    expected_tables = [app_storage.AUDIT_TABLE, app_storage.STATUS_TABLE, app_storage.DEDUPE_TABLE]
    assert sorted(tables) == sorted(expected_tables)
