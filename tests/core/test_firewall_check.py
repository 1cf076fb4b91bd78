"""When a routing target may leave out its firewall follow-up (remediation/planning/firewall_check.py).

The observed group is always built by the firewall target's own planner from a two-cluster fleet, then
changed the way drift, a changed cluster or a half-finished write would change it. Leaving the follow-up out
is only right when the answer is certain; every other case must give a reason (the follow-up then runs).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import pytest

from remediation.core.model import (
    NetworkRule,
    ObservedCluster,
    ObservedRuleCollectionGroup,
    ObservedVpnGateway,
    RuleCollection,
    Snapshot,
)
from remediation.planning import desired, firewall_check
from tests.core import factories as f

SETTINGS = f.settings()
GROUP_ID = f"{f.POLICY}/ruleCollectionGroups/{SETTINGS.rule_collection_group}"
OTHER_NODES = f"{f.VNET}/subnets/aks2-nodes"
OTHER_PREFIX = "10.1.12.0/22"
UDR = {"outbound_type": "userDefinedRouting"}


def _aks1(**overrides: object) -> ObservedCluster:
    return f.cluster(**({"ingress_gateway_id": f.APPGW} | UDR | overrides))


def _aks2(**overrides: object) -> ObservedCluster:
    base = f.cluster(id=f.CLUSTER.replace("aks1", "aks2"), name="aks2", node_subnet_ids=(OTHER_NODES,), **UDR)
    return dataclasses.replace(base, **overrides)  # type: ignore[arg-type]


def _world(clusters: list[ObservedCluster], rcg: ObservedRuleCollectionGroup | None = None,
           absent: tuple[str, ...] = ()) -> Snapshot:
    return f.snapshot(
        clusters=clusters,
        subnets=[f.subnet(f.NODE_SUBNET, f.NODE_PREFIX), f.subnet(OTHER_NODES, OTHER_PREFIX),
                 f.subnet(f.APPGW_SUBNET, f.APPGW_PREFIX)],
        gateways=[f.appgw()], vpns=[ObservedVpnGateway(f.VPN, "vpn", (f.P2S_PREFIX,))], fw=f.firewall(),
        rcg=rcg, absent=absent)


def _group(collections: tuple[RuleCollection, ...], **overrides: object) -> ObservedRuleCollectionGroup:
    base = ObservedRuleCollectionGroup(GROUP_ID, SETTINGS.rule_collection_group,
                                       SETTINGS.rule_collection_group_priority, collections)
    return dataclasses.replace(base, **overrides)  # type: ignore[arg-type]


def _converged_group(fleet: list[ObservedCluster]) -> ObservedRuleCollectionGroup:
    """What the firewall target writes for `fleet`."""
    collections, _ = desired.desired_rule_collections(_world(fleet), SETTINGS)
    return _group(collections)


FLEET = [_aks1(), _aks2()]


def _edit_rules(group: ObservedRuleCollectionGroup, edit: Callable[[RuleCollection], RuleCollection]
                ) -> ObservedRuleCollectionGroup:
    return dataclasses.replace(group, rule_collections=tuple(edit(c) for c in group.rule_collections))


def _drop_rule(name: str) -> Callable[[ObservedRuleCollectionGroup], ObservedRuleCollectionGroup]:
    def edit(c: RuleCollection) -> RuleCollection:
        return dataclasses.replace(c, rules=tuple(r for r in c.rules if r.name != name),
                                   application_rules=tuple(r for r in c.application_rules if r.name != name))
    return lambda g: _edit_rules(g, edit)


def _p2s_without(prefix: str) -> Callable[[ObservedRuleCollectionGroup], ObservedRuleCollectionGroup]:
    def edit(c: RuleCollection) -> RuleCollection:
        rules = tuple(dataclasses.replace(r, destination_addresses=tuple(a for a in r.destination_addresses
                                                                         if a != prefix))
                      if r.name == "p2s-to-aks" else r for r in c.rules)
        return dataclasses.replace(c, rules=rules)
    return lambda g: _edit_rules(g, edit)


def _widen_ingress_ports(g: ObservedRuleCollectionGroup) -> ObservedRuleCollectionGroup:
    def edit(c: RuleCollection) -> RuleCollection:
        return dataclasses.replace(c, rules=tuple(dataclasses.replace(r, destination_ports=("*",))
                                                  if r.name == "aks1" else r for r in c.rules))
    return _edit_rules(g, edit)


def _foreign_rule_named_like_aks1(g: ObservedRuleCollectionGroup) -> ObservedRuleCollectionGroup:
    stale = NetworkRule("aks1", ("TCP",), (f.APPGW_PREFIX,), (f.NODE_PREFIX,), ("8080",))
    extra = RuleCollection(f"{SETTINGS.ownership_prefix}old", 900, "Allow", (stale,))
    return dataclasses.replace(g, rule_collections=(*g.rule_collections, extra))


@pytest.mark.parametrize(
    ("cluster", "observed", "in_place"),
    [
        pytest.param(_aks1(), _converged_group(FLEET), True, id="converged-fleet"),
        pytest.param(_aks2(), _converged_group(FLEET), True, id="converged-fleet-other-cluster"),
        pytest.param(_aks1(), _converged_group([_aks2()]), False, id="new-cluster-has-no-rules"),
        pytest.param(_aks1(), _drop_rule("aks1-tunnel-udp")(_converged_group(FLEET)), False,
                     id="one-egress-rule-missing"),
        pytest.param(_aks1(), _widen_ingress_ports(_converged_group(FLEET)), False, id="ingress-rule-drifted"),
        pytest.param(_aks1(), _p2s_without(f.NODE_PREFIX)(_converged_group(FLEET)), False,
                     id="p2s-rule-lacks-its-range"),
        pytest.param(_aks1(), _p2s_without(OTHER_PREFIX)(_converged_group(FLEET)), True,
                     id="p2s-rule-lacks-another-clusters-range"),
        pytest.param(_aks1(ingress_gateway_id=None), _converged_group(FLEET), False,
                     id="gateway-removed-ingress-rule-left-over"),
        pytest.param(_aks1(outbound_type="loadBalancer"), _converged_group(FLEET), False,
                     id="egress-left-the-firewall-rules-left-over"),
        pytest.param(_aks1(), _foreign_rule_named_like_aks1(_converged_group(FLEET)), False,
                     id="owned-rule-under-its-name-elsewhere"),
        pytest.param(_aks1(), dataclasses.replace(_converged_group(FLEET), provisioning_state="Failed"), False,
                     id="group-failed"),
        pytest.param(_aks1(), dataclasses.replace(_converged_group(FLEET), provisioning_state="Updating"), False,
                     id="group-updating"),
        pytest.param(_aks1(), dataclasses.replace(_converged_group(FLEET), priority=999), False,
                     id="group-priority-drifted"),
    ],
)
def test_cluster_reason(cluster: ObservedCluster, observed: ObservedRuleCollectionGroup, in_place: bool) -> None:
    # A cluster pass sees its own cluster only.
    reason = firewall_check.cluster_reason(_world([cluster], observed), cluster.id, SETTINGS)
    assert (reason is None) is in_place, reason


def test_group_not_read_is_never_in_place() -> None:
    reason = firewall_check.cluster_reason(_world([_aks1()]), f.CLUSTER, SETTINGS)
    assert reason == "the owned rule collection group was not read"


def test_group_confirmed_missing_needs_the_firewall_run() -> None:
    assert firewall_check.cluster_reason(_world([_aks1()], absent=(GROUP_ID,)), f.CLUSTER, SETTINGS) is not None
    # ... and a fleet that needs no rules at all is in place without a group.
    bare = dataclasses.replace(_world([], absent=(GROUP_ID,)), vpn_gateways=())
    assert firewall_check.fleet_reason(bare, SETTINGS) == (None, ())


def test_clusters_with_the_same_name_match_their_hashed_rule_names() -> None:
    twin = _aks2(name="aks1")  # another resource group would give the same name; here another id suffices
    fleet = [_aks1(), twin]
    group = _converged_group(fleet)
    names = {r.name for c in group.rule_collections for r in c.rules} | {
        r.name for c in group.rule_collections for r in c.application_rules}
    assert "aks1" not in names  # the planner hashed both
    assert firewall_check.cluster_reason(_world([_aks1()], group), f.CLUSTER, SETTINGS) is None
    assert firewall_check.cluster_reason(_world([twin], group), twin.id, SETTINGS) is None


def test_a_deleted_cluster_always_needs_the_firewall_run() -> None:
    reason = firewall_check.cluster_reason(_world([], _converged_group(FLEET), absent=(f.CLUSTER,)), f.CLUSTER,
                                           SETTINGS)
    assert reason == "the cluster is gone: its rules must be removed"


@pytest.mark.parametrize(
    ("fleet", "observed", "in_place"),
    [
        pytest.param(FLEET, _converged_group(FLEET), True, id="converged"),
        pytest.param(FLEET, _p2s_without(OTHER_PREFIX)(_converged_group(FLEET)), False,
                     id="another-clusters-range-missing"),
        pytest.param([_aks1()], _converged_group(FLEET), False, id="a-cluster-was-deleted"),
        pytest.param(FLEET, dataclasses.replace(_converged_group(FLEET), provisioning_state="Failed"), False,
                     id="group-failed"),
    ],
)
def test_fleet_reason(fleet: list[ObservedCluster], observed: ObservedRuleCollectionGroup, in_place: bool) -> None:
    reason, _ = firewall_check.fleet_reason(_world(fleet, observed), SETTINGS)
    assert (reason is None) is in_place, reason


def test_classic_firewall_compares_its_own_collections() -> None:
    group = _converged_group(FLEET)
    classic = f.firewall(policy_id=None, classic_collections=tuple(c for c in group.rule_collections
                                                                   if not c.is_application),
                         classic_application_collections=tuple(c for c in group.rule_collections
                                                               if c.is_application))
    world = dataclasses.replace(_world([_aks1()]), firewall=classic)
    assert firewall_check.cluster_reason(world, f.CLUSTER, SETTINGS) is None
    drifted = dataclasses.replace(world, firewall=dataclasses.replace(classic, classic_application_collections=()))
    assert firewall_check.cluster_reason(drifted, f.CLUSTER, SETTINGS) is not None


def test_rules_spread_over_shards_are_found() -> None:
    """A sharded group holds a collection of the same name in several shards (remediation/planning/shards.py)."""
    whole = _converged_group(FLEET)

    def split(keep_first: bool) -> tuple[RuleCollection, ...]:
        return tuple(dataclasses.replace(c, rules=c.rules[:1] if keep_first else c.rules[1:],
                                         application_rules=c.application_rules[:1] if keep_first
                                         else c.application_rules[1:]) for c in whole.rule_collections)

    head = dataclasses.replace(whole, rule_collections=split(True))
    shard = _group(split(False), id=f"{GROUP_ID}-2", name=f"{SETTINGS.rule_collection_group}-2", priority=251)
    world = dataclasses.replace(_world([_aks2()], head), rule_collection_shards=(shard,))
    assert firewall_check.cluster_reason(world, _aks2().id, SETTINGS) is None
    failed_shard = dataclasses.replace(shard, provisioning_state="Failed")
    failed = dataclasses.replace(world, rule_collection_shards=(failed_shard,))
    assert firewall_check.cluster_reason(failed, _aks2().id, SETTINGS) is not None
    lost = dataclasses.replace(world, rule_collection_shards=())
    assert firewall_check.cluster_reason(lost, _aks2().id, SETTINGS) is not None


@pytest.mark.parametrize(
    ("fleet", "removes"),
    [
        pytest.param(FLEET, False, id="same-rules"),
        pytest.param([_aks1()], True, id="a-cluster-missing-from-the-fleet-loses-its-rules"),
        pytest.param([*FLEET, _aks2(id=f.CLUSTER.replace("aks1", "aks3"), name="aks3")], False,
                     id="a-new-cluster-only-adds"),
    ],
)
def test_removes_anything(fleet: list[ObservedCluster], removes: bool) -> None:
    world = _world(fleet, _converged_group(FLEET))
    collections, _ = desired.desired_rule_collections(world, SETTINGS)
    assert firewall_check.removes_anything(world, collections, SETTINGS) is removes
