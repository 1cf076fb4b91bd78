"""What the Network RP writes into a VNet when a hub resource names it (emulator/hub_refs.py), through the real
SDK: a firewall's AzureFirewallSubnet back-reference, and the spoke-side peering of a Virtual WAN hub connection
(docs/platform-notes.md 13.3)."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

from azure.mgmt.network import NetworkManagementClient
from emu_helpers import network_client, private_network, rid

from emulator import Emulator

HUB = rid("rg-hub", "virtualNetworks", "vnet-hub")
SPOKE = rid("rg-spoke", "virtualNetworks", "vnet-spoke")
FW = rid("rg-hub", "azureFirewalls", "fw-hub")
VWAN = rid("rg-hub", "virtualWans", "vwan")
VHUB = rid("rg-hub", "virtualHubs", "vhub-1")


def _firewall_refs(net: NetworkManagementClient) -> list[str]:
    subnet = net.subnets.get("rg-hub", "vnet-hub", "AzureFirewallSubnet")
    return [c.id for c in subnet.ip_configurations or []]


def _spoke_peerings(net: NetworkManagementClient) -> list[tuple[str, str, str]]:
    vnet = net.virtual_networks.get("rg-spoke", "vnet-spoke")
    return [(p.name, p.remote_virtual_network.id, str(getattr(p.peering_state, "value", p.peering_state)))
            for p in vnet.virtual_network_peerings or []]


def test_the_seed_loads_with_its_firewall_back_reference_unchanged(make_emu: Callable[..., Emulator]) -> None:
    emu = make_emu(private_network())
    seeded = next(r for r in private_network()["resources"] if r["id"] == HUB)
    subnet = next(s for s in seeded["properties"]["subnets"] if s["name"] == "AzureFirewallSubnet")
    assert _firewall_refs(network_client(emu)) == [c["id"] for c in subnet["properties"]["ipConfigurations"]]


def test_a_firewall_write_and_delete_keep_the_subnet_back_reference(make_emu: Callable[..., Emulator]) -> None:
    emu = make_emu(private_network())
    net = network_client(emu)
    assert _firewall_refs(net) == [f"{FW}/azureFirewallIpConfigurations/ipconfig1"]
    body = copy.deepcopy(emu.get(FW))
    assert body is not None
    allocated = copy.deepcopy(body["properties"]["ipConfigurations"])
    body["properties"]["ipConfigurations"] = []  # deallocate(): the subnet is no longer in use
    emu.put_foreign(FW, body)
    assert _firewall_refs(net) == []
    allocated[0]["name"] = "ipconfig-2"  # allocate(): a new IP configuration in the same subnet
    body["properties"]["ipConfigurations"] = allocated
    emu.put_foreign(FW, body)
    assert _firewall_refs(net) == [f"{FW}/azureFirewallIpConfigurations/ipconfig-2"]
    emu.delete_foreign(FW)
    assert _firewall_refs(net) == []


def _vwan_seed() -> dict[str, Any]:
    seed = private_network()
    seed["resources"] += [
        {"id": VWAN, "name": "vwan", "type": "Microsoft.Network/virtualWans", "location": "westeurope",
         "properties": {"provisioningState": "Succeeded", "type": "Standard"}},
        {"id": VHUB, "name": "vhub-1", "type": "Microsoft.Network/virtualHubs", "location": "westeurope",
         "properties": {"provisioningState": "Succeeded", "addressPrefix": "10.100.0.0/23",
                        "virtualWan": {"id": VWAN}}},
    ]
    return seed


def test_a_hub_connection_shows_on_its_spoke_as_a_peering_to_the_hub_vnet(make_emu: Callable[..., Emulator]) -> None:
    emu = make_emu(_vwan_seed())
    net = network_client(emu)
    before = _spoke_peerings(net)
    connection = {"properties": {"remoteVirtualNetwork": {"id": SPOKE}, "enableInternetSecurity": True}}
    net.hub_virtual_network_connections.begin_create_or_update("rg-hub", "vhub-1", "spoke", connection).result()
    added = [p for p in _spoke_peerings(net) if p not in before]
    assert len(added) == 1
    name, remote, state = added[0]
    assert name.startswith("RemoteVnetToHubPeering_") and state == "Connected"
    # The hub's managed VNet, in another subscription: RG_<hub>_<guid> / HV_<hub>_<guid>.
    assert "/resourceGroups/RG_vhub-1_" in remote and "/virtualNetworks/HV_vhub-1_" in remote
    assert remote.split("/")[2] != SPOKE.split("/")[2]
    peering = net.virtual_network_peerings.get("rg-spoke", "vnet-spoke", name)
    assert peering.allow_virtual_network_access is True and peering.allow_forwarded_traffic is False
    net.hub_virtual_network_connections.begin_create_or_update("rg-hub", "vhub-1", "spoke", connection).result()
    assert len(_spoke_peerings(net)) == len(before) + 1  # an update adds no second one
    net.hub_virtual_network_connections.begin_delete("rg-hub", "vhub-1", "spoke").result()
    assert _spoke_peerings(net) == before


def test_a_seeded_hub_connection_gets_its_spoke_peering_once(make_emu: Callable[..., Emulator]) -> None:
    seed = _vwan_seed()
    seed["resources"].append({"id": f"{VHUB}/hubVirtualNetworkConnections/spoke", "name": "spoke",
                              "type": "Microsoft.Network/virtualHubs/hubVirtualNetworkConnections",
                              "properties": {"provisioningState": "Succeeded",
                                             "remoteVirtualNetwork": {"id": SPOKE}}})
    net = network_client(make_emu(seed))
    hub_peerings = [p for p in _spoke_peerings(net) if p[0].startswith("RemoteVnetToHubPeering_")]
    assert len(hub_peerings) == 1
