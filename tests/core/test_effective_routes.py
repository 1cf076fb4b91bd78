"""effective_routes: one rule of Azure's route selection per case (pure, table-driven)."""

from __future__ import annotations

import dataclasses
import ipaddress

import pytest
from hypothesis import given
from hypothesis import strategies as st

from remediation.core.ids import id_key
from remediation.core.model import ObservedPeering, ObservedVnet, Route
from remediation.planning import effective_routes as er
from remediation.planning.effective_routes import EffectiveRoute, LearnedRoute, RouteSource
from tests.core import factories as f

HUB = f"{f.HUB_RG}/providers/Microsoft.Network/virtualNetworks/hub-vnet"
OTHER = f"{f.RG}/providers/Microsoft.Network/virtualNetworks/other-vnet"


def _vnet(*peerings: ObservedPeering, gateways: tuple[str, ...] = ()) -> ObservedVnet:
    return ObservedVnet(f.VNET, "westeurope", (), address_prefixes=("10.1.0.0/16",), peerings=peerings,
                        gateway_ids=gateways)


def _peering(remote: str, prefixes: tuple[str, ...], state: str = "Connected", **kw: object) -> ObservedPeering:
    return ObservedPeering(f"{f.VNET}/virtualNetworkPeerings/p-{remote[-3:]}", "p", remote, state,
                           remote_address_prefixes=prefixes, **kw)  # type: ignore[arg-type]


TO_HUB = _peering(HUB, ("10.0.0.0/16",), use_remote_gateways=True)


def _routes(*routes: Route, vnet: ObservedVnet | None = None, bgp: tuple[LearnedRoute, ...] = (),
            propagation_off: bool = False, hub_gateway: bool = True) -> er.SubnetRoutes:
    table = f.route_table("rt", routes, (f.NODE_SUBNET,), disable_bgp_route_propagation=propagation_off)
    subnet = f.subnet(f.NODE_SUBNET, f.NODE_PREFIX, table.id)
    vnets = {id_key(f.VNET): vnet or _vnet(TO_HUB),
             id_key(HUB): ObservedVnet(HUB, "westeurope", (), gateway_ids=(f.VPN,) if hub_gateway else (),
                                       address_prefixes=("10.0.0.0/16",))}
    snapshot = dataclasses.replace(f.snapshot(subnets=[subnet], tables=[table]), vnets=vnets)
    return er.subnet_routes(snapshot, subnet, {id_key(f.VPN): bgp})


FW = f.fw_route("rmd-default", "0.0.0.0/0")
BGP_DEFAULT = LearnedRoute("0.0.0.0/0", "192.168.0.1")

# (routes, destination) -> (source, prefix, next hop type) of the route Azure uses
CASES: dict[str, tuple[er.SubnetRoutes, str, tuple[RouteSource, str, str]]] = {
    "no-table-internet": (_routes(), "52.1.2.3", (RouteSource.SYSTEM, "0.0.0.0/0", "Internet")),
    "vnet-local": (_routes(FW), "10.1.4.5", (RouteSource.SYSTEM, "10.1.0.0/16", "VnetLocal")),
    "reserved-none": (_routes(), "172.16.0.1", (RouteSource.SYSTEM, "172.16.0.0/12", "None")),
    "user-default": (_routes(FW), "52.1.2.3", (RouteSource.USER, "0.0.0.0/0", "VirtualAppliance")),
    "longest-prefix": (_routes(FW, Route("split", "0.0.0.0/1", "Internet")), "52.1.2.3",
                       (RouteSource.USER, "0.0.0.0/1", "Internet")),
    "user-beats-system-same-prefix": (_routes(f.fw_route("vnet", "10.1.0.0/16")), "10.1.4.5",
                                      (RouteSource.USER, "10.1.0.0/16", "VirtualAppliance")),
    "system-more-specific-beats-user": (_routes(f.fw_route("ten", "10.0.0.0/8")), "10.1.4.5",
                                        (RouteSource.SYSTEM, "10.1.0.0/16", "VnetLocal")),
    "peered": (_routes(), "10.0.3.4", (RouteSource.SYSTEM, "10.0.0.0/16", "VNetPeering")),
    "peering-not-connected": (_routes(vnet=_vnet(_peering(HUB, ("10.0.0.0/16",), "Initiated"))), "10.0.3.4",
                              (RouteSource.SYSTEM, "10.0.0.0/8", "None")),
    "bgp-beats-system": (_routes(bgp=(BGP_DEFAULT,)), "52.1.2.3",
                         (RouteSource.BGP, "0.0.0.0/0", "VirtualNetworkGateway")),
    "user-beats-bgp": (_routes(FW, bgp=(BGP_DEFAULT,)), "52.1.2.3",
                       (RouteSource.USER, "0.0.0.0/0", "VirtualAppliance")),
    "bgp-more-specific-beats-user": (_routes(FW, bgp=(LearnedRoute("52.0.0.0/8", "192.168.0.1"),)), "52.1.2.3",
                                     (RouteSource.BGP, "52.0.0.0/8", "VirtualNetworkGateway")),
    "propagation-off": (_routes(bgp=(BGP_DEFAULT,), propagation_off=True), "52.1.2.3",
                        (RouteSource.SYSTEM, "0.0.0.0/0", "Internet")),
    "no-reachable-gateway": (_routes(bgp=(BGP_DEFAULT,), hub_gateway=False), "52.1.2.3",
                             (RouteSource.SYSTEM, "0.0.0.0/0", "Internet")),
    "remote-gateway-not-used": (_routes(vnet=_vnet(_peering(HUB, ("10.0.0.0/16",))), bgp=(BGP_DEFAULT,)),
                                "52.1.2.3", (RouteSource.SYSTEM, "0.0.0.0/0", "Internet")),
    "own-gateway": (_routes(vnet=_vnet(gateways=(f.VPN,)), bgp=(BGP_DEFAULT,)), "52.1.2.3",
                    (RouteSource.BGP, "0.0.0.0/0", "VirtualNetworkGateway")),
    "ipv6-user-route-ignored": (_routes(FW, Route("v6", "::/0", "Internet")), "52.1.2.3",
                                (RouteSource.USER, "0.0.0.0/0", "VirtualAppliance")),
}


@pytest.mark.parametrize(("routes", "ip", "expected"), CASES.values(), ids=CASES.keys())
def test_next_hop_follows_azure_route_selection(routes: er.SubnetRoutes, ip: str,
                                                expected: tuple[RouteSource, str, str]) -> None:
    hop = er.next_hop(routes.routes, ip)
    assert hop is not None and (hop.source, hop.prefix, hop.next_hop_type) == expected


def test_ipv6_routes_are_not_in_the_route_set() -> None:
    routes = _routes(FW, Route("v6", "::/0", "Internet"))
    assert all(":" not in r.prefix for r in routes.routes)
    assert er.winners(routes.routes, "::/0") == ()


def _names(found: tuple[EffectiveRoute, ...]) -> list[str]:
    return [r.name or f"{r.source.value}:{r.prefix}" for r in found]


WINNERS: dict[str, tuple[er.SubnetRoutes, str, list[str]]] = {
    # 0.0.0.0/1 + 128.0.0.0/1 cover the internet whole: the /0 to the firewall carries nothing any more.
    "split-default": (_routes(FW, Route("a", "0.0.0.0/1", "Internet"), Route("b", "128.0.0.0/1", "Internet")),
                      "0.0.0.0/0", ["a", "b"]),
    "half-split": (_routes(FW, Route("a", "0.0.0.0/1", "Internet")), "0.0.0.0/0", ["a", "rmd-default"]),
    "more-specific-inside": (_routes(f.fw_route("agw", f.APPGW_PREFIX), Route("x", "10.1.4.0/25", "VnetLocal")),
                             f.APPGW_PREFIX, ["x", "agw"]),
    "peer-inside-spoke": (_routes(f.fw_route("spoke", "10.0.0.0/8")), "10.0.0.0/8",
                          ["Default:10.0.0.0/16", "spoke"]),
}


@pytest.mark.parametrize(("routes", "prefix", "names"), WINNERS.values(), ids=WINNERS.keys())
def test_winners_name_every_route_that_carries_part_of_a_prefix(routes: er.SubnetRoutes, prefix: str,
                                                                 names: list[str]) -> None:
    assert _names(er.winners(routes.routes, prefix, er.flow_exclusions(_vnet(TO_HUB), prefix))) == names


def test_internet_flow_leaves_out_private_vnet_and_peered_space() -> None:
    vnet = _vnet(TO_HUB)
    assert set(er.flow_exclusions(vnet, "0.0.0.0/0")) >= {"10.0.0.0/8", "10.1.0.0/16", "10.0.0.0/16"}
    assert er.flow_exclusions(vnet, f.APPGW_PREFIX) == ()  # inside the VNet: the flow itself
    assert er.flow_exclusions(vnet, "10.0.0.0/8") == ("10.1.0.0/16",)


def test_a_route_table_not_read_makes_the_routes_unknown() -> None:
    subnet = f.subnet(f.NODE_SUBNET, f.NODE_PREFIX, f.table_id("gone"))
    found = er.subnet_routes(f.snapshot(subnets=[subnet]), subnet)
    assert found.routes == () and found.unknown and "was not read" in found.unknown


def test_through_means_the_firewall_ip() -> None:
    assert er.through(EffectiveRoute("0.0.0.0/0", "VirtualAppliance", RouteSource.USER, f.FW_IP), f.FW_IP)
    assert not er.through(EffectiveRoute("0.0.0.0/0", "VirtualAppliance", RouteSource.USER, "10.0.1.5"), f.FW_IP)
    assert not er.through(EffectiveRoute("0.0.0.0/0", "Internet", RouteSource.SYSTEM), f.FW_IP)



# --------------------------------------------------------------------------------------------- against an oracle

_BASE = int(ipaddress.IPv4Address("10.0.0.0"))
_SMALL = st.builds(lambda a, n: str(ipaddress.ip_network((_BASE + a, n), strict=False)), st.integers(0, 255),
                   st.integers(24, 32))  # inside 10.0.0.0/24: every address can be checked one by one
_WIDE = st.sampled_from(["0.0.0.0/0", "10.0.0.0/8", "10.0.0.0/16"])


@given(prefixes=st.lists(st.one_of(_SMALL, _WIDE), max_size=8),
       sources=st.lists(st.sampled_from(list(RouteSource)), min_size=8, max_size=8),
       target=_SMALL, exclude=st.lists(_SMALL, max_size=3))
def test_winners_are_the_routes_that_carry_some_address(prefixes: list[str], sources: list[RouteSource],
                                                        target: str, exclude: list[str]) -> None:
    """The piecewise selection (cut at every route's ends, each shape worked out once) names exactly the routes
    that `next_hop` picks for some address of the flow outside the excluded ranges, address by address."""
    routes = [EffectiveRoute(p, "VirtualAppliance", s, "10.9.0.4", name=f"r{i}")
              for i, (p, s) in enumerate(zip(prefixes, sources, strict=False))]
    cut = [ipaddress.ip_network(e) for e in exclude]
    expected = set()
    for address in ipaddress.ip_network(target):
        if not any(address in c for c in cut) and (best := er.next_hop(routes, str(address))) is not None:
            expected.add(best.name)
    assert {r.name for r in er.winners(routes, target, exclude)} == expected
    shaped = er.SubnetRoutes("s", tuple(routes))  # the per-subnet path (ranked and spans kept on the routes)
    assert er._winners(shaped.ranked, target, exclude, shaped.spans) == er.winners(routes, target, exclude)
