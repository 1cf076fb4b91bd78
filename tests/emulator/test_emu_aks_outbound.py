"""AKS's create-time check of a userDefinedRouting cluster's subnet (emulator/aks_outbound.py), through the
real azure-mgmt-containerservice and azure-mgmt-network clients: each refusal with the code AKS answers, and
the create accepted (as the long-running operation) once the subnet routes 0.0.0.0/0 to an appliance."""

from __future__ import annotations

import copy
import io
import json
from typing import Any

import pytest
from azure.core.exceptions import HttpResponseError
from azure.mgmt.containerservice import ContainerServiceClient
from azure.mgmt.containerservice.models import ManagedCluster
from azure.mgmt.network import NetworkManagementClient
from emu_helpers import SUB, aks_client, network_client

from emulator import Emulator

AKS = f"/subscriptions/{SUB}/resourceGroups/rg-spoke/providers/Microsoft.ContainerService/managedClusters"
NODES = f"/subscriptions/{SUB}/resourceGroups/rg-spoke/providers/Microsoft.Network/virtualNetworks/vnet-spoke/" \
        "subnets/snet-aks-nodes"


def _cluster(emu: Emulator, name: str, *, outbound: str = "userDefinedRouting") -> ManagedCluster:
    body: dict[str, Any] = copy.deepcopy(emu.get(f"{AKS}/aks-overlay") or {})
    for key in ("id", "eTag"):
        body.pop(key, None)
    props = body["properties"]
    for key in ("provisioningState", "powerState", "fqdn", "privateFQDN", "azurePortalFQDN"):
        props.pop(key, None)
    props["networkProfile"]["outboundType"] = outbound
    props["dnsPrefix"] = name
    for pool in props["agentPoolProfiles"]:
        for key in ("eTag", "provisioningState", "powerState"):
            pool.pop(key, None)
        pool["vnetSubnetID"] = NODES  # rt-spoke-nodes: one foreign route to-onprem, no 0.0.0.0/0
    return ManagedCluster(body)


def _refused(aks: ContainerServiceClient, emu: Emulator, name: str) -> str:
    with pytest.raises(HttpResponseError) as refused:
        aks.managed_clusters.begin_create_or_update("rg-spoke", name, _cluster(emu, name)).result()
    assert refused.value.status_code == 400 and emu.get(f"{AKS}/{name}") is None
    assert refused.value.error is not None
    return str(refused.value.error.code)


def _default_route(net: NetworkManagementClient, hop: str, ip: str | None) -> None:
    # The ARM JSON body, sent as it is (the SDK's IO[bytes] overload).
    props = {"addressPrefix": "0.0.0.0/0", "nextHopType": hop, **({"nextHopIpAddress": ip} if ip else {})}
    body = io.BytesIO(json.dumps({"properties": props}).encode())
    net.routes.begin_create_or_update("rg-spoke", "rt-spoke-nodes", "default", body,
                                      content_type="application/json").result()


def test_a_udr_create_is_refused_until_the_subnet_routes_the_default_to_an_appliance(emu: Emulator) -> None:
    aks, net = aks_client(emu), network_client(emu)
    assert _refused(aks, emu, "aks-new") == "RouteTableMissingDefaultRouteError"
    _default_route(net, "Internet", None)
    assert _refused(aks, emu, "aks-new") == "RouteTableInvalidNextHop"
    _default_route(net, "VirtualAppliance", "10.0.1.4")
    poller = aks.managed_clusters.begin_create_or_update("rg-spoke", "aks-new", _cluster(emu, "aks-new"))
    assert poller.result().provisioning_state == "Succeeded"


def test_a_subnet_without_a_route_table_is_refused_with_the_association_error(emu: Emulator) -> None:
    net = network_client(emu)
    vnet = net.virtual_networks.get("rg-spoke", "vnet-spoke")
    subnet = next(s for s in vnet.subnets if s.name == "snet-aks-nodes")
    subnet.route_table = None
    net.subnets.begin_create_or_update("rg-spoke", "vnet-spoke", "snet-aks-nodes", subnet).result()
    assert _refused(aks_client(emu), emu, "aks-new") == "ExistingRouteTableNotAssociatedWithSubnet"


def test_other_outbound_types_and_an_existing_udr_cluster_are_not_checked(emu: Emulator) -> None:
    aks = aks_client(emu)
    poller = aks.managed_clusters.begin_create_or_update(
        "rg-spoke", "aks-lb", _cluster(emu, "aks-lb", outbound="loadBalancer"))
    assert poller.result().provisioning_state == "Succeeded"
    # A loadBalancer cluster switching to userDefinedRouting is checked like a create.
    switch = _cluster(emu, "aks-lb")
    with pytest.raises(HttpResponseError) as refused:
        aks.managed_clusters.begin_create_or_update("rg-spoke", "aks-lb", switch).result()
    assert refused.value.error is not None and refused.value.error.code == "RouteTableMissingDefaultRouteError"
