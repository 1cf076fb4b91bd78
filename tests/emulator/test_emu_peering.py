"""VNet peerings and Virtual WAN resources through the real SDK: peeringState as the Network RP keeps it
(emulator/peering.py), the child resource and the VNet body agreeing, hub connections listed per hub."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import requests
from azure.mgmt.network import NetworkManagementClient
from azure.mgmt.network.models import VirtualNetworkPeering
from emu_helpers import SUB, network_client, private_network, rid

from emulator import Emulator

HUB = rid("rg-hub", "virtualNetworks", "vnet-hub")
SPOKE = rid("rg-spoke", "virtualNetworks", "vnet-spoke")
VHUB = rid("rg-hub", "virtualHubs", "vhub-1")


def _unpeered() -> dict[str, Any]:
    seed = private_network()
    for item in seed["resources"]:
        if item["type"] == "Microsoft.Network/virtualNetworks":
            item["properties"]["virtualNetworkPeerings"] = []
    return seed


def _peer(net: NetworkManagementClient, rg: str, vnet: str, name: str, remote: str) -> None:
    body = VirtualNetworkPeering({"properties": {"remoteVirtualNetwork": {"id": remote},
                                                 "allowVirtualNetworkAccess": True, "allowForwardedTraffic": True}})
    net.virtual_network_peerings.begin_create_or_update(rg, vnet, name, body).result()


def _state(net: NetworkManagementClient, rg: str, vnet: str, name: str) -> str:
    child = net.virtual_network_peerings.get(rg, vnet, name).peering_state
    inline = {p.name: p.peering_state for p in net.virtual_networks.get(rg, vnet).virtual_network_peerings or []}
    assert inline[name] == child  # the child resource and the VNet body agree
    return str(getattr(child, "value", child))


def test_the_example_seed_loads_with_both_sides_connected(net: NetworkManagementClient) -> None:
    assert _state(net, "rg-spoke", "vnet-spoke", "spoke-to-hub") == "Connected"
    assert _state(net, "rg-hub", "vnet-hub", "hub-to-spoke") == "Connected"
    peering = net.virtual_network_peerings.get("rg-spoke", "vnet-spoke", "spoke-to-hub")
    assert peering.peering_sync_level == "FullyInSync"
    assert peering.remote_address_space.address_prefixes == ["10.0.0.0/16"]


def test_one_side_initiated_both_connected_a_side_deleted_disconnected(make_emu: Callable[..., Emulator]) -> None:
    net = network_client(make_emu(_unpeered()))
    _peer(net, "rg-spoke", "vnet-spoke", "spoke-to-hub", HUB)
    assert _state(net, "rg-spoke", "vnet-spoke", "spoke-to-hub") == "Initiated"
    _peer(net, "rg-hub", "vnet-hub", "hub-to-spoke", SPOKE)
    assert _state(net, "rg-spoke", "vnet-spoke", "spoke-to-hub") == "Connected"
    assert _state(net, "rg-hub", "vnet-hub", "hub-to-spoke") == "Connected"
    net.virtual_network_peerings.begin_delete("rg-hub", "vnet-hub", "hub-to-spoke").result()
    assert _state(net, "rg-spoke", "vnet-spoke", "spoke-to-hub") == "Disconnected"
    # Re-creating the other side does not heal a Disconnected side: it has to be deleted and created again.
    _peer(net, "rg-hub", "vnet-hub", "hub-to-spoke", SPOKE)
    assert _state(net, "rg-spoke", "vnet-spoke", "spoke-to-hub") == "Disconnected"
    assert _state(net, "rg-hub", "vnet-hub", "hub-to-spoke") == "Initiated"
    net.virtual_network_peerings.begin_delete("rg-spoke", "vnet-spoke", "spoke-to-hub").result()
    _peer(net, "rg-spoke", "vnet-spoke", "spoke-to-hub", HUB)
    assert _state(net, "rg-spoke", "vnet-spoke", "spoke-to-hub") == "Connected"


def test_a_peering_state_in_a_put_body_is_ignored(make_emu: Callable[..., Emulator]) -> None:
    net = network_client(make_emu(_unpeered()))
    body = VirtualNetworkPeering({"properties": {"remoteVirtualNetwork": {"id": HUB}, "peeringState": "Connected"}})
    net.virtual_network_peerings.begin_create_or_update("rg-spoke", "vnet-spoke", "p", body).result()
    assert _state(net, "rg-spoke", "vnet-spoke", "p") == "Initiated"


def test_virtual_hub_connections_are_listed_per_hub(make_emu: Callable[..., Emulator]) -> None:
    seed = private_network()
    seed["resources"] += [
        {"id": rid("rg-hub", "virtualWans", "vwan"), "name": "vwan", "type": "Microsoft.Network/virtualWans",
         "location": "westeurope", "properties": {"provisioningState": "Succeeded", "type": "Standard"}},
        {"id": VHUB, "name": "vhub-1", "type": "Microsoft.Network/virtualHubs", "location": "westeurope",
         "properties": {"provisioningState": "Succeeded", "addressPrefix": "10.100.0.0/23",
                        "virtualWan": {"id": rid("rg-hub", "virtualWans", "vwan")}}},
        {"id": f"{VHUB}/hubVirtualNetworkConnections/spoke", "name": "spoke",
         "type": "Microsoft.Network/virtualHubs/hubVirtualNetworkConnections",
         "properties": {"provisioningState": "Succeeded", "remoteVirtualNetwork": {"id": SPOKE},
                        "enableInternetSecurity": True}},
        {"id": f"{VHUB}/routingIntent/intent", "name": "intent", "type": "Microsoft.Network/virtualHubs/routingIntent",
         "properties": {"provisioningState": "Succeeded", "routingPolicies": [
             {"name": "Internet", "destinations": ["Internet"],
              "nextHop": rid("rg-hub", "azureFirewalls", "fw-vhub")}]}},
    ]
    net = network_client(make_emu(seed))
    connections = list(net.hub_virtual_network_connections.list("rg-hub", "vhub-1"))
    assert [(c.name, c.remote_virtual_network.id, c.provisioning_state) for c in connections] == [
        ("spoke", SPOKE, "Succeeded")]
    assert net.virtual_hubs.get("rg-hub", "vhub-1").address_prefix == "10.100.0.0/23"
    intents = list(net.routing_intent.list("rg-hub", "vhub-1"))
    assert intents[0].routing_policies[0].destinations == ["Internet"]
    assert SUB in VHUB


def test_resource_graph_rows_carry_peerings_and_vwan_resources(make_emu: Callable[..., Emulator]) -> None:
    """The fleet's VNet rows hold every peering with its state (no GET per VNet), and virtual hubs and AZFW_Hub
    firewalls come as rows of their own types."""
    seed = private_network()
    seed["resources"].append({"id": VHUB, "name": "vhub-1", "type": "Microsoft.Network/virtualHubs",
                              "location": "westeurope", "properties": {"provisioningState": "Succeeded",
                                                                       "addressPrefix": "10.100.0.0/23"}})
    emu = make_emu(seed)
    query = ("Resources | where type =~ '{t}' | project id, name, type, location, tags, properties "
             "| union (ResourceContainers | where type =~ 'microsoft.resources/subscriptions' "
             "| project id, name, type, location, tags, properties) | order by id asc")

    def rows(kind: str) -> list[dict[str, Any]]:
        answer = requests.post(f"{emu.base_url}/providers/Microsoft.ResourceGraph/resources?api-version=2021-03-01",
                               json={"subscriptions": [SUB], "query": query.format(t=kind),
                                     "options": {"resultFormat": "objectArray"}},
                               headers={"Authorization": "Bearer t"}, verify=emu.ca_bundle, timeout=30)
        assert answer.status_code == 200
        return [r for r in answer.json()["data"] if r["type"] == kind]

    spoke = next(r for r in rows("microsoft.network/virtualnetworks") if r["id"] == SPOKE)
    assert [(p["name"], p["properties"]["peeringState"]) for p in spoke["properties"]["virtualNetworkPeerings"]] == [
        ("spoke-to-hub", "Connected")]
    assert [r["id"] for r in rows("microsoft.network/virtualhubs")] == [VHUB]
