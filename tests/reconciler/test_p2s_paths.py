"""A cluster event finds VPN gateways through its network path, not by listing every VNet (#26 goal 4), and
plans the P2S routes a sweep plans: the real SDK against the emulator, on the example topology with a second
hub VNet (rg-hub2) whose P2S gateway the spoke does not reach until it peers with it using gateway transit."""

from __future__ import annotations

import copy
import re

import pytest

from emulator import Emulator
from tests.reconciler.conftest import WorldFactory
from tests.reconciler.helpers import (
    CNI,
    CUSTOMER_TABLE,
    OWNED_RCG,
    SUB,
    VNET,
    Seed,
    arm_writes,
    props,
    route_names,
    seed_item,
)

HUB2 = f"/subscriptions/{SUB}/resourceGroups/rg-hub2/providers/Microsoft.Network"
HUB2_VNET = f"{HUB2}/virtualNetworks/vnet-hub2"
HUB2_GATEWAY = f"{HUB2}/virtualNetworkGateways/vpngw-hub2"
HUB_GATEWAY = f"/subscriptions/{SUB}/resourceGroups/rg-hub/providers/Microsoft.Network/virtualNetworkGateways/vpngw-hub"
POOL2 = "172.16.202.0/24"
P2S_HUB = "rmd-p2s-172-16-201-0-24"
P2S_HUB2 = "rmd-p2s-172-16-202-0-24"


def second_hub(seed: Seed) -> None:
    """vnet-hub2 (10.9.0.0/16) in rg-hub2 with a GatewaySubnet and a P2S gateway (pool 172.16.202.0/24), a copy
    of the example's hub gateway; not peered with anything."""
    gateway = copy.deepcopy(seed_item(seed, HUB_GATEWAY))
    ipconfig = f"{HUB2_GATEWAY}/ipConfigurations/default"
    gateway.update(name="vpngw-hub2", id=HUB2_GATEWAY)
    gateway.pop("etag", None)
    gprops = gateway["properties"]
    gprops["vpnClientConfiguration"]["vpnClientAddressPool"]["addressPrefixes"] = [POOL2]
    for config in gprops.get("ipConfigurations") or []:
        config["id"] = ipconfig
        config["properties"]["subnet"] = {"id": f"{HUB2_VNET}/subnets/GatewaySubnet"}
        config["properties"].pop("publicIPAddress", None)
    seed["resources"].append({
        "name": "vnet-hub2", "id": HUB2_VNET, "type": "Microsoft.Network/virtualNetworks", "location": "westeurope",
        "properties": {
            "addressSpace": {"addressPrefixes": ["10.9.0.0/16"]},
            "subnets": [{"name": "GatewaySubnet", "id": f"{HUB2_VNET}/subnets/GatewaySubnet",
                         "properties": {"addressPrefix": "10.9.2.0/27", "ipConfigurations": [{"id": ipconfig}]}}],
            "virtualNetworkPeerings": [],
        },
    })
    seed["resources"].append(gateway)


def _peering(name: str, remote: str, prefixes: list[str], **flags: bool) -> dict[str, object]:
    return {"name": name, "properties": {
        "remoteVirtualNetwork": {"id": remote}, "peeringState": "Connected", "peeringSyncLevel": "FullyInSync",
        "allowVirtualNetworkAccess": True, "allowForwardedTraffic": True,
        "remoteAddressSpace": {"addressPrefixes": prefixes}, **flags}}


def spoke_uses_hub2_gateway(seed: Seed) -> None:
    """The spoke also peers with vnet-hub2 and uses its gateway (gateway transit), next to its firewall hub."""
    second_hub(seed)
    spoke = seed_item(seed, VNET)
    spoke_prefixes = spoke["properties"]["addressSpace"]["addressPrefixes"]
    spoke["properties"]["virtualNetworkPeerings"].append(
        _peering("spoke-to-hub2", HUB2_VNET, ["10.9.0.0/16"], useRemoteGateways=True))
    seed_item(seed, HUB2_VNET)["properties"]["virtualNetworkPeerings"].append(
        _peering("hub2-to-spoke", VNET, spoke_prefixes, allowGatewayTransit=True))


def _p2s_sources(emu: Emulator) -> set[str]:
    body = emu.get(OWNED_RCG)
    assert body is not None
    return {s for c in body["properties"]["ruleCollections"] if c["name"].endswith("p2s")
            for r in c["rules"] for s in r["sourceAddresses"]}


def _vnet_lists(paths: list[str]) -> list[str]:
    return [p for p in paths if re.search(r"/virtualnetworks$", p)]


def test_an_event_reads_no_vnet_list_and_plans_the_p2s_routes_a_sweep_plans(world: WorldFactory) -> None:
    w = world(second_hub)
    sweep = w.sweep()
    assert sweep.error is None and sweep.converged is True
    nodes = route_names(w.emu, CUSTOMER_TABLE)
    # The spoke reaches vnet-hub's gateway (its firewall hub), not vnet-hub2's: no peering, no transit.
    assert P2S_HUB in nodes and P2S_HUB2 not in nodes
    # The firewall's P2S rule still names every gateway in scope, as before.
    assert {"172.16.201.0/24", POOL2} <= _p2s_sources(w.emu)
    w.reset_log()
    event = w.run(CNI)
    assert event.error is None and not event.plan.writes and arm_writes(w.emu) == []
    gets = [r.path.lower() for r in w.emu.request_log if r.method == "GET"]
    assert _vnet_lists(gets) == []  # no VNet list at all
    assert not any("/resourcegroups/rg-hub2/" in p for p in gets)  # the other hub is never read
    assert any(p.endswith("/resourcegroups/rg-hub/providers/microsoft.network/virtualnetworkgateways")
               for p in gets)


def test_gateway_transit_brings_the_other_hubs_pool_and_the_event_agrees(world: WorldFactory) -> None:
    w = world(spoke_uses_hub2_gateway)
    assert any(p["properties"].get("useRemoteGateways") for p in props(w.emu, VNET)["virtualNetworkPeerings"])
    sweep = w.sweep()
    assert sweep.error is None and sweep.converged is True
    assert {P2S_HUB, P2S_HUB2} <= route_names(w.emu, CUSTOMER_TABLE)
    w.reset_log()
    event = w.run(CNI)
    assert event.error is None and not event.plan.writes and arm_writes(w.emu) == []
    gets = [r.path.lower() for r in w.emu.request_log if r.method == "GET"]
    assert _vnet_lists(gets) == []
    assert any(p.endswith("/resourcegroups/rg-hub2/providers/microsoft.network/virtualnetworkgateways")
               for p in gets)


def test_an_event_alone_writes_the_transit_pool_route(world: WorldFactory) -> None:
    w = world(spoke_uses_hub2_gateway)
    result = w.run(CNI)
    assert result.error is None and result.converged is True
    assert {P2S_HUB, P2S_HUB2} <= route_names(w.emu, CUSTOMER_TABLE)


def test_a_failed_gateway_read_ends_the_event_in_its_reason_and_zero_writes(world: WorldFactory) -> None:
    w = world(second_hub)
    w.emu.faults.add("GET", r"/resourceGroups/rg-hub/providers/Microsoft.Network/virtualNetworkGateways$",
                     kind="status", status=403, code="AuthorizationFailed", count=50)
    w.reset_log()
    # A refused read is an error of the run (the queue retries it), never "no gateway there".
    with pytest.raises(Exception, match="AuthorizationFailed"):
        w.run(CNI)
    assert arm_writes(w.emu) == []
    assert route_names(w.emu, CUSTOMER_TABLE) == {"to-onprem"}  # the customer's table as seeded
