"""plan.py: route tables, routes, associations, firewall rule collections."""

from __future__ import annotations

import dataclasses

import pytest

from remediation.core import arm_shapes
from remediation.core.model import (
    Action,
    ChangeKind,
    DesiredSubnetRoutes,
    NetworkRule,
    ObservedRuleCollectionGroup,
    Route,
    RoutePurpose,
    RuleCollection,
    Skip,
)
from remediation.planning import desired, plan
from tests.core import factories as f

DEFAULT = f.fw_route("rmd-default", "0.0.0.0/0")
SPOKE = f.fw_route("rmd-spoke-10-2-0-0-16", "10.2.0.0/16")
WANT = DesiredSubnetRoutes(
    f.NODE_SUBNET, RoutePurpose.EGRESS, (DEFAULT, SPOKE), {DEFAULT.name: "default", SPOKE.name: "spoke"}
)
RT = "customer-rt"


def _rows(changes) -> list[tuple[str, str, str]]:
    return [(c.action.value, c.kind.value, c.address.rsplit("/", 1)[-1]) for c in changes]


def _plan(routes=(), *, table=True, owned=False, prune=False, extra_tables=(), **settings_kw):
    tables = (
        [f.route_table(RT, routes, [f.NODE_SUBNET], owned=owned), *extra_tables]
        if table
        else list(extra_tables)
    )
    snap = f.hub_spoke(node_table=RT if table else None, tables=tables)
    return plan.plan_routes(snap, [WANT], f.settings(**settings_kw), prune=prune)


def test_route_table_name_and_id() -> None:
    sub = f.subnet(f.NODE_SUBNET, f.NODE_PREFIX)
    assert plan.route_table_name_for(sub, f.settings()) == "rmd-spoke-vnet-aks-nodes"
    assert plan.route_table_id_for(sub, f.settings()) == f.table_id("rmd-spoke-vnet-aks-nodes")
    long = f.subnet(f.VNET + "/subnets/" + "s" * 90, f.NODE_PREFIX)
    assert len(plan.route_table_name_for(long, f.settings())) == 80


def test_creates_table_with_its_routes_and_association_when_subnet_has_none() -> None:
    changes, conflicts = _plan(table=False)
    assert conflicts == ()
    # A table that does not exist holds no foreign routes: its routes travel inside its one PUT.
    assert _rows(changes) == [
        ("create", "routeTable", "rmd-spoke-vnet-aks-nodes"),
        ("create", "subnetRouteTable", "aks-nodes"),
    ]
    table, assoc = changes
    assert arm_shapes.after(table) == {
        "location": "westeurope",
        "tags": {"managed-by": "aks-egress-remediation"},
        "properties": {"disableBgpRoutePropagation": False, "routes": [
            {"name": "rmd-default", "properties": {
                "addressPrefix": "0.0.0.0/0", "nextHopType": "VirtualAppliance", "nextHopIpAddress": f.FW_IP}},
            {"name": "rmd-spoke-10-2-0-0-16", "properties": {
                "addressPrefix": "10.2.0.0/16", "nextHopType": "VirtualAppliance", "nextHopIpAddress": f.FW_IP}},
        ]},
    }
    # Each route's reason stays in the plan, one line per route under the table's own.
    assert table.reason.splitlines()[1:] == ["rmd-default: default", "rmd-spoke-10-2-0-0-16: spoke"]
    assert (arm_shapes.before(assoc), arm_shapes.after(assoc)) == (
        {"routeTable": None},
        {"routeTable": {"id": f.table_id("rmd-spoke-vnet-aks-nodes")}},
    )


def test_existing_table_keeps_child_route_writes() -> None:
    changes, _ = _plan(table=True)
    assert _rows(changes) == [("create", "route", "rmd-default"), ("create", "route", "rmd-spoke-10-2-0-0-16")]
    assert arm_shapes.after(changes[0]) == {"addressPrefix": "0.0.0.0/0", "nextHopType": "VirtualAppliance",
                                "nextHopIpAddress": f.FW_IP}


@pytest.mark.parametrize(
    ("existing", "expected"),
    [
        pytest.param(
            [f.fw_route("kube-route", "10.244.0.0/24", "10.1.0.4")],
            [("create", "route", "rmd-default"), ("create", "route", "rmd-spoke-10-2-0-0-16")],
            id="reuse-customer-table-merge-owned-routes",
        ),
        pytest.param(
            [DEFAULT, SPOKE],
            [("noop", "route", "rmd-default"), ("noop", "route", "rmd-spoke-10-2-0-0-16")],
            id="noop-when-converged",
        ),
        pytest.param(
            [
                dataclasses.replace(DEFAULT, next_hop_type="virtualappliance"),
                dataclasses.replace(SPOKE, address_prefix="10.2.0.0/16"),
            ],
            [("noop", "route", "rmd-default"), ("noop", "route", "rmd-spoke-10-2-0-0-16")],
            id="next-hop-type-compared-case-insensitively",
        ),
        pytest.param(
            [f.fw_route("rmd-default", "0.0.0.0/0", "10.0.1.5"), SPOKE],
            [("update", "route", "rmd-default"), ("noop", "route", "rmd-spoke-10-2-0-0-16")],
            id="update-on-next-hop-drift",
        ),
    ],
)
def test_routes_on_existing_table(existing: list, expected: list) -> None:
    changes, conflicts = _plan(existing)
    assert _rows(changes) == expected and conflicts == ()


def test_update_carries_before_and_after() -> None:
    changes, _ = _plan([f.fw_route("rmd-default", "0.0.0.0/0", "10.0.1.5"), SPOKE])
    assert (arm_shapes.before(changes[0]) or {})["nextHopIpAddress"] == "10.0.1.5"
    assert (arm_shapes.after(changes[0]) or {})["nextHopIpAddress"] == f.FW_IP


@pytest.mark.parametrize(
    ("foreign", "takeover", "expected", "conflict"),
    [
        pytest.param(
            f.fw_route("corp-default", "0.0.0.0/0"),
            False,
            ("noop", "route", "corp-default"),
            False,
            id="foreign-same-target-satisfies",
        ),
        pytest.param(
            Route("corp-default", "0.0.0.0/0", "Internet"),
            False,
            None,
            True,
            id="foreign-other-target-conflict",
        ),
        pytest.param(
            Route("corp-default", "0.0.0.0/0", "Internet"),
            True,
            ("update", "route", "corp-default"),
            False,
            id="foreign-takeover-when-allowed",
        ),
    ],
)
def test_foreign_route_same_prefix(foreign, takeover: bool, expected, conflict: bool) -> None:
    changes, conflicts = _plan([foreign, SPOKE], allow_takeover=takeover)
    rows = _rows(changes)
    assert ("create", "route", "rmd-default") not in rows
    if expected:
        assert rows[0] == expected
    assert bool(conflicts) is conflict
    if conflict:
        assert conflicts[0].address.endswith("/routes/corp-default")
    if takeover:
        assert "takeover (ALLOW_TAKEOVER=true)" in changes[0].reason
        assert (arm_shapes.after(changes[0]) or {})["nextHopIpAddress"] == f.FW_IP


@pytest.mark.parametrize(
    ("prune", "expected_deletes"),
    [
        pytest.param(False, [], id="no-prune-keeps-stale-owned"),
        pytest.param(True, [("delete", "route", "rmd-p2s-172-16-9-0-24")], id="prune-deletes-only-owned"),
    ],
)
def test_prune_on_desired_table(prune: bool, expected_deletes: list) -> None:
    existing = [
        DEFAULT,
        SPOKE,
        f.fw_route("rmd-p2s-172-16-9-0-24", "172.16.9.0/24"),
        f.fw_route("customer-route", "192.168.0.0/16"),
    ]
    changes, _ = _plan(existing, prune=prune)
    assert [r for r in _rows(changes) if r[0] == "delete"] == expected_deletes


def test_prune_tables_no_cluster_needs_and_never_delete_the_table() -> None:
    orphan_subnet = f.VNET + "/subnets/old-cluster"
    orphan = f.route_table(
        "rmd-spoke-vnet-old-cluster",
        [DEFAULT, f.fw_route("keep-me", "10.9.0.0/16")],
        [orphan_subnet],
        owned=True,
    )
    changes, _ = _plan([DEFAULT, SPOKE], prune=True, extra_tables=[orphan])
    deletes = [c for c in changes if c.action is Action.DELETE]
    assert _rows(deletes) == [("delete", "route", "rmd-default")]
    assert deletes[0].address.startswith(orphan.id)
    assert "no cluster in scope needs it" in deletes[0].reason and "only emptied" in deletes[0].reason
    assert all(c.kind is not ChangeKind.ROUTE_TABLE for c in deletes)


def test_prune_keeps_routes_of_a_cluster_skipped_this_time() -> None:
    # The table's subnet belongs to an observed cluster that is not in `desired` (e.g. still Updating).
    changes, _ = plan.plan_routes(
        f.hub_spoke(node_table=RT, tables=[f.route_table(RT, [DEFAULT], [f.NODE_SUBNET])]),
        [],
        f.settings(),
        prune=True,
    )
    assert changes == ()


def test_change_order_creates_updates_associations_deletes() -> None:
    orphan = f.route_table("old", [SPOKE], [f.VNET + "/subnets/gone"])
    snap = f.hub_spoke(tables=[orphan])
    changes, _ = plan.plan_routes(snap, [WANT], f.settings(), prune=True)
    assert [c.kind.value + ":" + c.action.value for c in changes] == [
        "routeTable:create",  # with its two routes inside
        "subnetRouteTable:create",
        "route:delete",
    ]


def test_plan_is_stable_for_desired_from_snapshot() -> None:
    snap = f.hub_spoke()
    items = desired.desired_cluster_routes(snap, f.CLUSTER, f.settings())
    assert isinstance(items, tuple)
    assert plan.plan_routes(snap, items, f.settings(), prune=False) == plan.plan_routes(
        snap, items, f.settings(), prune=False
    )


# --------------------------------------------------------------------------------------------- firewall

RULE = NetworkRule("aks1", ("TCP", "UDP"), ("10.1.0.0/22",), ("AzureCloud",), ("443", "1194"))
EGRESS = RuleCollection("rmd-egress", 200, "Allow", (RULE,))
RCG_ADDRESS = f.POLICY + "/ruleCollectionGroups/rmd-aks-runbook"


def _group(*collections: RuleCollection, priority: int = 250) -> ObservedRuleCollectionGroup:
    return ObservedRuleCollectionGroup(RCG_ADDRESS, "rmd-aks-runbook", priority, collections)


SHUFFLED = RuleCollection(
    "RMD-EGRESS",
    200,
    "allow",
    (NetworkRule("AKS1", ("udp", "TCP"), ("10.1.0.0/22",), ("azurecloud",), ("1194", "443")),),
)


@pytest.mark.parametrize(
    ("group", "collections", "expected"),
    [
        pytest.param(None, (EGRESS,), [Action.CREATE], id="create-when-absent"),
        pytest.param(_group(EGRESS), (EGRESS,), [Action.NOOP], id="noop-when-equal"),
        pytest.param(_group(SHUFFLED), (EGRESS,), [Action.NOOP], id="canonical-ignores-order-and-case"),
        pytest.param(_group(EGRESS, priority=300), (EGRESS,), [Action.UPDATE], id="update-on-group-priority"),
        pytest.param(
            _group(
                dataclasses.replace(EGRESS, rules=(dataclasses.replace(RULE, destination_ports=("443",)),))
            ),
            (EGRESS,),
            [Action.UPDATE],
            id="update-on-rule-drift",
        ),
        pytest.param(_group(EGRESS), (), [Action.DELETE], id="delete-when-nothing-needed"),
        pytest.param(None, (), [], id="nothing-when-absent-and-nothing-needed"),
    ],
)
def test_plan_firewall_policy(group, collections, expected) -> None:
    changes = plan.plan_firewall(f.hub_spoke(rcg=group), collections, f.settings())
    assert [c.action for c in changes] == expected
    if changes:
        assert changes[0].address == RCG_ADDRESS and changes[0].kind is ChangeKind.RULE_COLLECTION_GROUP
    if expected == [Action.UPDATE]:
        assert arm_shapes.after(changes[0]) == {
            "priority": 250,
            "ruleCollections": plan.rule_collections_to_arm([EGRESS]),
        }


def test_rule_collections_to_arm_shape() -> None:
    (body,) = plan.rule_collections_to_arm([EGRESS])
    assert body == {
        "ruleCollectionType": "FirewallPolicyFilterRuleCollection",
        "name": "rmd-egress",
        "priority": 200,
        "action": {"type": "Allow"},
        "rules": [
            {
                "ruleType": "NetworkRule",
                "name": "aks1",
                "ipProtocols": ["TCP", "UDP"],
                "sourceAddresses": ["10.1.0.0/22"],
                "sourceIpGroups": [],
                "destinationAddresses": ["AzureCloud"],
                "destinationIpGroups": [],
                "destinationFqdns": [],
                "destinationPorts": ["443", "1194"],
            }
        ],
    }


def test_plan_firewall_classic_keeps_foreign_collections() -> None:
    foreign = RuleCollection("corp-allow", 100, "Allow", (RULE,))
    stale = RuleCollection("rmd-p2s", 220, "Allow", (RULE,))
    drifted = dataclasses.replace(EGRESS, priority=201)
    fw = f.firewall(policy_id=None, classic_collections=(foreign, stale, drifted))
    ingress = RuleCollection("rmd-ingress", 210, "Allow", (RULE,))
    changes = plan.plan_firewall(f.hub_spoke(fw=fw), (EGRESS, ingress), f.settings())
    assert [(c.action.value, c.address.rsplit("/", 1)[-1]) for c in changes] == [
        ("update", "rmd-egress"),
        ("create", "rmd-ingress"),
        ("delete", "rmd-p2s"),
    ]
    assert all(c.kind is ChangeKind.CLASSIC_RULE_COLLECTION for c in changes)
    assert changes[0].address == f.FIREWALL + "/networkRuleCollections/rmd-egress"
    assert arm_shapes.after(changes[1]) == plan.classic_collection_to_arm(ingress)
    assert set((arm_shapes.after(changes[1]) or {})["rules"][0]) == {
        "name",
        "protocols",
        "sourceAddresses",
        "destinationAddresses",
        "destinationPorts",
    }


def test_build_plan() -> None:
    p = plan.build_plan("cluster:x", [], [], [Skip("a", "r1"), Skip("A", "r2")])
    assert p.target == "cluster:x" and [s.reason for s in p.skipped] == ["r1"]
