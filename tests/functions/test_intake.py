"""Event intake: schemas, mapping to targets, ignore rules, malformed events, dedupe, enqueue failures."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest

from remediation.core.config import load_settings
from remediation.core.errors import TransientError
from remediation.core.model import Target, TargetKind
from remediation.core.operations import HANDLED_OPERATIONS
from remediation.engine.reconciler import Reconciler
from remediation.planning import intake
from remediation.planning.intake import Ignored, MalformedMessageError, RemediationRequest, Trigger
from tests.functions.helpers import (
    AKS,
    FIREWALL_ID,
    OTHER_SUB,
    PRINCIPAL_ID,
    SPOKE,
    SUB,
    Azurite,
    base_settings,
    event_from_json,
    queued_count,
    receive_all,
    resource_event,
    user_function,
)

SETTINGS = load_settings(base_settings())
RESOLVE = Reconciler(SETTINGS).resolve
POLICY = FIREWALL_ID.replace("azureFirewalls/fw-hub", "firewallPolicies/fwpol-hub")

# One sample resource id per handled operation, and the target kind it must map to.
CASES: dict[str, tuple[str, TargetKind]] = {
    "Microsoft.ContainerService/managedClusters/write": (f"{AKS}/aks-cni", TargetKind.CLUSTER),
    "Microsoft.ContainerService/managedClusters/delete": (f"{AKS}/aks-cni", TargetKind.CLUSTER),
    "Microsoft.ContainerService/managedClusters/agentPools/write": (f"{AKS}/aks-cni/agentPools/np1",
                                                                    TargetKind.CLUSTER),
    "Microsoft.Network/applicationGateways/write": (f"{SPOKE}/applicationGateways/agw-spoke", TargetKind.GATEWAY),
    "Microsoft.Network/applicationGateways/delete": (f"{SPOKE}/applicationGateways/agw-spoke",
                                                     TargetKind.GATEWAY),
    "Microsoft.Network/virtualNetworks/write": (f"{SPOKE}/virtualNetworks/vnet-spoke", TargetKind.NETWORK),
    "Microsoft.Network/virtualNetworks/subnets/write": (f"{SPOKE}/virtualNetworks/vnet-spoke/subnets/aks",
                                                        TargetKind.NETWORK),
    "Microsoft.Network/routeTables/write": (f"{SPOKE}/routeTables/rt-spoke-nodes", TargetKind.NETWORK),
    "Microsoft.Network/routeTables/delete": (f"{SPOKE}/routeTables/rt-spoke-nodes", TargetKind.NETWORK),
    "Microsoft.Network/routeTables/routes/write": (f"{SPOKE}/routeTables/rt-spoke-nodes/routes/rmd-x",
                                                   TargetKind.NETWORK),
    "Microsoft.Network/routeTables/routes/delete": (f"{SPOKE}/routeTables/rt-spoke-nodes/routes/rmd-x",
                                                    TargetKind.NETWORK),
    "Microsoft.Network/firewallPolicies/ruleCollectionGroups/write": (
        f"{POLICY}/ruleCollectionGroups/rmd-aks-runbook", TargetKind.FIREWALL),
    "Microsoft.Network/firewallPolicies/ruleCollectionGroups/delete": (
        f"{POLICY}/ruleCollectionGroups/rmd-aks-runbook", TargetKind.FIREWALL),
    "Microsoft.Network/azureFirewalls/write": (FIREWALL_ID, TargetKind.FIREWALL),
    "Microsoft.Network/virtualNetworkGateways/write": (
        FIREWALL_ID.replace("azureFirewalls/fw-hub", "virtualNetworkGateways/vpngw-hub"), TargetKind.SCOPE),
}


def decide(body: dict[str, object]) -> Target | Ignored:
    return intake.decide(intake.parse_event(body), SETTINGS, RESOLVE)


def test_every_handled_operation_has_a_case() -> None:
    assert set(CASES) == set(HANDLED_OPERATIONS)


@pytest.mark.parametrize("operation", sorted(CASES))
@pytest.mark.parametrize("cloud", [False, True], ids=["eventgrid", "cloudevents"])
def test_handled_operation_maps_to_target_kind(operation: str, cloud: bool) -> None:
    resource_id, kind = CASES[operation]
    event_type = ("Microsoft.Resources.ResourceDeleteSuccess" if operation.endswith("/delete")
                  else "Microsoft.Resources.ResourceWriteSuccess")
    # Event Grid compares case-insensitively and real payloads vary casing (docs/arm-notes.md 4.1).
    decision = decide(resource_event(resource_id.upper().replace("/SUBSCRIPTIONS/", "/subscriptions/"),
                                     operation.lower(), event_type=event_type, cloud=cloud))
    assert isinstance(decision, Target)
    assert decision.kind is kind


def test_agent_pool_maps_to_its_cluster_and_firewall_ids_to_the_configured_firewall() -> None:
    pool = decide(resource_event(f"{AKS}/aks-cni/agentPools/np1",
                                 "Microsoft.ContainerService/managedClusters/agentPools/write"))
    assert pool == Target(TargetKind.CLUSTER, RESOLVE(f"{AKS}/aks-cni").id)
    group = decide(resource_event(f"{POLICY}/ruleCollectionGroups/x",
                                  "Microsoft.Network/firewallPolicies/ruleCollectionGroups/write"))
    assert group == Target(TargetKind.FIREWALL, SETTINGS.firewall_id)


def test_with_firewall_ids_each_firewall_and_policy_event_names_its_own_firewall_target() -> None:
    other = FIREWALL_ID.replace("azureFirewalls/fw-hub", "azureFirewalls/fw-eastus")
    several = load_settings({**base_settings(), "FIREWALL_IDS": f"{FIREWALL_ID},{other}"})
    resolve = Reconciler(several).resolve

    def several_decide(body: dict[str, object]) -> Target | Ignored:
        return intake.decide(intake.parse_event(body), several, resolve)

    assert several_decide(resource_event(other, "Microsoft.Network/azureFirewalls/write")) == Target(
        TargetKind.FIREWALL, other)
    assert several_decide(resource_event(FIREWALL_ID, "Microsoft.Network/azureFirewalls/write")) == Target(
        TargetKind.FIREWALL, FIREWALL_ID)
    group = several_decide(resource_event(f"{POLICY}/ruleCollectionGroups/x",
                                          "Microsoft.Network/firewallPolicies/ruleCollectionGroups/write"))
    assert group == Target(TargetKind.FIREWALL, POLICY)  # its run finds the firewall that uses the policy
    unknown = FIREWALL_ID.replace("azureFirewalls/fw-hub", "azureFirewalls/fw-other")
    assert isinstance(several_decide(resource_event(unknown, "Microsoft.Network/azureFirewalls/write")), Ignored)


@pytest.mark.parametrize(("body", "reason"), [
    (resource_event(f"{AKS}/aks-cni", "Microsoft.ContainerService/managedClusters/write",
                    event_type="Microsoft.Resources.ResourceWriteFailure"), "event type"),
    (resource_event(f"{AKS}/aks-cni", "Microsoft.ContainerService/managedClusters/listClusterUserCredential/action",
                    event_type="Microsoft.Resources.ResourceActionSuccess"), "event type"),
    (resource_event(f"/subscriptions/{SUB}/resourceGroups/rg/providers/Microsoft.Compute/virtualMachines/vm",
                    "Microsoft.Compute/virtualMachines/write"), "operation"),
    (resource_event(f"/subscriptions/{OTHER_SUB}/resourceGroups/rg/providers/Microsoft.ContainerService/"
                    "managedClusters/c", "Microsoft.ContainerService/managedClusters/write"), "REMEDIATION_SCOPE"),
    (resource_event(f"{SPOKE}/routeTables/rt-spoke-nodes/routes/rmd-x", "Microsoft.Network/routeTables/routes/write",
                    caller_oid=PRINCIPAL_ID.upper()), "own identity"),
    (resource_event(f"{SPOKE}/routeTables/rt", "Microsoft.Network/routeTables/write",
                    evidence_principal=PRINCIPAL_ID), "own identity"),
    (resource_event(f"/subscriptions/{SUB}/resourceGroups/rg-spoke/providers/Microsoft.Resources/deployments/d1",
                    "Microsoft.ContainerService/managedClusters/write"), "deployment"),
    (resource_event(f"/subscriptions/{SUB}/providers/Microsoft.Resources/deployments/sub-level",
                    "Microsoft.ContainerService/managedClusters/write"), "deployment"),
], ids=["failure-type", "action-type", "other-operation", "out-of-scope", "own-oid-claim", "own-evidence",
        "rg-deployment", "subscription-deployment"])
def test_ignored_events_say_why(body: dict[str, object], reason: str) -> None:
    decision = decide(body)
    assert isinstance(decision, Ignored)
    assert reason in decision.reason


@pytest.mark.parametrize("body", [
    {"id": "e1", "eventType": "Microsoft.Resources.ResourceWriteSuccess", "subject": f"{AKS}/a"},  # no data
    {"id": "e2", "eventType": "Microsoft.Resources.ResourceWriteSuccess", "data": {"operationName": "x"}},
    {"eventType": "Microsoft.Resources.ResourceWriteSuccess", "subject": f"{AKS}/a", "data": {}},  # no id
    resource_event("not-an-arm-id", "Microsoft.ContainerService/managedClusters/write"),
    resource_event(f"/subscriptions/{SUB}/resourceGroups", "Microsoft.ContainerService/managedClusters/write"),
], ids=["no-data", "no-subject", "no-id", "unparsable-subject", "truncated-id"])
def test_malformed_events_raise_malformed(body: dict[str, object]) -> None:
    with pytest.raises(intake.MalformedEventError):
        decide(body)


def test_message_round_trip_and_schema() -> None:
    request = RemediationRequest(Target(TargetKind.CLUSTER, f"{AKS}/aks-cni"), Trigger.EVENT, "r1",
                                 dry_run=True, event_id="ev", correlation_id="c")
    assert json.loads(request.to_json()) == {
        "target": {"kind": "cluster", "id": f"{AKS}/aks-cni"}, "trigger": "event", "eventId": "ev",
        "correlationId": "c", "dryRun": True, "requestId": "r1"}
    assert RemediationRequest.from_json(request.to_json().encode()) == request


@pytest.mark.parametrize("body", [b"not json", b"[]", b'{"trigger":"event","requestId":"r"}',
                                  b'{"target":{"kind":"planet","id":"x"},"trigger":"event","requestId":"r"}',
                                  b'{"target":{"kind":"cluster","id":"x"},"trigger":"event","requestId":"r",'
                                  b'"dryRun":"yes"}'])
def test_malformed_messages(body: bytes) -> None:
    with pytest.raises(MalformedMessageError):
        RemediationRequest.from_json(body)


@pytest.mark.parametrize("body", [b"[" * 200_000, b'{"a":' * 200_000, b"[" * 200_000 + b"]" * 200_000,
                                  b"\xff\xfe{"],
                         ids=["deep-array", "deep-object", "deep-but-closed", "not-utf8"])
def test_a_body_the_parser_cannot_take_is_malformed_not_a_crash(body: bytes) -> None:
    """Deep nesting raises RecursionError inside json: it must come out as MalformedMessageError (#24 item 10),
    which the worker acknowledges and drops with a log line instead of a redelivery loop."""
    with pytest.raises(MalformedMessageError):
        RemediationRequest.from_json(body)
    with pytest.raises(intake.MalformedEventError):
        intake.events_in_queue_message(body)


def test_unique_targets_compares_ids_case_insensitively() -> None:
    a = Target(TargetKind.CLUSTER, f"{AKS}/aks-cni")
    b = Target(TargetKind.CLUSTER, f"{AKS}/AKS-CNI".upper().replace("/SUBSCRIPTIONS/", "/subscriptions/"))
    assert intake.unique_targets([a, b, Target(TargetKind.FIREWALL, FIREWALL_ID)]) == [
        a, Target(TargetKind.FIREWALL, FIREWALL_ID)]


# ------------------------------------------------------------------------------------ through the trigger


def test_trigger_enqueues_a_cluster_event_with_the_message_schema(app_env: Callable[..., None],
                                                                  storage: Azurite) -> None:
    on_event = user_function("on_resource_event")
    on_event(event_from_json(resource_event(f"{AKS}/aks-cni", "Microsoft.ContainerService/managedClusters/write",
                                            event_id="ev-42", correlation_id="corr-42")))
    assert queued_count(storage) == 1
    # Sent with the dedupe delay: invisible now, visible after the window.
    assert receive_all(storage) == []


def test_trigger_accepts_cloudevents(app_env: Callable[..., None], storage: Azurite) -> None:
    event = event_from_json(resource_event(f"{SPOKE}/applicationGateways/agw-spoke",
                                           "Microsoft.Network/applicationGateways/write", cloud=True))
    assert type(event).__name__ == "CloudEvent"
    user_function("on_resource_event")(event)
    assert queued_count(storage) == 1


def test_burst_of_events_for_one_target_enqueues_once(app_env: Callable[..., None], storage: Azurite) -> None:
    on_event = user_function("on_resource_event")
    # A cluster create: the cluster write, its agent pools, a redelivered duplicate (docs/arm-notes.md 4.3/4.4).
    burst = [
        resource_event(f"{AKS}/aks-cni", "Microsoft.ContainerService/managedClusters/write", event_id="a"),
        resource_event(f"{AKS}/aks-cni/agentPools/np1", "Microsoft.ContainerService/managedClusters/agentPools/write",
                       event_id="b"),
        resource_event(f"{AKS}/AKS-CNI", "Microsoft.ContainerService/managedClusters/write", event_id="a"),
        resource_event(f"{AKS}/aks-overlay", "Microsoft.ContainerService/managedClusters/write", event_id="c"),
    ]
    for body in burst:
        on_event(event_from_json(body))
    assert queued_count(storage) == 2  # aks-cni once, aks-overlay once


@pytest.mark.parametrize("body", [
    {"id": "m1", "eventType": "Microsoft.Resources.ResourceWriteSuccess", "subject": f"{AKS}/a",
     "dataVersion": "2"},
    resource_event("garbage", "Microsoft.ContainerService/managedClusters/write"),
    resource_event(f"{AKS}/aks-cni", "Microsoft.ContainerService/managedClusters/write", caller_oid=PRINCIPAL_ID),
    resource_event(f"/subscriptions/{OTHER_SUB}/resourceGroups/rg/providers/Microsoft.Network/routeTables/rt",
                   "Microsoft.Network/routeTables/write"),
], ids=["no-data", "bad-subject", "own-identity", "out-of-scope"])
def test_dropped_and_ignored_events_return_normally_without_enqueueing(
        app_env: Callable[..., None], storage: Azurite, body: dict[str, object]) -> None:
    user_function("on_resource_event")(event_from_json(body))
    assert queued_count(storage) == 0


def test_transient_enqueue_failure_raises_so_event_grid_redelivers(
        app_env: Callable[..., None], storage: Azurite) -> None:
    from tests.functions.conftest import _free_ports

    (dead_port,) = _free_ports(1)
    app_env(AzureWebJobsStorage=storage.connection_string(queue_port=dead_port))
    with pytest.raises(TransientError):
        user_function("on_resource_event")(event_from_json(
            resource_event(f"{AKS}/aks-cni", "Microsoft.ContainerService/managedClusters/write")))
    # The marker is written only after a successful send: the redelivery is not deduped away.
    app_env()
    user_function("on_resource_event")(event_from_json(
        resource_event(f"{AKS}/aks-cni", "Microsoft.ContainerService/managedClusters/write")))
    assert queued_count(storage) == 1
