"""paths.gateways_reaching: whose P2S pools a subnet routes to the firewall (the one answer a cluster event and a
sweep both plan from, #26 goal 4), and desired.egress_routes with it."""

from __future__ import annotations

import dataclasses

from remediation.core.model import ObservedVnet, ObservedVpnGateway
from remediation.planning import desired, paths
from tests.core import factories as f

OTHER_RG = f"/subscriptions/{f.SUB}/resourceGroups/other-hub-rg/providers/Microsoft.Network"
OTHER_VNET = f"{OTHER_RG}/virtualNetworks/other-hub"
TRANSIT_VNET = f"{OTHER_RG}/virtualNetworks/transit-hub"


def gw(name: str, vnet_id: str | None, pool: str) -> ObservedVpnGateway:
    rg = OTHER_RG if vnet_id and "other-hub-rg" in vnet_id else f"{f.HUB_RG}/providers/Microsoft.Network"
    return ObservedVpnGateway(f"{rg}/virtualNetworkGateways/{name}", name, (pool,),
                              (vnet_id,) if vnet_id else ())


HUB_GW = gw("hub", f.HUB_VNET, "172.16.1.0/24")
OTHER_GW = gw("other", OTHER_VNET, "172.16.2.0/24")
TRANSIT_GW = gw("transit", TRANSIT_VNET, "172.16.3.0/24")
SPOKE_GW = gw("spoke", f.VNET, "172.16.4.0/24")
UNKNOWN_GW = gw("unknown", None, "172.16.5.0/24")
ALL = (HUB_GW, OTHER_GW, TRANSIT_GW, SPOKE_GW, UNKNOWN_GW)


def names(vnets: list[ObservedVnet] | None = None) -> set[str]:
    snap = f.snapshot(vpns=ALL, fw=f.firewall(), vnets=vnets)
    return {g.name for g in paths.gateways_reaching(snap, [f.VNET], f.settings())}


def test_the_firewall_hub_the_vnet_itself_and_unknown_vnets_count_an_unpeered_hub_does_not() -> None:
    assert names() == {"hub", "spoke", "unknown"}


def test_a_peering_with_use_remote_gateways_brings_that_vnets_gateway() -> None:
    spoke, hub = f.peered()
    transit = f.peering(f.VNET, TRANSIT_VNET, use_remote_gateways=True)
    plain = f.peering(f.VNET, OTHER_VNET)  # peered, but without gateway transit: not its P2S clients' path
    spoke = dataclasses.replace(spoke, peerings=(*spoke.peerings, transit, plain))
    assert names([spoke, hub]) == {"hub", "spoke", "transit", "unknown"}


def test_a_vnet_that_does_not_reach_the_firewall_gets_no_hub_gateway() -> None:
    spoke, hub = f.peered(hub_state="Disconnected")
    assert names([spoke, hub]) == {"spoke", "unknown"}


def test_egress_routes_name_only_the_pools_on_the_path() -> None:
    snap = dataclasses.replace(f.hub_spoke(with_appgw=False), vpn_gateways=(HUB_GW, OTHER_GW))
    prefixes = {r.address_prefix for r in desired.egress_routes(snap, snap.clusters[next(iter(snap.clusters))],
                                                                  f.settings())}
    assert "172.16.1.0/24" in prefixes and "172.16.2.0/24" not in prefixes


def test_the_p2s_rule_still_names_every_gateway_observed() -> None:
    snap = dataclasses.replace(f.hub_spoke(with_appgw=False), vpn_gateways=(HUB_GW, OTHER_GW))
    collections, _ = desired.desired_rule_collections(snap, f.settings())
    sources = {s for c in collections if c.name.endswith("p2s") for r in c.rules for s in r.source_addresses}
    assert sources == {"172.16.1.0/24", "172.16.2.0/24"}
