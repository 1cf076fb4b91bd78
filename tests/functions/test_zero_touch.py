"""Zero-touch userDefinedRouting clusters (issue #23), through the Function app's own entry points.

A team tags its VNet `aks-egress-prepare: <subnet>` in IaC before any cluster exists. The VNet's write event
(Event Grid -> `on_resource_event` -> the real Azurite queue -> `reconcile_worker`) prepares that subnet:
a route table with 0.0.0.0/0 -> the firewall, associated. AKS (the emulator, as AKS does: emulator/
aks_outbound.py) refuses the userDefinedRouting create before that and accepts it after, and the cluster's
own event then brings its egress rule. An untagged VNet's subnet is left alone, and a sweep keeps what was
prepared.
"""

from __future__ import annotations

import copy
import json
import time
from collections.abc import Callable
from typing import Any

import pytest
from azure.core.exceptions import HttpResponseError
from azure.data.tables import TableClient
from azure.functions.queue import QueueMessage as HostQueueMessage
from azure.mgmt.containerservice.models import ManagedCluster

from remediation.core.model import Action
from remediation.planning.intake import RemediationRequest
from remediation.storage import AUDIT_TABLE
from remediation.storage.audit import get_json
from remediation.triggers import runtime as runtime_module
from remediation.triggers.runtime import get_runtime
from tests.emulator.emu_helpers import aks_client
from tests.functions.helpers import (
    AKS,
    SPOKE,
    Azurite,
    as_queue_message,
    event_from_json,
    queued_count,
    receive_all,
    request_queue,
    resource_event,
    user_function,
)

VNET = f"{SPOKE}/virtualNetworks/vnet-spoke"
NEW_SUBNET = f"{VNET}/subnets/snet-aks-next"
PLAIN_VNET = f"{SPOKE}/virtualNetworks/vnet-plain"
PLAIN_SUBNET = f"{PLAIN_VNET}/subnets/snet-plain"
CLUSTER = f"{AKS}/aks-zero"
FIREWALL_IP = "10.0.1.4"


def _drain(storage: Azurite) -> list[dict[str, Any]]:
    """Every queued request through reconcile_worker, as the host would run them; their audit plans."""
    worker = user_function("reconcile_worker")
    queue = request_queue(storage)
    audit = TableClient.from_connection_string(storage.connection_string(), AUDIT_TABLE)
    plans: list[dict[str, Any]] = []
    deadline = time.monotonic() + 20
    while queued_count(storage):
        assert time.monotonic() < deadline, "queued requests never became visible"
        for message in receive_all(storage, wait_s=2):
            worker(as_queue_message(message))
            queue.delete_message(message)
            request_id = RemediationRequest.from_json(message.content).request_id
            (row,) = [dict(e) for e in audit.list_entities() if e["requestId"] == request_id]
            plans.append(dict(get_json(row, "planJson") or {}))
    return plans


def _tag_vnet_and_add_subnet(arm: Any) -> None:
    """What the team's IaC does: a new subnet, and the VNet tag naming it; plus an untagged VNet."""
    vnet = copy.deepcopy(arm.get(VNET))
    vnet["tags"] = {**(vnet.get("tags") or {}), "aks-egress-prepare": "snet-aks-next"}
    vnet["properties"]["subnets"].append({"name": "snet-aks-next", "properties": {"addressPrefix": "10.1.16.0/24"}})
    arm.put_foreign(VNET, vnet)
    arm.put_foreign(PLAIN_VNET, {"location": "westeurope", "properties": {
        "addressSpace": {"addressPrefixes": ["10.9.0.0/16"]},
        "subnets": [{"name": "snet-plain", "properties": {"addressPrefix": "10.9.0.0/24"}}]}})


def _udr_cluster(arm: Any) -> ManagedCluster:
    """aks-overlay's body (userDefinedRouting, Azure CNI Overlay) as a new cluster in the new subnet."""
    body = copy.deepcopy(arm.get(f"{AKS}/aks-overlay"))
    for key in ("id", "eTag", "etag"):
        body.pop(key, None)
    props = body["properties"]
    for key in ("provisioningState", "powerState", "fqdn", "privateFQDN", "azurePortalFQDN", "resourceUID"):
        props.pop(key, None)
    props["dnsPrefix"] = "aks-zero"
    props["nodeResourceGroup"] = "MC_rg-spoke_aks-zero_westeurope"
    for pool in props["agentPoolProfiles"]:
        for key in ("eTag", "provisioningState", "powerState", "currentOrchestratorVersion", "nodeImageVersion"):
            pool.pop(key, None)
        pool["vnetSubnetID"] = NEW_SUBNET
    return ManagedCluster(body)


def _deliver(*events: dict[str, Any]) -> None:
    for body in events:
        user_function("on_resource_event")(event_from_json(body))


def _routes_of(arm: Any, subnet_id: str) -> dict[str, tuple[str, str | None]] | None:
    subnet = arm.get(subnet_id)
    table = subnet["properties"].get("routeTable")
    if table is None:
        return None
    body = arm.get(table["id"])
    return {r["name"]: (r["properties"]["addressPrefix"], r["properties"].get("nextHopIpAddress"))
            for r in body["properties"].get("routes", [])}


def test_a_tagged_subnet_is_prepared_by_its_vnet_event_and_the_udr_cluster_then_gets_its_rule(
        arm: Any, storage: Azurite, app_env: Callable[..., None], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(runtime_module, "DEDUPE_WINDOW_S", 0)
    app_env(ARM_ENDPOINT=arm.base_url, REMEDIATION_MODE="enforce")
    aks = aks_client(arm)
    _tag_vnet_and_add_subnet(arm)

    # AKS refuses the create before the subnet is prepared: the subnet has no route table yet.
    with pytest.raises(HttpResponseError) as refused:
        aks.managed_clusters.begin_create_or_update("rg-spoke", "aks-zero", _udr_cluster(arm)).result()
    assert refused.value.error is not None and refused.value.error.code == "ExistingRouteTableNotAssociatedWithSubnet"
    assert arm.get(CLUSTER) is None

    # The VNet write events (the tagged one and an untagged one) -> the queue -> the worker.
    _deliver(resource_event(VNET, "Microsoft.Network/virtualNetworks/write", event_id="ev-vnet"),
             resource_event(PLAIN_VNET, "Microsoft.Network/virtualNetworks/write", event_id="ev-plain"))
    plans = _drain(storage)
    assert plans and all(p["error"] is None for p in plans), plans
    routes = _routes_of(arm, NEW_SUBNET)
    assert routes is not None and routes["rmd-default"] == ("0.0.0.0/0", FIREWALL_IP)
    assert _routes_of(arm, PLAIN_SUBNET) is None, "an untagged VNet's subnet is left alone"

    # Now AKS accepts the create, as the recorded long-running operation.
    poller = aks.managed_clusters.begin_create_or_update("rg-spoke", "aks-zero", _udr_cluster(arm))
    assert poller.result().provisioning_state == "Succeeded"

    # The cluster's own event brings its egress rule (the cluster run, then its firewall follow-up).
    _deliver(resource_event(CLUSTER, "Microsoft.ContainerService/managedClusters/write", event_id="ev-cluster"))
    plans = _drain(storage)
    firewall_plans = [p for p in plans if p["target"].startswith("firewall:")]
    assert firewall_plans and firewall_plans[-1]["converged"] is True, plans
    group = arm.get(f"{SPOKE.replace('rg-spoke', 'rg-hub')}/firewallPolicies/fwpol-hub/ruleCollectionGroups/"
                    "rmd-aks-runbook")
    rules = {(c["name"], r["name"]): r for c in group["properties"]["ruleCollections"] for r in c["rules"]}
    rule = rules[("rmd-egress-fqdn", "aks-zero")]
    assert rule["sourceAddresses"] == ["10.1.16.0/24"] and rule["fqdnTags"] == ["AzureKubernetesService"]

    # A sweep keeps the subnet prepared: no delete planned anywhere, the default route in place.
    reconciler = get_runtime().reconciler
    sweep = reconciler.reconcile(reconciler.scope_target(), dry_run=True)
    assert sweep.error is None and not [c for c in sweep.plan.changes if c.action is Action.DELETE]
    assert (_routes_of(arm, NEW_SUBNET) or {})["rmd-default"] == ("0.0.0.0/0", FIREWALL_IP)


def test_a_subnet_created_after_the_tag_is_prepared_by_its_own_event_through_the_event_queue(
        arm: Any, storage: Azurite, app_env: Callable[..., None], monkeypatch: pytest.MonkeyPatch) -> None:
    """The tag first (the name matches no subnet yet: a note), then the subnet, whose write event arrives
    through the Event Grid -> Storage queue path (`on_resource_event_queued`)."""
    monkeypatch.setattr(runtime_module, "DEDUPE_WINDOW_S", 0)
    app_env(ARM_ENDPOINT=arm.base_url, REMEDIATION_MODE="enforce")
    vnet = copy.deepcopy(arm.get(VNET))
    vnet["tags"] = {"aks-egress-prepare": "snet-aks-next"}
    arm.put_foreign(VNET, vnet)
    _deliver(resource_event(VNET, "Microsoft.Network/virtualNetworks/write", event_id="ev-tag"))
    (first,) = [p for p in _drain(storage) if p["target"].startswith("network:")]
    assert any("snet-aks-next" in c["message"] and c["severity"] == "note" for c in first["conflicts"]), first

    arm.put_foreign(NEW_SUBNET, {"properties": {"addressPrefix": "10.1.16.0/24"}})
    event = resource_event(NEW_SUBNET, "Microsoft.Network/virtualNetworks/subnets/write", event_id="ev-subnet")
    user_function("on_resource_event_queued")(HostQueueMessage(id="m-1", body=json.dumps(event).encode(),
                                                               dequeue_count=1))
    _drain(storage)
    assert (_routes_of(arm, NEW_SUBNET) or {}).get("rmd-default") == ("0.0.0.0/0", FIREWALL_IP)
