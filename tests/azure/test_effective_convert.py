"""convert.effective_routes_from_arm: ARM's NIC effective route table (the shape `az network nic
show-effective-route-table` prints) -> the route set the flows are judged on."""

from __future__ import annotations

from remediation.azure.convert import effective_routes_from_arm
from remediation.planning import effective_routes as er
from remediation.planning.effective_routes import EffectiveRoute, RouteSource
from tests.core import factories as f


def test_arm_effective_routes_become_a_route_set() -> None:
    body = {"value": [
        {"source": "Default", "state": "Active", "addressPrefix": ["10.1.0.0/16"], "nextHopType": "VnetLocal",
         "nextHopIpAddress": [], "name": None},
        {"source": "Default", "state": "Invalid", "addressPrefix": ["0.0.0.0/0"], "nextHopType": "Internet",
         "nextHopIpAddress": []},
        {"source": "User", "state": "Active", "addressPrefix": ["0.0.0.0/0"], "nextHopType": "VirtualAppliance",
         "nextHopIpAddress": [f.FW_IP], "name": "rmd-default"},
        {"source": "VirtualNetworkGateway", "state": "Active", "addressPrefix": ["0.0.0.0/1", "128.0.0.0/1"],
         "nextHopType": "VirtualNetworkGateway", "nextHopIpAddress": ["10.0.2.30"]},
        {"source": "Default", "state": "Active", "addressPrefix": ["10.0.0.5/32"], "nextHopType": "InterfaceEndpoint",
         "nextHopIpAddress": []},
    ]}
    routes = er.from_arm(f.NODE_SUBNET, effective_routes_from_arm(body))
    assert len(routes.routes) == 5  # the Invalid route is left out; a route with two prefixes is two
    hop = er.next_hop(routes.routes, "52.1.2.3")
    assert hop is not None and (hop.source, hop.prefix, hop.describe()) == (
        RouteSource.BGP, "0.0.0.0/1", "BGP route 0.0.0.0/1 -> VirtualNetworkGateway 10.0.2.30")
    assert er.next_hop(routes.routes, "10.0.0.5") == EffectiveRoute("10.0.0.5/32", "InterfaceEndpoint",
                                                                     RouteSource.SYSTEM)
