"""`sweep --destroy` planning (#25 item 4): exactly the owned objects, in phase order, nothing foreign."""

from __future__ import annotations

import dataclasses

import pytest

from remediation.core.model import (
    Action,
    ChangeKind,
    ClassicCollectionPayload,
    NetworkRule,
    ObservedRuleCollectionGroup,
    RuleCollection,
    RuleCollectionGroupPayload,
    Severity,
    Snapshot,
)
from remediation.planning.destroy import phase, plan_destroy
from tests.core.factories import (
    APPGW_SUBNET,
    NODE_SUBNET,
    POD_SUBNET,
    POLICY,
    firewall,
    fw_route,
    route_table,
    settings,
    snapshot,
    table_id,
)

OTHER_SUB_RG = "/subscriptions/00000000-0000-0000-0000-000000000009/resourceGroups/elsewhere"
RCG = f"{POLICY}/ruleCollectionGroups/aks-egress-remediation"


def _collection(name: str) -> RuleCollection:
    return RuleCollection(name, 100, "Allow", (NetworkRule("r", ("TCP",), ("10.1.0.0/22",), ("*",), ("443",)),))


def _group(*names: str, group_id: str = RCG) -> ObservedRuleCollectionGroup:
    return ObservedRuleCollectionGroup(group_id, group_id.rsplit("/", 1)[-1], 300,
                                       tuple(_collection(n) for n in names), etag="W/\"1\"")


def _addresses(snap: Snapshot) -> list[tuple[str, str, str]]:
    plan = plan_destroy(snap, settings(), "scope")
    return [(c.action.value, c.kind.value, c.address) for c in plan.changes]


OWNED_TABLE = route_table("rt-rmd", [fw_route("rmd-default", "0.0.0.0/0")], [POD_SUBNET, APPGW_SUBNET], owned=True)
CUSTOMER = route_table("customer", [fw_route("rmd-spoke", "10.2.0.0/16"), fw_route("keep-me", "10.9.0.0/16")],
                       [NODE_SUBNET])


CASES = [
    pytest.param(snapshot(fw=firewall()), [], id="nothing-owned"),
    pytest.param(
        snapshot(tables=[OWNED_TABLE, CUSTOMER], fw=firewall(), rcg=_group("rmd-a", "rmd-b")),
        [("delete", "route", f"{table_id('customer')}/routes/rmd-spoke"),
         ("delete", "route", f"{table_id('rt-rmd')}/routes/rmd-default"),
         ("delete", "ruleCollectionGroup", RCG),
         ("delete", "subnetRouteTable", POD_SUBNET),
         ("delete", "subnetRouteTable", APPGW_SUBNET),
         ("delete", "routeTable", table_id("rt-rmd"))],
        id="routes-then-associations-then-tables"),
    pytest.param(
        snapshot(tables=[route_table("rt-rmd", [fw_route("rmd-default", "0.0.0.0/0"),
                                                fw_route("theirs", "10.8.0.0/16")], [POD_SUBNET], owned=True)],
                 fw=firewall()),
        [("delete", "route", f"{table_id('rt-rmd')}/routes/rmd-default")],
        id="owned-table-with-a-foreign-route-is-kept-with-its-subnets"),
    pytest.param(
        snapshot(tables=[route_table("rt-out", [fw_route("rmd-default", "0.0.0.0/0")], owned=True,
                                     id=table_id("rt-out", OTHER_SUB_RG))], fw=firewall()),
        [], id="out-of-scope-table-kept"),
    pytest.param(
        snapshot(tables=[route_table("rt-rmd", [fw_route("rmd-default", "0.0.0.0/0")],
                                     [f"{OTHER_SUB_RG}/providers/Microsoft.Network/virtualNetworks/v/subnets/s"],
                                     owned=True)], fw=firewall()),
        [("delete", "route", f"{table_id('rt-rmd')}/routes/rmd-default")], id="subnet-out-of-scope-keeps-table"),
    pytest.param(
        snapshot(tables=[route_table("customer", [fw_route("keep", "10.9.0.0/16")], [NODE_SUBNET])], fw=firewall()),
        [], id="foreign-table-and-route-untouched"),
    pytest.param(
        snapshot(fw=firewall(), rcg=_group("rmd-a", "customer-rules")),
        [("update", "ruleCollectionGroup", RCG)], id="group-with-a-foreign-collection-is-rewritten"),
    pytest.param(
        snapshot(fw=firewall(), rcg=_group("customer-rules")),
        [], id="group-holding-only-foreign-collections-kept"),
    pytest.param(
        snapshot(fw=firewall(policy_id=None, classic_collections=(_collection("rmd-net"), _collection("theirs")),
                             classic_application_collections=(_collection("rmd-app"),))),
        [("delete", "firewallNetworkRuleCollection",
          f"{firewall().id}/networkRuleCollections/rmd-net"),
         ("delete", "firewallApplicationRuleCollection",
          f"{firewall().id}/applicationRuleCollections/rmd-app")],
        id="classic-owned-collections-only"),
]


@pytest.mark.parametrize(("snap", "expected"), CASES)
def test_plan_destroy(snap: Snapshot, expected: list[tuple[str, str, str]]) -> None:
    assert _addresses(snap) == expected


def test_shards_are_deleted_too_and_phases_ascend() -> None:
    shard = _group("rmd-c", group_id=f"{RCG}-2")
    snap = dataclasses.replace(snapshot(tables=[OWNED_TABLE], fw=firewall(), rcg=_group("rmd-a")),
                               rule_collection_shards=(shard,))
    plan = plan_destroy(snap, settings(), "scope")
    groups = [c for c in plan.changes if c.kind is ChangeKind.RULE_COLLECTION_GROUP]
    assert [(c.action, c.address, c.etag) for c in groups] == [(Action.DELETE, RCG, "W/\"1\""),
                                                                (Action.DELETE, f"{RCG}-2", "W/\"1\"")]
    phases = [phase(c) for c in plan.changes]
    assert phases == sorted(phases) and set(phases) == {1, 2, 3}


def test_rewritten_group_keeps_exactly_the_foreign_collections() -> None:
    plan = plan_destroy(snapshot(fw=firewall(), rcg=_group("rmd-a", "customer-rules", "rmd-b")), settings(), "s")
    (change,) = plan.changes
    assert isinstance(change.new, RuleCollectionGroupPayload)
    assert [c.name for c in change.new.rule_collections] == ["customer-rules"]
    assert change.new.rule_collections[0] == _collection("customer-rules")
    assert change.new.priority == 300 and change.etag == "W/\"1\""
    assert [(n.severity, n.address) for n in plan.conflicts] == [(Severity.NOTE, RCG)]


def test_foreign_route_in_owned_table_is_a_note_not_a_write() -> None:
    table = route_table("rt-rmd", [fw_route("theirs", "10.8.0.0/16")], [POD_SUBNET], owned=True)
    plan = plan_destroy(snapshot(tables=[table], fw=firewall()), settings(), "s")
    assert plan.changes == ()
    assert [(n.severity, n.address) for n in plan.conflicts] == [(Severity.NOTE, table.id)]
    assert "theirs" in plan.conflicts[0].message and not plan.blocking_conflicts


def test_missing_firewall_is_an_error_that_blocks_everything() -> None:
    plan = plan_destroy(snapshot(tables=[OWNED_TABLE]), settings(), "s")
    assert plan.errors and plan.blocking_conflicts
    assert plan.blocking_conflicts[0].severity is Severity.ERROR


def test_classic_delete_carries_the_collection() -> None:
    fw = firewall(policy_id=None, classic_collections=(_collection("rmd-net"),))
    (change,) = plan_destroy(snapshot(fw=fw), settings(), "s").changes
    assert change.old == ClassicCollectionPayload(_collection("rmd-net")) and change.new is None

