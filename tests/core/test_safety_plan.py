"""The safety invariants in desired + plan (issue: never make the network worse), one table per invariant."""

from __future__ import annotations

import dataclasses

import pytest

from remediation.core import arm_shapes
from remediation.core.model import (
    Action,
    ChangeKind,
    NetworkRule,
    ObservedRuleCollectionGroup,
    ObservedSubnet,
    Plan,
    RuleCollection,
    Severity,
    Skip,
    Snapshot,
)
from remediation.planning import desired, guards, plan
from tests.core import factories as f

HUB_VNET = f.HUB_VNET  # the firewall's own VNet: paths.py lets its subnets be planned (and refused)
FW_SUBNET = f"{HUB_VNET}/subnets/AzureFirewallSubnet"
SHARED = "rt-shared"
RT_NODES = "rt-nodes"


def _writes(changes) -> list:
    return [c for c in changes if c.action is not Action.NOOP]


def _names(changes, action: Action = Action.CREATE, kind: ChangeKind = ChangeKind.ROUTE) -> list[str]:
    if (action, kind) == (Action.CREATE, ChangeKind.ROUTE):  # a new table carries its routes in its PUT
        return [address.rsplit("/", 1)[-1] for address, _ in plan.created_routes(changes)]
    return [c.address.rsplit("/", 1)[-1] for c in changes if c.action is action and c.kind is kind]


def _with(snap: Snapshot, *subnets: ObservedSubnet, **fields) -> Snapshot:
    merged = {**snap.subnets, **{s.id.lower(): s for s in subnets}}
    return dataclasses.replace(snap, subnets=merged, **fields)


def _cluster_plan(snap: Snapshot, settings=None, *, prune: bool = False):
    s = settings or f.settings()
    wanted = desired.desired_cluster_routes(snap, f.CLUSTER, s)
    assert not isinstance(wanted, Skip), wanted
    return plan.plan_routes(snap, wanted, s, prune=prune)


# --------------------------------------------------------------------------------------------- 3: subnets


@pytest.mark.parametrize("name", ["AzureFirewallSubnet", "AzureFirewallManagementSubnet", "GatewaySubnet",
                                  "RouteServerSubnet", "AzureBastionSubnet"])
def test_prepare_subnet_on_a_platform_subnet_writes_nothing_and_says_why(name: str) -> None:
    subnet_id = f"{HUB_VNET}/subnets/{name}"
    snap = _with(f.hub_spoke(), f.subnet(subnet_id, "10.0.1.0/26"))
    wanted = desired.desired_prepared_subnet(snap, subnet_id, f.settings())
    assert not isinstance(wanted, Skip)
    changes, conflicts = plan.plan_routes(snap, (wanted,), f.settings(), prune=False)
    assert _writes(changes) == []
    (refusal,) = [c for c in conflicts if c.blocking]
    assert refusal.address == subnet_id and name in refusal.message and "refused" in refusal.message


def test_prepare_subnet_on_a_v2_gateway_subnet_never_gets_the_default_route() -> None:
    snap = f.hub_spoke()
    wanted = desired.desired_prepared_subnet(snap, f.APPGW_SUBNET, f.settings(spoke_prefixes=("10.2.0.0/16",)))
    assert not isinstance(wanted, Skip) and "rmd-default" in {r.name for r in wanted.routes}
    changes, conflicts = plan.plan_routes(snap, (wanted,), f.settings(), prune=False)
    assert "rmd-default" not in _names(changes)
    assert "rmd-spoke-10-2-0-0-16" in _names(changes)
    assert any(c.blocking and c.address.endswith("/rmd-default") and "not network-isolated" in c.message
               for c in conflicts)


def test_isolated_v2_gateway_subnet_may_get_the_default_route() -> None:
    snap = f.hub_spoke(gateway=f.appgw(network_isolated=True))
    wanted = desired.desired_prepared_subnet(snap, f.APPGW_SUBNET, f.settings())
    assert not isinstance(wanted, Skip)
    changes, conflicts = plan.plan_routes(snap, (wanted,), f.settings(), prune=False)
    assert "rmd-default" in _names(changes) and not [c for c in conflicts if c.blocking]


def _shared_table_snapshot(**cluster_kw) -> Snapshot:
    """Node and App Gateway subnets on ONE customer table."""
    snap = f.hub_spoke(aks=f.cluster(ingress_gateway_id=f.APPGW, **cluster_kw),
                       tables=[f.route_table(SHARED, (), [f.NODE_SUBNET, f.APPGW_SUBNET])])
    return _with(snap, f.subnet(f.NODE_SUBNET, f.NODE_PREFIX, f.table_id(SHARED)),
                 f.subnet(f.APPGW_SUBNET, f.APPGW_PREFIX, f.table_id(SHARED)))


@pytest.mark.parametrize(
    ("settings_kw", "cluster_kw", "written", "refused"),
    [
        pytest.param({}, {}, ["rmd-p2s-172-16-201-0-24"], ["rmd-aks-10-1-0-0-22", "rmd-appgw-10-1-4-0-24"],
                     id="own-ranges-refused-per-table"),
        pytest.param({"force_default_route": True}, {}, ["rmd-p2s-172-16-201-0-24"],
                     ["rmd-default", "rmd-aks-10-1-0-0-22", "rmd-appgw-10-1-4-0-24"],
                     id="no-default-on-a-table-shared-with-a-v2-gateway"),
        pytest.param({}, {"outbound_type": "userDefinedRouting"}, ["rmd-p2s-172-16-201-0-24"],
                     ["rmd-default", "rmd-aks-10-1-0-0-22", "rmd-appgw-10-1-4-0-24"], id="udr-cluster"),
    ],
)
def test_a_table_shared_by_node_and_gateway_subnets_never_routes_their_ranges(
        settings_kw: dict, cluster_kw: dict, written: list[str], refused: list[str]) -> None:
    changes, conflicts = _cluster_plan(_shared_table_snapshot(**cluster_kw), f.settings(**settings_kw))
    assert sorted(_names(changes)) == sorted(written)
    refused_names = sorted(c.address.rsplit("/", 1)[-1] for c in conflicts
                           if c.blocking and c.kind is ChangeKind.ROUTE)
    assert refused_names == sorted(refused)


def test_a_table_with_an_unobserved_subnet_is_not_written() -> None:
    other = f"{f.VNET}/subnets/unknown"
    snap = f.hub_spoke(node_table=RT_NODES, tables=[f.route_table(RT_NODES, (), [f.NODE_SUBNET, other])])
    changes, conflicts = _cluster_plan(snap)
    assert not [c for c in _writes(changes) if RT_NODES in c.address]
    assert any(c.blocking and "not observed" in c.message and c.address.endswith(RT_NODES) for c in conflicts)


# --------------------------------------------------------------------------------------------- 3: spokes


@pytest.mark.parametrize(
    ("spoke", "severity", "fragment"),
    [
        pytest.param("10.1.0.0/16", Severity.CONFLICT, "SPOKE_PREFIXES entry 10.1.0.0/16 covers", id="covers"),
        pytest.param("10.1.0.0/22", Severity.CONFLICT, "covers", id="equals"),
        pytest.param("10.1.1.0/24", Severity.NOTE, "overlaps the local range", id="inside"),
        pytest.param("10.0.0.0/16", Severity.NOTE, "firewall's own address", id="holds-firewall-ip"),
    ],
)
def test_a_spoke_prefix_in_the_way_is_reported_not_silently_dropped(
        spoke: str, severity: Severity, fragment: str) -> None:
    snap = f.hub_spoke(with_appgw=False, with_vpn=False)
    changes, conflicts = _cluster_plan(snap, f.settings(spoke_prefixes=(spoke,)))
    assert _names(changes) == []  # nothing to route: the one candidate was left out
    (report,) = [c for c in conflicts if fragment in c.message]
    assert report.severity is severity


# --------------------------------------------------------------------------------------------- 4: IPv6


def _dual_stack() -> Snapshot:
    snap = f.hub_spoke()
    return _with(snap, ObservedSubnet(f.NODE_SUBNET, "aks-nodes", (f.NODE_PREFIX, "fd00:1::/64"), "westeurope"),
                 ObservedSubnet(f.APPGW_SUBNET, "appgw", (f.APPGW_PREFIX, "fd00:4::/64"), "westeurope"))


def test_dual_stack_subnets_get_their_ipv4_routes_and_a_note() -> None:
    changes, conflicts = _cluster_plan(_dual_stack())
    prefixes = {route.address_prefix for _, route in plan.created_routes(changes)}
    assert prefixes and not any(":" in p for p in prefixes)
    assert {"10.1.4.0/24", "10.1.0.0/22"} <= prefixes
    notes = [c for c in conflicts if c.severity is Severity.NOTE and "dual-stack" in c.message]
    assert {n.address for n in notes} == {f.NODE_SUBNET, f.APPGW_SUBNET}
    assert not [c for c in conflicts if c.blocking]


def test_no_ipv6_in_firewall_rules() -> None:
    snap = dataclasses.replace(_dual_stack(), vpn_gateways=(
        dataclasses.replace(f.hub_spoke().vpn_gateways[0], p2s_prefixes=(f.P2S_PREFIX, "fd00:99::/64")),))
    collections, _ = desired.desired_rule_collections(snap, f.settings())
    addresses = [a for c in collections for r in c.rules for a in (*r.source_addresses, *r.destination_addresses)]
    assert addresses and not any(":" in a for a in addresses)


# --------------------------------------------------------------------------------------------- 5: limits


def test_a_table_over_400_routes_is_a_plan_error_and_nothing_is_written() -> None:
    foreign = [f.fw_route(f"corp-{i}", f"172.20.{i // 256}.{i % 256}/32") for i in range(399)]
    snap = f.hub_spoke(node_table=RT_NODES, tables=[f.route_table(RT_NODES, foreign, [f.NODE_SUBNET])])
    changes, conflicts = _cluster_plan(snap)
    assert _writes(changes) == []
    (error,) = [c for c in conflicts if c.severity is Severity.ERROR]
    assert "400" in error.message and error.address.endswith(RT_NODES)
    p = plan.build_plan("t", changes, conflicts, ())
    assert p.errors and p.summary()["conflict"] == 1 and not p.has_changes


def test_a_table_at_exactly_400_routes_is_fine() -> None:
    foreign = [f.fw_route(f"corp-{i}", f"172.20.{i // 256}.{i % 256}/32") for i in range(398)]
    snap = f.hub_spoke(node_table=RT_NODES, tables=[f.route_table(RT_NODES, foreign, [f.NODE_SUBNET])])
    changes, conflicts = _cluster_plan(snap)
    added = [c for c in _writes(changes) if c.kind is ChangeKind.ROUTE and RT_NODES in c.address]
    assert len(added) == 2  # the App Gateway subnet and the P2S pool
    assert 398 + len(added) == guards.MAX_ROUTES_PER_TABLE
    assert not [c for c in conflicts if c.severity is Severity.ERROR]


def _big_collection(rules: int) -> RuleCollection:
    return RuleCollection("rmd-egress", 200, "Allow", tuple(
        NetworkRule(f"cluster-{i:05d}-" + "x" * 40, ("TCP", "UDP"), (f"10.{i // 256}.{i % 256}.0/24",),
                    ("AzureCloud",), ("443",)) for i in range(rules)))


@pytest.mark.parametrize(("rules", "groups"), [(10, 1), (12_000, 3)])
def test_a_fleet_past_the_shard_threshold_is_split_before_it_reaches_the_limit(rules: int, groups: int) -> None:
    changes, reports = plan.plan_firewall_checked(f.hub_spoke(), (_big_collection(rules),), f.settings())
    assert not [r for r in reports if r.severity is Severity.ERROR]
    assert len(changes) == groups and all(c.action is Action.CREATE for c in changes)
    sizes = [plan.group_size_bytes(arm_shapes.after(c) or {}) for c in changes]
    assert max(sizes) <= f.settings().rule_collection_group_shard_bytes < plan.GROUP_SIZE_LIMIT_BYTES


def test_a_group_over_the_size_limit_is_an_error_and_nothing_is_written() -> None:
    # One rule alone larger than a group may be: no shard can take it.
    sources = tuple(f"10.{i // 65536}.{i // 256 % 256}.{i % 256}/32" for i in range(150_000))
    huge = RuleCollection("rmd-egress", 200, "Allow", (NetworkRule("all", ("TCP",), sources, ("AzureCloud",),
                                                                   ("443",)),))
    changes, reports = plan.plan_firewall_checked(f.hub_spoke(), (huge,), f.settings())
    errors = [r for r in reports if r.severity is Severity.ERROR]
    assert changes == () and errors and "byte limit" in errors[0].message


# --------------------------------------------------------------------------------------------- 6: names


def test_long_subnet_names_give_distinct_stable_table_names() -> None:
    head = "s" * 90
    a = f.subnet(f"{f.VNET}/subnets/{head}-a", f.NODE_PREFIX)
    b = f.subnet(f"{f.VNET}/subnets/{head}-b", f.POD_PREFIX)
    name_a, name_b = (plan.route_table_name_for(s, f.settings()) for s in (a, b))
    assert name_a != name_b and len(name_a) == len(name_b) == 80
    assert name_a[-1].isalnum() and name_a.startswith("rmd-spoke-vnet-")
    upper = f.subnet(a.id.replace("/subscriptions/", "/SUBSCRIPTIONS/").replace("resourceGroups", "resourcegroups"),
                     f.NODE_PREFIX)
    assert plan.route_table_name_for(upper, f.settings()) == name_a  # any casing of the id: the same name
    short = f.subnet(f.NODE_SUBNET, f.NODE_PREFIX)
    assert plan.route_table_name_for(short, f.settings()) == "rmd-spoke-vnet-aks-nodes"  # unchanged when it fits


def test_long_owned_prefix_route_names_stay_unique_and_bounded() -> None:
    s = f.settings(ownership_prefix="rmd-" + "p" * 36)
    names = {desired.route_name(s, "appgw", p) for p in ("10.1.4.0/24", "10.1.4.0/25", "10.1.40.0/24")}
    assert len(names) == 3 and all(len(n) <= 80 for n in names)


# --------------------------------------------------------------------------------------------- 11: foreign


FOREIGN = RuleCollection("team-allow-dns", 400, "Allow",
                         (NetworkRule("dns", ("UDP",), ("10.1.0.0/22",), ("10.0.0.53",), ("53",)),))
OWNED = RuleCollection("rmd-egress", 200, "Allow",
                       (NetworkRule("aks1", ("TCP",), ("10.1.0.0/22",), ("AzureCloud",), ("443",)),))


def _group(*collections: RuleCollection) -> ObservedRuleCollectionGroup:
    return ObservedRuleCollectionGroup(f"{f.POLICY}/ruleCollectionGroups/rmd-aks-runbook", "rmd-aks-runbook", 250,
                                       collections)


@pytest.mark.parametrize(
    ("group", "wanted", "action"),
    [
        pytest.param(_group(OWNED, FOREIGN), (OWNED,), Action.NOOP, id="kept-noop"),
        pytest.param(_group(FOREIGN), (OWNED,), Action.UPDATE, id="owned-added-foreign-kept"),
        pytest.param(_group(OWNED, FOREIGN), (), Action.UPDATE, id="no-cluster-left-group-stays-for-foreign"),
        pytest.param(_group(FOREIGN), (), Action.NOOP, id="only-foreign-nothing-to-do"),
    ],
)
def test_foreign_collections_in_the_owned_group_are_carried_over(group, wanted, action: Action) -> None:
    changes, reports = plan.plan_firewall_checked(f.hub_spoke(rcg=group), wanted, f.settings())
    (change,) = changes
    assert change.action is action
    written = arm_shapes.after(change)
    assert written is not None
    names = [c["name"] for c in written["ruleCollections"]]
    assert "team-allow-dns" in names
    kept = next(c for c in written["ruleCollections"] if c["name"] == "team-allow-dns")
    assert kept == plan.rule_collections_to_arm([FOREIGN])[0]
    assert [r.severity for r in reports] == [Severity.NOTE] and "foreign" in reports[0].message


# --------------------------------------------------------------------------------------------- 2: partial


# A per-cluster network egress rule (EGRESS_PROFILE=custom for a cluster whose egress the firewall sees):
# the rule these "keep what still carries traffic" cases check (remediation/planning/egress.py).
EGRESS_RULE = {"egress_profile": "custom", "force_default_route": True,
               "egress_destinations": ("AzureCloud.westeurope",)}


def _gateway_deleted() -> Snapshot:
    snap = f.hub_spoke(with_appgw=False, tables=[
        f.route_table(RT_NODES, [f.fw_route("rmd-appgw-10-1-4-0-24", f.APPGW_PREFIX),
                                 f.fw_route("rmd-p2s-172-16-201-0-24", f.P2S_PREFIX)], [f.NODE_SUBNET]),
        f.route_table("rmd-spoke-vnet-appgw", [f.fw_route("rmd-aks-10-1-0-0-22", f.NODE_PREFIX)],
                      [f.APPGW_SUBNET], owned=True),
    ])
    return dataclasses.replace(
        _with(snap, f.subnet(f.NODE_SUBNET, f.NODE_PREFIX, f.table_id(RT_NODES)),
              f.subnet(f.APPGW_SUBNET, f.APPGW_PREFIX, f.table_id("rmd-spoke-vnet-appgw"))),
        clusters={f.CLUSTER.lower(): f.cluster(ingress_gateway_id=f.APPGW)},
        absent=frozenset({f.APPGW.lower()}))


def test_deleted_gateway_keeps_the_egress_rule_and_drops_only_the_ingress_part() -> None:
    snap = _gateway_deleted()
    assert desired.check_cluster(snap, f.CLUSTER, f.settings()) is None
    collections, skips = desired.desired_rule_collections(snap, f.settings(**EGRESS_RULE))
    assert {c.name for c in collections} == {"rmd-egress", "rmd-p2s"} and skips == ()
    changes, conflicts = _cluster_plan(snap, prune=True)
    deleted = _names(changes, Action.DELETE)
    assert sorted(deleted) == ["rmd-aks-10-1-0-0-22", "rmd-appgw-10-1-4-0-24"]
    assert "rmd-p2s-172-16-201-0-24" not in deleted  # the egress part the cluster still needs
    assert any("not found (deleted)" in c.message and not c.blocking for c in conflicts)


def test_deleted_vpn_gateway_removes_only_the_p2s_part() -> None:
    snap = dataclasses.replace(_gateway_deleted(), vpn_gateways=())
    collections, _ = desired.desired_rule_collections(snap, f.settings(**EGRESS_RULE))
    assert {c.name for c in collections} == {"rmd-egress"}
    changes, _ = _cluster_plan(snap, prune=True)
    assert "rmd-p2s-172-16-201-0-24" in _names(changes, Action.DELETE)


@pytest.mark.parametrize(
    "gateway",
    [
        pytest.param(f.appgw(sku_name="Standard_Medium", sku_tier="Standard"), id="v1"),
        pytest.param(f.appgw(sku_name="Basic_v2", sku_tier="Basic_v2"), id="basic-v2"),
    ],
)
def test_a_failing_ingress_part_keeps_the_cluster_egress_rule(gateway) -> None:
    snap = f.hub_spoke(gateway=gateway)
    collections, skips = desired.desired_rule_collections(snap, f.settings(**EGRESS_RULE))
    egress = next(c for c in collections if c.name == "rmd-egress")
    assert [r.name for r in egress.rules] == ["aks1"]
    assert "rmd-ingress" not in {c.name for c in collections}
    assert "egress rule kept" in skips[0].reason


HELD_INGRESS = NetworkRule("aks1", ("TCP",), (f.APPGW_PREFIX,), (f.NODE_PREFIX,), ("80", "443"))


def _with_held_ingress(snap: Snapshot) -> Snapshot:
    """The owned group as an earlier run left it: the cluster's ingress rule is in place."""
    name = f.settings().rule_collection_group
    group = ObservedRuleCollectionGroup(f"{f.POLICY}/ruleCollectionGroups/{name}", name, 250,
                                        (RuleCollection("rmd-ingress", 210, "Allow", (HELD_INGRESS,)),))
    return dataclasses.replace(snap, firewall=snap.firewall or f.firewall(), rule_collection_group=group)


def _without_gateway_subnet(snap: Snapshot) -> Snapshot:
    return dataclasses.replace(snap, subnets={k: v for k, v in snap.subnets.items()
                                              if k != f.APPGW_SUBNET.lower()})


def _without_gateway(snap: Snapshot) -> Snapshot:
    return dataclasses.replace(snap, app_gateways={})


@pytest.mark.parametrize("snap", [
    pytest.param(f.hub_spoke(gateway=f.appgw(sku_name="Standard_Medium", sku_tier="Standard")), id="v1"),
    pytest.param(f.hub_spoke(gateway=f.appgw(sku_name="Basic_v2", sku_tier="Basic_v2")), id="basic-v2"),
    pytest.param(_without_gateway_subnet(f.hub_spoke()), id="gateway subnet not observed"),
    pytest.param(_without_gateway(f.hub_spoke()), id="gateway not observed"),
])
def test_an_ingress_rule_in_place_stays_when_its_ingress_part_cannot_be_planned(snap: Snapshot) -> None:
    """Never remove what may still carry traffic: the group PUT replaces the group, so a rule left out of
    the desired set is deleted. Unless the gateway is known to be gone, the rule in place is kept as it is."""
    collections, skips = desired.desired_rule_collections(_with_held_ingress(snap), f.settings(**EGRESS_RULE))
    ingress = next(c for c in collections if c.name == "rmd-ingress")
    assert ingress.rules == (HELD_INGRESS,)
    (skip,) = [k for k in skips if k.target == f.CLUSTER]
    assert skip.reason.endswith("(egress rule kept, ingress rule kept as it is)")
    # Nothing in place: nothing is invented for it.
    collections, _ = desired.desired_rule_collections(snap, f.settings(**EGRESS_RULE))
    assert "rmd-ingress" not in {c.name for c in collections}


def test_the_ingress_rule_of_a_gateway_confirmed_deleted_goes() -> None:
    collections, _ = desired.desired_rule_collections(_with_held_ingress(_gateway_deleted()),
                                                      f.settings(**EGRESS_RULE))
    assert "rmd-ingress" not in {c.name for c in collections}


# --------------------------------------------------------------------------------------------- 12: summary


def test_summary_counts_blocking_conflicts_not_notes() -> None:
    from remediation.core.model import Conflict
    p = Plan("t", conflicts=(Conflict(ChangeKind.ROUTE, "a", "refused", Severity.CONFLICT),
                             Conflict(ChangeKind.ROUTE, "b", "fyi", Severity.NOTE),
                             Conflict(ChangeKind.ROUTE_TABLE, "c", "limit", Severity.ERROR)))
    assert p.summary() == {"create": 0, "update": 0, "delete": 0, "noop": 0, "conflict": 2}
    assert p.errors == ("c: limit",)
    assert [c.address for c in p.notes] == ["b"]


def test_a_sweep_removes_an_owned_route_from_a_platform_subnet_table() -> None:
    """An earlier version wrote rmd-default on AzureFirewallSubnet: a sweep takes it away again."""
    fw_table = f.route_table("rmd-hub-AzureFirewallSubnet", [f.fw_route("rmd-default", "0.0.0.0/0")],
                             [FW_SUBNET], owned=True)
    snap = _with(f.hub_spoke(tables=[fw_table]), f.subnet(FW_SUBNET, "10.0.1.0/26", fw_table.id))
    wanted = desired.desired_prepared_subnet(snap, FW_SUBNET, f.settings())
    assert not isinstance(wanted, Skip)
    changes, conflicts = plan.plan_routes(snap, (wanted,), f.settings(), prune=True)
    assert _names(changes, Action.DELETE) == ["rmd-default"]
    assert _names(changes) == [] and any(c.blocking for c in conflicts)


def test_a_table_refused_for_an_unobserved_subnet_gets_no_delete_either() -> None:
    other = f"{f.VNET}/subnets/unknown"
    table = f.route_table(RT_NODES, [f.fw_route("rmd-spoke-10-9-0-0-16", "10.9.0.0/16")], [f.NODE_SUBNET, other])
    snap = f.hub_spoke(node_table=RT_NODES, tables=[table])
    changes, _ = _cluster_plan(snap, prune=True)
    assert [c for c in changes if RT_NODES in c.address and c.action is not Action.NOOP] == []


def test_long_cluster_names_give_bounded_distinct_rule_names() -> None:
    long = "a" * 63
    one = f.cluster(name=long, id=f.CLUSTER.replace("aks1", long), ingress_gateway_id=None)
    two = f.cluster(name=long, id=f"{f.HUB_RG}/providers/Microsoft.ContainerService/managedClusters/{long}",
                    ingress_gateway_id=None)
    snap = f.snapshot([one, two], [f.subnet(f.NODE_SUBNET, f.NODE_PREFIX)], fw=f.firewall())
    collections, _ = desired.desired_rule_collections(snap, f.settings(**EGRESS_RULE))
    names = [r.name for r in collections[0].rules]
    assert len(set(names)) == 2 and all(len(n) <= 80 for n in names)
