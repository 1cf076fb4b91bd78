"""compliance.assess: one table of topologies -> per-cluster state and what each line says (pure)."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import pytest

from remediation.core.ids import id_key
from remediation.core.model import ObservedRuleCollectionGroup, Route, RuleCollection, Skip, Snapshot
from remediation.planning import compliance, desired, shards
from remediation.planning.compliance import ComplianceState
from tests.core import factories as f

# The custom egress profile keeps one network egress rule per cluster (remediation/planning/egress.py), which the
# rule cases below edit; the default profile's application rule has its own case.
SETTINGS = f.settings(egress_profile="custom", force_default_route=True,
                      egress_destinations=("AzureCloud.westeurope",))
GROUP_ID = f"{f.POLICY}/ruleCollectionGroups/rmd-aks-runbook"
SECOND = f"{f.RG}/providers/Microsoft.ContainerService/managedClusters/aks2"
SECOND_SUBNET = f"{f.VNET}/subnets/aks2-nodes"


def converged(base: Snapshot) -> Snapshot:
    """`base` with every route, association and rule the runbook wants already in place."""
    tables = dict(base.route_tables)
    subnets = dict(base.subnets)
    for key in sorted(base.clusters):
        wanted = desired.desired_cluster_routes(base, base.clusters[key].id, SETTINGS)
        if isinstance(wanted, Skip):
            continue
        for item in wanted:
            subnet = subnets[id_key(item.subnet_id)]
            name = f"rt-{subnet.name}"
            table = tables.get(id_key(f.table_id(name))) or f.route_table(name, subnets=(subnet.id,))
            merged = {r.name: r for r in (*table.routes, *item.routes)}
            tables[id_key(table.id)] = dataclasses.replace(table, routes=tuple(merged.values()))
            subnets[id_key(subnet.id)] = dataclasses.replace(subnet, route_table_id=table.id)
    done = dataclasses.replace(base, route_tables=tables, subnets=subnets)
    collections, _ = desired.desired_rule_collections(done, SETTINGS)
    group = ObservedRuleCollectionGroup(GROUP_ID, "rmd-aks-runbook", 250, collections)
    return dataclasses.replace(done, rule_collection_group=group)


def with_route(snapshot: Snapshot, table: str, route: Route | None, drop: str | None = None) -> Snapshot:
    tables = dict(snapshot.route_tables)
    key = id_key(f.table_id(table))
    routes = [r for r in tables[key].routes if r.name != drop and (route is None or r.name != route.name)]
    tables[key] = dataclasses.replace(tables[key], routes=(*routes, *([route] if route else [])))
    return dataclasses.replace(snapshot, route_tables=tables)


def edit_egress_rule(snapshot: Snapshot) -> Snapshot:
    group = snapshot.rule_collection_group
    assert group is not None
    collections = []
    for collection in group.rule_collections:
        rules = tuple(dataclasses.replace(r, destination_ports=("443",)) if collection.name == "rmd-egress" else r
                      for r in collection.rules)
        collections.append(RuleCollection(collection.name, collection.priority, collection.action, rules))
    return dataclasses.replace(snapshot, rule_collection_group=dataclasses.replace(
        group, rule_collections=tuple(collections)))


def two_clusters() -> Snapshot:
    base = f.hub_spoke()
    second = f.cluster(id=SECOND, name="aks2", node_subnet_ids=(SECOND_SUBNET,))
    return dataclasses.replace(
        base, clusters={**base.clusters, id_key(SECOND): second},
        subnets={**base.subnets, id_key(SECOND_SUBNET): f.subnet(SECOND_SUBNET, "10.1.12.0/24")})


def without_rule_of(snapshot: Snapshot, cluster: str) -> Snapshot:
    group = snapshot.rule_collection_group
    assert group is not None
    collections = tuple(RuleCollection(c.name, c.priority, c.action, tuple(r for r in c.rules if r.name != cluster))
                        for c in group.rule_collections)
    return dataclasses.replace(snapshot, rule_collection_group=dataclasses.replace(group, rule_collections=collections))


Case = tuple[Callable[[], Snapshot], dict[str, ComplianceState], str]
CASES: dict[str, Case] = {
    "converged": (lambda: converged(f.hub_spoke()), {"aks1": ComplianceState.COMPLIANT}, ""),
    "route-missing": (lambda: with_route(converged(f.hub_spoke()), "rt-aks-nodes", None,
                                         drop="rmd-appgw-10-1-4-0-24"),
                      {"aks1": ComplianceState.NON_COMPLIANT},
                      "route rmd-appgw-10-1-4-0-24 (10.1.4.0/24 -> VirtualAppliance 10.0.1.4) is missing on route "
                      "table rt-aks-nodes"),
    "route-drift": (lambda: with_route(converged(f.hub_spoke()), "rt-aks-nodes",
                                       f.fw_route("rmd-appgw-10-1-4-0-24", f.APPGW_PREFIX, "10.0.1.5")),
                    {"aks1": ComplianceState.NON_COMPLIANT},
                    "route rmd-appgw-10-1-4-0-24 on route table rt-aks-nodes is 10.1.4.0/24 -> VirtualAppliance "
                    "10.0.1.5; needs 10.1.4.0/24 -> VirtualAppliance 10.0.1.4"),
    "no-association": (lambda: f.hub_spoke(), {"aks1": ComplianceState.NON_COMPLIANT},
                       "subnet aks-nodes is not associated with route table rmd-spoke-vnet-aks-nodes"),
    "rule-edited": (lambda: edit_egress_rule(converged(f.hub_spoke())), {"aks1": ComplianceState.NON_COMPLIANT},
                    "firewall rule rmd-egress/aks1 is TCP,UDP 10.1.0.0/22 -> AzureCloud.westeurope ports 443; "
                    "the runbook needs TCP,UDP 10.1.0.0/22 -> AzureCloud.westeurope ports 123,443,1194,9000"),
    "foreign-route-in-the-way": (
        lambda: with_route(converged(f.hub_spoke()), "rt-aks-nodes", Route("to-appgw", f.APPGW_PREFIX, "None"),
                           drop="rmd-appgw-10-1-4-0-24"),
        {"aks1": ComplianceState.CONFLICTED}, "foreign route to-appgw sends 10.1.4.0/24 to None"),
    "kubenet": (lambda: f.hub_spoke(aks=f.cluster(network_plugin="kubenet", network_plugin_mode=None)),
                {"aks1": ComplianceState.SKIPPED}, "network plugin kubenet"),
    "v1-gateway": (lambda: f.hub_spoke(aks=f.cluster(ingress_gateway_id=f.APPGW),
                                       gateway=f.appgw(sku_name="Standard_Medium", sku_tier="Standard")),
                   {"aks1": ComplianceState.SKIPPED}, "(v1): the runbook needs a V2 gateway"),
    "aks-managed-vnet": (lambda: f.hub_spoke(aks=f.cluster(node_subnet_ids=(), pools_without_subnet=("np1",))),
                         {"aks1": ComplianceState.SKIPPED}, "AKS-managed VNet"),
    "still-updating": (lambda: f.hub_spoke(aks=f.cluster(provisioning_state="Updating")),
                       {"aks1": ComplianceState.SKIPPED}, "provisioningState is still Updating"),
    "other-cluster-missing-its-rule": (
        lambda: without_rule_of(converged(two_clusters()), "aks2"),
        {"aks1": ComplianceState.COMPLIANT, "aks2": ComplianceState.NON_COMPLIANT},
        "firewall rule rmd-egress/aks2 is missing"),
}


@pytest.mark.parametrize(("build", "states", "line"), CASES.values(), ids=CASES.keys())
def test_each_cluster_gets_its_state_and_says_why(build: Callable[[], Snapshot], states: dict[str, ComplianceState],
                                                  line: str) -> None:
    report = compliance.assess(build(), SETTINGS, scope="s")
    assert {c.name: c.state for c in report.clusters} == states
    said = [text for c in report.clusters for text in (*c.missing, *c.conflicts, *([c.reason] if c.reason else []))]
    if line:
        assert any(line in text for text in said), said
    else:
        assert said == []
    not_ok = {ComplianceState.NON_COMPLIANT, ComplianceState.CONFLICTED}
    assert report.compliant is (not any(s in not_ok for s in states.values())
                                and report.firewall.state is not ComplianceState.NON_COMPLIANT)
    assert sum(report.counts().values()) == len(states)


def test_a_compliant_cluster_has_nothing_missing_and_the_group_is_compliant() -> None:
    report = compliance.assess(converged(f.hub_spoke()), SETTINGS, scope="s")
    (cluster,) = report.clusters
    assert (cluster.missing, cluster.conflicts, cluster.reason) == ((), (), None)
    assert report.firewall.state is ComplianceState.COMPLIANT and report.firewall.address == GROUP_ID
    assert report.compliant


def test_a_stale_collection_in_the_group_is_the_firewall_gap_not_a_clusters() -> None:
    snapshot = converged(f.hub_spoke())
    group = snapshot.rule_collection_group
    assert group is not None
    stale = RuleCollection("rmd-old", 300, "Allow", ())
    snapshot = dataclasses.replace(snapshot, rule_collection_group=dataclasses.replace(
        group, rule_collections=(*group.rule_collections, stale)))
    report = compliance.assess(snapshot, SETTINGS, scope="s")
    assert [c.state for c in report.clusters] == [ComplianceState.COMPLIANT]
    assert report.firewall.state is ComplianceState.NON_COMPLIANT
    assert report.firewall.missing == ("rule collection group rmd-aks-runbook differs from the runbook",)
    assert not report.compliant


def test_without_a_firewall_every_cluster_is_skipped_and_the_firewall_too() -> None:
    snapshot = dataclasses.replace(f.hub_spoke(), firewall=None)
    report = compliance.assess(snapshot, SETTINGS, scope="s")
    assert [(c.state, c.reason) for c in report.clusters] == [
        (ComplianceState.SKIPPED, "firewall not found: the runbook needs a firewall to route through")]
    assert report.firewall.state is ComplianceState.SKIPPED and report.firewall.reason
    assert report.counts() == {"compliant": 0, "non-compliant": 0, "skipped": 1, "conflicted": 0}


def test_the_default_profile_application_rule_is_part_of_compliance() -> None:
    """EGRESS_PROFILE=aks-required: a userDefinedRouting cluster needs its FQDN-tag application rule; a group
    without it is non-compliant, naming the rule."""
    settings = f.settings()
    base = f.hub_spoke(aks=f.cluster(outbound_type="userDefinedRouting"))
    routed = converged(base)  # routes and associations in place (rules of SETTINGS replaced below)
    collections, _ = desired.desired_rule_collections(routed, settings)
    assert any(c.is_application for c in collections)
    full = dataclasses.replace(routed, rule_collection_group=ObservedRuleCollectionGroup(
        GROUP_ID, "rmd-aks-runbook", 250, collections))
    without = dataclasses.replace(routed, rule_collection_group=ObservedRuleCollectionGroup(
        GROUP_ID, "rmd-aks-runbook", 250, tuple(c for c in collections if not c.is_application)))
    compliant = compliance.assess(full, settings, scope="s")
    missing = compliance.assess(without, settings, scope="s")
    assert [c.state for c in compliant.clusters] == [ComplianceState.COMPLIANT]
    assert [c.state for c in missing.clusters] == [ComplianceState.NON_COMPLIANT]
    assert any("rmd-egress-fqdn/aks1 is missing" in gap and "fqdnTags AzureKubernetesService" in gap
               for gap in missing.clusters[0].missing)


def _sharded(snapshot: Snapshot) -> Snapshot:
    """The converged group split one rule per shard (a threshold smaller than any rule)."""
    group = snapshot.rule_collection_group
    assert group is not None
    planned = shards.assign_shards(group.rule_collections, (), base_name=group.name, base_priority=250,
                                   capacity_bytes=1, owns_name=SETTINGS.owns_name)
    groups = [ObservedRuleCollectionGroup(f"{f.POLICY}/ruleCollectionGroups/{s.name}", s.name, s.priority,
                                          s.collections) for s in planned]
    return dataclasses.replace(snapshot, rule_collection_group=groups[0], rule_collection_shards=tuple(groups[1:]),
                               policy_group_priorities={g.name: g.priority for g in groups})


def test_rules_spread_over_shards_are_compliant_and_a_missing_shard_is_a_gap() -> None:
    snapshot = _sharded(converged(f.hub_spoke()))
    assert len(snapshot.owned_groups) >= 3
    report = compliance.assess(snapshot, SETTINGS, scope="s")
    assert [c.state for c in report.clusters] == [ComplianceState.COMPLIANT]
    assert report.firewall.state is ComplianceState.COMPLIANT
    assert report.firewall.size is not None
    assert report.firewall.size.startswith(f"{len(snapshot.owned_groups)} owned groups")
    lost = snapshot.rule_collection_shards[-1]
    gone = dataclasses.replace(snapshot, rule_collection_shards=snapshot.rule_collection_shards[:-1])
    report = compliance.assess(gone, SETTINGS, scope="s")
    (cluster,) = report.clusters
    assert cluster.state is ComplianceState.NON_COMPLIANT
    missing = {f"{c.name}/{name}" for c in lost.rule_collections
               for name in (*(r.name for r in c.rules), *(r.name for r in c.application_rules))}
    assert any(m in line for m in missing for line in cluster.missing)
def test_a_missing_table_lists_each_route_it_is_created_with() -> None:
    from remediation.core.model import Action, Change, ChangeKind, Route, RouteTablePayload
    from remediation.planning.compliance import describe_change_lines

    table_id = "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Network/routeTables/rmd-t"
    payload = RouteTablePayload("westeurope", {}, routes=(Route("rmd-default", "0.0.0.0/0", "VirtualAppliance",
                                                                "10.0.1.4"),))
    lines = describe_change_lines(Change(Action.CREATE, ChangeKind.ROUTE_TABLE, table_id, None, payload, "r"))
    assert lines == ("route table rmd-t does not exist",
                     "route rmd-default (0.0.0.0/0 -> VirtualAppliance 10.0.1.4) is missing on route table rmd-t")
