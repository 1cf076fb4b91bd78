"""Properties of the pure safety rules over generated topologies and settings (hypothesis).

A topology is a spoke VNet of up to six subnets (some with platform names, some dual-stack), route tables
shared between random subnets, App Gateways of every kind, clusters on random subnets, a firewall whose IP
may even sit inside a spoke subnet, and random SPOKE_PREFIXES. For every such world the plan must never:
- write a route to the appliance for any range of any subnet that uses the table, nor with a next hop
  inside such a range; nor any route or association on a platform subnet; nor 0.0.0.0/0 on a table used by
  a non-isolated v2 App Gateway subnet; nor an IPv6 prefix;
- put an IPv6 address into a firewall rule;
- delete, when one part of a cluster's picture goes (its gateway or the VPN gateway), anything the
  remaining part still needs: the egress rule stays and every other egress route stays.
"""

from __future__ import annotations

import dataclasses
import ipaddress
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from remediation.core import arm_shapes
from remediation.core import net as netmath
from remediation.core.config import load_settings
from remediation.core.ids import id_key
from remediation.core.model import (
    Action,
    ChangeKind,
    DesiredSubnetRoutes,
    ObservedAppGateway,
    ObservedCluster,
    ObservedFirewall,
    ObservedPeering,
    ObservedRouteTable,
    ObservedSubnet,
    ObservedVnet,
    ObservedVpnGateway,
    Route,
    Skip,
    Snapshot,
)
from remediation.planning import desired, guards, plan

SUB = "00000000-0000-0000-0000-000000000009"
RG = f"/subscriptions/{SUB}/resourceGroups/rg"
VNET = f"{RG}/providers/Microsoft.Network/virtualNetworks/spoke"
HUB = f"{RG}/providers/Microsoft.Network/virtualNetworks/hub"


def _side(local: str, remote: str) -> ObservedPeering:
    return ObservedPeering(f"{local}/virtualNetworkPeerings/p", "p", remote, "Connected", "FullyInSync",
                           allow_vnet_access=True, allow_forwarded_traffic=True)


# The spoke is peered both ways with the firewall's hub VNet (the path the routes need: paths.py).
PEERED = {id_key(VNET): ObservedVnet(VNET, "westeurope", (), peerings=(_side(VNET, HUB),)),
          id_key(HUB): ObservedVnet(HUB, "westeurope", (), peerings=(_side(HUB, VNET),))}
FIREWALL = f"{RG}/providers/Microsoft.Network/azureFirewalls/fw"
POLICY = f"{RG}/providers/Microsoft.Network/firewallPolicies/pol"
BASE = load_settings({"REMEDIATION_SCOPE": f"/subscriptions/{SUB}", "FIREWALL_ID": FIREWALL})
NAMES = ["nodes-a", "nodes-b", "pods", "appgw", "AzureFirewallSubnet", "GatewaySubnet", "AzureBastionSubnet",
         "RouteServerSubnet", "AzureFirewallManagementSubnet", "misc"]
SKUS = [("Standard_v2", False), ("WAF_v2", False), ("Standard_v2", True), ("Standard_Medium", False),
        ("Basic_v2", False)]


def _table_id(i: int) -> str:
    return f"{RG}/providers/Microsoft.Network/routeTables/rt-{i}"


@st.composite
def worlds(draw: st.DrawFn) -> tuple[Snapshot, Any]:
    count = draw(st.integers(2, 6))
    names = draw(st.lists(st.sampled_from(NAMES), min_size=count, max_size=count, unique=True))
    blocks = draw(st.lists(st.integers(0, 60), min_size=count, max_size=count, unique=True))
    table_of = draw(st.lists(st.one_of(st.none(), st.integers(0, 2)), min_size=count, max_size=count))
    dual = draw(st.lists(st.booleans(), min_size=count, max_size=count))
    subnets: dict[str, ObservedSubnet] = {}
    for name, block, table, v6 in zip(names, blocks, table_of, dual, strict=True):
        prefixes: tuple[str, ...] = (f"10.1.{block * 4}.0/22",)
        if v6:
            prefixes += (f"fd00:{block}::/64",)
        sid = f"{VNET}/subnets/{name}"
        subnets[id_key(sid)] = ObservedSubnet(sid, name, prefixes, "westeurope",
                                              _table_id(table) if table is not None else None)
    ids = [s.id for s in subnets.values()]
    # Existing tables: whatever subnets point at them, with some owned routes from an earlier run.
    tables: dict[str, ObservedRouteTable] = {}
    for t in range(3):
        users = tuple(s.id for s in subnets.values() if s.route_table_id == _table_id(t))
        if not users:
            continue
        old = draw(st.lists(st.sampled_from(["10.1.4.0/24", "172.16.201.0/24", "0.0.0.0/0", "10.9.0.0/16"]),
                            max_size=3, unique=True))
        routes = tuple(Route(desired.route_name(BASE, "old", p), p, "VirtualAppliance", "10.0.1.4") for p in old)
        tables[id_key(_table_id(t))] = ObservedRouteTable(_table_id(t), f"rt-{t}", "westeurope", {}, routes, users)
    # The firewall: usually in the hub, sometimes (a misconfiguration) inside a spoke subnet.
    fw_ip = draw(st.sampled_from(["10.0.1.4", "10.0.1.4", f"10.1.{blocks[0] * 4}.4"]))
    firewall = ObservedFirewall(FIREWALL, "fw", "AZFW_VNet", fw_ip, POLICY, vnet_id=HUB)
    gateways: dict[str, ObservedAppGateway] = {}
    gw_subnet = draw(st.one_of(st.none(), st.sampled_from(ids)))
    gateway_id = f"{RG}/providers/Microsoft.Network/applicationGateways/agw"
    if gw_subnet is not None:
        sku, isolated = draw(st.sampled_from(SKUS))
        gateways[id_key(gateway_id)] = ObservedAppGateway(gateway_id, "agw", sku, sku, gw_subnet, isolated)
    clusters: dict[str, ObservedCluster] = {}
    for i in range(draw(st.integers(1, 2))):
        nodes = draw(st.sampled_from(ids))
        pods = draw(st.one_of(st.none(), st.sampled_from(ids)))
        cid = f"{RG}/providers/Microsoft.ContainerService/managedClusters/aks{i}"
        clusters[id_key(cid)] = ObservedCluster(
            cid, f"aks{i}", "westeurope", "Succeeded", "azure", draw(st.sampled_from([None, "overlay"])),
            draw(st.sampled_from(["loadBalancer", "userDefinedRouting"])), (nodes,),
            (pods,) if pods else (), gateway_id if gw_subnet is not None and draw(st.booleans()) else None)
    vpns = (ObservedVpnGateway(f"{RG}/providers/Microsoft.Network/virtualNetworkGateways/vpn", "vpn",
                               ("172.16.201.0/24", "fd00:ff::/64")),) if draw(st.booleans()) else ()
    spokes = draw(st.lists(st.sampled_from(["10.2.0.0/16", "10.1.0.0/16", "10.1.4.0/24", "10.0.0.0/8",
                                            "10.1.8.0/23", "192.168.0.0/16"]), max_size=3, unique=True))
    settings = dataclasses.replace(BASE, spoke_prefixes=tuple(spokes),
                                   force_default_route=draw(st.booleans()))
    snap = Snapshot(clusters=clusters, subnets=subnets, route_tables=tables, app_gateways=gateways,
                    vpn_gateways=vpns, firewall=firewall, vnets=PEERED)
    return snap, settings


def _fleet(snap: Snapshot, settings: Any, *, prepare: tuple[str, ...] = ()) -> tuple[list[DesiredSubnetRoutes],
                                                                                     Any]:
    wanted: list[DesiredSubnetRoutes] = []
    for cluster in snap.clusters.values():
        result = desired.desired_cluster_routes(snap, cluster.id, settings)
        if not isinstance(result, Skip):
            wanted.extend(result)
    for subnet_id in prepare:
        prepared = desired.desired_prepared_subnet(snap, subnet_id, settings)
        if not isinstance(prepared, Skip):
            wanted.append(prepared)
    return wanted, plan.plan_routes(snap, desired.merge_subnet_routes(wanted), settings, prune=True)


def _table_users(snap: Snapshot, changes: Any) -> dict[str, set[str]]:
    """table key -> subnet keys that will use it: observed associations plus the planned ones."""
    users: dict[str, set[str]] = {}
    for table in snap.route_tables.values():
        users.setdefault(id_key(table.id), set()).update(id_key(s) for s in table.subnet_ids)
    for subnet in snap.subnets.values():
        if subnet.route_table_id:
            users.setdefault(id_key(subnet.route_table_id), set()).add(id_key(subnet.id))
    for c in changes:
        if c.kind is ChangeKind.SUBNET_ROUTE_TABLE and c.action is Action.CREATE:
            users.setdefault(id_key((arm_shapes.after(c) or {})["routeTable"]["id"]), set()).add(id_key(c.address))
    return users


def _assert_no_harmful_route(snap: Snapshot, changes: Any) -> None:
    users = _table_users(snap, changes)
    v2_open = {id_key(g.subnet_id) for g in snap.app_gateways.values()
               if g.subnet_id and g.sku_name.lower().endswith("_v2") and not g.network_isolated}
    for c in changes:
        if c.kind is ChangeKind.SUBNET_ROUTE_TABLE and c.action is Action.CREATE:
            assert guards.special_subnet_reason(c.address) is None, c
        if c.kind is not ChangeKind.ROUTE or c.action not in (Action.CREATE, Action.UPDATE):
            continue
        table_key = id_key(c.address.rsplit("/routes/", 1)[0])
        body = arm_shapes.after(c) or {}
        net = ipaddress.ip_network(body["addressPrefix"])
        hop = ipaddress.ip_address(body["nextHopIpAddress"])
        assert net.version == 4, c
        for subnet_key in users.get(table_key, set()):
            subnet = snap.subnets[subnet_key]
            assert guards.special_subnet_reason(subnet) is None, (c, subnet.name)
            for own in netmath.ipv4_only(subnet.address_prefixes):
                own_net = ipaddress.ip_network(own)
                assert hop not in own_net, (c, subnet.name)
                if str(net) != "0.0.0.0/0":
                    assert not net.overlaps(own_net), (c, subnet.name)
            if str(net) == "0.0.0.0/0":
                assert subnet_key not in v2_open, (c, subnet.name)


@given(worlds())
def test_no_route_breaks_a_subnet_that_uses_the_table(world: tuple[Snapshot, Any]) -> None:
    snap, settings = world
    _, (changes, _) = _fleet(snap, settings)
    _assert_no_harmful_route(snap, changes)


@given(worlds(), st.data())
def test_prepare_subnet_never_routes_what_it_must_not(world: tuple[Snapshot, Any], data: st.DataObject) -> None:
    snap, settings = world
    target = data.draw(st.sampled_from(sorted(s.id for s in snap.subnets.values())))
    prepared = desired.desired_prepared_subnet(snap, target, settings)
    assert not isinstance(prepared, Skip)
    changes, conflicts = plan.plan_routes(snap, (prepared,), settings, prune=False)
    _assert_no_harmful_route(snap, changes)
    if guards.special_subnet_reason(target) is not None:
        assert [c for c in changes if c.action is not Action.NOOP] == []
        assert any(c.blocking for c in conflicts)


@given(worlds())
def test_no_ipv6_in_firewall_rules(world: tuple[Snapshot, Any]) -> None:
    snap, settings = world
    collections, _ = desired.desired_rule_collections(snap, settings)
    for collection in collections:
        for rule in collection.rules:
            for address in (*rule.source_addresses, *rule.destination_addresses):
                assert ":" not in address, (collection.name, rule)


def _egress_rules(snap: Snapshot, settings: Any) -> set[str]:
    collections, _ = desired.desired_rule_collections(snap, settings)
    return {r.name for c in collections if c.name.endswith("egress") for r in c.rules}


def _egress_prefixes(snap: Snapshot, settings: Any) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for cluster in snap.clusters.values():
        result = desired.desired_cluster_routes(snap, cluster.id, settings)
        if isinstance(result, Skip):
            continue
        for item in result:
            if id_key(item.subnet_id) in {id_key(s) for s in cluster.node_subnet_ids}:
                out.setdefault(id_key(cluster.id), set()).update(r.address_prefix for r in item.routes)
    return out


@given(worlds(), st.sampled_from(["gateway", "vpn"]))
def test_losing_one_part_keeps_what_the_rest_needs(world: tuple[Snapshot, Any], part: str) -> None:
    snap, settings = world
    if part == "gateway":
        gone = frozenset(snap.app_gateways)
        smaller = dataclasses.replace(snap, app_gateways={}, absent=snap.absent | gone)
        lost = {p for g in snap.app_gateways.values() if g.subnet_id
                for p in snap.subnets[id_key(g.subnet_id)].address_prefixes}
    else:
        smaller = dataclasses.replace(snap, vpn_gateways=())
        lost = {p for v in snap.vpn_gateways for p in v.p2s_prefixes}
    # The egress rule of every cluster stays.
    assert _egress_rules(snap, settings) <= _egress_rules(smaller, settings)
    # Every egress route the cluster had, except the ones only the lost part needed, is still desired.
    before, after = _egress_prefixes(snap, settings), _egress_prefixes(smaller, settings)
    for cluster_key, prefixes in before.items():
        assert prefixes - lost <= after.get(cluster_key, set()), cluster_key
    # And the fleet plan never deletes a route it also wants on the same table.
    _, (changes, _) = _fleet(smaller, settings)
    kept: set[tuple[str, str]] = set()
    deleted: set[tuple[str, str]] = set()
    for c in changes:
        if c.kind is ChangeKind.ROUTE:
            table, name = c.address.lower().rsplit("/routes/", 1)
            (deleted if c.action is Action.DELETE else kept).add((table, name))
    assert not kept & deleted


_NAME_CHARS = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789-_.", min_size=1, max_size=80).filter(
    lambda n: n[0].isalnum())


@given(st.lists(st.tuples(_NAME_CHARS, _NAME_CHARS), min_size=2, max_size=6, unique=True))
def test_owned_table_names_are_unique_bounded_and_stable(pairs: list[tuple[str, str]]) -> None:
    seen: dict[str, str] = {}
    for vnet, name in pairs:
        subnet_id = f"{RG}/providers/Microsoft.Network/virtualNetworks/{vnet}/subnets/{name}"
        table = plan.route_table_name_for(ObservedSubnet(subnet_id, name, ("10.1.0.0/24",), "westeurope"), BASE)
        again = plan.route_table_name_for(
            ObservedSubnet(subnet_id.upper().replace("/SUBSCRIPTIONS/", "/subscriptions/"), name,
                           ("10.1.0.0/24",), "westeurope"), BASE)
        assert len(table) <= 80 and table[-1] not in "-."
        assert table.lower() == again.lower()  # any casing of the id: the same table
        assert table.lower() not in seen or seen[table.lower()] == id_key(subnet_id), (table, subnet_id)
        seen[table.lower()] = id_key(subnet_id)


_PREFIX_TEXT = st.one_of(
    st.builds(lambda a, b, n: f"{a}.{b}.0.0/{n}", st.integers(0, 255), st.integers(0, 255), st.integers(0, 32)),
    st.builds(lambda n: f"fd00::/{n}", st.integers(8, 64)),
    st.sampled_from(["0.0.0.0/0", "::/0", "10.0.0.0/8", "not-a-prefix"]),
)


@given(st.lists(_PREFIX_TEXT, max_size=4))
def test_spoke_prefixes_are_ipv4_spokes_or_a_config_error_naming_the_setting(parts: list[str]) -> None:
    from remediation.core.errors import ConfigError

    env = {"REMEDIATION_SCOPE": f"/subscriptions/{SUB}", "FIREWALL_ID": FIREWALL, "SPOKE_PREFIXES": ",".join(parts)}
    try:
        settings = load_settings(env)
    except ConfigError as exc:
        assert exc.setting == "SPOKE_PREFIXES"
        return
    for prefix in settings.spoke_prefixes:
        net = ipaddress.ip_network(prefix)
        assert net.version == 4 and net.prefixlen >= 8
