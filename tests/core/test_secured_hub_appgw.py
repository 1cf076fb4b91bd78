"""Microsoft's secured-hub App Gateway scenario (#21 item 4): the App Gateway subnet of a spoke whose secured vWAN
hub sends it 0.0.0.0/0 gets `0.0.0.0/0 -> Internet`, and only then (docs/platform-notes.md 13)."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from remediation.core.ids import id_key
from remediation.core.model import Action, ObservedFirewall, Route, RouteTablePayload, Skip, Snapshot
from remediation.planning import desired, guards, plan
from tests.core import factories as f

VHUB = f"{f.HUB_RG}/providers/Microsoft.Network/virtualHubs/vhub"
HUB_FW = f"{f.HUB_RG}/providers/Microsoft.Network/azureFirewalls/fw-vhub"
HUB_IP = "10.100.64.132"
INTERNET_ROUTE = ("rmd-appgw-internet", "0.0.0.0/0", "Internet", None)


def _vwan(intents: frozenset[str] = frozenset({"Internet", "PrivateTraffic"}), *, internet_security: bool = True,
          gateway: Any = None, appgw_table: Any = None) -> tuple[Snapshot, Any]:
    fw = ObservedFirewall(HUB_FW, "fw-vhub", "AZFW_Hub", HUB_IP, f.POLICY, hub_id=VHUB)
    snap = f.hub_spoke(fw=fw, with_vpn=False, gateway=gateway, tables=[appgw_table] if appgw_table else [])
    if appgw_table is not None:
        agw = dataclasses.replace(snap.subnets[id_key(f.APPGW_SUBNET)], route_table_id=appgw_table.id)
        snap = dataclasses.replace(snap, subnets={**snap.subnets, id_key(f.APPGW_SUBNET): agw})
    snap = dataclasses.replace(snap, vnets={}, routing_intents={id_key(VHUB): intents}, hub_connections=(
        f.hub_connection(VHUB, f.VNET, enable_internet_security=internet_security),))
    return snap, f.settings(firewall_id=HUB_FW)


def _gateway_item(snap: Snapshot, settings: Any) -> tuple[set[tuple[str, str, str, str | None]], list[str]]:
    wanted = desired.desired_cluster_routes(snap, f.CLUSTER, settings)
    assert not isinstance(wanted, Skip), wanted
    (item,) = [d for d in wanted if id_key(d.subnet_id) == id_key(f.APPGW_SUBNET)]
    routes = {(r.name, r.address_prefix, r.next_hop_type, r.next_hop_ip_address) for r in item.routes}
    notes = [c.message for d in wanted for c in d.reports]
    return routes, notes


@pytest.mark.parametrize(("intents", "internet_security", "written"), [
    (frozenset({"Internet", "PrivateTraffic"}), True, True),  # the hub sends this VNet 0.0.0.0/0
    (frozenset({"Internet"}), True, True),
    (frozenset({"Internet"}), False, False),  # no "propagate default route": the system route is the Internet
    (frozenset({"PrivateTraffic"}), True, False),  # no Internet policy: not known to be advertised (a note)
    (frozenset(), False, False),
])
def test_internet_route_only_when_the_hub_advertises_the_default_route(
        intents: frozenset[str], internet_security: bool, written: bool) -> None:
    routes, notes = _gateway_item(*_vwan(intents, internet_security=internet_security))
    assert (INTERNET_ROUTE in routes) is written
    # The two firewall routes of the scenario are written whatever happens: AKS ranges -> hub firewall.
    assert ("rmd-aks-10-1-0-0-22", f.NODE_PREFIX, "VirtualAppliance", HUB_IP) in routes
    unknown = any("has no Internet routing policy" in n for n in notes)
    assert unknown is (internet_security and "Internet" not in intents)


def test_not_written_when_bgp_routes_do_not_reach_the_subnet_or_for_an_isolated_gateway() -> None:
    table = f.route_table("rt-agw", [], [f.APPGW_SUBNET], disable_bgp_route_propagation=True)
    routes, _ = _gateway_item(*_vwan(appgw_table=table))
    assert INTERNET_ROUTE not in routes
    routes, notes = _gateway_item(*_vwan(gateway=f.appgw(network_isolated=True)))
    assert INTERNET_ROUTE not in routes
    assert any("is network-isolated" in n for n in notes)


def test_a_vnet_hub_never_gets_it() -> None:
    wanted = desired.desired_cluster_routes(f.hub_spoke(), f.CLUSTER, f.settings())
    assert not isinstance(wanted, Skip)
    assert all(r.next_hop_type == "VirtualAppliance" for d in wanted for r in d.routes)


def test_the_plan_creates_the_gateway_table_with_it_and_a_second_pass_is_quiet() -> None:
    snap, settings = _vwan()
    wanted = desired.desired_cluster_routes(snap, f.CLUSTER, settings)
    assert not isinstance(wanted, Skip)
    changes, conflicts = plan.plan_routes(snap, wanted, settings, prune=True)
    assert not [c for c in conflicts if c.blocking], conflicts
    created = [c.new for c in changes if c.action is Action.CREATE and isinstance(c.new, RouteTablePayload)]
    gateway_tables = [p for p in created if any(r.next_hop_type == "Internet" for r in p.routes)]
    assert len(gateway_tables) == 1
    assert Route(*INTERNET_ROUTE) in gateway_tables[0].routes
    # A foreign 0.0.0.0/0 -> Internet already there (the scenario done by hand) satisfies it: nothing written.
    table = f.route_table("rt-agw", [Route("to-internet", "0.0.0.0/0", "Internet", None)], [f.APPGW_SUBNET])
    snap, settings = _vwan(appgw_table=table)
    wanted = desired.desired_cluster_routes(snap, f.CLUSTER, settings)
    assert not isinstance(wanted, Skip)
    changes, _ = plan.plan_routes(snap, wanted, settings, prune=True)
    on_table = [c for c in changes if c.address.startswith(table.id + "/routes/")]
    assert any(c.action is Action.NOOP and c.address.endswith("/to-internet") for c in on_table)
    assert not any(c.action is not Action.NOOP and "0.0.0.0/0" in str(c.new) for c in on_table)


@pytest.mark.parametrize(("subnets", "gateways", "refused"), [
    ([f.APPGW_SUBNET], [f.appgw()], None),
    ([f.APPGW_SUBNET, f.NODE_SUBNET], [f.appgw()], "aks-nodes"),  # a shared table: the nodes would bypass
    ([f.APPGW_SUBNET], [f.appgw(network_isolated=True)], "appgw"),
    ([f.APPGW_SUBNET], [], "appgw"),
])
def test_the_guard_allows_internet_default_route_only_on_app_gateway_subnets(
        subnets: list[str], gateways: list[Any], refused: str | None) -> None:
    observed = {id_key(s): f.subnet(s, p) for s, p in ((f.APPGW_SUBNET, f.APPGW_PREFIX),
                                                       (f.NODE_SUBNET, f.NODE_PREFIX))}
    use = guards.TableUse.of(f.table_id("rt"), subnets, observed, gateways)
    why = guards.route_refusal(Route(*INTERNET_ROUTE), use)
    assert (why is None) if refused is None else (why is not None and refused in why)
    assert guards.route_refusal(Route("x", "10.0.0.0/8", "Internet", None), use) is not None
