"""Never route where traffic cannot go (#21): the path model (paths.py) in desired state and the plan."""

from __future__ import annotations

import dataclasses
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from remediation.core.ids import id_key
from remediation.core.model import (
    ChangeKind,
    DesiredSubnetRoutes,
    NetworkRule,
    ObservedCluster,
    ObservedFirewall,
    ObservedRuleCollectionGroup,
    ObservedSubnet,
    ObservedVnet,
    ObservedVpnGateway,
    RuleCollection,
    Skip,
    Snapshot,
    SubnetAssociationPayload,
)
from remediation.planning import desired, paths, plan
from tests.core import factories as f

STATES = ("Connected", "Initiated", "Disconnected", "")


def _cut(snap_vnets: list[ObservedVnet], state: str) -> list[ObservedVnet]:
    return [f.vnet(f.VNET, f.peering(f.VNET, f.HUB_VNET, state)), *[v for v in snap_vnets if v.id != f.VNET]]


def test_a_cluster_whose_vnet_does_not_reach_the_firewall_is_skipped_with_its_reason() -> None:
    snap = dataclasses.replace(f.hub_spoke(), vnets={id_key(v.id): v for v in _cut(f.peered(), "Initiated")})
    wanted = desired.desired_cluster_routes(snap, f.CLUSTER, f.settings())
    assert isinstance(wanted, Skip)
    assert wanted.reason.startswith("no path to the firewall: peering to-hub-vnet from spoke-vnet")
    assert "Initiated, not Connected" in wanted.reason


def test_a_reachable_cluster_is_planned_as_before() -> None:
    wanted = desired.desired_cluster_routes(f.hub_spoke(), f.CLUSTER, f.settings())
    assert not isinstance(wanted, Skip)
    assert all(r.next_hop_ip_address == f.FW_IP for d in wanted for r in d.routes)


def test_an_app_gateway_in_a_vnet_without_a_path_gets_no_ingress_routes() -> None:
    other = f"{f.RG}/providers/Microsoft.Network/virtualNetworks/agw-vnet"
    agw_subnet = f"{other}/subnets/appgw"
    base = f.hub_spoke(gateway=f.appgw(subnet_id=agw_subnet))
    snap = dataclasses.replace(base, subnets={**base.subnets, id_key(agw_subnet): f.subnet(agw_subnet, "10.9.0.0/24")},
                               vnets={**base.vnets, id_key(other): f.vnet(other)})
    skip = desired.check_cluster(snap, f.CLUSTER, f.settings())
    assert isinstance(skip, Skip) and "App Gateway agw1: no path to the firewall from its VNet" in skip.reason


def test_prepare_subnet_without_a_path_writes_nothing() -> None:
    snap = dataclasses.replace(f.hub_spoke(), vnets={})
    wanted = desired.desired_prepared_subnet(snap, f.NODE_SUBNET, f.settings())
    assert isinstance(wanted, Skip) and wanted.reason.startswith(desired.NO_PATH)


def _owned_group(rule_name: str) -> ObservedRuleCollectionGroup:
    rule = NetworkRule(rule_name, ("TCP",), (f.NODE_PREFIX,), ("AzureCloud",), ("443",))
    return ObservedRuleCollectionGroup(f"{f.POLICY}/ruleCollectionGroups/rmd-aks-runbook", "rmd-aks-runbook", 250,
                                       (RuleCollection("rmd-egress", 200, "Allow", (rule,)),))


def _rule_names(collections: tuple[RuleCollection, ...]) -> set[str]:
    return {r.name for c in collections for r in c.rules} | {r.name for c in collections for r in c.application_rules}


def test_rules_in_place_stay_when_the_peering_goes_disconnected() -> None:
    vnets = {id_key(v.id): v for v in _cut(f.peered(), "Disconnected")}
    aks = f.cluster(outbound_type="userDefinedRouting")
    held = dataclasses.replace(f.hub_spoke(aks=aks, with_appgw=False, rcg=_owned_group("aks1")), vnets=vnets)
    collections, skips = desired.desired_rule_collections(held, f.settings())
    assert _rule_names(collections) >= {"aks1", "aks1-tunnel-tcp", "aks1-tunnel-udp"}
    assert any("Disconnected" in s.reason and "rules in place are kept" in s.reason for s in skips)
    # Never written for a cluster that has none yet: a new cluster behind no path gets no rules.
    fresh = dataclasses.replace(f.hub_spoke(aks=aks, with_appgw=False), vnets=vnets)
    collections, skips = desired.desired_rule_collections(fresh, f.settings())
    assert not any(n.startswith("aks1") for n in _rule_names(collections))
    assert any(s.reason.startswith(desired.NO_PATH) for s in skips)


def test_routes_in_place_are_not_pruned_when_the_path_goes() -> None:
    table = f.route_table("rmd-nodes", [f.fw_route("rmd-default", "0.0.0.0/0")], [f.NODE_SUBNET], owned=True)
    aks = f.cluster(outbound_type="userDefinedRouting")
    base = f.hub_spoke(aks=aks, with_appgw=False, node_table="rmd-nodes", tables=[table])
    snap = dataclasses.replace(base, vnets={id_key(v.id): v for v in _cut(f.peered(), "Disconnected")})
    wanted = desired.desired_cluster_routes(snap, f.CLUSTER, f.settings())
    assert isinstance(wanted, Skip)
    changes, _ = plan.plan_routes(snap, (), f.settings(), prune=True)
    assert changes == ()  # the skipped cluster's subnet is protected: nothing deleted


# --------------------------------------------------------------------------------------------- property

SPOKES = [f"{f.RG}/providers/Microsoft.Network/virtualNetworks/spoke-{i}" for i in range(4)]


@st.composite
def estates(draw: st.DrawFn) -> tuple[list[ObservedVnet], list[ObservedCluster], list[ObservedSubnet]]:
    """Up to four spokes, each with one cluster, peered to the hub (or another VNet, or nothing) with random
    states and flags on either side."""
    spoke_sides, hub_sides, clusters, subnets = [], [], [], []
    for i, spoke in enumerate(SPOKES[:draw(st.integers(1, 4))]):
        remote = draw(st.sampled_from([f.HUB_VNET, f.HUB_VNET, SPOKES[(i + 1) % 4], None]))
        flags = {"allow_vnet_access": draw(st.booleans()), "allow_forwarded_traffic": draw(st.booleans()),
                 "sync_level": draw(st.sampled_from(["FullyInSync", "LocalNotInSync", None]))}
        mine = [f.peering(spoke, remote, draw(st.sampled_from(STATES)), **flags)] if remote else []
        spoke_sides.append(f.vnet(spoke, *mine))
        if remote == f.HUB_VNET and draw(st.booleans()):
            hub_sides.append(f.peering(f.HUB_VNET, spoke, draw(st.sampled_from(STATES)),
                                       allow_vnet_access=draw(st.booleans())))
        node = f"{spoke}/subnets/nodes"
        subnets.append(f.subnet(node, f"10.{10 + i}.0.0/22"))
        clusters.append(f.cluster(id=f"{f.RG}/providers/Microsoft.ContainerService/managedClusters/aks-{i}",
                                  name=f"aks-{i}", node_subnet_ids=(node,),
                                  outbound_type=draw(st.sampled_from(["userDefinedRouting", "loadBalancer"]))))
    return [*spoke_sides, f.vnet(f.HUB_VNET, *hub_sides)], clusters, subnets


@given(estates())
def test_no_planned_route_goes_to_a_firewall_its_vnet_does_not_reach(
        estate: tuple[list[ObservedVnet], list[ObservedCluster], list[ObservedSubnet]]) -> None:
    vnets, clusters, subnets = estate
    snap = f.snapshot(clusters=clusters, subnets=subnets, fw=f.firewall(), vnets=vnets,
                      vpns=[ObservedVpnGateway(f.VPN, "vpn", (f.P2S_PREFIX,))])
    settings = f.settings(spoke_prefixes=("10.200.0.0/16",))
    wanted: list[DesiredSubnetRoutes] = []
    for cluster in clusters:
        result = desired.desired_cluster_routes(snap, cluster.id, settings)
        reached = paths.firewall_for_vnet(snap, paths.vnet_of_subnet(cluster.node_subnet_ids[0]) or "", settings)
        # Planned exactly when the VNet reaches the firewall.
        assert isinstance(result, Skip) != isinstance(reached, paths.Reaches)
        if not isinstance(result, Skip):
            wanted.extend(result)
    changes, _ = plan.plan_routes(snap, wanted, settings, prune=True)
    table_subnets: dict[str, list[str]] = {}
    for change in changes:
        if change.kind is ChangeKind.SUBNET_ROUTE_TABLE and isinstance(change.new, SubnetAssociationPayload):
            table_subnets.setdefault(id_key(change.new.route_table_id or ""), []).append(change.address)
    for address, route in plan.created_routes(changes):
        table = id_key(address.split("/routes/")[0])
        assert table_subnets.get(table), f"a route on a table no planned subnet uses: {address}"
        for subnet_id in table_subnets[table]:
            reached = paths.firewall_for_vnet(snap, paths.vnet_of_subnet(subnet_id) or "", settings)
            assert isinstance(reached, paths.Reaches), (subnet_id, reached)
            assert route.next_hop_ip_address == reached.firewall.private_ip


# --------------------------------------------------------------------------------------------- routing intent

VHUB = f"{f.HUB_RG}/providers/Microsoft.Network/virtualHubs/vhub"
HUB_FW = f"{f.HUB_RG}/providers/Microsoft.Network/azureFirewalls/fw-vhub"
HUB_IP = "10.100.64.132"


def _vwan(intents: frozenset[str], *, internet_security: bool = True, outbound: str = "userDefinedRouting",
          bgp_disabled: bool | None = None) -> tuple[Snapshot, Any]:
    fw = ObservedFirewall(HUB_FW, "fw-vhub", "AZFW_Hub", HUB_IP, f.POLICY, hub_id=VHUB)
    tables = []
    if bgp_disabled is not None:
        tables = [f.route_table("rt-nodes", [], [f.NODE_SUBNET], disable_bgp_route_propagation=bgp_disabled)]
    snap = f.hub_spoke(aks=f.cluster(outbound_type=outbound), with_appgw=False, fw=fw,
                       node_table="rt-nodes" if bgp_disabled is not None else None, tables=tables)
    snap = dataclasses.replace(snap, vnets={}, routing_intents={id_key(VHUB): intents}, hub_connections=(
        f.hub_connection(VHUB, f.VNET, enable_internet_security=internet_security),))
    return snap, f.settings(firewall_id=HUB_FW, spoke_prefixes=("10.200.0.0/16",))


def _prefixes(snap: Snapshot, settings: Any) -> tuple[set[str], list[str]]:
    wanted = desired.desired_cluster_routes(snap, f.CLUSTER, settings)
    assert not isinstance(wanted, Skip)
    return {r.address_prefix for r in wanted[0].routes}, [n.message for n in wanted[0].reports]


def test_routing_intent_makes_private_routes_redundant_but_aks_keeps_its_default_route() -> None:
    prefixes, notes = _prefixes(*_vwan(frozenset({"Internet", "PrivateTraffic"})))
    assert prefixes == {"0.0.0.0/0"}  # userDefinedRouting: AKS requires the UDR (Azure/AKS#5000)
    assert any("spoke prefix 10.200.0.0/16 left out: the routing intent of virtual hub vhub" in n for n in notes)
    assert any(n.startswith("p2s prefix 172.16.201.0/24 left out") for n in notes)


def test_forced_default_route_is_left_to_the_internet_policy_for_a_load_balancer_cluster() -> None:
    snap, settings = _vwan(frozenset({"Internet"}), outbound="loadBalancer")
    prefixes, _ = _prefixes(snap, dataclasses.replace(settings, force_default_route=True))
    assert prefixes == {"10.200.0.0/16", f.P2S_PREFIX}
    # Without enableInternetSecurity the hub does not give this VNet its 0.0.0.0/0: the route is written.
    snap, settings = _vwan(frozenset({"Internet"}), outbound="loadBalancer", internet_security=False)
    prefixes, _ = _prefixes(snap, dataclasses.replace(settings, force_default_route=True))
    assert "0.0.0.0/0" in prefixes


def test_no_routing_intent_or_bgp_routes_dropped_means_every_route_is_written() -> None:
    everything = {"0.0.0.0/0", "10.200.0.0/16", f.P2S_PREFIX}
    assert _prefixes(*_vwan(frozenset()))[0] == everything
    assert _prefixes(*_vwan(frozenset({"Internet", "PrivateTraffic"}), bgp_disabled=True))[0] == everything
    assert _prefixes(*_vwan(frozenset({"PrivateTraffic"}), bgp_disabled=False))[0] == {"0.0.0.0/0"}
